import CPlatform
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A listening stream socket (TCP or Unix), close-on-exec and non-blocking.
///
/// The kernel keeps queueing connections on it (up to its backlog) whether or not anyone calls
/// ``accept()``: a process that stops accepting, or `exec`s with the descriptor inherited, loses
/// none of them.
public struct ListeningSocket: Sendable {
    /// The raw descriptor.
    public let rawValue: Int32
    /// `host:port` or the socket file's path; for messages only.
    public let endpoint: String

    /// Wraps a descriptor that already listens (one inherited across `exec`).
    public init(rawValue: Int32, endpoint: String) {
        self.rawValue = rawValue
        self.endpoint = endpoint
    }

    // MARK: - API

    /// Binds a TCP socket to `host:port` (`SO_REUSEADDR`) and listens.
    ///
    /// - Parameters:
    ///   - host: an address literal (IPv6 without brackets) or a name.
    ///   - port: the port; 0 lets the kernel choose (see ``localPort``).
    ///   - backlog: the queue of connections not yet accepted.
    /// - Throws: ``AddressError`` when `host` does not resolve; ``SystemError`` "bind", "listen on".
    public static func tcp(host: String, port: Int, backlog: Int32 = 1024) throws -> ListeningSocket {
        let endpoint = host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_flags = AI_NUMERICSERV | AI_PASSIVE
        var result: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(host, String(port), &hints, &result)
        guard status == 0, let address = result?.pointee else {
            throw AddressError(endpoint: endpoint, detail: String(cString: gai_strerror(status)))
        }
        defer { freeaddrinfo(result) }
        let type = Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue)
        let fd = try systemCall("open a socket for", path: endpoint) { socket(address.ai_family, type, 0) }
        let listener = ListeningSocket(rawValue: fd, endpoint: endpoint)
        do throws(SystemError) {
            var one: Int32 = 1
            try systemCall("set option of", path: endpoint) {
                setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
            }
            try systemCall("bind", path: endpoint) { bind(fd, address.ai_addr, address.ai_addrlen) }
            try systemCall("listen on", path: endpoint) { listen(fd, backlog) }
        } catch {
            listener.close()
            throw error
        }
        return listener
    }

    /// Binds a Unix stream socket at `path` and listens. A socket file there is replaced only
    /// when it is stale (nothing accepts on it: connecting is refused); a live one, or any other
    /// file, is refused.
    ///
    /// The check and the bind run under an exclusive `flock` of the socket's directory, so two
    /// processes binding the same path with this function never both take it (the second finds
    /// the first's socket live). When another process holds that lock past 5 s (any user who can
    /// open the directory can), nothing is checked or removed and the bind is tried as it is: it
    /// succeeds where the path is free. A socket file of another user is never removed.
    /// - Parameters:
    ///   - mode: the socket file's permissions, set between bind and listen (so no connection
    ///     is accepted before they apply); nil keeps what the umask gives.
    ///   - replacingLive: take the path over even from a live listener (a new version started
    ///     beside the old one it replaces, which keeps its own socket open until it stops).
    /// - Throws: ``SystemError`` "bind", "set the mode of", "listen on"; `EADDRINUSE` when a
    ///   process listens at `path`, `EEXIST` when `path` is not a socket.
    public static func unix(path: String, backlog: Int32 = 128, mode: mode_t? = nil, replacingLive: Bool = false) throws(SystemError) -> ListeningSocket {
        var address = try unixAddress(path, action: "bind")
        // The socket first: the descriptors opened for the check come after it and are closed,
        // so the listener's number is the one a plain open would give.
        let type = Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue)
        let fd = try systemCall("open a socket for", path: path) { socket(AF_UNIX, type, 0) }
        let listener = ListeningSocket(rawValue: fd, endpoint: path)
        do throws(SystemError) {
            // Another user who can open the directory can hold its lock: then nothing is removed,
            // and the bind succeeds only where no file is in the way.
            let directory = try DirectoryLock.exclusive(parentOf: path)
            defer { directory?.release() }
            if directory != nil { try removeStaleSocket(at: path, replacingLive: replacingLive) }
            do throws(SystemError) {
                try systemCall("bind", path: path) {
                    withUnsafePointer(to: &address) {
                        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
                    }
                }
            } catch where directory == nil && error.errno.rawValue == EADDRINUSE {
                throw SystemError("bind", path: path, errno: error.errno,
                                  detail: "a file is in its place, and another process holds the lock of its directory, so it was not checked or removed; try again, or remove it if nothing uses it")
            }
            if let mode {
                // A Unix socket accepts no connection before listen, so the mode applies to every one.
                try systemCall("set the mode of", path: path) { chmod(path, mode) }
            }
            try systemCall("listen on", path: path) { listen(fd, backlog) }
        } catch {
            listener.close()
            throw error
        }
        return listener
    }

    /// Removes a socket file at `path` that nothing listens on (connecting is refused); refuses a
    /// live one (unless `replacingLive`) and any file that is not a socket.
    private static func removeStaleSocket(at path: String, replacingLive: Bool) throws(SystemError) {
        var info = stat()
        guard lstat(path, &info) == 0 else { return }
        // A socket left by a listener that ended is replaced; anything else is not ours to remove.
        guard info.st_mode & S_IFMT == S_IFSOCK else {
            let what = info.st_mode & S_IFMT == S_IFLNK ? "a symbolic link" : "a file that is not a socket"
            throw SystemError("bind", path: path, errno: Errno(rawValue: EEXIST), detail: "\(what) is in its place; remove it if nothing uses it")
        }
        // Another user's socket is theirs to remove, stale or not (root included).
        guard info.st_uid == geteuid() else {
            throw SystemError("bind", path: path, errno: Errno(rawValue: EEXIST), detail: "a socket of user \(info.st_uid) is in its place; it is theirs to remove")
        }
        let probe: Socket?
        do {
            probe = try Socket.connect(unixPath: path)
        } catch {
            switch error.errno.rawValue {
            case ECONNREFUSED: probe = nil  // stale: nothing listens
            case EAGAIN: throw SystemError("bind", path: path, errno: Errno(rawValue: EADDRINUSE), detail: "another process listens on it (its queue is full); stop it first")
            default: throw SystemError("bind", path: path, errno: error.errno, detail: "could not tell whether another process listens on it (\(error.errno))")
            }
        }
        if let probe {
            probe.close()
            if !replacingLive { throw SystemError("bind", path: path, errno: Errno(rawValue: EADDRINUSE), detail: "another process listens on it; stop it first") }
        }
        guard unlink(path) == 0 || Errno.current == .noSuchFile else {
            throw SystemError("remove the stale socket", path: path, errno: .current)
        }
    }

    /// Accepts one waiting connection, close-on-exec and non-blocking.
    /// - Returns: its descriptor; nil when none is waiting (or it was aborted before accepting).
    /// - Throws: ``SystemError`` "accept on" (`EMFILE` when out of descriptors).
    public func accept() throws(SystemError) -> Int32? {
        while true {
            let fd = ad_accept_nonblocking(rawValue)
            if fd >= 0 { return fd }
            let error = Errno.current
            if error == .interrupted { continue }
            if error == .wouldBlock || error.rawValue == ECONNABORTED { return nil }
            throw SystemError("accept on", path: endpoint, errno: error)
        }
    }

    /// The TCP port it is bound to; nil for a Unix socket.
    public var localPort: Int? {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let status = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(rawValue, $0, &length) }
        }
        guard status == 0 else { return nil }
        switch Int32(storage.ss_family) {
        case AF_INET:
            return withUnsafePointer(to: &storage) { $0.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { Int(UInt16(bigEndian: $0.pointee.sin_port)) } }
        case AF_INET6:
            return withUnsafePointer(to: &storage) { $0.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { Int(UInt16(bigEndian: $0.pointee.sin6_port)) } }
        default:
            return nil
        }
    }

    /// The path of the socket file it is bound to (`@name` for an abstract address); nil for
    /// a TCP socket or an unnamed one.
    public var localPath: String? {
        var address = sockaddr_un()
        var length = socklen_t(MemoryLayout<sockaddr_un>.size)
        let status = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(rawValue, $0, &length) }
        }
        let offset = MemoryLayout<sockaddr_un>.offset(of: \.sun_path)!
        guard status == 0, Int32(address.sun_family) == AF_UNIX, Int(length) > offset else { return nil }
        let bytes = withUnsafeBytes(of: &address.sun_path) { Array($0.prefix(Int(length) - offset)) }
        if bytes.first == 0 { return "@" + String(decoding: bytes.dropFirst(), as: UTF8.self) }
        return String(decoding: bytes.prefix { $0 != 0 }, as: UTF8.self)
    }

    /// Whether `descriptor` is a socket that listens (`SO_ACCEPTCONN`).
    public static func isListening(_ descriptor: Int32) -> Bool {
        var value: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        return getsockopt(descriptor, SOL_SOCKET, SO_ACCEPTCONN, &value, &length) == 0 && value != 0
    }

    /// Makes the descriptor close-on-exec and non-blocking (for one inherited across `exec`).
    /// - Throws: ``SystemError`` "set flags of".
    public func prepareForUse() throws(SystemError) {
        try Descriptors.setCloseOnExec(rawValue, true, path: endpoint)
        let flags = try systemCall("get flags of", path: endpoint) { fcntl(rawValue, F_GETFL) }
        try systemCall("set flags of", path: endpoint) { fcntl(rawValue, F_SETFL, flags | O_NONBLOCK) }
    }

    /// Closes the socket. Never retried on EINTR.
    public func close() {
        _ = Glibc.close(rawValue)
    }
}

