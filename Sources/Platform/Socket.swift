#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A connected TCP socket, remembered with the `host:port` it was opened to for error messages.
///
/// The descriptor is close-on-exec and non-blocking: every wait goes through `poll` with a
/// timeout, so a peer that stops sending (or stops reading) can never hang the caller. A wait
/// that runs out fails with `ETIMEDOUT` ("Connection timed out").
public struct Socket: Sendable {
    /// The raw descriptor.
    public let rawValue: Int32
    /// `host:port` as the caller named it (`[::1]:443` for IPv6 literals); for messages only.
    public let endpoint: String

    // MARK: - API

    /// Resolves `host` and connects to the first address that accepts, trying each in turn.
    ///
    /// - Parameters:
    ///   - host: a name or an address literal (IPv6 without brackets).
    ///   - port: the TCP port.
    ///   - timeout: seconds to wait for each address to accept (non-blocking connect and poll).
    /// - Returns: the connected socket, with `TCP_NODELAY` set.
    /// - Throws: ``AddressError`` when the name does not resolve; ``SystemError`` "connect to"
    ///   from the last address tried (`ETIMEDOUT` when it did not answer in time).
    public static func connect(host: String, port: Int, timeout: Double) throws -> Socket {
        let endpoint = host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
        let addresses = try resolve(host: host, port: port, endpoint: endpoint)
        defer { freeaddrinfo(addresses) }
        var lastError = SystemError("connect to", path: endpoint, errno: Errno(rawValue: EADDRNOTAVAIL))
        var entry: UnsafeMutablePointer<addrinfo>? = addresses
        while let address = entry?.pointee {
            entry = address.ai_next
            do throws(SystemError) {
                return try connect(address, endpoint: endpoint, timeout: timeout)
            } catch {
                lastError = error
            }
        }
        throw lastError
    }

    /// Receives up to `buffer.count` bytes, waiting at most `timeout` seconds for the first one.
    ///
    /// - Returns: the number of bytes received; 0 when the peer closed its side.
    /// - Throws: ``SystemError`` "receive from" (`ETIMEDOUT` when nothing arrived in time).
    public func receive(into buffer: UnsafeMutableRawBufferPointer, timeout: Double) throws(SystemError) -> Int {
        while true {
            let count = Glibc.recv(rawValue, buffer.baseAddress, buffer.count, 0)
            if count >= 0 { return count }
            let error = Errno.current
            if error == .interrupted { continue }
            guard error == .wouldBlock else { throw SystemError("receive from", path: endpoint, errno: error) }
            try wait(for: Int16(POLLIN), timeout: timeout, action: "receive from")
        }
    }

    /// Sends all of `bytes`, waiting at most `timeout` seconds each time the peer stops reading.
    ///
    /// Never raises `SIGPIPE`: a closed peer is an `EPIPE` error.
    /// - Throws: ``SystemError`` "send to".
    public func sendAll(_ bytes: UnsafeRawBufferPointer, timeout: Double) throws(SystemError) {
        guard let base = bytes.baseAddress else { return }
        var offset = 0
        while offset < bytes.count {
            let count = Glibc.send(rawValue, base + offset, bytes.count - offset, Int32(MSG_NOSIGNAL))
            if count >= 0 {
                offset += count
                continue
            }
            let error = Errno.current
            if error == .interrupted { continue }
            guard error == .wouldBlock else { throw SystemError("send to", path: endpoint, errno: error) }
            try wait(for: Int16(POLLOUT), timeout: timeout, action: "send to")
        }
    }

    /// Sets an integer socket option.
    /// - Throws: ``SystemError`` "set option of".
    public func setOption(level: Int32, name: Int32, value: Int32) throws(SystemError) {
        var value = value
        try systemCall("set option of", path: endpoint) {
            setsockopt(rawValue, level, name, &value, socklen_t(MemoryLayout<Int32>.size))
        }
    }

    /// Closes the socket. Never retried on EINTR (the descriptor is gone either way).
    public func close() {
        _ = Glibc.close(rawValue)
    }

    // MARK: - Internals

    private static func resolve(host: String, port: Int, endpoint: String) throws(AddressError) -> UnsafeMutablePointer<addrinfo> {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_protocol = Int32(IPPROTO_TCP)
        hints.ai_flags = AI_NUMERICSERV
        var result: UnsafeMutablePointer<addrinfo>?
        var status: Int32
        repeat {
            status = getaddrinfo(host, String(port), &hints, &result)
        } while status == EAI_SYSTEM && errno == EINTR
        guard status == 0, let result else {
            let detail = status == EAI_SYSTEM ? Errno.current.description : String(cString: gai_strerror(status))
            throw AddressError(endpoint: endpoint, detail: detail)
        }
        return result
    }

