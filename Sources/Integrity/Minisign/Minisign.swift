/// minisign's key and signature files (https://jedisct1.github.io/minisign/), read and written
/// byte for byte as minisign does.
///
/// - Public key: `untrusted comment: …` then base64("Ed" ‖ key id (8) ‖ public key (32)).
/// - Secret key: `untrusted comment: …` then base64("Ed" ‖ kdf "\0\0" ‖ "B2" ‖ salt (32) ‖
///   opslimit (8) ‖ memlimit (8) ‖ key id (8) ‖ seed (32) ‖ public key (32) ‖ BLAKE2b-256
///   checksum of "Ed" ‖ key id ‖ seed ‖ public key, or zeros as `minisign -G -W` writes it). Keys
///   encrypted with scrypt ("Sc") are refused with a message saying so.
/// - Signature: `untrusted comment: …`, base64(algorithm ‖ key id ‖ signature (64)),
///   `trusted comment: …`, base64(global signature (64)). "Ed" signs the file itself (legacy),
///   "ED" its BLAKE2b-512 digest (prehashed); the global signature covers signature ‖ trusted comment.
public enum Minisign {
    /// A file that is not what it should be; the message says what is wrong.
    public struct FormatError: Error, Sendable, CustomStringConvertible, Equatable {
        public var description: String
        init(_ description: String) { self.description = description }
    }

    /// The 8-byte id that ties signatures to keys, shown as 16 uppercase hex digits (as minisign does).
    public struct KeyID: Sendable, Equatable, CustomStringConvertible {
        public let bytes: [UInt8]
        public var description: String { Hex.encode(bytes.reversed()).uppercased() }
    }

    public struct PublicKey: Sendable, Equatable {
        public let keyID: KeyID
        public let key: Curve25519.Signing.PublicKey

        public init(keyID: KeyID, key: Curve25519.Signing.PublicKey) {
            self.keyID = keyID
            self.key = key
        }

        /// Parses a public key file, or the bare base64 line.
        public init(text: String) throws(FormatError) {
            let lines = Minisign.lines(text)
            guard let line = lines.first(where: { !$0.hasPrefix("untrusted comment:") }) else {
                throw FormatError("the public key file is empty")
            }
            let bytes = try Minisign.decode(line, what: "public key", count: 42)
            guard bytes[0..<2] == [0x45, 0x64] else { throw FormatError("the public key is for algorithm '\(Minisign.printable(bytes[0..<2]))', not Ed25519 ('Ed')") }
            do {
                key = try Curve25519.Signing.PublicKey(rawRepresentation: Array(bytes[10..<42]))
            } catch {
                throw FormatError("the public key is not valid: \(error)")
            }
            keyID = KeyID(bytes: Array(bytes[2..<10]))
        }

        /// The file's text.
        public var text: String {
            "untrusted comment: minisign public key \(keyID)\n" + Base64.encode([0x45, 0x64] + keyID.bytes + key.rawRepresentation) + "\n"
        }
    }

    public struct SecretKey: Sendable {
        public let keyID: KeyID
        public let key: Curve25519.Signing.PrivateKey
        public var publicKey: PublicKey { PublicKey(keyID: keyID, key: key.publicKey) }

        /// A new key pair with a random key id.
        public init() {
            keyID = KeyID(bytes: SecureRandom.bytes(8))
            key = Curve25519.Signing.PrivateKey()
        }

        /// Parses an unencrypted secret key file.
        public init(text: String) throws(FormatError) {
            let lines = Minisign.lines(text)
            guard let line = lines.first(where: { !$0.hasPrefix("untrusted comment:") }) else {
                throw FormatError("the secret key file is empty")
            }
            let bytes = try Minisign.decode(line, what: "secret key", count: 158)
            guard bytes[0..<2] == [0x45, 0x64] else { throw FormatError("the secret key is for algorithm '\(Minisign.printable(bytes[0..<2]))', not Ed25519 ('Ed')") }
            if bytes[2..<4] == [0x53, 0x63] {
                throw FormatError("the secret key is encrypted with a password (scrypt); autodev reads unencrypted keys only: create one with 'autodev release keygen' or 'minisign -G -W'")
            }
            guard bytes[2..<4] == [0, 0] else { throw FormatError("the secret key uses an unknown key derivation '\(Minisign.printable(bytes[2..<4]))'") }
            guard bytes[4..<6] == [0x42, 0x32] else { throw FormatError("the secret key uses an unknown checksum '\(Minisign.printable(bytes[4..<6]))'") }
            let id = Array(bytes[54..<62]), seed = Array(bytes[62..<94]), publicBytes = Array(bytes[94..<126])
            // minisign -W leaves the checksum of an unencrypted key zero; any other must match.
            let stored = Array(bytes[126..<158])
            let checksum = BLAKE2b.hash(data: [0x45, 0x64] + id + seed + publicBytes, digestByteCount: 32)
            guard stored.allSatisfy({ $0 == 0 }) || ConstantTime.equals(checksum, stored) else {
                throw FormatError("the secret key's checksum does not match: the file is damaged")
            }
            let key: Curve25519.Signing.PrivateKey
            do { key = try Curve25519.Signing.PrivateKey(rawRepresentation: seed) } catch { throw FormatError("\(error)") }
            guard key.publicKey.rawRepresentation == publicBytes else { throw FormatError("the secret key's public half does not match its seed") }
            self.key = key
            keyID = KeyID(bytes: id)
        }

