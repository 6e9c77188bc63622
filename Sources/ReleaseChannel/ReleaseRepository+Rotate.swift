import Integrity
import Platform

extension ReleaseRepository {
    // MARK: - API

    /// Replaces the keys of `role` with as many new ones as its threshold, in a new root version.
    ///
    /// For `root` the new version is signed by the old keys and the new ones (each to its
    /// threshold), so a client that trusts any earlier root walks to it one version at a time.
    /// The old key files move to `keys/retired/`. Publish afterwards so that targets, snapshot
    /// and timestamp are signed under the new root.
    /// - Parameters:
    ///   - role: `root`, `targets`, `snapshot` or `timestamp`.
    ///   - expiry: the new root's lifetime (`days`).
    ///   - now: the signing time, seconds since the epoch.
    /// - Returns: the new root version.
    /// - Throws: ``ReleaseChannelError``: `invalidArgument` for an unknown role, `invalidRepository`
    ///   or `storage` otherwise; a failure before the new root is written changes nothing clients see.
    public func rotate(role: String, expiry: Expiry = Expiry(), now: Int64) throws(ReleaseChannelError) -> Int64 {
        guard Keys.roles.contains(role) else {
            throw ReleaseChannelError(.invalidArgument, "Unknown role \"\(role)\": expected one of \(Keys.roles.joined(separator: ", "))")
        }
        _ = try currentRoot()
        return try withExclusiveLock(lockPath, what: "the release repository \"\(directory)\"") { () throws(ReleaseChannelError) in
            try rotateLocked(role: role, expiry: expiry, now: now)
        }
    }

    // MARK: - Internals

    func rotateLocked(role: String, expiry: Expiry, now: Int64) throws(ReleaseChannelError) -> Int64 {
        let version = currentRootVersion()
        let root = try currentRoot()
        let keys = try loadKeys()
        guard var members = root.objectValue, var keyMembers = root["keys"]?.objectValue, var roles = root["roles"]?.objectValue,
              let threshold = root["roles"]?[role]?["threshold"]?.integerValue else {
            throw ReleaseChannelError(.invalidRepository, "\(metadataDirectory)/\(version).root.json lacks keys, roles or the \(role) threshold")
        }
        // Range-checked before keys are made for it: a threshold of 2⁶³−1 is an error, not a loop.
        guard (1...10).contains(threshold) else {
            throw ReleaseChannelError(.invalidRepository, "\(metadataDirectory)/\(version).root.json gives the \(role) threshold \(threshold); it must be 1 to 10")
        }
        let old = keys.byRole[role] ?? []
        for key in old { keyMembers[Keys.describe(key.publicKey).0] = nil }
        let existing = Set((try? FileSystem.contentsOfDirectory(keyDirectory)) ?? [])
        var fresh: [(String, Curve25519.Signing.PrivateKey)] = []
        var index = 1
        while fresh.count < Int(threshold) {
            let name = "\(role)-\(index).ed25519"
            index += 1
            if existing.contains(name) { continue }
            fresh.append((name, Curve25519.Signing.PrivateKey()))
        }
        var ids: [CanonicalJSONValue] = []
        for (_, key) in fresh {
            let (id, json) = Keys.describe(key.publicKey)
            keyMembers[id] = json
            ids.append(.string(id))
        }
        roles[role] = .object(["keyids": .array(ids), "threshold": .integer(threshold)])
        members["keys"] = .object(keyMembers)
        members["roles"] = .object(roles)
        members["version"] = .integer(version + 1)
        members["expires"] = common("root", version: version + 1, expires: now + Int64(expiry.days) * 86_400)["expires"]
        let signers = role == "root" ? keys.byRole["root"]! + fresh.map(\.1) : keys.byRole["root"]!
        let bytes = try sign(.object(members), with: signers)
        // The new keys are on disk before the root that names them, so a crash between the two
        // leaves unused keys, never a root whose keys are lost.
        for (name, key) in fresh {
            let path = keyDirectory + "/" + name
            try storage { () throws(SystemError) in
                try FileSystem.writeAtomically(path, Array((Hex.encode(key.rawRepresentation) + "\n").utf8), mode: 0o600)
            }
        }
        try writeMetadata("\(version + 1).root.json", bytes)
        let retired = keyDirectory + "/retired"
        try storage { () throws(SystemError) in try FileSystem.createDirectory(retired, mode: 0o700, intermediates: true) }
        for name in existing.sorted() where name.hasPrefix(role + "-") && name.hasSuffix(".ed25519") {
            let path = keyDirectory + "/" + name
            try storage { () throws(SystemError) in try FileSystem.rename(path, to: retired + "/\(version)-" + name) }
        }
        return version + 1
    }

    /// The highest N with `metadata/N.root.json`.
    func currentRootVersion() -> Int64 {
        var version: Int64 = 1
        while FileSystem.exists(metadataDirectory + "/\(version + 1).root.json") { version += 1 }
        return version
    }
}
