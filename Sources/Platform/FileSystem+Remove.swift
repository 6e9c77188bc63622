import CPlatform
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Removing trees: through directory descriptors, never through a link, never onto another
/// mount; in the foreground or by a process of its own.
extension FileSystem {
    /// Removes `path` and everything below it; nothing there is not an error.
    ///
    /// Works through directory descriptors (`openat`, `unlinkat`), never through a link and never
    /// by a full path below `path`: a tree deeper than `PATH_MAX` (which code not trusted yet can
    /// make) is removed as well. At most ``removalDepth`` directories are open at once; one deeper
    /// is renamed up beside `path` and removed after.
    /// - Throws: ``SystemError`` from the first removal that failed.
    public static func removeTree(_ path: String) throws(SystemError) {
        guard let info = try statusIfPresent(path, followLinks: false) else { return }
        guard info.kind == .directory else {
            do throws(SystemError) { try removeFile(path) } catch where error.errno == .noSuchFile {}
            return
        }
        let top = try FileDescriptor.open(parent(of: path), [.directory])
        defer { try? top.close() }
        try removeDirectoryTree(EntryName(baseName(of: path)), in: top)
    }

    /// Removes `name` inside `directory` and everything below it, as ``removeTree(_:)`` does,
    /// but relative to a directory this process opened: whatever is renamed or linked over the
    /// directory's path meanwhile, nothing outside it is touched. Nothing by that name is not
    /// an error.
    /// - Throws: ``SystemError`` from the first removal that failed.
    public static func removeTree(_ name: String, in directory: FileDescriptor) throws(SystemError) {
        try removeTree(EntryName(name), in: directory)
    }

    /// ``removeTree(_:in:)`` of a name as the kernel keeps it (one that is not UTF-8 included).
    public static func removeTree(_ name: EntryName, in directory: FileDescriptor) throws(SystemError) {
        let path = directory.path + "/" + name.description
        guard let info = try directory.entryStatus(name, path: path) else { return }
        guard info.kind == .directory else { return try directory.removeEntry(name, path: path, isDirectory: false) }
        try removeDirectoryTree(name, in: directory)
    }

    private static func removeDirectoryTree(_ top: EntryName, in directory: FileDescriptor) throws(SystemError) {
        var pending = [top]
        while let name = pending.popLast() {
            try removeDirectory(name, in: directory, stem: top.description, pending: &pending)
        }
    }

    /// Removes the directory `path`, which holds files (no directory), in a process of its own
    /// that outlives this one (``ad_remove_detached``: its own session, nice 10, none of this
    /// process's descriptors): this process waits only for a fork, not for the file system to
    /// free the blocks (an 18 MB file takes milliseconds to unlink). What it leaves (it was
    /// killed) is still there for the caller's next look. A directory that holds a directory, or
    /// one on another mount, or a remover that cannot be started, is removed here
    /// (``removeTree(_:in:)``). The directory holding `path` is opened without following a link
    /// (a link there is an error), and both removals work inside it.
    /// - Parameter seconds: above 0, the remover first waits for this process to exit, at most
    ///   that long: a command's own work then never shares the disk with the removal.
    /// - Throws: ``SystemError`` opening the directory, or from ``removeTree(_:in:)``.
    public static func removeInBackground(_ path: String, waitingForExitUpTo seconds: Double = 0) throws(SystemError) {
        // Never through a directory linked over the parent: it is opened without following one.
        guard try statusIfPresent(parent(of: path), followLinks: false) != nil else { return }
        let directory = try FileDescriptor.open(parent(of: path), [.directory, .noFollow])
        defer { try? directory.close() }
        try removeInBackground(baseName(of: path), in: directory, waitingForExitUpTo: seconds)
    }

