import Platform

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The byte stream one HTTP exchange runs over: a plain socket, or a TLS session on one.
///
/// Every failure is already a ``TransportError`` naming the URL; reads and writes never wait
/// longer than the stall timeout for progress.
package protocol Connection {
    /// Reads up to `buffer.count` bytes; 0 when the peer closed the connection.
    func read(into buffer: UnsafeMutableRawBufferPointer) throws(TransportError) -> Int
    /// Writes all of `bytes`.
    func writeAll(_ bytes: [UInt8]) throws(TransportError)
    /// Releases the connection (and the descriptor).
    func close()
}

/// The end of a whole fetch, redirects included (``TransportOptions/totalTimeout``).
struct Deadline {
    let end: ContinuousClock.Instant
    let seconds: Double

    init?(_ seconds: Double?) {
        guard let seconds else { return nil }
        self.seconds = seconds
        end = .now + .nanoseconds(Int64(min(max(seconds, 0), 1e9) * 1e9))
    }

    /// Seconds until the end (negative once passed).
    var left: Double {
        let duration = end - .now
        return Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }
}

/// A connection without TLS.
struct PlainConnection: Connection {
    let socket: Socket
    let url: String
    let stallTimeout: Double
    let deadline: Deadline?

    /// Connects to the URL's host and port, or to `proxy`'s, within the connect timeout (and the deadline).
    static func open(_ url: RequestURL, via proxy: Proxy? = nil, options: TransportOptions, deadline: Deadline?) throws(TransportError) -> PlainConnection {
        let timeout = try budget(options.connectTimeout, deadline: deadline, url: url.text)
        do {
            let socket = try Socket.connect(host: proxy?.host ?? url.host, port: proxy?.port ?? url.port, timeout: timeout)
            return PlainConnection(socket: socket, url: url.text, stallTimeout: options.stallTimeout, deadline: deadline)
        } catch let error as SystemError {
            let failure = failure(error, url: url.text, timeout: options.connectTimeout, deadline: deadline)
            guard let proxy else { throw failure }
            throw TransportError(failure.code, url: url.text, message: "the proxy \(proxy.text): \(failure.message)")
        } catch {
            throw TransportError(.connectionFailed, url: url.text, message: "\(error)")
        }
    }

    func read(into buffer: UnsafeMutableRawBufferPointer) throws(TransportError) -> Int {
        // A server that keeps the socket readable never makes the socket wait: checked here too.
        let signal = Cancellation.signal
        if signal != 0 { throw TransportError(.cancelled, url: url, message: "cancelled by \(Cancellation.name(of: signal))") }
        let timeout = try Self.budget(stallTimeout, deadline: deadline, url: url)
        do {
            return try socket.receive(into: buffer, timeout: timeout)
        } catch {
            throw Self.failure(error, url: url, timeout: stallTimeout, deadline: deadline)
        }
    }

    func writeAll(_ bytes: [UInt8]) throws(TransportError) {
        let timeout = try Self.budget(stallTimeout, deadline: deadline, url: url)
        var failure: SystemError?
        bytes.withUnsafeBytes { raw in
            do throws(SystemError) { try socket.sendAll(raw, timeout: timeout) } catch { failure = error }
        }
        if let failure { throw Self.failure(failure, url: url, timeout: stallTimeout, deadline: deadline) }
    }

    func close() { socket.close() }

    /// `timeout`, or the time left before the deadline when that is shorter.
    private static func budget(_ timeout: Double, deadline: Deadline?, url: String) throws(TransportError) -> Double {
        guard let deadline else { return timeout }
        let left = deadline.left
        guard left > 0 else { throw timedOut(deadline, url: url) }
        return min(timeout, left)
    }

    private static func failure(_ error: SystemError, url: String, timeout: Double, deadline: Deadline?) -> TransportError {
        if error.errno.rawValue == ETIMEDOUT, let deadline, deadline.left <= 0 { return timedOut(deadline, url: url) }
        return TransportError(network: error, url: url, timeout: timeout)
    }

    private static func timedOut(_ deadline: Deadline, url: String) -> TransportError {
        TransportError(.timedOut, url: url, message: "not complete within the total timeout of \(DurationText.text(deadline.seconds))")
    }
}

