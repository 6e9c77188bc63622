import Foundation
import Platform
import Testing

/// The HTTP example upgraded and rolled back while clients keep it busy: the built `ExampleServer`.
@Suite("The serving example", .serialized)
struct ExampleServerTests {
    static let server = URL(fileURLWithPath: (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0])
        .deletingLastPathComponent().appendingPathComponent("ExampleServer").path
    static let socketActivate = ProcessControl.findExecutable("systemd-socket-activate")

    @Test("upgrade and rollback under load: no connection refused, counts increasing, same PID, only the listeners cross exec")
    func upgradeUnderLoad() throws {
        let harness = try Harness()
        defer { harness.cleanUp() }
        let home = harness.root.appendingPathComponent("server-home").path
        let running = try RunningServer(harness: harness, arguments: ["serve", "--home", home, "--listen", "127.0.0.1:0"])
        defer { running.stop() }
        let first = try running.waitForLine(containing: "serving on port")
        let port = try #require(Int(first.components(separatedBy: "serving on port ")[1].prefix { $0.isNumber }))
        let oldID = first.components(separatedBy: " ")[3]
        let before = Self.descriptors(of: running.pid)

        let load = Load(port: port)
        load.start()
        try load.waitUntil { $0.responses >= 20 }
        let candidate = try harness.candidateServer()
        let upgrade = try harness.spawn(["upgrade", "--home", home, "--from-binary", candidate])
        #expect(upgrade.status == 0, "\(upgrade.stdout)\(upgrade.stderr)")
        #expect(upgrade.stdout.hasPrefix("confirmed upgrade to 1.0.0 "), "\(upgrade.stdout)")
        let newID = String(upgrade.stdout.split(separator: " ").last ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(newID != oldID && newID.count == 12)
        try load.waitUntil { $0.seen(newID, by: 2) }

        // The audit: the listeners are the very sockets of before, at 3 and 4; nothing else of
        // the old version (its pipe, its connections, the lock) crossed.
        let after = Self.descriptors(of: running.pid)
        #expect(after[3] == before[3] && after[4] == before[4] && after[3]?.hasPrefix("socket:") == true, "\(before) → \(after)")
        let crossed = after.filter { $0.key > 4 && !$0.value.hasPrefix("anon_inode:") && before.values.contains($0.value) }
        #expect(crossed.isEmpty, "descriptors of the old version crossed exec: \(crossed)")
        #expect(!after.values.contains { $0.hasSuffix("/lock") }, "\(after)")

        let rollback = try harness.spawn(["rollback", "--home", home])
        #expect(rollback.status == 0, "\(rollback.stdout)\(rollback.stderr)")
        #expect(rollback.stdout == "confirmed rollback to 1.0.0 \(oldID)\n")
        try load.waitUntil { $0.seen(oldID, by: 2, after: newID) }
        let report = load.stop()

        #expect(report.refused == 0 && report.failures.isEmpty, "\(report.failures)")
        for client in report.counts { #expect(zip(client, client.dropFirst()).allSatisfy { $0 < $1 }, "counts not increasing: \(client)") }
        // Three starts (first, upgraded, rolled back), one PID, still running.
        let starts = try running.lines().filter { $0.contains("serving on port") }
        #expect(starts.count == 3 && starts.allSatisfy { $0.hasPrefix("pid \(running.pid): ") }, "\(starts)")
        #expect(running.process.isRunning)
    }

    @Test("an operator's upgrades and rollbacks are never refused by the restart-loop guard, however many in a minute")
    func explicitRestartsNotALoop() throws {
        let harness = try Harness()
        defer { harness.cleanUp() }
        let home = harness.root.appendingPathComponent("server-home").path
        let running = try RunningServer(harness: harness, arguments: ["serve", "--home", home, "--listen", "127.0.0.1:0"])
        defer { running.stop() }
        _ = try running.waitForLine(containing: "serving on port")
        // The default configuration allows 5 restarts a minute: 8 explicit ones go through.
        let configuration = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: home + "/config.json"))) as? [String: Any]
        #expect((configuration?["maxRestarts"] as? NSNumber)?.intValue == 5, "\(String(describing: configuration))")
        let candidate = try harness.candidateServer()
        for step in 0..<8 {
            let result = try harness.spawn(step % 2 == 0 ? ["upgrade", "--home", home, "--from-binary", candidate] : ["rollback", "--home", home])
            #expect(result.status == 0 && result.stdout.hasPrefix("confirmed "), "step \(step): \(result.stdout)\(result.stderr)")
        }
        #expect(try running.lines().filter { $0.contains("serving on port") }.count == 9)
    }

    @Test("a new version that fails its confirmation execs the old one back, listeners and all, under load")
    func failedConfirmation() throws {
        let harness = try Harness()
        defer { harness.cleanUp() }
        let home = harness.root.appendingPathComponent("server-home").path
        let running = try RunningServer(harness: harness, arguments: ["serve", "--home", home, "--listen", "127.0.0.1:0"],
                                        environment: ["EXAMPLE_SERVER_FAILPOINT": "fail-confirm"])
        defer { running.stop() }
        let first = try running.waitForLine(containing: "serving on port")
        let port = try #require(Int(first.components(separatedBy: "serving on port ")[1].prefix { $0.isNumber }))
        let oldID = first.components(separatedBy: " ")[3]
        let load = Load(port: port)
        load.start()
        try load.waitUntil { $0.responses >= 20 }
        let upgrade = try harness.spawn(["upgrade", "--home", home, "--from-binary", try harness.candidateServer()])
        #expect(upgrade.status == 1)
        #expect(upgrade.stdout.hasPrefix("rolled-back upgrade to 1.0.0 "), "\(upgrade.stdout)")
        let restarted = try running.waitForLine(containing: "(inherited); start: rolled-back")
        #expect(restarted.hasPrefix("pid \(running.pid): 1.0.0 \(oldID) serving on port \(port) (inherited)"), "\(restarted)")
        let answered = load.snapshot().responses
        try load.waitUntil { $0.responses >= answered + 20 }
        let report = load.stop()
        #expect(report.refused == 0 && report.failures.isEmpty, "\(report.failures)")
        #expect(Set(report.ids.joined()) == [oldID])
        for client in report.counts { #expect(zip(client, client.dropFirst()).allSatisfy { $0 < $1 }, "counts not increasing: \(client)") }
    }

    @Test("runs unchanged under systemd-socket-activate and hands its socket to the new version",
          .enabled(if: socketActivate != nil, "needs systemd-socket-activate (Debian package systemd)"))
    func socketActivation() throws {
        let harness = try Harness()
        defer { harness.cleanUp() }
        let home = harness.root.appendingPathComponent("server-home").path
        let port = try Self.freePort()
        let running = try RunningServer(harness: harness, executable: Self.socketActivate!,
                                        arguments: ["-l", "127.0.0.1:\(port)", "--fdname=http", Self.server, "serve", "--home", home])
        defer { running.stop() }
        // systemd-socket-activate listens first and starts the server at the first connection.
        _ = try running.waitForLine(containing: "Listening on")
        var client = HTTPClient(port: port)
        let answer = try client.get()
        let line = try running.waitForLine(containing: "serving on")
        #expect(line.contains("serving on port \(port) (inherited)"), "\(line)")
        let upgrade = try harness.spawn(["upgrade", "--home", home, "--from-binary", try harness.candidateServer()])
        #expect(upgrade.status == 0, "\(upgrade.stdout)\(upgrade.stderr)")
        let next = try client.get()
        #expect(next.count > answer.count && next.id != answer.id)
        let starts = try running.lines().filter { $0.contains("serving on") }
        #expect(starts.count == 2 && starts.allSatisfy { $0.hasPrefix("pid \(running.pid): ") }, "\(starts)")
    }

    @Test("its control socket refuses another user, even when the socket file is opened to all: nothing is upgraded",
          .enabled(if: getuid() == 0 && FileManager.default.isExecutableFile(atPath: "/usr/bin/setpriv") && StaticServer.available,
                   "needs root, setpriv and python3 to connect as another user"))
    func controlRefusesOtherUsers() throws {
        let harness = try Harness()
        defer { harness.cleanUp() }
        let home = harness.root.appendingPathComponent("server-home").path
        let running = try RunningServer(harness: harness, arguments: ["serve", "--home", home, "--listen", "127.0.0.1:0"])
        defer { running.stop() }
        _ = try running.waitForLine(containing: "serving on port")
        let socket = home + "/control.sock"
        #expect(chmod(socket, 0o666) == 0)
        let marker = harness.root.appendingPathComponent("ran").path
        let script = """
        import socket, sys
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(sys.argv[1])
        s.sendall((sys.argv[2] + "\\n").encode())
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk: break
            data += chunk
        sys.stdout.write(data.decode())
        """
        let candidate = try harness.script("touches", "touch '\(marker)'")
        let refused = try harness.run(["--reuid=65534", "--regid=65534", "--clear-groups", "/usr/bin/python3", "-c", script, socket, "upgrade " + candidate],
                                      executable: "/usr/bin/setpriv")
        #expect(refused.stdout.hasPrefix("error: permission denied: only user 0 or root may control this server"), "[\(refused.status)] \(refused.stdout)\(refused.stderr)")
        #expect(!FileManager.default.fileExists(atPath: marker))
        // Its own user is still answered.
        let status = try harness.run(["-c", script, socket, "status"], executable: "/usr/bin/python3")
        #expect(status.stdout.hasPrefix("1.0.0 "), "\(status.stdout)\(status.stderr)")
    }

    @Test("the server example imports nothing of the package but SelfUpgrade, Handoff, Modules and its handler module")
    func imports() throws {
        let directory = EmbeddingExampleTests.root.appendingPathComponent("Sources/Examples/ExampleServer")
        var imports: Set<String> = []
        for name in try FileManager.default.contentsOfDirectory(atPath: directory.path) where name.hasSuffix(".swift") {
            let text = try String(contentsOf: directory.appendingPathComponent(name), encoding: .utf8)
            imports.formUnion(text.split(separator: "\n").filter { $0.hasPrefix("import ") }.map(String.init))
        }
        #expect(imports == ["import Foundation", "import SelfUpgrade", "import Handoff", "import Modules", "import ExampleHandler"])
    }

    // MARK: - Helpers

    /// `/proc/<pid>/fd`: each descriptor's link.
    static func descriptors(of pid: Int32) -> [Int32: String] {
        var result: [Int32: String] = [:]
        for name in (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd")) ?? [] {
            if let fd = Int32(name), let link = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/fd/\(name)") {
                result[fd] = link
            }
        }
        return result
    }

    static func freePort() throws -> Int {
        let socket = try ListeningSocket.tcp(host: "127.0.0.1", port: 0)
        defer { socket.close() }
        return try #require(socket.localPort)
    }
}

