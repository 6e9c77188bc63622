#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

extension FileSystem {
    /// What ``copyTree(_:to:limits:)`` copies at most.
    public struct TreeLimits: Sendable {
        /// Levels of directories below the root.
        public var depth = 32
        /// Bytes of all files together (a sparse file counts its full size: the copy is not sparse).
        public var bytes = 1 << 30
        /// Files and directories together.
        public var entries = 100_000
        public init() {}
    }

    /// What ``copyTree(_:to:limits:)`` left out.
    public struct TreeCopy: Sendable, Equatable {
        /// Entries that were neither a regular file nor a directory (links, devices, FIFOs, sockets).
        public var skipped: [String] = []
        public var bytes = 0
        public var entries = 0
    }

    /// Copies the regular files and directories under `source` into `destination` (made here,
    /// mode 0700; files 0600), and nothing else: no symbolic link is followed anywhere, not even
    /// one swapped in while the copy runs, because every level is opened relative to the
    /// descriptor of the one above it with `O_NOFOLLOW` (`openat`), and every file is checked on
    /// its descriptor before a byte is read. A link, device, FIFO or socket is left out and named
    /// in the result; `source` itself must be a directory (a link there is refused).
    /// - Throws: ``SystemError`` when something cannot be read or written, or when the tree is
    ///   past `limits` (its detail says which limit); the partial copy is then removed.
    @discardableResult
    public static func copyTree(_ source: String, to destination: String, limits: TreeLimits = TreeLimits()) throws(SystemError) -> TreeCopy {
        let root = try FileDescriptor.open(source, [.directory, .noFollow, .nonBlocking])
        defer { try? root.close() }
        var copy = TreeCopy()
        do throws(SystemError) {
            try createDirectory(destination, mode: 0o700)
            let target = try FileDescriptor.open(destination, [.directory, .noFollow])
            defer { try? target.close() }
            try copyLevel(root, name: source, to: target, depth: 0, limits: limits, copy: &copy)
        } catch {
            try? removeTree(destination)
            throw error
        }
        return copy
    }

    /// Copies what is in `directory` into `destination`, each entry made relative to the
    /// destination's descriptor under the name the source has, bytes that are not UTF-8 included.
    private static func copyLevel(_ directory: FileDescriptor, name: String, to destination: FileDescriptor, depth: Int,
                                  limits: TreeLimits, copy: inout TreeCopy) throws(SystemError) {
        for entry in try directory.entryNames() {
            let path = name + "/" + entry.description
            let target = destination.path + "/" + entry.description
            copy.entries += 1
            guard copy.entries <= limits.entries else {
                throw SystemError("copy", path: name, errno: Errno(rawValue: EFBIG), detail: "it holds more than \(limits.entries) files and directories")
            }
            // Opened without following a link and without waiting on a FIFO, then judged by what
            // was opened: the name cannot be swapped between the check and the read.
            let opened: FileDescriptor
            do {
                opened = try directory.openEntry(entry, path: path, [.noFollow, .nonBlocking])
            } catch where error.errno == .tooManyLinks || error.errno == .notPermitted || error.errno == Errno(rawValue: ENXIO) {
                copy.skipped.append(path)
                continue
            }
            defer { try? opened.close() }
            let status = try opened.status()
            switch status.kind {
            case .directory:
                guard depth < limits.depth else {
                    throw SystemError("copy", path: path, errno: Errno(rawValue: ELOOP), detail: "it is deeper than \(limits.depth) levels")
                }
                try destination.makeDirectoryEntry(entry, path: target, mode: 0o700)
                let below = try destination.openEntry(entry, path: target, [.directory, .noFollow])
                defer { try? below.close() }
                try copyLevel(opened, name: path, to: below, depth: depth + 1, limits: limits, copy: &copy)
            case .regular:
                guard status.size <= limits.bytes - copy.bytes else {
                    throw SystemError("copy", path: path, errno: Errno(rawValue: EFBIG), detail: "the tree holds more than \(ByteCount.text(limits.bytes))")
                }
                let output = try destination.openEntry(entry, path: target, [.writeOnly, .create, .exclusive, .noFollow], mode: 0o600)
                var closing = false
                do throws(SystemError) {
                    var written = 0
                    try opened.readChunks { chunk throws(SystemError) in
                        // A file that grows while it is copied still meets the limit.
                        guard chunk.count <= limits.bytes - copy.bytes - written else {
                            throw SystemError("copy", path: path, errno: Errno(rawValue: EFBIG), detail: "the tree holds more than \(ByteCount.text(limits.bytes))")
                        }
                        try output.writeAll(chunk)
                        written += chunk.count
                    }
                    copy.bytes += written
                    closing = true
                    try output.close()
                } catch {
                    if !closing { try? output.close() }
                    throw error
                }
            case .symbolicLink, .other:
                copy.skipped.append(path)
            }
        }
    }
}

/// A name in a directory as the kernel keeps it: bytes, which need not be UTF-8. Walking a tree
/// by these names reaches every entry; a `String` would replace bytes that are not UTF-8 and
/// then name nothing.
public struct EntryName: Sendable, Hashable, Comparable, CustomStringConvertible {
    public let bytes: [UInt8]

