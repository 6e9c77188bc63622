import Integrity
import Platform

/// An artifact a trusted targets role lists: what a download must match.
public struct TargetInfo: Sendable, Equatable {
    /// The target path, e.g. "releases/x/app.tar.gz".
    public var path: String
    /// The exact length in bytes.
    public var length: Int
    /// Hex digests by algorithm ("sha256", "sha512").
    public var hashes: [String: String]
    /// The target's `custom` member as the trusted metadata signs it (nil when absent).
    public var custom: CanonicalJSONValue?

    init(_ file: TargetFile) {
        path = file.path
        length = file.length
        hashes = file.hashes
        custom = file.custom
    }

    var file: TargetFile { TargetFile(path: path, length: length, hashes: hashes, custom: custom) }
}

extension Updater {
    // MARK: - API

    /// Finds `path` in the trusted targets metadata (refreshing first if this updater has not),
    /// searching delegations lazily, pre-order depth-first (5.6.7).
    /// - Returns: the target's length and hashes.
    /// - Throws: ``TUFError`` with code `targetNotFound` when no role on the search lists it, or
    ///   the error that stopped the refresh or the search.
    public mutating func targetInfo(_ path: String) throws(TUFError) -> TargetInfo {
        if !refreshed { try refresh() }
        guard let file = try findTarget(path) else {
            throw TUFError(.targetNotFound, "Target \(path) is not listed by any trusted targets role that may list it")
        }
        return TargetInfo(file)
    }

    /// The targets the top-level targets role lists whose path starts with `prefix` (refreshing
    /// first if this updater has not), sorted by path. Delegated roles are not searched: a
    /// release repository lists its artifacts in top-level targets.
    /// - Throws: ``TUFError``: the error that stopped the refresh.
    public mutating func topLevelTargets(withPrefix prefix: String) throws(TUFError) -> [TargetInfo] {
        if !refreshed { try refresh() }
        let root = self.root!
        let targets = try loadTargets(TopLevelRole.targets, keys: root.keys, roleKeys: root.roles[TopLevelRole.targets]!)
        return targets.targets.values.filter { $0.path.hasPrefix(prefix) }.sorted { $0.path < $1.path }.map(TargetInfo.init)
    }

    /// Downloads `target` into `directory` as one file named by the percent-encoded target path,
    /// unless a file that matches is already there. The bytes are checked against the listed
    /// length and hashes before they are written (temporary file, fsync, rename): nothing
    /// partial or unverified is ever visible there.
    /// - Returns: the file's path.
    /// - Throws: ``TUFError`` naming the URL or the path.
    @discardableResult
    public func download(_ target: TargetInfo, to directory: String) throws(TUFError) -> String {
        let file = target.file
        // Verified in memory before a byte is written: range-checked first.
        guard (0...Limit.targetMaximum).contains(target.length) else {
            throw TUFError(.download, "Target \(target.path) is listed with a length of \(target.length) bytes; this client downloads targets of 0 to \(Limit.targetMaximum) bytes")
        }
        let destination = directory + "/" + PercentEncoding.encode(target.path)
        // A copy kept from before is used only if it is a regular file (no link followed, no FIFO
        // waited on) that no other user can change (this user's, one name, not writable by
        // others), of the listed length, read no further than that, that verifies.
        if let kept = ((try? FileSystem.readPrivateFile(destination, maxBytes: target.length)) ?? nil),
           kept.status.size == target.length, (try? file.verify(kept.bytes)) != nil {
            return destination
        }
        guard let base = targetBaseURL else {
            throw TUFError(.download, "No target base URL to download \(target.path) from")
        }
        var remotePath = target.path
        if root?.consistentSnapshot == true, let hash = target.hashes.sorted(by: { $0.key < $1.key }).first?.value {
            let slash = remotePath.lastIndex(of: "/")
            let directoryPart = slash.map { String(remotePath[...$0]) } ?? ""
            let name = slash.map { String(remotePath[remotePath.index(after: $0)...]) } ?? remotePath
            remotePath = directoryPart + hash + "." + name
        }
        let url = base + PercentEncoding.encode(remotePath, keeping: Set("/!$&'()*+,;=:@".utf8))
        let bytes: [UInt8]
        do {
            bytes = try source.fetch(url, maxBytes: target.length)
        } catch {
            throw TUFError(.download, "Failed to download target \(target.path) from \(url): \(error.message)")
        }
        try file.verify(bytes)
        do {
            try FileSystem.writeAtomically(destination, bytes)
        } catch {
            throw TUFError(.storage, "Failed to store target \(target.path): \(error)")
        }
        return destination
    }

