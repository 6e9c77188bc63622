import Integrity

/// Errors of the on-disk stores, each naming the file it is about.
package enum StorageError: Error, Sendable, CustomStringConvertible, Equatable {
    case corruptJournal(path: String, line: Int, reason: String)
    case unusableJournal(path: String, reason: String)
    /// The archive cannot give the records a sound checkpoint stands for (through `last`), for
    /// `reason`: only the whole history needs them.
    case incompleteArchive(path: String, last: Int, reason: String)
    /// The archive directory itself is refused (a link, not a directory, another user's) while
    /// the checkpoint is sound: only the whole history needs it.
    case unusableArchive(path: String, reason: String)
    case notADirectory(path: String)
    case unexpectedLink(path: String, target: String)
    case missingVersion(id: String, path: String)
    case damagedVersion(id: String, path: String, actual: String)
    /// The stored file's mode or owner would let it be changed (or run with privileges) other
    /// than through the store.
    case unsafeVersion(id: String, path: String, reason: String)
    case corruptState(path: String, reason: String)
    case newerState(path: String, schema: Int, supported: Int)
    case missingMigration(path: String, from: Int)
    case ambiguousVersion(prefix: String, matches: [String])
    case unknownVersion(prefix: String)
    case invalidVersionPrefix(String)

    package var description: String {
        switch self {
        case .corruptJournal(let path, let line, let reason):
            "The journal \"\(path)\" is damaged at line \(line) (\(reason)). It is the record of every version change, so nothing will be changed until it is repaired: the repair command rebuilds it from the stored versions, deletes nothing and keeps the damaged file beside it."
        case .unusableJournal(let path, let reason):
            "The journal \"\(path)\" cannot be used: \(reason). Nothing will be changed until it is repaired: the repair command rebuilds it from the stored versions, deletes nothing and keeps the damaged file beside it."
        case .incompleteArchive(_, let last, let reason):
            "The history before record \(last + 1) is lost: \(reason). The journal's checkpoint, which every other command reads, is sound, so the home works on; only the whole history needs those records, and nothing on this machine can bring them back (a backup of the archive can)."
        case .unusableArchive(let path, let reason):
            "The journal's archive \"\(path)\" cannot be used: \(reason). The journal's checkpoint, which every other command reads, is sound, so the home works on; only the whole history needs the archive ('autodev doctor --repair' moves a link or a file there aside, and gives a directory back to the home's owner when run as root)."
        case .unexpectedLink(let path, let target):
            "\"\(path)\" is a symbolic link to \"\(target)\", which this home does not follow ("
                + (path.hasSuffix("/current") ? "it is not a version in its store" : "the home's own directories are never links") + "); remove it"
        case .notADirectory(let path):
            "\"\(path)\" is not a directory; the home keeps its own data there"
        case .missingVersion(let id, let path):
            "Version \(id) is missing from the store: \"\(path)\" does not exist (deleted outside autodev?)"
        case .damagedVersion(let id, let path, let actual):
            // `actual` is the digest the file hashes to now, or what is wrong with it in words.
            "Version \(id) is damaged: \"\(path)\" " + (SHA256Digest(hex: actual) != nil ? "now hashes to \(actual.prefix(12))" : actual)
                + "; refusing to run it"
        case .unsafeVersion(let id, let path, let reason):
            "Version \(id) cannot be trusted as it is: \"\(path)\" \(reason); refusing to run it ('autodev doctor --repair' sets a stored version's mode and owner back)"
        case .corruptState(let path, let reason):
            "The state snapshot \"\(path)\" cannot be read: \(reason)"
        case .newerState(let path, let schema, let supported):
            "The state snapshot \"\(path)\" has schema \(schema), newer than the \(supported) this version understands"
        case .missingMigration(let path, let from):
            "The state snapshot \"\(path)\" has schema \(from) and no migration from it is known"
        case .ambiguousVersion(let prefix, let matches):
            "The version prefix '\(prefix)' is ambiguous: it matches \(matches.map { String($0.prefix(12)) }.joined(separator: ", "))"
        case .unknownVersion(let prefix):
            "No version in the store or the history starts with '\(prefix)'"
        case .invalidVersionPrefix(let prefix):
            "'\(prefix)' is not a version id: give at least 7 hexadecimal digits"
        }
    }
}
