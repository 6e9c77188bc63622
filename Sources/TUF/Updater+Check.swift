import Platform

extension Updater {
    /// What is wrong with the trusted metadata kept in `metadataDirectory`, checked offline: the
    /// root must be root metadata signed by a threshold of its own root keys, and each of
    /// timestamp, snapshot and targets that is kept must be metadata of its type signed by a
    /// threshold of the keys that root lists for it (expiry is not checked: an expired file
    /// is what the next refresh replaces, not damage). A role that is not kept is not a problem.
    /// - Returns: the problems by role name (`root`, `timestamp`, `snapshot`, `targets`); empty when sound.
    package static func checkTrusted(metadataDirectory: String) -> [(role: String, problem: String)] {
        let store = LocalStore(directory: metadataDirectory)
        guard let rootBytes = store.read(TopLevelRole.root) else {
            return [(TopLevelRole.root, "it is missing or cannot be read")]
        }
        let root: Root
        do throws(TUFError) {
            let metadata = try SignedMetadata(bytes: rootBytes, role: "trusted root", type: TopLevelRole.root)
            root = try Root(metadata)
            try root.verify(metadata, as: TopLevelRole.root)
        } catch {
            return [(TopLevelRole.root, error.message)]
        }
        var problems: [(role: String, problem: String)] = []
        for role in [TopLevelRole.timestamp, TopLevelRole.snapshot, TopLevelRole.targets] {
            let path = store.path(role)
            guard (try? FileSystem.statusIfPresent(path, followLinks: false)) != nil else { continue }
            guard let bytes = store.read(role) else {
                problems.append((role, "it cannot be read (not a regular file, or too large)"))
                continue
            }
            do throws(TUFError) {
                let metadata = try SignedMetadata(bytes: bytes, role: role, type: role)
                try root.verify(metadata, as: role)
            } catch {
                problems.append((role, error.message))
            }
        }
        return problems
    }
}
