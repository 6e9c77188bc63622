/// OLPC canonical JSON as securesystemslib writes it, and a strict JSON parser.
///
/// Canonical form: object keys sorted by code point, no whitespace, strings with only `\` and `"`
/// escaped (every other character written as its UTF-8 bytes), integers only (no floats).
/// It is what TUF signatures cover: the signer and the verifier must produce the same bytes.
///
/// The parser accepts RFC 8259 JSON and rejects what could make two readers disagree:
/// duplicate keys, invalid UTF-8, lone surrogate escapes, control characters in strings,
/// leading zeros, trailing data, and nesting deeper than `maxDepth`.
public enum CanonicalJSON {
    /// The nesting depth the parser accepts by default (TUF metadata needs about 6).
    public static let defaultMaxDepth = 64

    // MARK: - API

    /// What ``parse(_:maxDepth:widerIntegers:)`` does with an integer beyond 64 bits.
    public enum WiderIntegers: Sendable {
        case refuse
        case keepAsNumber
    }

    /// Parses one JSON value that spans all of `bytes` (whitespace around it allowed).
    /// - Parameters:
    ///   - bytes: UTF-8 JSON text.
    ///   - maxDepth: the deepest nesting of arrays and objects accepted.
    ///   - maxValues: the most values (each string, number, literal, array and object counts)
    ///     accepted: what a file of bounded size can make this process hold is bounded too.
    ///   - widerIntegers: an integer that does not fit in 64 bits is refused (`.refuse`, what
    ///     signed metadata needs) or kept as its text in ``CanonicalJSONValue/number(_:)``
    ///     (`.keepAsNumber`, for files whose unknown fields a reader must tolerate).
    /// - Returns: the value, with integers as ``CanonicalJSONValue/integer(_:)``.
    /// - Throws: ``CanonicalJSONError`` naming the offset and the problem.
    public static func parse(_ bytes: [UInt8], maxDepth: Int = defaultMaxDepth, maxValues: Int = .max,
                             widerIntegers: WiderIntegers = .refuse) throws(CanonicalJSONError) -> CanonicalJSONValue {
        try bytes.withUnsafeBufferPointer { buffer throws(CanonicalJSONError) in
            var parser = JSONParser(bytes: buffer, maxDepth: maxDepth, maxValues: maxValues, keepsWiderIntegers: widerIntegers == .keepAsNumber)
            parser.skipWhitespace()
            let value = try parser.parseValue(depth: 0)
            parser.skipWhitespace()
            guard parser.index == buffer.count else { throw CanonicalJSONError("unexpected data after the value", offset: parser.index) }
            return value
        }
    }

    /// The canonical encoding of `value`.
    /// - Returns: the UTF-8 bytes securesystemslib's `encode_canonical` produces.
    /// - Throws: ``CanonicalJSONError`` when the value holds a non-integer number.
    public static func encode(_ value: CanonicalJSONValue) throws(CanonicalJSONError) -> [UInt8] {
        var output: [UInt8] = []
        output.reserveCapacity(1024)
        try write(value, to: &output)
        return output
    }

    // MARK: - Internals

    private static func write(_ value: CanonicalJSONValue, to output: inout [UInt8]) throws(CanonicalJSONError) {
        switch value {
        case .null: output.append(contentsOf: Array("null".utf8))
        case .bool(let flag): output.append(contentsOf: Array((flag ? "true" : "false").utf8))
        case .integer(let number): output.append(contentsOf: Array(String(number).utf8))
        case .number(let text): throw CanonicalJSONError("canonical JSON has no form for the number \(text)")
        case .string(let text): writeString(text, to: &output)
        case .array(let elements):
            output.append(UInt8(ascii: "["))
            for (position, element) in elements.enumerated() {
                if position > 0 { output.append(UInt8(ascii: ",")) }
                try write(element, to: &output)
            }
            output.append(UInt8(ascii: "]"))
        case .object(let members):
            output.append(UInt8(ascii: "{"))
            // UTF-8 byte order is code point order, which is how Python sorts str keys.
            let keys = members.keys.map { (key: $0, utf8: Array($0.utf8)) }.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
            for (position, key) in keys.enumerated() {
                if position > 0 { output.append(UInt8(ascii: ",")) }
                writeString(key.key, to: &output)
                output.append(UInt8(ascii: ":"))
                try write(members[key.key]!, to: &output)
            }
            output.append(UInt8(ascii: "}"))
        }
    }

    private static func writeString(_ text: String, to output: inout [UInt8]) {
        output.append(UInt8(ascii: "\""))
        for byte in text.utf8 {
            if byte == UInt8(ascii: "\\") || byte == UInt8(ascii: "\"") { output.append(UInt8(ascii: "\\")) }
            output.append(byte)
        }
        output.append(UInt8(ascii: "\""))
    }
}
