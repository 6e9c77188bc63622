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
                _ = try roundTrip(base, result, options: Delta.Options(x86References: x86))
            }
        }
    }

    @Test("rebuilds edited files, and a few edits cost far less than the file")
    func edits() throws {
        var generator = SeededGenerator(seed: 4)
        for (size, edits) in [(1_000, 1), (50_000, 5), (200_000, 40)] {
            let base = generator.bytes(size, alphabet: 16)
            let result = edited(base, edits: edits, using: &generator)
            let patch = try roundTrip(base, result)
            #expect(patch.count < PatchHeader.byteCount + 200 * edits + 64, "\(patch.count) bytes for \(edits) edits")
        }
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
