// libFuzzer target for the strict JSON parser and the canonical encoder (TUF metadata is
// untrusted input until its signatures verify). Built and run by scripts/fuzz.
//
// A parse must either throw a CanonicalJSONError or give a value whose canonical encoding
// parses back to the same value and re-encodes to the same bytes (the encoding is a fixed
// point); a value holding a non-integer number must be refused by the encoder, nothing else.

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzCanonicalJSON(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    guard let value = try? CanonicalJSON.parse(bytes) else { return 0 }
    guard let encoded = try? CanonicalJSON.encode(value) else {
        precondition(containsNonInteger(value), "the encoder refused a value with only integers")
        return 0
    }
    guard let again = try? CanonicalJSON.parse(encoded) else {
        preconditionFailure("canonical output does not parse: \(String(decoding: encoded, as: UTF8.self))")
    }
    precondition(again == value, "canonical output parses to a different value")
    precondition((try? CanonicalJSON.encode(again)) == encoded, "canonical encoding is not a fixed point")
    return 0
}

private func containsNonInteger(_ value: CanonicalJSONValue) -> Bool {
    switch value {
    case .number: return true
    case .array(let elements): return elements.contains(where: containsNonInteger)
    case .object(let members): return members.values.contains(where: containsNonInteger)
    default: return false
    }
}
