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
    /// `maxDepth` are refused. The home's own files are read this way, not with `JSONDecoder`,
    /// whose first use in a process costs more than a rollback's whole journal.
    package init(parsing bytes: some Collection<UInt8>, maxDepth: Int = 16) throws(CanonicalJSONError) {
        self.init(try CanonicalJSON.parse(Array(bytes), maxDepth: maxDepth))
    }

    /// The value as compact JSON: keys sorted, slashes not escaped, whole numbers without a
    /// fraction (as `JSONEncoder` writes with `.sortedKeys` and `.withoutEscapingSlashes`).
    /// - Throws: ``JournalFieldError`` for a number that is not finite.
    package func serialized() throws(JournalFieldError) -> [UInt8] {
        var output: [UInt8] = []
        output.reserveCapacity(256)
        try write(into: &output)
        return output
    }

    private func write(into output: inout [UInt8]) throws(JournalFieldError) {
        switch self {
        case .null: output.append(contentsOf: "null".utf8)
        case .bool(let flag): output.append(contentsOf: (flag ? "true" : "false").utf8)
        case .number(let number):
            guard number.isFinite else { throw JournalFieldError("\(number) cannot be written as JSON") }
            if number == number.rounded(), abs(number) <= 9_007_199_254_740_992 {
                output.append(contentsOf: String(Int64(number)).utf8)
            } else {
                output.append(contentsOf: "\(number)".utf8)
            }
        case .string(let text): Self.writeString(text, into: &output)
        case .array(let items):
            output.append(UInt8(ascii: "["))
            for (index, item) in items.enumerated() {
                if index > 0 { output.append(UInt8(ascii: ",")) }
                try item.write(into: &output)
            }
            output.append(UInt8(ascii: "]"))
        case .object(let fields):
            output.append(UInt8(ascii: "{"))
            for (index, key) in fields.keys.sorted().enumerated() {
                if index > 0 { output.append(UInt8(ascii: ",")) }
                Self.writeString(key, into: &output)
                output.append(UInt8(ascii: ":"))
                try fields[key]!.write(into: &output)
            }
            output.append(UInt8(ascii: "}"))
        }
    }

    private static func writeString(_ text: String, into output: inout [UInt8]) {
        let hex = Array("0123456789abcdef".utf8)
        output.append(UInt8(ascii: "\""))
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "\""): output.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\"")])
            case UInt8(ascii: "\\"): output.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\\")])
            case 0x0A: output.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "n")])
            case 0x0D: output.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "r")])
            case 0x09: output.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "t")])
            case 0x08: output.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "b")])
            case 0x0C: output.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "f")])
            case 0..<0x20: output.append(contentsOf: Array("\\u00".utf8) + [hex[Int(byte >> 4)], hex[Int(byte & 0xF)]])
            default: output.append(byte)
            }
        }
        output.append(UInt8(ascii: "\""))
    }
}
