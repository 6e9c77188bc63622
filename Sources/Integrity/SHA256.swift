import CIntegrity

/// SHA-256 (FIPS 180-4), streaming.
///
/// Blocks are compressed with the CPU's SHA extensions when it has them, else by the portable
/// Swift implementation below; both give the same digest (tests check the NIST vectors on both).
///
/// ```swift
/// var hasher = SHA256()
/// hasher.update(data: chunk)
/// let digest = hasher.finalize()
/// ```
public struct SHA256: Sendable {
    /// The size of one message block in bytes.
    public static let blockByteCount = 64
    /// The size of a digest in bytes.
    public static let byteCount = 32

    /// Which compression function is in use.
    public enum Implementation: String, Sendable {
        /// The SHA-NI instructions, chosen at run time when the CPU has them.
        case hardware
        /// Portable Swift.
        case portable

        /// The best implementation this CPU supports.
        public static let best: Implementation = ad_sha256_ni_available() == 1 ? .hardware : .portable
    }

    private var state: (UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32) =
        (0x6a09_e667, 0xbb67_ae85, 0x3c6e_f372, 0xa54f_f53a, 0x510e_527f, 0x9b05_688c, 0x1f83_d9ab, 0x5be0_cd19)
    private var buffer: [UInt8] = []
    private var totalByteCount: UInt64 = 0
    private let implementation: Implementation

    /// Creates a hasher.
    /// - Parameter implementation: the compression function; the fastest available by default.
    public init(implementation: Implementation = .best) {
        self.implementation = implementation
        buffer.reserveCapacity(Self.blockByteCount)
    }

    /// Adds bytes to the message.
    public mutating func update<Bytes: Sequence>(data: Bytes) where Bytes.Element == UInt8 {
        let handled: Void? = data.withContiguousStorageIfAvailable { update(bufferPointer: UnsafeRawBufferPointer($0)) }
        if handled == nil {
            let copy = Array(data)
            copy.withUnsafeBytes { update(bufferPointer: $0) }
        }
    }

    /// Adds the bytes of a raw buffer to the message.
    public mutating func update(bufferPointer bytes: UnsafeRawBufferPointer) {
        guard var base = bytes.baseAddress, bytes.count > 0 else { return }
        var remaining = bytes.count
        totalByteCount &+= UInt64(remaining)
        if !buffer.isEmpty {
            let take = min(Self.blockByteCount - buffer.count, remaining)
            buffer.append(contentsOf: UnsafeRawBufferPointer(start: base, count: take))
            base += take
            remaining -= take
            if buffer.count == Self.blockByteCount {
                buffer.withUnsafeBytes { compress($0.baseAddress!, blockCount: 1) }
                buffer.removeAll(keepingCapacity: true)
            }
        }
        let wholeBlocks = remaining / Self.blockByteCount
        if wholeBlocks > 0 {
            compress(base, blockCount: wholeBlocks)
            base += wholeBlocks * Self.blockByteCount
            remaining -= wholeBlocks * Self.blockByteCount
        }
        if remaining > 0 {
            buffer.append(contentsOf: UnsafeRawBufferPointer(start: base, count: remaining))
        }
    }

    /// Pads the message and returns its digest. The hasher is consumed.
    public consuming func finalize() -> SHA256Digest {
        let bitLength = totalByteCount &* 8
        var tail = buffer
        tail.append(0x80)
        while tail.count % Self.blockByteCount != 56 { tail.append(0) }
        for shift in stride(from: 56, through: 0, by: -8) { tail.append(UInt8(truncatingIfNeeded: bitLength >> UInt64(shift))) }
        tail.withUnsafeBytes { compress($0.baseAddress!, blockCount: tail.count / Self.blockByteCount) }
        var bytes = [UInt8]()
        bytes.reserveCapacity(Self.byteCount)
        withUnsafeBytes(of: state) { raw in
            for word in raw.bindMemory(to: UInt32.self) {
                bytes.append(contentsOf: [UInt8(word >> 24), UInt8(truncatingIfNeeded: word >> 16),
                                          UInt8(truncatingIfNeeded: word >> 8), UInt8(truncatingIfNeeded: word)])
            }
        }
        return SHA256Digest(bytes: bytes)
    }

