import Foundation
import Integrity
import Testing

/// openssl makes the keys and signatures; we must accept them and refuse them altered.
@Suite("Cross-checks with openssl: ECDSA P-256 and RSASSA-PSS",
       .enabled(if: FileManager.default.isExecutableFile(atPath: openssl), "openssl is not installed (scripts/test installs it)"))
struct SignatureCrossCheckTests {
    /// Runs openssl in `directory`, expecting success; returns its standard output.
    @discardableResult
    static func run(_ arguments: [String], in directory: URL) throws -> Data {
        let result = try tool(openssl, arguments, in: directory)
        try #require(result.status == 0, "openssl \(arguments.joined(separator: " ")) failed")
        return result.output
    }

    static func read(_ name: String, in directory: URL) throws -> [UInt8] {
        Array(try Data(contentsOf: directory.appendingPathComponent(name)))
    }

    static func flippingOneBit(_ bytes: [UInt8]) -> [UInt8] {
        var altered = bytes
        let bit = Int.random(in: 0..<(bytes.count * 8))
        altered[bit / 8] ^= 1 << UInt8(bit % 8)
        return altered
    }

    @Test("P-256: 40 random messages signed by openssl dgst -sha256 -sign verify; a flipped bit does not")
    func p256() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        try Self.run(["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", "key.pem"], in: directory)
        try Self.run(["pkey", "-in", "key.pem", "-pubout", "-out", "pub.pem"], in: directory)
        try Self.run(["pkey", "-in", "key.pem", "-pubout", "-outform", "DER", "-out", "pub.der"], in: directory)
        try Self.run(["ec", "-in", "key.pem", "-pubout", "-conv_form", "compressed", "-outform", "DER", "-out", "compressed.der"], in: directory)
        let pem = try String(contentsOf: directory.appendingPathComponent("pub.pem"), encoding: .utf8)
        let key = try P256.PublicKey(pemRepresentation: pem)
        #expect(try P256.PublicKey(derRepresentation: Self.read("pub.der", in: directory)) == key)
        #expect(try P256.PublicKey(derRepresentation: Self.read("compressed.der", in: directory)) == key)
        #expect(throws: KeyParsingError.self) { try RSAPSS.PublicKey(pemRepresentation: pem) }

        for index in 0..<40 {
            let message = SecureRandom.bytes(Int.random(in: 0...300))
            try Data(message).write(to: directory.appendingPathComponent("message"))
            try Self.run(["dgst", "-sha256", "-sign", "key.pem", "-out", "signature", "message"], in: directory)
            let signature = try Self.read("signature", in: directory)
            #expect(key.isValidSignature(derSignature: signature, for: message), "message \(index)")
            #expect(!key.isValidSignature(derSignature: Self.flippingOneBit(signature), for: message), "message \(index)")
            if !message.isEmpty {
                #expect(!key.isValidSignature(derSignature: signature, for: Self.flippingOneBit(message)), "message \(index)")
            }
        }
    }

    /// 2052 bits: a modulus that fills neither its top limb nor its top byte; 4096 bits: the
    /// largest size taken. (openssl makes only even sizes, so the 8k + 1 bits whose modulus has a
    /// byte more than the encoded message cannot be made here.)
    @Test("RSA-PSS: random messages signed by openssl with salt lengths 32, digest (-1) and max verify; a flipped bit does not",
          arguments: [2048, 2052, 3072, 4096])
    func rsaPSS(bits: Int) throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        try Self.run(["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:\(bits)", "-out", "key.pem"], in: directory)
        try Self.run(["pkey", "-in", "key.pem", "-pubout", "-out", "pub.pem"], in: directory)
        try Self.run(["pkey", "-in", "key.pem", "-pubout", "-outform", "DER", "-out", "pub.der"], in: directory)
        try Self.run(["rsa", "-in", "key.pem", "-RSAPublicKey_out", "-out", "pkcs1.pem"], in: directory)
        let pem = try String(contentsOf: directory.appendingPathComponent("pub.pem"), encoding: .utf8)
        let key = try RSAPSS.PublicKey(pemRepresentation: pem)
        #expect(key.bitCount == bits)
        #expect(try RSAPSS.PublicKey(derRepresentation: Self.read("pub.der", in: directory)) == key)
        let pkcs1 = try String(contentsOf: directory.appendingPathComponent("pkcs1.pem"), encoding: .utf8)
        #expect(pkcs1.hasPrefix("-----BEGIN RSA PUBLIC KEY-----"))
        #expect(try RSAPSS.PublicKey(pemRepresentation: pkcs1) == key)
        #expect(throws: KeyParsingError.self) { try P256.PublicKey(pemRepresentation: pem) }

        // openssl's "max" salt fills the encoded message: emLen - hLen - 2 bytes.
        let maximum = (bits - 1 + 7) / 8 - 32 - 2
        for (option, saltLength) in [("32", 32), ("-1", 32), ("max", maximum)] {
            for index in 0..<12 {
                let message = SecureRandom.bytes(Int.random(in: 0...300))
                try Data(message).write(to: directory.appendingPathComponent("message"))
                try Self.run(["dgst", "-sha256", "-sign", "key.pem", "-sigopt", "rsa_padding_mode:pss",
                              "-sigopt", "rsa_pss_saltlen:\(option)", "-out", "signature", "message"], in: directory)
                let signature = try Self.read("signature", in: directory)
                let label = "salt \(option), message \(index)"
                #expect(key.isValidSignature(signature, for: message), "\(label)")
                #expect(key.isValidSignature(signature, for: message, saltLength: saltLength), "\(label)")
                #expect(!key.isValidSignature(signature, for: message, saltLength: saltLength == 32 ? maximum : 32), "\(label)")
                #expect(!key.isValidSignature(Self.flippingOneBit(signature), for: message), "\(label)")
                if !message.isEmpty {
                    #expect(!key.isValidSignature(signature, for: Self.flippingOneBit(message)), "\(label)")
                }
            }
        }
        // A PKCS #1 v1.5 signature by the same key is not a PSS signature.
        try Data([1, 2, 3]).write(to: directory.appendingPathComponent("message"))
        try Self.run(["dgst", "-sha256", "-sign", "key.pem", "-out", "signature", "message"], in: directory)
        #expect(!key.isValidSignature(try Self.read("signature", in: directory), for: [1, 2, 3]))
    }
}
