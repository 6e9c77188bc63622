import Integrity

/// One artifact as a targets role lists it.
struct TargetFile: Sendable, Equatable {
    var path: String
    var length: Int
    var hashes: [String: String]
    /// The target's `custom` member, as signed (nil when absent).
    var custom: CanonicalJSONValue?

    init(path: String, length: Int, hashes: [String: String], custom: CanonicalJSONValue? = nil) {
        self.path = path
        self.length = length
        self.hashes = hashes
        self.custom = custom
    }

    init(path: String, _ value: CanonicalJSONValue?, context: String) throws(TUFError) {
        let fields = try Fields(value, context)
        self.path = path
        length = Int(try fields.integer("length"))
        hashes = try fields.hashes("hashes")
        custom = fields.members["custom"]
    }

    /// Checks downloaded or cached bytes against the listed length and every listed hash.
    func verify(_ bytes: [UInt8]) throws(TUFError) {
        guard bytes.count == length else {
            throw TUFError(.mismatch, "target \(path) is \(bytes.count) bytes, its targets metadata lists \(length)")
        }
        try Hashes.verify(bytes, hashes, what: "target \(path)")
    }
}

/// A role a targets role delegates to, with the keys that must sign it and the paths it may list.
struct DelegatedRole: Sendable {
    var name: String
    var keys: RoleKeys
    var terminating: Bool
    var paths: [String]?
    var pathHashPrefixes: [String]?

    init(_ value: CanonicalJSONValue?, context: String) throws(TUFError) {
        let fields = try Fields(value, context)
        name = try fields.string("name")
        keys = try RoleKeys(fields)
        terminating = try fields.bool("terminating")
        paths = fields.members["paths"] == nil ? nil : try fields.strings("paths")
        pathHashPrefixes = fields.members["path_hash_prefixes"] == nil ? nil : try fields.strings("path_hash_prefixes")
        guard paths == nil || pathHashPrefixes == nil else {
            throw fields.invalid("paths", "and path_hash_prefixes are both set")
        }
    }

    /// True when this delegation covers `targetPath`.
    func covers(_ targetPath: String) -> Bool {
        if let paths { return paths.contains { PathPattern.matches(targetPath, pattern: $0) } }
        if let pathHashPrefixes {
            let digest = SHA256.hash(data: Array(targetPath.utf8)).hex
            return pathHashPrefixes.contains { digest.hasPrefix($0) }
        }
        return false
    }
}

/// Succinct hash-bin delegations: `2^bit_length` roles `<prefix>-<hex bin>`, one key set for all.
struct SuccinctRoles: Sendable {
    var keys: RoleKeys
    var bitLength: Int
    var namePrefix: String

    init(_ value: CanonicalJSONValue?, context: String) throws(TUFError) {
        let fields = try Fields(value, context)
        keys = try RoleKeys(fields)
        bitLength = Int(try fields.integer("bit_length", minimum: 1))
        guard bitLength <= 32 else { throw fields.invalid("bit_length", "must be at most 32") }
        namePrefix = try fields.string("name_prefix")
    }

    /// The bin role responsible for `targetPath`.
    func roleName(for targetPath: String) -> String {
        let digest = SHA256.hash(data: Array(targetPath.utf8)).bytes
        let first = UInt32(digest[0]) << 24 | UInt32(digest[1]) << 16 | UInt32(digest[2]) << 8 | UInt32(digest[3])
        let bin = bitLength == 32 ? first : first >> UInt32(32 - bitLength)
        let width = String((UInt64(1) << UInt64(bitLength)) - 1, radix: 16).count
        let hex = String(bin, radix: 16)
        return namePrefix + "-" + String(repeating: "0", count: width - hex.count) + hex
    }
}

/// Targets metadata (top-level or delegated): artifacts and further delegations.
struct Targets: Sendable {
    let metadata: SignedMetadata
    let targets: [String: TargetFile]
    let delegationKeys: [String: Key]
    let delegatedRoles: [DelegatedRole]
    let succinctRoles: SuccinctRoles?

    init(_ metadata: SignedMetadata, role: String) throws(TUFError) {
        self.metadata = metadata
        var targets: [String: TargetFile] = [:]
        for (path, value) in try metadata.signed.object("targets") {
            targets[path] = try TargetFile(path: path, value, context: "\(role).targets.\(path)")
        }
        self.targets = targets
        guard metadata.signed.members["delegations"] != nil else {
            delegationKeys = [:]
            delegatedRoles = []
            succinctRoles = nil
            return
        }
        let delegations = try Fields(metadata.signed.members["delegations"], "\(role).delegations")
        var keys: [String: Key] = [:]
        for (keyID, value) in try delegations.object("keys") {
            keys[keyID] = try Key(value, context: "\(role).delegations.keys.\(keyID)")
        }
        delegationKeys = keys
        switch (delegations.members["roles"], delegations.members["succinct_roles"]) {
        case (.some, .some), (nil, nil):
            throw delegations.invalid("roles", "or succinct_roles: exactly one must be present")
        case (.some, nil):
            var names = Set<String>()
            var roles: [DelegatedRole] = []
            for (position, entry) in try delegations.array("roles").enumerated() {
                let delegated = try DelegatedRole(entry, context: "\(role).delegations.roles[\(position)]")
                guard names.insert(delegated.name).inserted else {
                    throw delegations.invalid("roles", "delegates to \"\(delegated.name)\" twice")
                }
                roles.append(delegated)
            }
            delegatedRoles = roles
            succinctRoles = nil
        case (nil, .some(let succinct)):
            delegatedRoles = []
            succinctRoles = try SuccinctRoles(succinct, context: "\(role).delegations.succinct_roles")
        }
    }

    /// The delegations to search for `targetPath`, in order: (role, keys that must sign it, terminating).
    func delegations(for targetPath: String) -> [(name: String, keys: RoleKeys, terminating: Bool)] {
        if let succinctRoles {
            return [(succinctRoles.roleName(for: targetPath), succinctRoles.keys, true)]
        }
        return delegatedRoles.filter { $0.covers(targetPath) }.map { ($0.name, $0.keys, $0.terminating) }
    }
}
