import CPlatform
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// An open file descriptor, remembered with the path it was opened from for error messages.
public struct FileDescriptor: Sendable {
    /// The raw descriptor.
    public let rawValue: Int32
    /// The path it was opened from (for messages only).
    public let path: String

    public init(rawValue: Int32, path: String) {
        self.rawValue = rawValue
        self.path = path
    }

    /// How to open a file.
    public struct Options: OptionSet, Sendable {
        public let rawValue: Int32
        public init(rawValue: Int32) { self.rawValue = rawValue }
        public static let readOnly = Options([])
        public static let writeOnly = Options(rawValue: O_WRONLY)
        public static let readWrite = Options(rawValue: O_RDWR)
        public static let create = Options(rawValue: O_CREAT)
        public static let exclusive = Options(rawValue: O_EXCL)
        public static let truncate = Options(rawValue: O_TRUNC)
        public static let append = Options(rawValue: O_APPEND)
        public static let directory = Options(rawValue: O_DIRECTORY)
        public static let noFollow = Options(rawValue: O_NOFOLLOW)
        public static let nonBlocking = Options(rawValue: O_NONBLOCK)
    }

    /// Opens `path`; the descriptor is close-on-exec.
    /// - Throws: ``SystemError`` "open".
    public static func open(_ path: String, _ options: Options = .readOnly, mode: mode_t = 0o644) throws(SystemError) -> FileDescriptor {
        let calls = SystemCalls.current
        let fd = try systemCall("open", path: path) { calls.open(path, options.rawValue | O_CLOEXEC, mode) }
        return FileDescriptor(rawValue: fd, path: path)
    }

    /// Reads up to `buffer.count` bytes; 0 at end of file.
    /// - Throws: ``SystemError`` "read".
    public func read(into buffer: UnsafeMutableRawBufferPointer) throws(SystemError) -> Int {
        let calls = SystemCalls.current
        return try systemCall("read", path: path) { calls.read(rawValue, buffer.baseAddress, buffer.count) }
    }

    /// What is left to read, at most `limit` bytes, read straight into the array returned: one
    /// allocation sized for `expectedSize` bytes (the file's size by `stat`) plus one, at least a
    /// page (a `/proc` file says 0), grown by doubling only if the file turns out longer. An
    /// uncapped read (`limit` `.max`) starts at no more than 16 MiB whatever `stat` says: a
    /// sparse file can claim terabytes.
    /// - Throws: ``SystemError`` "read".
    public func readToEnd(limit: Int = .max, expectedSize: Int) throws(SystemError) -> [UInt8] {
        let limit = max(limit, 0)
        let expected = max(expectedSize, 0) < Int.max ? max(expectedSize, 0) + 1 : Int.max
        var capacity = min(limit, max(4096, min(expected, limit == .max ? 16 << 20 : .max)))
        var content: [UInt8] = []
        var failure: SystemError?
        var ended = false
        while true {
            let kept = content
            content = [UInt8](unsafeUninitializedCapacity: capacity) { buffer, count in
                _ = buffer.initialize(from: kept)
                count = kept.count
                while count < capacity {
                    do throws(SystemError) {
                        let read = try read(into: UnsafeMutableRawBufferPointer(UnsafeMutableBufferPointer(rebasing: buffer[count..<capacity])))
                        if read == 0 {
                            ended = true
                            return
                        }
                        count += read
                    } catch {
                        failure = error
                        return
                    }
                }
            }
            if let failure { throw failure }
            if ended || content.count >= limit { return content }
            capacity = capacity > limit / 2 ? limit : min(limit, max(capacity * 2, 64 << 10))
        }
    }

