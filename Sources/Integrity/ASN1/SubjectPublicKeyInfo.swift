/// X.509 SubjectPublicKeyInfo (RFC 5280 section 4.1.2.7):
/// `SEQUENCE { SEQUENCE { algorithm OID, parameters ANY OPTIONAL }, subjectPublicKey BIT STRING }`.
package struct SubjectPublicKeyInfo {
    /// The DER content of the algorithm's OBJECT IDENTIFIER.
    package let algorithm: ArraySlice<UInt8>
    /// The parameters element, still encoded (empty when absent).
    package let parameters: DERReader
    /// The key bytes of the BIT STRING.
    package let key: ArraySlice<UInt8>

    /// Object identifiers, as DER content bytes.
    package enum OID {
        /// 1.2.840.10045.2.1 id-ecPublicKey
        package static let ecPublicKey: [UInt8] = [0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01]
        /// 1.2.840.10045.3.1.7 prime256v1 (secp256r1)
        package static let prime256v1: [UInt8] = [0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07]
        /// 1.2.840.113549.1.1.1 rsaEncryption
        package static let rsaEncryption: [UInt8] = [0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01]

        /// A readable name for error messages.
        package static func name(_ content: ArraySlice<UInt8>) -> String {
            switch Array(content) {
            case ecPublicKey: "id-ecPublicKey"
            case prime256v1: "prime256v1"
            case rsaEncryption: "rsaEncryption"
            case [0x2b, 0x65, 0x70]: "Ed25519"
            case [0x2b, 0x81, 0x04, 0x00, 0x22]: "secp384r1"
            case [0x2b, 0x81, 0x04, 0x00, 0x23]: "secp521r1"
            case [0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0a]: "RSASSA-PSS"
            default: "OID " + Hex.encode(content)
            }
        }
    }

    /// Parses the whole of `der`.
    /// - Throws: ``KeyParsingError`` with code `malformedDER`.
    package init(der: [UInt8]) throws {
        var outer = DERReader(der)
        var info = try outer.readSequence()
        try outer.finish()
        var algorithmIdentifier = try info.readSequence()
        algorithm = try algorithmIdentifier.read(DERReader.Tag.objectIdentifier)
        parameters = algorithmIdentifier
        key = try info.readBitString()
        try info.finish()
    }
}
