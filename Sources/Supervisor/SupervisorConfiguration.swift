import Handoff
import Platform
import SelfUpgrade

/// How to supervise one program.
public struct SupervisorConfiguration: Sendable {
    /// The most listeners one supervisor opens and passes on.
    public static let maximumListeners = 256

    /// The home whose versions are the program's binaries.
    public var home: String
    /// The program given on the command line: adopted into a new home; afterwards the home's
    /// current version runs instead.
    public var program: String
    /// Its arguments (argv[0] is `program` as given).
    public var arguments: [String]
    /// Listeners to open (those inherited by name are taken instead).
    public var listen: [(name: String, address: Listeners.Address)] = []
    /// How readiness is known.
    public var readiness = Readiness.notify
    /// How long a new version has to say `READY=1` in an upgrade or rollback.
    public var readyTimeoutSeconds = 30.0
    /// How long a stopped version has to drain and exit after SIGTERM before SIGKILL.
    public var stopTimeoutSeconds = 10.0
    /// The longest wait between restarts after crashes (the first is 0.1 s, then doubling).
    public var maxBackoffSeconds = 10.0

    /// How the supervisor learns that a started version serves.
    public enum Readiness: String, Sendable {
        /// `READY=1` over `NOTIFY_SOCKET` from the program's own pid (the sd_notify protocol).
        case notify
        /// As soon as it is running (programs that do not speak sd_notify).
        case started
    }

    public init(home: String, program: String, arguments: [String]) {
        self.home = home
        self.program = program
        self.arguments = arguments
    }

    /// The program's identity in the home: its binaries are `versions/<id>/program`.
    public static let identity = ProgramIdentity(name: "program", version: "", protocolVersion: 0,
                                                 environmentPrefix: "AUTODEV_SUPERVISED_")

    /// The control socket in `home`.
    public static func controlSocket(home: String) -> String { home + "/supervise.sock" }

    /// Parses `[NAME=]HOST:PORT` (or a socket path); unnamed ones are "http", then "http-2", ….
    /// - Returns: nil when the address is neither.
    public static func parseListen(_ text: String, index: Int) -> (name: String, address: Listeners.Address)? {
        var name = index == 0 ? "http" : "http-\(index + 1)"
        var rest = Substring(text)
        if let equals = text.firstIndex(of: "="), !text[..<equals].contains(":"), !text[..<equals].contains("/") {
            name = String(text[..<equals])
            rest = text[text.index(after: equals)...]
            guard !name.isEmpty, name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" || $0 == "." }) else { return nil }
        }
        guard let address = Listeners.Address(String(rest)) else { return nil }
        if case .tcp(_, let port) = address, port == 0 { return (name, address) }
        return (name, address)
    }
}

/// A supervisor that could not start or act; the description names the path and the action.
public struct SupervisorError: Error, Sendable, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}
