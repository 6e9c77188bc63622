#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

extension Socket {
    /// `socketpair(AF_UNIX, SOCK_STREAM)`: two connected ends, close-on-exec and non-blocking.
    ///
    /// One end is typically handed to a child (``Subprocess/InheritedDescriptor`` clears
    /// close-on-exec on its copy only); every wait on either end goes through `poll` with a timeout.
    /// - Parameter name: what the pair connects, for error messages ("module counter").
    /// - Throws: ``SystemError`` "create a socket pair for".
    public static func pair(name: String) throws(SystemError) -> (Socket, Socket) {
        var descriptors: [Int32] = [-1, -1]
        let type = Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue)
        try systemCall("create a socket pair for", path: name) { socketpair(AF_UNIX, type, 0, &descriptors) }
        return (Socket(rawValue: descriptors[0], endpoint: name), Socket(rawValue: descriptors[1], endpoint: name))
    }

    /// Wraps a descriptor this process inherited (a module worker's end of its pair).
    /// - Throws: ``SystemError`` "set flags of" when it is not open.
    public static func inherited(_ descriptor: Int32, name: String) throws(SystemError) -> Socket {
        let flags = try systemCall("get flags of", path: name) { fcntl(descriptor, F_GETFL) }
        if flags & O_NONBLOCK == 0 { try systemCall("set flags of", path: name) { fcntl(descriptor, F_SETFL, flags | O_NONBLOCK) } }
        try Descriptors.setCloseOnExec(descriptor, true, path: name)
        return Socket(rawValue: descriptor, endpoint: name)
    }
}

/// A mutex with a condition variable on the monotonic clock: for state shared between threads
/// that must also be waited on ("until nothing is in flight", with a deadline).
public final class ConditionLock: @unchecked Sendable {
    // The pointers are allocated once and never move; every access goes through pthread calls.
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private let condition: UnsafeMutablePointer<pthread_cond_t>

    public init() {
        mutex = .allocate(capacity: 1)
        condition = .allocate(capacity: 1)
        pthread_mutex_init(mutex, nil)
        var attributes = pthread_condattr_t()
        pthread_condattr_init(&attributes)
        pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC)
        pthread_cond_init(condition, &attributes)
        pthread_condattr_destroy(&attributes)
    }

    deinit {
        pthread_cond_destroy(condition)
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
        condition.deallocate()
    }

    /// Takes the lock.
    public func lock() { pthread_mutex_lock(mutex) }
    /// Releases the lock.
    public func unlock() { pthread_mutex_unlock(mutex) }

    /// Runs `body` holding the lock.
    public func withLock<Result, Failure: Error>(_ body: () throws(Failure) -> Result) throws(Failure) -> Result {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body()
    }

    /// Waits (holding the lock) until `condition` holds or the monotonic `deadline` (nanoseconds,
    /// ``MonotonicClock/now()``) passes; wakes on every ``broadcast()``.
    /// - Returns: whether the condition holds.
    public func wait(until deadline: UInt64, for predicate: () -> Bool) -> Bool {
        while !predicate() {
            if MonotonicClock.now() >= deadline { return false }
            if deadline == UInt64.max {
                pthread_cond_wait(condition, mutex)
                continue
            }
            var time = timespec(tv_sec: Int(deadline / 1_000_000_000), tv_nsec: Int(deadline % 1_000_000_000))
            _ = pthread_cond_timedwait(condition, mutex, &time)
        }
        return true
    }

    /// Wakes every waiter (call holding the lock).
    public func broadcast() { pthread_cond_broadcast(condition) }
}

/// The resident memory of this process (`VmRSS` of /proc/self/status), in KiB; nil if unreadable.
public enum ResidentMemory {
    public static func kibibytes(of pid: Int32? = nil) -> Int? {
        let path = pid.map { "/proc/\($0)/status" } ?? "/proc/self/status"
        guard let bytes = try? FileSystem.readFile(path) else { return nil }
        for line in String(decoding: bytes, as: UTF8.self).split(separator: "\n") where line.hasPrefix("VmRSS:") {
            return line.dropFirst(6).split(whereSeparator: { $0 == " " || $0 == "\t" }).first.flatMap { Int($0) }
        }
        return nil
    }
}

/// The address of the Unix socket at `path`.
/// - Throws: ``SystemError`` `action` with ENAMETOOLONG when the path does not fit.
func unixAddress(_ path: String, action: String) throws(SystemError) -> sockaddr_un {
    var address = sockaddr_un()
    address.sun_family = sa_family_t(AF_UNIX)
    let bytes = Array(path.utf8)
    guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else {
        throw SystemError(action, path: path, errno: Errno(rawValue: ENAMETOOLONG))
    }
    withUnsafeMutableBytes(of: &address.sun_path) { raw in
        for (index, byte) in bytes.enumerated() { raw[index] = byte }
    }
    return address
}

extension Socket {
    /// Connects to the Unix stream socket at `path` (at once, or fails: a Unix socket never
    /// connects in the background). The socket is close-on-exec and non-blocking.
    /// - Throws: ``SystemError`` "connect to" (`ENOENT`/`ECONNREFUSED` when nothing listens there).
    public static func connect(unixPath path: String) throws(SystemError) -> Socket {
        var address = try unixAddress(path, action: "connect to")
        let type = Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue)
        let fd = try systemCall("open a socket for", path: path) { socket(AF_UNIX, type, 0) }
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        if connected != 0 {
            let error = Errno.current
            // A Unix socket connects at once or not at all (EAGAIN: its backlog is full).
            Glibc.close(fd)
            throw SystemError("connect to", path: path, errno: error)
        }
        return Socket(rawValue: fd, endpoint: path)
    }
}

extension Socket {
    /// Takes ownership of an open socket descriptor (one accepted by a ``ListeningSocket``).
    public init(adopting descriptor: Int32, endpoint: String) {
        self.init(rawValue: descriptor, endpoint: endpoint)
    }
}

extension ListeningSocket {
    /// Waits until a connection is waiting to be accepted (or `timeout` seconds pass; nil: forever).
    /// - Returns: whether one is waiting.
    public func waitForConnection(timeout: Double? = nil) -> Bool {
        var descriptor = pollfd(fd: rawValue, events: Int16(POLLIN), revents: 0)
        let milliseconds = timeout.map { Int32(min(max(0, $0) * 1000, Double(Int32.max))) } ?? -1
        while true {
            let ready = poll(&descriptor, 1, milliseconds)
            if ready >= 0 { return ready > 0 }
            if Errno.current != .interrupted { return false }
        }
    }
}

extension ProcessControl {
    /// Gives the processor to another thread (`sched_yield`): for waits on a condition another
    /// thread makes true within microseconds.
    public static func yieldProcessor() { _ = sched_yield() }
}
