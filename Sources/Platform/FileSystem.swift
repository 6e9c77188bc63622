import CPlatform
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// File-system operations, each a typed wrapper over the system calls, with the durable
/// variants (`writeAtomically`, `replaceSymbolicLink`) that the transaction relies on.
public enum FileSystem {
    // MARK: - Inspecting

    /// Status of `path`; with `followLinks: false` a symbolic link is described itself.
    /// - Throws: ``SystemError`` "stat".
    public static func status(_ path: String, followLinks: Bool = true) throws(SystemError) -> FileStatus {
        var info = stat()
        try systemCall("stat", path: path) { followLinks ? stat(path, &info) : lstat(path, &info) }
        return FileStatus(info)
    }

    /// Status of `path`, or nil when nothing is there.
    public static func statusIfPresent(_ path: String, followLinks: Bool = true) throws(SystemError) -> FileStatus? {
        do {
            return try status(path, followLinks: followLinks)
        } catch where error.errno == .noSuchFile || error.errno == .notDirectory {
            return nil
        }
    }

    /// True when something (following links) is at `path`.
    public static func exists(_ path: String) -> Bool {
        ((try? statusIfPresent(path)) ?? nil) != nil
    }

    /// True when `path` is a directory.
    public static func isDirectory(_ path: String) -> Bool {
        (try? status(path))?.kind == .directory
    }

    /// Names in a directory, without "." and "..", sorted.
    /// - Throws: ``SystemError`` "list".
    public static func contentsOfDirectory(_ path: String) throws(SystemError) -> [String] {
        let directory: FileDescriptor
        do {
            directory = try FileDescriptor.open(path, [.directory])
        } catch {
            throw SystemError("list", path: path, errno: error.errno)
        }
        defer { try? directory.close() }
        return try directory.entries()
    }

