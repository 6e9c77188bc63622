import CIntegrity

/// RSASSA-PSS (RFC 8017 section 8.1) with SHA-256 and MGF1-SHA-256: signature verification.
///
/// Keys are 2048 to 4096 bits with an odd public exponent of at least 3. Verification returns
/// `false`, never traps, for any signature bytes: a signature must be exactly as long as the
/// modulus, below it, and decode to an encoded message whose padding, trailer and salt check
/// out (EMSA-PSS-VERIFY, RFC 8017 section 9.1.2).
public enum RSAPSS {
    /// An RSA verification key.
    public struct PublicKey: Sendable, Equatable {
        /// The modulus, big-endian, without leading zero bytes.
        private let modulus: [UInt8]
        /// The public exponent, big-endian, without leading zero bytes.
        private let exponent: [UInt8]
        /// The modulus as little-endian 64-bit limbs, with its Montgomery constants.
        private let limbs: [UInt64]
        private let montgomeryR2: [UInt64]
        private let montgomeryN0: UInt64

        /// The number of bits in the modulus.
        public let bitCount: Int

        // MARK: - API

        /// Parses a PEM `PUBLIC KEY` block (SubjectPublicKeyInfo with rsaEncryption) or
        /// `RSA PUBLIC KEY` block (PKCS #1 RSAPublicKey).
        /// - Parameter pemRepresentation: the PEM text; whitespace around and inside it is allowed.
        /// - Throws: ``KeyParsingError`` when the text is not such a key of 2048...4096 bits.
        public init(pemRepresentation: String) throws {
            let (label, der) = try PEM.decode(pemRepresentation)
            switch label {
            case "PUBLIC KEY": try self.init(derRepresentation: der)
            case "RSA PUBLIC KEY": try self.init(pkcs1: der)
            default: throw KeyParsingError(.malformedPEM, "expected a PEM PUBLIC KEY or RSA PUBLIC KEY block, found \(label)")
            }
        }

        /// Parses a DER SubjectPublicKeyInfo with rsaEncryption (NULL parameters).
        /// - Parameter derRepresentation: the DER bytes, nothing after them.
        /// - Throws: ``KeyParsingError`` for malformed DER, another algorithm, or a key outside
        ///   2048...4096 bits or with an unusable exponent.
        public init(derRepresentation: [UInt8]) throws {
            let info = try SubjectPublicKeyInfo(der: derRepresentation)
            guard info.algorithm.elementsEqual(SubjectPublicKeyInfo.OID.rsaEncryption) else {
                throw KeyParsingError(.unsupportedAlgorithm, "expected an rsaEncryption public key, found \(SubjectPublicKeyInfo.OID.name(info.algorithm))")
            }
            var parameters = info.parameters
            try parameters.readNull()
            try parameters.finish()
            try self.init(pkcs1: Array(info.key))
        }

        /// Verifies an RSASSA-PSS signature with SHA-256 and MGF1-SHA-256.
        /// - Parameters:
        ///   - signature: the signature, exactly as many bytes as the modulus.
        ///   - message: the signed bytes (hashed here with SHA-256).
        ///   - saltLength: nil to accept the salt length the encoding carries (as TUF's
        ///     securesystemslib does); a number to require exactly that many salt bytes.
        /// - Returns: true only when the signature verifies.
        public func isValidSignature(_ signature: [UInt8], for message: [UInt8], saltLength: Int? = nil) -> Bool {
            guard signature.count == modulus.count, let encoded = publicOperation(signature) else { return false }
            return PSS.verify(encoded: encoded, messageHash: SHA256.hash(data: message).bytes,
                              encodedBits: bitCount - 1, saltLength: saltLength)
        }

        public static func == (lhs: PublicKey, rhs: PublicKey) -> Bool {
            lhs.modulus == rhs.modulus && lhs.exponent == rhs.exponent
        }

        // MARK: - Internals

        /// Parses a PKCS #1 RSAPublicKey: `SEQUENCE { modulus INTEGER, publicExponent INTEGER }`.
        init(pkcs1 der: [UInt8]) throws {
            var outer = DERReader(der)
            var sequence = try outer.readSequence()
            try outer.finish()
            let modulus = Array(try sequence.readUnsignedInteger())
            let exponent = Array(try sequence.readUnsignedInteger())
            try sequence.finish()
            let bitCount = modulus.isEmpty ? 0 : modulus.count * 8 - modulus[0].leadingZeroBitCount
            guard (2048...4096).contains(bitCount) else {
                throw KeyParsingError(.invalidKey, "the RSA modulus has \(bitCount) bits; 2048 to 4096 are supported")
            }
            guard modulus.last! & 1 == 1 else { throw KeyParsingError(.invalidKey, "the RSA modulus is even") }
            guard let lowest = exponent.last, lowest & 1 == 1, exponent != [1] else {
                throw KeyParsingError(.invalidKey, "the RSA public exponent must be odd and at least 3")
            }
            guard exponent.count < modulus.count || (exponent.count == modulus.count && exponent.lexicographicallyPrecedes(modulus)) else {
                throw KeyParsingError(.invalidKey, "the RSA public exponent is not below the modulus")
            }
            self.modulus = modulus
            self.exponent = exponent
            self.bitCount = bitCount
            limbs = Self.limbs(modulus, count: (modulus.count + 7) / 8)
            var r2 = [UInt64](repeating: 0, count: limbs.count)
            montgomeryN0 = ad_montgomery_setup(limbs, limbs.count, &r2)
            montgomeryR2 = r2
        }

        /// signature^e mod n as many bytes as the modulus, or nil when the signature is ≥ n.
        func publicOperation(_ signature: [UInt8]) -> [UInt8]? {
            let base = Self.limbs(signature, count: limbs.count)
            var result = [UInt64](repeating: 0, count: limbs.count)
            guard ad_montgomery_power(&result, base, exponent, exponent.count, limbs, limbs.count, montgomeryN0, montgomeryR2) == 1 else {
                return nil
            }
            var bytes = [UInt8](repeating: 0, count: modulus.count)
            for index in 0..<modulus.count {
                let bit = 8 * (modulus.count - 1 - index)
                bytes[index] = UInt8(truncatingIfNeeded: result[bit / 64] >> UInt64(bit % 64))
            }
            return bytes
        }

        /// Big-endian bytes as `count` little-endian limbs (bytes beyond them are dropped).
        static func limbs(_ bytes: [UInt8], count: Int) -> [UInt64] {
            var limbs = [UInt64](repeating: 0, count: count)
            for (offset, byte) in bytes.reversed().enumerated() where offset / 8 < count {
                limbs[offset / 8] |= UInt64(byte) << UInt64(8 * (offset % 8))
            }
            return limbs
        }
    }
}
