#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

extension FileSystem {
    // MARK: - Files a user names

    /// `path` opened for reading as a file a user named, to be streamed (hashed) rather than held:
    /// without blocking, and only a regular file (a device, FIFO, socket or directory is refused,
    /// a link loop fails with ELOOP). The caller closes it.
    /// - Throws: ``SystemError`` "read" whose detail says what is wrong.
    public static func openInputFile(_ path: String, what: String) throws(SystemError) -> FileDescriptor {
        let fd: FileDescriptor
        do {
            fd = try FileDescriptor.open(path, [.readOnly, .nonBlocking])
        } catch where error.errno == .tooManyLinks {
            throw SystemError("read", path: path, errno: error.errno, detail: "too many levels of symbolic links (a link loop)")
        }
        do throws(SystemError) {
            _ = try checkRegular(fd, path: path, what: what)
        } catch {
            try? fd.close()
            throw error
        }
        return fd
    }

    private static func checkRegular(_ fd: FileDescriptor, path: String, what: String) throws(SystemError) -> FileStatus {
        let status = try fd.status()
        guard status.kind == .regular else {
            let kind = status.kind == .directory ? "a directory" : "not a regular file (a device, FIFO or socket)"
            throw SystemError("read", path: path, errno: .invalidArgument, detail: "it is \(kind); give \(what) as a regular file")
        }
        return status
    }

    /// The whole content of a file a user named on the command line (an artifact, a trusted
    /// root, release notes, a key, a signature), read with a cap.
    ///
    /// Opened without blocking (a FIFO is refused, not waited on), then only a regular file is
    /// read: a device (`/dev/zero`), a FIFO, a socket or a directory is refused; a link loop fails
    /// with ELOOP. At most `maxBytes` are read, whatever `stat` said (a file that grows while it
    /// is read still meets the cap).
    /// - Parameters:
    ///   - path: the file (symbolic links are followed: a user may name a file through one).
    ///   - maxBytes: the largest content accepted.
    ///   - what: what the file is, for messages ("the trusted root").
    /// - Throws: ``SystemError`` "read", whose detail says what is wrong and states the cap.
    public static func readInputFile(_ path: String, maxBytes: Int, what: String) throws(SystemError) -> [UInt8] {
        let fd: FileDescriptor
        do {
            fd = try FileDescriptor.open(path, [.readOnly, .nonBlocking])
        } catch where error.errno == .tooManyLinks {
            throw SystemError("read", path: path, errno: error.errno, detail: "too many levels of symbolic links (a link loop)")
        }
        defer { try? fd.close() }
        let status = try checkRegular(fd, path: path, what: what)
        return try readCapped(fd, size: status.size, path: path, maxBytes: maxBytes, what: what)
    }

    /// A file of the program's own (``readOwnFile(_:)``: no link followed, only a regular file),
    /// read only when it holds at most `maxBytes`, whatever `stat` said.
    /// - Returns: nil when there is no such file.
    /// - Throws: ``SystemError`` "read", whose detail states the cap, or as ``readOwnFile(_:)``.
    public static func readOwnFile(_ path: String, maxBytes: Int, what: String) throws(SystemError) -> [UInt8]? {
        guard let fd = try openOwnFile(path) else { return nil }
        defer { try? fd.close() }
        return try readCapped(fd, size: fd.status().size, path: path, maxBytes: maxBytes, what: what)
    }

    /// What is left to read from `fd` (whose `stat` gave `size`), refused past `maxBytes`.
    private static func readCapped(_ fd: FileDescriptor, size: Int, path: String, maxBytes: Int, what: String) throws(SystemError) -> [UInt8] {
        let tooLarge = SystemError("read", path: path, errno: Errno(rawValue: EFBIG),
                                   detail: "it is larger than \(ByteCount.text(maxBytes)), the most \(what) may be")
        guard size <= maxBytes else { throw tooLarge }
        // One byte more than allowed shows a file that grew past the cap after its `stat`.
        let content = try fd.readToEnd(limit: maxBytes < .max ? maxBytes + 1 : maxBytes, expectedSize: size)
        guard content.count <= maxBytes else { throw tooLarge }
        return content
    }
}

/// Sizes and durations as people read them: "512 bytes", "4 MiB", "1.5 s", "2 min 10 s".
public enum ByteCount {
    /// `count` bytes in the largest binary unit that keeps one decimal ("1 KiB", "1.5 GiB").
    public static func text(_ count: Int) -> String {
        guard count >= 1024 else { return count == 1 ? "1 byte" : "\(count) bytes" }
        let units = ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"]
        var value = Double(count) / 1024
        var index = 0
        while value >= 1024, index < units.count - 1 {
            value /= 1024
            index += 1
        }
        return DurationText.decimal(value) + " " + units[index]
    }
}

