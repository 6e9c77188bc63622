import Foundation
import Handoff
import SelfUpgrade

/// A client connection: bytes read but not yet answered, bytes not yet sent.
struct Connection {
    let descriptor: Int32
    /// A connection to the control socket (lines), not HTTP.
    let isControl: Bool
    var input: [UInt8] = []
    var output: [UInt8] = []
    var closeWhenFlushed = false
    /// A control connection from another user: its request is read, then refused.
    var isRefused = false
    /// Requests answered on it. A connection accepted but not yet used has its first request on
    /// the way: closing it while draining would reset a request the client already sent.
    var answered = 0

    var isIdle: Bool { input.isEmpty && output.isEmpty }
    /// Idle between requests: the only moment a keep-alive connection may be closed.
    var isIdleBetweenRequests: Bool { isIdle && answered > 0 }
}

/// The serving loop: one thread, `poll` over the listeners, the connections and a wake-up pipe.
///
/// Before an exec restart it drains: it stops accepting (the listeners stay open, so the kernel
/// keeps queueing connections for the next version), answers every request already begun, and
/// closes keep-alive connections only between requests.
struct Server {
    let http: Listeners.Listener
    let control: Listeners.Listener
    let coordinator: Coordinator
    let wakeRead: Int32
    /// `<version> <id12>`, the start of every answer.
    let banner: String
    /// What `result` answers: how this process's start ended.
    let startResult: String
    let drainSeconds: Double
    /// Starts an upgrade (`upgrade PATH`) or rollback (`rollback`) on its own thread.
    let launch: @Sendable (_ command: String, _ argument: String) -> Void
    /// Saves the count (at SIGTERM).
    let save: (Int) -> Void
    /// Answers a request under `/handler` with the handler module (`METHOD TARGET` in, the
    /// body out); nil when the module failed.
    let handleInModule: (String) -> String?
    var served: Int
    var connections: [Int32: Connection] = [:]
    /// The control connection waiting for an upgrade's or rollback's result.
    var awaiting: Int32?

    /// The drain's deadline (monotonic seconds) while draining.
    var draining: Double?
    /// SIGTERM arrived: the drain ends in exit.
    var stopping = false

    mutating func run() -> Never {
        while true {
            let (phase, replies, terminating) = coordinator.take()
            if terminating && !stopping {
                // SIGTERM: drain as before an upgrade (stop accepting; the listeners stay open for
                // whoever takes over), then save the count and exit.
                stopping = true
                try? ServiceNotification.stopping()
                if draining == nil { draining = now() + drainSeconds }
            }
            for reply in replies {
                if let fd = awaiting { send(reply + "\n", to: fd, thenClose: true) }
                awaiting = nil
            }
            if phase == .drainRequested && draining == nil && !stopping { draining = now() + drainSeconds }
            if let deadline = draining {
                for fd in Array(connections.keys) where connections[fd]?.isControl == false {
                    if connections[fd]?.isIdle == true { receive(fd) }
                    if let connection = connections[fd], connection.isIdleBetweenRequests { close(fd) }
                }
                let left = connections.values.filter { !$0.isControl }
                if left.isEmpty || now() > deadline {
                    for connection in left { close(connection.descriptor) }
                    draining = nil
                    if stopping {
                        save(served)
                        exit(0)
                    }
                    coordinator.drainedAndWait(served: served)
                    continue  // the exec failed: serving resumes
                }
            }
            var descriptors = [pollfd(fd: wakeRead, events: Int16(POLLIN), revents: 0)]
            if draining == nil {
                descriptors.append(pollfd(fd: http.descriptor, events: Int16(POLLIN), revents: 0))
                descriptors.append(pollfd(fd: control.descriptor, events: Int16(POLLIN), revents: 0))
            }
            for connection in connections.values {
                let events = Int16(POLLIN) | (connection.output.isEmpty ? 0 : Int16(POLLOUT))
                descriptors.append(pollfd(fd: connection.descriptor, events: events, revents: 0))
            }
            let ready = poll(&descriptors, nfds_t(descriptors.count), draining == nil ? 1000 : 10)
            if ready <= 0 { continue }
            for entry in descriptors where entry.revents != 0 {
                if entry.fd == wakeRead {
                    var bytes = [UInt8](repeating: 0, count: 64)
                    _ = read(wakeRead, &bytes, bytes.count)
                } else if entry.fd == http.descriptor || entry.fd == control.descriptor {
                    let listener = entry.fd == http.descriptor ? http : control
                    for _ in 0..<64 {
                        guard let fd = try? listener.accept() else { break }
                        let isControl = listener.name == "control"
                        // An upgrade runs the binary the client names: only this user and root may ask.
                        var connection = Connection(descriptor: fd, isControl: isControl)
                        if isControl, let peer = Listeners.Listener.peerUserID(of: fd), peer != 0, peer != getuid() {
                            connection.isRefused = true
                        }
                        connections[fd] = connection
                    }
                } else {
                    if entry.revents & Int16(POLLOUT) != 0 { flush(entry.fd) }
                    if entry.revents & Int16(POLLIN | POLLHUP | POLLERR) != 0 { receive(entry.fd) }
                }
            }
        }
    }

