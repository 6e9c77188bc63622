import Integrity
import Platform
import Transport

extension UpdateChannel {
    // MARK: - API

    /// Downloads `offer` into `directory` as `<sha256>.<file name>`, resuming from a
    /// `<sha256>.<file name>.partial` left by an interrupted download, and checks the whole file
    /// against the length and every hash the trusted metadata lists before it gets its final
    /// name (fsync, rename, mode 0755). A file already there that matches is kept.
    /// - Parameter progress: called with the bytes received so far and the total.
    /// - Returns: the verified file's path.
    /// - Throws: ``ReleaseChannelError``: `channel` for a download or verification failure (a
    ///   partial file that does not verify is removed), `storage` for local files.
    public func download(_ offer: ReleaseOffer, into directory: String,
                         progress: (Int, Int) -> Void = { _, _ in }) throws(ReleaseChannelError) -> String {
        try withExclusiveLock(self.directory + "/lock", what: "the update channel in \"\(self.directory)\"") { () throws(ReleaseChannelError) in
            try downloadLocked(offer, into: directory, progress: progress)
        }
    }

    func downloadLocked(_ offer: ReleaseOffer, into directory: String, progress: (Int, Int) -> Void) throws(ReleaseChannelError) -> String {
        guard let sha256 = offer.hashes["sha256"], Hex.isHexDigits(sha256), sha256.count == 64 else {
            throw ReleaseChannelError(.channel, "Target \(offer.path) lists no SHA-256")
        }
        if let algorithm = offer.hashes.keys.sorted().first(where: { !TargetDigest.algorithms.contains($0) }) {
            throw ReleaseChannelError(.channel, "Target \(offer.path) lists a hash of unsupported algorithm \"\(algorithm)\"")
        }
        let slash = offer.path.lastIndex(of: "/")
        let name = slash.map { String(offer.path[offer.path.index(after: $0)...]) } ?? offer.path
        let remoteDirectory = slash.map { String(offer.path[...$0]) } ?? ""
        guard !name.isEmpty, name != ".", name != "..", !name.contains("/") else {
            throw ReleaseChannelError(.channel, "Target \(offer.path) has no usable file name")
        }
        let final = directory + "/" + sha256 + "." + name
        let partial = final + ".partial"
        do {
            try FileSystem.createDirectory(directory, mode: 0o700, intermediates: true)
        } catch {
            throw ReleaseChannelError(.storage, "Failed to create \"\(directory)\": \(error)")
        }
        // Only regular files of our own are reused or appended to: a link, FIFO, device or
        // directory planted under either name is removed (a link itself, never its target).
        for path in [final, partial] { try Self.removeUnlessRegular(path) }
        if FileSystem.exists(final), (try? TargetDigest.of(file: final, offer).check(offer)) != nil { return final }
        let url = self.url + "/targets/" + Self.encode(remoteDirectory + sha256 + "." + name)
        var offset = (try? FileSystem.status(partial))?.size ?? 0
        // The bytes kept from an interrupted download are hashed once, from the file; the rest as it arrives.
        var digest = TargetDigest(offer)
        if offset > offer.length {
            try? FileSystem.removeFile(partial)
            offset = 0
        } else if offset > 0 {
            do {
                digest = try TargetDigest.of(file: partial, offer)
                offset = digest.count
            } catch {
                throw ReleaseChannelError(.storage, "Failed to read \"\(partial)\": \(error)")
            }
        }
        do {
            try fetch(url, to: partial, offset: offset, offer: offer, digest: &digest, progress: progress)
        } catch let error as TransportError where error.code == .rangeIgnored {
            try? FileSystem.removeFile(partial)
            digest = TargetDigest(offer)
            do {
                try fetch(url, to: partial, offset: 0, offer: offer, digest: &digest, progress: progress)
            } catch {
                throw ReleaseChannelError(.channel, "Failed to download \(offer.path) from \(url): \(error)")
            }
        } catch let error as ReleaseChannelError {
            throw error
        } catch {
            throw ReleaseChannelError(.channel, "Failed to download \(offer.path) from \(url) (kept \(offset) bytes and what arrived in \"\(partial)\" to resume): \(error)")
        }
        do {
            try digest.check(offer)
        } catch {
            try? FileSystem.removeFile(partial)
            throw error
        }
        do {
            try FileSystem.setMode(partial, 0o755)
            try FileSystem.rename(partial, to: final)
            try FileSystem.syncDirectory(directory)
        } catch {
            throw ReleaseChannelError(.storage, "Failed to rename \"\(partial)\" to \"\(final)\": \(error)")
        }
        return final
    }

