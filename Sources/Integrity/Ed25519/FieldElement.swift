/// An element of GF(2^255 - 19) in five 51-bit limbs.
///
/// Every operation is straight-line code with no branch or memory index that depends on the
/// value, so arithmetic on secret data takes the same time whatever the data. Results are kept
/// "weakly reduced" (each limb below 2^52), which is what the next operation's bounds assume.
struct FieldElement: Sendable {
    var l0, l1, l2, l3, l4: UInt64

    static let mask: UInt64 = (1 << 51) - 1
    static let zero = FieldElement(0, 0, 0, 0, 0)
    static let one = FieldElement(1, 0, 0, 0, 0)
    /// The curve constant d = -121665/121666.
    static let d = FieldElement(0x34dca135978a3, 0x1a8283b156ebd, 0x5e7a26001c029, 0x739c663a03cbb, 0x52036cee2b6ff)
    static let d2 = FieldElement(0x69b9426b2f159, 0x35050762add7a, 0x3cf44c0038052, 0x6738cc7407977, 0x2406d9dc56dff)
    /// A square root of -1.
    static let sqrtMinusOne = FieldElement(0x61b274a0ea0b0, 0xd5a5fc8f189d, 0x7ef5e9cbd0c60, 0x78595a6804c9e, 0x2b8324804fc1d)

    @inline(__always)
    init(_ l0: UInt64, _ l1: UInt64, _ l2: UInt64, _ l3: UInt64, _ l4: UInt64) {
        (self.l0, self.l1, self.l2, self.l3, self.l4) = (l0, l1, l2, l3, l4)
    }

    /// Reads 32 little-endian bytes, ignoring the top bit (the sign of x in a point encoding).
    init(bytes: [UInt8]) {
        func word(_ offset: Int) -> UInt64 {
            var value: UInt64 = 0
            for index in (0..<8).reversed() { value = value << 8 | UInt64(bytes[offset + index]) }
            return value
        }
        let w0 = word(0), w1 = word(8), w2 = word(16), w3 = word(24)
        self.init(w0 & Self.mask, (w0 >> 51 | w1 << 13) & Self.mask, (w1 >> 38 | w2 << 26) & Self.mask,
                  (w2 >> 25 | w3 << 39) & Self.mask, (w3 >> 12) & Self.mask)
    }

    /// The canonical 32-byte little-endian encoding (fully reduced below p).
    var bytes: [UInt8] {
        var h = weaklyReduced().weaklyReduced()
        // q = 1 exactly when h >= p: h + 19 overflows 2^255.
        var q = (h.l0 &+ 19) >> 51
        q = (h.l1 &+ q) >> 51
        q = (h.l2 &+ q) >> 51
        q = (h.l3 &+ q) >> 51
        q = (h.l4 &+ q) >> 51
        h.l0 &+= 19 &* q
        h.l1 &+= h.l0 >> 51; h.l0 &= Self.mask
        h.l2 &+= h.l1 >> 51; h.l1 &= Self.mask
        h.l3 &+= h.l2 >> 51; h.l2 &= Self.mask
        h.l4 &+= h.l3 >> 51; h.l3 &= Self.mask
        h.l4 &= Self.mask
        let words = [h.l0 | h.l1 << 51, h.l1 >> 13 | h.l2 << 38, h.l2 >> 26 | h.l3 << 25, h.l3 >> 39 | h.l4 << 12]
        var out = [UInt8](repeating: 0, count: 32)
        for (index, word) in words.enumerated() {
            for byte in 0..<8 { out[index * 8 + byte] = UInt8(truncatingIfNeeded: word >> UInt64(8 * byte)) }
        }
        return out
    }

    /// True for the "negative" elements: odd when fully reduced.
    var isNegative: Bool { bytes[0] & 1 == 1 }

    /// True for zero (examines every byte).
    var isZero: Bool { bytes.reduce(0, |) == 0 }

    /// Equality of the reduced values (examines every byte).
    func equals(_ other: FieldElement) -> Bool { ConstantTime.equals(bytes, other.bytes) }

    @inline(__always)
    func weaklyReduced() -> FieldElement {
        var r = self
        r.l1 &+= r.l0 >> 51; r.l0 &= Self.mask
        r.l2 &+= r.l1 >> 51; r.l1 &= Self.mask
        r.l3 &+= r.l2 >> 51; r.l2 &= Self.mask
        r.l4 &+= r.l3 >> 51; r.l3 &= Self.mask
        r.l0 &+= 19 &* (r.l4 >> 51); r.l4 &= Self.mask
        return r
    }

    @inline(__always)
    static func + (a: FieldElement, b: FieldElement) -> FieldElement {
        FieldElement(a.l0 &+ b.l0, a.l1 &+ b.l1, a.l2 &+ b.l2, a.l3 &+ b.l3, a.l4 &+ b.l4).weaklyReduced()
    }

    /// a - b computed as a + 2p - b, so no limb goes negative.
    @inline(__always)
    static func - (a: FieldElement, b: FieldElement) -> FieldElement {
        FieldElement(a.l0 &+ 0xFFFF_FFFF_FFFDA &- b.l0, a.l1 &+ 0xFFFF_FFFF_FFFFE &- b.l1, a.l2 &+ 0xFFFF_FFFF_FFFFE &- b.l2,
                     a.l3 &+ 0xFFFF_FFFF_FFFFE &- b.l3, a.l4 &+ 0xFFFF_FFFF_FFFFE &- b.l4).weaklyReduced()
    }