extension Harness {
    /// Runs the built ExampleServer with `arguments` and waits, reaping it by its pid: while a
    /// server started with `Process` runs, Foundation's own wait for another `Process` can hang.
    func spawn(_ arguments: [String]) throws -> Result {
        let output = root.appendingPathComponent("spawn-\(UUID().uuidString.prefix(6))").path
        defer { try? FileManager.default.removeItem(atPath: output) }
        var pid: pid_t = 0
        let argv = ([ExampleServerTests.server] + arguments).map { strdup($0) } + [nil]
        let envp = environment().map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { (argv + envp).forEach { free($0) } }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, output, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        let result = posix_spawn(&pid, ExampleServerTests.server, &actions, nil, argv, envp)
        try #require(result == 0, "posix_spawn failed: \(result)")
        var status: Int32 = 0
        while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
        let text = (try? String(contentsOfFile: output, encoding: .utf8)) ?? ""
        return Result(status: status & 0x7f == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f), stdout: text, stderr: "", pid: pid)
    }

    /// A copy of the built ExampleServer with bytes appended: same program, another version id.
    func candidateServer() throws -> String {
        let path = root.appendingPathComponent("server-\(UUID().uuidString.prefix(6))").path
        try FileManager.default.copyItem(atPath: ExampleServerTests.server, toPath: path)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        try handle.seekToEnd()
        try handle.write(contentsOf: Data(UUID().uuidString.utf8))
        try handle.close()
        return path
    }
}

