import Platform
import SelfUpgrade

/// Finds the home: --home, $AUTODEV_HOME, the home of the running binary, Workspace/ of this
/// repository (from the current directory or the binary's), else $XDG_DATA_HOME/autodev.
enum HomeLocator {
    static func locate(option: String?) -> Installation {
        if let option, !option.isEmpty { return Installation(directory: resolved(option), program: autodevIdentity) }
        if let variable = ProcessControl.environment("AUTODEV_HOME"), !variable.isEmpty { return Installation(directory: resolved(variable), program: autodevIdentity) }
        let executable = (try? ProcessControl.executablePath()) ?? ""
        // <home>/versions/<id>/autodev
        let versionDirectory = FileSystem.parent(of: executable)
        let versions = FileSystem.parent(of: versionDirectory)
        if FileSystem.baseName(of: versions) == "versions", VersionID(hex: FileSystem.baseName(of: versionDirectory)) != nil {
            let root = FileSystem.parent(of: versions)
            if FileSystem.exists(root + "/journal") { return Installation(directory: root, program: autodevIdentity) }
        }
        for start in [FileSystem.currentDirectory(), FileSystem.parent(of: executable)] {
            if let repository = enclosingRepository(of: start) { return Installation(directory: repository + "/Workspace", program: autodevIdentity) }
        }
        let data = ProcessControl.environment("XDG_DATA_HOME").flatMap { $0.isEmpty ? nil : $0 }
            ?? (ProcessControl.environment("HOME") ?? "/tmp") + "/.local/share"
        return Installation(directory: data + "/autodev", program: autodevIdentity)
    }

    /// `path` with every symbolic link resolved, once, at start (its parent's when the home does
    /// not exist yet): a home reached through a link is the same home to every process of an
    /// upgrade (the sandboxed candidate, the restarted version), whatever path named it.
    static func resolved(_ path: String) -> String {
        if let real = try? FileSystem.realPath(path) { return real }
        let parent = FileSystem.parent(of: FileSystem.absolute(path))
        guard let real = try? FileSystem.realPath(parent) else { return path }
        return (real == "/" ? "" : real) + "/" + FileSystem.baseName(of: path)
    }

    /// The directory holding autodev's Package.swift and Workspace/, at or above `directory`.
    static func enclosingRepository(of directory: String) -> String? {
        var current = directory
        while current != "/" && !current.isEmpty && current != "." {
            if FileSystem.isDirectory(current + "/Workspace"),
               // A regular file only, read without blocking and capped: a FIFO or a link to a
               // device planted there is passed over, never waited on.
               let manifest = try? FileSystem.readOwnFile(current + "/Package.swift", maxBytes: 1 << 20),
               String(decoding: manifest, as: UTF8.self).contains("name: \"autodev\"") {
                return current
            }
            current = FileSystem.parent(of: current)
        }
        return nil
    }
}
