import FoundationEssentials
import Integrity
import Platform
import ReleaseChannel
import SelfUpgrade
import Storage
import TUF

extension Doctor {
    /// A file put back from a snapshot.
    struct Restored: Sendable {
        /// The snapshot it came from.
        var snapshot: String
        /// Where what it replaced is kept.
        var keptAs: String?
    }

    /// Restores each of `paths` (nil: every state file of the newest snapshot) from the newest
    /// snapshot whose copy is intact (it hashes to its name) and good (it passes the check the
    /// examination makes of that file); what is at the path now is kept aside first.
    /// - Returns: what was restored (empty when no snapshot holds a good copy).
    func restoreFromSnapshot(paths: [String]?, aside: Aside) throws -> [Restored] {
        let store = SnapshotStore(home: home)
        let snapshots = store.list()
        let wanted = paths.map { $0.map(relative) } ?? (snapshots.last?.files.keys.filter { $0.hasPrefix("state/") }.sorted() ?? [])
        var restored: [Restored] = []
        for path in wanted {
            for snapshot in snapshots.reversed() {
                guard let bytes = store.contents(of: path, in: snapshot), try isGood(bytes, at: path) else { continue }
                let target = home.root + "/" + path
                try requireRealDirectory(FileSystem.parent(of: target))
                let kept = try FileSystem.statusIfPresent(target, followLinks: false) != nil ? try aside.link(target) : nil
                try FileSystem.writeAtomically(target, bytes, mode: 0o644)
                restored.append(Restored(snapshot: snapshot.name, keptAs: kept))
                break
            }
        }
        return restored
    }

    /// Whether `bytes` would pass the examination's check of the file at `path` (relative to the
    /// home): checked in a scratch directory of the home's staging, under the same file name.
    private func isGood(_ bytes: [UInt8], at path: String) throws -> Bool {
        let scratch = home.staging + "/doctor-check-\(ProcessControl.id)"
        try requireRealDirectory(home.staging)
        try FileSystem.removeTree(scratch)
        try FileSystem.createDirectory(scratch, mode: 0o700)
        defer { try? FileSystem.removeTree(scratch) }
        let name = FileSystem.baseName(of: path)
        let file = scratch + "/" + name
        let output = try FileDescriptor.open(file, [.writeOnly, .create, .exclusive, .noFollow], mode: 0o600)
        try output.closeAfter { try output.writeAll(bytes) }
        switch path {
        case "config.json":
            return (try? JSONDecoder().decode(UpgradeConfiguration.self, from: Data(bytes))) != nil
        case "channel/config.json":
            return (try? CanonicalJSON.parse(bytes))?["url"]?.stringValue != nil
        case "channel/metadata/root.json":
            // Root metadata signed by a threshold of its own root keys.
            return Updater.checkTrusted(metadataDirectory: scratch).isEmpty
        default:
            return stateProblem(file) == nil
        }
    }
}
