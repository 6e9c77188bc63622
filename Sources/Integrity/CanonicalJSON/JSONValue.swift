/// A JSON value as a strict parser reads it: integers stay integers, other numbers keep their
/// text, objects keep every member (known or not), so re-encoding loses nothing a signature covers.
///
/// Object keys are compared as Swift strings (canonical equivalence): two keys that differ only in
/// Unicode normalization count as duplicates and are rejected by the parser.
public enum CanonicalJSONValue: Sendable, Equatable {
    case null
    case bool(Bool)
    /// A number written without fraction or exponent that fits in 64 bits.
    case integer(Int64)
    /// Any other number, as written (canonical JSON cannot encode it).
    case number(String)
    case string(String)
    case array([CanonicalJSONValue])
    case object([String: CanonicalJSONValue])

    // MARK: - API

    /// The members when this is an object.
    public var objectValue: [String: CanonicalJSONValue]? {
        if case .object(let members) = self { return members }
        return nil
    }

    /// The elements when this is an array.
    public var arrayValue: [CanonicalJSONValue]? {
        if case .array(let elements) = self { return elements }
        return nil
    }

    /// The text when this is a string.
    public var stringValue: String? {
        if case .string(let text) = self { return text }
        return nil
    }

    /// The value when this is an integer (a number with a fraction or exponent is not).
    public var integerValue: Int64? {
        if case .integer(let value) = self { return value }
        return nil
    }

    /// The value when this is a boolean.
    public var boolValue: Bool? {
        if case .bool(let value) = self { return value }
        return nil
    }

    /// The member `key` when this is an object that has it.
    public subscript(key: String) -> CanonicalJSONValue? {
        objectValue?[key]
    }
}
