import Delta
import Integrity
import Platform

extension ReleaseRepository {
    // MARK: - Internals

    /// Replaces the patches listed for `path`'s release with one from each of the `count` newest
    /// earlier releases of the same platform in `pending` (each stored beside its release as
    /// `targets/<program>/<version>/<platform>/<sha256>.from-<base sha256 12>.patch`).
    func addPatches(to pending: inout [String: CanonicalJSONValue], result: [UInt8], path: String, facts: ReleaseFacts,
                    count: Int) throws(ReleaseChannelError) {
        let releaseDirectory = FileSystem.parent(of: path)
        for key in pending.keys where FileSystem.parent(of: key) == releaseDirectory && PatchFacts(json: pending[key]?["custom"]) != nil {
            pending.removeValue(forKey: key)
        }
        // Patches are made of files up to the size whose making fits in memory; larger releases go in whole.
        guard count > 0, result.count <= Delta.largestInputToMake else { return }
        let resultSHA256 = SHA256.hash(data: result).hex
        // Earlier releases of this platform, newest first; one artifact per version.
        var bases: [(version: SemanticVersion, key: String, sha256: String)] = []
        for (key, entry) in pending {
            guard let other = ReleaseFacts(json: entry["custom"]), other.platform == facts.platform, other.version < facts.version,
                  key.hasPrefix(program + "/"), let sha256 = entry["hashes"]?["sha256"]?.stringValue?.lowercased(),
                  let length = entry["length"]?.integerValue, length <= Int64(Delta.largestInputToMake) else { continue }
            bases.append((other.version, key, sha256))
        }
        bases.sort { $0.version != $1.version ? $0.version > $1.version : $0.key < $1.key }
        var seen: Set<SemanticVersion> = []
        var made = 0
        for base in bases where made < count && !seen.contains(base.version) && base.sha256 != resultSHA256 {
            seen.insert(base.version)
            let stored = directory + "/targets/" + FileSystem.parent(of: base.key) + "/" + base.sha256 + "." + FileSystem.baseName(of: base.key)
            let baseBytes = try storage { () throws(SystemError) in
                try FileSystem.readInputFile(stored, maxBytes: Delta.largestInputToMake, what: "an earlier release artifact")
            }
            guard SHA256.hash(data: baseBytes).hex == base.sha256 else {
                throw ReleaseChannelError(.invalidRepository, "\"\(stored)\" does not have the SHA-256 its target lists; no patch from it was made")
            }
            let patch: [UInt8]
            do {
                patch = try Delta.makePatch(from: baseBytes, to: result)
            } catch {
                throw ReleaseChannelError(.invalidArgument, "Making a patch from \(base.key) failed: \(error)")
            }
            made += 1
            guard patch.count < result.count else { continue }
            let name = PatchFacts.fileName(baseSHA256: base.sha256)
            let patchSHA256 = SHA256.hash(data: patch).hex
            let target = directory + "/targets/" + releaseDirectory + "/" + patchSHA256 + "." + name
            try storage { () throws(SystemError) in try FileSystem.writeAtomically(target, patch) }
            pending[releaseDirectory + "/" + name] = .object([
                "length": .integer(Int64(patch.count)),
                "hashes": .object(["sha256": .string(patchSHA256), "sha512": .string(Hex.encode(SHA512.hash(data: patch)))]),
                "custom": PatchFacts(baseSHA256: base.sha256, baseLength: baseBytes.count, resultSHA256: resultSHA256,
                                     resultLength: result.count).json,
            ])
        }
    }
}
