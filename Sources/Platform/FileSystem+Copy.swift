#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

extension FileSystem {
    // MARK: - Copying

    /// The two buffers ``copyFile(_:to:mode:maxBytes:stop:observe:)`` passes between its I/O thread
    /// (which reads into a free buffer, writes it, and hands it over) and the observing thread
    /// (which observes a handed-over buffer and frees it). `filled`, `ended`, `failure` and
    /// `abandoned` are guarded by `lock`; a buffer's bytes belong to one side at a time, as
    /// `filled` says.
    private final class CopyBuffers: @unchecked Sendable {
        let lock = ConditionLock()
        let buffers: [UnsafeMutableRawBufferPointer]
        /// The byte count of each buffer handed over and not yet observed; nil while it is free.
        var filled: [Int?] = [nil, nil]
        /// Set by the I/O thread when it has nothing more to hand over (the end, or a failure).
        var ended = false
        var failure: SystemError?
        /// Set by the observing thread when it stops taking buffers: the I/O thread then stops.
        var abandoned = false

        init(size: Int) {
            buffers = [UnsafeMutableRawBufferPointer.allocate(byteCount: size, alignment: 16),
                       UnsafeMutableRawBufferPointer.allocate(byteCount: size, alignment: 16)]
        }

        deinit { buffers.forEach { $0.deallocate() } }

        /// The I/O side: reads each chunk into the next free buffer, writes it (and starts its
        /// writeback every `interval` bytes), then hands it over.
        func produce(input: FileDescriptor, output: FileDescriptor, interval: Int, maxBytes: Int) {
            var index = 0
            var total = 0
            var flushed = 0
            while true {
                let wanted = lock.withLock {
                    _ = lock.wait(until: UInt64.max) { filled[index] == nil || abandoned }
                    return !abandoned
                }
                guard wanted else { break }
                do throws(SystemError) {
                    let count = try input.read(into: buffers[index])
                    if count == 0 { break }
                    // A file that grows while it is copied stops at the cap, not at the disk's end.
                    guard total + count <= maxBytes else {
                        throw SystemError("copy", path: input.path, errno: Errno(rawValue: EFBIG), detail: "it grew past \(maxBytes) bytes while it was copied")
                    }
                    try output.writeAll(UnsafeRawBufferPointer(rebasing: buffers[index][0..<count]))
                    total += count
                    // The disk writes while the rest is read and hashed, instead of all of it
                    // in the final fsync (a 17 MB binary: 13 ms of fsync here otherwise).
                    if total - flushed >= interval {
                        output.startWriteback(offset: flushed, count: total - flushed)
                        flushed = total
                    }
                    lock.withLock {
                        filled[index] = count
                        lock.broadcast()
                    }
                } catch {
                    lock.withLock { failure = error }
                    break
                }
                index = 1 - index
            }
            lock.withLock {
                ended = true
                lock.broadcast()
            }
        }
    }

    /// Opens the source of a copy once, without blocking (a FIFO swapped in for it is refused,
    /// not waited on), and checks what was opened: a regular file of at most `maxBytes`.
    private static func openCopySource(_ source: String, maxBytes: Int) throws(SystemError) -> FileDescriptor {
        let input = try FileDescriptor.open(source, [.nonBlocking])
        do throws(SystemError) {
            let opened = try input.status()
            guard opened.kind == .regular else {
                throw SystemError("copy", path: source, errno: .invalidArgument, detail: "it is not a regular file")
            }
            guard opened.size <= UInt64(maxBytes) else {
                throw SystemError("copy", path: source, errno: Errno(rawValue: EFBIG), detail: "it is larger than \(maxBytes) bytes")
            }
            return input
        } catch {
            try? input.close()
            throw error
        }
    }

    /// How much of a copy is written before the kernel is asked to start writing it out.
    static let copyWritebackInterval = 2 << 20

