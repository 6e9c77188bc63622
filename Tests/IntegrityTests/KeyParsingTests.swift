import Foundation
import Integrity
import Testing

/// Strict parsing of keys and signatures: what must be accepted, and what must throw (or
/// return false) without trapping.
@Suite("Key and signature parsing")
struct KeyParsingTests {
    static let ecdsa = "wycheproof-ecdsa_secp256r1_sha256_test.json"
    static let rsa = "wycheproof-rsa_pss_2048_sha256_mgf1_32_test.json"

    /// DER of one element with a minimal definite length.
    static func der(_ tag: UInt8, _ content: [UInt8]) -> [UInt8] {
        var length: [UInt8]
        if content.count < 0x80 {
            length = [UInt8(content.count)]
        } else {
            var bytes: [UInt8] = []
            var count = content.count
            while count > 0 { bytes.insert(UInt8(count & 0xff), at: 0); count >>= 8 }
            length = [0x80 | UInt8(bytes.count)] + bytes
        }
        return [tag] + length + content
    }

    static func pem(_ label: String, _ der: [UInt8], lineLength: Int = 64, newline: String = "\n") -> String {
        let body = Array(Base64.encode(der))
        let lines = stride(from: 0, to: body.count, by: lineLength).map { String(body[$0..<min($0 + lineLength, body.count)]) }
        return (["-----BEGIN \(label)-----"] + lines + ["-----END \(label)-----"]).joined(separator: newline) + newline
    }

    static func firstGroup(_ file: String) throws -> Wycheproof.Group {
        try #require(try Wycheproof(file).groups.first)
    }

    @Test("PEM with CRLF, indentation, blank lines, other line lengths and no final newline is accepted")
    func lenientWhitespace() throws {
        for (file, isEC) in [(Self.ecdsa, true), (Self.rsa, false)] {
            let der = try Self.firstGroup(file).hex("publicKeyDer")
            let variants = [
                Self.pem("PUBLIC KEY", der, newline: "\r\n"),
                "\n\n  " + Self.pem("PUBLIC KEY", der, lineLength: 76).replacingOccurrences(of: "\n", with: "  \n\t") + "\n\n",
                Self.pem("PUBLIC KEY", der, lineLength: 20).replacingOccurrences(of: "\n", with: "\n\n"),
                String(Self.pem("PUBLIC KEY", der).dropLast()),
            ]
            for text in variants {
                if isEC {
                    #expect(try P256.PublicKey(pemRepresentation: text) == P256.PublicKey(derRepresentation: der))
                } else {
                    #expect(try RSAPSS.PublicKey(pemRepresentation: text) == RSAPSS.PublicKey(derRepresentation: der))
                }
            }
        }
    }

    @Test("bad PEM: wrong label, mismatched END, headers, non-canonical base64, empty body, two blocks")
    func badPEM() throws {
        let der = try Self.firstGroup(Self.ecdsa).hex("publicKeyDer")
        let good = Self.pem("PUBLIC KEY", der)
        let cases = [
            Self.pem("PRIVATE KEY", der),
            good.replacingOccurrences(of: "-----END PUBLIC KEY-----", with: "-----END RSA PUBLIC KEY-----"),
            good.replacingOccurrences(of: "-----BEGIN PUBLIC KEY-----\n", with: "-----BEGIN PUBLIC KEY-----\nProc-Type: 4,ENCRYPTED\n"),
            good.replacingOccurrences(of: "M", with: "*"),
            "-----BEGIN PUBLIC KEY-----\n-----END PUBLIC KEY-----\n",
            good + good,
            "",
            Base64.encode(der),
        ]
        for text in cases {
            let error = #expect(throws: KeyParsingError.self) { try P256.PublicKey(pemRepresentation: text) }
            #expect(error?.code == .malformedPEM, "\(text)")
            #expect(throws: KeyParsingError.self) { try RSAPSS.PublicKey(pemRepresentation: text) }
        }
    }

