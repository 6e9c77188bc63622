import Integrity

/// How a file's offsets relate to the addresses its code uses: the loadable segments of an ELF
/// file, (file offset, address, size in the file). Offsets outside every segment are their own
/// address; an address outside every segment has no offset.
struct AddressSpace: Equatable {
    /// The most segments a patch may list for one file.
    static let maximumSegments = 16

    struct Segment: Equatable {
        var offset: Int
        var address: Int
        var size: Int
    }

    var segments: [Segment] = []

    @inline(__always)
    func address(ofOffset offset: Int) -> Int {
        for s in segments where offset &- s.offset >= 0 && offset &- s.offset < s.size {
            return s.address &+ (offset &- s.offset)
        }
        return offset
    }

    @inline(__always)
    func offset(ofAddress address: Int) -> Int? {
        for s in segments where address &- s.address >= 0 && address &- s.address < s.size {
            return s.offset &+ (address &- s.address)
        }
        return nil
    }

    init() {}

    /// The PT_LOAD segments of an ELF64 little-endian file; empty for anything else.
    init(elf file: ELFFile?) {
        guard let file else { return }
        for header in file.programHeaders where header.type == 1 && header.fileSize > 0 && segments.count < Self.maximumSegments {
            segments.append(Segment(offset: header.offset, address: header.address, size: header.fileSize))
        }
    }
}

/// A range of the result whose aligned words hold addresses, and how they are written there.
struct PointerRegion: Equatable {
    enum Kind: UInt8 {
        /// Each 4-byte word at a multiple of 4 from the start: a signed displacement from the
        /// word's own address (Swift metadata, .eh_frame).
        case relative32 = 1
        /// Each 8-byte word at a multiple of 8 from the start: an address (.rela.dyn, .data.rel.ro).
        case absolute64 = 2
        /// Each 4-byte word at a multiple of 4 from the start: a signed displacement from a base
        /// address, `oldBase` in the base and `newBase` in the result (.eh_frame_hdr's table).
        case based32 = 3

        var width: Int { self == .absolute64 ? 8 : 4 }
    }

    var kind: Kind
    /// Result offsets: the region is `start..<end`.
    var start: Int
    var end: Int
    var oldBase: Int = 0
    var newBase: Int = 0

    /// The most regions a patch may list.
    static let maximumCount = 256
}

/// What the decoder needs to predict references: both files' address spaces and the result's
/// pointer regions (ordered, not overlapping). Written in the patch when the flag
/// `PatchHeader.Flags.x86References` is set.
struct ReferenceTables: Equatable {
    var old = AddressSpace()
    var new = AddressSpace()
    var regions: [PointerRegion] = []