    /// The digest of a whole message.
    public static func hash<Bytes: Sequence>(data: Bytes) -> SHA256Digest where Bytes.Element == UInt8 {
        var hasher = SHA256()
        hasher.update(data: data)
        return hasher.finalize()
    }

    // MARK: - Internals

    private mutating func compress(_ blocks: UnsafeRawPointer, blockCount: Int) {
        switch implementation {
        case .hardware:
            withUnsafeMutableBytes(of: &state) { raw in
                ad_sha256_ni_blocks(raw.baseAddress!.assumingMemoryBound(to: UInt32.self),
                                    blocks.assumingMemoryBound(to: UInt8.self), blockCount)
            }
        case .portable:
            for index in 0..<blockCount { compressPortable(blocks + index * Self.blockByteCount) }
        }
    }

    private mutating func compressPortable(_ block: UnsafeRawPointer) {
        withUnsafeTemporaryAllocation(of: UInt32.self, capacity: 64) { w in
            for t in 0..<16 {
                w[t] = UInt32(bigEndian: block.loadUnaligned(fromByteOffset: 4 * t, as: UInt32.self))
            }
            for t in 16..<64 {
                let s0 = w[t - 15].rotatedRight(7) ^ w[t - 15].rotatedRight(18) ^ (w[t - 15] >> 3)
                let s1 = w[t - 2].rotatedRight(17) ^ w[t - 2].rotatedRight(19) ^ (w[t - 2] >> 10)
                w[t] = w[t - 16] &+ s0 &+ w[t - 7] &+ s1
            }
            var (a, b, c, d, e, f, g, h) = state
            for t in 0..<64 {
                let s1 = e.rotatedRight(6) ^ e.rotatedRight(11) ^ e.rotatedRight(25)
                let choice = (e & f) ^ (~e & g)
                let t1 = h &+ s1 &+ choice &+ sha256RoundConstants[t] &+ w[t]
                let s0 = a.rotatedRight(2) ^ a.rotatedRight(13) ^ a.rotatedRight(22)
                let majority = (a & b) ^ (a & c) ^ (b & c)
                (h, g, f, e, d, c, b, a) = (g, f, e, d &+ t1, c, b, a, t1 &+ s0 &+ majority)
            }
            state = (state.0 &+ a, state.1 &+ b, state.2 &+ c, state.3 &+ d,
                     state.4 &+ e, state.5 &+ f, state.6 &+ g, state.7 &+ h)
        }
    }
}

extension UInt32 {
    @inline(__always) fileprivate func rotatedRight(_ count: UInt32) -> UInt32 {
        (self >> count) | (self << (32 - count))
    }
}

private let sha256RoundConstants: [UInt32] = [
    0x428a_2f98, 0x7137_4491, 0xb5c0_fbcf, 0xe9b5_dba5, 0x3956_c25b, 0x59f1_11f1, 0x923f_82a4, 0xab1c_5ed5,
    0xd807_aa98, 0x1283_5b01, 0x2431_85be, 0x550c_7dc3, 0x72be_5d74, 0x80de_b1fe, 0x9bdc_06a7, 0xc19b_f174,
    0xe49b_69c1, 0xefbe_4786, 0x0fc1_9dc6, 0x240c_a1cc, 0x2de9_2c6f, 0x4a74_84aa, 0x5cb0_a9dc, 0x76f9_88da,
    0x983e_5152, 0xa831_c66d, 0xb003_27c8, 0xbf59_7fc7, 0xc6e0_0bf3, 0xd5a7_9147, 0x06ca_6351, 0x1429_2967,
    0x27b7_0a85, 0x2e1b_2138, 0x4d2c_6dfc, 0x5338_0d13, 0x650a_7354, 0x766a_0abb, 0x81c2_c92e, 0x9272_2c85,
    0xa2bf_e8a1, 0xa81a_664b, 0xc24b_8b70, 0xc76c_51a3, 0xd192_e819, 0xd699_0624, 0xf40e_3585, 0x106a_a070,
    0x19a4_c116, 0x1e37_6c08, 0x2748_774c, 0x34b0_bcb5, 0x391c_0cb3, 0x4ed8_aa4a, 0x5b9c_ca4f, 0x682e_6ff3,
    0x748f_82ee, 0x78a5_636f, 0x84c8_7814, 0x8cc7_0208, 0x90be_fffa, 0xa450_6ceb, 0xbef9_a3f7, 0xc671_78f2,
]
