import Integrity

/// The fixed 104-byte header of a patch: format version, what it needs and what it makes.
///
/// All integers are little-endian. See docs/delta-format.md for the byte layout.
public struct PatchHeader: Sendable, Equatable {
    /// The eight bytes every patch starts with: "ADDELTA" and a line feed.
    public static let magic: [UInt8] = Array("ADDELTA\n".utf8)
    /// The format version this build writes and reads.
    public static let currentVersion: UInt16 = 1
    /// The size of the header in bytes.
    public static let byteCount = 104
    /// The largest base or result the format carries (block offsets are 31-bit).
    public static let maximumFileSize = Int(Int32.max)

    /// Options that change how the patch is decoded.
    public struct Flags: OptionSet, Sendable, Hashable {
        public let rawValue: UInt16
        public init(rawValue: UInt16) { self.rawValue = rawValue }
        /// Addresses in x86-64 code and in the result's pointer regions are predicted from where
        /// their targets moved (see the format); the coded stream starts with the tables for it.
        public static let x86References = Flags(rawValue: 1)
        /// The flags this version understands; a patch with any other is refused.
        public static let known: Flags = [.x86References]
    }

    /// The format version.
    public var version: UInt16
    /// Decoding options.
    public var flags: Flags
    /// The size of the file the patch applies to.
    public var baseSize: Int
    /// The size of the file the patch makes.
    public var resultSize: Int
    /// The SHA-256 of the file the patch applies to.
    public var baseSHA256: SHA256Digest
    /// The SHA-256 of the file the patch makes.
    public var resultSHA256: SHA256Digest
    /// How many blocks the coded stream holds.
    public var blockCount: Int

    /// The most blocks a patch of a result of `size` bytes may hold: one per 64 bytes of the
    /// result, plus one, so the decoder's tables (16 bytes a block, and up to two 12-byte pieces
    /// of the offset map) stay below the result's size.
    public static func maximumBlockCount(resultSize size: Int) -> Int { size / 64 + 1 }

    /// The header as bytes.
    public var bytes: [UInt8] {
        var out = Self.magic
        func put(_ value: UInt64, _ width: Int) {
            for i in 0..<width { out.append(UInt8(truncatingIfNeeded: value >> UInt64(8 * i))) }
        }
        put(UInt64(version), 2)
        put(UInt64(flags.rawValue), 2)
        put(0, 4)
        put(UInt64(baseSize), 8)
        put(UInt64(resultSize), 8)
        out += baseSHA256.bytes
        out += resultSHA256.bytes
        put(UInt64(blockCount), 8)
        return out
    }

    /// Reads and checks a header: magic, version, flags, sizes in range, block count within
    /// the format's bound.
    /// - Parameter bytes: at least the first `byteCount` bytes of a patch.
    /// - Throws: `DeltaError` with `.notAPatch`, `.unsupportedVersion` or `.malformed`.
    public init(parsing bytes: some Collection<UInt8>) throws(DeltaError) {
        let b = Array(bytes.prefix(Self.byteCount))
        guard b.count >= Self.magic.count, Array(b[0..<8]) == Self.magic else {
            throw DeltaError(.notAPatch, "The file does not start with the delta patch magic \"ADDELTA\"")
        }
        guard b.count == Self.byteCount else {
            throw DeltaError(.malformed, "The patch header is truncated: \(b.count) of \(Self.byteCount) bytes")
        }
        func get(_ offset: Int, _ width: Int) -> UInt64 {
            var value: UInt64 = 0
            for i in 0..<width { value |= UInt64(b[offset + i]) << UInt64(8 * i) }
            return value
        }
        version = UInt16(get(8, 2))
        guard version == Self.currentVersion else {
            throw DeltaError(.unsupportedVersion, "The patch is format version \(version); this build reads version \(Self.currentVersion)")
        }
        flags = Flags(rawValue: UInt16(get(10, 2)))
        guard Flags.known.isSuperset(of: flags) else {
            throw DeltaError(.malformed, "The patch sets unknown flags 0x\(String(flags.rawValue, radix: 16))")
        }
        guard get(12, 4) == 0 else { throw DeltaError(.malformed, "The patch header's reserved field is not zero") }
        let base = get(16, 8), result = get(24, 8), blocks = get(96, 8)
        guard base <= UInt64(Self.maximumFileSize) else { throw DeltaError(.malformed, "The patch names a base of \(base) bytes, more than the format allows") }
        guard result <= UInt64(Self.maximumFileSize) else { throw DeltaError(.malformed, "The patch names a result of \(result) bytes, more than the format allows") }
        baseSize = Int(base)
        resultSize = Int(result)
        guard blocks <= UInt64(Self.maximumBlockCount(resultSize: resultSize)) else {
            throw DeltaError(.malformed, "The patch claims \(blocks) blocks for a result of \(result) bytes (at most \(Self.maximumBlockCount(resultSize: resultSize)))")
        }
        blockCount = Int(blocks)
        baseSHA256 = SHA256Digest(bytes: Array(b[32..<64]))
        resultSHA256 = SHA256Digest(bytes: Array(b[64..<96]))
    }

    init(flags: Flags, baseSize: Int, resultSize: Int, baseSHA256: SHA256Digest, resultSHA256: SHA256Digest, blockCount: Int) {
        version = Self.currentVersion
        self.flags = flags
        self.baseSize = baseSize
        self.resultSize = resultSize
        self.baseSHA256 = baseSHA256
        self.resultSHA256 = resultSHA256
        self.blockCount = blockCount
    }
}
