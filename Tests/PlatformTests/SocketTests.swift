import Glibc
import Platform
import Testing

/// A listening loopback socket (IPv4) that never accepts; its port, and the descriptor to close.
/// A socket bound to a free loopback port that does not listen: connecting to the port is
/// refused for as long as it stays open, and no other process can take the port meanwhile.
private func boundNotListening() throws -> (fd: Int32, port: Int) {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    try #require(fd >= 0)
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &address) { pointer in
        pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { raw in
            bind(fd, raw, length) == 0 && getsockname(fd, raw, &length) == 0
        }
    }
    try #require(bound)
    return (fd, Int(UInt16(bigEndian: address.sin_port)))
}

private func listener(backlog: Int32) throws -> (fd: Int32, port: Int) {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    try #require(fd >= 0)
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let listening = withUnsafeMutablePointer(to: &address) { pointer in
        pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { raw in
            bind(fd, raw, length) == 0 && listen(fd, backlog) == 0 && getsockname(fd, raw, &length) == 0
        }
    }
    try #require(listening)
    return (fd, Int(UInt16(bigEndian: address.sin_port)))
}

@Suite("Sockets")
struct SocketTests {
    @Test("a connected socket is close-on-exec and non-blocking; a quiet peer times out a receive")
    func connected() throws {
        let server = try listener(backlog: 8)
        defer { close(server.fd) }
        let socket = try Socket.connect(host: "127.0.0.1", port: server.port, timeout: 5)
        defer { socket.close() }
        #expect(fcntl(socket.rawValue, F_GETFD) & FD_CLOEXEC != 0)
        #expect(fcntl(socket.rawValue, F_GETFL) & O_NONBLOCK != 0)
        var byte: UInt8 = 0
        let error = #expect(throws: SystemError.self) {
            _ = try withUnsafeMutableBytes(of: &byte) { try socket.receive(into: $0, timeout: 0.2) }
        }
        #expect(error?.description == "Failed to receive from \"127.0.0.1:\(server.port)\": Connection timed out")
    }

    @Test("a connect the listener never answers times out, naming host and port")
    func connectTimeout() throws {
        // With its accept queue full, a listener drops new SYNs: the connect hangs until the timeout.
        let server = try listener(backlog: 0)
        defer { close(server.fd) }
        var connected: [Socket] = []
        defer { connected.forEach { $0.close() } }
        var timedOut: SystemError?
        for _ in 0..<8 where timedOut == nil {
            do {
                connected.append(try Socket.connect(host: "127.0.0.1", port: server.port, timeout: 0.3))
            } catch let error as SystemError {
                timedOut = error
            }
        }
        #expect(timedOut?.description == "Failed to connect to \"127.0.0.1:\(server.port)\": Connection timed out")
    }

    @Test("a refused connection and an unknown name say which")
    func failures() throws {
        let server = try boundNotListening()
        defer { close(server.fd) }
        let refused = #expect(throws: SystemError.self) { try Socket.connect(host: "127.0.0.1", port: server.port, timeout: 1) }
        #expect(refused?.description == "Failed to connect to \"127.0.0.1:\(server.port)\": Connection refused")
        let unknown = #expect(throws: AddressError.self) { try Socket.connect(host: "name.invalid", port: 443, timeout: 1) }
        #expect(unknown?.endpoint == "name.invalid:443")
    }
}

@Suite("A Unix listener's directory lock held by another")
struct UnixListenerLockTests {
    @Test("a free path is still bound while another holds the directory's lock; a file in the way is then neither checked nor removed")
    func lockHeldElsewhere() throws {
        var template = Array("/tmp/autodev-lock-XXXXXX".utf8CString)
        let directory = try #require(template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }.map { String(cString: $0) })
        defer { _ = try? FileSystem.removeTree(directory) }
        // Anyone who can open the directory can hold its lock (another open file, like another process's).
        let holder = open(directory, O_RDONLY | O_DIRECTORY)
        try #require(holder >= 0 && flock(holder, LOCK_EX) == 0)
        defer { close(holder) }
        let listener = try ListeningSocket.unix(path: directory + "/free.sock")
        listener.close()
        // The socket file it left is stale; with the lock held elsewhere it is not removed.
        do {
            _ = try ListeningSocket.unix(path: directory + "/free.sock")
            Issue.record("bound over a file it could not check")
        } catch {
            #expect(error.detail?.contains("another process holds the lock of its directory") == true, "\(error)")
        }
        #expect(FileSystem.exists(directory + "/free.sock"))
    }
}
