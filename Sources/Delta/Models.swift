/// The adaptive models of the coded stream and how each kind of value is coded with them.
///
/// Layout (model indices): four number coders (copy length, extra length, seek, tables), the diff
/// byte models, the extra byte models. Decoder and encoder allocate the same table and walk it
/// the same way; docs/delta-format.md lists the contexts.
final class Models {
    /// Which number coder a value uses.
    enum NumberKind: Int { case copy = 0, extra = 1, seek = 2, table = 3 }

    // Per number kind: a 7-bit tree for the bit length (128), a 3-bit tree per bit length for the
    // bits below the leading one (65 × 8), and a sign model (1).
    static let numberStride = 128 + 65 * 8 + 1
    static let numberBase = 0
    // Diff bytes: a zero flag in one of 32 + 1024 + 256 contexts, then a value tree in one of 32 contexts.
    static let diffZeroBase = numberBase + 4 * numberStride
    static let diffZeroContexts = 32 + 1024 + 256
    static let diffTreeBase = diffZeroBase + diffZeroContexts
    static let diffTreeContexts = 32
    // Extra bytes: a value tree per preceding output byte.
    static let extraTreeBase = diffTreeBase + diffTreeContexts * 256
    // Version 2: a flag per quiet chunk of copied bytes (1: some difference in it is not zero),
    // in one of 4 contexts (how many chunks were flagged all-zero since one was not, up to 3).
    static let chunkBase = extraTreeBase + 256 * 256
    static let chunkContexts = 4
    // Version 2: per predicted word, a flag "corrected by a recent delta" in one of 6 contexts
    // (the last word's outcome × 8-byte word), then the delta's place as a 3-bit tree in one of
    // 3 (the last word's outcome).
    static let correctionBase = chunkBase + chunkContexts
    static let correctionContexts = 6
    static let placeBase = correctionBase + correctionContexts
    static let count = placeBase + 3 * 8
    /// The copied bytes one chunk flag covers.
    static let chunkLength = 128

    let table: UnsafeMutablePointer<UInt32>

    /// - Parameter version: the format version, which sets where some models start.
    init(version: UInt16) {
        table = .allocate(capacity: 2 * Self.count)
        table.initialize(repeating: BitModel.initial, count: 2 * Self.count)
        // Most copied bytes differ by zero: the zero flags of quiet stretches start almost sure
        // of it (a long unchanged file costs next to nothing), those inside predicted words or
        // among recent differences less so.
        (table + 2 * Self.diffZeroBase).update(repeating: BitModel.likelyZero, count: 2 * 32)
        (table + 2 * (Self.diffZeroBase + 32)).update(repeating: BitModel.almostSurelyZero, count: 2 * 1024)
        (table + 2 * (Self.diffZeroBase + 32 + 1024)).update(repeating: BitModel.likelyZero, count: 2 * 256)
        guard version >= 2 else { return }
        (table + 2 * Self.chunkBase).update(repeating: BitModel.likelyZero, count: 2 * Self.chunkContexts)
        // In version 2 the quiet contexts are read only where a chunk flag said a difference is
        // near (or at a block's last bytes), and after several differences that are not zero
        // the next is less likely zero.
        (table + 2 * (Self.diffZeroBase + 32)).update(repeating: BitModel.nearDifference, count: 2 * 1024)
        for recent in 0..<64 {
            let ones = recent.nonzeroBitCount
            let start = ones >= 5 ? BitModel.likelyOne : ones >= 3 ? BitModel.initial : ones == 2 ? BitModel.leaningZero : BitModel.likelyZero
            (table + 2 * (Self.diffZeroBase + 32 + 1024 + 4 * recent)).update(repeating: start, count: 2 * 4)
        }
    }

    deinit { table.deallocate() }

    // MARK: - Encoding

    @inline(__always)
    func encodeTree(_ value: Int, bits: Int, base: Int, _ coder: inout RangeEncoder) {
        var node = 1
        var i = bits - 1
        while i >= 0 {
            let bit = (value >> i) & 1
            coder.encode(bit: bit, model: base &+ node, in: table)
            node = (node << 1) | bit
            i -= 1
        }
    }

    func encodeNumber(_ value: UInt64, kind: NumberKind, _ coder: inout RangeEncoder) {
        let base = Self.numberBase + kind.rawValue * Self.numberStride
        let length = value == 0 ? 0 : 64 - value.leadingZeroBitCount
        encodeTree(length, bits: 7, base: base, &coder)
        guard length > 1 else { return }
        let below = length - 1
        let modelled = min(below, 3)
        let top = Int(value >> UInt64(below - modelled)) & ((1 << modelled) - 1)
        encodeTree(top, bits: modelled, base: base + 128 + length * 8, &coder)
        if below > modelled {
            coder.encodeDirect(value & ((1 << UInt64(below - modelled)) - 1), count: below - modelled)
        }
    }

    func encodeSigned(_ value: Int64, kind: NumberKind, _ coder: inout RangeEncoder) {
        let signModel = Self.numberBase + kind.rawValue * Self.numberStride + 128 + 65 * 8
        coder.encode(bit: value < 0 ? 1 : 0, model: signModel, in: table)
        encodeNumber(value.magnitude, kind: kind, &coder)
    }

    // MARK: - Decoding

    @inline(__always)
    func decodeTree(bits: Int, base: Int, _ coder: inout RangeDecoder) -> Int {
        var node = 1
        for _ in 0..<bits {
            node = (node << 1) | coder.decodeBit(model: base &+ node, in: table)
        }
        return node &- (1 << bits)
    }

