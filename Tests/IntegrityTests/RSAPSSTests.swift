import Foundation
import Integrity
import Testing

@Suite("RSASSA-PSS SHA-256")
struct RSAPSSTests {
    static let files = [("wycheproof-rsa_pss_2048_sha256_mgf1_32_test.json", 2048),
                        ("wycheproof-rsa_pss_3072_sha256_mgf1_32_test.json", 3072)]

    /// Every `valid` case verifies, with the salt length required (32) and with it read from the
    /// encoding; every `invalid` one fails with the salt length required. With the salt length
    /// read from the encoding, the six "s_len changed to …" cases verify, as they must: they are
    /// well-formed encodings with another salt length, which is what saltLength nil accepts (as
    /// securesystemslib's PSS.AUTO does); every other invalid case fails. The files have no
    /// `acceptable` cases (counted, so a new file with some is noticed); should they gain some,
    /// they are expected to fail.
    @Test("all 108 Wycheproof cases of each size: valid accepted, invalid rejected, with and without the salt length",
          arguments: files)
    func wycheproof(file: String, bits: Int) throws {
        let vectors = try Wycheproof(file)
        var counts: [String: Int] = [:]
        var otherSaltLengths = 0
        for group in vectors.groups {
            let key = try RSAPSS.PublicKey(derRepresentation: try group.hex("publicKeyDer"))
            #expect(key.bitCount == bits)
            #expect(try RSAPSS.PublicKey(pemRepresentation: #require(group.fields["publicKeyPem"] as? String)) == key)
            let pkcs1 = "-----BEGIN RSA PUBLIC KEY-----\n\(Base64.encode(try group.hex("publicKeyAsn")))\n-----END RSA PUBLIC KEY-----\n"
            #expect(try RSAPSS.PublicKey(pemRepresentation: pkcs1) == key)
            let saltLength = try #require(group.fields["sLen"] as? Int)
            for test in group.cases {
                counts[test.result, default: 0] += 1
                let valid = test.result == "valid"
                #expect(key.isValidSignature(test.signature, for: test.message, saltLength: saltLength) == valid,
                        "tcId \(test.id): \(test.comment)")
                let otherSaltLength = test.comment.hasPrefix("s_len changed to")
                if otherSaltLength { otherSaltLengths += 1 }
                #expect(key.isValidSignature(test.signature, for: test.message) == (valid || otherSaltLength),
                        "tcId \(test.id), any salt length: \(test.comment)")
                if valid {
                    #expect(!key.isValidSignature(test.signature, for: test.message, saltLength: saltLength + 1), "tcId \(test.id)")
                    #expect(!key.isValidSignature(test.signature, for: test.message, saltLength: 0), "tcId \(test.id)")
                }
            }
        }
        #expect(counts["acceptable", default: 0] == 0, "acceptable cases are expected to be rejected; the files have none")
        #expect(counts == ["valid": 63, "invalid": 45], "108 cases")
        #expect(otherSaltLengths == 6)
    }
}
