import Integrity

/// A public key as TUF metadata lists it: `{"keytype", "scheme", "keyval": {"public"}}`.
///
/// Supported: `ed25519`/`ed25519` (hex), `ecdsa` or `ecdsa-sha2-nistp256`/`ecdsa-sha2-nistp256`
/// (PEM SubjectPublicKeyInfo or hex of the uncompressed point; hex of DER signatures) and
/// `rsa`/`rsassa-pss-sha256` (PEM). A key of any other type parses, but no signature by it counts.
struct Key: Sendable {
    var keyType: String
    var scheme: String
    var publicValue: String

    init(_ value: CanonicalJSONValue?, context: String) throws(TUFError) {
        let fields = try Fields(value, context)
        keyType = try fields.string("keytype")
        scheme = try fields.string("scheme")
        publicValue = try Fields(.object(try fields.object("keyval")), context + ".keyval").string("public")
    }

    /// What makes two listed keys the same key, whatever ids they are listed under.
    var identity: String { keyType + "\u{0}" + scheme + "\u{0}" + publicValue }

    /// True when `signature` is a valid signature of `message` by this key.
    func isValidSignature(_ signature: [UInt8], for message: [UInt8]) -> Bool {
        switch (keyType, scheme) {
        case ("ed25519", "ed25519"):
            guard let raw = Hex.decode(publicValue), let key = try? Curve25519.Signing.PublicKey(rawRepresentation: raw) else { return false }
            return key.isValidSignature(signature, for: message)
        case ("ecdsa", "ecdsa-sha2-nistp256"), ("ecdsa-sha2-nistp256", "ecdsa-sha2-nistp256"):
            let key: P256.PublicKey?
            if publicValue.hasPrefix("-----BEGIN") {
                key = try? P256.PublicKey(pemRepresentation: publicValue)
            } else if let raw = Hex.decode(publicValue) {
                key = try? P256.PublicKey(x963Representation: raw)
            } else {
                key = nil
            }
            return key?.isValidSignature(derSignature: signature, for: message) ?? false
        case ("rsa", "rsassa-pss-sha256"):
            guard let key = try? RSAPSS.PublicKey(pemRepresentation: publicValue) else { return false }
            return key.isValidSignature(signature, for: message)
        default:
            return false
        }
    }
}

/// The keys a role trusts and how many of them must sign.
struct RoleKeys: Sendable {
    var keyIDs: [String]
    var threshold: Int

    init(_ fields: Fields) throws(TUFError) {
        keyIDs = try fields.uniqueStrings("keyids")
        threshold = Int(try fields.integer("threshold", minimum: 1))
    }
}
