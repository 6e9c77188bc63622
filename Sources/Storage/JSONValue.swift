import Integrity

/// Any JSON value: used to compare state snapshots field by field and name what differs.
package enum JSONValue: Codable, Sendable, Equatable {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    /// The value the strict parser read (numbers as doubles; text that is not a number is nil).
    package init(_ value: CanonicalJSONValue) {
        switch value {
        case .null: self = .null
        case .bool(let flag): self = .bool(flag)
        case .integer(let number): self = .number(Double(number))
        case .number(let text): self = Double(text).map(JSONValue.number) ?? .null
        case .string(let text): self = .string(text)
        case .array(let items): self = .array(items.map(JSONValue.init))
        case .object(let fields): self = .object(fields.mapValues(JSONValue.init))
        }
    }

    package init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() { self = .null }
        else if let value = try? container.decode(Bool.self) { self = .bool(value) }
        else if let value = try? container.decode(Double.self) { self = .number(value) }
        else if let value = try? container.decode(String.self) { self = .string(value) }
        else if let value = try? container.decode([JSONValue].self) { self = .array(value) }
        else { self = .object(try container.decode([String: JSONValue].self)) }
    }

    package func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .null: try container.encodeNil()
        case .bool(let value): try container.encode(value)
        case .number(let value): try container.encode(value)
        case .string(let value): try container.encode(value)
        case .array(let value): try container.encode(value)
        case .object(let value): try container.encode(value)
        }
    }

    /// The object fields of `original` (by path) that `self` does not have.
    package func missingPaths(from original: JSONValue, at path: String = "") -> [String] {
        switch (self, original) {
        case (.object(let kept), .object(let all)):
            return all.keys.sorted().flatMap { key -> [String] in
                let child = path.isEmpty ? key : path + "." + key
                guard let value = kept[key] else { return [child] }
                return value.missingPaths(from: all[key]!, at: child)
            }
        default:
            return []
        }
    }

    /// The paths (like `counters.upgrades` or `items[2]`) where `self` and `other` differ.
    package func differences(from other: JSONValue, at path: String = "") -> [String] {
        switch (self, other) {
        case (.object(let left), .object(let right)):
            return Set(left.keys).union(right.keys).sorted().flatMap { key -> [String] in
                let child = path.isEmpty ? key : path + "." + key
                return (left[key] ?? .null).differences(from: right[key] ?? .null, at: child)
            }
        case (.array(let left), .array(let right)) where left.count == right.count:
            return zip(left, right).enumerated().flatMap { $1.0.differences(from: $1.1, at: "\(path)[\($0)]") }
        default:
            return self == other ? [] : [path.isEmpty ? "(whole value)" : path]
        }
    }
}

// MARK: - Reading and writing without Codable

extension JSONValue {
    /// Parses `bytes` with the strict parser: duplicate keys, bad UTF-8 and nesting deeper than
    /// `maxDepth` are refused; an integer beyond 64 bits reads as the nearest double, as
    /// `JSONDecoder` read it. The home's own files are read this way, not with `JSONDecoder`,
    /// whose first use in a process costs more than a rollback's whole journal.
    package init(parsing bytes: [UInt8], maxDepth: Int = 16, maxValues: Int = .max) throws(CanonicalJSONError) {
        self.init(try CanonicalJSON.parse(bytes, maxDepth: maxDepth, maxValues: maxValues, widerIntegers: .keepAsNumber))
    }

    /// Parses a slice of a file's bytes (a line, a header), as ``init(parsing:maxDepth:maxValues:)``.
    /// The two concrete forms, not one generic over collections: a generic call resolves the
    /// collection's conformances at run time, a scan of every conformance in the binary the
    /// first time in each process, on every rollback's path.
    package init(parsing bytes: ArraySlice<UInt8>, maxDepth: Int = 16, maxValues: Int = .max) throws(CanonicalJSONError) {
        try self.init(parsing: Array(bytes), maxDepth: maxDepth, maxValues: maxValues)
    }

    /// The value as compact JSON (``JSONText``): keys sorted, slashes not escaped, control
    /// characters escaped, whole numbers up to 2⁵³ without a fraction: what `JSONEncoder` read
    /// and wrote before, so older releases read it unchanged.
    /// - Throws: ``JournalFieldError`` for a number that is not finite.
    package func serialized() throws(JournalFieldError) -> [UInt8] {
        JSONText.encode(try canonical())
    }

    private func canonical() throws(JournalFieldError) -> CanonicalJSONValue {
        switch self {
        case .null: return .null
        case .bool(let flag): return .bool(flag)
        case .number(let number):
            guard number.isFinite else { throw JournalFieldError("\(number) cannot be written as JSON") }
            if number == number.rounded(), abs(number) <= 9_007_199_254_740_992 { return .integer(Int64(number)) }
            return .number("\(number)")
        case .string(let text): return .string(text)
        case .array(let items):
            var converted: [CanonicalJSONValue] = []
            converted.reserveCapacity(items.count)
            for item in items { converted.append(try item.canonical()) }
            return .array(converted)
        case .object(let fields):
            var converted: [String: CanonicalJSONValue] = [:]
            converted.reserveCapacity(fields.count)
            for (key, value) in fields { converted[key] = try value.canonical() }
            return .object(converted)
        }
    }
}