    /// The tables for two ELF files: segments from the program headers, regions from the result's
    /// section headers by section name.
    init(old oldBytes: UnsafeBufferPointer<UInt8>, new newBytes: UnsafeBufferPointer<UInt8>) {
        let oldELF = ELFFile(oldBytes), newELF = ELFFile(newBytes)
        old = AddressSpace(elf: oldELF)
        new = AddressSpace(elf: newELF)
        guard let newELF else { return }
        let oldSections = Dictionary((oldELF?.sections ?? []).map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        regions = Self.pointerRegions(of: newELF, size: newBytes.count) { oldSections[$0]?.address }
    }

    /// The pointer regions of one file, by section name; `oldBase` gives the base address of a
    /// based section in the other file (nil leaves the section out).
    static func pointerRegions(of elf: ELFFile, size: Int, oldBase: (String) -> Int?) -> [PointerRegion] {
        var regions: [PointerRegion] = []
        for section in elf.sections.sorted(by: { $0.offset < $1.offset }) where section.type != ELFFile.noBits && section.size > 0 {
            var region: PointerRegion?
            let name = section.name
            if name == ".eh_frame" || (name.hasPrefix("swift5_") && name != "swift5_reflstr") {
                region = PointerRegion(kind: .relative32, start: section.offset, end: section.offset + section.size)
            } else if [".rela.dyn", ".data.rel.ro", ".init_array", ".fini_array", ".data", ".got", ".got.plt"].contains(name) {
                region = PointerRegion(kind: .absolute64, start: section.offset, end: section.offset + section.size)
            } else if name == ".eh_frame_hdr", let base = oldBase(name), section.size > 12 {
                region = PointerRegion(kind: .based32, start: section.offset + 12, end: section.offset + section.size,
                                       oldBase: base, newBase: section.address)
            }
            guard let region, regions.count < PointerRegion.maximumCount, region.end <= size,
                  regions.last.map({ $0.end <= region.start }) ?? true else { continue }
            regions.append(region)
        }
        return regions
    }

    /// A copy of an ELF file in which each word the predictions treat as an address, and whose
    /// target lies in the file, is replaced by `FF FF FF FF` (or eight `FF`): the matcher works
    /// on these copies, so code and tables that only moved still match byte for byte.
    static func normalized(_ bytes: UnsafeBufferPointer<UInt8>) -> [UInt8]? {
        guard let elf = ELFFile(bytes) else { return nil }
        let space = AddressSpace(elf: elf)
        let regions = pointerRegions(of: elf, size: bytes.count) { name in elf.sections.first { $0.name == name }?.address }
        var out = Array(bytes)
        let n = bytes.count
        func word(_ at: Int, _ width: Int) -> UInt64 {
            var value: UInt64 = 0
            for i in 0..<width { value |= UInt64(bytes[at + i]) << UInt64(8 * i) }
            return value
        }
        func mask(_ at: Int, _ width: Int) { for i in 0..<width { out[at + i] = 0xFF } }
        var regionIndex = 0
        var p = 0
        while p < n {
            while regionIndex < regions.count && regions[regionIndex].end <= p { regionIndex += 1 }
            if regionIndex < regions.count && regions[regionIndex].start <= p {
                let region = regions[regionIndex]
                let width = region.kind.width
                if (p - region.start) % width == 0 && p + width <= region.end {
                    let value = word(p, width)
                    let target: Int
                    switch region.kind {
                    case .relative32: target = space.address(ofOffset: p) &+ Int(Int32(truncatingIfNeeded: value))
                    case .based32: target = region.newBase &+ Int(Int32(truncatingIfNeeded: value))
                    case .absolute64: target = value > UInt64(Int.max / 2) ? -1 : Int(value)
                    }
                    if space.offset(ofAddress: target) != nil { mask(p, width) }
                    p += width
                } else {
                    p += 1
                }
                continue
            }
            if p >= 1 && p + 4 <= n {
                let o1 = bytes[p - 1]
                var isOperand = o1 == 0xE8 || o1 == 0xE9
                if !isOperand && p >= 2 {
                    let o2 = bytes[p - 2]
                    if o1 & 0xF0 == 0x80 && o2 == 0x0F {
                        isOperand = true
                    } else if o1 & 0xC7 == 0x05 {
                        isOperand = ReferenceState.takesModRM(o2) || (p >= 3 && bytes[p - 3] == 0x0F)
                    }
                }
                if isOperand {
                    let target = space.address(ofOffset: p) &+ 4 &+ Int(Int32(truncatingIfNeeded: word(p, 4)))
                    if space.offset(ofAddress: target) != nil {
                        mask(p, 4)
                        p += 4
                        continue
                    }
                }
            }
            p += 1
        }
        return out
    }

    init() {}

    /// Writes the tables with the `.table` number models: per file a segment count, then each
    /// segment's offset, address − offset (signed) and size; a region count, then each region's
    /// kind, start − the previous region's end, length, and for based32 regions the new base and
    /// old base − new base (both signed).
    func encode(_ coder: inout RangeEncoder, models: Models) {
        for space in [old, new] {
            models.encodeNumber(UInt64(space.segments.count), kind: .table, &coder)
            for segment in space.segments {
                models.encodeNumber(UInt64(segment.offset), kind: .table, &coder)
                models.encodeSigned(Int64(segment.address - segment.offset), kind: .table, &coder)
                models.encodeNumber(UInt64(segment.size), kind: .table, &coder)
            }
        }
        models.encodeNumber(UInt64(regions.count), kind: .table, &coder)
        var end = 0
        for region in regions {
            models.encodeNumber(UInt64(region.kind.rawValue), kind: .table, &coder)
            models.encodeNumber(UInt64(region.start - end), kind: .table, &coder)
            models.encodeNumber(UInt64(region.end - region.start), kind: .table, &coder)
            if region.kind == .based32 {
                models.encodeSigned(Int64(region.newBase), kind: .table, &coder)
                models.encodeSigned(Int64(region.oldBase - region.newBase), kind: .table, &coder)
            }
            end = region.end
        }
    }

    init(decoding coder: inout RangeDecoder, models: Models, resultSize: Int) throws(DeltaError) {
        let limit = UInt64(PatchHeader.maximumFileSize)
        let addressLimit = Int64(1) << 62
        for file in ["base", "result"] {
            let count = models.decodeNumber(kind: .table, &coder)
            guard count <= UInt64(AddressSpace.maximumSegments) else {
                throw DeltaError(.malformed, "The patch lists \(count) segments for the \(file), more than \(AddressSpace.maximumSegments)")
            }
            var space = AddressSpace()
            for _ in 0..<Int(count) {
                let offset = models.decodeNumber(kind: .table, &coder)
                let shift = models.decodeSigned(kind: .table, &coder)
                let size = models.decodeNumber(kind: .table, &coder)
                guard offset <= limit, size <= limit, let shift, shift.magnitude < UInt64(addressLimit) else {
                    throw DeltaError(.malformed, "A segment of the \(file) lies outside the range the format allows")
                }
                space.segments.append(AddressSpace.Segment(offset: Int(offset), address: Int(offset) + Int(shift), size: Int(size)))
            }
            if file == "base" { old = space } else { new = space }
        }
        let count = models.decodeNumber(kind: .table, &coder)
        guard count <= UInt64(PointerRegion.maximumCount) else {
            throw DeltaError(.malformed, "The patch lists \(count) pointer regions, more than \(PointerRegion.maximumCount)")
        }
        var end = 0
        for index in 0..<Int(count) {
            let kindValue = models.decodeNumber(kind: .table, &coder)
            let gap = models.decodeNumber(kind: .table, &coder), length = models.decodeNumber(kind: .table, &coder)
            guard let kind = kindValue <= 255 ? PointerRegion.Kind(rawValue: UInt8(kindValue)) : nil,
                  gap <= UInt64(resultSize - end), length <= UInt64(resultSize - end) - gap else {
                throw DeltaError(.malformed, "Pointer region \(index) of the patch is of an unknown kind or lies outside the result")
            }
            var region = PointerRegion(kind: kind, start: end + Int(gap), end: end + Int(gap) + Int(length))
            if kind == .based32 {
                guard let newBase = models.decodeSigned(kind: .table, &coder), let delta = models.decodeSigned(kind: .table, &coder),
                      newBase.magnitude < UInt64(addressLimit), delta.magnitude < UInt64(addressLimit) else {
                    throw DeltaError(.malformed, "Pointer region \(index) of the patch has a base outside the range the format allows")
                }
                region.newBase = Int(newBase)
                region.oldBase = Int(newBase) + Int(delta)
            }
            regions.append(region)
            end = region.end
        }
    }
}

/// The reference bytes the differences of copied bytes are taken against: the base's bytes,
/// except where a copied word holds an address that the tables predict. Such a word is replaced
/// by the value that names the same target's new place: in pointer regions each aligned word;
/// elsewhere the 4-byte operand of call (E8), jmp (E9), jcc (0F 80–8F) and of instructions with
/// a RIP-relative ModRM byte.
struct ReferenceState {
    /// The offset map and tables, nil when the patch predicts nothing.
    private let map: OffsetMap?
    private let predicts: Bool
    private let regions: [PointerRegion]
    /// The word being predicted; its bytes are the references while `fieldIndex` is not 0.
    private(set) var predicted: UInt64 = 0
    private var remaining = 0
    /// The width of the word being predicted.
    private(set) var width = 0
    private var regionIndex = 0
    /// The result offset where being inside or outside a region next changes, and which it is
    /// until then (the region is `regions[regionIndex]`).
    private var boundary = 0
    private var inRegion = false
    /// Which byte of a predicted word the last reference was: 0 for none, else 1–8.
    private(set) var fieldIndex = 0

