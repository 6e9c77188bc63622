import FoundationEssentials
import Platform

/// A request to a running host over its control socket (`<modules>/control.sock`): one frame of
/// JSON in, one frame of JSON (``ControlAnswer``) out.
package struct ControlRequest: Codable, Sendable {
    /// `reload` or `list`.
    package var operation: String
    package var module: String?
    package var image: ModuleImage?

    package init(operation: String, module: String? = nil, image: ModuleImage? = nil) {
        self.operation = operation
        self.module = module
        self.image = image
    }
}

/// A running host's answer.
package struct ControlAnswer: Codable, Sendable {
    package var report: ReloadReport?
    package var modules: [String: Hello]?
    package var error: String?
}

extension ModuleHost {
    /// The control socket's path for a host directory.
    package static func controlPath(_ directory: String) -> String { directory + "/control.sock" }

    /// Listens on `<directory>/control.sock` on a thread of its own, for `modules reload` of a
    /// running program: each connection carries one request (a reload runs to its end before
    /// the answer, with its phases and times).
    /// - Throws: ``ModuleError`` `.io` when the socket cannot be bound.
    package func serveControl() throws(ModuleError) {
        let path = Self.controlPath(directory)
        let listener: ListeningSocket
        do {
            try FileSystem.createDirectory(directory, mode: 0o755, intermediates: true)
            listener = try ListeningSocket.unix(path: path, backlog: 16)
        } catch {
            throw ModuleError(.io, "Failed to listen on the module control socket \"\(path)\": \(error)")
        }
        let group = ThreadGroup()
        group.start { [self] in
            while true {
                guard listener.waitForConnection(), let fd = try? listener.accept() else { continue }
                let connection = Socket(adopting: fd, endpoint: path)
                let channel = FrameChannel(connection)
                let answer = self.answer(try? channel.receive(timeout: 5))
                try? channel.send(Frame(.reply, (try? Array(JSONEncoder().encode(answer))) ?? []), timeout: 5)
                connection.close()
            }
        }
    }

    private func answer(_ frame: Frame?) -> ControlAnswer {
        guard let frame, frame.kind == .message, let request = try? JSONDecoder().decode(ControlRequest.self, from: Data(frame.payload)) else {
            return ControlAnswer(error: "malformed control request")
        }
        do throws(ModuleError) {
            switch request.operation {
            case "reload":
                guard let module = request.module, let image = request.image else { return ControlAnswer(error: "reload needs a module and an image") }
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
    /// - Throws: ``ModuleError`` `.io` when a host answered badly or not in time.
    package static func askRunningHost(in directory: String, _ request: ControlRequest, timeout: Double = 120) throws(ModuleError) -> ControlAnswer? {
        let path = controlPath(directory)
        guard FileSystem.exists(path) else { return nil }
        let socket: Socket
        do {
            socket = try Socket.connect(unixPath: path)
        } catch {
            return nil  // a socket file left by a host that is gone
        }
        defer { socket.close() }
        let channel = FrameChannel(socket)
        do {
            try channel.send(Frame(.message, Array(try JSONEncoder().encode(request))), timeout: timeout)
            let frame = try channel.receive(timeout: timeout)
            return try JSONDecoder().decode(ControlAnswer.self, from: Data(frame.payload))
        } catch {
            throw ModuleError(.io, "Failed to ask the module host at \"\(path)\" to \(request.operation): \(error)")
        }
    }
}
