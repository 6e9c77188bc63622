import Foundation
import Integrity
import Testing

/// A Wycheproof file (testvectors_v1 layout): groups with a key, each with cases.
struct Wycheproof {
    struct Case {
        let id: Int
        let comment: String
        let message: [UInt8]
        let signature: [UInt8]
        /// "valid", "invalid" or "acceptable".
        let result: String
    }

    struct Group {
        let fields: [String: Any]
        let cases: [Case]

        /// A hex field of the group, e.g. `publicKeyDer`.
        func hex(_ name: String) throws -> [UInt8] {
            try Wycheproof.hex(fields[name])
        }
    }

    struct MissingField: Error {}

    /// The bytes of a hex string field.
    static func hex(_ value: Any?) throws -> [UInt8] {
        guard let text = value as? String, let bytes = Hex.decode(text) else { throw MissingField() }
        return bytes
    }

    let groups: [Group]
    var cases: [Case] { groups.flatMap(\.cases) }

    init(_ name: String) throws {
        let data = try Data(contentsOf: Vectors.directory.appendingPathComponent(name))
        let root = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        groups = try (root["testGroups"] as? [[String: Any]] ?? []).map { group in
            let cases = try (group["tests"] as? [[String: Any]] ?? []).map { test in
                Case(id: try #require(test["tcId"] as? Int), comment: test["comment"] as? String ?? "",
                     message: try Wycheproof.hex(test["msg"]), signature: try Wycheproof.hex(test["sig"]),
                     result: try #require(test["result"] as? String))
            }
            return Group(fields: group, cases: cases)
        }
    }
}
