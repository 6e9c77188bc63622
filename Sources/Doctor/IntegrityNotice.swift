import Platform
import SelfUpgrade
import Storage

/// What the last integrity check found, kept for the program's status line in
/// `<home>/doctor/integrity` (one line per problem), as `<home>/channel/available` keeps the
/// update the last check found. Written by a background check and by a timer's examination;
/// removed when one finds nothing.
public enum IntegrityNotice {
    /// Records `findings` (or, when there are none, removes the record).
    /// - Throws: ``UpgradeError`` `.homeDamaged` when `<home>/doctor` is not a real directory,
    ///   `.system` when the file cannot be written.
    public static func record(_ findings: [Finding], homeDirectory: String) throws(UpgradeError) {
        let directory = Home(root: homeDirectory).root + "/doctor"
        let path = directory + "/integrity"
        try UpgradeError.wrapping {
            if findings.isEmpty {
                if try FileSystem.statusIfPresent(path, followLinks: false) != nil { try FileSystem.removeFile(path) }
                return
            }
            if try FileSystem.statusIfPresent(directory, followLinks: false) == nil { try FileSystem.createDirectory(directory, mode: 0o700) }
            guard try FileSystem.status(directory, followLinks: false).kind == .directory else { throw StorageError.notADirectory(path: directory) }
            // One finding, one line: a line break in a file name is kept as an escape, so it
            // cannot split a finding into two or forge one.
            let text = findings.map { TerminalText.escaped("\($0.kind) \($0.path): \($0.problem)") + "\n" }.joined()
            try FileSystem.writeAtomically(path, Array(text.utf8), mode: 0o644)
        }
    }

    /// The problems recorded, one per line (at most 64 KiB is read; nothing when there is no record).
    public static func read(homeDirectory: String) -> [String] {
        let path = Home(root: homeDirectory).root + "/doctor/integrity"
        guard let bytes = try? FileSystem.readOwnFile(path, maxBytes: 64 << 10) else { return [] }
        return String(decoding: bytes, as: UTF8.self).split(separator: "\n").map(String.init)
    }
}
