/// Ed25519 signatures (RFC 8032), shaped like swift-crypto's `Curve25519.Signing`.
///
/// Signing is constant-time: the secret scalar and the nonce only enter field arithmetic without
/// data-dependent branches, a fixed-base multiplication whose table entries are picked by masked
/// scans of whole rows, and a scalar reduction by masked long division. Verification is strict:
/// it rejects S ≥ L, public keys that are not canonical encodings of curve points, and signatures
/// whose R does not re-encode exactly.
public enum Curve25519 {
    public enum Signing {
        /// Why a key could not be made or used.
        public struct KeyError: Error, Sendable, CustomStringConvertible, Equatable {
            public var description: String
        }

        /// A signing key: the 32-byte seed, with its expanded scalar and prefix.
        public struct PrivateKey: Sendable {
            /// The seed (RFC 8032's "private key").
            public let rawRepresentation: [UInt8]
            let scalar: [UInt8]
            let prefix: [UInt8]
            /// The matching public key.
            public let publicKey: PublicKey

            /// A new key from the kernel's random source.
            public init() {
                try! self.init(rawRepresentation: SecureRandom.bytes(32))
            }

            /// The key of a 32-byte seed.
            /// - Throws: ``KeyError`` for any other length.
            public init(rawRepresentation seed: [UInt8]) throws {
                guard seed.count == 32 else { throw KeyError(description: "an Ed25519 seed has 32 bytes, not \(seed.count)") }
                let hash = SHA512.hash(data: seed)
                var scalar = Array(hash[0..<32])
                scalar[0] &= 248
                scalar[31] &= 127
                scalar[31] |= 64
                rawRepresentation = seed
                self.scalar = scalar
                prefix = Array(hash[32..<64])
                publicKey = PublicKey(unchecked: EdwardsPoint.baseMultiple(scalar).encoding)
            }

            /// The 64-byte signature of `message`.
            /// - Throws: never for a valid key (kept throwing, as in swift-crypto).
            public func signature<Message: Sequence>(for message: Message) throws -> [UInt8] where Message.Element == UInt8 {
                let message = Array(message)
                var nonceHasher = SHA512()
                nonceHasher.update(data: prefix)
                nonceHasher.update(data: message)
                let r = Scalar.reduce(nonceHasher.finalize())
                let encodedR = EdwardsPoint.baseMultiple(r).encoding
                var challengeHasher = SHA512()
                challengeHasher.update(data: encodedR)
                challengeHasher.update(data: publicKey.rawRepresentation)
                challengeHasher.update(data: message)
                let k = Scalar.reduce(challengeHasher.finalize())
                return encodedR + Scalar.multiplyAdd(k, scalar, r)
            }
        }

        /// A verification key: 32 bytes, checked to be a canonical encoding of a curve point.
        public struct PublicKey: Sendable, Equatable {
            public let rawRepresentation: [UInt8]
            let point: EdwardsPoint?

            /// - Throws: ``KeyError`` when the bytes are not a valid public key.
            public init(rawRepresentation bytes: [UInt8]) throws {
                guard bytes.count == 32 else { throw KeyError(description: "an Ed25519 public key has 32 bytes, not \(bytes.count)") }
                guard let point = EdwardsPoint(encoding: bytes) else {
                    throw KeyError(description: "the bytes are not the canonical encoding of a curve point")
                }
                rawRepresentation = bytes
                self.point = point
            }

            init(unchecked bytes: [UInt8]) {
                rawRepresentation = bytes
                point = EdwardsPoint(encoding: bytes)
            }

            public static func == (lhs: PublicKey, rhs: PublicKey) -> Bool { lhs.rawRepresentation == rhs.rawRepresentation }

            /// True when `signature` is a valid signature of `message` by this key.
            public func isValidSignature<Message: Sequence>(_ signature: [UInt8], for message: Message) -> Bool where Message.Element == UInt8 {
                guard signature.count == 64, let point else { return false }
                let encodedR = Array(signature[0..<32]), s = Array(signature[32..<64])
                guard Scalar.isCanonical(s) else { return false }
                var hasher = SHA512()
                hasher.update(data: encodedR)
                hasher.update(data: rawRepresentation)
                hasher.update(data: message)
                let k = Scalar.reduce(hasher.finalize())
                let negatedA = EdwardsPoint(x: -point.x, y: point.y, z: point.z, t: -point.t)
                let check = EdwardsPoint.doubleMultiple(k, negatedA, s)
                return check.encoding == encodedR
            }
        }
    }
}
