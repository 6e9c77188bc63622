import Integrity
import Platform

/// The files `scripts/get-autodev` (the `curl | sh` installer) downloads, beside `metadata/` and
/// `targets/`:
///
///     DIR/install/autodev-<platform>          the newest published release of the platform
///     DIR/install/autodev-<platform>.minisig  its minisign signature (prehashed, "ED"), with the
///                                             trusted comment "autodev <version> <platform>"
///
/// Only what the signed targets metadata lists is copied (never `pending.json`), after the stored
/// file's length and SHA-256 matched the signed ones; `metadata/` and `targets/` are not touched.
extension ReleaseRepository {
    /// One platform's newest published release, as the signed targets metadata lists it.
    public struct PublishedRelease: Sendable, Equatable {
        /// What the repository signed about it.
        public var facts: ReleaseFacts
        /// The target path (`<program>/<version>/<platform>/<file name>`).
        public var path: String
        /// The signed length and SHA-256 (hex).
        public var length: Int
        public var sha256: String
    }

    /// What ``writeInstallers(signingWith:)`` wrote for one platform.
    public struct Installer: Sendable, Equatable {
        public var release: PublishedRelease
        /// `DIR/install/autodev-<platform>` and its signature.
        public var binary: String
        public var signature: String
        /// The signature's trusted comment.
        public var trustedComment: String
    }

    /// The trusted comment of an installer binary's signature: `autodev <version> <platform>`.
    public static func installerComment(_ facts: ReleaseFacts) -> String {
        "autodev \(facts.version) \(facts.platform.rawValue)"
    }

    /// The newest published release of each platform (patches and pre-releases are releases too:
    /// the newest version wins, as semantic versioning orders them), sorted by platform.
    /// - Throws: ``ReleaseChannelError``: `invalidRepository` when the metadata cannot be read.
    public func newestPublishedReleases() throws(ReleaseChannelError) -> [PublishedRelease] {
        _ = try currentRoot()
        let state = try publishedState()
        var newest: [ReleasePlatform: PublishedRelease] = [:]
        for (path, entry) in state.targets {
            guard PatchFacts(json: entry["custom"]) == nil, let facts = ReleaseFacts(json: entry["custom"]),
                  path.hasPrefix(program + "/"), path.split(separator: "/", omittingEmptySubsequences: false).count == 4,
                  let length = entry["length"]?.integerValue, (0...Int64(Self.maximumArtifact)).contains(length),
                  let sha256 = entry["hashes"]?["sha256"]?.stringValue, sha256.count == 64, Hex.isHexDigits(sha256) else { continue }
            let release = PublishedRelease(facts: facts, path: path, length: Int(length), sha256: sha256.lowercased())
            if let other = newest[facts.platform], other.facts.version >= facts.version { continue }
            newest[facts.platform] = release
        }
        return newest.values.sorted { $0.facts.platform.rawValue < $1.facts.platform.rawValue }
    }

    /// Copies each platform's newest published release to `DIR/install/autodev-<platform>` and
    /// signs it with `key` (minisign, prehashed), each file written atomically, holding the
    /// repository's lock.
    /// - Returns: what was written, by platform.
    /// - Throws: ``ReleaseChannelError``: `invalidRepository` when nothing is published or a
    ///   stored file does not match the signed metadata (nothing is written then), `storage` when
    ///   a file cannot be read or written.
    public func writeInstallers(signingWith key: Minisign.SecretKey) throws(ReleaseChannelError) -> [Installer] {
        _ = try currentRoot()
        return try withExclusiveLock(lockPath, what: "the release repository \"\(directory)\"") { () throws(ReleaseChannelError) in
            let releases = try newestPublishedReleases()
            guard !releases.isEmpty else {
                throw ReleaseChannelError(.invalidRepository, "\"\(directory)\" has no published release: run 'autodev release add' and 'autodev release publish' first; nothing was written")
            }
            // Every file is read and checked before any is written: a damaged one writes nothing.
            var signed: [(PublishedRelease, [UInt8], Minisign.Signature)] = []
            for release in releases {
                let bytes = try readPublished(release)
                let comment = Self.installerComment(release.facts)
                let signature: Minisign.Signature
                do {
                    signature = try key.sign(bytes, trustedComment: comment)
                } catch {
                    throw ReleaseChannelError(.invalidArgument, "Failed to sign \(release.path): \(error)")
                }
                signed.append((release, bytes, signature))
            }
            let installDirectory = directory + "/install"
            // Written where it is, never through a link to somewhere else.
            if let status = try storage({ () throws(SystemError) in try FileSystem.statusIfPresent(installDirectory, followLinks: false) }),
               status.kind != .directory {
                throw ReleaseChannelError(.storage, "Refusing to write into \"\(installDirectory)\": it is not a directory (a link, a file); nothing was written")
            }
            try storage { () throws(SystemError) in try FileSystem.createDirectory(installDirectory) }
            var written: [Installer] = []
            for (release, bytes, signature) in signed {
                let binary = installDirectory + "/autodev-" + release.facts.platform.rawValue
                let signaturePath = binary + ".minisig"
                try storage { () throws(SystemError) in
                    try FileSystem.checkOutputPath(binary)
                    try FileSystem.checkOutputPath(signaturePath)
                    try FileSystem.writeAtomically(binary, bytes, mode: 0o644)
                    try FileSystem.writeAtomically(signaturePath, Array(signature.text.utf8), mode: 0o644)
                }
                written.append(Installer(release: release, binary: binary, signature: signaturePath, trustedComment: signature.trustedComment))
            }
            return written
        }
    }

    /// The stored file of `release`, refused unless its length and SHA-256 are the signed ones.
    func readPublished(_ release: PublishedRelease) throws(ReleaseChannelError) -> [UInt8] {
        let parent = FileSystem.parent(of: release.path)
        let stored = directory + "/targets/" + parent + "/" + release.sha256 + "." + FileSystem.baseName(of: release.path)
        let bytes = try storage { () throws(SystemError) in try FileSystem.readOwnFile(stored, maxBytes: Self.maximumArtifact + 1) }
        guard let bytes else {
            throw ReleaseChannelError(.invalidRepository, "\(release.path) is published, but its file \"\(stored)\" is missing; nothing was written")
        }
        guard bytes.count == release.length, SHA256.hash(data: bytes).hex == release.sha256 else {
            throw ReleaseChannelError(.invalidRepository, "\"\(stored)\" is not the file the signed metadata lists for \(release.path) (\(bytes.count) bytes, signed \(release.length), or another SHA-256); nothing was written")
        }
        return bytes
    }
}