    // MARK: - Internals

    /// Pre-order depth-first search from top-level targets: each role at most once per search,
    /// at most 32 roles, a terminating delegation ends the search outside its subtree.
    mutating func findTarget(_ path: String) throws(TUFError) -> TargetFile? {
        let root = self.root!
        var pending: [(name: String, keys: [String: Key], roleKeys: RoleKeys)] = [
            (TopLevelRole.targets, root.keys, root.roles[TopLevelRole.targets]!)
        ]
        var visited = Set<String>()
        var budget = Limit.delegations
        while budget > 0, let next = pending.popLast() {
            if visited.contains(next.name) { continue }
            let targets = try loadTargets(next.name, keys: next.keys, roleKeys: next.roleKeys)
            if let file = targets.targets[path] { return file }
            budget -= 1
            visited.insert(next.name)
            var children: [(name: String, keys: [String: Key], roleKeys: RoleKeys)] = []
            for delegation in targets.delegations(for: path) {
                children.append((delegation.name, targets.delegationKeys, delegation.keys))
                if delegation.terminating {
                    pending.removeAll()
                    break
                }
            }
            pending.append(contentsOf: children.reversed())
        }
        return nil
    }

    /// 5.6: the targets role `name`, signed by a threshold of `roleKeys` from the delegator's
    /// `keys`. A role loaded before in this process is not fetched again, but it is verified
    /// again against this delegator: it gets no authority from another path that reached it.
    mutating func loadTargets(_ name: String, keys: [String: Key], roleKeys: RoleKeys) throws(TUFError) -> Targets {
        if let loaded = loadedTargets[name] {
            try loaded.metadata.verify(role: name, keys: keys, roleKeys: roleKeys)
            return loaded
        }
        try checkFinalSnapshot()
        guard ![TopLevelRole.root, TopLevelRole.timestamp, TopLevelRole.snapshot].contains(name) else {
            throw TUFError(.invalidMetadata, "A targets role may not be named \(name)")
        }
        guard let listed = snapshot!.meta["\(name).json"] else {
            throw TUFError(.invalidMetadata, "Role \(name) is delegated but snapshot version \(snapshot!.metadata.version) does not list it")
        }
        if let bytes = store.read(name), let local = try? acceptTargets(bytes, name: name, listed: listed, keys: keys, roleKeys: roleKeys) {
            loadedTargets[name] = local
            return local
        }
        let fileName = PercentEncoding.encode(name) + ".json"
        let url = metadataURL + (root!.consistentSnapshot ? "\(listed.version).\(fileName)" : fileName)
        let bytes = try download(url, maxBytes: listed.length ?? Limit.targets, what: "\(name) metadata")
        let targets = try acceptTargets(bytes, name: name, listed: listed, keys: keys, roleKeys: roleKeys, url: url)
        try store.write(name, bytes)
        loadedTargets[name] = targets
        return targets
    }

    private func acceptTargets(_ bytes: [UInt8], name: String, listed: MetaFile, keys: [String: Key], roleKeys: RoleKeys,
                               url: String? = nil) throws(TUFError) -> Targets {
        let origin = url.map { " from \($0)" } ?? ""
        try listed.verify(bytes, what: "\(name) metadata\(origin)")
        let metadata = try SignedMetadata(bytes: bytes, role: name, type: TopLevelRole.targets)
        try metadata.verify(role: name, keys: keys, roleKeys: roleKeys)
        let targets = try Targets(metadata, role: name)
        guard metadata.version == listed.version else {
            throw TUFError(.badVersion, "\(name) version \(metadata.version)\(origin) is not version \(listed.version) that snapshot lists")
        }
        guard !metadata.isExpired(at: now) else {
            throw TUFError(.expired, "\(name) version \(metadata.version)\(origin) has expired")
        }
        return targets
    }
}
