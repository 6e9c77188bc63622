import Integrity

/// Typed, range-checked access to the fields of a JSON object read from the home (a journal
/// record, a checkpoint, a version's metadata): each failure names the field.
package struct FieldReader {
    package let fields: [String: JSONValue]

    package init(fields: [String: JSONValue]) { self.fields = fields }

    /// The fields of `value`, which must be an object (`what` names it in the error).
    package init(_ value: JSONValue, what: String) throws(JournalFieldError) {
        guard case .object(let fields) = value else { throw JournalFieldError("\(what) is not a JSON object") }
        self.fields = fields
    }

    package func number(_ name: String, in range: ClosedRange<Double>) throws(JournalFieldError) -> Double {
        guard let value = fields[name] else { throw JournalFieldError("'\(name)' is missing") }
        guard case .number(let number) = value else { throw JournalFieldError("'\(name)' is not a number") }
        guard number.isFinite, range.contains(number) else { throw JournalFieldError("'\(name)' is out of range (\(number))") }
        return number
    }

    package func integer(_ name: String, in range: ClosedRange<Int>) throws(JournalFieldError) -> Int {
        let number = try number(name, in: Double(range.lowerBound)...Double(range.upperBound))
        guard number == number.rounded() else { throw JournalFieldError("'\(name)' is not a whole number (\(number))") }
        return Int(number)
    }

    package func optionalInteger(_ name: String, in range: ClosedRange<Int>) throws(JournalFieldError) -> Int? {
        guard let value = fields[name], value != .null else { return nil }
        return try integer(name, in: range)
    }

    package func string(_ name: String) throws(JournalFieldError) -> String {
        guard let value = try optionalString(name) else { throw JournalFieldError("'\(name)' is missing") }
        return value
    }

    package func optionalString(_ name: String) throws(JournalFieldError) -> String? {
        guard let value = fields[name], value != .null else { return nil }
        guard case .string(let text) = value else { throw JournalFieldError("'\(name)' is not a string") }
        return text
    }

    package func transaction() throws(JournalFieldError) -> String {
        let id = try string("transaction")
        guard Self.isTransactionID(id) else { throw JournalFieldError("'transaction' is not a transaction id") }
        return id
    }

    /// A transaction id names a log directory: not empty, not `.` or `..`, 200 bytes at most,
    /// no `/` and no control character (a NUL would cut the path a system call is given short).
    package static func isTransactionID(_ id: String) -> Bool {
        !id.isEmpty && id.utf8.count <= 200 && id != "." && id != ".."
            && !id.utf8.contains { $0 == UInt8(ascii: "/") || $0 < 0x20 || $0 == 0x7F }
    }

    package func digest(_ name: String) throws(JournalFieldError) -> SHA256Digest {
        guard let id = try optionalDigest(name) else { throw JournalFieldError("'\(name)' is missing") }
        return id
    }

    package func optionalDigest(_ name: String) throws(JournalFieldError) -> SHA256Digest? {
        guard let text = try optionalString(name) else { return nil }
        guard let id = SHA256Digest(hex: text) else { throw JournalFieldError("'\(name)' is not a version id") }
        return id
    }
}

extension FieldReader {
    package func optionalNumber(_ name: String, in range: ClosedRange<Double>) throws(JournalFieldError) -> Double? {
        guard let value = fields[name], value != .null else { return nil }
        return try number(name, in: range)
    }

    package func bool(_ name: String) throws(JournalFieldError) -> Bool {
        guard let value = try optionalBool(name) else { throw JournalFieldError("'\(name)' is missing") }
        return value
    }

    package func optionalBool(_ name: String) throws(JournalFieldError) -> Bool? {
        guard let value = fields[name], value != .null else { return nil }
        guard case .bool(let flag) = value else { throw JournalFieldError("'\(name)' is not true or false") }
        return flag
    }

    /// The elements of an array field, each read by `element` (at most `limit` of them).
    package func array<Element>(_ name: String, limit: Int, _ element: (JSONValue) throws(JournalFieldError) -> Element) throws(JournalFieldError) -> [Element] {
        guard let value = fields[name] else { throw JournalFieldError("'\(name)' is missing") }
        guard case .array(let items) = value else { throw JournalFieldError("'\(name)' is not a list") }
        guard items.count <= limit else { throw JournalFieldError("'\(name)' holds \(items.count) items") }
        var result: [Element] = []
        result.reserveCapacity(items.count)
        for item in items { result.append(try element(item)) }
        return result
    }

    /// A version id given as an array element.
    package static func digest(_ value: JSONValue, in name: String) throws(JournalFieldError) -> SHA256Digest {
        guard case .string(let text) = value, let id = SHA256Digest(hex: text) else { throw JournalFieldError("'\(name)' holds something that is not a version id") }
        return id
    }
}
