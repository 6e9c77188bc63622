#if canImport(Glibc)
import Glibc
#endif
import Delta
import Integrity
import Platform
import Transport

extension UpdateChannel {
    // MARK: - API

    /// Downloads `offer` into `directory` as `<sha256>`, resuming from a `<sha256>.partial` left
    /// by an interrupted download, and checks the whole file against the length and every hash
    /// the trusted metadata lists before it gets its final name (fsync, rename, mode 0755). A
    /// file already there that matches is kept. The names come from the signed hash only, never
    /// from the target path (which may hold anything).
    ///
    /// Every fetch has a stall timeout and a total deadline (``totalTimeout``, else
    /// ``defaultTotalTimeout(length:)``); SIGINT or SIGTERM (after `Cancellation.install()`)
    /// stops it within a quarter of a second, keeping what arrived.
    /// - Parameter progress: called with the bytes received so far and the total.
    /// - Returns: the verified file's path.
    /// - Throws: ``ReleaseChannelError``: `channel` for a download or verification failure (a
    ///   partial file that does not verify is removed), `cancelled` for a signal, `storage` for
    ///   local files.
    public func download(_ offer: ReleaseOffer, into directory: String,
                         progress: (Int, Int) -> Void = { _, _ in }) throws(ReleaseChannelError) -> String {
        let download = try withExclusiveLock(self.directory + "/lock", what: "the update channel in \"\(self.directory)\"") { () throws(ReleaseChannelError) in
            try downloadLocked(offer, into: directory, progress: progress)
        }
        download.close()
        return download.path
    }

    /// Downloads `offer` as ``download(_:into:progress:)`` does, or, when the offer lists a
    /// signed patch made from the binary at `base` (the one this installation runs: same
    /// SHA-256 and length), downloads that patch the same way (caps, deadlines, resumption,
    /// progress against the patch's length), rebuilds the release from it in `directory`, and
    /// checks the result against the release's signed length and hashes before it gets its
    /// final name.
    ///
    /// A patch that is missing or does not verify, or that does not rebuild the release, is
    /// given up with one line to `notice` saying why, and the full file is downloaded. A patch
    /// download that was interrupted (SIGINT, a cut connection, a timeout) keeps what arrived
    /// and throws, like a full one, so the next call resumes it. Rebuilding holds the base in
    /// memory, plus less than the release's size in tables, plus a constant; the patch and the
    /// result are streamed.
    public func download(_ offer: ReleaseOffer, into directory: String, base: String, notice: (String) -> Void,
                         progress: (Int, Int) -> Void = { _, _ in }) throws(ReleaseChannelError) -> String {
        let download = try verifiedDownload(offer, into: directory, base: base, notice: notice, progress: progress)
        download.close()
        return download.path
    }

    /// Downloads `offer` as ``download(_:into:base:notice:progress:)`` does (or as
    /// ``download(_:into:progress:)`` does without `base`), and keeps the file open under the
    /// write lease taken before its first byte was written: while the lease is unbroken, the
    /// hashes checked as the bytes were written are the file's, and a store can take it
    /// without reading it again. The caller closes it.
    package func verifiedDownload(_ offer: ReleaseOffer, into directory: String, base: String?, notice: (String) -> Void,
                                  progress: (Int, Int) -> Void) throws(ReleaseChannelError) -> VerifiedDownload {
        try withExclusiveLock(self.directory + "/lock", what: "the update channel in \"\(self.directory)\"") { () throws(ReleaseChannelError) in
            if let base, let rebuilt = try downloadByPatch(offer, into: directory, base: base, notice: notice, progress: progress) {
                return rebuilt
            }
            return try downloadLocked(offer, into: directory, progress: progress)
        }
    }

    /// The patch `download(_:into:base:notice:progress:)` would take for `offer` when this
    /// installation runs the binary at `base` (nil when there is none, or `base` cannot be read).
    public static func patch(for offer: ReleaseOffer, base: String) -> PatchOffer? {
        guard !offer.patches.isEmpty, let identity = fileIdentity(base) else { return nil }
        return offer.patch(forBase: identity.sha256, length: identity.length)
    }

    /// The total deadline of a download of `length` bytes when none is set: 120 s plus one
    /// second per 64 KiB (a server slower than 64 KiB/s on a large artifact fails in time).
    public static func defaultTotalTimeout(length: Int) -> Double { Fetcher.defaultTotalTimeout(maxBytes: length) }