    init(map: OffsetMap?) {
        self.map = map
        predicts = map != nil
        regions = map?.tables.regions ?? []
    }

    /// One-byte opcodes that take a ModRM byte.
    @inline(__always)
    static func takesModRM(_ opcode: UInt8) -> Bool {
        switch opcode {
        case 0x01, 0x03, 0x09, 0x0B, 0x21, 0x23, 0x29, 0x2B, 0x31, 0x33, 0x39, 0x3B, 0x63, 0x69, 0x6B,
             0x80, 0x81, 0x83, 0x84, 0x85, 0x87, 0x88, 0x89, 0x8A, 0x8B, 0x8D, 0xC6, 0xC7, 0xF6, 0xF7, 0xFF:
            return true
        default:
            return false
        }
    }

    /// The reference byte for result offset `p`, the `k`-th byte copied in a block of `copy`
    /// bytes from base offset `q`; `prev1`, `prev2`, `prev3` are the result bytes before `p`.
    /// Calls come in increasing `p`.
    @inline(__always)
    mutating func reference(p: Int, k: Int, q: Int, copy: Int, old: UnsafePointer<UInt8>, oldCount: Int,
                            prev1: UInt8, prev2: UInt8, prev3: UInt8) -> UInt8 {
        if remaining != 0 {
            fieldIndex = width &+ 1 &- remaining
            remaining &-= 1
            return UInt8(truncatingIfNeeded: predicted >> UInt64(8 &* (fieldIndex &- 1)))
        }
        fieldIndex = 0
        guard predicts else { return old[q] }
        // Most bytes are outside regions and follow no opcode that takes an operand: answered
        // here, without the call below (these tests only leave out bytes it returns as is).
        if p < boundary && !inRegion {
            guard k >= 1, k &+ 4 <= copy else { return old[q] }
            let o1 = old[q &- 1]
            guard prev1 == o1, o1 == 0xE8 || o1 == 0xE9 || o1 & 0xF0 == 0x80 || o1 & 0xC7 == 0x05 else { return old[q] }
        }
        return predictedReference(p: p, k: k, q: q, copy: copy, old: old, oldCount: oldCount, prev1: prev1, prev2: prev2, prev3: prev3)
    }

