import Delta
import Integrity
import Platform

/// What a release repository signs about a patch in its target's `custom` member:
/// `{"delta": {"format": 1, "base_sha256", "base_length", "result_sha256", "result_length"}}`.
///
/// A patch's target path is `<program>/<version>/<platform>/from-<first 12 hex digits of the
/// base's SHA-256>.patch`, beside the full artifact it rebuilds. Its custom member holds no
/// release facts, so a client that does not know patches never offers one as a release.
public struct PatchFacts: Sendable, Equatable {
    /// The delta format version the patch is written in.
    public var format: Int
    /// The SHA-256 (hex) and length of the binary the patch applies to.
    public var baseSHA256: String
    public var baseLength: Int
    /// The SHA-256 (hex) and length of the full artifact the patch rebuilds.
    public var resultSHA256: String
    public var resultLength: Int

    /// - Parameters: the fields, as listed.
    public init(format: Int = Int(PatchHeader.currentVersion), baseSHA256: String, baseLength: Int, resultSHA256: String, resultLength: Int) {
        self.format = format
        self.baseSHA256 = baseSHA256.lowercased()
        self.baseLength = baseLength
        self.resultSHA256 = resultSHA256.lowercased()
        self.resultLength = resultLength
    }

    /// The `custom` member.
    public var json: CanonicalJSONValue {
        .object(["delta": .object([
            "format": .integer(Int64(format)), "base_sha256": .string(baseSHA256), "base_length": .integer(Int64(baseLength)),
            "result_sha256": .string(resultSHA256), "result_length": .integer(Int64(resultLength)),
        ])])
    }

    /// Reads a `custom` member; nil unless it is one `release add` writes for a patch, with
    /// hashes of 64 hex digits and lengths from 0 to 2³¹ − 1 (the delta format's range).
    public init?(json: CanonicalJSONValue?) {
        guard let members = json?.objectValue?["delta"]?.objectValue,
              let format = members["format"]?.integerValue, (1...Int64(UInt16.max)).contains(format),
              let base = members["base_sha256"]?.stringValue, base.count == 64, Hex.isHexDigits(base),
              let result = members["result_sha256"]?.stringValue, result.count == 64, Hex.isHexDigits(result),
              let baseLength = members["base_length"]?.integerValue, (0...Int64(PatchHeader.maximumFileSize)).contains(baseLength),
              let resultLength = members["result_length"]?.integerValue, (0...Int64(PatchHeader.maximumFileSize)).contains(resultLength)
        else { return nil }
        self.init(format: Int(format), baseSHA256: base, baseLength: Int(baseLength), resultSHA256: result, resultLength: Int(resultLength))
    }

    /// The file name of a patch from the base with SHA-256 `baseSHA256`.
    public static func fileName(baseSHA256: String) -> String {
        "from-" + baseSHA256.lowercased().prefix(12) + ".patch"
    }
}

/// A signed patch that rebuilds an offered release from a binary an installation may have.
public struct PatchOffer: Sendable, Equatable {
    /// The target path.
    public var path: String
    /// Its exact length in bytes.
    public var length: Int
    /// Hex digests by algorithm.
    public var hashes: [String: String]
    /// What the repository signed about it.
    public var facts: PatchFacts

    /// - Parameters: the fields, as listed.
    public init(path: String, length: Int, hashes: [String: String], facts: PatchFacts) {
        self.path = path
        self.length = length
        self.hashes = hashes
        self.facts = facts
    }
}

extension ReleaseOffer {
    /// The smallest patch that turns the binary with SHA-256 `baseSHA256` and length
    /// `baseLength` into this release, in a format version this build reads, if it is smaller
    /// than the release itself.
    public func patch(forBase baseSHA256: String, length baseLength: Int) -> PatchOffer? {
        let sha256 = hashes["sha256"]?.lowercased()
        return patches.filter { patch in
            let facts = patch.facts
            return facts.baseSHA256 == baseSHA256.lowercased() && facts.baseLength == baseLength
                && facts.resultSHA256 == sha256 && facts.resultLength == length && patch.length < length
                && PatchHeader.readableVersions.contains { Int($0) == facts.format }
        }.min { $0.length < $1.length }
    }
}
