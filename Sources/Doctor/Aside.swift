#if canImport(Glibc)
import Glibc
#endif
import Platform
import Storage

/// Where one repair keeps what it replaces: `<home>/doctor/aside/<time>-<pid>/<path relative
/// to the home>`. Nothing a repair replaces is deleted.
///
/// Every directory on the way is made here (mode 0700) or checked to be a real directory of
/// this user: a link planted at `<home>/doctor` or below cannot send what is kept, or anything
/// written, outside the home.
struct Aside: Sendable {
    let home: Home
    /// `<home>/doctor/aside/<time>-<pid>`.
    let directory: String

    init(home: Home) {
        self.home = home
        let stamp = WallClock.iso8601(WallClock.now()).filter { $0.isNumber || $0 == "T" }
        directory = home.root + "/doctor/aside/" + stamp + "-\(ProcessControl.id)"
    }

    /// Moves the entry at `path` (a file, a link itself, a directory with what it holds) aside by
    /// renaming it: atomic, never followed.
    /// - Returns: where it is kept.
    /// - Throws: ``SystemError`` naming the path and the action.
    func move(_ path: String) throws(SystemError) -> String {
        let destination = try place(for: path)
        try FileSystem.rename(path, to: destination)
        try FileSystem.syncDirectory(FileSystem.parent(of: path))
        try FileSystem.syncDirectory(FileSystem.parent(of: destination))
        return destination
    }

    /// Keeps a second name of the entry at `path` aside (a hard link; a symbolic link is linked
    /// itself, not followed), so that the original can then be replaced atomically: there is no
    /// moment without a file at `path`.
    /// - Returns: where it is kept.
    func link(_ path: String) throws(SystemError) -> String {
        let destination = try place(for: path)
        try FileSystem.link(path, to: destination)
        try FileSystem.syncDirectory(FileSystem.parent(of: destination))
        return destination
    }

    /// A free name for `path` in the aside directory, its directories made or checked.
    private func place(for path: String) throws(SystemError) -> String {
        guard path.hasPrefix(home.root + "/") else {
            throw SystemError("keep aside", path: path, errno: .invalidArgument, detail: "it is not inside the home \"\(home.root)\"")
        }
        let relative = String(path.dropFirst(home.root.count + 1))
        var destination = directory + "/" + relative
        try makeDirectories(FileSystem.parent(of: destination))
        var counter = 1
        while try FileSystem.statusIfPresent(destination, followLinks: false) != nil {
            counter += 1
            destination = directory + "/" + relative + "-\(counter)"
        }
        return destination
    }

    /// Makes each directory from the home down to `path` that is missing (0700), and checks
    /// each is a real directory owned by this user or the home's owner.
    private func makeDirectories(_ path: String) throws(SystemError) {
        let owner = (try? FileSystem.status(home.root))?.owner
        var current = home.root
        for component in path.dropFirst(home.root.count + 1).split(separator: "/") {
            current += "/" + component
            if try FileSystem.statusIfPresent(current, followLinks: false) == nil {
                try FileSystem.createDirectory(current, mode: 0o700)
            }
            let status = try FileSystem.status(current, followLinks: false)
            guard status.kind == .directory, status.owner == geteuid() || status.owner == owner else {
                throw SystemError("keep aside", path: current, errno: .notPermitted,
                                  detail: status.kind == .symbolicLink ? "it is a symbolic link" : status.kind != .directory ? "it is not a directory"
                                      : "it is owned by user \(status.owner)")
            }
        }
    }
}