    /// ``removeInBackground(_:waitingForExitUpTo:)`` of `name` inside a directory this process
    /// opened: the remover works in that very directory (its own copy of the descriptor), and so
    /// does the removal in the foreground that stands in for it, whatever is renamed or linked
    /// over the directory's path meanwhile.
    /// - Throws: ``SystemError`` from ``removeTree(_:in:)``.
    public static func removeInBackground(_ name: String, in directory: FileDescriptor, waitingForExitUpTo seconds: Double = 0) throws(SystemError) {
        let path = directory.path + "/" + name
        guard let info = try directory.entryStatus(name, path: path) else { return }
        var onlyFiles = false
        if info.kind == .directory, let doomed = try? directory.openEntry(name, path: path, [.directory, .noFollow]) {
            defer { try? doomed.close() }
            let names = (try? doomed.entryNames()) ?? []
            // Another mount there (refused by ``removeTree(_:in:)``, which says so) stays in the foreground.
            let sameMount = (try? doomed.status())?.device == (try? directory.status())?.device
                && ad_mount_id(doomed.rawValue) == ad_mount_id(directory.rawValue)
            onlyFiles = sameMount && names.count <= 256
                && names.allSatisfy { (try? doomed.entryStatus($0, path: path + "/" + $0.description))??.kind != .directory }
        }
        guard onlyFiles, ad_remove_detached_at(directory.rawValue, name, Int32(min(max(seconds, 0), 60) * 1000)) == 0 else {
            try removeTree(name, in: directory)
            return
        }
    }

    /// Directories open at once while a tree is removed.
    static let removalDepth = 32

    /// Removes the directory `name` in `top` depth first; a directory at ``removalDepth`` is
    /// renamed into `top` under a fresh name (`<stem>.deep-<random>`) and added to `pending` instead.
    private static func removeDirectory(_ name: EntryName, in top: FileDescriptor, stem: String, pending: inout [EntryName]) throws(SystemError) {
        struct Level {
            let descriptor: FileDescriptor
            let name: EntryName
            let names: [EntryName]
            var next = 0
        }
        // Nothing is removed on another mount put inside the tree (another file system, or a
        // bind mount of this one): the removal stops there, and says why.
        let topStatus = try top.status()
        let topMount = ad_mount_id(top.rawValue)
        func crossing(_ path: String) -> SystemError {
            SystemError("remove", path: path, errno: Errno(rawValue: EBUSY),
                        detail: "another file system is mounted there, and nothing on it is removed (unmount it, then try again)")
        }
        func open(_ name: EntryName, in parent: FileDescriptor) throws(SystemError) -> Level? {
            let path = parent.path + "/" + name.description
            // A directory without search or read permission for its owner (this user) gets it.
            guard let status = try parent.entryStatus(name, path: path) else { return nil }
            guard status.device == topStatus.device else { throw crossing(path) }
            if status.kind == .directory, status.mode & 0o700 != 0o700 {
                name.withCString { _ = fchmodat(parent.rawValue, $0, status.mode | 0o700, 0) }
            }
            let descriptor: FileDescriptor
            do {
                descriptor = try parent.openEntry(name, path: path, [.directory, .noFollow])
            } catch where error.errno == .noSuchFile {
                return nil
            }
            let mount = ad_mount_id(descriptor.rawValue)
            if topMount >= 0, mount >= 0, mount != topMount {
                try? descriptor.close()
                throw crossing(path)
            }
            do {
                return Level(descriptor: descriptor, name: name, names: try descriptor.entryNames())
            } catch {
                try? descriptor.close()
                throw error
            }
        }
        guard let first = try open(name, in: top) else { return }
        var stack = [first]
        defer { for level in stack { try? level.descriptor.close() } }
        while let level = stack.last {
            if level.next < level.names.count {
                let child = level.names[level.next]
                stack[stack.count - 1].next += 1
                let path = level.descriptor.path + "/" + child.description
                guard let status = try level.descriptor.entryStatus(child, path: path) else { continue }
                guard status.kind == .directory else {
                    try level.descriptor.removeEntry(child, path: path, isDirectory: false)
                    continue
                }
                if stack.count >= removalDepth {
                    let moved = String(stem.prefix(200)) + ".deep-" + String(UInt64.random(in: 0...UInt64.max), radix: 36)
                    try level.descriptor.renameEntry(child, path: path, into: top, as: moved)
                    pending.append(EntryName(moved))
                } else if let opened = try open(child, in: level.descriptor) {
                    stack.append(opened)
                }
            } else {
                stack.removeLast()
                try? level.descriptor.close()
                let parent = stack.last?.descriptor ?? top
                try parent.removeEntry(level.name, path: level.descriptor.path, isDirectory: true)
            }
        }
    }
}
