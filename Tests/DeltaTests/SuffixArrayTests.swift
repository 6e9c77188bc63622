@testable import Delta
import TestSupport
import Testing

@Suite("Suffix array")
struct SuffixArrayTests {
    /// The suffix array by sorting the suffixes themselves.
    func naive(_ text: [UInt8]) -> [Int32] {
        text.indices.sorted { text[$0...].lexicographicallyPrecedes(text[$1...]) }.map(Int32.init)
    }

    func induced(_ text: [UInt8]) -> [Int32] {
        text.withUnsafeBufferPointer { buffer in
            let array = SuffixArray(buffer)
            return Array(UnsafeBufferPointer(start: array.offsets, count: array.count))
        }
    }

    @Test("equals the sorted suffixes on short strings of every kind")
    func matchesNaive() {
        var generator = SeededGenerator(seed: 1)
        var cases: [[UInt8]] = [[], [7], [1, 1], [2, 1], [1, 2], Array(repeating: 0, count: 100), Array("mississippi".utf8),
                                Array("abracadabra".utf8), (0..<200).map { UInt8($0 % 3) }, (0..<256).map { UInt8(255 - $0) }]
        for length in [3, 10, 50, 300, 1000] {
            for alphabet in [2, 3, 4, 256] {
                cases.append(generator.bytes(length, alphabet: alphabet))
            }
        }
        for text in cases {
            #expect(induced(text) == naive(text), "\(text.prefix(20))… (\(text.count) bytes)")
        }
    }

    @Test("sorts a large periodic text (deep recursion)")
    func periodic() {
        let text = (0..<4_000).map { UInt8(($0 % 7 == 0 ? 1 : 0) + ($0 % 1_001 == 0 ? 2 : 0)) }
        let sorted = induced(text)
        #expect(Set(sorted).count == text.count)
        for i in 1..<sorted.count {
            let a = text[Int(sorted[i - 1])...], b = text[Int(sorted[i])...]
            #expect(a.lexicographicallyPrecedes(b), "suffixes \(sorted[i - 1]) and \(sorted[i]) out of order")
            if !a.lexicographicallyPrecedes(b) { break }
        }
    }
}