/// A server started in the background, its output in a file.
struct RunningServer {
    let process: Process
    let output: URL
    var pid: Int32 { process.processIdentifier }

    init(harness: Harness, executable: String = ExampleServerTests.server, arguments: [String],
         environment: [String: String] = [:]) throws {
        process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.environment = harness.environment(environment)
        output = harness.root.appendingPathComponent("server-\(UUID().uuidString.prefix(6)).log")
        _ = FileManager.default.createFile(atPath: output.path, contents: nil)
        process.standardOutput = try FileHandle(forWritingTo: output)
        process.standardError = process.standardOutput
        process.standardInput = FileHandle.nullDevice
        try process.run()
    }

    func lines() throws -> [String] {
        try String(contentsOf: output, encoding: .utf8).split(separator: "\n").map(String.init)
    }

    /// The first output line containing `text`, waiting up to 30 s for it.
    func waitForLine(containing text: String) throws -> String {
        let start = MonotonicClock.now()
        while MonotonicClock.seconds(since: start) < 30 {
            let seen = try lines()
            if let line = seen.first(where: { $0.contains(text) }) { return line }
            try #require(process.isRunning, "the server exited: \(seen)")
            ProcessControl.sleep(seconds: 0.01)
        }
        throw HTTPClient.Failure(description: "no line containing \(text.debugDescription) within 30 s: \(try lines())")
    }

