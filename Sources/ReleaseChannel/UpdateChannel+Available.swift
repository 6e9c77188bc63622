import Platform

/// The newest release the last successful check offered, kept in `<home>/channel/available`
/// (one line: the version, then "critical" when it is), for `self-upgrade status` and anyone
/// else who asks between checks.
extension UpdateChannel {
    /// What the last successful check found newer than the running version.
    public struct AvailableUpdate: Sendable, Equatable {
        /// Its version.
        public var version: SemanticVersion
        /// Whether the release is marked critical.
        public var critical: Bool

        /// - Parameters: the fields, as named.
        public init(version: SemanticVersion, critical: Bool) {
            self.version = version
            self.critical = critical
        }
    }

    /// Records the outcome of a successful check: `offer` is newer and applies here, or nil
    /// when this installation is up to date (the record is removed).
    /// - Throws: ``ReleaseChannelError`` `storage` when the record cannot be written.
    public func recordAvailable(_ offer: ReleaseOffer?) throws(ReleaseChannelError) {
        let path = directory + "/available"
        do {
            // When it was checked, for status and metrics (a hint: a torn or missing record only hides it).
            try FileSystem.replaceWithoutSync(directory + "/checked", Array("\(Int(WallClock.now()))\n".utf8), mode: 0o644)
            if let offer {
                let line = offer.facts.version.description + (offer.facts.critical ? " critical" : "") + "\n"
                try FileSystem.writeAtomically(path, Array(line.utf8))
            } else if FileSystem.exists(path) {
                try FileSystem.removeFile(path)
            }
        } catch {
            throw ReleaseChannelError(.storage, "Failed to record the available update in \"\(path)\": \(error)")
        }
    }

    /// When the last successful check ended, in seconds since the epoch; nil when none was recorded.
    public var lastCheck: Int? {
        guard let bytes = try? FileSystem.readOwnFile(directory + "/checked", maxBytes: 32), bytes.count < 32 else { return nil }
        let text = String(decoding: bytes, as: UTF8.self)
        return Int(text.hasSuffix("\n") ? String(text.dropLast()) : text).flatMap { $0 >= 0 ? $0 : nil }
    }

    /// The update the last successful check recorded, if it is newer than `current`; nil when
    /// none was recorded, the record is unreadable, or `current` has caught up with it.
    public func availableUpdate(newerThan current: SemanticVersion) -> AvailableUpdate? {
        // A record is one short line; anything else planted there (a link, a FIFO, a device, a
        // large file) is ignored without being followed, waited on or read whole.
        guard let bytes = try? FileSystem.readOwnFile(directory + "/available", maxBytes: 256), bytes.count < 256 else { return nil }
        let words = String(decoding: bytes, as: UTF8.self).split(whereSeparator: { $0 == " " || $0 == "\n" })
        guard let first = words.first, let version = SemanticVersion(String(first)), version > current else { return nil }
        return AvailableUpdate(version: version, critical: words.dropFirst().first == "critical")
    }
}
