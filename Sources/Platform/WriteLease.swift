#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A write lease on a file this process is writing (`fcntl(F_SETLEASE, F_WRLCK)`): the proof
/// that no other process has opened the file since the lease was taken.
///
/// The kernel grants it only while no other descriptor has the file open, and breaks it as soon
/// as anything else opens the file (for reading or writing, by any name, through
/// `/proc/<pid>/fd` too) or truncates it by name; such an open waits until the lease is released
/// (at most `/proc/sys/fs/lease-break-time`). Bytes hashed as they were written through the
/// leased descriptor are therefore the file's bytes for as long as ``isUnbroken`` holds: no
/// read-back is needed to trust them. A write through a descriptor opened before the lease is
/// impossible, since it would have kept the lease from being granted (a shared writable mapping
/// holds its descriptor's open file).
///
/// A break is signalled with SIGURG (ignored unless a process handles it) instead of SIGIO,
/// which would end the process; the lease is not given up early, so another process's open
/// waits until the holder ends it or the kernel's lease-break-time passes.
///
/// What it does not cover: a process allowed to trace this one (`ptrace`, `pidfd_getfd`) can
/// write through the leased descriptor itself, as it can change this process's memory.
public final class WriteLease: @unchecked Sendable {
    /// The leased descriptor, owned by the lease: ``end(after:)`` closes it.
    public let descriptor: FileDescriptor
    private let lock = ConditionLock()
    private var ended = false

    /// Takes a write lease on `descriptor`'s file and with it the descriptor; nil where the
    /// kernel refuses it (another descriptor has the file open, the file system has no leases,
    /// leases are disabled, or the file is another user's): the caller keeps the descriptor
    /// and proves the file's bytes another way.
    public init?(_ descriptor: FileDescriptor) {
        guard fcntl(descriptor.rawValue, LeaseCommand.setSignal, SIGURG) == 0,
              fcntl(descriptor.rawValue, LeaseCommand.setLease, Int32(F_WRLCK)) == 0 else { return nil }
        self.descriptor = descriptor
    }

    /// True while nothing else has opened or truncated the file since the lease was taken.
    public var isUnbroken: Bool {
        lock.withLock { !ended && fcntl(descriptor.rawValue, LeaseCommand.getLease) == Int32(F_WRLCK) }
    }

    /// Ends the lease, then closes the descriptor (the file can be executed once no descriptor
    /// has it open for writing), once: later calls do nothing. When `status` is the identity
    /// by which the file will be recognised, the change time it shows is past first
    /// (``waitPastChange(of:)``).
    public func end(after status: FileStatus? = nil) {
        lock.withLock {
            guard !ended else { return }
            ended = true
            if let status { Self.waitPastChange(of: status) }
            // Given up explicitly before the close: a child forked meanwhile by another thread
            // shares the open file description until its exec, and the lease with it, which
            // would make an open of the file wait (or fail with EWOULDBLOCK) after the close.
            _ = fcntl(descriptor.rawValue, LeaseCommand.setLease, Int32(F_UNLCK))
            try? descriptor.close()
        }
    }

    deinit { end() }

    /// Waits until a change to the file can no longer carry the change time `status` shows
    /// (the file system stamps changes from a clock that advances in ticks of a few
    /// milliseconds): call it before the lease ends when `status` is the identity by which the
    /// file will be recognised, so that a write made just after the lease ends cannot keep it.
    /// At most 20 ms (a clock set back leaves a change time in the future: nothing to wait for).
    public static func waitPastChange(of status: FileStatus) {
        var now = timespec()
        func nanoseconds() -> Int64 {
            clock_gettime(CLOCK_REALTIME_COARSE, &now)
            return Int64(now.tv_sec) * 1_000_000_000 + Int64(now.tv_nsec)
        }
        let deadline = nanoseconds() + 20_000_000
        while true {
            let current = nanoseconds()
            if current > status.changeNanoseconds || current > deadline { return }
            var pause = timespec(tv_sec: 0, tv_nsec: 250_000)
            nanosleep(&pause, nil)
        }
    }
}

extension FileDescriptor {
    /// Runs `body` (a read of the whole file, typically) while a read lease on this descriptor
    /// (open read-only) proves that nothing has the file open for writing: no descriptor, and no
    /// shared writable mapping, whose writes need not change the file's times. The kernel grants
    /// the lease only while there is no writer and breaks it at the first open for writing or
    /// truncate, so what `body` read is the whole file as it stands when it returns.
    ///
    /// A writer that goes within `grace` is waited for: a process that forks while another of
    /// its threads has the file open for writing gives the child a copy of that descriptor until
    /// the child's `exec` closes it. With both cores of a 2-core machine busy, a wait of 0.1 s was
    /// seen to refuse a copy that passed when run alone, so the default waits a second: only a
    /// real writer, which is refused all the same, waits the whole of it.
    ///
    /// Where the file system has no leases (or they are disabled), `body` runs without that proof.
    /// - Parameter grace: how long to wait for a writer to go, in seconds (1 by default).
    /// - Throws: ``SystemError`` (`ETXTBSY`) naming the path when a writer has the file open or
    ///   opened it meanwhile; what `body` throws.
    public func withoutWriters<Result>(grace: Double = 1, _ body: () throws -> Result) throws -> Result {
        guard fcntl(rawValue, LeaseCommand.setSignal, SIGURG) == 0 else { return try body() }
        let start = MonotonicClock.now()
        while fcntl(rawValue, LeaseCommand.setLease, Int32(F_RDLCK)) != 0 {
            guard Errno.current == .wouldBlock else { return try body() }
            guard MonotonicClock.seconds(since: start) < grace else {
                throw SystemError("read", path: path, errno: .textBusy, detail: "another process has it open for writing")
            }
            var pause = timespec(tv_sec: 0, tv_nsec: 1_000_000)
            nanosleep(&pause, nil)
        }
        defer { _ = fcntl(rawValue, LeaseCommand.setLease, Int32(F_UNLCK)) }
        let result = try body()
        guard fcntl(rawValue, LeaseCommand.getLease) == Int32(F_RDLCK) else {
            throw SystemError("read", path: path, errno: .textBusy, detail: "another process opened it for writing while it was read")
        }
        return result
    }
}

/// The `fcntl` commands of leases (Linux), which Glibc's Swift module does not export.
private enum LeaseCommand {
    static let setSignal: Int32 = 10  // F_SETSIG
    static let setLease: Int32 = 1024  // F_SETLEASE
    static let getLease: Int32 = 1025  // F_GETLEASE
}
