#if canImport(Glibc)
import Glibc
#endif
import Integrity
import Platform
import TUF

/// The release channel an installation follows, kept in its home:
///
///     <home>/channel/config.json       {"format": 1, "url": "<repository URL>"}
///     <home>/channel/metadata/         the trusted TUF metadata (root.json copied in at configure)
///     <home>/channel/installation-id   a random id, made once; its hash is the rollout bucket
///     <home>/channel/lock              held by a check and a download: one at a time
///
/// Invariant: a check that fails (network, signature, expiry, rollback) leaves the trusted
/// metadata as it was. The refresh runs on a copy, and the copy's files replace the trusted
/// ones (each durably) only when the whole refresh verified.
public struct UpdateChannel: Sendable {
    /// `<home>/channel`.
    public let directory: String
    /// The repository URL (metadata under `metadata/`, targets under `targets/`).
    public let url: String
    /// Seconds a server may send nothing before a check or a download fails (default 30); a
    /// download keeps what arrived for the next try.
    public var stallTimeout: Double = 30
    /// Seconds a whole fetch may take however steadily bytes arrive (nil: derived from the
    /// length, ``defaultTotalTimeout(length:)`` for an artifact and 120 s plus one second per
    /// 64 KiB for metadata); a download keeps what arrived for the next try.
    public var totalTimeout: Double?

    // MARK: - API

    /// Makes `url` the channel of `home`, trusting `rootBytes` (replacing any earlier channel and its metadata).
    /// - Throws: ``ReleaseChannelError``: `invalidArgument` when the root is not signed root metadata.
    public static func configure(home: String, url: String, trustedRoot rootBytes: [UInt8]) throws(ReleaseChannelError) -> UpdateChannel {
        guard url.hasPrefix("http://") || url.hasPrefix("https://") || url.hasPrefix("file://") else {
            throw ReleaseChannelError(.invalidArgument, "The channel URL must start with http://, https:// or file://, not \"\(TerminalText.escaped(url, limit: 200))\"")
        }
        // What Transport would refuse at every fetch is refused now, and never stored to be printed.
        guard url.utf8.allSatisfy({ (0x21...0x7E).contains($0) }), url.utf8.count <= 2048 else {
            throw ReleaseChannelError(.invalidArgument, "The channel URL \"\(TerminalText.escaped(url, limit: 200))\" holds a space, a control character or a non-ASCII byte (percent-encode them), or is longer than 2048 bytes")
        }
        guard let document = try? CanonicalJSON.parse(rootBytes), document["signed"]?["_type"]?.stringValue == "root" else {
            throw ReleaseChannelError(.invalidArgument, "The trusted root is not TUF root metadata")
        }
        let directory = home + "/channel"
        let metadata = directory + "/metadata"
        try ownDirectory(directory)
        do {
            // A link planted there is removed itself, never what it points to.
            try FileSystem.removeTree(metadata)
        } catch {
            throw ReleaseChannelError(.storage, "Failed to prepare \"\(directory)\": \(error)")
        }
        do {
            try Updater.initialize(metadataDirectory: metadata, trustedRoot: rootBytes)
        } catch {
            throw ReleaseChannelError(.storage, "Failed to store the trusted root in \"\(metadata)\": \(error)")
        }
        try ownDirectory(metadata, create: false)
        let trimmed = url.hasSuffix("/") ? String(url.dropLast()) : url
        let config = try! CanonicalJSON.encode(.object(["format": .integer(1), "url": .string(trimmed)]))
        do {
            try FileSystem.writeAtomically(directory + "/config.json", config)
        } catch {
            throw ReleaseChannelError(.storage, "\(error)")
        }
        return UpdateChannel(directory: directory, url: trimmed)
    }

    /// The channel configured in `home`.
    /// - Throws: ``ReleaseChannelError`` `invalidRepository` when none is configured.
    public static func load(home: String) throws(ReleaseChannelError) -> UpdateChannel {
        let directory = home + "/channel"
        // The channel's files are read and written only in a directory of its own, never through a link.
        try ownDirectory(directory, create: false)
        let bytes: [UInt8]?
        do {
            bytes = try FileSystem.readOwnFile(directory + "/config.json", maxBytes: 64 << 10)
        } catch {
            // There but unusable (a directory, a FIFO, a link): said so, not taken for "no channel".
            throw ReleaseChannelError(.invalidRepository, "\(error); run 'autodev update configure' again to replace it")
        }
        guard let bytes else {
            throw ReleaseChannelError(.invalidRepository, "No update channel is configured in \"\(home)\"; run 'autodev update configure' first")
        }
        guard let url = (try? CanonicalJSON.parse(bytes))?["url"]?.stringValue else {
            throw ReleaseChannelError(.invalidRepository, "\"\(directory)/config.json\" has no url")
        }
        return UpdateChannel(directory: directory, url: url)
    }

    /// This installation's id, made on first use (random, 128 bits, hex).
    /// - Throws: ``ReleaseChannelError`` `storage` when the file is there but is not a regular
    ///   file: the id (and with it the rollout bucket) is never silently replaced.
    public func installationID() throws(ReleaseChannelError) -> String {
        let path = directory + "/installation-id"
        let stored: [UInt8]?
        do {
            stored = try FileSystem.readOwnFile(path, maxBytes: 128)
        } catch {
            throw ReleaseChannelError(.storage, "\(error); remove it to make a new installation id (this moves the installation to another rollout bucket)")
        }
        if let bytes = stored {
            let text = String(decoding: bytes, as: UTF8.self).trimmingWhitespace()
            if !text.isEmpty { return text }
        }
        let id = Hex.encode(SecureRandom.bytes(16))
        do {
            try FileSystem.writeAtomically(path, Array((id + "\n").utf8))
        } catch {
            throw ReleaseChannelError(.storage, "\(error)")
        }
        return id
    }