    /// The target a symbolic link stores.
    /// - Throws: ``SystemError`` "read link".
    public static func destinationOfSymbolicLink(_ path: String) throws(SystemError) -> String {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let count = try systemCall("read link", path: path) { readlink(path, &buffer, buffer.count - 1) }
        return String(decoding: buffer[0..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// The absolute path with every link resolved.
    /// - Throws: ``SystemError`` "resolve".
    public static func realPath(_ path: String) throws(SystemError) -> String {
        guard let resolved = realpath(path, nil) else {
            throw SystemError("resolve", path: path, errno: .current)
        }
        defer { free(resolved) }
        return String(cString: resolved)
    }

    /// True when the calling process may write to `path`.
    public static func isWritable(_ path: String) -> Bool { access(path, W_OK) == 0 }

    // MARK: - Reading and writing

    /// The whole content of a file.
    /// - Throws: ``SystemError`` "open" or "read".
    public static func readFile(_ path: String) throws(SystemError) -> [UInt8] {
        let fd = try FileDescriptor.open(path)
        defer { try? fd.close() }
        return try readAll(fd)
    }

    /// Everything left to read from `fd`.
    private static func readAll(_ fd: FileDescriptor) throws(SystemError) -> [UInt8] {
        try fd.readToEnd(expectedSize: fd.status().size)
    }

    /// The content of a file the program owns (journal, lock, state), never through a symbolic
    /// link and only from a regular file (a FIFO or device planted there is refused, not read).
    /// - Returns: nil when there is no such file.
    /// - Throws: ``SystemError`` "open" (ELOOP for a link) or "read", or one whose `detail` says
    ///   the file is not a regular file.
    public static func readOwnFile(_ path: String) throws(SystemError) -> [UInt8]? {
        guard let fd = try openOwnFile(path) else { return nil }
        defer { try? fd.close() }
        return try readAll(fd)
    }

    /// `path` opened for reading, never through a symbolic link and only when it is a regular
    /// file (opened without blocking, so a FIFO planted there is refused, not waited on).
    /// - Returns: nil when there is no such file.
    static func openOwnFile(_ path: String) throws(SystemError) -> FileDescriptor? {
        let fd: FileDescriptor
        do {
            fd = try FileDescriptor.open(path, [.noFollow, .nonBlocking])
        } catch where error.errno == .noSuchFile {
            return nil
        }
        do throws(SystemError) {
            guard try fd.status().kind == .regular else {
                throw SystemError("read", path: path, errno: .invalidArgument, detail: "it is not a regular file")
            }
        } catch {
            try? fd.close()
            throw error
        }
        return fd
    }

    /// At most `maxBytes` from the start of the regular file at `path`, opened without following a
    /// link and without blocking (a FIFO or device planted there is refused, not waited on).
    /// - Returns: nil when nothing is there.
    /// - Throws: ``SystemError`` when it is not a regular file or cannot be read.
    public static func readOwnFile(_ path: String, maxBytes: Int) throws(SystemError) -> [UInt8]? {
        guard let fd = try openOwnFile(path) else { return nil }
        defer { try? fd.close() }
        return try readPrefix(of: fd, maxBytes: maxBytes)
    }

    /// At most `maxBytes` read from `fd`'s current offset.
    private static func readPrefix(of fd: FileDescriptor, maxBytes: Int) throws(SystemError) -> [UInt8] {
        try fd.readToEnd(limit: maxBytes, expectedSize: fd.status().size)
    }

    /// `readOwnFile(_:maxBytes:)` of a file nobody else can change: a regular file of one link,
    /// owned by this process's user, writable by no group or other user (checked on the open
    /// descriptor, so what is read is what was checked).
    /// - Returns: its status and at most `maxBytes` of it; nil when nothing is there.
    /// - Throws: ``SystemError`` naming the check it fails.
    public static func readPrivateFile(_ path: String, maxBytes: Int) throws(SystemError) -> (status: FileStatus, bytes: [UInt8])? {
        guard let fd = try openOwnFile(path) else { return nil }
        defer { try? fd.close() }
        let status = try fd.status()
        guard status.owner == geteuid() else {
            throw SystemError("read", path: path, errno: .permissionDenied, detail: "it belongs to user \(status.owner), not to this user")
        }
        guard status.linkCount == 1 else {
            throw SystemError("read", path: path, errno: .tooManyLinks, detail: "it has \(status.linkCount) names (hard links); another could change it")
        }
        guard status.mode & 0o022 == 0 else {
            throw SystemError("read", path: path, errno: .permissionDenied, detail: "others may write to it (mode \(String(status.mode & 0o777, radix: 8)))")
        }
        return (status, try readPrefix(of: fd, maxBytes: min(maxBytes, status.size)))
    }

    /// Makes `destination` a second name of `path` (a link itself is linked, not followed).
    /// - Throws: ``SystemError`` "link".
    public static func link(_ path: String, to destination: String) throws(SystemError) {
        try systemCall("link", path: path, destination: destination) { Glibc.link(path, destination) }
    }

    /// Replaces `path` with `bytes` so that a crash leaves either the old or the new content:
    /// temporary file in the same directory, write, fsync, rename over, fsync the directory.
    /// - Throws: ``SystemError`` from the step that failed; the temporary file is removed.
    public static func writeAtomically(_ path: String, _ bytes: [UInt8], mode: mode_t = 0o644) throws(SystemError) {
        try writeAtomically(path, bytes, mode: mode, owner: nil)
    }

    /// `writeAtomically` keeping a file's identity: exactly `mode` (not masked by the umask) and,
    /// with `owner`, that owner and group (set before the new content gets its name).
    /// - Parameter durable: false leaves out both fsyncs (``replaceWithoutSync(_:_:mode:)``).
    public static func writeAtomically(_ path: String, _ bytes: [UInt8], mode: mode_t, owner: (uid_t, gid_t)?, durable: Bool = true) throws(SystemError) {
        let temporary = temporarySibling(of: path)
        do throws(SystemError) {
            let fd = try FileDescriptor.open(temporary, [.writeOnly, .create, .exclusive, .noFollow], mode: mode)
            do throws(SystemError) {
                if let owner {
                    try fd.setOwner(owner.0, group: owner.1)
                    try fd.setMode(mode)
                }
                try fd.writeAll(bytes)
                if durable { try fd.sync() }
            } catch {
                try? fd.close()
                throw error
            }
            try fd.close()
            try rename(temporary, to: path)
        } catch {
            try? removeFile(temporary)
            throw error
        }
        if durable { try syncDirectory(parent(of: path)) }
    }

    /// Writes what `produce` passes to its `write` argument, in pieces, to a temporary sibling of
    /// `path`, then fsyncs it and renames it over `path` (and fsyncs the directory): `path` holds
    /// either its old content or all of the new one. Whatever `produce` or a write throws, the
    /// temporary file is removed and `path` is as it was.
    public static func writeAtomically(_ path: String, mode: mode_t,
                                        produce: (_ write: (UnsafeRawBufferPointer) throws -> Void) throws -> Void) throws {
        let temporary = temporarySibling(of: path)
        do {
            let fd = try FileDescriptor.open(temporary, [.writeOnly, .create, .exclusive, .noFollow], mode: mode)
            do {
                try fd.setMode(mode)
                try produce { piece in try fd.writeAll(piece) }
                try fd.sync()
            } catch {
                try? fd.close()
                throw error
            }
            try fd.close()
            try rename(temporary, to: path)
        } catch {
            try? removeFile(temporary)
            throw error
        }
        try syncDirectory(parent(of: path))
    }

    /// One file of a ``replaceTogether(_:)`` set.
    public struct Replacement: Sendable {
        public var path: String
        public var bytes: [UInt8]
        public var mode: mode_t

        public init(_ path: String, _ bytes: [UInt8], mode: mode_t) {
            self.path = path
            self.bytes = bytes
            self.mode = mode
        }
    }

    /// Replaces several files so that they change together: every new content is written and
    /// synced to a temporary sibling first, each old file is kept under a second name (a hard
    /// link), and only then are the temporary files renamed into place. If any step fails, the
    /// files already renamed get their old content back and the temporary files and second
    /// names are removed, so the set is either all old or all new (a crash between two renames
    /// can still leave it mixed; the old files' second names stay then, next to them).
    /// - Throws: ``SystemError`` from the step that failed.
    public static func replaceTogether(_ files: [Replacement]) throws(SystemError) {
        var temporaries: [String] = []
        var kept: [(path: String, aside: String)] = []
        var renamed: [String] = []
        /// Puts back what was renamed; - Returns: the old files that could not be put back, and
        /// where they are kept (never removed: they are all that is left of the old content).
        func undo() -> [(path: String, aside: String)] {
            var stranded: [(path: String, aside: String)] = []
            for path in renamed.reversed() {
                if let aside = kept.first(where: { $0.path == path })?.aside {
                    if (try? rename(aside, to: path)) != nil {
                        kept.removeAll { $0.path == path }
                    } else {
                        stranded.append((path, aside))
                        kept.removeAll { $0.path == path }
                    }
                } else {
                    try? removeFile(path)
                }
            }
            for name in temporaries { try? removeFile(name) }
            // The second names of files never replaced are not needed: their originals are in place.
            for entry in kept { try? removeFile(entry.aside) }
            return stranded
        }
        do throws(SystemError) {
            for file in files {
                let temporary = temporarySibling(of: file.path)
                let fd = try FileDescriptor.open(temporary, [.writeOnly, .create, .exclusive, .noFollow], mode: file.mode)
                temporaries.append(temporary)
                do throws(SystemError) {
                    try fd.setMode(file.mode)
                    try fd.writeAll(file.bytes)
                    try fd.sync()
                } catch {
                    try? fd.close()
                    throw error
                }
                try fd.close()
            }
            for file in files where exists(file.path) {
                let aside = temporarySibling(of: file.path) + ".previous"
                try link(file.path, to: aside)
                kept.append((file.path, aside))
            }
            for (file, temporary) in zip(files, temporaries) {
                try rename(temporary, to: file.path)
                renamed.append(file.path)
                temporaries.removeAll { $0 == temporary }
            }
        } catch {
            let stranded = undo()
            guard stranded.isEmpty else {
                let kept = stranded.map { "\"\(TerminalText.escaped($0.path))\" as \"\(TerminalText.escaped($0.aside))\"" }.joined(separator: ", ")
                throw SystemError(error.action, path: error.path, destination: error.destination, errno: error.errno,
                                  detail: "\(error.errno), and the old content could not be put back: it is kept as \(kept); the files no longer match each other")
            }
            throw error
        }
        for entry in kept { try? removeFile(entry.aside) }
        for directory in Set(files.map { parent(of: $0.path) }) { try syncDirectory(directory) }
    }

    /// Replaces `path` with `bytes` through a temporary file (created exclusively, so never
    /// through a link) renamed over it, without any fsync: for files every reader checks
    /// (content-addressed by their hash, or parsed and refused when torn), where a crash may lose
    /// the new file but never passes off a torn one as good. Costs no flush on a hot path.
    /// - Throws: ``SystemError`` from the step that failed; the temporary file is removed.
    public static func replaceWithoutSync(_ path: String, _ bytes: [UInt8], mode: mode_t) throws(SystemError) {
        try writeAtomically(path, bytes, mode: mode, owner: nil, durable: false)
    }

    // MARK: - Changing names

    /// Creates a directory (and, with `intermediates`, its missing parents).
    /// - Throws: ``SystemError`` "create directory"; an existing directory is not an error.
    public static func createDirectory(_ path: String, mode: mode_t = 0o755, intermediates: Bool = false) throws(SystemError) {
        if intermediates {
            let up = parent(of: path)
            if up != path && !isDirectory(up) { try createDirectory(up, mode: 0o755, intermediates: true) }
        }
        let calls = SystemCalls.current
        do {
            try systemCall("create directory", path: path) { calls.mkdir(path, mode) }
        } catch where error.errno == .fileExists && isDirectory(path) {
            return
        }
    }

    /// Creates a new directory of this user's, with a name no other process can guess, in the
    /// existing directory `base`: `<base>/<prefix><16 random hex digits>`, made by one `mkdir`
    /// (which never follows a link and fails on anything already there), then checked, not
    /// following links, to be that directory. `base` is not created.
    /// - Throws: ``SystemError`` "create directory" naming the path.
    public static func createUniqueDirectory(in base: String, prefix: String, mode: mode_t = 0o700) throws(SystemError) -> String {
        let calls = SystemCalls.current
        var attempt = 0
        while true {
            attempt += 1
            var random = SystemRandomNumberGenerator()
            let digits = String(random.next() as UInt64, radix: 16)
            let path = base + "/" + prefix + String(repeating: "0", count: 16 - digits.count) + digits
            do {
                try systemCall("create directory", path: path) { calls.mkdir(path, mode) }
            } catch where error.errno == .fileExists && attempt < 8 {
                continue
            }
            guard let made = try statusIfPresent(path, followLinks: false), made.kind == .directory, made.owner == Privilege.userID else {
                throw SystemError("create directory", path: path, errno: .fileExists, detail: "it is not the directory just made")
            }
            return path
        }
    }

    /// Creates the directory `path` below `root` (and the missing ones between them), then
    /// checks that every one of them, not following links, is a directory of this user or of
    /// `root`'s owner: a link planted at `<home>/logs` would otherwise send what is written
    /// there wherever it points.
    /// - Throws: ``SystemError`` "create directory" whose detail names the planted link or the
    ///   other owner; nothing is created past it.
    public static func createOwnDirectory(_ path: String, below root: String, mode: mode_t = 0o755) throws(SystemError) {
        let base = root.hasSuffix("/") ? String(root.dropLast()) : root
        guard path.hasPrefix(base + "/") else { return try createDirectory(path, mode: mode, intermediates: true) }
        let rootOwner = (try? status(base))?.owner
        var current = base
        for name in path.dropFirst(base.count + 1).split(separator: "/") {
            current += "/" + name
            if try statusIfPresent(current, followLinks: false) == nil { try createDirectory(current, mode: mode) }
            let found = try status(current, followLinks: false)
            let problem: String? = found.kind == .symbolicLink ? "it is a symbolic link: what is written there would land where it points"
                : found.kind != .directory ? "it is not a directory"
                : found.owner != geteuid() && found.owner != rootOwner ? "it belongs to user \(found.owner), not to this user or the owner of \(base)"
                : nil
            if let problem { throw SystemError("create directory", path: current, errno: .notPermitted, detail: problem) }
        }
    }

    /// Renames atomically (both names on one file system).
    /// - Throws: ``SystemError`` "rename".
    public static func rename(_ source: String, to destination: String) throws(SystemError) {
        let calls = SystemCalls.current
        try systemCall("rename", path: source, destination: destination) { calls.rename(source, destination) }
    }

    /// Renames atomically unless something has the new name: that fails with EEXIST, and nothing
    /// is replaced. Where the file system cannot (`renameat2` refused), the new name is looked at
    /// first, then renamed to.
    /// - Throws: ``SystemError`` "rename" (EEXIST when `destination` is taken).
    public static func renameWithoutReplacing(_ source: String, to destination: String) throws(SystemError) {
        let calls = SystemCalls.current
        do {
            try systemCall("rename", path: source, destination: destination) { calls.renameWithoutReplacing(source, destination) }
        } catch where error.errno == .invalidArgument || error.errno == .notImplemented {
            if try statusIfPresent(destination, followLinks: false) != nil {
                throw SystemError("rename", path: source, destination: destination, errno: .fileExists)
            }
            try rename(source, to: destination)
        }
    }

    /// Removes a file or symbolic link.
    /// - Throws: ``SystemError`` "remove".
    public static func removeFile(_ path: String) throws(SystemError) {
        let calls = SystemCalls.current
        try systemCall("remove", path: path) { calls.unlink(path) }
    }

    /// Removes the directory `path` if it is empty (`rmdir`).
    /// - Throws: ``SystemError`` "remove directory" (ENOTEMPTY when it is not empty).
    public static func removeEmptyDirectory(_ path: String) throws(SystemError) {
        let calls = SystemCalls.current
        try systemCall("remove directory", path: path) { calls.rmdir(path) }
    }

    /// Points the symbolic link `path` at `target`, atomically: a temporary link renamed over
    /// the old one, then the directory fsync'd. Readers see the old or the new target, never none.
    /// - Throws: ``SystemError`` "create symbolic link", "rename" or "fsync".
    public static func replaceSymbolicLink(_ path: String, target: String) throws(SystemError) {
        try move(try newSymbolicLink(beside: path, target: target), over: path)
        try syncDirectory(parent(of: path))
    }

    /// A new link to `target` under a temporary name beside `path`; returns that name.
    private static func newSymbolicLink(beside path: String, target: String) throws(SystemError) -> String {
        let temporary = temporarySibling(of: path)
        let calls = SystemCalls.current
        try systemCall("create symbolic link", path: temporary) { calls.symlink(target, temporary) }
        return temporary
    }

    /// Renames the link `temporary` over `path`; where that fails, the link goes.
    private static func move(_ temporary: String, over path: String) throws(SystemError) {
        do {
            try rename(temporary, to: path)
        } catch {
            try? removeFile(temporary)
            throw error
        }
    }

    /// Points the link `path` at `target` durably, as ``replaceSymbolicLink(_:target:)`` does, and
    /// keeps the link it replaced at `spare`. Where `spare` already names `target` (a flip back to
    /// the link's previous target), the two names are exchanged (`renameat2` with
    /// `RENAME_EXCHANGE`): no link is made and none is freed, which is most of what a flip costs on
    /// a file system that discards freed blocks. `spare` is never trusted: its target is read
    /// before the exchange and `path`'s after it, and anything else found there is put back and
    /// a new link made. A new link is exchanged with `path` too, and the old one it then holds
    /// becomes `spare` where a link (or nothing) stands there, else it is removed. Where the names cannot be
    /// exchanged (the file system or the kernel refuses, whatever the error), or `path` is not a
    /// symbolic link (or does not exist), the new link is renamed over `path`.
    /// - Throws: ``SystemError`` from the step that failed; `path` then still names its old target.
    public static func flipSymbolicLink(_ path: String, target: String, keepingOldAt spare: String) throws(SystemError) {
        let calls = SystemCalls.current
        guard (try? status(path, followLinks: false))?.kind == .symbolicLink else {
            return try replaceSymbolicLink(path, target: target)
        }
        if (try? destinationOfSymbolicLink(spare)) == target, calls.exchange(spare, path) == 0 {
            if (try? destinationOfSymbolicLink(path)) == target { return try syncDirectory(parent(of: path)) }
            // `spare` was replaced between its read and the exchange: the names go back.
            _ = calls.exchange(spare, path)
        }
        let temporary = try newSymbolicLink(beside: path, target: target)
        if calls.exchange(temporary, path) == 0 {
            // The old link is kept only in place of a link (or of nothing): a file, a FIFO or a
            // directory put at `spare` stays as it is. A rename between two names of one file
            // does nothing (a hard link planted there): the temporary name goes all the same.
            if case .success(let standing) = Result(catching: { () throws(SystemError) in try statusIfPresent(spare, followLinks: false) }),
               standing == nil || standing?.kind == .symbolicLink {
                _ = try? rename(temporary, to: spare)
            }
            try? removeFile(temporary)
        } else {
            try move(temporary, over: path)
        }
        try syncDirectory(parent(of: path))
    }

    /// Makes the names in a directory durable (after create, rename or unlink in it).
    /// - Throws: ``SystemError`` "open" or "fsync".
    public static func syncDirectory(_ path: String) throws(SystemError) {
        let fd = try FileDescriptor.open(path, .directory)
        defer { try? fd.close() }
        try fd.sync()
    }

    /// Changes permission bits.
    /// - Throws: ``SystemError`` "change mode of".
    public static func setMode(_ path: String, _ mode: mode_t) throws(SystemError) {
        try systemCall("change mode of", path: path) { chmod(path, mode) }
    }

    // MARK: - Paths

    /// The directory part of a path ("." for a bare name).
    public static func parent(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        if slash == path.startIndex { return "/" }
        return String(path[..<slash])
    }

    /// The last component of a path.
    public static func baseName(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return path }
        return String(path[path.index(after: slash)...])
    }

    /// `path` made absolute against the current directory (no links resolved).
    public static func absolute(_ path: String) -> String {
        if path.hasPrefix("/") { return path }
        return currentDirectory() + "/" + path
    }

    /// The current working directory.
    public static func currentDirectory() -> String {
        guard let cwd = getcwd(nil, 0) else { return "." }
        defer { free(cwd) }
        return String(cString: cwd)
    }

    private static func temporarySibling(of path: String) -> String {
        parent(of: path) + "/." + baseName(of: path) + ".tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
    }
}