    private static func connect(_ address: addrinfo, endpoint: String, timeout: Double) throws(SystemError) -> Socket {
        let type = Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue)
        let fd = try systemCall("open a socket for", path: endpoint) { Glibc.socket(address.ai_family, type, address.ai_protocol) }
        let socket = Socket(rawValue: fd, endpoint: endpoint)
        do throws(SystemError) {
            // A non-blocking connect interrupted by a signal goes on in the background, exactly as
            // one that returns EINPROGRESS: either way the answer comes through poll and SO_ERROR.
            if Glibc.connect(fd, address.ai_addr, address.ai_addrlen) != 0 {
                let error = Errno.current
                guard error.rawValue == EINPROGRESS || error == .interrupted else {
                    throw SystemError("connect to", path: endpoint, errno: error)
                }
                try socket.wait(for: Int16(POLLOUT), timeout: timeout, action: "connect to")
                var pending: Int32 = 0
                var length = socklen_t(MemoryLayout<Int32>.size)
                try systemCall("connect to", path: endpoint) { getsockopt(fd, SOL_SOCKET, SO_ERROR, &pending, &length) }
                if pending != 0 { throw SystemError("connect to", path: endpoint, errno: Errno(rawValue: pending)) }
            }
            try socket.setOption(level: Int32(IPPROTO_TCP), name: TCP_NODELAY, value: 1)
        } catch {
            socket.close()
            throw error
        }
        return socket
    }

    /// Polls for `events` until they are ready, retrying interrupted polls with the time left.
    ///
    /// A cancellation (SIGINT or SIGTERM after ``Cancellation/install()``) ends the wait within
    /// a quarter of a second: each poll lasts at most that long, and the flag is checked before
    /// each one (a signal that lands between the check and the poll is seen at the next slice).
    /// - Throws: ``SystemError`` with `ETIMEDOUT`, or `ECANCELED` naming the signal.
    private func wait(for events: Int16, timeout: Double, action: String) throws(SystemError) {
        let deadline = Self.monotonicSeconds() + max(0, timeout)
        while true {
            let signal = Cancellation.signal
            if signal != 0 { throw Self.cancelled(action, endpoint: endpoint, signal: signal) }
            let left = deadline - Self.monotonicSeconds()
            if left <= 0 { throw SystemError(action, path: endpoint, errno: Errno(rawValue: ETIMEDOUT)) }
            var descriptor = pollfd(fd: rawValue, events: events, revents: 0)
            let milliseconds = Int32(min(left, Self.cancellationSlice) * 1000).advanced(by: 1)
            let ready = poll(&descriptor, 1, milliseconds)
            if ready > 0 { return }  // ready, or POLLERR/POLLHUP: the next call reports which
            if ready == 0 { continue }  // the loop re-checks the deadline
            let error = Errno.current
            if error != .interrupted { throw SystemError(action, path: endpoint, errno: error) }
        }
    }

    /// The longest single poll: how late a cancellation may be noticed.
    static let cancellationSlice = 0.25

    /// The error of a wait ended by SIGINT or SIGTERM.
    static func cancelled(_ action: String, endpoint: String, signal: Int32) -> SystemError {
        SystemError(action, path: endpoint, errno: Errno(rawValue: ECANCELED), detail: "cancelled by \(Cancellation.name(of: signal))")
    }

    private static func monotonicSeconds() -> Double {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return Double(now.tv_sec) + Double(now.tv_nsec) / 1_000_000_000
    }
}

/// A host name that did not resolve; its description reads
/// `Failed to resolve "example.invalid:443": Name or service not known`.
public struct AddressError: Error, Sendable, CustomStringConvertible, Equatable {
    /// `host:port` as the caller named it.
    public var endpoint: String
    /// The resolver's text (`gai_strerror`).
    public var detail: String

    /// Makes an error for `endpoint` with the resolver's `detail`.
    public init(endpoint: String, detail: String) {
        self.endpoint = endpoint
        self.detail = detail
    }

    /// `Failed to resolve "<endpoint>": <detail>`.
    public var description: String { "Failed to resolve \"\(endpoint)\": \(detail)" }
}