extension TransportError {
    /// A failed socket call: a timeout is ``Code/timedOut``, anything else ``Code/connectionFailed``.
    init(network error: SystemError, url: String, timeout: Double) {
        if error.errno.rawValue == ECANCELED {
            self.init(.cancelled, url: url, message: error.detail ?? "cancelled")
        } else if error.errno.rawValue == ETIMEDOUT {
            let what = error.action == "connect to"
                ? "no connection to \(error.path) within \(DurationText.text(timeout))"
                : "nothing received from \(error.path) for \(DurationText.text(timeout))"
            self.init(.timedOut, url: url, message: what)
        } else {
            self.init(.connectionFailed, url: url, message: error.description)
        }
    }
}

/// Buffered reading from a ``Connection``: lines for the head, counted copies for the body.
final class ConnectionReader {
    let connection: any Connection
    let url: String
    private let storage: UnsafeMutableRawBufferPointer
    private var start = 0
    private var end = 0

    init(_ connection: any Connection, url: String, capacity: Int = 256 * 1024) {
        self.connection = connection
        self.url = url
        storage = .allocate(byteCount: capacity, alignment: 16)
    }

    deinit { storage.deallocate() }

    /// Bytes read from the connection and not consumed yet.
    var buffered: Int { end - start }

    /// Reads more from the connection into the buffer; false when the peer closed it.
    private func fill() throws(TransportError) -> Bool {
        if start == end {
            start = 0
            end = 0
        } else if end == storage.count {
            storage.baseAddress.unsafelyUnwrapped.copyMemory(from: storage.baseAddress.unsafelyUnwrapped + start, byteCount: end - start)
            end -= start
            start = 0
        }
        let count = try connection.read(into: UnsafeMutableRawBufferPointer(rebasing: storage[end...]))
        end += count
        return count > 0
    }

    /// One line without its CRLF (or bare LF); at most `limit` bytes including the line end.
    /// - Throws: ``TransportError/Code/protocolError`` past the limit, ``TransportError/Code/truncated``
    ///   when the connection closes first.
    func readLine(limit: Int, what: String) throws(TransportError) -> ArraySlice<UInt8> {
        var scanned = 0  // bytes after `start` known to hold no line end (`fill` may move `start`)
        while true {
            if let newline = storage[(start + scanned)..<end].firstIndex(of: UInt8(ascii: "\n")) {
                guard newline + 1 - start <= limit else { break }
                var line = Array(storage[start..<newline])[...]
                if line.last == UInt8(ascii: "\r") { line = line.dropLast() }
                start = newline + 1
                return line
            }
            guard end - start < limit else { break }
            scanned = end - start
            guard try fill() else {
                throw TransportError(.truncated, url: url, message: "connection closed in the \(what)")
            }
        }
        throw TransportError(.protocolError, url: url, message: "\(what) longer than \(limit) bytes")
    }

    /// Passes exactly `count` bytes to `deliver`, in the pieces they arrive in.
    /// - Throws: ``TransportError/Code/truncated`` when the connection closes first, or what `deliver` throws.
    func copy(_ count: Int, to deliver: (UnsafeRawBufferPointer) throws -> Void) throws {
        var left = count
        while left > 0 {
            if start == end, try !fill() {
                throw TransportError(.truncated, url: url, message: "connection closed with \(left) of \(count) bytes missing")
            }
            let piece = min(left, end - start)
            try deliver(UnsafeRawBufferPointer(rebasing: storage[start..<(start + piece)]))
            start += piece
            left -= piece
        }
    }

    /// Passes everything up to the end of the connection to `deliver`, failing as soon as more
    /// than `limit` bytes have arrived (before passing the piece that went over).
    /// - Returns: the number of bytes passed.
    func copyToEnd(limit: Int, to deliver: (UnsafeRawBufferPointer) throws -> Void) throws -> Int {
        var total = 0
        while true {
            if start == end, try !fill() { return total }
            let piece = end - start
            guard piece <= limit - total else {
                throw TransportError(.tooLarge, url: url, message: "more than \(limit) bytes")
            }
            try deliver(UnsafeRawBufferPointer(rebasing: storage[start..<end]))
            start = end
            total += piece
        }
    }
}