/// Durations for messages.
public enum DurationText {
    /// "0.01 s", "0.5 s", "30 s", "120 s", "2 h 5 min": two significant digits below 0.1 s (never
    /// "0 s" for a time that is not zero), tenths below 10 s, whole seconds below 10 minutes, then
    /// minutes (and hours). Not finite or negative: "an unlimited time".
    public static func text(_ seconds: Double) -> String {
        guard seconds.isFinite, seconds >= 0, seconds < 1e15 else { return "an unlimited time" }
        if seconds > 0, seconds < 0.05 { return small(seconds) + " s" }
        if seconds < 10 { return decimal(seconds) + " s" }
        let whole = Int(seconds.rounded())
        if whole < 600 { return "\(whole) s" }
        let minutes = (whole + 30) / 60
        if minutes < 120 { return "\(minutes) min" }
        return "\(minutes / 60) h" + (minutes % 60 == 0 ? "" : " \(minutes % 60) min")
    }

    /// A positive `value` below 0.05 with two significant digits ("0.01", "0.0025"), trailing
    /// zeros dropped.
    static func small(_ value: Double) -> String {
        var scale = 100.0
        var digits = 2
        while value * scale < 10, digits < 12 {
            scale *= 10
            digits += 1
        }
        let scaled = Int((value * scale).rounded())
        var text = String(scaled)
        text = String(repeating: "0", count: max(0, digits - text.count)) + text
        var fraction = Substring(text.suffix(digits))
        while fraction.hasSuffix("0") { fraction = fraction.dropLast() }
        return fraction.isEmpty ? "0" : "0." + fraction
    }

    /// Milliseconds with one decimal, always ("12.0"); "?" for what is not a duration (not
    /// finite, or outside ±10^15: a value read from elsewhere never traps).
    public static func milliseconds(_ value: Double) -> String {
        guard value.isFinite, abs(value) < 1e15 else { return "?" }
        let tenths = Int((value * 10).rounded())
        return (tenths < 0 ? "-" : "") + "\(abs(tenths) / 10).\(abs(tenths) % 10)"
    }

    /// `value` with at most one decimal, without a trailing ".0".
    public static func decimal(_ value: Double) -> String {
        let tenths = Int((value * 10).rounded())
        return tenths % 10 == 0 ? "\(tenths / 10)" : "\(tenths / 10).\(tenths % 10)"
    }
}

extension FileDescriptor {
    // MARK: - Files the program writes into

    /// Opens `path` for writing (or appending) as a file the program owns: never through a
    /// symbolic link (`O_NOFOLLOW`), never blocking on a FIFO, and kept only when it is a regular
    /// file with one link (a hard link planted there would make the write land in another file)
    /// owned by this user or by the owner of its directory (a root command in a user's home).
    /// - Parameters:
    ///   - options: `.writeOnly` or `.readWrite`, with `.create`, `.append`, `.truncate` as
    ///     needed (`.noFollow` and `.nonBlocking` are added).
    ///   - mode: the mode of a file created.
    ///   - secondNameIn: a directory of the program's own where a second name of the file is
    ///     expected (the journal's archive names the active journal while a rotation is
    ///     unfinished): two links are accepted when one of them is there.
    ///   `.truncate` empties the file only once it has passed these checks (`O_TRUNC` would
    ///   empty the other file a planted hard link names before they could run).
    /// - Throws: ``SystemError`` "open" (ELOOP for a link), or "write into" whose detail says
    ///   what is wrong (not a regular file, more than one link, another owner). Nothing is written
    ///   and nothing is emptied.
    public static func openOwned(_ path: String, _ options: Options, mode: mode_t = 0o644,
                                  secondNameIn directory: String? = nil) throws(SystemError) -> FileDescriptor {
        let fd = try open(path, options.subtracting(.truncate).union([.noFollow, .nonBlocking]), mode: mode)
        do throws(SystemError) {
            let status = try fd.status()
            var problem: String?
            if status.kind != .regular {
                problem = "it is not a regular file"
            } else if status.linkCount == 2, let directory, Self.names(status, in: directory) {
                problem = nil
            } else if status.linkCount != 1 {
                problem = "it has \(status.linkCount) links (a hard link to another file may have been planted there)"
            }
            if problem == nil, status.owner != geteuid(), status.owner != (try? FileSystem.status(FileSystem.parent(of: path)))?.owner {
                problem = "it is owned by user \(status.owner), not by this user or the owner of its directory"
            }
            if let problem { throw SystemError("write into", path: path, errno: .notPermitted, detail: problem) }
            if options.contains(.truncate) { try fd.truncate(to: 0) }
        } catch {
            try? fd.close()
            throw error
        }
        return fd
    }

