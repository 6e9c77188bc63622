import FoundationEssentials
import Platform

/// A request to a running host over its control socket (`<modules>/control.sock`): one frame of
/// JSON in, one frame of JSON (``ControlAnswer``) out.
///
/// The host runs only what it can vouch for: a file of its module store (checked against its
/// digest), or a version built into its own program (`builtin`). Anything else is refused.
public struct ControlRequest: Codable, Sendable {
    /// `reload` or `list`.
    public var operation: String
    public var module: String?
    /// A file of the host's module store, with no arguments; its environment may only name a
    /// fault to inject (``ModuleWorker/faultVariable``).
    public var image: ModuleImage?
    /// A version built into the host's own program, instead of `image`.
    public var builtin: String?

    public init(operation: String, module: String? = nil, image: ModuleImage? = nil, builtin: String? = nil) {
        self.operation = operation
        self.module = module
        self.image = image
        self.builtin = builtin
    }

    /// A reload of `module` to `image`: a version built into a program (`PROGRAM module-worker
    /// [NAME@]VERSION`) is asked for by its version, which the host runs with its own program.
    public static func reload(_ module: String, to image: ModuleImage) -> ControlRequest {
        if image.arguments.count == 2, image.arguments[0] == "module-worker" {
            let spec = image.arguments[1]
            let version = spec.split(separator: "@", omittingEmptySubsequences: false).last.map(String.init) ?? spec
            var fault = ModuleImage(executable: "")
            fault.environment = image.environment
            return ControlRequest(operation: "reload", module: module, image: image.environment.isEmpty ? nil : fault, builtin: version)
        }
        return ControlRequest(operation: "reload", module: module, image: image)
    }
}

/// A running host's answer.
public struct ControlAnswer: Codable, Sendable {
    public var report: ReloadReport?
    public var modules: [String: Hello]?
    public var error: String?

    /// Why the answer's numbers cannot be right (a duration or schema out of range); nil when
    /// they are in range. Its reader prints them as whole numbers: an out-of-range one is refused.
    public var rangeProblem: String? {
        if let report {
            for milliseconds in [report.milliseconds] + report.phases.map(\.milliseconds) where !ModuleRecord.isValidDuration(milliseconds) {
                return "milliseconds \(milliseconds) are out of range"
            }
            for schema in [report.fromSchema, report.toSchema] where !ModuleRecord.isValidSchema(schema) {
                return "state schema \(schema) is out of range"
            }
        }
        for hello in (modules ?? [:]).values where !ModuleRecord.isValidSchema(hello.stateSchema) {
            return "state schema \(hello.stateSchema) is out of range"
        }
        return nil
    }
}

extension ModuleHost {
    /// The control socket's path for a host directory.
    public static func controlPath(_ directory: String) -> String { directory + "/control.sock" }

    /// The lock file a host holds for its life: `<directory>/host.lock`.
    public static func lockPath(_ directory: String) -> String { directory + "/host.lock" }

    /// Takes the exclusive lock of the host of `directory` (flock on `host.lock`, released by
    /// the kernel when this process ends), and writes this process's id into it. Only its
    /// holder may run recovery, replace the control socket or start the modules.
    /// - Returns: the lock; keep it for the host's life.
    /// - Throws: ``ModuleError`` `.alreadyRunning` naming the home and the holder's pid; `.io`.
    public static func lockHost(_ directory: String) throws(ModuleError) -> FileLock {
        let path = lockPath(directory)
        let held: FileLock?
        do {
            try FileSystem.createDirectory(directory, mode: 0o755, intermediates: true)
            held = try FileLock.tryAcquire(path)
        } catch {
            throw ModuleError(.io, "Failed to lock the module host \"\(path)\": \(error)")
        }
        guard let held else {
            let text = (try? FileSystem.readFile(path)).map { String(decoding: $0, as: UTF8.self) } ?? ""
            let pid = Int32(text.split(separator: "\n").first ?? "").map { " (pid \($0))" } ?? ""
            throw ModuleError(.alreadyRunning, "a module host is already running for \(FileSystem.parent(of: directory))\(pid)")
        }
        do {
            try held.descriptor.truncate(to: 0)
            try held.descriptor.writeAll(Array("\(ProcessControl.id)\n".utf8))
        } catch {
            held.release()
            throw ModuleError(.io, "Failed to write this process's id into \"\(path)\": \(error)")
        }
        return held
    }

    /// Seconds a connection has to send its request before it is dropped (so an idle client
    /// holds up the others for no longer).
    public static let requestDeadline = 2.0

    /// Whether a peer of the control socket running as `user` may use it: the host's own user
    /// or root.
    public static func acceptsPeer(user: UInt32?) -> Bool {
        guard let user else { return false }
        return user == Privilege.userID || user == 0
    }