    /// Reads to the end in pieces of at most 1 MiB, handing each to `body` (hashing or copying a
    /// file of any size in bounded memory).
    /// - Throws: ``SystemError`` "read", or what `body` throws.
    public func readChunks(_ body: (UnsafeRawBufferPointer) throws(SystemError) -> Void) throws(SystemError) {
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 16)
        defer { buffer.deallocate() }
        while true {
            let count = try read(into: buffer)
            if count == 0 { return }
            try body(UnsafeRawBufferPointer(rebasing: buffer[0..<count]))
        }
    }

    /// Writes all of `bytes`, looping over short writes.
    /// - Throws: ``SystemError`` "write to".
    public func writeAll(_ bytes: UnsafeRawBufferPointer) throws(SystemError) {
        let calls = SystemCalls.current
        var offset = 0
        while offset < bytes.count {
            let written = try systemCall("write to", path: path) {
                calls.write(rawValue, bytes.baseAddress! + offset, bytes.count - offset)
            }
            offset += written
        }
    }

    /// Writes all of `bytes`.
    public func writeAll(_ bytes: [UInt8]) throws(SystemError) {
        var failure: SystemError?
        bytes.withUnsafeBytes { raw in
            do throws(SystemError) { try writeAll(raw) } catch { failure = error }
        }
        if let failure { throw failure }
    }

    /// Flushes the file's data and metadata to the device.
    /// - Throws: ``SystemError`` "fsync".
    public func sync() throws(SystemError) {
        let calls = SystemCalls.current
        try systemCall("fsync", path: path) { calls.fsync(rawValue) }
    }

    /// Asks the kernel to start writing `count` bytes from `offset` to the device, without
    /// waiting (Linux `sync_file_range(SYNC_FILE_RANGE_WRITE)`). A hint that lets a long write
    /// overlap with the disk, so the final ``sync()`` has little left to flush; it makes
    /// nothing durable, and a failure is ignored.
    public func startWriteback(offset: Int, count: Int) {
        _ = ad_start_writeback(rawValue, Int64(offset), Int64(count))
    }

    /// Closes the descriptor. Never retried on EINTR (the descriptor is gone either way).
    /// - Throws: ``SystemError`` "close".
    public func close() throws(SystemError) {
        let calls = SystemCalls.current
        try systemCall("close", path: path, retryOnInterrupt: false) { calls.close(rawValue) }
    }

    /// Runs `body`, then closes; if both fail, the body's error is the one reported.
    public func closeAfter<Result>(_ body: () throws -> Result) throws -> Result {
        let result: Result
        do {
            result = try body()
        } catch {
            try? close()
            throw error
        }
        try close()
        return result
    }

    /// Status of the open file.
    /// - Throws: ``SystemError`` "stat".
    public func status() throws(SystemError) -> FileStatus {
        var info = stat()
        try systemCall("stat", path: path) { fstat(rawValue, &info) }
        return FileStatus(info)
    }

    /// Bytes free for an unprivileged user on the file system holding this file.
    /// - Throws: ``SystemError`` "statvfs".
    public func availableBytes() throws(SystemError) -> UInt64 {
        let calls = SystemCalls.current
        var info = statvfs()
        try systemCall("statvfs", path: path) { calls.fstatvfs(rawValue, &info) }
        return UInt64(info.f_bavail) * UInt64(info.f_frsize)
    }

    /// Whether the file lives on a tmpfs (memory, never a disk, a FUSE or a network file system).
    /// - Throws: ``SystemError`` "statfs".
    public func isOnTmpfs() throws(SystemError) -> Bool {
        var type: Int64 = 0
        try systemCall("statfs", path: path) {
            type = ad_file_system_type(rawValue)
            return type < 0 ? -1 : 0
        }
        return type == 0x0102_1994  // TMPFS_MAGIC
    }

    /// Cuts the file to `length` bytes.
    /// - Throws: ``SystemError`` "truncate".
    public func truncate(to length: Int) throws(SystemError) {
        try systemCall("truncate", path: path) { ftruncate(rawValue, off_t(length)) }
    }

    /// Makes `bytes` the whole content of the file open at offset 0: written over what is there,
    /// the file cut first only when it is not already that long (a truncate costs the file
    /// system a journal entry and frees and allocates its block each time).
    /// - Throws: ``SystemError`` "truncate" or "write".
    public func overwrite(with bytes: [UInt8]) throws(SystemError) {
        if try status().size != bytes.count { try truncate(to: 0) }
        try writeAll(bytes)
    }

    /// Sets or clears close-on-exec; a descriptor meant to survive `exec` must clear it.
    /// Sets the file's owner and group (`fchown`).
    /// - Throws: ``SystemError`` "change the owner of".
    public func setOwner(_ owner: uid_t, group: gid_t) throws(SystemError) {
        try systemCall("change the owner of", path: path) { fchown(rawValue, owner, group) }
    }

    /// Sets the file's permission bits exactly, whatever the umask (`fchmod`).
    /// - Throws: ``SystemError`` "change the mode of".
    public func setMode(_ mode: mode_t) throws(SystemError) {
        try systemCall("change the mode of", path: path) { fchmod(rawValue, mode) }
    }

    /// - Throws: ``SystemError`` "set flags of".
    public func setCloseOnExec(_ enabled: Bool) throws(SystemError) {
        let flags = try systemCall("get flags of", path: path) { fcntl(rawValue, F_GETFD) }
        let updated = enabled ? flags | FD_CLOEXEC : flags & ~FD_CLOEXEC
        try systemCall("set flags of", path: path) { fcntl(rawValue, F_SETFD, updated) }
    }
}

