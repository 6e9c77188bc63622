/// A point of the twisted Edwards curve -x² + y² = 1 + d·x²·y² in extended coordinates
/// (X:Y:Z:T) with x = X/Z, y = Y/Z, x·y = T/Z.
struct EdwardsPoint: Sendable {
    var x, y, z, t: FieldElement

    static let identity = EdwardsPoint(x: .zero, y: .one, z: .one, t: .zero)
    static let base = EdwardsPoint(
        x: FieldElement(0x62d608f25d51a, 0x412a4b4f6592a, 0x75b7171a4b31d, 0x1ff60527118fe, 0x216936d3cd6e5),
        y: FieldElement(0x6666666666658, 0x4cccccccccccc, 0x1999999999999, 0x3333333333333, 0x6666666666666),
        z: .one,
        t: FieldElement(0x68ab3a5b7dda3, 0xeea2a5eadbb, 0x2af8df483c27e, 0x332b375274732, 0x67875f0fd78b7))

    /// Decodes 32 bytes (RFC 8032 5.1.3), strictly: nil for y ≥ p, for an x² with no square
    /// root, and for x = 0 with the sign bit set.
    init?(encoding bytes: [UInt8]) {
        guard bytes.count == 32 else { return nil }
        // y must be below p = 2^255 - 19: reject 2^255 - 19 ... 2^255 - 1.
        if bytes[31] & 0x7f == 0x7f, bytes[1..<31].allSatisfy({ $0 == 0xff }), bytes[0] >= 0xed { return nil }
        let sign = bytes[31] >> 7
        let y = FieldElement(bytes: bytes)
        let y2 = y.squared()
        let u = y2 - .one
        let v = y2 * .d + .one
        let v3 = v.squared() * v
        var x = u * v3 * (u * v3.squared() * v).powP58()
        let vx2 = v * x.squared()
        if !vx2.equals(u) {
            guard vx2.equals(-u) else { return nil }
            x = x * .sqrtMinusOne
        }
        if x.isZero && sign == 1 { return nil }
        if (x.isNegative ? 1 : 0) != sign { x = -x }
        self.init(x: x, y: y, z: .one, t: x * y)
    }

    init(x: FieldElement, y: FieldElement, z: FieldElement, t: FieldElement) {
        (self.x, self.y, self.z, self.t) = (x, y, z, t)
    }

    /// The 32-byte encoding: y with the sign of x in the top bit.
    var encoding: [UInt8] {
        let inverse = z.inverted()
        var bytes = (y * inverse).bytes
        bytes[31] ^= ((x * inverse).isNegative ? 1 : 0) << 7
        return bytes
    }

    /// 2·self (dbl-2008-hwcd with a = -1).
    func doubled() -> EdwardsPoint {
        let a = x.squared(), b = y.squared()
        let c = z.squared() + z.squared()
        let e = (x + y).squared() - a - b
        let g = b - a
        let f = g - c
        let h = -a - b
        return EdwardsPoint(x: e * f, y: g * h, z: f * g, t: e * h)
    }

    /// self + q (add-2008-hwcd-3 with a = -1, q precomputed).
    func adding(_ q: CachedPoint) -> EdwardsPoint {
        let a = (y - x) * q.yMinusX
        let b = (y + x) * q.yPlusX
        let c = t * q.t2d
        let zz = z * q.z
        let d = zz + zz
        let e = b - a, f = d - c, g = d + c, h = b + a
        return EdwardsPoint(x: e * f, y: g * h, z: f * g, t: e * h)
    }

    /// self - q.
    func subtracting(_ q: CachedPoint) -> EdwardsPoint { adding(q.negated) }

    /// The form additions take.
    var cached: CachedPoint { CachedPoint(yPlusX: y + x, yMinusX: y - x, z: z, t2d: t * .d2) }
}

/// A point prepared for addition: (Y+X, Y-X, Z, 2d·T).
struct CachedPoint: Sendable {
    var yPlusX, yMinusX, z, t2d: FieldElement

    static let identity = CachedPoint(yPlusX: .one, yMinusX: .one, z: .one, t2d: .zero)

    var negated: CachedPoint { CachedPoint(yPlusX: yMinusX, yMinusX: yPlusX, z: z, t2d: -t2d) }

    @inline(__always)
    mutating func conditionalAssign(_ other: CachedPoint, _ flag: UInt64) {
        yPlusX.conditionalAssign(other.yPlusX, flag)
        yMinusX.conditionalAssign(other.yMinusX, flag)
        z.conditionalAssign(other.z, flag)
        t2d.conditionalAssign(other.t2d, flag)
    }
}

// MARK: - Scalar multiplication

