#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

extension FileSystem {
    /// What ``copyTree(_:to:limits:)`` copies at most.
    package struct TreeLimits: Sendable {
        /// Levels of directories below the root.
        package var depth = 32
        /// Bytes of all files together (a sparse file counts its full size: the copy is not sparse).
        package var bytes = 1 << 30
        /// Files and directories together.
        package var entries = 100_000
        package init() {}
    }

    /// What ``copyTree(_:to:limits:)`` left out.
    package struct TreeCopy: Sendable, Equatable {
        /// Entries that were neither a regular file nor a directory (links, devices, FIFOs, sockets).
        package var skipped: [String] = []
        package var bytes = 0
        package var entries = 0
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
    package static func copyTree(_ source: String, to destination: String, limits: TreeLimits = TreeLimits()) throws(SystemError) -> TreeCopy {
        let root = try FileDescriptor.open(source, [.directory, .noFollow, .nonBlocking])
        defer { try? root.close() }
        var copy = TreeCopy()
        do throws(SystemError) {
            try createDirectory(destination, mode: 0o700)
            try copyLevel(root, name: source, to: destination, depth: 0, limits: limits, copy: &copy)
        } catch {
            try? removeTree(destination)
            throw error
        }
        return copy
    }

    private static func copyLevel(_ directory: FileDescriptor, name: String, to destination: String, depth: Int,
                                  limits: TreeLimits, copy: inout TreeCopy) throws(SystemError) {
        for entry in try directory.entries() {
            let path = name + "/" + entry
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
                try createDirectory(destination + "/" + entry, mode: 0o700)
                try copyLevel(opened, name: path, to: destination + "/" + entry, depth: depth + 1, limits: limits, copy: &copy)
            case .regular:
                guard status.size <= limits.bytes - copy.bytes else {
                    throw SystemError("copy", path: path, errno: Errno(rawValue: EFBIG), detail: "the tree holds more than \(ByteCount.text(limits.bytes))")
                }
                let output = try FileDescriptor.open(destination + "/" + entry, [.writeOnly, .create, .exclusive, .noFollow], mode: 0o600)
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

extension FileDescriptor {
    /// Opens `name` inside this directory (`openat`): only the last component is looked up, so
    /// with `.noFollow` nothing above or at `name` can lead elsewhere through a link.
    /// - Parameter path: the full path, for messages.
    /// - Throws: ``SystemError`` "open".
    package func openEntry(_ name: String, path: String, _ options: Options = .readOnly, mode: mode_t = 0o644) throws(SystemError) -> FileDescriptor {
        let fd = try systemCall("open", path: path) { openat(rawValue, name, options.rawValue | O_CLOEXEC, mode) }
        return FileDescriptor(rawValue: fd, path: path)
    }

    /// The status of `name` inside this directory, not following a link (`fstatat`); nil when
    /// there is nothing by that name.
    /// - Throws: ``SystemError`` "stat".
    package func entryStatus(_ name: String, path: String) throws(SystemError) -> FileStatus? {
        var info = stat()
        do {
            try systemCall("stat", path: path) { fstatat(rawValue, name, &info, AT_SYMLINK_NOFOLLOW) }
        } catch where error.errno == .noSuchFile {
            return nil
        }
        return FileStatus(info)
    }

    /// Removes `name` inside this directory (`unlinkat`); nothing by that name is not an error.
    /// - Throws: ``SystemError`` "remove" or "remove directory".
    package func removeEntry(_ name: String, path: String, isDirectory: Bool) throws(SystemError) {
        do {
            try systemCall(isDirectory ? "remove directory" : "remove", path: path) { unlinkat(rawValue, name, isDirectory ? AT_REMOVEDIR : 0) }
        } catch where error.errno == .noSuchFile {
            return
        }
    }

    /// Renames `name` inside this directory to `newName` inside `directory` (`renameat`).
    /// - Throws: ``SystemError`` "rename".
    package func renameEntry(_ name: String, path: String, into directory: FileDescriptor, as newName: String) throws(SystemError) {
        try systemCall("rename", path: path, destination: directory.path + "/" + newName) { renameat(rawValue, name, directory.rawValue, newName) }
    }

    /// The names in this directory, without "." and "..", sorted (read through a duplicate of
    /// the descriptor, which stays open and positioned as it was).
    /// - Throws: ``SystemError`` "list".
    package func entries() throws(SystemError) -> [String] {
        let copy = try systemCall("list", path: path) { fcntl(rawValue, F_DUPFD_CLOEXEC, 0) }
        guard let directory = fdopendir(copy) else {
            let error = Errno.current
            try? FileDescriptor(rawValue: copy, path: path).close()
            throw SystemError("list", path: path, errno: error)
        }
        defer { closedir(directory) }
        rewinddir(directory)
        var names: [String] = []
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(cString: raw.bindMemory(to: CChar.self).baseAddress!)
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names.sorted()
    }
}