    func downloadLocked(_ offer: ReleaseOffer, into directory: String, progress: (Int, Int) -> Void) throws(ReleaseChannelError) -> VerifiedDownload {
        try offer.validate()
        let sha256 = offer.hashes["sha256"]!.lowercased()
        let slash = offer.path.lastIndex(of: "/")
        let name = slash.map { String(offer.path[offer.path.index(after: $0)...]) } ?? offer.path
        let remoteDirectory = slash.map { String(offer.path[...$0]) } ?? ""
        guard !name.isEmpty, name != ".", name != "..", !name.contains("/") else {
            throw ReleaseChannelError(.channel, "Target \(offer.shownPath) has no usable file name; the release cannot be installed as published")
        }
        let final = directory + "/" + sha256
        let partial = final + ".partial"
        // A real directory of ours: through a link, the verified file could be swapped by
        // whoever owns the directory it points to.
        try Self.ownDirectory(directory, mode: 0o700)
        // Only regular files of our own with one link are reused or appended to: a link, hard
        // link, FIFO, device or directory planted under either name is removed (the name, never
        // what it points to), and the download starts over.
        for path in [final, partial] { try Self.removeUnlessOwnRegular(path) }
        if FileSystem.exists(final), let kept = Self.keptDownload(final, offer) { return kept }
        let url = self.url + "/targets/" + Self.encode(remoteDirectory + sha256 + "." + name)
        // The write lease is taken before anything is read or written: every byte hashed below is
        // the file's while it holds.
        let descriptor: FileDescriptor
        do {
            descriptor = try FileDescriptor.openOwned(partial, [.readWrite, .create, .append], mode: 0o600)
        } catch {
            throw ReleaseChannelError(.storage, "\(error)")
        }
        let lease = WriteLease(descriptor)
        // close() gives the descriptor up even when it reports an error: never a second one.
        var closed = false
        func close() {
            guard !closed else { return }
            closed = true
            try? descriptor.sync()
            Self.release(descriptor, lease)
        }
        // The bytes kept from an interrupted download are hashed once, from the file; the rest as it arrives.
        var digest = TargetDigest(offer)
        do {
            if try descriptor.status().size > offer.length {
                try descriptor.truncate(to: 0)
            } else {
                try descriptor.readChunks { digest.update($0) }
            }
        } catch {
            close()
            throw ReleaseChannelError(.storage, "\(error)")
        }
        do {
            do {
                try fetch(url, to: descriptor, offset: digest.count, offer: offer, digest: &digest, progress: progress)
            } catch let error as TransportError where error.code == .rangeIgnored {
                try descriptor.truncate(to: 0)
                digest = TargetDigest(offer)
                try fetch(url, to: descriptor, offset: 0, offer: offer, digest: &digest, progress: progress)
            }
        } catch let error as ReleaseChannelError {
            close()
            throw error
        } catch let error as SystemError {
            close()
            throw ReleaseChannelError(.storage, "\(error)")
        } catch {
            close()
            // A body longer than the signed length is not the published artifact: nothing of it is kept.
            if let error = error as? TransportError, error.code == .tooLarge {
                try? FileSystem.removeFile(partial)
                throw ReleaseChannelError(.channel, "Failed to download \(offer.shownPath) from \(TerminalText.escaped(url)): \(TerminalText.escaped("\(error)")); the server's file is longer than the signed length of \(offer.length) bytes, so the partial download was removed and the release cannot be installed as published")
            }
            var kept = (try? FileSystem.status(partial, followLinks: false))?.size ?? 0
            if kept == 0 { try? FileSystem.removeFile(partial) }
            if kept > offer.length { try? FileSystem.removeFile(partial); kept = 0 }
            let keptText = kept == 0 ? "nothing was kept" : "\(kept) of \(offer.length) bytes are kept in \"\(TerminalText.escaped(partial))\""
            if let error = error as? TransportError, error.code == .cancelled {
                throw ReleaseChannelError(.cancelled, "The download of \(offer.shownPath) was \(error.message); \(keptText)" + (kept == 0 ? "" : ", and the next 'autodev update apply' resumes from there"))
            }
            var message = "Failed to download \(offer.shownPath) from \(TerminalText.escaped(url)) (\(kept == 0 ? keptText : keptText + " to resume")): \(TerminalText.escaped("\(error)"))"
            if let error = error as? TransportError, error.code == .timedOut {
                let total = DurationText.text(totalTimeout ?? Self.defaultTotalTimeout(length: offer.length))
                message += "; to wait longer, pass --timeout SECONDS (the whole download, now \(total)) or --stall-timeout SECONDS (silence, now \(DurationText.text(stallTimeout)))"
            }
            throw ReleaseChannelError(.channel, message)
        }
        do {
            try digest.check(offer)
        } catch {
            close()
            try? FileSystem.removeFile(partial)
            throw ReleaseChannelError(error.code, error.message + "; the download did not match, so it was removed, and the release cannot be installed as published")
        }
        do {
            try descriptor.setMode(0o755)
            try FileSystem.rename(partial, to: final)
            try FileSystem.syncDirectory(directory)
        } catch {
            close()
            throw ReleaseChannelError(.storage, "\(error)")
        }
        if lease == nil { close() }
        return VerifiedDownload(path: final, lease: lease)
    }

