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

    func code(of patch: [UInt8], base: [UInt8] = base, maximumResultSize: Int = PatchHeader.maximumFileSize) -> DeltaError.Code? {
        do {
            let rebuilt = try Delta.apply(.bytes(patch), to: base, maximumResultSize: maximumResultSize) { _ in }
            _ = rebuilt
            return nil
        } catch {
            return error.code
        }
    }

    func withField(_ offset: Int, _ width: Int, _ value: UInt64) -> [UInt8] {
        var bytes = Self.patch
        for i in 0..<width { bytes[offset + i] = UInt8(truncatingIfNeeded: value >> UInt64(8 * i)) }
        return bytes
    }

    @Test("every truncation is refused")
    func truncations() {
        for length in 0..<Self.patch.count {
            let code = code(of: Array(Self.patch.prefix(length)))
            #expect(code != nil, "a patch cut to \(length) bytes was accepted")
            if code == nil { break }
        }
    }

    @Test("every changed byte is refused, or rebuilds the one result the header names")
    func changedBytes() {
        for offset in 0..<Self.patch.count {
            for flip: UInt8 in [0x01, 0x80, 0xFF] {
                var damaged = Self.patch
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

    @Test("a trailing byte, a wrong base or an unexpected result is refused")
    func wrongInputs() throws {
        #expect(code(of: Self.patch + [0]) == .malformed)
        var otherBase = Self.base
        otherBase[10] ^= 1
        #expect(code(of: Self.patch, base: otherBase) == .baseMismatch)
        #expect(code(of: Self.patch, base: Array(Self.base.dropLast())) == .baseMismatch)
        #expect(throws: DeltaError.self) {
            try Delta.apply(Self.patch, to: Self.base, expecting: SHA256.hash(data: [1]))
        }
        #expect(code(of: Self.patch, maximumResultSize: Self.result.count - 1) == .limitExceeded)
    }

    @Test("a header that lies is refused before any work")
    func lyingHeaders() {
        #expect(code(of: Array("not a patch at all".utf8)) == .notAPatch)
        #expect(code(of: withField(8, 2, 2)) == .unsupportedVersion)
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
        let header = try? PatchHeader(parsing: Self.patch)
        if let blocks = header?.blockCount {
            #expect(code(of: withField(96, 8, UInt64(blocks + 1))) != nil)
            #expect(code(of: withField(96, 8, UInt64(blocks - 1))) != nil)
        }
    }

    @Test("random garbage after a valid header is refused")
    func garbage() {
        var generator = SeededGenerator(seed: 8)
        for _ in 0..<200 {
            let body = generator.bytes(Int.random(in: 0..<300, using: &generator))
            #expect(code(of: Array(Self.patch.prefix(PatchHeader.byteCount)) + body) != nil)
        }
    }
}