/// What a file's inode says, recorded once its bytes were hashed: a write, a truncation, a
/// `chmod`, a new hard link or a file renamed over it changes the change time (set by the kernel
/// to the current time, never to a chosen value) or the inode, so a file whose identity still
/// matches is the one that was hashed.
public struct FileIdentity: Codable, Sendable, Equatable {
    public var device: UInt64
    public var inode: UInt64
    public var size: Int
    public var changeNanoseconds: Int64
    public var modificationNanoseconds: Int64

    public init(device: UInt64, inode: UInt64, size: Int, changeNanoseconds: Int64, modificationNanoseconds: Int64) {
        self.device = device
        self.inode = inode
        self.size = size
        self.changeNanoseconds = changeNanoseconds
        self.modificationNanoseconds = modificationNanoseconds
    }

    public init(_ status: FileStatus) {
        device = status.device
        inode = status.inode
        size = status.size
        changeNanoseconds = status.changeNanoseconds
        modificationNanoseconds = status.modificationNanoseconds
    }
}

/// What `stat` says of a file.
public struct FileStatus: Sendable, Equatable {
    public enum Kind: Sendable, Equatable { case regular, directory, symbolicLink, other }
    public var kind: Kind
    public var size: Int
    public var mode: mode_t
    public var device: UInt64
    public var inode: UInt64
    public var modificationSeconds: Int
    /// Last modification of the content, in nanoseconds since the epoch.
    public var modificationNanoseconds: Int64
    /// Last change of the content or the inode (mode, links, owner), in nanoseconds since the
    /// epoch: set by the kernel to the current time, never to a value a caller chooses.
    public var changeNanoseconds: Int64
    /// How many names (hard links) the file has.
    public var linkCount: Int
    /// The space it takes on its file system (`st_blocks` × 512): a sparse file's holes take none.
    public var allocatedBytes: Int
    public var owner: uid_t
    public var group: gid_t

    init(_ info: stat) {
        switch info.st_mode & S_IFMT {
        case S_IFREG: kind = .regular
        case S_IFDIR: kind = .directory
        case S_IFLNK: kind = .symbolicLink
        default: kind = .other
        }
        size = Int(info.st_size)
        mode = info.st_mode & 0o7777
        device = UInt64(info.st_dev)
        inode = UInt64(info.st_ino)
        modificationSeconds = Int(info.st_mtim.tv_sec)
        modificationNanoseconds = Int64(info.st_mtim.tv_sec) * 1_000_000_000 + Int64(info.st_mtim.tv_nsec)
        changeNanoseconds = Int64(info.st_ctim.tv_sec) * 1_000_000_000 + Int64(info.st_ctim.tv_nsec)
        linkCount = Int(info.st_nlink)
        allocatedBytes = Int(info.st_blocks) &* 512
        owner = info.st_uid
        group = info.st_gid
    }

    /// True when any execute bit is set.
    public var isExecutable: Bool { mode & 0o111 != 0 }
}

extension FileDescriptor {
    /// Maps the first `length` bytes of the file read-only and calls `body` with them.
    /// - Throws: ``SystemError`` "map", or what `body` throws.
    public func withMappedBytes<Result>(length: Int, _ body: (UnsafeRawBufferPointer) throws -> Result) throws -> Result {
        guard length > 0 else { return try body(UnsafeRawBufferPointer(start: nil, count: 0)) }
        guard let address = mmap(nil, length, PROT_READ, MAP_PRIVATE, rawValue, 0), address != MAP_FAILED else {
            throw SystemError("map", path: path, errno: .current)
        }
        defer { munmap(address, length) }
        _ = madvise(address, length, MADV_SEQUENTIAL)
        return try body(UnsafeRawBufferPointer(start: address, count: length))
    }
}

extension FileDescriptor {
    /// Moves the read/write position to `offset` from the start; false when that fails.
    public func seek(to offset: Int) -> Bool { lseek(rawValue, off_t(offset), SEEK_SET) == off_t(offset) }
}
