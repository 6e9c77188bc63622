// libFuzzer target for the strict JSON parser and the canonical encoder (TUF metadata is
// untrusted input until its signatures verify). Built and run by scripts/fuzz.
//
// A parse must either throw a CanonicalJSONError or give a value whose canonical encoding
// parses back to the same value and re-encodes to the same bytes (the encoding is a fixed
// point); a value holding a non-integer number must be refused by the encoder, nothing else.
// Canonical JSON writes control characters in strings raw (a PEM key's newlines, say), which
// strict JSON forbids: for such values only the encoding's determinism is checked.

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzCanonicalJSON(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    guard let value = try? CanonicalJSON.parse(bytes) else { return 0 }
    guard let encoded = try? CanonicalJSON.encode(value) else {
        precondition(containsNonInteger(value), "the encoder refused a value with only integers")
        return 0
    }
    guard !containsControlCharacter(value) else {
        precondition((try? CanonicalJSON.encode(value)) == encoded, "canonical encoding is not deterministic")
        return 0
    }
    guard let again = try? CanonicalJSON.parse(encoded) else {
        preconditionFailure("canonical output does not parse: \(String(decoding: encoded, as: UTF8.self))")
    }
    precondition(again == value, "canonical output parses to a different value")
    precondition((try? CanonicalJSON.encode(again)) == encoded, "canonical encoding is not a fixed point")
    return 0
}

private func containsControlCharacter(_ value: CanonicalJSONValue) -> Bool {
    switch value {
    case .string(let text): return text.utf8.contains { $0 < 0x20 }
    case .array(let elements): return elements.contains(where: containsControlCharacter)
    case .object(let members): return members.contains { containsControlCharacter(.string($0.key)) || containsControlCharacter($0.value) }
    default: return false
    }
}

private func containsNonInteger(_ value: CanonicalJSONValue) -> Bool {
    switch value {
    case .number: return true
    case .array(let elements): return elements.contains(where: containsNonInteger)
    case .object(let members): return members.values.contains(where: containsNonInteger)
    default: return false
    }
}