    /// Refreshes the trusted metadata and lists what the channel offers for `program`.
    /// - Throws: ``ReleaseChannelError`` `channel` naming the cause; the trusted metadata is unchanged.
    public func offers(program: String) throws(ReleaseChannelError) -> [ReleaseOffer] {
        try withExclusiveLock(directory + "/lock", what: "the update channel in \"\(directory)\"") { () throws(ReleaseChannelError) in
            try offersLocked(program: program)
        }
    }

    func offersLocked(program: String) throws(ReleaseChannelError) -> [ReleaseOffer] {
        let trusted = metadataDirectory
        let work = directory + "/metadata.refresh"
        try checkDirectories()
        do {
            try FileSystem.removeTree(work)
            try FileSystem.createDirectory(work, mode: 0o700)
            // A scratch copy, removed below: the trusted files are the durable ones, so no fsync here.
            for name in try FileSystem.contentsOfDirectory(trusted) where name.hasSuffix(".json") {
                // Regular files only, never through a link or blocking on a FIFO planted there, and
                // at most the largest metadata TUF accepts.
                guard let bytes = try Self.readMetadata(trusted + "/" + name) else { continue }
                let copy = try FileDescriptor.open(work + "/" + name, [.writeOnly, .create, .exclusive])
                try copy.closeAfter { try copy.writeAll(bytes) }
            }
        } catch {
            throw ReleaseChannelError(.storage, "Failed to copy the trusted metadata in \"\(trusted)\": \(error)")
        }
        defer { try? FileSystem.removeTree(work) }
        var updater = Updater(metadataDirectory: work, metadataURL: url + "/metadata/", targetBaseURL: url + "/targets/", stallTimeout: stallTimeout,
                              totalTimeout: totalTimeout)
        let targets: [TargetInfo]
        do {
            targets = try updater.topLevelTargets(withPrefix: program + "/")
        } catch {
            var message = "Failed to check \(url) for updates: \(error.code): \(error.message)"
            if error.code == .timedOut {
                let total = totalTimeout.map(DurationText.text) ?? "120 s plus one second per 64 KiB of the file"
                message += "; to wait longer, pass --timeout SECONDS (each metadata fetch, now \(total)) or --stall-timeout SECONDS (silence, now \(DurationText.text(stallTimeout)))"
            }
            throw ReleaseChannelError(.channel, message)
        }
        do {
            // Only what the refresh changed is written back, each file durably: a check that finds
            // nothing new writes nothing.
            for name in try FileSystem.contentsOfDirectory(work) where name.hasSuffix(".json") {
                guard let bytes = try Self.readMetadata(work + "/" + name) else { continue }
                if (try? Self.readMetadata(trusted + "/" + name)) == bytes { continue }
                try FileSystem.writeAtomically(trusted + "/" + name, bytes)
            }
        } catch {
            throw ReleaseChannelError(.storage, "Failed to store the refreshed metadata in \"\(trusted)\": \(error)")
        }
        // Patches sit beside the release they rebuild and name its SHA-256.
        var patches: [String: [PatchOffer]] = [:]
        for target in targets {
            guard let facts = PatchFacts(json: target.custom), let slash = target.path.lastIndex(of: "/"),
                  target.path[target.path.index(after: slash)...] == PatchFacts.fileName(baseSHA256: facts.baseSHA256) else { continue }
            patches[String(target.path[..<slash]) + " " + facts.resultSHA256, default: []]
                .append(PatchOffer(path: target.path, length: target.length, hashes: target.hashes, facts: facts))
        }
        return targets.compactMap { target in
            guard let facts = ReleaseFacts(json: target.custom),
                  Self.hasReleaseShape(target.path, program: program, facts: facts) else { return nil }
            let directory = target.path.lastIndex(of: "/").map { String(target.path[..<$0]) } ?? ""
            let key = directory + " " + (target.hashes["sha256"]?.lowercased() ?? "")
            return ReleaseOffer(path: target.path, length: target.length, hashes: target.hashes, facts: facts,
                                patches: (patches[key] ?? []).sorted { $0.path < $1.path })
        }
    }

    /// True when `path` is `<program>/<version>/<platform>/<file name>` as `release add` writes
    /// it, naming the version and platform of its signed facts, with a file name that is not
    /// empty, "." or ".." and holds no "/" or "\\" (a name with a control character is offered,
    /// shown escaped). Anything else (a `../` walking out of the repository, an empty segment)
    /// is never offered or requested.
    static func hasReleaseShape(_ path: String, program: String, facts: ReleaseFacts) -> Bool {
        let parts = path.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        guard parts.count == 4, parts[0] == program, SemanticVersion(parts[1]) == facts.version,
              parts[2] == facts.platform.rawValue else { return false }
        let name = parts[3]
        return !name.isEmpty && name != "." && name != ".." && !name.contains("\\")
    }

    /// A trusted metadata file: read without following a link or blocking, a regular file only,
    /// at most 64 MiB (the most TUF accepts for one role).
    /// - Throws: `SystemError` when it is not a regular file or is larger than that.
    static func readMetadata(_ path: String) throws -> [UInt8]? {
        let cap = 64 << 20
        guard let bytes = try FileSystem.readOwnFile(path, maxBytes: cap + 1) else { return nil }
        guard bytes.count <= cap else {
            throw SystemError("read", path: path, errno: Errno(rawValue: EFBIG), detail: "it is larger than \(ByteCount.text(cap)), the most metadata may be")
        }
        return bytes
    }
}
