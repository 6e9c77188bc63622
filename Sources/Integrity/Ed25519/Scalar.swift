/// Arithmetic modulo the group order L = 2^252 + 27742317777372353535851937790883648493,
/// on little-endian byte strings, in constant time (the signing nonce and key pass through it).
enum Scalar {
    static let order: [UInt64] = [0x5812_631a_5cf5_d3ed, 0x14de_f9de_a2f7_9cd6, 0, 0x1000_0000_0000_0000]

    /// True when the 32 bytes encode a number below L (the canonical S check; public data).
    static func isCanonical(_ bytes: [UInt8]) -> Bool {
        let value = words(bytes)
        for index in (0..<4).reversed() where value[index] != order[index] { return value[index] < order[index] }
        return false
    }

    /// A 64-byte little-endian number reduced mod L.
    static func reduce(_ wide: [UInt8]) -> [UInt8] {
        bytes(reduceWords(words(wide)))
    }

    /// (a·b + c) mod L for 32-byte a, b, c.
    static func multiplyAdd(_ a: [UInt8], _ b: [UInt8], _ c: [UInt8]) -> [UInt8] {
        let x = words(a), y = words(b), z = words(c)
        var product = [UInt64](repeating: 0, count: 8)
        for i in 0..<4 {
            var carry: UInt128 = 0
            for j in 0..<4 {
                let sum = UInt128(x[i]) &* UInt128(y[j]) &+ UInt128(product[i + j]) &+ carry
                product[i + j] = UInt64(truncatingIfNeeded: sum)
                carry = sum >> 64
            }
            product[i + 4] = UInt64(truncatingIfNeeded: carry)
        }
        var carry: UInt64 = 0
        for index in 0..<8 {
            let (sum1, overflow1) = product[index].addingReportingOverflow(index < 4 ? z[index] : 0)
            let (sum2, overflow2) = sum1.addingReportingOverflow(carry)
            product[index] = sum2
            carry = (overflow1 ? 1 : 0) + (overflow2 ? 1 : 0)
        }
        return bytes(reduceWords(product))
    }

    // MARK: - Internals

    /// Bitwise long division keeping only the remainder; every step does the same work
    /// (subtract, then keep the difference or not by a mask), whatever the bits.
    private static func reduceWords(_ value: [UInt64]) -> [UInt64] {
        var remainder: [UInt64] = [0, 0, 0, 0]
        for bit in (0..<(value.count * 64)).reversed() {
            let incoming = (value[bit >> 6] >> UInt64(bit & 63)) & 1
            remainder[3] = remainder[3] << 1 | remainder[2] >> 63
            remainder[2] = remainder[2] << 1 | remainder[1] >> 63
            remainder[1] = remainder[1] << 1 | remainder[0] >> 63
            remainder[0] = remainder[0] << 1 | incoming
            var difference: [UInt64] = [0, 0, 0, 0]
            var borrow: UInt64 = 0
            for index in 0..<4 {
                let (d1, b1) = remainder[index].subtractingReportingOverflow(order[index])
                let (d2, b2) = d1.subtractingReportingOverflow(borrow)
                difference[index] = d2
                borrow = (b1 ? 1 : 0) | (b2 ? 1 : 0)
            }
            let keep = 0 &- (borrow ^ 1) // all ones when remainder >= L
            for index in 0..<4 { remainder[index] = (difference[index] & keep) | (remainder[index] & ~keep) }
        }
        return remainder
    }

    private static func words(_ bytes: [UInt8]) -> [UInt64] {
        (0..<(bytes.count / 8)).map { word in
            var value: UInt64 = 0
            for index in (0..<8).reversed() { value = value << 8 | UInt64(bytes[word * 8 + index]) }
            return value
        }
    }

    private static func bytes(_ words: [UInt64]) -> [UInt8] {
        words.flatMap { word in (0..<8).map { UInt8(truncatingIfNeeded: word >> UInt64(8 * $0)) } }
    }
}
