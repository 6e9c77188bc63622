import Integrity

/// Typed reads of one JSON object's members, with errors that name the metadata and the field.
struct Fields {
    let members: [String: CanonicalJSONValue]
    /// Where the object is, for messages: "root", "targets.delegations.roles[2]".
    let context: String

    init(_ value: CanonicalJSONValue?, _ context: String) throws(TUFError) {
        guard let members = value?.objectValue else { throw TUFError(.invalidMetadata, "\(context) is not a JSON object") }
        self.members = members
        self.context = context
    }

    func invalid(_ field: String, _ what: String) -> TUFError {
        TUFError(.invalidMetadata, "\(context).\(field) \(what)")
    }

    func string(_ field: String) throws(TUFError) -> String {
        guard let text = members[field]?.stringValue else { throw invalid(field, "must be a string") }
        return text
    }

    func integer(_ field: String, minimum: Int64 = 0) throws(TUFError) -> Int64 {
        guard let value = members[field]?.integerValue else { throw invalid(field, "must be an integer") }
        guard value >= minimum else { throw invalid(field, "must be at least \(minimum), not \(value)") }
        return value
    }

    func optionalInteger(_ field: String, minimum: Int64 = 0) throws(TUFError) -> Int64? {
        guard members[field] != nil else { return nil }
        return try integer(field, minimum: minimum)
    }

    func bool(_ field: String) throws(TUFError) -> Bool {
        guard let value = members[field]?.boolValue else { throw invalid(field, "must be true or false") }
        return value
    }

    func object(_ field: String) throws(TUFError) -> [String: CanonicalJSONValue] {
        guard let value = members[field]?.objectValue else { throw invalid(field, "must be an object") }
        return value
    }

    func array(_ field: String) throws(TUFError) -> [CanonicalJSONValue] {
        guard let value = members[field]?.arrayValue else { throw invalid(field, "must be an array") }
        return value
    }

    /// A list of distinct strings (key ids, path patterns).
    func uniqueStrings(_ field: String) throws(TUFError) -> [String] {
        var seen = Set<String>()
        var result: [String] = []
        for element in try array(field) {
            guard let text = element.stringValue else { throw invalid(field, "must hold only strings") }
            guard seen.insert(text).inserted else { throw invalid(field, "lists \"\(text)\" twice") }
            result.append(text)
        }
        return result
    }

    func strings(_ field: String) throws(TUFError) -> [String] {
        var result: [String] = []
        for element in try array(field) {
            guard let text = element.stringValue else { throw invalid(field, "must hold only strings") }
            result.append(text)
        }
        return result
    }

    /// `{"sha256": "<hex>", ...}`: at least one algorithm, each value hex.
    func hashes(_ field: String) throws(TUFError) -> [String: String] {
        var result: [String: String] = [:]
        for (algorithm, value) in try object(field) {
            guard let hex = value.stringValue, Hex.isHexDigits(hex) else { throw invalid(field, "\(algorithm) must be a hex string") }
            result[algorithm] = hex.lowercased()
        }
        guard !result.isEmpty else { throw invalid(field, "must list at least one hash") }
        return result
    }
}