    @Test("an RSA key given to P256, a P-256 key to RSAPSS, and another curve are unsupported algorithms")
    func wrongAlgorithm() throws {
        let ec = try Self.firstGroup(Self.ecdsa).hex("publicKeyDer")
        let rsa = try Self.firstGroup(Self.rsa).hex("publicKeyDer")
        var error = #expect(throws: KeyParsingError.self) { try P256.PublicKey(derRepresentation: rsa) }
        #expect(error?.code == .unsupportedAlgorithm)
        error = #expect(throws: KeyParsingError.self) { try RSAPSS.PublicKey(derRepresentation: ec) }
        #expect(error?.code == .unsupportedAlgorithm)
        // The same point under secp384r1's OID (1.3.132.0.34).
        let point = Array(ec.suffix(65))
        let algorithm = Self.der(0x30, Self.der(0x06, [0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01]) + Self.der(0x06, [0x2b, 0x81, 0x04, 0x00, 0x22]))
        let p384 = Self.der(0x30, algorithm + Self.der(0x03, [0] + point))
        error = #expect(throws: KeyParsingError.self) { try P256.PublicKey(derRepresentation: p384) }
        #expect(error?.code == .unsupportedAlgorithm)
        #expect(error?.message.contains("secp384r1") == true)
        var otherCurve = ec
        #expect(otherCurve[22] == 0x07)  // the last byte of prime256v1's OID, 1.2.840.10045.3.1.7
        otherCurve[22] = 0x06
        error = #expect(throws: KeyParsingError.self) { try P256.PublicKey(derRepresentation: otherCurve) }
        #expect(error?.code == .unsupportedAlgorithm)
        // Ed25519 SPKI.
        let ed25519 = Hex.decode("302a300506032b6570032100" + String(repeating: "11", count: 32))!
        #expect(throws: KeyParsingError.self) { try P256.PublicKey(derRepresentation: ed25519) }
        #expect(throws: KeyParsingError.self) { try RSAPSS.PublicKey(derRepresentation: ed25519) }
    }

    @Test("every truncation, trailing bytes and BER lengths of both kinds of key throw")
    func malformedDER() throws {
        for (file, isEC) in [(Self.ecdsa, true), (Self.rsa, false)] {
            let der = try Self.firstGroup(file).hex("publicKeyDer")
            let parse: ([UInt8]) throws -> Void = { bytes in
                if isEC { _ = try P256.PublicKey(derRepresentation: bytes) } else { _ = try RSAPSS.PublicKey(derRepresentation: bytes) }
            }
            try parse(der)
            for length in 0..<der.count {
                #expect(throws: KeyParsingError.self) { try parse(Array(der.prefix(length))) }
            }
            let error = #expect(throws: KeyParsingError.self) { try parse(der + [0]) }
            #expect(error?.code == .malformedDER)
            // The outer SEQUENCE with an indefinite length and with a padded long-form length.
            let content = Array(der.dropFirst(der[1] < 0x80 ? 2 : 2 + Int(der[1] & 0x7f)))
            #expect(throws: KeyParsingError.self) { try parse([0x30, 0x80] + content + [0, 0]) }
            #expect(throws: KeyParsingError.self) { try parse([0x30, 0x83, 0x00, UInt8(content.count >> 8), UInt8(content.count & 0xff)] + content) }
            if content.count < 0x80 {
                #expect(throws: KeyParsingError.self) { try parse([0x30, 0x81, UInt8(content.count)] + content) }
            }
        }
    }

    @Test("RSA keys: sizes outside 2048...4096, even or tiny exponents, negative or padded integers throw")
    func rsaKeyValues() throws {
        func pkcs1(_ modulus: [UInt8], _ exponent: [UInt8]) -> String {
            Self.pem("RSA PUBLIC KEY", Self.der(0x30, Self.der(0x02, modulus) + Self.der(0x02, exponent)))
        }
        let odd: (Int) -> [UInt8] = { bytes in [0x00, 0xc5] + [UInt8](repeating: 0x5a, count: bytes - 2) + [0x01] }  // top bit set, odd
        let e: [UInt8] = [0x01, 0x00, 0x01]
        _ = try RSAPSS.PublicKey(pemRepresentation: pkcs1(odd(256), e))
        _ = try RSAPSS.PublicKey(pemRepresentation: pkcs1(odd(512), e))
        let cases: [(String, String)] = [
            (pkcs1(odd(128), e), "1024 bits"),
            (pkcs1(odd(513), e), "4104 bits"),
            (pkcs1(odd(256), [0x01, 0x00, 0x00]), "even exponent"),
            (pkcs1(odd(256), [0x01]), "exponent 1"),
            (pkcs1(odd(256), [0x00]), "exponent 0"),
            (pkcs1(Array(odd(256).dropLast()) + [0x02], e), "even modulus"),
            (pkcs1(Array(odd(256).dropFirst()), e), "negative modulus"),
            (pkcs1([0x00] + odd(256), e), "modulus with a redundant zero"),
            (pkcs1(odd(256), [0x00, 0x01, 0x00, 0x01]), "exponent with a redundant zero"),
            (pkcs1(odd(256), [0xff]), "negative exponent"),
        ]
        for (text, reason) in cases {
            #expect(throws: KeyParsingError.self, "\(reason)") { try RSAPSS.PublicKey(pemRepresentation: text) }
        }
    }

