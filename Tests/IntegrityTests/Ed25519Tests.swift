import Foundation
import Integrity
import Testing

@Suite("Ed25519")
struct Ed25519Tests {
    /// RFC 8032 section 7.1: secret key, public key, message, signature.
    static let rfc8032: [(secret: String, public: String, message: String, signature: String)] = [
        ("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
         "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", "",
         "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"),
        ("4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
         "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c", "72",
         "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00"),
        ("c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
         "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025", "af82",
         "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a"),
        ("833fe62409237b9d62ec77587520911e9a759cec1d19755b7da901b96dca3d42",
         "ec172b93ad5e563bf4932c70e1245034c35467ef2efd4d64ebf819683467e2bf",
         "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f",
         "dc2a4459e7369633a52b1bf277839a00201009a3efbf3ecb69bea2186c26b58909351fc9ac90b3ecfdfbc7c66431e0303dca179c138ac17ad9bef1177331a704"),
    ]

    @Test("RFC 8032 section 7.1 signing vectors")
    func rfc8032Vectors() throws {
        for vector in Self.rfc8032 {
            let key = try Curve25519.Signing.PrivateKey(rawRepresentation: Hex.decode(vector.secret)!)
            #expect(Hex.encode(key.publicKey.rawRepresentation) == vector.public)
            let message = Hex.decode(vector.message)!
            let signature = try key.signature(for: message)
            #expect(Hex.encode(signature) == vector.signature)
            #expect(key.publicKey.isValidSignature(signature, for: message))
        }
    }

    @Test("all Wycheproof cases give the expected result")
    func wycheproof() throws {
        let data = try Data(contentsOf: Vectors.directory.appendingPathComponent("wycheproof-ed25519_test.json"))
        let root = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        var count = 0
        for group in root["testGroups"] as? [[String: Any]] ?? [] {
            let keyHex = try #require((group["publicKey"] as? [String: Any])?["pk"] as? String)
            let key = try? Curve25519.Signing.PublicKey(rawRepresentation: Hex.decode(keyHex)!)
            for test in group["tests"] as? [[String: Any]] ?? [] {
                count += 1
                let valid = test["result"] as? String == "valid"
                let message = Hex.decode(test["msg"] as! String)!
                let signature = Hex.decode(test["sig"] as! String)!
                let verified = key?.isValidSignature(signature, for: message) ?? false
                #expect(verified == valid, "tcId \(test["tcId"]!): \(test["comment"]!)")
            }
        }
        #expect(count == 151)
    }

    @Test("a signature of another message, by another key or altered in any byte fails")
    func tampering() throws {
        let key = Curve25519.Signing.PrivateKey()
        let other = Curve25519.Signing.PrivateKey()
        let message = Array("release 1.2.3".utf8)
        let signature = try key.signature(for: message)
        #expect(key.publicKey.isValidSignature(signature, for: message))
        #expect(!key.publicKey.isValidSignature(signature, for: Array("release 1.2.4".utf8)))
        #expect(!other.publicKey.isValidSignature(signature, for: message))
        for index in 0..<64 {
            var altered = signature
            altered[index] ^= 0x01
            #expect(!key.publicKey.isValidSignature(altered, for: message), "byte \(index)")
        }
        #expect(!key.publicKey.isValidSignature(Array(signature.prefix(63)), for: message))
    }

    @Test("SHA-512 and BLAKE2b known answers")
    func hashes() {
        #expect(Hex.encode(SHA512.hash(data: Array("abc".utf8))) ==
            "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f")
        #expect(Hex.encode(BLAKE2b.hash(data: Array("abc".utf8))) ==
            "ba80a53f981c4d0d6a2797b69f12f6e94c212f14685ac4b74b12bb6fdbffa2d17d87c5392aab792dc252d5de4533cc9518d38aa8dbf1925ab92386edd4009923")
        #expect(Hex.encode(BLAKE2b.hash(data: [UInt8]())) ==
            "786a02f742015903c6c6fd852552d272912f4740e15847618a86e217f71f5419d25e1031afee585313896444934eb04b903a685b1448b755d56f701afe9be2ce")
        // Around the 128-byte block edge, streamed in pieces and whole.
        for size in [127, 128, 129, 256, 1000] {
            let message = (0..<size).map { UInt8(truncatingIfNeeded: $0) }
            var pieces = BLAKE2b()
            pieces.update(data: message[0..<size / 3])
            pieces.update(data: message[(size / 3)...])
            #expect(pieces.finalize() == BLAKE2b.hash(data: message), "size \(size)")
        }
    }

    @Test("base64 round-trips and rejects what is not canonical")
    func base64() {
        for length in 0..<10 {
            let bytes = (0..<length).map { UInt8($0 * 37 & 0xff) }
            #expect(Base64.decode(Base64.encode(bytes)) == bytes)
        }
        #expect(Base64.encode(Array("foobar".utf8)) == "Zm9vYmFy")
        #expect(Base64.decode("Zm9vYg==") == Array("foob".utf8))
        for bad in ["Zm9vYg=", "Zm9v!mFy", "Zm=vYmFy", "Zm9vYh==", "====", "Zg=a"] {
            #expect(Base64.decode(bad) == nil, "\(bad)")
        }
    }
}