    func stop() {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
    }
}

/// A minimal HTTP/1.1 client on one keep-alive connection.
struct HTTPClient {
    struct Failure: Error, CustomStringConvertible { var description: String }
    struct Answer { var version: String; var id: String; var count: Int }

    let port: Int
    var socket: Socket?
    /// Requests retried because the server had closed the idle keep-alive connection.
    var retried = 0
    /// Connections opened so far: the number of the one that carried the last answer.
    var opened = 0

    init(port: Int) { self.port = port }

    /// `GET /`; a reused connection that the server closed between requests is reopened and
    /// the request sent again (RFC 9112 §9.3.1); a refused connection throws.
    mutating func get(keepAlive: Bool = true) throws -> Answer {
        let reused = socket != nil
        if socket == nil {
            socket = try Socket.connect(host: "127.0.0.1", port: port, timeout: 10)
            opened += 1
        }
        do {
            return try exchange(keepAlive: keepAlive)
        } catch let error as Failure where reused && error.description == "closed before answering" {
            socket?.close()
            socket = nil
            retried += 1
            return try get(keepAlive: keepAlive)
        }
    }

    private mutating func exchange(keepAlive: Bool) throws -> Answer {
        guard let socket else { throw Failure(description: "not connected") }
        let request = "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n" + (keepAlive ? "" : "Connection: close\r\n") + "\r\n"
        do {
            try Array(request.utf8).withUnsafeBytes { try socket.sendAll($0, timeout: 10) }
        } catch let error as SystemError where error.errno.rawValue == EPIPE || error.errno.rawValue == ECONNRESET {
            throw Failure(description: "closed before answering")
        }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let count: Int
            do {
                count = try buffer.withUnsafeMutableBytes { try socket.receive(into: $0, timeout: 30) }
            } catch let error as SystemError where bytes.isEmpty && error.errno.rawValue == ECONNRESET {
                count = 0
            }
            if count == 0 {
                if bytes.isEmpty { throw Failure(description: "closed before answering") }
                throw Failure(description: "closed mid-answer: \(String(decoding: bytes, as: UTF8.self))")
            }
            bytes += buffer[..<count]
            let text = String(decoding: bytes, as: UTF8.self)
            guard let split = text.range(of: "\r\n\r\n"),
                  let length = text[..<split.lowerBound].components(separatedBy: "\r\n").first(where: { $0.lowercased().hasPrefix("content-length:") })
                    .flatMap({ Int($0.dropFirst("content-length:".count).trimmingCharacters(in: .whitespaces)) }),
                  text.utf8.count >= text[..<split.upperBound].utf8.count + length else { continue }
            let head = String(text[..<split.lowerBound])
            let body = text[split.upperBound...].trimmingCharacters(in: .whitespacesAndNewlines).split(separator: " ").map(String.init)
            guard head.hasPrefix("HTTP/1.1 200"), body.count == 3, let number = Int(body[2]) else { throw Failure(description: "bad answer: \(text)") }
            if !keepAlive || head.lowercased().contains("connection: close") {
                socket.close()
                self.socket = nil
            }
            return Answer(version: body[0], id: body[1], count: number)
        }
    }
}

