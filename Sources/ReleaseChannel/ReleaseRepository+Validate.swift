import Integrity
import Platform

extension ReleaseRepository {
    // MARK: - Internals

    /// Checks every entry of `pending.json` before anything is signed, so a damaged or edited
    /// file is refused and the repository left as it is:
    /// - each path is `<program>/<version>/<platform>/<file name>`, with a program name
    ///   (``isProgramName(_:)``), a semantic version, a
    ///   known platform, a file name that is not empty, "." or "..", and no control character;
    /// - each entry has a length from 0 to ``maximumArtifact``, a SHA-256 of 64 hex digits and a
    ///   SHA-512 of 128 (nothing else), and a `custom` that `add` writes, naming the same version
    ///   and platform as the path (or, for a patch, its base and the release beside it it rebuilds);
    /// - the artifact is stored at `targets/<directories>/<sha256>.<file name>`, a regular file of
    ///   that length whose SHA-256 matches;
    /// - every target already published is still listed (publish never drops one).
    /// - Throws: ``ReleaseChannelError`` `invalidRepository` naming the entry and the problem.
    func validatePending(_ pending: [String: CanonicalJSONValue], published: [String: CanonicalJSONValue]) throws(ReleaseChannelError) {
        func refuse(_ path: String, _ problem: String) -> ReleaseChannelError {
            ReleaseChannelError(.invalidRepository, "\"\(pendingPath)\" lists \"\(TerminalText.escaped(path, limit: 200))\", which \(problem); nothing was signed (run 'autodev release add' again for that file, or restore pending.json)")
        }
        for path in published.keys.sorted() where pending[path] == nil {
            throw ReleaseChannelError(.invalidRepository, "\"\(pendingPath)\" no longer lists \"\(TerminalText.escaped(path, limit: 200))\", which the published targets list; publish never removes a target, so nothing was signed (restore pending.json)")
        }
        for (path, entry) in pending.sorted(by: { $0.key < $1.key }) {
            let parts = path.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
            // A repository may hold the releases of several programs (`release add --program`).
            guard parts.count == 4, Self.isProgramName(parts[0]) else { throw refuse(path, "is not <program>/<version>/<platform>/<file name>") }
            guard let version = SemanticVersion(parts[1]) else { throw refuse(path, "does not name a semantic version") }
            guard let platform = ReleasePlatform(rawValue: parts[2]) else { throw refuse(path, "does not name a known platform") }
            let name = parts[3]
            guard !name.isEmpty, name != ".", name != "..",
                  !name.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F || $0 == "\\" }) else {
                throw refuse(path, "has no usable file name")
            }
            guard let members = entry.objectValue else { throw refuse(path, "is not a JSON object") }
            guard let length = members["length"]?.integerValue, (0...Int64(Self.maximumArtifact)).contains(length) else {
                throw refuse(path, "has no length from 0 to \(Self.maximumArtifact)")
            }
            guard let hashes = members["hashes"]?.objectValue, Set(hashes.keys) == ["sha256", "sha512"],
                  let sha256 = hashes["sha256"]?.stringValue, sha256.count == 64, Hex.isHexDigits(sha256),
                  let sha512 = hashes["sha512"]?.stringValue, sha512.count == 128, Hex.isHexDigits(sha512) else {
                throw refuse(path, "does not list exactly a SHA-256 (64 hex digits) and a SHA-512 (128 hex digits)")
            }
            if let patch = PatchFacts(json: members["custom"]) {
                // A patch: named by its base, beside a release of the same directory that it rebuilds.
                let release = pending.first { key, value in
                    FileSystem.parent(of: key) == FileSystem.parent(of: path) && ReleaseFacts(json: value["custom"]) != nil
                        && value["hashes"]?["sha256"]?.stringValue?.lowercased() == patch.resultSHA256
                        && value["length"]?.integerValue == Int64(patch.resultLength)
                }
                guard name == PatchFacts.fileName(baseSHA256: patch.baseSHA256), release != nil else {
                    throw refuse(path, "is a patch that is not named by its base or rebuilds no release listed beside it")
                }
            } else {
                guard let facts = ReleaseFacts(json: members["custom"]), facts.version == version, facts.platform == platform else {
                    throw refuse(path, "has no release facts (custom) for \(parts[1]) on \(parts[2])")
                }
            }
            let stored = directory + "/targets/" + parts[0] + "/" + parts[1] + "/" + parts[2] + "/" + sha256.lowercased() + "." + name
            guard let status = try? FileSystem.statusIfPresent(stored, followLinks: false), status.kind == .regular else {
                throw refuse(path, "has no artifact at \"\(TerminalText.escaped(stored))\"")
            }
            guard status.size == Int(length) else {
                throw refuse(path, "lists \(length) bytes, but its artifact has \(status.size)")
            }
            // Every listed hash is compared with the stored artifact: a client checks them all.
            var digest = SHA256()
            var digest512 = SHA512()
            var read = 0
            do {
                let fd = try FileDescriptor.open(stored, [.readOnly, .noFollow, .nonBlocking])
                try fd.closeAfter {
                    try fd.readChunks {
                        digest.update(bufferPointer: $0)
                        digest512.update(bufferPointer: $0)
                        read += $0.count
                    }
                }
            } catch {
                throw ReleaseChannelError(.storage, "\(error)")
            }
            guard read == Int(length) else {
                throw refuse(path, "lists \(length) bytes, but its artifact has \(read)")
            }
            guard digest.finalize().hex == sha256.lowercased() else {
                throw refuse(path, "lists a SHA-256 its artifact does not have")
            }
            guard Hex.encode(digest512.finalize()) == sha512.lowercased() else {
                throw refuse(path, "lists a SHA-512 its artifact does not have")
            }
        }
    }
}