    @Test("ECDSA signatures: BER lengths, padded or negative integers, trailing bytes, r or s of 0 or n are false")
    func ecdsaSignatureEncodings() throws {
        let group = try Self.firstGroup(Self.ecdsa)
        let key = try P256.PublicKey(derRepresentation: try group.hex("publicKeyDer"))
        let test = try #require(group.cases.first { $0.result == "valid" })
        #expect(key.isValidSignature(derSignature: test.signature, for: test.message))
        var reader = Array(test.signature.dropFirst(2))
        let r = Array(reader[2..<(2 + Int(reader[1]))])
        reader.removeFirst(2 + Int(reader[1]))
        let s = Array(reader[2..<(2 + Int(reader[1]))])
        let sequence = { (content: [UInt8]) in Self.der(0x30, content) }
        #expect(key.isValidSignature(derSignature: sequence(Self.der(0x02, r) + Self.der(0x02, s)), for: test.message))
        let n = Hex.decode("00ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551")!
        let content = Self.der(0x02, r) + Self.der(0x02, s)
        let cases: [[UInt8]] = [
            [0x30, 0x81, UInt8(content.count)] + content,
            [0x30, 0x80] + content + [0, 0],
            sequence([0x02, 0x81, UInt8(r.count)] + r + Self.der(0x02, s)),
            sequence(Self.der(0x02, [0x00] + r) + Self.der(0x02, s)),
            sequence(Self.der(0x02, r) + Self.der(0x02, [0x00, 0x00] + s)),
            sequence(Self.der(0x02, [0xff] + r) + Self.der(0x02, s)),
            sequence(content) + [0x00],
            sequence(content + [0x05, 0x00]),
            sequence(Self.der(0x02, [0x00]) + Self.der(0x02, s)),
            sequence(Self.der(0x02, r) + Self.der(0x02, [0x00])),
            sequence(Self.der(0x02, n) + Self.der(0x02, s)),
            sequence(Self.der(0x02, r) + Self.der(0x02, n)),
            sequence(Self.der(0x02, r)),
            sequence(Self.der(0x02, r) + Self.der(0x04, s)),
            Self.der(0x31, content),
            [],
        ]
        for bytes in cases {
            #expect(!key.isValidSignature(derSignature: bytes, for: test.message), "\(Hex.encode(bytes))")
        }
    }

    @Test("random and mutated bytes never trap: parsers throw KeyParsingError, verification returns false")
    func garbage() throws {
        let ecGroup = try Self.firstGroup(Self.ecdsa), rsaGroup = try Self.firstGroup(Self.rsa)
        let ecDER = try ecGroup.hex("publicKeyDer"), rsaDER = try rsaGroup.hex("publicKeyDer")
        let ecKey = try P256.PublicKey(derRepresentation: ecDER), rsaKey = try RSAPSS.PublicKey(derRepresentation: rsaDER)
        let ecSignature = try #require(ecGroup.cases.first).signature, rsaSignature = try #require(rsaGroup.cases.first).signature
        var parsed = 0
        for round in 0..<600 {
            func mutate(_ bytes: [UInt8]) -> [UInt8] {
                var bytes = bytes
                for _ in 0..<Int.random(in: 1...4) where !bytes.isEmpty {
                    bytes[Int.random(in: 0..<bytes.count)] = UInt8.random(in: 0...255)
                }
                return bytes
            }
            let random = SecureRandom.bytes(Int.random(in: 0...600))
            for bytes in [random, mutate(ecDER), mutate(rsaDER)] {
                do { _ = try P256.PublicKey(derRepresentation: bytes); parsed += 1 } catch is KeyParsingError {}
                do { _ = try RSAPSS.PublicKey(derRepresentation: bytes); parsed += 1 } catch is KeyParsingError {}
                do { _ = try P256.PublicKey(x963Representation: bytes); parsed += 1 } catch is KeyParsingError {}
            }
            #expect(!ecKey.isValidSignature(derSignature: random, for: [UInt8(round & 0xff)]))
            #expect(!ecKey.isValidSignature(derSignature: mutate(ecSignature), for: [UInt8(round & 0xff)]))
            #expect(!rsaKey.isValidSignature(mutate(rsaSignature), for: [UInt8(round & 0xff)]))
            #expect(!rsaKey.isValidSignature(random, for: []))
        }
        // Some mutations (inside an RSA modulus, say) leave a valid key: the parsers were reached.
        #expect(parsed > 0)
    }
}