    /// Copies a regular file to a new file at `destination` (which must not exist), calling
    /// `observe` with each chunk read (to hash what is copied), then fsyncs the copy.
    ///
    /// The source is opened once, without blocking (a FIFO swapped in for it is refused, not
    /// waited on), and what was opened must be a regular file of at most `maxBytes`: a path
    /// checked before is never trusted to name the same file now.
    ///
    /// `observe` sees exactly the bytes written (the same buffer, handed over once written), on
    /// the calling thread, while another thread reads and writes the next chunk: hashing a 17 MB
    /// binary adds little to the copy on a machine with a second core. Calls to `observe` come
    /// in the file's order.
    /// - Parameters:
    ///   - maxBytes: the largest file copied; one that is larger, or grows past it, is refused.
    ///   - stop: asked after each chunk; true ends the copy (SIGINT while a large file is copied).
    /// - Returns: the number of bytes copied.
    /// - Throws: ``SystemError`` (`EINTR` when stopped); a partial copy is removed.
    @discardableResult
    public static func copyFile(
        _ source: String, to destination: String, mode: mode_t, maxBytes: Int = Int.max,
        stop: () -> Bool = { false }, observe: (UnsafeRawBufferPointer) -> Void = { _ in }
    ) throws(SystemError) -> Int {
        let output = try FileDescriptor.open(destination, [.writeOnly, .create, .exclusive], mode: mode)
        // close() gives the descriptor up even when it reports an error: never a second one,
        // which could close a descriptor another thread has just been given.
        var closing = false
        do throws(SystemError) {
            let total = try copyFile(source, into: output, maxBytes: maxBytes, stop: stop, observe: observe)
            closing = true
            try output.close()
            return total
        } catch {
            if !closing { try? output.close() }
            try? removeFile(destination)
            throw error
        }
    }

    /// Copies a regular file into `output` (a new, empty file the caller opened for writing and
    /// still owns), as ``copyFile(_:to:mode:maxBytes:stop:observe:)`` does, then fsyncs it.
    /// - Returns: the number of bytes copied.
    /// - Throws: ``SystemError`` (`EINTR` when stopped); the caller removes the partial copy.
    @discardableResult
    public static func copyFile(
        _ source: String, into output: FileDescriptor, maxBytes: Int = Int.max,
        stop: () -> Bool = { false }, observe: (UnsafeRawBufferPointer) -> Void = { _ in }
    ) throws(SystemError) -> Int {
        let input = try openCopySource(source, maxBytes: maxBytes)
        defer { try? input.close() }
        var total = 0
        // One thread of its own for the copy, not a dispatch queue: a library embedded in a
        // daemon adds no descriptors (a queue's epoll, eventfd and timerfd) to the host's
        // table. It uses the system calls of this task (faults injected by tests included).
        let shared = CopyBuffers(size: 1 << 20)
        let calls = SystemCalls.current
        let io = ThreadGroup()
        io.start {
            SystemCalls.$current.withValue(calls) {
                shared.produce(input: input, output: output, interval: copyWritebackInterval, maxBytes: maxBytes)
            }
        }
        var index = 0
        while true {
            let count = shared.lock.withLock { () -> Int? in
                _ = shared.lock.wait(until: UInt64.max) { shared.filled[index] != nil || shared.ended }
                return shared.filled[index]
            }
            guard let count else { break }
            if stop() {
                shared.lock.withLock {
                    shared.abandoned = true
                    shared.lock.broadcast()
                }
                io.wait()
                throw SystemError("copy", path: source, errno: .interrupted, detail: "stopped after \(total) bytes")
            }
            observe(UnsafeRawBufferPointer(rebasing: shared.buffers[index][0..<count]))
            total += count
            shared.lock.withLock {
                shared.filled[index] = nil
                shared.lock.broadcast()
            }
            index = 1 - index
        }
        io.wait()
        if let failure = shared.failure { throw failure }
        try output.sync()
        return total
    }
}

