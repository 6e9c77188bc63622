#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// An exclusive `flock` on a file: one transaction at a time.
///
/// The lock belongs to the open file description, so it is released by the kernel when the
/// holder dies (even by SIGKILL), and it survives `exec` when ``keepAcrossExec()`` was called:
/// the restarted process inherits the descriptor and the lock with it.
public struct FileLock: Sendable {
    /// The locked descriptor.
    public let descriptor: FileDescriptor

    /// Takes the lock on `path` (created if missing, with `mode`) without waiting.
    /// - Returns: nil when another process holds it.
    /// - Throws: ``SystemError`` when the file cannot be opened or locked for another reason.
    public static func tryAcquire(_ path: String, mode: mode_t = 0o644) throws(SystemError) -> FileLock? {
        let fd = try FileDescriptor.open(path, [.readWrite, .create, .noFollow, .nonBlocking], mode: mode)
        do throws(SystemError) {
            try Self.checkOwnFile(fd, path: path)
        } catch {
            try? fd.close()
            throw error
        }
        do {
            try systemCall("lock", path: path) { flock(fd.rawValue, LOCK_EX | LOCK_NB) }
        } catch where error.errno == .wouldBlock {
            try? fd.close()
            return nil
        } catch {
            try? fd.close()
            throw error
        }
        return FileLock(descriptor: fd)
    }

    /// Takes the lock on `path` (created if missing), waiting for the process that holds it.
    /// - Throws: ``SystemError`` when the file cannot be opened or locked.
    public static func acquire(_ path: String) throws(SystemError) -> FileLock {
        let fd = try FileDescriptor.open(path, [.readWrite, .create, .noFollow, .nonBlocking], mode: 0o644)
        do throws(SystemError) {
            try Self.checkOwnFile(fd, path: path)
            try systemCall("lock", path: path) { flock(fd.rawValue, LOCK_EX) }
        } catch {
            try? fd.close()
            throw error
        }
        return FileLock(descriptor: fd)
    }

    /// Adopts a descriptor inherited across `exec` that already holds the lock on `path`.
    ///
    /// A descriptor merely opened on the file does not pass: the lock must be held (a fresh open
    /// of the file cannot take it) and held through this descriptor (re-locking it succeeds).
    /// - Returns: nil when `rawValue` is not such a descriptor; it is then left as it was.
    public static func adoptHeld(rawValue: Int32, path: String) -> FileLock? {
        let fd = FileDescriptor(rawValue: rawValue, path: path)
        guard let inherited = try? fd.status(), let onDisk = try? FileSystem.status(path, followLinks: false),
              onDisk.kind == .regular, inherited.inode == onDisk.inode, inherited.device == onDisk.device else { return nil }
        guard let probe = try? FileDescriptor.open(path, [.readOnly, .noFollow, .nonBlocking]) else { return nil }
        defer { try? probe.close() }
        guard flock(probe.rawValue, LOCK_EX | LOCK_NB) != 0 else {
            // Nobody held it: the descriptor was not a holder's.
            _ = flock(probe.rawValue, LOCK_UN)
            return nil
        }
        // Re-locking a lock this descriptor holds succeeds at once; if it would block, it is not ours.
        guard flock(rawValue, LOCK_EX | LOCK_NB) == 0 else { return nil }
        try? fd.setCloseOnExec(true)
        return FileLock(descriptor: fd)
    }

    /// Lets the lock pass to the program this process `exec`s.
    /// - Throws: ``SystemError`` "set flags of".
    public func keepAcrossExec() throws(SystemError) {
        try descriptor.setCloseOnExec(false)
    }

    /// Releases the lock.
    public func release() {
        _ = flock(descriptor.rawValue, LOCK_UN)
        try? descriptor.close()
    }

    /// Whether a process holds a `flock` on `path`, and which, read from `/proc/locks` without
    /// touching the lock (even a non-blocking attempt would make a process taking it at that
    /// moment fail). The pid is 0 for a holder outside this pid namespace.
    /// - Returns: nil when nobody holds it, the file is missing, or `/proc/locks` cannot be read.
    public static func holder(of path: String) -> pid_t? {
        guard let status = try? FileSystem.status(path, followLinks: false),
              let table = try? FileSystem.readOwnFile("/proc/locks", maxBytes: 1 << 20) else { return nil }
        return holder(device: status.device, inode: status.inode, in: String(decoding: table, as: UTF8.self))
    }

    /// The holder of a `flock` on the file (`device`, `inode`) in a `/proc/locks` table: lines
    /// such as `3: FLOCK  ADVISORY  WRITE 1234 fd:01:393229 0 EOF` (the device's major and minor
    /// in hex); waiters (`3: -> FLOCK …`) hold nothing.
    public static func holder(device: UInt64, inode: UInt64, in table: String) -> pid_t? {
        // glibc's encoding of a dev_t (gnu_dev_major and gnu_dev_minor, macros Swift cannot call).
        let major = ((device >> 8) & 0xfff) | ((device >> 32) & ~0xfff)
        let minor = (device & 0xff) | ((device >> 12) & ~0xff)
        let wanted = String(major, radix: 16) + ":" + String(minor, radix: 16) + ":" + String(inode)
        for line in table.split(separator: "\n") {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            guard fields.count >= 6, fields[1] == "FLOCK", let pid = pid_t(fields[4]) else { continue }
            // The device as major:minor in hex, compared without leading zeros (/proc/locks pads them).
            let file = fields[5].split(separator: ":")
            guard file.count == 3, let major = UInt32(file[0], radix: 16), let minor = UInt32(file[1], radix: 16) else { continue }
            if String(major, radix: 16) + ":" + String(minor, radix: 16) + ":" + file[2] == wanted { return pid }
        }
        return nil
    }

    /// A lock file holds the holder's pid, written through this descriptor: only a regular file
    /// with one link is used (a hard link planted there would have the pid written into another
    /// file), owned by this user or by the owner of its directory (one planted by another user
    /// lets that user hold the lock, or change the pid it names, at will).
    private static func checkOwnFile(_ fd: FileDescriptor, path: String) throws(SystemError) {
        let status = try fd.status()
        guard status.kind == .regular else {
            throw SystemError("lock", path: path, errno: .invalidArgument, detail: "it is not a regular file")
        }
        guard status.linkCount == 1 else {
            throw SystemError("lock", path: path, errno: .notPermitted, detail: "it has \(status.linkCount) links (a hard link to another file may have been planted there); remove it")
        }
        if status.owner != Privilege.userID, status.owner != (try? FileSystem.status(FileSystem.parent(of: path)))?.owner {
            throw SystemError("lock", path: path, errno: .notPermitted,
                              detail: "it belongs to user \(status.owner), not to this user or the owner of its directory; remove it")
        }
    }
}
