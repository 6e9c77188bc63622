import Platform
import SelfUpgrade

/// Listening sockets that survive an `exec` restart.
///
/// A daemon names its listening sockets. ``Listeners/inherited()`` takes those passed in by the
/// systemd socket-activation convention (`LISTEN_FDS`, `LISTEN_PID`, `LISTEN_FDNAMES`,
/// descriptors from 3), whether the passer is systemd, `systemd-socket-activate`, or the
/// previous version of the program; ``Listeners/opening(_:)`` opens the ones still missing.
/// ``Listeners/handoff`` is what an upgrade passes on to the next version in the same
/// convention (`Upgrader.UpgradeOptions.handoff`).
///
/// Invariants: the kernel keeps queueing connections on a listening socket while nobody
/// accepts, so across the `exec` no connection is refused (up to the backlog); only registered
/// listeners (and stdio and the upgrade lock) cross the `exec`.
public struct Listeners: Sendable {
    /// Where a listener listens.
    public enum Address: Sendable, Equatable, CustomStringConvertible {
        /// TCP on an address literal or name and a port (0: the kernel chooses).
        case tcp(host: String, port: Int)
        /// A Unix stream socket file.
        case unix(path: String)

        public var description: String {
            switch self {
            case .tcp(let host, let port): host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
            case .unix(let path): path
            }
        }

        /// Parses `HOST:PORT` or `[IPv6]:PORT`, or a path starting with `/` or `.`.
        /// - Returns: nil when it is neither.
        public init?(_ text: String) {
            if text.hasPrefix("/") || text.hasPrefix(".") {
                self = .unix(path: text)
                return
            }
            guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]), (0...65535).contains(port) else { return nil }
            var host = String(text[..<colon])
            if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
            guard !host.isEmpty else { return nil }
            self = .tcp(host: host, port: port)
        }
    }

    /// One named listening socket.
    public struct Listener: Sendable {
        /// Its name (`LISTEN_FDNAMES`; "unknown" when the passer gave none).
        public let name: String
        /// Its descriptor (close-on-exec, non-blocking).
        public let descriptor: Int32
        /// Whether it was inherited (true) or opened by this process.
        public let isInherited: Bool
        let socket: ListeningSocket

        /// Accepts one waiting connection, close-on-exec and non-blocking.
        /// - Returns: its descriptor; nil when none is waiting.
        /// - Throws: ``HandoffError`` (`EMFILE` when out of descriptors).
        public func accept() throws(HandoffError) -> Int32? {
            do { return try socket.accept() } catch { throw HandoffError("\(error)") }
        }

        /// The TCP port it is bound to; nil for a Unix socket.
        public var port: Int? { socket.localPort }

        /// The path of the Unix socket file it listens on; nil for TCP.
        public var path: String? { socket.localPath }

        /// What it listens on, for people: `port 8080`, `unix /run/app.sock`, else `inherited`.
        public var addressDescription: String {
            if let port { return "port \(port)" }
            if let path { return "unix " + path }
            return "inherited"
        }

        /// The user id of the process at the other end of `connection`, a connection accepted
        /// from a Unix socket (`SO_PEERCRED`); nil when the kernel does not say (TCP). A control
        /// socket answers only its own user and root with it.
        public static func peerUserID(of connection: Int32) -> UInt32? {
            Socket.adopting(connection, endpoint: "").peerUserID
        }
    }

    /// The listeners, inherited first (in the order passed), then opened.
    public private(set) var all: [Listener]

    /// The listener called `name`.
    public subscript(name: String) -> Listener? { all.first { $0.name == name } }

    // MARK: - API

    /// Takes the listening sockets passed by the systemd convention: `LISTEN_PID` must equal
    /// this process's id, `LISTEN_FDS` counts descriptors from 3, `LISTEN_FDNAMES` names them
    /// (colon-separated). The three variables are removed from the environment either way, and
    /// each descriptor taken is made close-on-exec and non-blocking.
    /// - Throws: ``HandoffError`` when a passed descriptor is not a listening socket.
    public static func inherited() throws(HandoffError) -> Listeners {
        let count = ProcessControl.environment("LISTEN_FDS").flatMap { Int32($0) } ?? 0
        let pid = ProcessControl.environment("LISTEN_PID").flatMap { Int32($0) }
        let names = ProcessControl.environment("LISTEN_FDNAMES").map { $0.split(separator: ":", omittingEmptySubsequences: false).map(String.init) } ?? []
        for name in ["LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES"] { ProcessControl.removeEnvironment(name) }
        guard pid == ProcessControl.id, count > 0 else { return Listeners(all: []) }
        var all: [Listener] = []
        for offset in 0..<count {
            let descriptor = RestartHandoff.firstDescriptor + offset
            let name = Int(offset) < names.count && !names[Int(offset)].isEmpty ? names[Int(offset)] : "unknown"
            guard ListeningSocket.isListening(descriptor) else {
                throw HandoffError("Inherited descriptor \(descriptor) (\"\(name)\") is not a listening socket")
            }
            let socket = ListeningSocket(rawValue: descriptor, endpoint: "inherited \"\(name)\"")
            do { try socket.prepareForUse() } catch { throw HandoffError("\(error)") }
            all.append(Listener(name: name, descriptor: descriptor, isInherited: true, socket: socket))
        }
        return Listeners(all: all)
    }

    /// These listeners plus, for each name in `wanted` not among them, one bound and listening
    /// on its address (close-on-exec, non-blocking). A Unix socket file in the way is replaced
    /// only when nothing listens on it, unless `replacingLiveUnixSockets` (a version started
    /// beside the one it replaces takes its socket paths over).
    /// - Throws: ``HandoffError`` "Failed to bind …" naming the address (and "another process
    ///   listens on it" for a live Unix socket).
    public func opening(_ wanted: [(name: String, address: Address)], replacingLiveUnixSockets: Bool = false) throws(HandoffError) -> Listeners {
        var result = self
        for (name, address) in wanted where self[name] == nil {
            do {
                let socket = switch address {
                case .tcp(let host, let port): try ListeningSocket.tcp(host: host, port: port)
                case .unix(let path): try ListeningSocket.unix(path: path, replacingLive: replacingLiveUnixSockets)
                }
                result.all.append(Listener(name: name, descriptor: socket.rawValue, isInherited: false, socket: socket))
            } catch {
                throw HandoffError("Listener \"\(name)\": \(error)")
            }
        }
        return result
    }

    /// What an upgrade passes to the next version: every listener, at 3, 4, … in this order,
    /// with `LISTEN_FDS`, `LISTEN_PID` (the same PID across `exec`) and `LISTEN_FDNAMES`.
    public var handoff: RestartHandoff {
        guard !all.isEmpty else { return RestartHandoff() }
        return RestartHandoff(descriptors: all.map(\.descriptor), environment: [
            "LISTEN_FDS": String(all.count),
            "LISTEN_PID": String(ProcessControl.id),
            "LISTEN_FDNAMES": all.map(\.name).joined(separator: ":"),
        ])
    }
}

/// A listener that could not be taken or opened; the description says which and why.
public struct HandoffError: Error, Sendable, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}