/// Two clients in the background: one on a keep-alive connection, one connecting anew for
/// every request. Records each answer's count and version, and every failure.
final class Load: @unchecked Sendable {
    /// What the clients saw so far. Guarded by `lock`: both client threads and the test write or read it.
    struct Report {
        var counts: [[Int]] = [[], []]
        var ids: [[String]] = [[], []]
        /// The connection (numbered per client) each answer came on.
        var connections: [[Int]] = [[], []]
        var failures: [String] = []
        var refused = 0
        var retried = 0
        var responses: Int { counts[0].count + counts[1].count }

        /// Both clients (`clients` of them) have had an answer from `id`, after one from `earlier` if given.
        /// The counts seen on each connection, in order.
        var countsPerConnection: [[Int]] {
            (0..<2).flatMap { client in
                Dictionary(grouping: zip(connections[client], counts[client]), by: { $0.0 }).values.map { $0.map(\.1) }
            }
        }

        func seen(_ id: String, by clients: Int, after earlier: String? = nil) -> Bool {
            ids.filter { list in
                guard let earlier else { return list.contains(id) }
                guard let index = list.lastIndex(of: earlier) else { return false }
                return list[index...].contains(id)
            }.count >= clients
        }
    }

    let port: Int
    private let lock = NSCondition()
    private var report = Report()
    private var stopping = false
    private var running = 0

    init(port: Int) { self.port = port }

    func start() {
        lock.lock()
        running += 2
        lock.unlock()
        for client in 0..<2 { Thread.detachNewThread { self.drive(client) } }
    }

    private func drive(_ client: Int) {
        var http = HTTPClient(port: port)
        while true {
            lock.lock()
            let stop = stopping
            lock.unlock()
            if stop { break }
            do {
                let answer = try http.get(keepAlive: client == 0)
                lock.lock()
                report.counts[client].append(answer.count)
                report.ids[client].append(answer.id)
                report.connections[client].append(http.opened)
                lock.broadcast()
                lock.unlock()
            } catch {
                lock.lock()
                if let error = error as? SystemError, error.errno.rawValue == ECONNREFUSED { report.refused += 1 }
                report.failures.append("client \(client): \(error)")
                lock.broadcast()
                lock.unlock()
                http = HTTPClient(port: port)
            }
        }
        lock.lock()
        report.retried += http.retried
        running -= 1
        lock.broadcast()
        lock.unlock()
    }

    /// Waits (up to 60 s) until `condition` holds of what the clients saw.
    func waitUntil(_ condition: (Report) -> Bool) throws {
        lock.lock()
        defer { lock.unlock() }
        let deadline = Date(timeIntervalSinceNow: 60)
        while !condition(report) {
            guard lock.wait(until: deadline) else { throw HTTPClient.Failure(description: "load: condition not met within 60 s") }
        }
    }

    /// What the clients saw so far.
    func snapshot() -> Report {
        lock.lock()
        defer { lock.unlock() }
        return report
    }

    /// Stops the clients and returns what they saw.
    func stop() -> Report {
        lock.lock()
        defer { lock.unlock() }
        stopping = true
        while running > 0 { lock.wait() }
        return report
    }
}
