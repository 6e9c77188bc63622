import Foundation
import Integrity

/// Signs targets, snapshot and timestamp metadata with a release repository's own keys, holding
/// whatever a test puts in them: what a compromised or careless signer could publish, which
/// `release publish` itself refuses to write.
struct RepositorySigner {
    let repository: String

    /// Publishes `targets` as the next version of targets, snapshot and timestamp (one above the
    /// timestamp's; `release init` and `publish` keep the three in step). `replacing` is applied
    /// to the targets file's text after signing (a number no encoder would write, say).
    func publish(_ targets: [String: CanonicalJSONValue], replacing: (String, String)? = nil) throws {
        let metadata = repository + "/metadata"
        let timestamp = try CanonicalJSON.parse(Array(try Data(contentsOf: URL(fileURLWithPath: metadata + "/timestamp.json"))))
        let version = (timestamp["signed"]?["version"]?.integerValue ?? 0) + 1
        func common(_ type: String) -> [String: CanonicalJSONValue] {
            ["_type": .string(type), "spec_version": .string("1.0.31"), "version": .integer(version), "expires": .string("2100-01-01T00:00:00Z")]
        }
        func meta(_ bytes: [UInt8]) -> CanonicalJSONValue {
            .object(["version": .integer(version), "length": .integer(Int64(bytes.count)), "hashes": .object(["sha256": .string(SHA256.hash(data: bytes).hex)])])
        }
        var signedTargets = common("targets")
        signedTargets["targets"] = .object(targets)
        var targetsBytes = try envelope(signedTargets, role: "targets")
        if let (from, to) = replacing {
            targetsBytes = Array(String(decoding: targetsBytes, as: UTF8.self).replacingOccurrences(of: from, with: to).utf8)
        }
        var snapshot = common("snapshot")
        snapshot["meta"] = .object(["targets.json": meta(targetsBytes)])
        let snapshotBytes = try envelope(snapshot, role: "snapshot")
        var stamp = common("timestamp")
        stamp["meta"] = .object(["snapshot.json": meta(snapshotBytes)])
        let timestampBytes = try envelope(stamp, role: "timestamp")
        try Data(targetsBytes).write(to: URL(fileURLWithPath: metadata + "/\(version).targets.json"))
        try Data(snapshotBytes).write(to: URL(fileURLWithPath: metadata + "/\(version).snapshot.json"))
        try Data(timestampBytes).write(to: URL(fileURLWithPath: metadata + "/timestamp.json"))
    }

    /// `{"signed": …, "signatures": […]}` signed over the canonical form by `<role>-1.ed25519`,
    /// written as ordinary JSON (control characters escaped, as a file must have them).
    private func envelope(_ signed: [String: CanonicalJSONValue], role: String) throws -> [UInt8] {
        let seed = try String(contentsOfFile: repository + "/keys/\(role)-1.ed25519", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        let key = try Curve25519.Signing.PrivateKey(rawRepresentation: Hex.decode(seed)!)
        let publicKey = CanonicalJSONValue.object(["keytype": .string("ed25519"), "scheme": .string("ed25519"),
                                                   "keyval": .object(["public": .string(Hex.encode(key.publicKey.rawRepresentation))])])
        let keyID = SHA256.hash(data: try CanonicalJSON.encode(publicKey)).hex
        let signature = try key.signature(for: try CanonicalJSON.encode(.object(signed)))
        let document: [String: Any] = ["signed": Self.foundation(.object(signed)),
                                       "signatures": [["keyid": keyID, "sig": Hex.encode(signature)]]]
        return Array(try JSONSerialization.data(withJSONObject: document, options: [.sortedKeys]))
    }

    private static func foundation(_ value: CanonicalJSONValue) -> Any {
        switch value {
        case .null: return NSNull()
        case .bool(let flag): return flag
        case .integer(let number): return NSNumber(value: number)
        case .number(let text): return Double(text) ?? 0
        case .string(let text): return text
        case .array(let elements): return elements.map(foundation)
        case .object(let members): return members.mapValues(foundation)
        }
    }
}