extension EdwardsPoint {
    /// Multiples j·256^i·B for i < 32, j = 1...8: the table of fixed-base multiplication.
    static let baseTable: [[CachedPoint]] = {
        var table: [[CachedPoint]] = []
        var power = EdwardsPoint.base
        for _ in 0..<32 {
            var row: [CachedPoint] = []
            var multiple = power
            for _ in 0..<8 {
                row.append(multiple.cached)
                multiple = multiple.adding(power.cached)
            }
            table.append(row)
            for _ in 0..<8 { power = power.doubled() }
        }
        return table
    }()

    /// Odd multiples B, 3B, ..., 15B for variable-time multiplication.
    static let baseOddMultiples: [CachedPoint] = EdwardsPoint.base.oddMultiples()

    /// [a]B for a secret scalar `a` (32 bytes, little-endian): signed radix-16 digits, and each
    /// table entry chosen by scanning the whole row with masks, so neither the branches nor the
    /// memory accessed depend on `a`.
    static func baseMultiple(_ a: [UInt8]) -> EdwardsPoint {
        var digits = [Int8](repeating: 0, count: 64)
        for index in 0..<32 {
            digits[2 * index] = Int8(a[index] & 15)
            digits[2 * index + 1] = Int8(a[index] >> 4)
        }
        var carry: Int8 = 0
        for index in 0..<63 {
            digits[index] &+= carry
            carry = (digits[index] &+ 8) >> 4
            digits[index] &-= carry << 4
        }
        digits[63] &+= carry

        var h = EdwardsPoint.identity
        for index in stride(from: 1, to: 64, by: 2) { h = h.adding(select(row: index / 2, digits[index])) }
        h = h.doubled().doubled().doubled().doubled()
        for index in stride(from: 0, to: 64, by: 2) { h = h.adding(select(row: index / 2, digits[index])) }
        return h
    }

    /// digit·256^row·B for digit in -8...8, in constant time.
    private static func select(row: Int, _ digit: Int8) -> CachedPoint {
        let negative = UInt8(bitPattern: digit) >> 7
        let magnitude = UInt8(bitPattern: digit &- (((0 &- Int8(negative)) & digit) &<< 1))
        var chosen = CachedPoint.identity
        let entries = baseTable[row]
        for j in 0..<8 {
            let difference = UInt64(magnitude ^ UInt8(j + 1))
            chosen.conditionalAssign(entries[j], (difference &- 1) >> 63)
        }
        chosen.conditionalAssign(chosen.negated, UInt64(negative))
        return chosen
    }

    /// P, 3P, 5P, ..., 15P.
    func oddMultiples() -> [CachedPoint] {
        let twice = doubled().cached
        var multiples = [cached]
        var current = self
        for _ in 1..<8 {
            current = current.adding(twice)
            multiples.append(current.cached)
        }
        return multiples
    }

    /// [a]A + [b]B in variable time (for verification, where every input is public).
    static func doubleMultiple(_ a: [UInt8], _ point: EdwardsPoint, _ b: [UInt8]) -> EdwardsPoint {
        let aDigits = nonAdjacentForm(a), bDigits = nonAdjacentForm(b)
        let aMultiples = point.oddMultiples()
        var top = 255
        while top >= 0 && aDigits[top] == 0 && bDigits[top] == 0 { top -= 1 }
        var result = EdwardsPoint.identity
        var index = top
        while index >= 0 {
            result = result.doubled()
            let da = aDigits[index], db = bDigits[index]
            if da > 0 { result = result.adding(aMultiples[da / 2]) } else if da < 0 { result = result.subtracting(aMultiples[-da / 2]) }
            if db > 0 { result = result.adding(baseOddMultiples[db / 2]) } else if db < 0 { result = result.subtracting(baseOddMultiples[-db / 2]) }
            index -= 1
        }
        return result
    }

    /// Width-5 non-adjacent form: digits odd in -15...15, nonzero digits at least 5 apart.
    static func nonAdjacentForm(_ scalar: [UInt8]) -> [Int] {
        var digits = (0..<256).map { Int(scalar[$0 >> 3] >> UInt8($0 & 7)) & 1 }
        for i in 0..<256 where digits[i] != 0 {
            var b = 1
            while b <= 6 && i + b < 256 {
                if digits[i + b] != 0 {
                    let shifted = digits[i + b] << b
                    if digits[i] + shifted <= 15 {
                        digits[i] += shifted
                        digits[i + b] = 0
                    } else if digits[i] - shifted >= -15 {
                        digits[i] -= shifted
                        var k = i + b
                        while k < 256 {
                            if digits[k] == 0 {
                                digits[k] = 1
                                break
                            }
                            digits[k] = 0
                            k += 1
                        }
                    } else {
                        break
                    }
                }
                b += 1
            }
        }
        return digits
    }
}