    /// True when an entry of `directory` (not followed through a link) is the file `status` describes.
    private static func names(_ status: FileStatus, in directory: String) -> Bool {
        ((try? FileSystem.contentsOfDirectory(directory)) ?? []).contains { name in
            guard let entry = try? FileSystem.status(directory + "/" + name, followLinks: false) else { return false }
            return entry.inode == status.inode && entry.device == status.device
        }
    }
}

extension FileSystem {
    // MARK: - Modes and owners, never through a link

    /// Sets the mode (and, with `owner`, the owner and group) of the file or directory at `path`
    /// through a descriptor opened without following a link and without blocking: a symbolic
    /// link planted at `path` is refused (ELOOP), never followed to change what it points to,
    /// and a FIFO or device is refused, not opened for I/O.
    /// - Throws: ``SystemError`` "open" (ELOOP for a link), "change mode of" or "change owner of".
    public static func setAttributesWithoutFollowing(_ path: String, mode: mode_t, owner: (uid_t, gid_t)? = nil) throws(SystemError) {
        let fd = try FileDescriptor.open(path, [.noFollow, .nonBlocking])
        defer { try? fd.close() }
        let status = try fd.status()
        guard status.kind == .regular || status.kind == .directory else {
            throw SystemError("change mode of", path: path, errno: .invalidArgument, detail: "it is not a regular file or a directory")
        }
        if let owner { try fd.setOwner(owner.0, group: owner.1) }
        try fd.setMode(mode)
    }

    /// Bytes available to this user on the file system holding `path` (a directory).
    /// - Throws: ``SystemError`` "open" or "statvfs".
    public static func availableBytes(in directory: String) throws(SystemError) -> UInt64 {
        let fd = try FileDescriptor.open(directory, [.directory])
        defer { try? fd.close() }
        return try fd.availableBytes()
    }
}

extension FileSystem {
    /// Checks that `path`, a file the user named for a command to write, may be replaced by a new
    /// file renamed over it: its directory exists, and what is there now (if anything) is a
    /// regular file with one link, owned by this user, and not one of `inputs`. A device, FIFO,
    /// socket, directory or link there is never replaced (as root, a rename over `/dev/null`
    /// would succeed), nor another user's file, nor a file whose other names would keep the old
    /// content.
    /// - Throws: ``SystemError`` "write" naming what is wrong.
    public static func checkOutputPath(_ path: String, distinctFrom inputs: [String] = []) throws(SystemError) {
        guard !path.isEmpty, !path.hasSuffix("/") else {
            throw SystemError("write", path: path, errno: .invalidArgument, detail: "it names a directory, not a file")
        }
        let directory = parent(of: path)
        guard isDirectory(directory) else {
            throw SystemError("write", path: path, errno: .noSuchFile, detail: "the directory \(directory) does not exist")
        }
        guard access(directory, W_OK) == 0 else {
            throw SystemError("write", path: path, errno: Errno.current, detail: "the directory \(directory) cannot be written (\(Errno.current))")
        }
        guard let status = try statusIfPresent(path, followLinks: false) else { return }
        let refused = { (reason: String) in SystemError("write", path: path, errno: Errno(rawValue: EEXIST), detail: reason + "; nothing was written") }
        switch status.kind {
        case .regular: break
        case .symbolicLink: throw refused("it is a symbolic link, which is not replaced")
        case .directory: throw refused("it is a directory")
        case .other: throw refused("it is a device, FIFO or socket, which is not replaced")
        }
        guard status.linkCount == 1 else { throw refused("it has \(status.linkCount) hard links, which would keep the old content") }
        guard status.owner == geteuid() else { throw refused("it belongs to another user (uid \(status.owner))") }
        for input in inputs {
            guard let read = try? self.status(input, followLinks: true) else { continue }
            if read.device == status.device && read.inode == status.inode { throw refused("it is also an input of this command") }
        }
    }

    /// Whether `first` and `second` name the same entry: the same name in the same directory,
    /// however each is spelt (`./x`, `d/../x`, a linked directory), whether or not it exists yet.
    public static func namesSameEntry(_ first: String, _ second: String) -> Bool {
        func key(_ path: String) -> (directory: String, name: String)? {
            guard let resolved = realpath(parent(of: path), nil) else { return nil }
            defer { free(resolved) }
            return (String(cString: resolved), baseName(of: path))
        }
        guard let one = key(first), let other = key(second) else { return first == second }
        return one == other
    }
}
