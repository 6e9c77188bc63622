/// A deterministic pseudo-random generator (SplitMix64), so every failure can be replayed.
public struct SeededGenerator: RandomNumberGenerator {
    private var state: UInt64

    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    public mutating func bytes(_ count: Int, alphabet: Int = 256) -> [UInt8] {
        (0..<count).map { _ in UInt8(truncatingIfNeeded: Int.random(in: 0..<alphabet, using: &self)) }
    }
}

/// A file edited the way a new version edits an old one: some bytes changed, some inserted,
/// some removed.
public func edited(_ bytes: [UInt8], edits: Int, using generator: inout SeededGenerator) -> [UInt8] {
    var result = bytes
    for _ in 0..<edits {
        let at = result.isEmpty ? 0 : Int.random(in: 0..<result.count, using: &generator)
        switch Int.random(in: 0..<3, using: &generator) {
        case 0 where !result.isEmpty:
            result[at] &+= UInt8.random(in: 1...255, using: &generator)
        case 1:
            result.insert(contentsOf: generator.bytes(Int.random(in: 1...64, using: &generator)), at: at)
        default:
            let count = min(Int.random(in: 1...64, using: &generator), result.count - at)
            result.removeSubrange(at..<at + count)
        }
    }
    return result
}