extension FileSystem {
    /// Copies a regular file into `output` (a new, empty file the caller opened for writing and
    /// still owns) inside the kernel, ``copyWritebackInterval`` at a time with the writeback of
    /// each piece started, then (with `sync`) fsyncs it: no byte passes through this process,
    /// for a copy that is hashed afterwards from the file itself. The source is checked as
    /// ``copyFile(_:to:mode:maxBytes:stop:observe:)`` checks it; where the kernel cannot copy
    /// between the two files (another file system, on an older kernel), it is copied that way.
    /// - Returns: the number of bytes copied.
    /// - Throws: ``SystemError`` ("write to" the output; `EINTR` when stopped); the caller
    ///   removes the partial copy.
    @discardableResult
    public static func copyFileInKernel(_ source: String, into output: FileDescriptor, maxBytes: Int = Int.max,
                                        sync: Bool = true, stop: () -> Bool = { false }) throws(SystemError) -> Int {
        let input = try openCopySource(source, maxBytes: maxBytes)
        defer { try? input.close() }
        let calls = SystemCalls.current
        var total = 0
        while true {
            if stop() { throw SystemError("copy", path: source, errno: .interrupted, detail: "stopped after \(total) bytes") }
            let copied = calls.copyFileRange(input.rawValue, output.rawValue, copyWritebackInterval)
            if copied < 0 {
                let error = Errno.current
                if error == .interrupted { continue }
                if total == 0, [Errno.crossDevice, .invalidArgument, Errno(rawValue: ENOSYS), Errno(rawValue: EOPNOTSUPP)].contains(error) {
                    return try copyFile(source, into: output, maxBytes: maxBytes, stop: stop)
                }
                throw SystemError("write to", path: output.path, errno: error)
            }
            if copied == 0 { break }
            // A file that grows while it is copied stops at the cap, not at the disk's end.
            guard total + copied <= maxBytes else {
                throw SystemError("copy", path: source, errno: Errno(rawValue: EFBIG), detail: "it grew past \(maxBytes) bytes while it was copied")
            }
            output.startWriteback(offset: total, count: copied)
            total += copied
        }
        if sync { try output.sync() }
        return total
    }

    /// Whether two regular files hold the same bytes, read side by side in pieces until the
    /// first that differs (files that differ early, as two builds do in their headers, cost
    /// little to tell apart).
    /// - Throws: ``SystemError`` where one cannot be opened or read.
    public static func sameContents(_ first: String, _ second: String) throws(SystemError) -> Bool {
        let one = try FileDescriptor.open(first, [.nonBlocking])
        defer { try? one.close() }
        let other = try FileDescriptor.open(second, [.nonBlocking])
        defer { try? other.close() }
        let (oneStatus, otherStatus) = (try one.status(), try other.status())
        guard oneStatus.kind == .regular, otherStatus.kind == .regular, oneStatus.size == otherStatus.size else { return false }
        let piece = 1 << 18
        let buffers = UnsafeMutableRawBufferPointer.allocate(byteCount: 2 * piece, alignment: 16)
        defer { buffers.deallocate() }
        let (left, right) = (UnsafeMutableRawBufferPointer(rebasing: buffers[0..<piece]),
                             UnsafeMutableRawBufferPointer(rebasing: buffers[piece...]))
        // The end first (what is appended to a file, a signature or a stamp, differs there),
        // then from the start.
        let size = Int(clamping: oneStatus.size)
        let tail = min(size, piece)
        for file in [one, other] where !file.seek(to: size - tail) {
            throw SystemError("read", path: file.path, errno: .current)
        }
        guard try readFully(one, into: left) == tail, try readFully(other, into: right) == tail,
              memcmp(left.baseAddress!, right.baseAddress!, tail) == 0 else { return false }
        for file in [one, other] where !file.seek(to: 0) {
            throw SystemError("read", path: file.path, errno: .current)
        }
        while true {
            let count = try readFully(one, into: left)
            guard try readFully(other, into: right) == count else { return false }
            if count == 0 { return true }
            guard memcmp(left.baseAddress!, right.baseAddress!, count) == 0 else { return false }
        }
    }

    /// Reads until `buffer` is full or the file ends; the bytes read.
    private static func readFully(_ file: FileDescriptor, into buffer: UnsafeMutableRawBufferPointer) throws(SystemError) -> Int {
        var count = 0
        while count < buffer.count {
            let read = try file.read(into: UnsafeMutableRawBufferPointer(rebasing: buffer[count...]))
            if read == 0 { break }
            count += read
        }
        return count
    }
}
