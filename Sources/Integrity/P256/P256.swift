import CIntegrity

/// ECDSA over NIST P-256 (secp256r1) with SHA-256: signature verification, shaped like
/// swift-crypto's `P256.Signing`.
///
/// Verification is strict and total: it returns `false`, never traps, for any signature bytes,
/// and accepts only a DER `SEQUENCE { r INTEGER, s INTEGER }` with 0 < r, s < n and nothing
/// after it. Public keys are checked to be points on the curve when they are made, so a
/// ``P256/PublicKey`` always holds a valid point (never the point at infinity).
public enum P256 {
    /// A P-256 verification key.
    public struct PublicKey: Sendable, Equatable {
        /// The uncompressed point: x and y, 32 bytes each, big-endian.
        private let x: [UInt8]
        private let y: [UInt8]

        // MARK: - API

        /// Parses a PEM `PUBLIC KEY` block (a SubjectPublicKeyInfo with id-ecPublicKey and
        /// prime256v1).
        /// - Parameter pemRepresentation: the PEM text; whitespace around and inside it is allowed.
        /// - Throws: ``KeyParsingError`` when the text is not such a key.
        public init(pemRepresentation: String) throws {
            let (label, der) = try PEM.decode(pemRepresentation)
            guard label == "PUBLIC KEY" else {
                throw KeyParsingError(.malformedPEM, "expected a PEM PUBLIC KEY block, found \(label)")
            }
            try self.init(derRepresentation: der)
        }

        /// Parses a DER SubjectPublicKeyInfo with id-ecPublicKey and prime256v1.
        /// - Parameter derRepresentation: the DER bytes, nothing after them.
        /// - Throws: ``KeyParsingError`` for malformed DER, another algorithm or curve, or a point
        ///   that is not on P-256.
        public init(derRepresentation: [UInt8]) throws {
            let info = try SubjectPublicKeyInfo(der: derRepresentation)
            guard info.algorithm.elementsEqual(SubjectPublicKeyInfo.OID.ecPublicKey) else {
                throw KeyParsingError(.unsupportedAlgorithm, "expected an EC public key, found \(SubjectPublicKeyInfo.OID.name(info.algorithm))")
            }
            var parameters = info.parameters
            let curve = try parameters.read(DERReader.Tag.objectIdentifier)
            try parameters.finish()
            guard curve.elementsEqual(SubjectPublicKeyInfo.OID.prime256v1) else {
                throw KeyParsingError(.unsupportedAlgorithm, "expected the curve prime256v1, found \(SubjectPublicKeyInfo.OID.name(curve))")
            }
            try self.init(x963Representation: Array(info.key))
        }

        /// Parses an ANSI X9.63 point: `0x04 || X || Y` (65 bytes), or compressed
        /// `0x02 || X` / `0x03 || X` (33 bytes, the prefix giving y's parity).
        /// - Parameter x963Representation: the point's bytes.
        /// - Throws: ``KeyParsingError`` for another length or prefix, coordinates ≥ p, or a point
        ///   not on the curve (the point at infinity has no such encoding and is refused too).
        public init(x963Representation bytes: [UInt8]) throws {
            switch (bytes.first, bytes.count) {
            case (0x04, 65):
                let x = Array(bytes[1..<33]), y = Array(bytes[33..<65])
                guard ad_p256_is_on_curve(x, y) == 1 else {
                    throw KeyParsingError(.invalidKey, "the public key is not a point on P-256")
                }
                self.x = x
                self.y = y
            case (0x02, 33), (0x03, 33):
                let x = Array(bytes[1..<33])
                var y = [UInt8](repeating: 0, count: 32)
                guard ad_p256_decompress(x, bytes[0] == 0x03 ? 1 : 0, &y) == 1 else {
                    throw KeyParsingError(.invalidKey, "the compressed public key is not a point on P-256")
                }
                self.x = x
                self.y = y
            default:
                throw KeyParsingError(.invalidKey, "a P-256 point is 65 bytes starting 04 or 33 bytes starting 02 or 03, not \(bytes.count) bytes"
                    + (bytes.first.map { " starting \(Hex.encode([$0]))" } ?? ""))
            }
        }

        /// Verifies an ECDSA signature over SHA-256(`message`).
        /// - Parameters:
        ///   - derSignature: ASN.1 DER `SEQUENCE { r INTEGER, s INTEGER }`.
        ///   - message: the signed bytes (hashed here with SHA-256).
        /// - Returns: true only for a strict DER signature with 0 < r, s < n that verifies.
        public func isValidSignature(derSignature: [UInt8], for message: [UInt8]) -> Bool {
            guard let (r, s) = Self.scalars(derSignature: derSignature) else { return false }
            let digest = SHA256.hash(data: message).bytes
            return ad_p256_verify(x, y, digest, r, s) == 1
        }

        // MARK: - Internals

        /// r and s as 32 big-endian bytes each, or nil when the signature is not strict DER of
        /// two positive integers of at most 256 bits (the range against n is checked in C).
        static func scalars(derSignature: [UInt8]) -> (r: [UInt8], s: [UInt8])? {
            var outer = DERReader(derSignature)
            guard var sequence = try? outer.readSequence(), outer.isAtEnd,
                  let r = try? sequence.readUnsignedInteger(), let s = try? sequence.readUnsignedInteger(),
                  sequence.isAtEnd, !r.isEmpty, !s.isEmpty, r.count <= 32, s.count <= 32
            else { return nil }
            return ([UInt8](repeating: 0, count: 32 - r.count) + r, [UInt8](repeating: 0, count: 32 - s.count) + s)
        }
    }
}
