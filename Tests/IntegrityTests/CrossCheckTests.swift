import Foundation
import Integrity
import Testing

/// Runs a tool; returns its exit status and standard output.
@discardableResult
func tool(_ path: String, _ arguments: [String], in directory: URL? = nil) throws -> (status: Int32, output: Data) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: path)
    process.arguments = arguments
    if let directory { process.currentDirectoryURL = directory }
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = FileHandle.nullDevice
    process.standardInput = FileHandle.nullDevice
    try process.run()
    let output = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, output)
}

func temporaryDirectory() throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("autodev-crypto-\(UUID().uuidString.prefix(8))")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}

let openssl = "/usr/bin/openssl"
let minisign = "/usr/bin/minisign"

@Suite("Cross-checks with openssl and minisign")
struct CrossCheckTests {
    /// A PEM private key for openssl from a 32-byte seed (PKCS #8, RFC 8410).
    static func pem(seed: [UInt8]) -> String {
        let der = Hex.decode("302e020100300506032b657004220420")! + seed
        return "-----BEGIN PRIVATE KEY-----\n\(Base64.encode(der))\n-----END PRIVATE KEY-----\n"
    }

    static func pem(publicKey: [UInt8]) -> String {
        let der = Hex.decode("302a300506032b6570032100")! + publicKey
        return "-----BEGIN PUBLIC KEY-----\n\(Base64.encode(der))\n-----END PUBLIC KEY-----\n"
    }

    @Test("openssl and we make the same signatures for 200 random keys and messages, and accept each other's",
          .enabled(if: FileManager.default.isExecutableFile(atPath: openssl), "openssl is not installed (scripts/test installs it)"))
    func openSSL() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        for index in 0..<200 {
            let key = Curve25519.Signing.PrivateKey()
            // openssl pkeyutl -rawin cannot read an empty input; the empty message is RFC 8032's test 1.
            let message = SecureRandom.bytes(Int.random(in: 1...300))
            let base = directory.appendingPathComponent("\(index)")
            try Data(message).write(to: base.appendingPathExtension("msg"))
            try Self.pem(seed: key.rawRepresentation).write(to: base.appendingPathExtension("key"), atomically: true, encoding: .utf8)
            try Self.pem(publicKey: key.publicKey.rawRepresentation).write(to: base.appendingPathExtension("pub"), atomically: true, encoding: .utf8)

            let theirs = try tool(openssl, ["pkeyutl", "-sign", "-inkey", base.appendingPathExtension("key").path, "-rawin",
                                            "-in", base.appendingPathExtension("msg").path])
            #expect(theirs.status == 0)
            #expect(key.publicKey.isValidSignature(Array(theirs.output), for: message), "case \(index): openssl's signature rejected")

            let ours = try key.signature(for: message)
            #expect(ours == Array(theirs.output), "case \(index): signatures differ (Ed25519 is deterministic)")
            try Data(ours).write(to: base.appendingPathExtension("sig"))
            let verified = try tool(openssl, ["pkeyutl", "-verify", "-pubin", "-inkey", base.appendingPathExtension("pub").path,
                                              "-rawin", "-in", base.appendingPathExtension("msg").path,
                                              "-sigfile", base.appendingPathExtension("sig").path])
            #expect(verified.status == 0, "case \(index): openssl rejected our signature")
        }
    }

    @Test("minisign -V accepts our signatures, legacy and prehashed, and we accept minisign -S's",
          .enabled(if: FileManager.default.isExecutableFile(atPath: minisign), "minisign is not installed (scripts/test installs it)"))
    func minisignBothWays() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = directory.appendingPathComponent("release.bin")
        let message = SecureRandom.bytes(70_000)
        try Data(message).write(to: file)

        // Ours → minisign.
        let secret = Minisign.SecretKey()
        try secret.publicKey.text.write(to: directory.appendingPathComponent("our.pub"), atomically: true, encoding: .utf8)
        try secret.text.write(to: directory.appendingPathComponent("our.key"), atomically: true, encoding: .utf8)
        for legacy in [false, true] {
            let signature = try secret.sign(message, trustedComment: "timestamp:1\tfile:release.bin", legacy: legacy)
            try signature.text.write(to: directory.appendingPathComponent("ours.minisig"), atomically: true, encoding: .utf8)
            let result = try tool(minisign, ["-V", "-p", "our.pub", "-m", "release.bin", "-x", "ours.minisig"], in: directory)
            #expect(result.status == 0, "minisign rejected our \(legacy ? "legacy" : "prehashed") signature")
        }
        // minisign can sign with our secret key file.
        #expect(try tool(minisign, ["-S", "-s", "our.key", "-m", "release.bin", "-x", "by-our-key.minisig"], in: directory).status == 0)
        let byOurKey = try Minisign.Signature(text: String(contentsOf: directory.appendingPathComponent("by-our-key.minisig"), encoding: .utf8))
        try byOurKey.verify(message, with: secret.publicKey)

        // minisign → ours, with its own (unencrypted) key.
        #expect(try tool(minisign, ["-G", "-W", "-p", "theirs.pub", "-s", "theirs.key"], in: directory).status == 0)
        let theirPublic = try Minisign.PublicKey(text: String(contentsOf: directory.appendingPathComponent("theirs.pub"), encoding: .utf8))
        let theirSecret = try Minisign.SecretKey(text: String(contentsOf: directory.appendingPathComponent("theirs.key"), encoding: .utf8))
        #expect(theirSecret.publicKey == theirPublic)
        for (flags, prehashed) in [([String](), true), (["-l"], false)] {
            let signed = try tool(minisign, ["-S"] + flags + ["-s", "theirs.key", "-m", "release.bin", "-x", "theirs.minisig", "-t", "a comment"], in: directory)
            #expect(signed.status == 0)
            let signature = try Minisign.Signature(text: String(contentsOf: directory.appendingPathComponent("theirs.minisig"), encoding: .utf8))
            #expect(signature.isPrehashed == prehashed)
            #expect(signature.trustedComment == "a comment")
            try signature.verify(message, with: theirPublic)
            #expect(throws: Minisign.FormatError.self) { try signature.verify(message + [0], with: theirPublic) }
            #expect(throws: Minisign.FormatError.self) { try signature.verify(message, with: secret.publicKey) }
        }
    }
}

