import Foundation

/// This process's mount table, as a test compares it before and after something that must not
/// change it. Tests run in parallel, and some mount and unmount in scratch directories of their
/// own under the temporary directory: those mounts are left out, except under `own`.
public enum MountTableSnapshot {
    /// The lines of `/proc/self/mountinfo` but those whose mount point lies in the temporary
    /// directory outside `own`.
    public static func lines(keepingUnder own: String) throws -> [String] {
        let temporary = FileManager.default.temporaryDirectory.standardizedFileURL.path + "/"
        return try String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8).split(separator: "\n").map(String.init).filter { line in
            let fields = line.split(separator: " ", maxSplits: 5)
            guard fields.count > 4 else { return true }
            let point = String(fields[4])
            return !point.hasPrefix(temporary) || point == own || point.hasPrefix(own + "/")
        }
    }
}
