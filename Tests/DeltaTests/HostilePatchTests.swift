import TestSupport
import Delta
import Integrity
import Testing

@Suite("Hostile patches")
struct HostilePatchTests {
    static let base: [UInt8] = {
        var generator = SeededGenerator(seed: 6)
        return generator.bytes(4_000, alphabet: 32)
    }()
    static let result: [UInt8] = {
        var generator = SeededGenerator(seed: 7)
        return edited(base, edits: 6, using: &generator)
    }()
    static let patch: [UInt8] = try! Delta.makePatch(from: base, to: result)
    static let patchV1: [UInt8] = try! Delta.makePatch(from: base, to: result, options: Delta.Options(formatVersion: 1))
    static let patches = [patch, patchV1]

    func code(of patch: [UInt8], base: [UInt8] = base, maximumResultSize: Int = PatchHeader.maximumFileSize) -> DeltaError.Code? {
        do {
            let rebuilt = try Delta.apply(.bytes(patch), to: base, maximumResultSize: maximumResultSize) { _ in }
            _ = rebuilt
            return nil
        } catch {
            return error.code
        }
    }

    /// The version 1 patch with a fixed-width header field set to `value`.
    func withField(_ offset: Int, _ width: Int, _ value: UInt64) -> [UInt8] {
        var bytes = Self.patchV1
        for i in 0..<width { bytes[offset + i] = UInt8(truncatingIfNeeded: value >> UInt64(8 * i)) }
        return bytes
    }

    @Test("every truncation is refused")
    func truncations() {
        for patch in Self.patches {
            for length in 0..<patch.count {
                let code = code(of: Array(patch.prefix(length)))
                #expect(code != nil, "a patch cut to \(length) bytes was accepted")
                if code == nil { break }
            }
        }
    }

    @Test("every changed byte is refused, or rebuilds the one result the header names")
    func changedBytes() {
        for patch in Self.patches {
            for offset in 0..<patch.count {
                for flip: UInt8 in [0x01, 0x80, 0xFF] {
                    var damaged = patch
                damaged[offset] ^= flip
                do {
                    let rebuilt = try Delta.apply(damaged, to: Self.base)
                    // Only a change the decoder cannot see (a trailing bit) may pass; the result is then exact.
                    #expect(rebuilt == Self.result, "byte \(offset) ^ \(flip) gave a different result")
                } catch {
                    #expect(error.code != .io)
                }
                }
            }
        }
    }

