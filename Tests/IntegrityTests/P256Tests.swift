import Foundation
import Integrity
import Testing

@Suite("ECDSA P-256")
struct P256Tests {
    static let file = "wycheproof-ecdsa_secp256r1_sha256_test.json"

    /// Every `valid` case verifies and every `invalid` one does not. The file has no
    /// `acceptable` cases (the test counts them, so a new file with some is noticed); should it
    /// gain some, they are expected to be rejected, since verification accepts strict DER only.
    @Test("all 484 Wycheproof cases: valid accepted, invalid rejected, acceptable rejected")
    func wycheproof() throws {
        let vectors = try Wycheproof(Self.file)
        var counts: [String: Int] = [:]
        for group in vectors.groups {
            let key = try P256.PublicKey(derRepresentation: try group.hex("publicKeyDer"))
            let pem = try #require(group.fields["publicKeyPem"] as? String)
            #expect(try P256.PublicKey(pemRepresentation: pem) == key)
            let uncompressed = try #require((group.fields["publicKey"] as? [String: Any])?["uncompressed"] as? String)
            #expect(try P256.PublicKey(x963Representation: Hex.decode(uncompressed)!) == key)
            for test in group.cases {
                counts[test.result, default: 0] += 1
                let verified = key.isValidSignature(derSignature: test.signature, for: test.message)
                #expect(verified == (test.result == "valid"), "tcId \(test.id): \(test.comment)")
            }
        }
        #expect(counts["acceptable", default: 0] == 0, "acceptable cases are expected to be rejected; the file has none")
        #expect(counts == ["valid": 174, "invalid": 310], "484 cases")
    }

    @Test("a compressed point gives the same key as the uncompressed one")
    func compressed() throws {
        for group in try Wycheproof(Self.file).groups {
            let fields = try #require(group.fields["publicKey"] as? [String: Any])
            let uncompressed = Hex.decode(try #require(fields["uncompressed"] as? String))!
            let odd = uncompressed[64] & 1 == 1
            let compressed = [odd ? 0x03 : 0x02] + uncompressed[1..<33]
            #expect(try P256.PublicKey(x963Representation: compressed) == P256.PublicKey(x963Representation: uncompressed))
            var wrongParity = compressed
            wrongParity[0] ^= 1
            #expect(try P256.PublicKey(x963Representation: wrongParity) != P256.PublicKey(x963Representation: uncompressed))
        }
    }

    @Test("points off the curve, coordinates ≥ p and the wrong lengths are refused")
    func badPoints() throws {
        let group = try #require(try Wycheproof(Self.file).groups.first)
        let fields = try #require(group.fields["publicKey"] as? [String: Any])
        let point = Hex.decode(try #require(fields["uncompressed"] as? String))!
        var offCurve = point
        offCurve[64] ^= 1
        let p = Hex.decode("ffffffff00000001000000000000000000000000ffffffffffffffffffffffff")!
        let cases: [[UInt8]] = [
            offCurve,
            [0x04] + p + point[33..<65],  // x = p
            [0x04] + [UInt8](repeating: 0, count: 64),  // (0, 0) is not on the curve
            [0x00],  // the point at infinity
            Array(point.prefix(64)),
            point + [0],
            [0x05] + point.dropFirst(),
            [0x02] + p,  // compressed with x = p
            [],
        ]
        for bytes in cases {
            let error = #expect(throws: KeyParsingError.self) { try P256.PublicKey(x963Representation: bytes) }
            #expect(error?.code == .invalidKey)
        }
    }
}
