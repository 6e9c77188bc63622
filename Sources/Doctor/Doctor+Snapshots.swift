import Platform
import Storage

extension Doctor {
    /// A file put back from a snapshot.
    struct Restored: Sendable {
        /// The snapshot it came from.
        var snapshot: String
        /// Where what it replaced is kept.
        var keptAs: String?
    }

    /// Restores `paths` (nil: every state file) from the newest snapshot holding a good copy.
    /// Snapshots are not kept yet: nothing is restored.
    func restoreFromSnapshot(paths: [String]?, aside: Aside) throws -> [Restored] { [] }
}