    @inline(__always)
    static prefix func - (a: FieldElement) -> FieldElement { zero - a }

    @inline(__always)
    static func * (a: FieldElement, b: FieldElement) -> FieldElement {
        @inline(__always) func m(_ x: UInt64, _ y: UInt64) -> UInt128 { UInt128(x) &* UInt128(y) }
        let b1 = b.l1 &* 19, b2 = b.l2 &* 19, b3 = b.l3 &* 19, b4 = b.l4 &* 19
        let t0 = m(a.l0, b.l0) &+ m(a.l1, b4) &+ m(a.l2, b3) &+ m(a.l3, b2) &+ m(a.l4, b1)
        var t1 = m(a.l0, b.l1) &+ m(a.l1, b.l0) &+ m(a.l2, b4) &+ m(a.l3, b3) &+ m(a.l4, b2)
        var t2 = m(a.l0, b.l2) &+ m(a.l1, b.l1) &+ m(a.l2, b.l0) &+ m(a.l3, b4) &+ m(a.l4, b3)
        var t3 = m(a.l0, b.l3) &+ m(a.l1, b.l2) &+ m(a.l2, b.l1) &+ m(a.l3, b.l0) &+ m(a.l4, b4)
        var t4 = m(a.l0, b.l4) &+ m(a.l1, b.l3) &+ m(a.l2, b.l2) &+ m(a.l3, b.l1) &+ m(a.l4, b.l0)
        return carry(t0, &t1, &t2, &t3, &t4)
    }

    @inline(__always)
    func squared() -> FieldElement {
        @inline(__always) func m(_ x: UInt64, _ y: UInt64) -> UInt128 { UInt128(x) &* UInt128(y) }
        let d0 = l0 &* 2, d1 = l1 &* 2, d2 = l2 &* 2 &* 19, d4 = l4 &* 19, d3 = l3 &* 19
        let t0 = m(l0, l0) &+ m(d1, d4) &+ m(d2, l3)
        var t1 = m(d0, l1) &+ m(d2, l4) &+ m(l3, d3)
        var t2 = m(d0, l2) &+ m(l1, l1) &+ m(l3 &* 2, d4)
        var t3 = m(d0, l3) &+ m(d1, l2) &+ m(l4, d4)
        var t4 = m(d0, l4) &+ m(d1, l3) &+ m(l2, l2)
        return Self.carry(t0, &t1, &t2, &t3, &t4)
    }

    @inline(__always)
    private static func carry(_ t0: UInt128, _ t1: inout UInt128, _ t2: inout UInt128, _ t3: inout UInt128, _ t4: inout UInt128) -> FieldElement {
        let r0 = UInt64(truncatingIfNeeded: t0) & mask
        t1 &+= t0 >> 51
        let r1 = UInt64(truncatingIfNeeded: t1) & mask
        t2 &+= t1 >> 51
        let r2 = UInt64(truncatingIfNeeded: t2) & mask
        t3 &+= t2 >> 51
        let r3 = UInt64(truncatingIfNeeded: t3) & mask
        t4 &+= t3 >> 51
        let r4 = UInt64(truncatingIfNeeded: t4) & mask
        let folded = UInt128(r0) &+ (t4 >> 51) &* 19
        return FieldElement(UInt64(truncatingIfNeeded: folded) & mask, r1 &+ UInt64(truncatingIfNeeded: folded >> 51), r2, r3, r4)
    }

    /// self^(2^count).
    func squared(times count: Int) -> FieldElement {
        var result = self
        for _ in 0..<count { result = result.squared() }
        return result
    }

    /// self^(2^250 - 1) and self^11, shared by inversion and square roots.
    private func powerChain() -> (z250: FieldElement, z11: FieldElement) {
        let z2 = squared()
        let z9 = z2.squared(times: 2) * self
        let z11 = z9 * z2
        let z5 = z11.squared() * z9
        let z10 = z5.squared(times: 5) * z5
        let z20 = z10.squared(times: 10) * z10
        let z40 = z20.squared(times: 20) * z20
        let z50 = z40.squared(times: 10) * z10
        let z100 = z50.squared(times: 50) * z50
        let z200 = z100.squared(times: 100) * z100
        let z250 = z200.squared(times: 50) * z50
        return (z250, z11)
    }

    /// self^(p - 2) = 1/self (0 for 0).
    func inverted() -> FieldElement {
        let (z250, z11) = powerChain()
        return z250.squared(times: 5) * z11
    }

    /// self^((p - 5) / 8), the core of a square root.
    func powP58() -> FieldElement {
        powerChain().z250.squared(times: 2) * self
    }

    /// Replaces self with `other` when `flag` is 1, without branching on it.
    @inline(__always)
    mutating func conditionalAssign(_ other: FieldElement, _ flag: UInt64) {
        let mask = 0 &- flag
        l0 ^= (l0 ^ other.l0) & mask
        l1 ^= (l1 ^ other.l1) & mask
        l2 ^= (l2 ^ other.l2) & mask
        l3 ^= (l3 ^ other.l3) & mask
        l4 ^= (l4 ^ other.l4) & mask
    }
}
