import Integrity

/// The header of a patch: format version, what it needs and what it makes.
///
/// Version 2 (written by default) stores the sizes and the block count as LEB128 numbers, so a
/// patch of a few changed bytes is not mostly header; version 1 stores them in fixed 8-byte
/// fields (104 bytes in all). Both start with the same magic and a little-endian 16-bit version,
/// so any reader can tell which one it holds. See docs/delta-format.md for the byte layouts.
public struct PatchHeader: Sendable, Equatable {
    /// The eight bytes every patch starts with: "ADDELTA" and a line feed.
    public static let magic: [UInt8] = Array("ADDELTA\n".utf8)
    /// The format version this build writes unless asked for another.
    public static let currentVersion: UInt16 = 2
    /// The format versions this build reads (and can write).
    public static let readableVersions: ClosedRange<UInt16> = 1...2
    /// The most bytes a header takes (version 1's fixed size; version 2's is at most 90).
    public static let maximumByteCount = 104
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

    /// The header as bytes, in the layout of its version.
    public var bytes: [UInt8] {
        var out = Self.magic
        func put(_ value: UInt64, _ width: Int) {
            for i in 0..<width { out.append(UInt8(truncatingIfNeeded: value >> UInt64(8 * i))) }
        }
        func putNumber(_ value: Int) {
            var rest = UInt64(value)
            while rest >= 0x80 {
                out.append(UInt8(truncatingIfNeeded: rest) | 0x80)
                rest >>= 7
            }
            out.append(UInt8(rest))
        }
        put(UInt64(version), 2)
        if version == 1 {
            put(UInt64(flags.rawValue), 2)
            put(0, 4)
            put(UInt64(baseSize), 8)
            put(UInt64(resultSize), 8)
            out += baseSHA256.bytes
            out += resultSHA256.bytes
            put(UInt64(blockCount), 8)
        } else {
            out.append(UInt8(truncatingIfNeeded: flags.rawValue))
            putNumber(baseSize)
            putNumber(resultSize)
            putNumber(blockCount)
            out += baseSHA256.bytes
            out += resultSHA256.bytes
        }
        return out
    }

    /// Reads and checks a header from the start of a patch: magic, version, flags, sizes in
    /// range, block count within the format's bound.
    /// - Parameter bytes: the patch, or at least its header.
    /// - Throws: `DeltaError` with `.notAPatch`, `.unsupportedVersion` or `.malformed`.
    public init(parsing bytes: some Collection<UInt8>) throws(DeltaError) {
        var iterator = bytes.makeIterator()
        self = try Self.read { iterator.next() }
    }

    /// Reads a header a byte at a time from `next`, which returns nil at the end of the patch;
    /// it takes exactly the header's bytes.
    static func read(_ next: () -> UInt8?) throws(DeltaError) -> PatchHeader {
        var prefix: [UInt8] = []
        while prefix.count < 10, let byte = next() { prefix.append(byte) }
        let magicSeen = Array(prefix.prefix(Self.magic.count))
        guard magicSeen == Array(Self.magic.prefix(magicSeen.count)), prefix.count >= 1 else {
            throw DeltaError(.notAPatch, "The file does not start with the delta patch magic \"ADDELTA\"")
        }
        guard prefix.count == 10 else {
            throw DeltaError(.malformed, "The patch header is truncated: it ends after \(prefix.count) bytes")
        }
        let version = UInt16(prefix[8]) | UInt16(prefix[9]) << 8
        guard readableVersions.contains(version) else {
            throw DeltaError(.unsupportedVersion, "The patch is format version \(version); this build reads versions \(readableVersions.lowerBound) to \(readableVersions.upperBound)")
        }
        var taken = 10
        func byte() throws(DeltaError) -> UInt8 {
            guard let byte = next() else {
                throw DeltaError(.malformed, "The patch header is truncated: it ends after \(taken) bytes")
            }
            taken += 1
            return byte
        }
        func fixed(_ width: Int) throws(DeltaError) -> UInt64 {
            var value: UInt64 = 0
            for i in 0..<width { value |= UInt64(try byte()) << UInt64(8 * i) }
            return value
        }
        func digest() throws(DeltaError) -> SHA256Digest {
            var bytes: [UInt8] = []
            for _ in 0..<32 { bytes.append(try byte()) }
            return SHA256Digest(bytes: bytes)
        }
        // LEB128, at most five bytes (35 bits), in its shortest form.
        func number(_ what: String) throws(DeltaError) -> UInt64 {
            var value: UInt64 = 0
            for i in 0..<5 {
                let b = try byte()
                value |= UInt64(b & 0x7F) << UInt64(7 * i)
                if b & 0x80 == 0 {
                    guard b != 0 || i == 0 else { throw DeltaError(.malformed, "The patch header's \(what) is not in its shortest form") }
                    return value
                }
            }
            throw DeltaError(.malformed, "The patch header's \(what) is longer than five bytes")
        }
        let flags: Flags
        let base, result, blocks: UInt64
        let baseSHA256, resultSHA256: SHA256Digest
        if version == 1 {
            flags = Flags(rawValue: UInt16(try fixed(2)))
            guard Flags.known.isSuperset(of: flags) else {
                throw DeltaError(.malformed, "The patch sets unknown flags 0x\(String(flags.rawValue, radix: 16))")
            }
            guard try fixed(4) == 0 else { throw DeltaError(.malformed, "The patch header's reserved field is not zero") }
            base = try fixed(8)
            result = try fixed(8)
            baseSHA256 = try digest()
            resultSHA256 = try digest()
            blocks = try fixed(8)
        } else {
            flags = Flags(rawValue: UInt16(try byte()))
            guard Flags.known.isSuperset(of: flags) else {
                throw DeltaError(.malformed, "The patch sets unknown flags 0x\(String(flags.rawValue, radix: 16))")
            }
            base = try number("base size")
            result = try number("result size")
            blocks = try number("block count")
            baseSHA256 = try digest()
            resultSHA256 = try digest()
        }
        guard base <= UInt64(Self.maximumFileSize) else { throw DeltaError(.malformed, "The patch names a base of \(base) bytes, more than the format allows") }
        guard result <= UInt64(Self.maximumFileSize) else { throw DeltaError(.malformed, "The patch names a result of \(result) bytes, more than the format allows") }
        let most = Self.maximumBlockCount(resultSize: Int(result))
        guard blocks <= UInt64(most) else {
            throw DeltaError(.malformed, "The patch claims \(blocks) blocks for a result of \(result) bytes (at most \(most))")
        }
        return PatchHeader(version: version, flags: flags, baseSize: Int(base), resultSize: Int(result),
                           baseSHA256: baseSHA256, resultSHA256: resultSHA256, blockCount: Int(blocks))
    }

    init(version: UInt16 = Self.currentVersion, flags: Flags, baseSize: Int, resultSize: Int,
         baseSHA256: SHA256Digest, resultSHA256: SHA256Digest, blockCount: Int) {
        self.version = version
        self.flags = flags
        self.baseSize = baseSize
        self.resultSize = resultSize
        self.baseSHA256 = baseSHA256
        self.resultSHA256 = resultSHA256
        self.blockCount = blockCount
    }
}
