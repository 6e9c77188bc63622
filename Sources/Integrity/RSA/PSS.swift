/// EMSA-PSS verification (RFC 8017 section 9.1.2) with SHA-256 for the hash and MGF1.
enum PSS {
    static let hashLength = SHA256.byteCount

    /// Checks an encoded message (the result of the RSA public operation, as many bytes as the
    /// modulus) against the hash of the message.
    /// - Parameters:
    ///   - encoded: m = s^e mod n, big-endian, the modulus's length.
    ///   - messageHash: SHA-256 of the message.
    ///   - encodedBits: emBits, the modulus's bit count minus one.
    ///   - saltLength: the required salt length, or nil for whatever the encoding carries.
    static func verify(encoded: [UInt8], messageHash: [UInt8], encodedBits: Int, saltLength: Int?) -> Bool {
        let encodedLength = (encodedBits + 7) / 8
        // When emBits is a multiple of 8 the modulus has one byte more than EM, which must be 0.
        guard encoded.count >= encodedLength, encoded.prefix(encoded.count - encodedLength).allSatisfy({ $0 == 0 }) else { return false }
        let message = Array(encoded.suffix(encodedLength))
        if let saltLength, saltLength < 0 { return false }
        guard encodedLength >= hashLength + (saltLength ?? 0) + 2, message.last == 0xbc else { return false }
        let dbLength = encodedLength - hashLength - 1
        let hash = Array(message[dbLength..<(dbLength + hashLength)])
        let unusedBits = 8 * encodedLength - encodedBits
        let topMask = UInt8(truncatingIfNeeded: 0xff >> unusedBits)
        guard message[0] & ~topMask == 0 else { return false }
        var db = mgf1(seed: hash, length: dbLength)
        for index in 0..<dbLength { db[index] ^= message[index] }
        db[0] &= topMask

        // DB = PS (zeros) || 0x01 || salt.
        guard let separator = db.firstIndex(where: { $0 != 0 }), db[separator] == 0x01 else { return false }
        let salt = db[(separator + 1)...]
        if let saltLength, salt.count != saltLength { return false }

        var hasher = SHA256()
        hasher.update(data: [UInt8](repeating: 0, count: 8))
        hasher.update(data: messageHash)
        hasher.update(data: salt)
        return ConstantTime.equals(hasher.finalize().bytes, hash)
    }

    /// MGF1 with SHA-256 (RFC 8017 appendix B.2.1).
    static func mgf1(seed: [UInt8], length: Int) -> [UInt8] {
        var mask: [UInt8] = []
        mask.reserveCapacity(length + hashLength)
        var counter: UInt32 = 0
        while mask.count < length {
            var hasher = SHA256()
            hasher.update(data: seed)
            hasher.update(data: [UInt8(counter >> 24), UInt8(truncatingIfNeeded: counter >> 16), UInt8(truncatingIfNeeded: counter >> 8), UInt8(truncatingIfNeeded: counter)])
            mask += hasher.finalize().bytes
            counter += 1
        }
        return Array(mask.prefix(length))
    }
}