@Suite("minisign files: bad input")
struct MinisignFormatTests {
    static let secret = Minisign.SecretKey()

    @Test("truncated, oversized, wrong-algorithm and non-base64 files are refused with the reason")
    func badFiles() throws {
        let publicLine = Self.secret.publicKey.text.split(separator: "\n")[1]
        let bytes = Base64.decode(publicLine)!
        let cases: [(String, String)] = [
            ("untrusted comment: x\n" + Base64.encode(Array(bytes.prefix(30))), "truncated"),
            ("untrusted comment: x\n" + Base64.encode(bytes + [1, 2, 3]), "oversized"),
            ("untrusted comment: x\n" + Base64.encode([0x58, 0x58] + bytes.dropFirst(2)), "not Ed25519"),
            ("untrusted comment: x\nnot base64 at all!", "not valid base64"),
            ("", "empty"),
        ]
        for (text, reason) in cases {
            let error = #expect(throws: Minisign.FormatError.self) { try Minisign.PublicKey(text: text) }
            #expect(error?.description.contains(reason) == true, "\(error?.description ?? "no error") should say \(reason)")
        }
        let signature = try Self.secret.sign([1, 2, 3], trustedComment: "t")
        var lines = signature.text.split(separator: "\n").map(String.init)
        #expect(throws: Minisign.FormatError.self) { try Minisign.Signature(text: lines.prefix(3).joined(separator: "\n")) }
        lines[1] = String(lines[1].dropLast(4))
        let error = #expect(throws: Minisign.FormatError.self) { try Minisign.Signature(text: lines.joined(separator: "\n")) }
        #expect(error?.description.contains("truncated") == true)
    }

    @Test("a signature by another key is refused naming both key ids")
    func wrongKey() throws {
        let other = Minisign.SecretKey()
        let signature = try Self.secret.sign([1, 2, 3], trustedComment: "t")
        let error = #expect(throws: Minisign.FormatError.self) { try signature.verify([1, 2, 3], with: other.publicKey) }
        #expect(error?.description == "the signature was made by key \(Self.secret.keyID), not by this public key (\(other.keyID))")
    }

    @Test("an altered trusted comment is caught by the global signature")
    func alteredComment() throws {
        let signature = try Self.secret.sign([1, 2, 3], trustedComment: "version 1.0")
        let altered = try Minisign.Signature(text: signature.text.replacingOccurrences(of: "version 1.0", with: "version 9.9"))
        let error = #expect(throws: Minisign.FormatError.self) { try altered.verify([1, 2, 3], with: Self.secret.publicKey) }
        #expect(error?.description.contains("comment was altered") == true)
    }

    @Test("a secret key round-trips, and a damaged one is caught by its checksum")
    func secretKeys() throws {
        let reread = try Minisign.SecretKey(text: Self.secret.text)
        #expect(reread.keyID == Self.secret.keyID)
        #expect(reread.key.rawRepresentation == Self.secret.key.rawRepresentation)
        var bytes = Base64.decode(Self.secret.text.split(separator: "\n")[1])!
        bytes[70] ^= 1
        let error = #expect(throws: Minisign.FormatError.self) {
            try Minisign.SecretKey(text: "untrusted comment: x\n" + Base64.encode(bytes))
        }
        #expect(error?.description.contains("checksum does not match") == true)
    }
}