    /// Closes `descriptor` through `lease` where there is one (the lease owns it then).
    private static func release(_ descriptor: FileDescriptor, _ lease: WriteLease?) {
        if let lease { lease.end() } else { try? descriptor.close() }
    }

    /// The verified file already at `path`, hashed through a descriptor under a write lease
    /// taken before it was read; nil when it does not match `offer` (or cannot be read).
    private static func keptDownload(_ path: String, _ offer: ReleaseOffer) -> VerifiedDownload? {
        guard let descriptor = try? FileDescriptor.openOwned(path, [.readWrite]) else { return nil }
        let lease = WriteLease(descriptor)
        var digest = TargetDigest(offer)
        guard (try? descriptor.readChunks({ digest.update($0) })) != nil, (try? digest.check(offer)) != nil else {
            release(descriptor, lease)
            return nil
        }
        if lease == nil { try? descriptor.close() }
        return VerifiedDownload(path: path, lease: lease)
    }

    /// Downloads the patch for `base` and rebuilds `offer` from it; nil (after a `notice`) when
    /// there is no such patch or it cannot be used, so that the caller downloads the full file.
    func downloadByPatch(_ offer: ReleaseOffer, into directory: String, base: String, notice: (String) -> Void,
                         progress: (Int, Int) -> Void) throws(ReleaseChannelError) -> VerifiedDownload? {
        try offer.validate()
        let sha256 = offer.hashes["sha256"]!.lowercased()
        let final = directory + "/" + sha256
        guard !FileSystem.exists(final), let patch = Self.patch(for: offer, base: base) else { return nil }
        let patchOffer = ReleaseOffer(path: patch.path, length: patch.length, hashes: patch.hashes, facts: offer.facts)
        let patchFile: String
        do {
            let download = try downloadLocked(patchOffer, into: directory, progress: progress)
            download.close()
            patchFile = download.path
        } catch {
            // What was kept of an interrupted patch is resumed by the next download, like a full file's.
            let kept = (try? FileSystem.status(directory + "/" + patch.hashes["sha256", default: ""].lowercased() + ".partial", followLinks: false))?.size ?? 0
            if error.code == .cancelled || error.code == .storage || kept > 0 { throw error }
            notice("The patch \(patchOffer.shownPath) could not be downloaded (\(error.message)); downloading the full file")
            return nil
        }
        let rebuilding = final + ".rebuilding"
        defer {
            try? FileSystem.removeFile(rebuilding)
            try? FileSystem.removeFile(patchFile)
        }
        do {
            try Self.removeUnlessOwnRegular(rebuilding)
            try? FileSystem.removeFile(rebuilding)
            let baseBytes = try FileSystem.readInputFile(base, maxBytes: PatchHeader.maximumFileSize, what: "the running binary")
            let input = try FileDescriptor.open(patchFile, [.readOnly, .noFollow])
            defer { try? input.close() }
            let output = try FileDescriptor.openOwned(rebuilding, [.readWrite, .create, .exclusive], mode: 0o600)
            // Taken before the first byte: while it holds, the hashes below are the file's.
            let lease = WriteLease(output)
            var digest = TargetDigest(offer)
            do {
                try Delta.apply(PatchReader { buffer in try input.read(into: buffer) }, to: baseBytes, expecting: SHA256Digest(hex: sha256),
                                maximumResultSize: offer.length) { piece in
                    try output.writeAll(piece)
                    digest.update(piece)
                }
                try output.sync()
                try digest.check(offer)
                try output.setMode(0o755)
                try FileSystem.rename(rebuilding, to: final)
                try FileSystem.syncDirectory(directory)
            } catch {
                Self.release(output, lease)
                throw error
            }
            progress(offer.length, offer.length)
            if lease == nil { try? output.close() }
            return VerifiedDownload(path: final, lease: lease)
        } catch {
            let reason = (error as? ReleaseChannelError)?.message ?? "\(error)"
            notice("The patch \(patchOffer.shownPath) did not rebuild the release (\(TerminalText.escaped(reason))); downloading the full file")
            return nil
        }
    }

