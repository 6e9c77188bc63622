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

    /// Takes the lock on `path` (created if missing) without waiting.
    /// - Returns: nil when another process holds it.
    /// - Throws: ``SystemError`` when the file cannot be opened or locked for another reason.
    public static func tryAcquire(_ path: String) throws(SystemError) -> FileLock? {
        let fd = try FileDescriptor.open(path, [.readWrite, .create], mode: 0o644)
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

    /// Adopts a descriptor inherited across `exec` that still holds the lock on `path`.
    /// - Returns: nil when `rawValue` is not an open descriptor of that file holding the lock.
    public static func adopt(rawValue: Int32, path: String) -> FileLock? {
        let fd = FileDescriptor(rawValue: rawValue, path: path)
        guard let inherited = try? fd.status(), let onDisk = try? FileSystem.status(path),
              inherited.inode == onDisk.inode, inherited.device == onDisk.device else { return nil }
        // Re-locking a lock we already hold succeeds at once; if it would block, it is not ours.
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
}