    @Test("a trailing byte, a wrong base or an unexpected result is refused")
    func wrongInputs() throws {
        for patch in Self.patches {
            #expect(code(of: patch + [0]) == .malformed)
            var otherBase = Self.base
            otherBase[10] ^= 1
            #expect(code(of: patch, base: otherBase) == .baseMismatch)
            #expect(code(of: patch, base: Array(Self.base.dropLast())) == .baseMismatch)
            #expect(throws: DeltaError.self) {
                try Delta.apply(patch, to: Self.base, expecting: SHA256.hash(data: [1]))
            }
            #expect(code(of: patch, maximumResultSize: Self.result.count - 1) == .limitExceeded)
        }
    }

    /// The version 2 patch with its header changed by `change`, re-encoded in front of the same stream.
    func relabeled(_ change: (inout PatchHeader) -> Void) -> [UInt8] {
        var header = try! PatchHeader(parsing: Self.patch)
        let body = Self.patch.dropFirst(header.bytes.count)
        change(&header)
        return header.bytes + body
    }

    @Test("a version 2 header that lies or is not in its one form is refused before any work")
    func lyingHeadersV2() throws {
        let header = try PatchHeader(parsing: Self.patch)
        #expect(header.version == 2)
        #expect(code(of: relabeled { $0.version = 3 }) == .unsupportedVersion)
        #expect(code(of: relabeled { $0.flags = PatchHeader.Flags(rawValue: 0x80) }) == .malformed)
        #expect(code(of: relabeled { $0.resultSize = 1 << 31 }) == .malformed)
        #expect(code(of: relabeled { $0.resultSize = Self.result.count + 1 }) == .malformed)
        #expect(code(of: relabeled { $0.resultSize = Self.result.count - 1 }) == .malformed)
        #expect(code(of: relabeled { $0.baseSize = Self.base.count + 1 }) == .baseMismatch)
        #expect(code(of: relabeled { $0.baseSize = 1 << 40 }) == .malformed)
        #expect(code(of: relabeled { $0.resultSize = Int(Int32.max) }, maximumResultSize: 1 << 20) == .limitExceeded)
        #expect(code(of: relabeled { $0.blockCount = PatchHeader.maximumBlockCount(resultSize: Self.result.count) + 1 }) == .malformed)
        #expect(code(of: relabeled { $0.blockCount += 1 }) != nil)
        #expect(code(of: relabeled { $0.blockCount -= 1 }) != nil)
        var other = Self.result
        other[0] ^= 1
        #expect(code(of: relabeled { $0.resultSHA256 = SHA256.hash(data: other) }) == .resultMismatch)
        // The base size (4,000) takes two bytes at offset 11: a longer form of the same number,
        // and a number of six bytes, are refused.
        #expect(Array(Self.patch[11...12]) == [0xA0, 0x1F])
        let padded = Array(Self.patch[..<11]) + [0xA0, 0x9F, 0x00] + Array(Self.patch[13...])
        #expect(code(of: padded) == .malformed)
        let long = Array(Self.patch[..<11]) + [0x80, 0x80, 0x80, 0x80, 0x80, 0x00] + Array(Self.patch[13...])
        #expect(code(of: long) == .malformed)
        // Cut inside the header.
        for length in [9, 10, 11, 12, 20, header.bytes.count - 1] {
            #expect(code(of: Array(Self.patch.prefix(length))) == .malformed)
        }
        #expect(code(of: []) == .notAPatch)
        #expect(code(of: Array("ADDELTB\n".utf8) + Self.patch.dropFirst(8)) == .notAPatch)
    }

    @Test("a block whose base position overflows 64 bits is refused, not trapped on")
    func seekOverflow() {
        // Two blocks on a base of 100 zero bytes: (copy 1, seek 0), then (copy 1, seek 2⁶³ − 1).
        let hex = "414444454c54410a020000644002cd00e292c5970d3c5e2f0ffa5171e555bc46bfc4faddfb4a418b6840b86e79a300000000000000000000000000000000000000000000000000000000000000000200000886296f1effffffffff94aade80"
        let digits = Array(hex.utf8)
        let patch = stride(from: 0, to: digits.count, by: 2).map { UInt8(String(decoding: digits[$0..<$0 + 2], as: UTF8.self), radix: 16)! }
        #expect(code(of: patch, base: [UInt8](repeating: 0, count: 100)) == .malformed)
    }

    @Test("a version 1 header that lies is refused before any work")
    func lyingHeaders() {
        #expect(code(of: Array("not a patch at all".utf8)) == .notAPatch)
        #expect(code(of: withField(8, 2, 3)) == .unsupportedVersion)
        #expect(code(of: withField(10, 2, 0x8000)) == .malformed)
        #expect(code(of: withField(12, 4, 1)) == .malformed)
        // Sizes: larger than the format allows, or than the blocks make.
        #expect(code(of: withField(24, 8, UInt64.max)) == .malformed)
        #expect(code(of: withField(24, 8, 1 << 31)) == .malformed)
        #expect(code(of: withField(24, 8, UInt64(Self.result.count + 1))) == .malformed)
        #expect(code(of: withField(24, 8, UInt64(Self.result.count - 1))) == .malformed)
        #expect(code(of: withField(16, 8, UInt64(Self.base.count + 1))) == .baseMismatch)
        // A decompression bomb: a huge result claimed by a small patch.
        #expect(code(of: withField(24, 8, UInt64(Int32.max)), maximumResultSize: 1 << 20) == .limitExceeded)
        // Block counts beyond the bound, or different from what the stream holds.
        #expect(code(of: withField(96, 8, UInt64.max)) == .malformed)
        #expect(code(of: withField(96, 8, UInt64(PatchHeader.maximumBlockCount(resultSize: Self.result.count) + 1))) == .malformed)
        let header = try? PatchHeader(parsing: Self.patchV1)
        if let blocks = header?.blockCount {
            #expect(code(of: withField(96, 8, UInt64(blocks + 1))) != nil)
            #expect(code(of: withField(96, 8, UInt64(blocks - 1))) != nil)
        }
    }

    @Test("random garbage after a valid header is refused")
    func garbage() {
        var generator = SeededGenerator(seed: 8)
        for patch in Self.patches {
            let header = try! PatchHeader(parsing: patch)
            for _ in 0..<200 {
                let body = generator.bytes(Int.random(in: 0..<300, using: &generator))
                #expect(code(of: Array(patch.prefix(header.bytes.count)) + body) != nil)
            }
        }
    }
}