    /// The SHA-256 (hex) and length of the file at `path`, read without following a link;
    /// nil when it cannot be read or is larger than the delta format allows.
    static func fileIdentity(_ path: String) -> (sha256: String, length: Int)? {
        guard let bytes = try? FileSystem.readInputFile(path, maxBytes: PatchHeader.maximumFileSize, what: "the running binary") else { return nil }
        return (SHA256.hash(data: bytes).hex, bytes.count)
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
            throw ReleaseChannelError(.storage, "\(error)")
        }
    }

    /// Takes back an acceptance that did not happen: when the record names `version` (it was
    /// raised to it for an install that then failed), it goes back to `previous`, or away when
    /// there was none (the journal then rebuilds the floor from what was really installed).
    /// - Throws: ``ReleaseChannelError`` `storage` when the record cannot be written.
    public func withdrawAccepted(_ version: SemanticVersion, restoring previous: SemanticVersion?) throws(ReleaseChannelError) {
        guard try highestAccepted() == version, previous != version else { return }
        let path = directory + "/highest-accepted"
        do {
            if let previous {
                try FileSystem.writeAtomically(path, Array((previous.description + "\n").utf8))
            } else {
                try FileSystem.removeFile(path)
            }
        } catch {
            throw ReleaseChannelError(.storage, "\(error)")
        }
    }

    // MARK: - Internals

    /// Removes what is at `path` (a link itself, never its target) unless it is a regular file
    /// with one link owned by this user: a hard link planted there would have the download
    /// appended to another file.
    static func removeUnlessOwnRegular(_ path: String) throws(ReleaseChannelError) {
        guard let status = try? FileSystem.statusIfPresent(path, followLinks: false) else { return }
        if status.kind == .regular, status.linkCount == 1, status.owner == geteuid() { return }
        do {
            if status.kind == .directory { try FileSystem.removeTree(path) } else { try FileSystem.removeFile(path) }
        } catch {
            throw ReleaseChannelError(.storage, "\(error) (it was planted there: not a regular file of this user with one link)")
        }
    }

    /// Bytes written between two requests to start writeback.
    static let writebackInterval = 8 << 20

    /// Appends the body from `offset` to the file open at `descriptor` (for appending), hashing
    /// it as it is written, and fsyncs it; the caller closes it.
    private func fetch(_ url: String, to descriptor: FileDescriptor, offset: Int, offer: ReleaseOffer, digest: inout TargetDigest,
                       progress: (Int, Int) -> Void) throws {
        var received = offset
        var flushed = offset  // writeback started up to here
        let options = TransportOptions(stallTimeout: stallTimeout, totalTimeout: totalTimeout ?? Self.defaultTotalTimeout(length: offer.length),
                                       userAgent: "autodev-update")
        try Fetcher(options: options).fetch(url, maxBytes: offer.length, offset: offset) { chunk in
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

/// A download checked against its signed length and hashes, still open under the write lease
/// taken before its first byte was written (``WriteLease``; nil where the kernel refused one,
/// and the file is closed).
package struct VerifiedDownload: Sendable {
    /// Where the verified file is.
    package let path: String
    /// While unbroken, nothing else has opened the file since its bytes were hashed.
    package let lease: WriteLease?

    /// Ends the lease (a store that took the file in has ended it already).
    package func close() { lease?.end() }
}
