// libFuzzer target for the parsers of public keys: the strict DER reader, PEM, and the
// SubjectPublicKeyInfo, PKCS #1 and X9.63 forms P256 and RSAPSS take. Built and run by
// `scripts/fuzz keys`.
//
// Whatever the input, parsing must throw or succeed, never trap. DER that the reader walks
// completely must re-encode to exactly the input (DER has one encoding per value); a PEM block
// that decodes must decode the same after re-encoding.

/// Walks every element, descending into constructed ones; returns the re-encoding, or nil
/// when the reader refuses the bytes.
func walk(_ bytes: ArraySlice<UInt8>, depth: Int = 0) -> [UInt8]? {
    guard depth < 32 else { return nil }
    var reader = DERReader(bytes)
    var encoding: [UInt8] = []
    while !reader.isAtEnd {
        guard let (tag, content) = try? reader.readElement() else { return nil }
        guard let inner = tag & 0x20 != 0 ? walk(content, depth: depth + 1) : Array(content) else { return nil }
        encoding += [tag] + lengthBytes(inner.count) + inner
    }
    return encoding
}

func lengthBytes(_ count: Int) -> [UInt8] {
    if count < 0x80 { return [UInt8(count)] }
    var bytes: [UInt8] = []
    var value = count
    while value > 0 { bytes.insert(UInt8(value & 0xff), at: 0); value >>= 8 }
    return [0x80 | UInt8(bytes.count)] + bytes
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzKeys(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    if let encoding = walk(bytes[...]) {
        precondition(encoding == bytes, "DER accepted by the reader does not re-encode to itself")
    }
    var reader = DERReader(bytes)
    if let integer = try? reader.readUnsignedInteger() {
        precondition(integer.first != 0, "an unsigned INTEGER kept a leading zero")
    }
    _ = try? P256.PublicKey(derRepresentation: bytes)
    _ = try? P256.PublicKey(x963Representation: bytes)
    _ = try? RSAPSS.PublicKey(derRepresentation: bytes)
    let text = String(decoding: bytes, as: UTF8.self)
    _ = try? P256.PublicKey(pemRepresentation: text)
    _ = try? RSAPSS.PublicKey(pemRepresentation: text)
    if let (label, der) = try? PEM.decode(text) {
        let again = try? PEM.decode("-----BEGIN \(label)-----\n\(Base64.encode(der))\n-----END \(label)-----\n")
        precondition(again?.label == label && again?.der == der, "PEM does not round-trip")
    }
    return 0
}