    /// Listens on `<directory>/control.sock` on a thread of its own, for `modules reload` of a
    /// running program: each connection carries one request (a reload runs to its end before
    /// the answer, with its phases and times).
    ///
    /// The socket file is made 0600, and a connection from another user than the host's (or
    /// root) is refused: a reload starts a process as the host's user. A socket another process
    /// listens on is refused, unless `replacingLive` (a program started beside the version it
    /// replaces, on the same directory, takes the socket over).
    /// - Throws: ``ModuleError`` `.io` when the socket cannot be bound.
    public func serveControl(replacingLive: Bool = false) throws(ModuleError) {
        let path = Self.controlPath(directory)
        let listener: ListeningSocket
        do {
            try FileSystem.createDirectory(directory, mode: 0o755, intermediates: true)
            listener = try ListeningSocket.unix(path: path, backlog: 16, mode: 0o600, replacingLive: replacingLive)
        } catch {
            throw ModuleError(.io, "Failed to listen on the module control socket \"\(path)\": \(error)")
        }
        let group = ThreadGroup()
        group.start { [self] in
            while true {
                guard listener.waitForConnection(), let fd = try? listener.accept() else { continue }
                let connection = Socket(adopting: fd, endpoint: path)
                let channel = FrameChannel(connection)
                // The request is read either way (closing a socket with unread data resets it,
                // and the refusal would be lost), but only a permitted peer's is looked at.
                let request = try? channel.receive(timeout: Self.requestDeadline)
                let answer: ControlAnswer
                if Self.acceptsPeer(user: connection.peerUserID) {
                    answer = self.answer(request)
                } else {
                    answer = ControlAnswer(error: "Refused: the module host at \"\(path)\" serves only its own user and root")
                }
                try? channel.send(Frame(.reply, (try? Array(JSONEncoder().encode(answer))) ?? []), timeout: Self.requestDeadline)
                connection.close()
            }
        }
    }

    /// The image a control request asks for, if the host can vouch for it.
    /// - Throws: ``ModuleError`` `.untrusted` naming what was refused.
    public func vouchedImage(_ request: ControlRequest, module: String) throws(ModuleError) -> ModuleImage {
        let environment = request.image?.environment ?? [:]
        guard environment.keys.allSatisfy({ $0 == ModuleWorker.faultVariable }) else {
            throw ModuleError(.untrusted, "Refused to reload \(module): a reload request may not set the workers' environment (\(environment.keys.sorted().joined(separator: ", ")))")
        }
        if let version = request.builtin {
            guard !version.isEmpty, version.count <= 64, !version.hasPrefix("-"),
                  version.unicodeScalars.allSatisfy({ $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || "-_.".unicodeScalars.contains($0)) }) else {
                throw ModuleError(.untrusted, "Refused to reload \(module): invalid built-in version \"\(version)\"")
            }
            guard var image = options.builtInImage?(module, version) else {
                throw ModuleError(.untrusted, "Refused to reload \(module): this host has no built-in version \(version) of it")
            }
            image.environment.merge(environment) { $1 }
            return image
        }
        guard let image = request.image else { throw ModuleError(.untrusted, "Refused to reload \(module): the request names no version") }
        guard image.arguments.isEmpty else {
            throw ModuleError(.untrusted, "Refused to reload \(module): a stored module version runs without arguments, not \(image.arguments)")
        }
        _ = try ModuleStore(directory: directory).verify(image.executable)
        return image
    }

    private func answer(_ frame: Frame?) -> ControlAnswer {
        guard let frame, frame.kind == .message, let request = try? JSONDecoder().decode(ControlRequest.self, from: Data(frame.payload)) else {
            return ControlAnswer(error: "malformed control request")
        }
        do throws(ModuleError) {
            switch request.operation {
            case "reload":
                guard let module = request.module, request.image != nil || request.builtin != nil else {
                    return ControlAnswer(error: "reload needs a module and an image")
                }
                let image = try vouchedImage(request, module: module)
                return ControlAnswer(report: try reload(module, to: image))
            case "list":
                var modules: [String: Hello] = [:]
                for name in moduleNames { modules[name] = try version(of: name) }
                return ControlAnswer(modules: modules)
            default:
                return ControlAnswer(error: "unknown operation \(request.operation)")
            }
        } catch {
            return ControlAnswer(error: error.description)
        }
    }

    /// Sends `request` to the host listening in `directory`.
    /// - Returns: its answer; nil when no host listens there.
    /// - Throws: ``ModuleError`` `.io` when a host answered badly or not in time; `.untrusted`
    ///   when the control socket is a symbolic link or not a socket (it could lead to another
    ///   home's host).
    public static func askRunningHost(in directory: String, _ request: ControlRequest, timeout: Double = 120) throws(ModuleError) -> ControlAnswer? {
        let path = controlPath(directory)
        let status: FileStatus?
        do {
            status = try FileSystem.statusIfPresent(path, followLinks: false)
        } catch {
            throw ModuleError(.io, "Failed to inspect the module control socket \"\(path)\": \(error)")
        }
        guard let status else { return nil }
        guard status.kind == .other else {
            throw ModuleError(.untrusted, "Refused to use the module control socket \"\(path)\": it is \(status.kind == .symbolicLink ? "a symbolic link" : "not a socket")")
        }
        let socket: Socket
        do {
            socket = try Socket.connect(unixPath: path)
        } catch {
            return nil  // a socket file left by a host that is gone
        }
        defer { socket.close() }
        let channel = FrameChannel(socket)
        let answer: ControlAnswer
        do {
            try channel.send(Frame(.message, Array(try JSONEncoder().encode(request))), timeout: timeout)
            let frame = try channel.receive(timeout: timeout)
            answer = try JSONDecoder().decode(ControlAnswer.self, from: Data(frame.payload))
        } catch {
            throw ModuleError(.io, "Failed to ask the module host at \"\(path)\" to \(request.operation): \(error)")
        }
        if let problem = answer.rangeProblem {
            throw ModuleError(.io, "The module host at \"\(path)\" gave an invalid answer to \(request.operation): \(problem)")
        }
        return answer
    }
}