/// An exclusive `flock` on a directory, held while a socket file in it is checked and bound.
struct DirectoryLock {
    let descriptor: Int32

    /// Locks the directory that holds `path`, waiting up to 5 s for another holder.
    /// - Returns: nil when another process still holds it then (any user who can open the
    ///   directory can take its lock: it must not be able to stop a bind).
    /// - Throws: ``SystemError`` "open", "lock" naming the directory.
    static func exclusive(parentOf path: String) throws(SystemError) -> DirectoryLock? {
        let slash = path.lastIndex(of: "/")
        let directory = slash.map { $0 == path.startIndex ? "/" : String(path[..<$0]) } ?? "."
        let fd = try systemCall("open", path: directory) { open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC) }
        let start = MonotonicClock.now()
        while flock(fd, LOCK_EX | LOCK_NB) != 0 {
            let error = Errno.current
            if error == .interrupted { continue }
            guard error == .wouldBlock else {
                _ = Glibc.close(fd)
                throw SystemError("lock", path: directory, errno: error)
            }
            guard MonotonicClock.seconds(since: start) < 5 else {
                _ = Glibc.close(fd)
                return nil
            }
            usleep(10_000)
        }
        return DirectoryLock(descriptor: fd)
    }

    /// Unlocks (by closing).
    func release() { _ = Glibc.close(descriptor) }
}
