/// The binary range coder of the delta format (the LZMA coder's carry handling, with 32-bit
/// probabilities from models that mix a fast and a slow adaptation rate).
///
/// A model is two `UInt32` estimates of the probability that the next bit is 0, in 1/2³²; the
/// coder uses their mean, kept from 2⁻²⁴ to 1 − 2⁻²⁴. After each bit the fast one moves 1/16 of
/// the way towards what was seen and the slow one 1/128. Both start at 1/2, except the diff
/// zero flags (31/32). A model can become sure enough that 17 MB of unchanged bytes cost a
/// few bytes.
enum BitModel {
    static let initial: UInt32 = 0x8000_0000
    /// The start of models whose bit is almost always 0 (31/32).
    static let likelyZero: UInt32 = 0xF800_0000
    /// The start of models whose bit is 1 about once in 4096.
    static let almostSurelyZero: UInt32 = 0xFFF0_0000
    /// The start of models whose bit is 1 about once in 128.
    static let nearDifference: UInt32 = 0xFE00_0000
    /// The start of models whose bit is 0 three times in four.
    static let leaningZero: UInt32 = 0xC000_0000
    /// The start of models whose bit is 1 three times in four.
    static let likelyOne: UInt32 = 0x4000_0000
    static let fastShift: UInt32 = 4
    static let slowShift: UInt32 = 7

    @inline(__always)
    static func probability(_ models: UnsafeMutablePointer<UInt32>, _ index: Int) -> UInt32 {
        let p = (models[2 &* index] >> 1) &+ (models[2 &* index &+ 1] >> 1)
        return min(max(p, 1 << 8), 0xFFFF_FF00)
    }

    /// The part of `range` that stands for a 0 bit.
    @inline(__always)
    static func bound(_ range: UInt32, _ p: UInt32) -> UInt32 {
        UInt32(truncatingIfNeeded: (UInt64(range) &* UInt64(p)) >> 32)
    }

    @inline(__always)
    static func update(_ models: UnsafeMutablePointer<UInt32>, _ index: Int, bit: Int) {
        let fast = models + 2 &* index, slow = fast + 1
        if bit == 0 {
            fast.pointee &+= (0xFFFF_FFFF &- fast.pointee) >> fastShift
            slow.pointee &+= (0xFFFF_FFFF &- slow.pointee) >> slowShift
        } else {
            fast.pointee &-= fast.pointee >> fastShift
            slow.pointee &-= slow.pointee >> slowShift
        }
    }
}

/// Encodes bits into bytes.
struct RangeEncoder {
    private(set) var bytes: [UInt8] = []
    private var low: UInt64 = 0
    private var range: UInt32 = 0xFFFF_FFFF
    private var cache: UInt8 = 0
    private var cacheSize: Int = 1

    init(reservingCapacity capacity: Int) { bytes.reserveCapacity(capacity) }

    @inline(__always)
    mutating func encode(bit: Int, model index: Int, in models: UnsafeMutablePointer<UInt32>) {
        let bound = BitModel.bound(range, BitModel.probability(models, index))
        if bit == 0 {
            range = bound
        } else {
            low &+= UInt64(bound)
            range &-= bound
        }
        BitModel.update(models, index, bit: bit)
        while range < (1 << 24) {
            range <<= 8
            shiftLow()
        }
    }

    /// Encodes the low `count` bits of `value`, most significant first, each with probability 1/2.
    mutating func encodeDirect(_ value: UInt64, count: Int) {
        var i = count - 1
        while i >= 0 {
            range >>= 1
            if (value >> UInt64(i)) & 1 == 1 { low &+= UInt64(range) }
            while range < (1 << 24) {
                range <<= 8
                shiftLow()
            }
            i -= 1
        }
    }

    /// Writes out what is still held; the encoder is not used afterwards.
    mutating func finish() {
        for _ in 0..<5 { shiftLow() }
    }