    /// The rest of ``reference(p:k:q:copy:old:oldCount:prev1:prev2:prev3:)``: regions and operands.
    @inline(never)
    private mutating func predictedReference(p: Int, k: Int, q: Int, copy: Int, old: UnsafePointer<UInt8>, oldCount: Int,
                                             prev1: UInt8, prev2: UInt8, prev3: UInt8) -> UInt8 {
        if p >= boundary {
            while regionIndex < regions.count && regions[regionIndex].end <= p { regionIndex &+= 1 }
            if regionIndex < regions.count {
                inRegion = regions[regionIndex].start <= p
                boundary = inRegion ? regions[regionIndex].end : regions[regionIndex].start
            } else {
                inRegion = false
                boundary = Int.max
            }
        }
        if inRegion {
            let region = regions[regionIndex]
            let size = region.kind.width
            guard (p &- region.start) & (size &- 1) == 0, k &+ size <= copy, p &+ size <= region.end else { return old[q] }
            var value: UInt64 = 0
            for i in 0..<size { value |= UInt64(old[q &+ i]) << UInt64(8 &* i) }
            let map = self.map.unsafelyUnwrapped
            let target: Int
            switch region.kind {
            case .relative32: target = map.tables.old.address(ofOffset: q) &+ Int(Int32(truncatingIfNeeded: value))
            case .based32: target = region.oldBase &+ Int(Int32(truncatingIfNeeded: value))
            case .absolute64:
                guard value <= UInt64(Int.max / 2) else { return old[q] }
                target = Int(value)
            }
            guard let newAddress = map.newAddress(ofOldAddress: target, oldCount: oldCount) else { return old[q] }
            switch region.kind {
            case .relative32: predicted = UInt64(truncatingIfNeeded: newAddress &- map.tables.new.address(ofOffset: p))
            case .based32: predicted = UInt64(truncatingIfNeeded: newAddress &- region.newBase)
            case .absolute64: predicted = UInt64(truncatingIfNeeded: newAddress)
            }
            return start(width: size)
        }
        guard k >= 1, k &+ 4 <= copy else { return old[q] }
        let o1 = old[q &- 1]
        guard prev1 == o1 else { return old[q] }
        var isOperand = o1 == 0xE8 || o1 == 0xE9
        if !isOperand && k >= 2 && prev2 == old[q &- 2] {
            if o1 & 0xF0 == 0x80 && prev2 == 0x0F {
                isOperand = true
            } else if o1 & 0xC7 == 0x05 {
                isOperand = Self.takesModRM(prev2) || (k >= 3 && prev3 == 0x0F && prev3 == old[q &- 3])
            }
        }
        guard isOperand else { return old[q] }
        let map = self.map.unsafelyUnwrapped
        let operand = Int32(bitPattern: UInt32(old[q]) | UInt32(old[q &+ 1]) << 8 | UInt32(old[q &+ 2]) << 16 | UInt32(old[q &+ 3]) << 24)
        let target = map.tables.old.address(ofOffset: q) &+ 4 &+ Int(operand)
        guard let newAddress = map.newAddress(ofOldAddress: target, oldCount: oldCount) else { return old[q] }
        predicted = UInt64(truncatingIfNeeded: newAddress &- (map.tables.new.address(ofOffset: p) &+ 4))
        return start(width: 4)
    }

    /// Version 2: adds `delta` to the word that starts at this byte (`fieldIndex` 1) and
    /// returns its first byte, the reference in place of the one `reference` returned.
    @inline(__always)
    mutating func correct(by delta: Int64) -> UInt8 {
        predicted &+= UInt64(bitPattern: delta)
        return UInt8(truncatingIfNeeded: predicted)
    }

    @inline(__always)
    private mutating func start(width: Int) -> UInt8 {
        self.width = width
        remaining = width &- 1
        fieldIndex = 1
        return UInt8(truncatingIfNeeded: predicted)
    }
}
