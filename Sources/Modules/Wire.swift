#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import FoundationEssentials
import Platform

/// What a frame between the host and a module worker carries.
public enum FrameKind: UInt8, Sendable {
    /// Worker → host, once at start: a JSON ``Hello``.
    case hello = 1
    /// Host → worker: a message for the module; answered by ``reply`` or ``failure``.
    case message = 2
    /// Worker → host: the module's reply.
    case reply = 3
    /// Worker → host: the request failed; UTF-8 text.
    case failure = 4
    /// Host → worker: send the state; answered by ``state``.
    case snapshot = 5
    /// Worker → host: 4 bytes of schema version (big-endian), then the state.
    case state = 6
    /// Host → worker: 4 bytes `from`, 4 bytes `to`, then the state; answered by ``state``.
    case migrate = 7
    /// Host → worker: schema and state (as ``state``) to take; answered by ``done``.
    case restore = 8
    /// Worker → host: the request succeeded.
    case done = 9
    /// Host → worker: run the health check; answered by ``done`` or ``failure``.
    case health = 10
    /// Host → worker: a reload phase starts that involves this worker (UTF-8 name); ``done``.
    case phase = 11
    /// Host → worker: exit now; no answer.
    case shutdown = 12
}

/// One length-prefixed frame: 4 bytes big-endian length of what follows, the kind, the payload.
public struct Frame: Sendable, Equatable {
    public var kind: FrameKind
    public var payload: [UInt8]

    public init(_ kind: FrameKind, _ payload: [UInt8] = []) {
        self.kind = kind
        self.payload = payload
    }

    /// The largest payload either side accepts (64 MiB): a bigger length is a broken stream.
    public static let maximumPayload = 64 << 20

    /// The frame as bytes on the wire.
    public var encoded: [UInt8] {
        let length = UInt32(payload.count + 1)
        var bytes: [UInt8] = [UInt8(length >> 24), UInt8(length >> 16 & 0xff), UInt8(length >> 8 & 0xff), UInt8(length & 0xff), kind.rawValue]
        bytes.append(contentsOf: payload)
        return bytes
    }

    /// A schema version and a state, as ``FrameKind/state`` and ``FrameKind/restore`` carry them.
    public static func stateBytes(schema: Int, state: [UInt8]) -> [UInt8] {
        bigEndian(schema) + state
    }

    /// Splits a ``stateBytes(schema:state:)`` payload.
    public static func splitState(_ payload: [UInt8]) -> (schema: Int, state: [UInt8])? {
        guard payload.count >= 4 else { return nil }
        return (readBigEndian(payload, at: 0), Array(payload[4...]))
    }

    public static func bigEndian(_ value: Int) -> [UInt8] {
        let value = UInt32(truncatingIfNeeded: value)
        return [UInt8(value >> 24), UInt8(value >> 16 & 0xff), UInt8(value >> 8 & 0xff), UInt8(value & 0xff)]
    }

    public static func readBigEndian(_ bytes: [UInt8], at offset: Int) -> Int {
        Int(UInt32(bytes[offset]) << 24 | UInt32(bytes[offset + 1]) << 16 | UInt32(bytes[offset + 2]) << 8 | UInt32(bytes[offset + 3]))
    }
}

/// What a worker announces when it starts: the module it runs and its interface.
public struct Hello: Codable, Sendable, Equatable {
    /// The module's name (`counter`).
    public var name: String
    /// The module's own version text (`2`).
    public var version: String
    /// The message interface: a reload to a different protocol version is refused at prepare.
    public var protocolVersion: Int
    /// The version of the state's schema.
    public var stateSchema: Int
    /// The worker's process id.
    public var pid: Int32
}

/// One end of a host ↔ worker stream: whole frames out, whole frames in, every wait bounded.
///
/// Not safe for concurrent use: the host keeps one request outstanding per worker.
public final class FrameChannel: @unchecked Sendable {
    public let socket: Socket
    private var buffer: [UInt8] = []
    private var start = 0
    private var chunk = [UInt8](repeating: 0, count: 65_536)

    public init(_ socket: Socket) { self.socket = socket }

    /// Sends a frame.
    /// - Throws: ``SystemError`` "send to" (`EPIPE` when the other end is gone).
    public func send(_ frame: Frame, timeout: Double) throws(SystemError) {
        let bytes = frame.encoded
        let sent = bytes.withUnsafeBytes { raw in Result { () throws(SystemError) in try socket.sendAll(raw, timeout: timeout) } }
        try sent.get()
    }

    /// Receives the next frame.
    /// - Throws: ``SystemError`` "receive from" (`ETIMEDOUT`; `ECONNRESET` for end of stream or
    ///   a malformed frame, `EPROTO`).
    public func receive(timeout: Double) throws(SystemError) -> Frame {
        let deadline = MonotonicClock.now() + UInt64(max(0, min(timeout, 1e9)) * 1e9)
        while true {
            if buffer.count - start >= 4 {
                let length = Frame.readBigEndian(buffer, at: start)
                guard length >= 1, length <= Frame.maximumPayload + 1 else {
                    throw SystemError("receive from", path: socket.endpoint, errno: Errno(rawValue: EPROTO))
                }
                if buffer.count - start >= 4 + length {
                    guard let kind = FrameKind(rawValue: buffer[start + 4]) else {
                        throw SystemError("receive from", path: socket.endpoint, errno: Errno(rawValue: EPROTO))
                    }
                    let payload = Array(buffer[(start + 5)..<(start + 4 + length)])
                    start += 4 + length
                    if start == buffer.count { buffer.removeAll(keepingCapacity: true); start = 0 }
                    return Frame(kind, payload)
                }
            }
            let now = MonotonicClock.now()
            guard now < deadline else { throw SystemError("receive from", path: socket.endpoint, errno: Errno(rawValue: ETIMEDOUT)) }
            let received = chunk.withUnsafeMutableBytes { raw in
                Result { () throws(SystemError) in try socket.receive(into: raw, timeout: Double(deadline - now) / 1e9) }
            }
            let count = try received.get()
            if count == 0 { throw SystemError("receive from", path: socket.endpoint, errno: Errno(rawValue: ECONNRESET)) }
            if start > 0 { buffer.removeFirst(start); start = 0 }
            buffer.append(contentsOf: chunk[..<count])
        }
    }
}
