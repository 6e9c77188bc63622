#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CPlatform

/// The fallback after an upgrade's `exec`: a process forked just before it, which restores the
/// old version if the new one does not confirm in time.
///
/// The watchdog keeps the listening sockets (at 3, 4, …), the home's lock and the read end of a
/// confirmation pipe whose write end crosses the `exec`. A byte on the pipe (the new version
/// confirmed, or rolled back by itself) stands it down. End of file (the new version died, or
/// exec'd without a word) or the deadline makes it take over: it SIGKILLs its parent (the new
/// version), waits until it is gone, releases the lock and execs the old version's binary with
/// the original argv and environment and the listeners as `LISTEN_FDS` (with its own pid as
/// `LISTEN_PID`). The old version's recovery at start then rolls the open transaction back.
public enum Watchdog {
    // MARK: - API

    /// Forks the watchdog. Call with the listeners already at 3, 4, … (`Descriptors.arrange`).
    /// - Parameters:
    ///   - deadlineSeconds: how long the new version has to confirm.
    ///   - listenerCount: how many listening sockets sit at 3, 4, ….
    ///   - lock: the descriptor holding the home's lock.
    ///   - path: the old version's binary.
    ///   - arguments: its argv (the program's own).
    ///   - environment: its environment, with `LISTEN_FDS` and `LISTEN_FDNAMES` (`LISTEN_PID` is set by the watchdog).
    /// - Returns: the confirmation pipe's write end (close-on-exec clear, for the new version)
    ///   and the watchdog's pid (a child of the new version, which reaps it after standing it down).
    /// - Throws: ``SystemError`` "create pipe", "duplicate" or "fork".
    public static func start(deadlineSeconds: Double, listenerCount: Int, lock: Int32, path: String,
                              arguments: [String], environment: [String: String]) throws(SystemError) -> (confirmation: Int32, pid: Int32) {
        var ends: [Int32] = [-1, -1]
        try systemCall("create pipe", path: "confirmation pipe") { pipe(&ends) }
        defer { Descriptors.close(ends[0]); Descriptors.close(ends[1]) }
        let floor = Int32(3 + listenerCount)
        let read = try Descriptors.duplicate(ends[0], atLeast: floor, closeOnExec: true)
        let write: Int32
        do {
            write = try Descriptors.duplicate(ends[1], atLeast: floor, closeOnExec: false)
        } catch {
            Descriptors.close(read)
            throw error
        }
        var variables = environment
        variables["LISTEN_PID"] = String(repeating: "0", count: 21)
        let entries = variables.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
        let slot = entries.firstIndex { $0.hasPrefix("LISTEN_PID=") }!
        var child: Int32 = 0
        let result = withCStrings(arguments) { argv in
            withCStrings(entries) { envp in
                var options = ad_watchdog_options(confirm_read_fd: read, confirm_write_fd: write, lock_fd: lock,
                                                  listener_count: Int32(listenerCount),
                                                  deadline_ms: Int(deadlineSeconds * 1000), path: nil,
                                                  argv: argv, envp: envp, listen_pid_value: envp[slot]! + 11)
                return path.withCString { path in
                    options.path = path
                    return ad_watchdog_start(&options, &child)
                }
            }
        }
        let saved = Errno(rawValue: errno)
        Descriptors.close(read)
        if result != 0 {
            Descriptors.close(write)
            throw SystemError("fork", path: "watchdog of \(path)", errno: saved)
        }
        return (write, child)
    }

    /// Stands the watchdog down (one byte on the confirmation pipe), closes the pipe and reaps
    /// the watchdog, which exits on that byte.
    /// - Parameter marker: `<descriptor>:<pid>`, as ``marker(confirmation:pid:)`` wrote it.
    public static func standDown(_ marker: String) {
        let parts = marker.split(separator: ":").compactMap { Int32($0) }
        guard parts.count == 2, parts[0] > 2 else { return }
        var byte: UInt8 = 49
        while Glibc.write(parts[0], &byte, 1) < 0 && errno == EINTR {}
        Descriptors.close(parts[0])
        var status: Int32 = 0
        while waitpid(parts[1], &status, 0) < 0 && errno == EINTR {}
    }

    /// The marker a restarted version finds in its environment: `<descriptor>:<pid>`.
    public static func marker(confirmation: Int32, pid: Int32) -> String { "\(confirmation):\(pid)" }

    /// Marks the marker's descriptor close-on-exec; the marker, or nil when it does not name the
    /// write end of a pipe (a forged marker must not make the program write into another file).
    public static func adopt(_ marker: String) -> String? {
        let parts = marker.split(separator: ":").compactMap { Int32($0) }
        guard parts.count == 2, parts[0] > 2, parts[1] > 0 else { return nil }
        var status = stat()
        guard fstat(parts[0], &status) == 0, status.st_mode & S_IFMT == S_IFIFO,
              fcntl(parts[0], F_GETFL) & O_ACCMODE == O_WRONLY,
              (try? Descriptors.setCloseOnExec(parts[0], true)) != nil else { return nil }
        return marker
    }
}
