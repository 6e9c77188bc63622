@testable import Delta
import TestSupport
import Testing

@Suite("Range coder")
struct RangeCoderTests {
    @Test("decodes the bits, numbers and trees it encoded")
    func roundTrip() throws {
        var generator = SeededGenerator(seed: 2)
        let bits = (0..<20_000).map { i in i % 5 == 0 ? Int.random(in: 0...1, using: &generator) : (i % 3 == 0 ? 1 : 0) }
        let numbers: [UInt64] = [0, 1, 2, 3, 7, 8, 255, 256, 65_535, 1 << 31, UInt64.max, UInt64.max - 1] + (0..<500).map { _ in UInt64.random(in: 0...UInt64.max, using: &generator) >> UInt64.random(in: 0...63, using: &generator) }
        let signed: [Int64] = [0, -1, 1, Int64.max, -Int64.max, -123_456]
        let encoding = Models(version: 2)
        var encoder = RangeEncoder(reservingCapacity: 0)
        for (i, bit) in bits.enumerated() { encoder.encode(bit: bit, model: i % 7, in: encoding.table) }
        for number in numbers { encoding.encodeNumber(number, kind: .extra, &encoder) }
        for number in signed { encoding.encodeSigned(number, kind: .seek, &encoder) }
        encoder.encodeDirect(0xDEAD_BEEF, count: 32)
        encoder.finish()

        let decoding = Models(version: 2)
        let input = PatchInput(reader: .bytes(encoder.bytes))
        var decoder = try RangeDecoder(input: input, leadingZero: true)
        for (i, bit) in bits.enumerated() { #expect(decoder.decodeBit(model: i % 7, in: decoding.table) == bit) }
        for number in numbers { #expect(decoding.decodeNumber(kind: .extra, &decoder) == number) }
        for number in signed { #expect(decoding.decodeSigned(kind: .seek, &decoder) == number) }
        #expect(decoder.decodeDirect(count: 32) == 0xDEAD_BEEF)
        #expect(!input.overran)
        #expect(input.atEnd())
    }

    @Test("codes predictable bits in well under a bit each")
    func skewedBits() {
        var generator = SeededGenerator(seed: 9)
        let models = Models(version: 2)
        var encoder = RangeEncoder(reservingCapacity: 0)
        for _ in 0..<80_000 { encoder.encode(bit: Int.random(in: 0..<32, using: &generator) == 0 ? 1 : 0, model: 0, in: models.table) }
        encoder.finish()
        // The entropy of a bit that is 1 once in 32 is 0.2 bits; adaptation costs a little more.
        #expect(encoder.bytes.count < 80_000 / 8 / 4)
    }
}
