import Foundation
import Integrity

/// A TUF repository written to disk by the tests: Ed25519 keys, metadata signed over its
/// canonical form, served by `repository_server.py` (consistent snapshots off, so files have
/// plain names apart from `<version>.root.json`).
struct TestRepository {
    struct Signer {
        let id: String
        let key: Curve25519.Signing.PrivateKey

        init() {
            key = Curve25519.Signing.PrivateKey()
            id = SHA256.hash(data: key.publicKey.rawRepresentation).hex
        }

        var json: CanonicalJSONValue {
            .object(["keytype": .string("ed25519"), "scheme": .string("ed25519"),
                     "keyval": .object(["public": .string(Hex.encode(key.publicKey.rawRepresentation))])])
        }
    }

    static let expires = CanonicalJSONValue.string("2099-01-01T00:00:00Z")

    /// `<server root>/<name>`; metadata in `metadata/`, targets in `targets/`.
    let directory: String
    let name: String
    var signers: [String: Signer] = [:]

    init(name: String, serverRoot: String) throws {
        self.name = name
        directory = serverRoot + "/" + name
        try FileManager.default.createDirectory(atPath: directory + "/metadata", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: directory + "/targets", withIntermediateDirectories: true)
        for role in ["root", "timestamp", "snapshot", "targets"] { signers[role] = Signer() }
    }

    /// Writes `relativePath` under the repository directory.
    func write(_ relativePath: String, _ bytes: [UInt8]) throws {
        let path = directory + "/" + relativePath
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try Data(bytes).write(to: URL(fileURLWithPath: path))
    }

    /// The envelope of `signed` with a signature by each of `by` under the given key ids.
    static func sign(_ signed: CanonicalJSONValue, by signers: [(id: String, signer: Signer)]) throws -> [UInt8] {
        let message = try CanonicalJSON.encode(signed)
        let signatures = try signers.map { entry in
            CanonicalJSONValue.object(["keyid": .string(entry.id), "sig": .string(Hex.encode(try entry.signer.key.signature(for: message)))])
        }
        return try CanonicalJSON.encode(.object(["signed": signed, "signatures": .array(signatures)]))
    }

    static func common(_ type: String, _ version: Int) -> [String: CanonicalJSONValue] {
        ["_type": .string(type), "spec_version": .string("1.0.31"), "version": .integer(Int64(version)), "expires": expires]
    }

    /// Root listing one key per top-level role (the current `signers`), plus `extra` members.
    func rootSigned(version: Int, roleKeyIDs: [String: [String]]? = nil, thresholds: [String: Int] = [:],
                    extraKeys: [String: Signer] = [:]) -> CanonicalJSONValue {
        var keys: [String: CanonicalJSONValue] = [:]
        for signer in signers.values { keys[signer.id] = signer.json }
        for (id, signer) in extraKeys { keys[id] = signer.json }
        var roles: [String: CanonicalJSONValue] = [:]
        for role in ["root", "timestamp", "snapshot", "targets"] {
            let ids = roleKeyIDs?[role] ?? [signers[role]!.id]
            roles[role] = .object(["keyids": .array(ids.map { .string($0) }), "threshold": .integer(Int64(thresholds[role] ?? 1))])
        }
        var signed = Self.common("root", version)
        signed["keys"] = .object(keys)
        signed["roles"] = .object(roles)
        signed["consistent_snapshot"] = .bool(false)
        return .object(signed)
    }

    func publishRoot(version: Int, _ signed: CanonicalJSONValue, signedBy: [Signer]) throws {
        try write("metadata/\(version).root.json", try Self.sign(signed, by: signedBy.map { ($0.id, $0) }))
    }

    func publishTimestamp(version: Int, snapshotVersion: Int) throws {
        var signed = Self.common("timestamp", version)
        signed["meta"] = .object(["snapshot.json": .object(["version": .integer(Int64(snapshotVersion))])])
        let signer = signers["timestamp"]!
        try write("metadata/timestamp.json", try Self.sign(.object(signed), by: [(signer.id, signer)]))
    }

    /// Snapshot listing `roles` (file name without ".json" → version).
    func publishSnapshot(version: Int, roles: [String: Int], signedBy: [(id: String, signer: Signer)]? = nil) throws {
        var signed = Self.common("snapshot", version)
        signed["meta"] = .object(Dictionary(uniqueKeysWithValues: roles.map { ($0.key + ".json", CanonicalJSONValue.object(["version": .integer(Int64($0.value))])) }))
        let signer = signers["snapshot"]!
        try write("metadata/snapshot.json", try Self.sign(.object(signed), by: signedBy ?? [(signer.id, signer)]))
    }

    /// A targets role listing `targets` (path → length and bytes hashed) and `delegations`.
    static func targetsSigned(version: Int, targets: [String: (length: Int, content: [UInt8])] = [:],
                              delegations: [(name: String, signer: Signer)] = []) -> CanonicalJSONValue {
        var signed = common("targets", version)
        signed["targets"] = .object(targets.mapValues { entry in
            .object(["length": .integer(Int64(entry.length)), "hashes": .object(["sha256": .string(SHA256.hash(data: entry.content).hex)])])
        })
        if !delegations.isEmpty {
            signed["delegations"] = .object([
                "keys": .object(Dictionary(delegations.map { ($0.signer.id, $0.signer.json) }, uniquingKeysWith: { first, _ in first })),
                "roles": .array(delegations.map { delegation in
                    .object(["name": .string(delegation.name), "keyids": .array([.string(delegation.signer.id)]),
                             "threshold": .integer(1), "terminating": .bool(false), "paths": .array([.string("*")])])
                }),
            ])
        }
        return .object(signed)
    }

    /// Writes `<percent-encoded name>.json` signed by `signer`.
    func publishTargets(_ name: String, _ signed: CanonicalJSONValue, signer: Signer) throws {
        let fileName = name.addingPercentEncoding(withAllowedCharacters: CharacterSet(charactersIn: "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-~"))!
        try write("metadata/\(fileName).json", try Self.sign(signed, by: [(signer.id, signer)]))
    }

    /// Root v1, timestamp v1, snapshot v1 and targets v1 listing `targets`.
    func publishInitial(targets: [String: (length: Int, content: [UInt8])] = [:]) throws {
        try publishRoot(version: 1, rootSigned(version: 1), signedBy: [signers["root"]!])
        try publishTargets("targets", Self.targetsSigned(version: 1, targets: targets), signer: signers["targets"]!)
        try publishSnapshot(version: 1, roles: ["targets": 1])
        try publishTimestamp(version: 1, snapshotVersion: 1)
    }

    /// The request paths the server logged for this repository, in order.
    var requests: [String] {
        ((try? String(contentsOfFile: directory + "/requests.log", encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
    }
}
