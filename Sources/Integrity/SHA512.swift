import CIntegrity

/// SHA-512 (FIPS 180-4), streaming; the hash inside Ed25519.
public struct SHA512: Sendable {
    /// The size of a digest in bytes.
    public static let byteCount = 64
    static let blockByteCount = 128

    private var state: [UInt64] = [
        0x6a09_e667_f3bc_c908, 0xbb67_ae85_84ca_a73b, 0x3c6e_f372_fe94_f82b, 0xa54f_f53a_5f1d_36f1,
        0x510e_527f_ade6_82d1, 0x9b05_688c_2b3e_6c1f, 0x1f83_d9ab_fb41_bd6b, 0x5be0_cd19_137e_2179,
    ]
    private var buffer: [UInt8] = []
    private var totalByteCount: UInt64 = 0

    public init() { buffer.reserveCapacity(Self.blockByteCount) }

    /// Adds bytes to the message.
    public mutating func update<Bytes: Sequence>(data: Bytes) where Bytes.Element == UInt8 {
        let handled: Void? = data.withContiguousStorageIfAvailable { update(bufferPointer: UnsafeRawBufferPointer($0)) }
        if handled == nil { Array(data).withUnsafeBytes { update(bufferPointer: $0) } }
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
                buffer.withUnsafeBytes { compress($0.baseAddress!) }
                buffer.removeAll(keepingCapacity: true)
            }
        }
        let wholeBlocks = remaining / Self.blockByteCount
        if wholeBlocks > 0 {
            compress(base, count: wholeBlocks)
            base += wholeBlocks * Self.blockByteCount
            remaining -= wholeBlocks * Self.blockByteCount
        }
        if remaining > 0 { buffer.append(contentsOf: UnsafeRawBufferPointer(start: base, count: remaining)) }
    }

    /// Pads the message and returns its 64-byte digest.
    public consuming func finalize() -> [UInt8] {
        let bitLength = totalByteCount &* 8
        var tail = buffer
        tail.append(0x80)
        while tail.count % Self.blockByteCount != 112 { tail.append(0) }
        tail += [UInt8](repeating: 0, count: 8) // the high 64 bits of the 128-bit length
        for shift in stride(from: 56, through: 0, by: -8) { tail.append(UInt8(truncatingIfNeeded: bitLength >> UInt64(shift))) }
        tail.withUnsafeBytes { raw in
            for offset in stride(from: 0, to: raw.count, by: Self.blockByteCount) { compress(raw.baseAddress! + offset) }
        }
        var digest: [UInt8] = []
        digest.reserveCapacity(64)
        for word in state {
            for shift in stride(from: 56, through: 0, by: -8) { digest.append(UInt8(truncatingIfNeeded: word >> UInt64(shift))) }
        }
        return digest
    }

    /// The digest of a whole message.
    public static func hash<Bytes: Sequence>(data: Bytes) -> [UInt8] where Bytes.Element == UInt8 {
        var hasher = SHA512()
        hasher.update(data: data)
        return hasher.finalize()
    }

    /// Compresses `count` whole blocks from `blocks` into the state (in C: `ad_sha512_blocks`).
    private mutating func compress(_ blocks: UnsafeRawPointer, count: Int = 1) {
        state.withUnsafeMutableBufferPointer { ad_sha512_blocks($0.baseAddress!, blocks.assumingMemoryBound(to: UInt8.self), count) }
    }
}

extension UInt64 {
    @inline(__always) func rotatedRight(_ count: UInt64) -> UInt64 { (self >> count) | (self << (64 - count)) }
}

/// SHA-512 of a stream hashed on a thread of its own, so the caller can receive, write and
/// compute other hashes meanwhile: `update` copies the bytes and returns (waiting only when the
/// thread is 4 MiB behind). Falls back to hashing in the caller when no thread can be made.
/// A class because it owns the thread and its buffers; use it from one thread at a time.
public final class BackgroundSHA512 {
    private var worker: OpaquePointer?
    private var fallback = SHA512()

    /// Starts the thread.
    public init() { worker = ad_sha512_worker_start() }

    deinit { ad_sha512_worker_free(worker) }

    /// Adds the bytes of a raw buffer to the message.
    public func update(bufferPointer bytes: UnsafeRawBufferPointer) {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return }
        if let worker {
            ad_sha512_worker_update(worker, base.assumingMemoryBound(to: UInt8.self), bytes.count)
        } else {
            fallback.update(bufferPointer: bytes)
        }
    }

    /// Waits for the thread and returns the 64-byte digest; call once.
    public func finalize() -> [UInt8] {
        guard let worker else { return fallback.finalize() }
        self.worker = nil
        var digest = [UInt8](repeating: 0, count: SHA512.byteCount)
        digest.withUnsafeMutableBufferPointer { ad_sha512_worker_finish(worker, $0.baseAddress!) }
        return digest
    }
}
