import Platform

/// Runs `body` holding an exclusive lock on `path` (created if missing), so that two publishes
/// of one repository, or two checks of one channel, never interleave their writes. Fails at once,
/// without waiting, when another process holds the lock; the kernel releases a dead holder's lock.
func withExclusiveLock<T>(_ path: String, what: String, _ body: () throws(ReleaseChannelError) -> T) throws(ReleaseChannelError) -> T {
    let lock: FileLock?
    do {
        lock = try FileLock.tryAcquire(path)
    } catch {
        throw ReleaseChannelError(.storage, "\(error)")
    }
    guard let lock else { throw ReleaseChannelError(.storage, "Another process is using \(what) (it holds the lock on \"\(path)\")") }
    defer { lock.release() }
    return try body()
}