    public init(_ text: String) { bytes = Array(text.utf8) }
    init(bytes: [UInt8]) { self.bytes = bytes }

    /// The name for messages and paths shown to people (bytes that are not UTF-8 become U+FFFD).
    public var description: String { String(decoding: bytes, as: UTF8.self) }

    public static func < (left: EntryName, right: EntryName) -> Bool { left.bytes.lexicographicallyPrecedes(right.bytes) }

    /// Calls `body` with the name as a C string.
    func withCString<Result>(_ body: (UnsafePointer<CChar>) -> Result) -> Result {
        var text = bytes.map { CChar(bitPattern: $0) }
        text.append(0)
        return text.withUnsafeBufferPointer { body($0.baseAddress!) }
    }
}

extension FileDescriptor {
    /// Opens `name` inside this directory (`openat`): only the last component is looked up, so
    /// with `.noFollow` nothing above or at `name` can lead elsewhere through a link.
    /// - Parameter path: the full path, for messages.
    /// - Throws: ``SystemError`` "open".
    public func openEntry(_ name: EntryName, path: String, _ options: Options = .readOnly, mode: mode_t = 0o644) throws(SystemError) -> FileDescriptor {
        let fd = try systemCall("open", path: path) { name.withCString { openat(rawValue, $0, options.rawValue | O_CLOEXEC, mode) } }
        return FileDescriptor(rawValue: fd, path: path)
    }

    public func openEntry(_ name: String, path: String, _ options: Options = .readOnly, mode: mode_t = 0o644) throws(SystemError) -> FileDescriptor {
        try openEntry(EntryName(name), path: path, options, mode: mode)
    }

    /// The status of `name` inside this directory, not following a link (`fstatat`); nil when
    /// there is nothing by that name.
    /// - Throws: ``SystemError`` "stat".
    public func entryStatus(_ name: EntryName, path: String) throws(SystemError) -> FileStatus? {
        var info = stat()
        do {
            try systemCall("stat", path: path) { name.withCString { fstatat(rawValue, $0, &info, AT_SYMLINK_NOFOLLOW) } }
        } catch where error.errno == .noSuchFile {
            return nil
        }
        return FileStatus(info)
    }

    public func entryStatus(_ name: String, path: String) throws(SystemError) -> FileStatus? {
        try entryStatus(EntryName(name), path: path)
    }

    /// Makes the directory `name` inside this directory (`mkdirat`).
    /// - Throws: ``SystemError`` "create directory".
    public func makeDirectoryEntry(_ name: EntryName, path: String, mode: mode_t) throws(SystemError) {
        try systemCall("create directory", path: path) { name.withCString { mkdirat(rawValue, $0, mode) } }
    }

    /// Removes `name` inside this directory (`unlinkat`); nothing by that name is not an error.
    /// - Throws: ``SystemError`` "remove" or "remove directory".
    public func removeEntry(_ name: EntryName, path: String, isDirectory: Bool) throws(SystemError) {
        do {
            try systemCall(isDirectory ? "remove directory" : "remove", path: path) {
                name.withCString { unlinkat(rawValue, $0, isDirectory ? AT_REMOVEDIR : 0) }
            }
        } catch where error.errno == .noSuchFile {
            return
        }
    }

    public func removeEntry(_ name: String, path: String, isDirectory: Bool) throws(SystemError) {
        try removeEntry(EntryName(name), path: path, isDirectory: isDirectory)
    }

    /// Renames `name` inside this directory to `newName` inside `directory` (`renameat`).
    /// - Throws: ``SystemError`` "rename".
    public func renameEntry(_ name: EntryName, path: String, into directory: FileDescriptor, as newName: String) throws(SystemError) {
        try systemCall("rename", path: path, destination: directory.path + "/" + newName) {
            name.withCString { renameat(rawValue, $0, directory.rawValue, newName) }
        }
    }

    /// The names in this directory as the kernel keeps them, without "." and "..", sorted
    /// (read through a duplicate of the descriptor, which stays open and positioned as it was).
    /// - Throws: ``SystemError`` "list".
    public func entryNames() throws(SystemError) -> [EntryName] {
        let copy = try systemCall("list", path: path) { fcntl(rawValue, F_DUPFD_CLOEXEC, 0) }
        guard let directory = fdopendir(copy) else {
            let error = Errno.current
            try? FileDescriptor(rawValue: copy, path: path).close()
            throw SystemError("list", path: path, errno: error)
        }
        defer { closedir(directory) }
        rewinddir(directory)
        var names: [EntryName] = []
        while let entry = readdir(directory) {
            let bytes = withUnsafeBytes(of: entry.pointee.d_name) { raw in Array(raw.prefix { $0 != 0 }) }
            if bytes != [0x2E] && bytes != [0x2E, 0x2E] { names.append(EntryName(bytes: bytes)) }
        }
        return names.sorted()
    }

    /// The names in this directory, without "." and "..", sorted, as text: for directories whose
    /// names this program chose (a name that is not UTF-8 comes back changed; walk a tree that
    /// others may have written with ``entryNames()``).
    /// - Throws: ``SystemError`` "list".
    public func entries() throws(SystemError) -> [String] {
        try entryNames().map(\.description)
    }
}
