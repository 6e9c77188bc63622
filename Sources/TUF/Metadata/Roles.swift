import Integrity

/// The top-level role names.
enum TopLevelRole {
    static let root = "root"
    static let timestamp = "timestamp"
    static let snapshot = "snapshot"
    static let targets = "targets"
}

/// Root metadata: the keys and thresholds of the top-level roles.
struct Root: Sendable {
    let metadata: SignedMetadata
    let consistentSnapshot: Bool
    let keys: [String: Key]
    let roles: [String: RoleKeys]

    init(_ metadata: SignedMetadata) throws(TUFError) {
        self.metadata = metadata
        let signed = metadata.signed
        consistentSnapshot = signed.members["consistent_snapshot"] == nil ? false : try signed.bool("consistent_snapshot")
        var keys: [String: Key] = [:]
        for (keyID, value) in try signed.object("keys") {
            keys[keyID] = try Key(value, context: "root.keys.\(keyID)")
        }
        self.keys = keys
        var roles: [String: RoleKeys] = [:]
        let listed = try signed.object("roles")
        for name in [TopLevelRole.root, TopLevelRole.timestamp, TopLevelRole.snapshot, TopLevelRole.targets] {
            roles[name] = try RoleKeys(Fields(listed[name], "root.roles.\(name)"))
        }
        self.roles = roles
    }

    var version: Int64 { metadata.version }

    /// Verifies that `role` (a top-level role) is signed by a threshold of the keys this root lists for it.
    func verify(_ candidate: SignedMetadata, as role: String) throws(TUFError) {
        try candidate.verify(role: role, keys: keys, roleKeys: roles[role]!)
    }
}

/// What timestamp and snapshot say about another metadata file.
struct MetaFile: Sendable, Equatable {
    var version: Int64
    var length: Int?
    var hashes: [String: String]?

    init(_ value: CanonicalJSONValue?, context: String) throws(TUFError) {
        let fields = try Fields(value, context)
        version = try fields.integer("version", minimum: 1)
        length = try fields.optionalInteger("length").map { Int($0) }
        hashes = fields.members["hashes"] == nil ? nil : try fields.hashes("hashes")
    }

    /// Checks `bytes` against the listed length and hashes (each one present).
    func verify(_ bytes: [UInt8], what: String) throws(TUFError) {
        if let length, bytes.count != length {
            throw TUFError(.mismatch, "\(what) is \(bytes.count) bytes, the trusted metadata lists \(length)")
        }
        if let hashes { try Hashes.verify(bytes, hashes, what: what) }
    }
}

/// Timestamp metadata: the current snapshot version.
struct Timestamp: Sendable {
    let metadata: SignedMetadata
    let snapshot: MetaFile

    init(_ metadata: SignedMetadata) throws(TUFError) {
        self.metadata = metadata
        let meta = try metadata.signed.object("meta")
        snapshot = try MetaFile(meta["snapshot.json"], context: "timestamp.meta.snapshot.json")
    }
}

/// Snapshot metadata: the current version of every targets role.
struct Snapshot: Sendable {
    let metadata: SignedMetadata
    let meta: [String: MetaFile]

    init(_ metadata: SignedMetadata) throws(TUFError) {
        self.metadata = metadata
        var meta: [String: MetaFile] = [:]
        for (name, value) in try metadata.signed.object("meta") {
            meta[name] = try MetaFile(value, context: "snapshot.meta.\(name)")
        }
        self.meta = meta
    }
}

/// Hash checks of downloaded bytes.
enum Hashes {
    /// Every listed hash must be of a known algorithm and match.
    static func verify(_ bytes: [UInt8], _ hashes: [String: String], what: String) throws(TUFError) {
        for (algorithm, expected) in hashes.sorted(by: { $0.key < $1.key }) {
            let actual: String
            switch algorithm {
            case "sha256": actual = SHA256.hash(data: bytes).hex
            case "sha512": actual = Hex.encode(SHA512.hash(data: bytes))
            default: throw TUFError(.mismatch, "\(what) lists a hash of unsupported algorithm \"\(algorithm)\"")
            }
            guard ConstantTime.equals(Array(actual.utf8), Array(expected.utf8)) else {
                throw TUFError(.mismatch, "\(what) has \(algorithm) \(actual), the trusted metadata lists \(expected)")
            }
        }
    }
}
