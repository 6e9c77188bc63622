/// BLAKE2b (RFC 7693), unkeyed, with a digest of 1 to 64 bytes: minisign hashes prehashed
/// messages with BLAKE2b-512 and checksums secret keys with BLAKE2b-256.
public struct BLAKE2b: Sendable {
    private static let iv: [UInt64] = [
        0x6a09e667f3bcc908, 0xbb67ae8584caa73b, 0x3c6ef372fe94f82b, 0xa54ff53a5f1d36f1,
        0x510e527fade682d1, 0x9b05688c2b3e6c1f, 0x1f83d9abfb41bd6b, 0x5be0cd19137e2179,
    ]
    private static let sigma: [[Int]] = [
        [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15], [14, 10, 4, 8, 9, 15, 13, 6, 1, 12, 0, 2, 11, 7, 5, 3],
        [11, 8, 12, 0, 5, 2, 15, 13, 10, 14, 3, 6, 7, 1, 9, 4], [7, 9, 3, 1, 13, 12, 11, 14, 2, 6, 5, 10, 4, 0, 15, 8],
        [9, 0, 5, 7, 2, 4, 10, 15, 14, 1, 11, 12, 6, 8, 3, 13], [2, 12, 6, 10, 0, 11, 8, 3, 4, 13, 7, 5, 15, 14, 1, 9],
        [12, 5, 1, 15, 14, 13, 4, 10, 0, 7, 6, 3, 9, 2, 8, 11], [13, 11, 7, 14, 12, 1, 3, 9, 5, 0, 15, 4, 8, 6, 2, 10],
        [6, 15, 14, 9, 11, 3, 0, 8, 12, 2, 13, 7, 1, 4, 10, 5], [10, 2, 8, 4, 7, 6, 1, 5, 15, 11, 9, 14, 3, 12, 13, 0],
    ]

    private var h: [UInt64]
    private var buffer: [UInt8] = []
    private var total: UInt64 = 0
    private let digestByteCount: Int

    /// A hasher giving `digestByteCount` bytes (1...64; 64 by default).
    public init(digestByteCount: Int = 64) {
        precondition((1...64).contains(digestByteCount), "BLAKE2b digests have 1 to 64 bytes")
        self.digestByteCount = digestByteCount
        h = Self.iv
        h[0] ^= 0x0101_0000 ^ UInt64(digestByteCount)
    }

    /// Adds bytes to the message.
    public mutating func update<Bytes: Sequence>(data: Bytes) where Bytes.Element == UInt8 {
        let handled: Void? = data.withContiguousStorageIfAvailable { update(bufferPointer: UnsafeRawBufferPointer($0)) }
        if handled == nil { Array(data).withUnsafeBytes { update(bufferPointer: $0) } }
    }

    /// Adds the bytes of a raw buffer. The last block is held back: it is compressed as final.
    public mutating func update(bufferPointer bytes: UnsafeRawBufferPointer) {
        guard var base = bytes.baseAddress, bytes.count > 0 else { return }
        var remaining = bytes.count
        while remaining > 0 {
            if buffer.count == 128 {
                total &+= 128
                buffer.withUnsafeBytes { compress($0.baseAddress!, last: false) }
                buffer.removeAll(keepingCapacity: true)
            }
            if buffer.isEmpty && remaining > 128 {
                total &+= 128
                compress(base, last: false)
                base += 128
                remaining -= 128
                continue
            }
            let take = min(128 - buffer.count, remaining)
            buffer.append(contentsOf: UnsafeRawBufferPointer(start: base, count: take))
            base += take
            remaining -= take
        }
    }

    /// The digest.
    public consuming func finalize() -> [UInt8] {
        total &+= UInt64(buffer.count)
        var last = buffer
        last += [UInt8](repeating: 0, count: 128 - last.count)
        last.withUnsafeBytes { compress($0.baseAddress!, last: true) }
        var out: [UInt8] = []
        for word in h { for shift in stride(from: 0, to: 64, by: 8) { out.append(UInt8(truncatingIfNeeded: word >> UInt64(shift))) } }
        return Array(out.prefix(digestByteCount))
    }

    /// The digest of a whole message.
    public static func hash<Bytes: Sequence>(data: Bytes, digestByteCount: Int = 64) -> [UInt8] where Bytes.Element == UInt8 {
        var hasher = BLAKE2b(digestByteCount: digestByteCount)
        hasher.update(data: data)
        return hasher.finalize()
    }

    private mutating func compress(_ block: UnsafeRawPointer, last: Bool) {
        var m = [UInt64](repeating: 0, count: 16)
        for i in 0..<16 { m[i] = UInt64(littleEndian: block.loadUnaligned(fromByteOffset: 8 * i, as: UInt64.self)) }
        var v = h + Self.iv
        v[12] ^= total
        if last { v[14] = ~v[14] }
        func mix(_ a: Int, _ b: Int, _ c: Int, _ d: Int, _ x: UInt64, _ y: UInt64) {
            v[a] = v[a] &+ v[b] &+ x; v[d] = (v[d] ^ v[a]).rotatedRight(32)
            v[c] = v[c] &+ v[d]; v[b] = (v[b] ^ v[c]).rotatedRight(24)
            v[a] = v[a] &+ v[b] &+ y; v[d] = (v[d] ^ v[a]).rotatedRight(16)
            v[c] = v[c] &+ v[d]; v[b] = (v[b] ^ v[c]).rotatedRight(63)
        }
        for round in 0..<12 {
            let s = Self.sigma[round % 10]
            mix(0, 4, 8, 12, m[s[0]], m[s[1]]); mix(1, 5, 9, 13, m[s[2]], m[s[3]])
            mix(2, 6, 10, 14, m[s[4]], m[s[5]]); mix(3, 7, 11, 15, m[s[6]], m[s[7]])
            mix(0, 5, 10, 15, m[s[8]], m[s[9]]); mix(1, 6, 11, 12, m[s[10]], m[s[11]])
            mix(2, 7, 8, 13, m[s[12]], m[s[13]]); mix(3, 4, 9, 14, m[s[14]], m[s[15]])
        }
        for i in 0..<8 { h[i] ^= v[i] ^ v[i + 8] }
    }
}
