import Foundation
@testable import Integrity
import Testing

/// EMSA-PSS-VERIFY on encoded messages made here, for the shapes openssl cannot make keys for.
@Suite("EMSA-PSS encoding")
struct PSSEncodingTests {
    /// EMSA-PSS-ENCODE (RFC 8017 section 9.1.1) with SHA-256 and MGF1-SHA-256.
    static func encode(_ message: [UInt8], salt: [UInt8], encodedBits: Int) -> [UInt8] {
        let encodedLength = (encodedBits + 7) / 8
        var hasher = SHA256()
        hasher.update(data: [UInt8](repeating: 0, count: 8) + SHA256.hash(data: message).bytes + salt)
        let hash = hasher.finalize().bytes
        var db = [UInt8](repeating: 0, count: encodedLength - salt.count - 32 - 2) + [0x01] + salt
        let mask = PSS.mgf1(seed: hash, length: db.count)
        for index in db.indices { db[index] ^= mask[index] }
        db[0] &= UInt8(truncatingIfNeeded: 0xff >> (8 * encodedLength - encodedBits))
        return db + hash + [0xbc]
    }

    @Test("a modulus of 8k + 1 bits: the encoded message is a byte shorter, after a zero byte")
    func shorterEncodedMessage() {
        let message = Array("targets.json".utf8)
        let encoded = Self.encode(message, salt: SecureRandom.bytes(32), encodedBits: 2048)
        #expect(encoded.count == 256)
        let hash = SHA256.hash(data: message).bytes
        #expect(PSS.verify(encoded: [0] + encoded, messageHash: hash, encodedBits: 2048, saltLength: nil))
        #expect(PSS.verify(encoded: [0] + encoded, messageHash: hash, encodedBits: 2048, saltLength: 32))
        #expect(!PSS.verify(encoded: [1] + encoded, messageHash: hash, encodedBits: 2048, saltLength: nil))
        #expect(!PSS.verify(encoded: [0] + encoded, messageHash: SHA256.hash(data: [0]).bytes, encodedBits: 2048, saltLength: nil))
    }

    @Test("salt lengths 0 to the largest, and the bits above emBits must be zero")
    func saltLengths() {
        let message = Array("root.json".utf8)
        let hash = SHA256.hash(data: message).bytes
        for encodedBits in [2047, 3071, 2051] {
            let largest = (encodedBits + 7) / 8 - 34
            for saltLength in [0, 1, 20, 32, 64, largest] {
                let encoded = Self.encode(message, salt: SecureRandom.bytes(saltLength), encodedBits: encodedBits)
                #expect(PSS.verify(encoded: encoded, messageHash: hash, encodedBits: encodedBits, saltLength: nil))
                #expect(PSS.verify(encoded: encoded, messageHash: hash, encodedBits: encodedBits, saltLength: saltLength))
                #expect(!PSS.verify(encoded: encoded, messageHash: hash, encodedBits: encodedBits, saltLength: saltLength + 1))
                #expect(!PSS.verify(encoded: encoded, messageHash: hash, encodedBits: encodedBits, saltLength: -1))
                var topBit = encoded
                topBit[0] |= 0x80
                #expect(!PSS.verify(encoded: topBit, messageHash: hash, encodedBits: encodedBits, saltLength: nil))
            }
            #expect(!PSS.verify(encoded: Self.encode(message, salt: [], encodedBits: encodedBits), messageHash: hash,
                                encodedBits: encodedBits, saltLength: largest + 1))
        }
    }
}
