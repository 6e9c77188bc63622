// libFuzzer target for the parsers of untrusted input: minisign public keys, secret keys and
// signature files (with their base64). Built and run by scripts/fuzz.
//
// A parse must either throw a FormatError or give a value that re-encodes to a file that parses
// to the same value; a parsed signature is then verified against a fixed key (which must not
// crash, whatever it says).

let fixedKey = Minisign.SecretKey()

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzMinisign(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let text = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    if let key = try? Minisign.PublicKey(text: text) {
        precondition((try? Minisign.PublicKey(text: key.text)) == key, "public key does not round-trip")
    }
    if let key = try? Minisign.SecretKey(text: text) {
        let again = try? Minisign.SecretKey(text: key.text)
        precondition(again?.keyID == key.keyID && again?.key.rawRepresentation == key.key.rawRepresentation, "secret key does not round-trip")
    }
    if let signature = try? Minisign.Signature(text: text) {
        precondition((try? Minisign.Signature(text: signature.text)) == signature, "signature does not round-trip")
        _ = try? signature.verify(Array(text.utf8), with: fixedKey.publicKey)
    }
    if let bytes = Base64.decode(text) {
        precondition(Base64.encode(bytes) == text, "base64 is not canonical")
    }
    return 0
}