    private mutating func shiftLow() {
        if low < 0xFF00_0000 || low >= (1 << 32) {
            let carry = UInt8(truncatingIfNeeded: low >> 32)
            var temp = cache
            repeat {
                bytes.append(temp &+ carry)
                temp = 0xFF
                cacheSize -= 1
            } while cacheSize != 0
            cache = UInt8(truncatingIfNeeded: low >> 24)
        }
        cacheSize += 1
        low = (low & 0x00FF_FFFF) << 8
    }
}

/// Decodes the bits a `RangeEncoder` wrote, reading the patch through a `PatchInput`.
struct RangeDecoder {
    private var range: UInt32 = 0xFFFF_FFFF
    private var code: UInt32 = 0
    let input: PatchInput

    /// - Parameters:
    ///   - input: the patch after its header.
    ///   - leadingZero: the stream keeps the encoder's first byte, always 0 (version 1).
    init(input: PatchInput, leadingZero: Bool) throws(DeltaError) {
        self.input = input
        if leadingZero && input.nextByte() != 0 { throw DeltaError(.malformed, "The coded stream does not start with a zero byte") }
        for _ in 0..<4 { code = (code << 8) | UInt32(input.nextByte()) }
        if code == 0xFFFF_FFFF { throw DeltaError(.malformed, "The coded stream starts with an impossible value") }
    }

    @inline(__always)
    mutating func decodeBit(model index: Int, in models: UnsafeMutablePointer<UInt32>) -> Int {
        let bound = BitModel.bound(range, BitModel.probability(models, index))
        let bit: Int
        if code < bound {
            range = bound
            bit = 0
        } else {
            code &-= bound
            range &-= bound
            bit = 1
        }
        BitModel.update(models, index, bit: bit)
        while range < (1 << 24) {
            range <<= 8
            code = (code << 8) | UInt32(input.nextByte())
        }
        return bit
    }

    mutating func decodeDirect(count: Int) -> UInt64 {
        var value: UInt64 = 0
        for _ in 0..<count {
            range >>= 1
            var bit: UInt64 = 0
            if code >= range {
                code &-= range
                bit = 1
            }
            value = (value << 1) | bit
            while range < (1 << 24) {
                range <<= 8
                code = (code << 8) | UInt32(input.nextByte())
            }
        }
        return value
    }
}

/// The patch as it is read: a buffer refilled from the caller's reader.
///
/// Reading past the end yields zero bytes and sets `overran`; the decoder checks it at each
/// block and at the end, so a truncated patch costs no more work than a complete one.
final class PatchInput {
    private let buffer: UnsafeMutablePointer<UInt8>
    private let capacity = 1 << 16
    // Read for every byte of the patch: the decoder is their only user, so no dynamic
    // exclusivity checks.
    @exclusivity(unchecked) private var position = 0
    @exclusivity(unchecked) private var available = 0
    private let reader: PatchReader
    private(set) var overran = false
    private(set) var readError: String?

    init(reader: PatchReader) {
        self.reader = reader
        buffer = .allocate(capacity: capacity)
    }

    deinit { buffer.deallocate() }

    @inline(__always)
    func nextByte() -> UInt8 {
        if position == available {
            refill()
            if available == 0 {
                overran = true
                return 0
            }
        }
        let byte = buffer[position]
        position &+= 1
        return byte
    }

    /// True when the reader holds no byte after those consumed.
    func atEnd() -> Bool {
        if position < available { return false }
        refill()
        return available == 0
    }

    /// Throws if the patch ended early or could not be read.
    func check(_ action: @autoclosure () -> String) throws(DeltaError) {
        if let readError { throw DeltaError(.io, "Reading the patch failed while \(action()): \(readError)") }
        if overran { throw DeltaError(.malformed, "The patch ends early, while \(action())") }
    }

    private func refill() {
        position = 0
        available = 0
        if overran || readError != nil { return }
        do {
            available = min(max(try reader.read(UnsafeMutableRawBufferPointer(start: buffer, count: capacity)), 0), capacity)
        } catch {
            readError = String(describing: error)
        }
    }
}
