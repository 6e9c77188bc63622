import TestSupport
import Delta
import Foundation
import Integrity
import Testing

@Suite("Patches")
struct PatchTests {
    func roundTrip(_ base: [UInt8], _ result: [UInt8], options: Delta.Options = Delta.Options()) throws -> [UInt8] {
        let patch = try Delta.makePatch(from: base, to: result, options: options)
        let header = try PatchHeader(parsing: patch)
        #expect(header.version == options.formatVersion)
        #expect(header.bytes == Array(patch.prefix(header.bytes.count)))
        #expect(header.baseSize == base.count)
        #expect(header.resultSize == result.count)
        #expect(header.baseSHA256 == SHA256.hash(data: base))
        #expect(header.resultSHA256 == SHA256.hash(data: result))
        let rebuilt = try Delta.apply(patch, to: base, expecting: SHA256.hash(data: result))
        #expect(rebuilt == result)
        return patch
    }

    @Test("rebuilds the result from empty, tiny, identical and unrelated inputs")
    func edgeCases() throws {
        var generator = SeededGenerator(seed: 3)
        let random = generator.bytes(5_000)
        let pairs: [([UInt8], [UInt8])] = [([], []), ([], [1, 2, 3]), ([1, 2, 3], []), ([9], [9]), (random, random),
                                           (random, generator.bytes(5_000)), (Array(repeating: 0, count: 10_000), Array(repeating: 0, count: 10_001))]
        for (base, result) in pairs {
            for x86 in [false, true] {
                for version in PatchHeader.readableVersions {
                    _ = try roundTrip(base, result, options: Delta.Options(x86References: x86, formatVersion: version))
                }
            }
        }
        #expect(throws: DeltaError.self) { try Delta.makePatch(from: [1], to: [2], options: Delta.Options(formatVersion: 3)) }
    }

    @Test("rebuilds edited files, and a few edits cost far less than the file")
    func edits() throws {
        var generator = SeededGenerator(seed: 4)
        for (size, edits) in [(1_000, 1), (50_000, 5), (200_000, 40)] {
            let base = generator.bytes(size, alphabet: 16)
            let result = edited(base, edits: edits, using: &generator)
            let patch = try roundTrip(base, result)
            #expect(patch.count < PatchHeader.maximumByteCount + 200 * edits + 64, "\(patch.count) bytes for \(edits) edits")
            _ = try roundTrip(base, result, options: Delta.Options(formatVersion: 1))
        }
    }

    @Test("unchanged stretches of every length around a chunk and an output piece rebuild exactly")
    func chunkBoundaries() throws {
        var generator = SeededGenerator(seed: 11)
        let base = generator.bytes((1 << 16) + 300, alphabet: 64)
        // Changes just before, at and after chunk edges, the 64 KiB output piece and the end.
        for offsets in [[31], [32], [33], [0, 40], [(1 << 16) - 1], [1 << 16], [(1 << 16) - 33, (1 << 16) + 31], [base.count - 1], [9, 18, 27, 100, 137]] {
            var result = base
            for offset in offsets { result[offset] &+= 1 }
            for version in PatchHeader.readableVersions {
                for x86 in [false, true] {
                    _ = try roundTrip(base, result, options: Delta.Options(x86References: x86, formatVersion: version))
                }
            }
        }
    }

    @Test("a version 1 patch made by an earlier build still applies")
    func versionOne() throws {
        // v1.patch as the version 1 writer made it, for the two files below.
        let base: [UInt8] = (0..<3000).map { (i: Int) -> UInt8 in UInt8((i * i * 7 + i * 13) % 251) }
        var result = base
        result.replaceSubrange(100..<110, with: repeatElement(0xAA, count: 10))
        result.removeSubrange(2500..<2520)
        result.insert(contentsOf: [1, 2, 3, 4, 5], at: 2000)
        let patch = hexBytes("414444454c54410a0100000000000000b80b000000000000a90b000000000000fa06c98519e53b77c5465c19134e6e9d8c39714a8b81ca515ef60026af13d08274ed48c8b0b5e26f75f2471c5303d20aa88601ddbce8a772cb8a707f2c926b9603000000000000000017e8033f05669c900d6435b4b1e85c25ca503dda57d2b9a0e3a40b00bc3cd8bee10d04f3e10db680")
        let header = try PatchHeader(parsing: patch)
        #expect(header.version == 1)
        #expect(header.resultSHA256.hex == "74ed48c8b0b5e26f75f2471c5303d20aa88601ddbce8a772cb8a707f2c926b96")
        #expect(try Delta.apply(patch, to: base, expecting: header.resultSHA256) == result)
        // This build writes the same version 1 bytes.
        #expect(try Delta.makePatch(from: base, to: result, options: Delta.Options(formatVersion: 1)) == patch)
        #expect(try Delta.makePatch(from: base, to: result).count < patch.count)
    }

    func hexBytes(_ hex: String) -> [UInt8] {
        let digits = Array(hex.utf8)
        return stride(from: 0, to: digits.count, by: 2).map { UInt8(String(decoding: digits[$0..<$0 + 2], as: UTF8.self), radix: 16)! }
    }

    @Test("x86-64 code whose functions moved costs a fraction of what it costs without predictions")
    func movedCode() throws {
        var generator = SeededGenerator(seed: 10)
        let program = SyntheticProgram(functions: 400, using: &generator)
        var next = program
        next.insertFunction(at: 200, using: &generator)
        next.changeFunction(17, using: &generator)
        let base = program.linked(), result = next.linked()
        let plain = try roundTrip(base, result, options: Delta.Options(x86References: false))
        let predicted = try roundTrip(base, result)
        #expect(try PatchHeader(parsing: predicted).flags == .x86References)
        #expect(predicted.count * 2 < plain.count, "\(predicted.count) bytes with predictions, \(plain.count) without")
        // Version 1 (no chunk flags, no corrections) rebuilds the same, and is not smaller.
        let first = try roundTrip(base, result, options: Delta.Options(formatVersion: 1))
        #expect(predicted.count <= first.count, "\(predicted.count) bytes in version 2, \(first.count) in version 1")
    }

    @Test("streams: the result arrives in pieces, the patch is read in pieces")
    func streaming() throws {
        var generator = SeededGenerator(seed: 5)
        let base = generator.bytes(300_000, alphabet: 8)
        let result = edited(base, edits: 20, using: &generator)
        let patch = try Delta.makePatch(from: base, to: result)
        var offset = 0
        let reader = PatchReader { buffer in
            let count = min(7, buffer.count, patch.count - offset)
            for i in 0..<count { buffer[i] = patch[offset + i] }
            offset += count
            return count
        }
        var pieces: [Int] = []
        var rebuilt: [UInt8] = []
        try Delta.apply(reader, to: base) { piece in
            pieces.append(piece.count)
            rebuilt.append(contentsOf: piece)
        }
        #expect(rebuilt == result)
        #expect(pieces.count > 1)
        #expect(pieces.allSatisfy { $0 <= 1 << 16 })
    }
}