    func decodeNumber(kind: NumberKind, _ coder: inout RangeDecoder) -> UInt64 {
        let base = Self.numberBase + kind.rawValue * Self.numberStride
        let length = decodeTree(bits: 7, base: base, &coder)
        // Lengths above 64 cannot be written; the decoder reads them as out of range.
        if length == 0 { return 0 }
        if length == 1 { return 1 }
        if length > 64 { return UInt64.max }
        let below = length - 1
        let modelled = min(below, 3)
        var value = UInt64(1 << modelled | decodeTree(bits: modelled, base: base + 128 + length * 8, &coder))
        if below > modelled {
            value = (value << UInt64(below - modelled)) | coder.decodeDirect(count: below - modelled)
        }
        return value
    }

    /// A signed number; magnitudes that do not fit an `Int64` decode as `nil`.
    func decodeSigned(kind: NumberKind, _ coder: inout RangeDecoder) -> Int64? {
        let signModel = Self.numberBase + kind.rawValue * Self.numberStride + 128 + 65 * 8
        let negative = coder.decodeBit(model: signModel, in: table) == 1
        let magnitude = decodeNumber(kind: kind, &coder)
        guard magnitude <= UInt64(Int64.max) else { return nil }
        return negative ? -Int64(magnitude) : Int64(magnitude)
    }
}

/// The context state of the data section, the same in encoder and decoder.
struct DataCoderState {
    var prev1: UInt8 = 0
    var prev2: UInt8 = 0
    var prev3: UInt8 = 0
    /// One bit per recent copied byte, 1 where its difference was not zero, newest lowest.
    var history: Int = 0
    /// Chunks flagged all-zero since the last one flagged otherwise (version 2), up to 3.
    var zeroChunks = 0

    /// Version 2: whether the copied byte at block offset `k` of `copy` starts a chunk flag:
    /// the last eight copied bytes differed by zero and a whole chunk is left in the block.
    @inline(__always)
    func startsChunk(k: Int, copy: Int) -> Bool {
        history == 0 && copy &- k >= Models.chunkLength
    }

    @inline(__always)
    func zeroContext(p: Int, fieldIndex: Int, oldPrev: UInt8) -> Int {
        if fieldIndex != 0 { return (fieldIndex &- 1) << 2 | (history & 3) }
        // Among recent differences the recent pattern predicts the next; in quiet stretches, the
        // base's preceding byte (opcodes, field starts) does.
        if history & 0xFF != 0 { return 32 &+ 1024 &+ ((history & 0x3F) << 2 | (p & 3)) }
        return 32 &+ (Int(oldPrev) << 2 | (p & 3))
    }

    @inline(__always)
    func treeContext(fieldIndex: Int) -> Int {
        fieldIndex << 1 | (history & 1)
    }

    @inline(__always)
    mutating func copied(_ byte: UInt8, diff: UInt8) {
        prev3 = prev2
        prev2 = prev1
        prev1 = byte
        history = (history << 1 | (diff == 0 ? 0 : 1)) & 0xFF
    }

    /// After `count` (at least 3) copied bytes at `bytes` that all differed by zero.
    @inline(__always)
    mutating func copiedUnchanged(_ bytes: UnsafePointer<UInt8>, count: Int) {
        prev3 = bytes[count &- 3]
        prev2 = bytes[count &- 2]
        prev1 = bytes[count &- 1]
        history = 0
    }

    @inline(__always)
    mutating func added(_ byte: UInt8) {
        prev3 = prev2
        prev2 = prev1
        prev1 = byte
    }
}

/// Version 2: the recent corrections of predicted words, newest first, and what the last
/// predicted word was. The same in encoder and decoder: both see every predicted word's bytes.
struct Corrections {
    /// The most deltas kept.
    static let capacity = 8

    /// Distinct deltas (actual − predicted, as signed numbers of the word's width), newest first.
    private(set) var recent: [Int64] = []
    /// 0: the last predicted word was as predicted; 1: its delta was among the recent ones;
    /// 2: it was a new delta.
    private(set) var lastOutcome = 0
    /// The prediction of the word in progress, before any correction.
    private var original: UInt64 = 0
    private var actual: UInt64 = 0

    init() { recent.reserveCapacity(Self.capacity + 1) }

    /// The context of the next correction flag, for a word of `width` bytes.
    @inline(__always)
    func flagContext(width: Int) -> Int { lastOutcome << 1 | (width == 8 ? 1 : 0) }

    /// Notes the prediction of a word that starts here, before any correction.
    @inline(__always)
    mutating func start(predicted: UInt64) {
        original = predicted
        actual = 0
    }

    /// Adds a result byte of the word in progress (`fieldIndex` 1…`width`); after the last one,
    /// its delta moves to the front of `recent`.
    @inline(__always)
    mutating func add(_ byte: UInt8, fieldIndex: Int, width: Int) {
        actual |= UInt64(byte) << UInt64(8 &* (fieldIndex &- 1))
        guard fieldIndex == width else { return }
        let delta = Self.delta(actual &- original, width: width)
        if delta == 0 {
            lastOutcome = 0
            return
        }
        if let place = recent.firstIndex(of: delta) {
            lastOutcome = 1
            recent.remove(at: place)
        } else {
            lastOutcome = 2
            if recent.count == Self.capacity { recent.removeLast() }
        }
        recent.insert(delta, at: 0)
    }

    /// `difference` read as a signed number of `width` bytes.
    @inline(__always)
    static func delta(_ difference: UInt64, width: Int) -> Int64 {
        width == 8 ? Int64(bitPattern: difference) : Int64(Int32(truncatingIfNeeded: difference))
    }
}