        /// The file's text (unencrypted).
        public var text: String {
            let body: [UInt8] = [0x45, 0x64] + keyID.bytes + key.rawRepresentation + key.publicKey.rawRepresentation
            let checksum = BLAKE2b.hash(data: body, digestByteCount: 32)
            let bytes: [UInt8] = [0x45, 0x64, 0, 0, 0x42, 0x32] + [UInt8](repeating: 0, count: 48)
                + keyID.bytes + key.rawRepresentation + key.publicKey.rawRepresentation + checksum
            return "untrusted comment: minisign secret key\n" + Base64.encode(bytes) + "\n"
        }

        /// Signs `message`: prehashed ("ED") unless `legacy`, with a trusted comment.
        public func sign(_ message: [UInt8], trustedComment: String, legacy: Bool = false) throws -> Signature {
            let algorithm: [UInt8] = legacy ? [0x45, 0x64] : [0x45, 0x44]
            let signature = try key.signature(for: legacy ? message : BLAKE2b.hash(data: message))
            let global = try key.signature(for: signature + Array(trustedComment.utf8))
            return Signature(algorithm: algorithm, keyID: keyID, signature: signature,
                             untrustedComment: "signature from autodev secret key", trustedComment: trustedComment,
                             globalSignature: global)
        }
    }

    public struct Signature: Sendable, Equatable {
        public let algorithm: [UInt8]
        public let keyID: KeyID
        public let signature: [UInt8]
        public let untrustedComment: String
        public let trustedComment: String
        public let globalSignature: [UInt8]

        public var isPrehashed: Bool { algorithm == [0x45, 0x44] }

        /// Parses a `.minisig` file.
        public init(text: String) throws(FormatError) {
            let lines = Minisign.lines(text)
            guard lines.count >= 4 else { throw FormatError("the signature file is truncated: it has \(lines.count) of 4 lines") }
            guard lines[0].hasPrefix("untrusted comment:") else { throw FormatError("the signature file does not start with an untrusted comment") }
            let bytes = try Minisign.decode(lines[1], what: "signature", count: 74)
            guard bytes[0..<2] == [0x45, 0x64] || bytes[0..<2] == [0x45, 0x44] else {
                throw FormatError("the signature is for algorithm '\(Minisign.printable(bytes[0..<2]))', not Ed25519 ('Ed' or 'ED')")
            }
            let prefix = "trusted comment: "
            guard lines[2].hasPrefix(prefix) else { throw FormatError("the signature file has no trusted comment") }
            algorithm = Array(bytes[0..<2])
            keyID = KeyID(bytes: Array(bytes[2..<10]))
            signature = Array(bytes[10..<74])
            untrustedComment = String(lines[0].dropFirst("untrusted comment:".count)).trimmingLeadingSpace()
            trustedComment = String(lines[2].dropFirst(prefix.count))
            globalSignature = try Minisign.decode(lines[3], what: "global signature", count: 64)
        }

        init(algorithm: [UInt8], keyID: KeyID, signature: [UInt8], untrustedComment: String, trustedComment: String, globalSignature: [UInt8]) {
            self.algorithm = algorithm
            self.keyID = keyID
            self.signature = signature
            self.untrustedComment = untrustedComment
            self.trustedComment = trustedComment
            self.globalSignature = globalSignature
        }

        /// The file's text.
        public var text: String {
            "untrusted comment: \(untrustedComment)\n" + Base64.encode(algorithm + keyID.bytes + signature) + "\n"
                + "trusted comment: \(trustedComment)\n" + Base64.encode(globalSignature) + "\n"
        }

        /// Checks the signature of `message` and of the trusted comment with `publicKey`.
        /// - Throws: ``FormatError`` naming what did not verify.
        public func verify(_ message: [UInt8], with publicKey: PublicKey) throws(FormatError) {
            guard keyID == publicKey.keyID else {
                throw FormatError("the signature was made by key \(keyID), not by this public key (\(publicKey.keyID))")
            }
            guard publicKey.key.isValidSignature(signature, for: isPrehashed ? BLAKE2b.hash(data: message) : message) else {
                throw FormatError("signature verification failed: the file is not what was signed")
            }
            guard publicKey.key.isValidSignature(globalSignature, for: signature + Array(trustedComment.utf8)) else {
                throw FormatError("the trusted comment's signature does not verify: the comment was altered")
            }
        }
    }

    // MARK: - Internals

    static func lines(_ text: String) -> [String] {
        text.split(separator: "\n", omittingEmptySubsequences: false).map { $0.hasSuffix("\r") ? String($0.dropLast()) : String($0) }
            .filter { !$0.isEmpty }
    }

    static func decode(_ line: String, what: String, count: Int) throws(FormatError) -> [UInt8] {
        guard let bytes = Base64.decode(line) else { throw FormatError("the \(what) is not valid base64") }
        guard bytes.count == count else {
            throw FormatError("the \(what) has \(bytes.count) bytes where \(count) were expected (\(bytes.count < count ? "truncated" : "oversized"))")
        }
        return bytes
    }

    static func printable(_ bytes: ArraySlice<UInt8>) -> String {
        String(decoding: bytes.map { (32..<127).contains($0) ? $0 : UInt8(ascii: "?") }, as: UTF8.self)
    }
}

extension String {
    fileprivate func trimmingLeadingSpace() -> String { String(drop { $0 == " " }) }
}