    // MARK: - Connections

    /// Reads what is there and answers every complete request in it.
    mutating func receive(_ fd: Int32) {
        guard var connection = connections[fd] else { return }
        var buffer = [UInt8](repeating: 0, count: 16_384)
        let count = recv(fd, &buffer, buffer.count, Int32(MSG_DONTWAIT))
        if count == 0 || (count < 0 && errno != EAGAIN && errno != EINTR) {
            close(fd)
            return
        }
        if count < 0 { return }
        connection.input += buffer[..<count]
        connections[fd] = connection
        if connection.isControl { command(fd) } else { answer(fd) }
    }

    mutating func answer(_ fd: Int32) {
        guard var connection = connections[fd], !connection.closeWhenFlushed else { return }
        while true {
            do {
                guard let request = try Request.parse(connection.input) else { break }
                connection.input.removeFirst(request.length)
                let close = request.wantsClose || draining != nil
                connection.answered += 1
                if request.method == "GET" && request.target == "/" {
                    served += 1
                    connection.output += response(status: "200 OK", body: "\(banner) \(served)\n", close: close)
                } else if request.target == "/handler" || request.target.hasPrefix("/handler/") {
                    if let body = handleInModule("\(request.method) \(request.target)") {
                        connection.output += response(status: "200 OK", body: body, close: close)
                    } else {
                        connection.output += response(status: "503 Service Unavailable", body: "the handler module failed\n", close: close)
                    }
                } else {
                    connection.output += response(status: "404 Not Found", body: "not found\n", close: close)
                }
                if close {
                    connection.closeWhenFlushed = true
                    break
                }
            } catch {
                connection.output += response(status: "400 Bad Request", body: "bad request\n", close: true)
                connection.closeWhenFlushed = true
                break
            }
        }
        connections[fd] = connection
        flush(fd)
    }

    mutating func command(_ fd: Int32) {
        // A connection already being closed (refused, or answered) runs nothing more.
        guard let connection = connections[fd], !connection.closeWhenFlushed, let newline = connection.input.firstIndex(of: 10) else { return }
        if connection.isRefused {
            // Answered after its request is read: closing with unread input would reset the connection.
            send("error: permission denied: only user \(getuid()) or root may control this server\n", to: fd, thenClose: true)
            return
        }
        let line = String(decoding: connection.input[..<newline], as: UTF8.self)
        let (verb, argument) = line.firstIndex(of: " ").map { (String(line[..<$0]), String(line[line.index(after: $0)...])) } ?? (line, "")
        connections[fd]?.input = []
        switch verb {
        case "upgrade", "rollback":
            guard coordinator.claim() else {
                send("error: an upgrade or rollback is already running\n", to: fd, thenClose: true)
                return
            }
            awaiting = fd
            launch(verb, argument)
        case "result":
            send(startResult + "\n", to: fd, thenClose: true)
        case "status":
            send("\(banner) \(served) \(getpid())\n", to: fd, thenClose: true)
        default:
            send("error: unknown command \(verb.debugDescription)\n", to: fd, thenClose: true)
        }
    }

    mutating func send(_ text: String, to fd: Int32, thenClose: Bool) {
        connections[fd]?.output += Array(text.utf8)
        connections[fd]?.closeWhenFlushed = thenClose
        flush(fd)
    }

    /// Sends what it can without blocking; closes when all is sent and that was asked.
    mutating func flush(_ fd: Int32) {
        guard var connection = connections[fd] else { return }
        while !connection.output.isEmpty {
            let count = connection.output.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL | MSG_DONTWAIT)) }
            if count < 0 {
                if errno == EAGAIN || errno == EINTR { break }
                close(fd)
                return
            }
            connection.output.removeFirst(count)
        }
        connections[fd] = connection
        if connection.output.isEmpty && connection.closeWhenFlushed { close(fd) }
    }

    mutating func close(_ fd: Int32) {
        guard connections.removeValue(forKey: fd) != nil else { return }
        if awaiting == fd { awaiting = nil }
        _ = Glibc.close(fd)
    }

    func now() -> Double { ProcessInfo.processInfo.systemUptime }
}
