#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import FoundationEssentials
import Platform

/// The supervisor's control socket: one request line, one JSON reply line.
///
/// Requests: `upgrade <absolute path>`, `rollback`, `status`.
public struct ControlReply: Codable, Sendable, Equatable {
    /// Whether the request did what it asked (for an upgrade: the new version serves).
    public var ok: Bool
    /// One line for people.
    public var message: String
    public var operation: String?
    public var transaction: String?
    public var from: String?
    public var to: String?
    /// The pid of the version serving now.
    public var pid: Int32?
    /// Seconds from the request to the new version's `READY=1`.
    public var readySeconds: Double?
    /// Seconds the old version took to drain and exit.
    public var stopSeconds: Double?
    /// The whole request.
    public var seconds: Double?
    /// For status: the version serving, whether it said it is ready, the last confirmed version.
    public var current: String?
    public var ready: Bool?
    public var confirmed: String?
    public var listeners: [String]?
    public var restarts: Int?

    public init(ok: Bool, message: String) {
        self.ok = ok
        self.message = message
    }

    func line() -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return ((try? encoder.encode(self)).map { String(decoding: $0, as: UTF8.self) } ?? "{\"ok\":false,\"message\":\"unencodable reply\"}") + "\n"
    }
}

/// The client side, used by `autodev supervise upgrade|rollback|status`.
public enum ControlClient {
    /// Sends `request` to the supervisor of `home` and waits for its reply.
    /// - Throws: ``SupervisorError`` when no supervisor answers there.
    public static func send(_ request: String, home: String, timeout: Double = 900) throws(SupervisorError) -> ControlReply {
        let path = SupervisorConfiguration.controlSocket(home: home)
        let socket: Socket
        do {
            socket = try Socket.connect(unixPath: path)
        } catch {
            throw SupervisorError("No supervisor answers on \"\(path)\" (\(error.errno)); is 'autodev supervise --home \(home) -- …' running?")
        }
        defer { socket.close() }
        var received: [UInt8] = []
        do {
            do {
                try Array((request + "\n").utf8).withUnsafeBytes { try socket.sendAll($0, timeout: 10) }
            } catch let error as SystemError where error.errno.rawValue == EPIPE || error.errno.rawValue == ECONNRESET {
                // The supervisor closed the connection first: its reply (a refusal) may be waiting.
            }
            var buffer = [UInt8](repeating: 0, count: 4096)
            while !received.contains(10) {
                let count = try buffer.withUnsafeMutableBytes { try socket.receive(into: $0, timeout: timeout) }
                if count == 0 { break }
                received += buffer[..<count]
            }
        } catch {
            throw SupervisorError("The supervisor on \"\(path)\" did not answer: \(error)")
        }
        guard let newline = received.firstIndex(of: 10),
              let reply = try? JSONDecoder().decode(ControlReply.self, from: Data(received[..<newline])) else {
            throw SupervisorError("The supervisor on \"\(path)\" closed the connection without a reply")
        }
        return reply
    }
}