    /// The highest version this installation ever accepted from the channel (nil: none yet).
    /// - Throws: ``ReleaseChannelError`` `storage` when the record is there but is not a
    ///   version (or not a regular file): the downgrade floor is never silently dropped.
    public func highestAccepted() throws(ReleaseChannelError) -> SemanticVersion? {
        let path = directory + "/highest-accepted"
        let bytes: [UInt8]?
        do {
            bytes = try FileSystem.readOwnFile(path, maxBytes: 256)
        } catch {
            throw ReleaseChannelError(.storage, "The downgrade floor \"\(path)\" cannot be read: \(error); write the highest version this installation accepted into it")
        }
        guard let bytes else { return nil }
        guard let version = SemanticVersion(String(decoding: bytes, as: UTF8.self).trimmingWhitespace()) else {
            throw ReleaseChannelError(.storage, "The downgrade floor \"\(path)\" holds no version; write the highest version this installation accepted into it")
        }
        return version
    }

    /// Records `version` as accepted, unless a higher one already was.
    public func recordAccepted(_ version: SemanticVersion) throws(ReleaseChannelError) {
        if let highest = try highestAccepted(), highest >= version { return }
        do {
            try FileSystem.writeAtomically(directory + "/highest-accepted", Array((version.description + "\n").utf8))
        } catch {
            throw ReleaseChannelError(.storage, "Failed to write \"\(directory)/highest-accepted\": \(error)")
        }
    }

    // MARK: - Internals

    /// Removes what is at `path` unless it is a regular file (without following a link).
    static func removeUnlessRegular(_ path: String) throws(ReleaseChannelError) {
        guard let status = try? FileSystem.statusIfPresent(path, followLinks: false), status.kind != .regular else { return }
        do {
            if status.kind == .directory { try FileSystem.removeTree(path) } else { try FileSystem.removeFile(path) }
        } catch {
            throw ReleaseChannelError(.storage, "Failed to remove \"\(path)\", which is not a regular file: \(error)")
        }
    }

    /// Bytes written between two requests to start writeback.
    static let writebackInterval = 8 << 20

    /// Appends the body from `offset` to `partial`, hashing it as it is written, fsyncing the
    /// file at the end (and when the body fails).
    private func fetch(_ url: String, to partial: String, offset: Int, offer: ReleaseOffer, digest: inout TargetDigest,
                       progress: (Int, Int) -> Void) throws {
        let descriptor = try FileDescriptor.open(partial, [.writeOnly, .create, .append, .noFollow, .nonBlocking], mode: 0o600)
        var received = offset
        var flushed = offset  // writeback started up to here
        // close() gives the descriptor up even when it reports an error: never a second one.
        var closing = false
        do {
            try Fetcher(options: TransportOptions(stallTimeout: stallTimeout, userAgent: "autodev-update")).fetch(url, maxBytes: offer.length, offset: offset) { chunk in
                try descriptor.writeAll(chunk)
                digest.update(chunk)
                received += chunk.count
                // The disk writes while the rest arrives, instead of all of it in the final fsync.
                if received - flushed >= Self.writebackInterval {
                    descriptor.startWriteback(offset: flushed, count: received - flushed)
                    flushed = received
                }
                progress(received, offer.length)
            }
            try descriptor.sync()
            closing = true
            try descriptor.close()
        } catch {
            if !closing {
                try? descriptor.sync()
                try? descriptor.close()
            }
            throw error
        }
    }

    /// Percent-encodes a target path for a URL, keeping "/".
    static func encode(_ path: String) -> String {
        let hex = Array("0123456789ABCDEF".utf8)
        var output: [UInt8] = []
        for byte in path.utf8 {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                 UInt8(ascii: "_"), UInt8(ascii: "."), UInt8(ascii: "-"), UInt8(ascii: "~"), UInt8(ascii: "/"), UInt8(ascii: "+"):
                output.append(byte)
            default: output += [UInt8(ascii: "%"), hex[Int(byte >> 4)], hex[Int(byte & 0xF)]]
            }
        }
        return String(decoding: output, as: UTF8.self)
    }
}
