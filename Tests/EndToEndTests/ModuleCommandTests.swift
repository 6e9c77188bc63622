import Foundation
import Integrity
import Platform
import Testing
import TestSupport

/// `autodev modules …` run as a user runs it, and the example server's handler reloaded under load.
@Suite("Module commands", .serialized)
struct ModuleCommandTests {
    @Test("help for every modules command, exit 0")
    func help() throws {
        let harness = try Harness()
        defer { harness.cleanUp() }
        for command in ["build", "reload", "rollback", "list", "serve", "test-stateful-reload", "test-concurrent-reload"] {
            let result = try harness.run(["modules", command, "--help"], executable: Harness.binary)
            #expect(result.status == 0)
            #expect(result.stdout.hasPrefix("OVERVIEW: "), "\(command): \(result.stdout)")
            #expect(result.stdout.contains("USAGE: autodev modules \(command)"))
        }
        let group = try harness.run(["modules"], executable: Harness.binary)
        #expect(group.status == 0 && group.stdout.contains("test-concurrent-reload"))
    }

    @Test("bad input: usage errors exit 64, runtime errors exit 1, and nothing is written")
    func badInput() throws {
        let harness = try Harness()
        defer { harness.cleanUp() }
        #expect(try harness.initialize().status == 0)
        let cases: [([String], Int32, String)] = [
            (["modules", "frobnicate"], 64, "Error: Unknown command 'modules frobnicate'"),
            (["modules", "reload"], 64, "Error: Missing expected argument '<name>'"),
            (["modules", "reload", "nope"], 64, "Error: Unknown module 'nope'"),
            (["modules", "reload", "counter", "--builtin", "9"], 64, "Error: The value '9' is invalid for '--builtin <version>'"),
            (["modules", "reload", "counter", "--from", "/nonexistent/worker"], 1, "Error: No module worker at \"/nonexistent/worker\""),
            (["modules", "reload", "counter", "--from", "/bin/true"], 1, "Error: The module worker \"/bin/true\""),
            (["modules", "reload", "counter"], 1, "Error: No built version of counter"),
            (["modules", "rollback", "counter"], 1, "Error: The module counter has no version yet"),
            (["modules", "list", "--bogus"], 64, "Error: Unknown option '--bogus'"),
        ]
        for (arguments, status, message) in cases {
            let result = try harness.run(arguments + ["--home", harness.home], executable: Harness.binary)
            #expect(result.status == status, "\(arguments): \(result.stderr)")
            #expect(result.stderr.hasPrefix(message), "\(arguments): \(result.stderr)")
        }
        let gate = try harness.run(["modules", "test-stateful-reload", "--reloads", "0"], executable: Harness.binary)
        #expect(gate.status == 64 && gate.stderr.hasPrefix("Error: The value '0' is invalid for '--reloads <n>'"), "\(gate.stderr)")
        #expect(!FileManager.default.fileExists(atPath: harness.home + "/modules"))
        let other = try harness.run(["modules", "list", "--home", harness.root.appendingPathComponent("none").path], executable: Harness.binary)
        #expect(other.status == 1 && other.stderr.contains("run 'autodev init' first"), "\(other.stderr)")
    }

    @Test("a path with a line break or an escape sequence cannot forge a line of an error")
    func forgedPaths() throws {
        let harness = try Harness()
        defer { harness.cleanUp() }
        #expect(try harness.initialize().status == 0)
        for arguments in [["modules", "reload", "counter", "--from", "/nonexistent/a\nForged: line", "--home", harness.home],
                          ["modules", "list", "--home", "/nonexistent/x\u{1B}[2J\nForged: home"],
                          ["modules", "build", "counter", "--source", "/nonexistent/s\nForged: source", "--home", harness.home]] {
            let result = try harness.run(arguments, executable: Harness.binary)
            #expect(result.status == 1)
            #expect(result.stderr.split(separator: "\n").count == 1 && result.stderr.contains("\\nForged"), "\(result.stderr)")
            #expect(!result.stderr.contains("\u{1B}"), "\(result.stderr)")
        }
    }

    @Test("reload with no host running records the next version; rollback returns to the one before; list shows both")
    func offlineReloadAndRollback() throws {
        let harness = try Harness()
        defer { harness.cleanUp() }
        #expect(try harness.initialize().status == 0)
        let first = try harness.run(["modules", "reload", "counter", "--builtin", "1", "--home", harness.home], executable: Harness.binary)
        #expect(first.status == 0, "\(first.stderr)")
        #expect(first.stdout.contains("counter@1 (state schema 1) is now the version the next start runs"), "\(first.stdout)")
        #expect(try harness.run(["modules", "reload", "counter", "--builtin", "2", "--home", harness.home], executable: Harness.binary).status == 0)
        let rollback = try harness.run(["modules", "rollback", "counter", "--home", harness.home], executable: Harness.binary)
        #expect(rollback.stdout == "counter: rolled back counter@2 → counter@1 (the version the next start runs)\n", "\(rollback.stdout)\(rollback.stderr)")
        let list = try harness.run(["modules", "list", "--json", "--home", harness.home], executable: Harness.binary)
        let entries = try #require(try JSONSerialization.jsonObject(with: Data(list.stdout.utf8)) as? [[String: Any]])
        #expect(entries.first?["version"] as? String == "counter@1")
        #expect(entries.first?["stateSchema"] as? Int == 1)
        #expect((entries.first?["history"] as? [Any])?.count == 3)
    }

    @Test("six reloads at once with no host running: every record is kept", .timeLimit(.minutes(2)))
    func parallelOfflineReloads() throws {
        let harness = try Harness()
        defer { harness.cleanUp() }
        #expect(try harness.initialize().status == 0)
        let processes = try (0..<6).map { index -> Process in
            let process = Process()
            process.executableURL = URL(fileURLWithPath: Harness.binary)
            process.arguments = ["modules", "reload", "counter", "--builtin", index % 2 == 0 ? "1" : "2", "--home", harness.home]
            process.environment = harness.environment([:])
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            try process.run()
            return process
        }
        for process in processes { process.waitUntilExit() }
        #expect(processes.allSatisfy { $0.terminationStatus == 0 })
        let journal = try String(contentsOfFile: harness.home + "/modules/journal", encoding: .utf8)
        #expect(journal.split(separator: "\n").filter { $0.contains("\"kind\":\"current\"") }.count == 6, "\(journal)")
        let list = try harness.run(["modules", "list", "--json", "--home", harness.home], executable: Harness.binary)
        #expect(list.status == 0, "\(list.stderr)")
    }

    @Test("a second serve for the same home is refused and leaves the first one's socket working; SIGTERM removes the socket", .timeLimit(.minutes(2)))
    func oneHostPerHome() throws {
        let harness = try Harness()
        defer { harness.cleanUp() }
        #expect(try harness.initialize().status == 0)
        let first = try Self.serve(harness, until: "serving counter@2")
        defer { first.stop() }
        let second = try harness.run(["modules", "serve", "--home", harness.home], executable: Harness.binary)
        #expect(second.status == 1)
        #expect(second.stderr == "Error: a module host is already running for \(harness.home) (pid \(first.pid))\n", "\(second.stderr)")
        let reload = try harness.run(["modules", "reload", "counter", "--builtin", "1", "--home", harness.home], executable: Harness.binary)
        #expect(reload.status == 0 && reload.stdout.contains("Reloaded counter: counter@2 → counter@1"), "\(reload.stdout)\(reload.stderr)")
        kill(first.pid, SIGTERM)
        first.process.waitUntilExit()
        #expect(first.process.terminationStatus == 0)
        #expect(!FileManager.default.fileExists(atPath: harness.home + "/modules/control.sock"))
    }

    /// A module journal line as the journal writes it.
    /// `modules serve` for the harness's home, once it printed `line` ("serving counter@2").
    static func serve(_ harness: Harness, until line: String) throws -> RunningServer {
        let host = try RunningServer(harness: harness, executable: Harness.binary, arguments: ["modules", "serve", "--home", harness.home])
        do {
            _ = try host.waitForLine(containing: line)
        } catch {
            host.stop()
            throw error
        }
        return host
    }

    static func journalLine(_ json: String) -> String {
        let checksum = String(CRC32.checksum(Array(json.utf8)), radix: 16)
        return String(repeating: "0", count: 8 - checksum.count) + checksum + " " + json + "\n"
    }

    /// A journal whose counter's current version is a program that does not exist, and a
    /// record under an invalid name.
    static func brokenJournal(_ home: String) throws {
        try FileManager.default.createDirectory(atPath: home + "/modules", withIntermediateDirectories: true)
        let lines = [
            "{\"kind\":\"current\",\"module\":\"counter\",\"pid\":1,\"time\":1,\"to\":{\"arguments\":[],\"environment\":{},\"executable\":\"/nonexistent/worker\"},\"toVersion\":\"counter@9\",\"v\":1}",
            "{\"kind\":\"current\",\"module\":\"bad name\",\"pid\":1,\"time\":1,\"to\":{\"arguments\":[],\"environment\":{},\"executable\":\"/bin/true\"},\"v\":1}",
        ]
        try lines.map(journalLine).joined().write(toFile: home + "/modules/journal", atomically: false, encoding: .utf8)
    }

    @Test("serve reports a module that cannot start and keeps serving; a reload replaces it", .timeLimit(.minutes(2)))
    func serveWithBrokenModule() throws {
        let harness = try Harness()
        defer { harness.cleanUp() }
        #expect(try harness.initialize().status == 0)
        try Self.brokenJournal(harness.home)
        let host = try Self.serve(harness, until: "serving no module")
        defer { host.stop() }
        let lines = try host.lines()
        #expect(lines.contains { $0.hasPrefix("autodev: counter did not start from \"/nonexistent/worker\"") }, "\(lines)")
        #expect(lines.contains("autodev: the others keep serving; run 'autodev modules rollback counter' to return counter to its version before, or reload another version of it"), "\(lines)")
        #expect(lines.contains { $0.hasPrefix("autodev: bad name did not start") }, "\(lines)")
        let reload = try harness.run(["modules", "reload", "counter", "--builtin", "1", "--home", harness.home], executable: Harness.binary)
        #expect(reload.status == 0, "\(reload.stdout)\(reload.stderr)")
        #expect(reload.stdout.contains("Reloaded counter: none (/nonexistent/worker did not start) → counter@1"), "\(reload.stdout)")
    }

    @Test("serve starts a killed worker again on its version and says so; a reload of it then commits", .timeLimit(.minutes(2)))
    func killedWorkerStartedAgain() throws {
        let harness = try Harness()
        defer { harness.cleanUp() }
        #expect(try harness.initialize().status == 0)
        let host = try Self.serve(harness, until: "serving counter@2")
        defer { host.stop() }
        let workers = Processes.commandLineContaining("module-worker counter@2").filter { $0 != host.pid }
        try #require(workers.count == 1, "\(workers)")
        kill(workers[0], SIGKILL)
        try #require(Processes.waitUntilEnded(workers[0]), "the killed worker did not end")
        // No message finds it gone here: the reload starts it again first, then reloads.
        let reload = try harness.run(["modules", "reload", "counter", "--builtin", "1", "--home", harness.home], executable: Harness.binary)
        #expect(reload.status == 0, "\(reload.stdout)\(reload.stderr)")
        #expect(reload.stdout.contains("Reloaded counter: counter@2 → counter@1"), "\(reload.stdout)")
        let line = try host.waitForLine(containing: "started again")
        #expect(line.hasPrefix("autodev: counter: started again: the worker of counter@2 was killed by signal 9"), "\(line)")
        let list = try harness.run(["modules", "list", "--json", "--home", harness.home], executable: Harness.binary)
        let history = try #require((try JSONSerialization.jsonObject(with: Data(list.stdout.utf8)) as? [[String: Any]])?.first?["history"] as? [[String: Any]])
        #expect(history.map { $0["event"] as? String } == ["start", "start", "commit"], "\(history)")
    }

    @Test("a reload --from that the host refuses leaves nothing staged in the store", .timeLimit(.minutes(2)))
    func refusedFromLeavesNothing() throws {
        let harness = try Harness()
        defer { harness.cleanUp() }
        #expect(try harness.initialize().status == 0)
        let host = try Self.serve(harness, until: "serving counter@2")
        defer { host.stop() }
        // A worker file of its own: the counter's version 2 built into the binary under test.
        let worker = try harness.script("counter-worker", "exec '\(Harness.binary)' module-worker counter@2 \"$@\"")
        let refused = try harness.run(["modules", "reload", "counter", "--from", worker, "--home", harness.home], executable: Harness.binary,
                                      environment: ["AUTODEV_MODULE_FAULT": "incompatible@prepare"])
        #expect(refused.status == 1, "\(refused.stdout)\(refused.stderr)")
        #expect((refused.stdout + refused.stderr).contains("prepare"), "\(refused.stdout)\(refused.stderr)")
        let store = harness.home + "/modules/store"
        let left = (try? FileManager.default.subpathsOfDirectory(atPath: store))?.filter { !$0.hasPrefix(".") } ?? []
        #expect(left.isEmpty, "\(left)")
        let accepted = try harness.run(["modules", "reload", "counter", "--from", worker, "--home", harness.home], executable: Harness.binary)
        #expect(accepted.status == 0, "\(accepted.stdout)\(accepted.stderr)")
        #expect(((try? FileManager.default.subpathsOfDirectory(atPath: store)) ?? []).count == 2)
    }

    @Test("serve that cannot bind its control socket writes no start record")
    func serveBindsBeforeStarting() throws {
        let harness = try Harness()
        defer { harness.cleanUp() }
        #expect(try harness.initialize().status == 0)
        try FileManager.default.createDirectory(atPath: harness.home + "/modules", withIntermediateDirectories: true)
        // A regular file where the socket goes: bind fails (only a socket file is replaced).
        try "not a socket".write(toFile: harness.home + "/modules/control.sock", atomically: false, encoding: .utf8)
        let serve = try harness.run(["modules", "serve", "--home", harness.home], executable: Harness.binary)
        #expect(serve.status == 1)
        #expect(serve.stderr.hasPrefix("Error: Failed to listen on the module control socket"), "\(serve.stderr)")
        let journal = (try? String(contentsOfFile: harness.home + "/modules/journal", encoding: .utf8)) ?? ""
        #expect(!journal.contains("\"kind\":\"start\""), "\(journal)")
    }

    @Test("with no host, reload replaces a current version that cannot start")
    func offlineReloadOverBroken() throws {
        let harness = try Harness()
        defer { harness.cleanUp() }
        #expect(try harness.initialize().status == 0)
        try Self.brokenJournal(harness.home)
        let reload = try harness.run(["modules", "reload", "counter", "--builtin", "1", "--home", harness.home], executable: Harness.binary)
        #expect(reload.status == 0, "\(reload.stderr)")
        #expect(reload.stdout.contains("counter@1 (state schema 1) is now the version the next start runs"), "\(reload.stdout)")
    }

    @Test("list refuses a journal with an out-of-range time with its line, exit 1, no crash")
    func listOutOfRange() throws {
        let harness = try Harness()
        defer { harness.cleanUp() }
        #expect(try harness.initialize().status == 0)
        try FileManager.default.createDirectory(atPath: harness.home + "/modules", withIntermediateDirectories: true)
        let json = Array("{\"kind\":\"current\",\"module\":\"counter\",\"pid\":1,\"time\":1e300,\"v\":1}".utf8)
        let checksum = String(CRC32.checksum(json), radix: 16)
        let line = String(repeating: "0", count: 8 - checksum.count) + checksum + " " + String(decoding: json, as: UTF8.self) + "\n"
        try line.write(toFile: harness.home + "/modules/journal", atomically: false, encoding: .utf8)
        let list = try harness.run(["modules", "list", "--home", harness.home], executable: Harness.binary)
        #expect(list.status == 1)
        #expect(list.stderr.hasPrefix("Error: The module journal \"\(harness.home)/modules/journal\" is damaged at line 1: its time"), "\(list.stderr)")
    }

    @Test("a running host reloads in place, and rolls back a version that crashes in verify", .timeLimit(.minutes(2)))
    func runningHost() throws {
        let harness = try Harness()
        defer { harness.cleanUp() }
        #expect(try harness.initialize().status == 0)
        let host = try Self.serve(harness, until: "serving counter@2")
        defer { host.stop() }
        let reload = try harness.run(["modules", "reload", "counter", "--builtin", "1", "--home", harness.home], executable: Harness.binary)
        #expect(reload.status == 0, "\(reload.stderr)")
        let phases = reload.stdout.split(separator: "\n").prefix(7).map { $0.split(separator: " ")[1] }
        #expect(phases == ["prepare", "drain", "snapshot", "migrate", "swap", "restore", "verify"], "\(reload.stdout)")
        #expect(reload.stdout.contains("Reloaded counter: counter@2 → counter@1 (state schema 2 → 1)"), "\(reload.stdout)")
        let crash = try harness.run(["modules", "reload", "counter", "--builtin", "2", "--home", harness.home], executable: Harness.binary,
                                    environment: ["AUTODEV_MODULE_FAULT": "crash@verify"])
        #expect(crash.status == 1)
        #expect(crash.stderr.contains("✗ verify") && crash.stderr.contains("Rolled back: counter stays on counter@1"), "\(crash.stderr)")
        let list = try harness.run(["modules", "list", "--home", harness.home], executable: Harness.binary)
        #expect(list.stdout.contains("counter  counter@1  1       1 committed, 1 rolled back"), "\(list.stdout)")
    }

    @Test("a host killed with SIGKILL in the middle of a reload comes back on the committed version", .timeLimit(.minutes(2)))
    func killedMidReload() throws {
        let harness = try Harness()
        defer { harness.cleanUp() }
        #expect(try harness.initialize().status == 0)
        let first = try RunningServer(harness: harness, executable: Harness.binary, arguments: ["modules", "serve", "--home", harness.home])
        _ = try first.waitForLine(containing: "serving counter@2")
        #expect(try harness.run(["modules", "reload", "counter", "--builtin", "1", "--home", harness.home], executable: Harness.binary).status == 0)
        // A reload whose new version hangs at drain: the host waits for it when it is killed.
        let reload = Process()
        reload.executableURL = URL(fileURLWithPath: Harness.binary)
        reload.arguments = ["modules", "reload", "counter", "--builtin", "2", "--home", harness.home]
        reload.environment = harness.environment(["AUTODEV_MODULE_FAULT": "hang@drain"])
        reload.standardOutput = FileHandle.nullDevice
        reload.standardError = FileHandle.nullDevice
        try reload.run()
        let journal = harness.home + "/modules/journal"
        // The first reload's prepare, then this one's: the host is now waiting for the drain notice.
        while ((try? String(contentsOfFile: journal, encoding: .utf8)) ?? "").components(separatedBy: "\"phase\":\"prepare\"").count < 3 { sched_yield() }
        kill(first.pid, SIGKILL)
        first.process.waitUntilExit()
        reload.waitUntilExit()
        #expect(reload.terminationStatus == 1)

        let second = try RunningServer(harness: harness, executable: Harness.binary, arguments: ["modules", "serve", "--home", harness.home])
        defer { second.stop() }
        let serving = try second.waitForLine(containing: "serving counter@")
        #expect(serving.hasSuffix("serving counter@1 for \(harness.home)"), "\(serving)")
        let lines = try second.lines()
        #expect(lines.contains { $0.hasPrefix("autodev: recovery: reload counter-") && $0.hasSuffix("was unfinished: rolled back to counter@1") },
                "\(lines)")
        let list = try harness.run(["modules", "list", "--home", harness.home], executable: Harness.binary)
        #expect(list.stdout.contains("counter  counter@1  1       1 committed, 1 rolled back"), "\(list.stdout)")
    }

    @Test("the gates run real workers and report no loss", .timeLimit(.minutes(2)))
    func gates() throws {
        let harness = try Harness()
        defer { harness.cleanUp() }
        for arguments in [["modules", "test-stateful-reload", "--reloads", "6", "--json"],
                          ["modules", "test-concurrent-reload", "--modules", "3", "--rounds", "3", "--json"]] {
            let result = try harness.run(arguments, executable: Harness.binary)
            #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
            let report = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
            #expect(report["lost"] as? Int == 0)
            #expect((report["sent"] as? Int ?? 0) > 0 && report["sent"] as? Int == report["answered"] as? Int)
            let reload = try #require(report["reloadMs"] as? [String: Any])
            #expect(Set(reload.keys).isSuperset(of: ["p50", "p99", "max"]))
            #expect(report["passed"] as? Bool == true)
        }
    }

    @Test("the example server's handler module reloads under load: no refused connection, its state kept", .timeLimit(.minutes(2)))
    func exampleServerHandler() throws {
        let harness = try Harness()
        defer { harness.cleanUp() }
        let home = harness.root.appendingPathComponent("server-home").path
        let running = try RunningServer(harness: harness, arguments: ["serve", "--home", home, "--listen", "127.0.0.1:0"])
        defer { running.stop() }
        let first = try running.waitForLine(containing: "serving on port")
        let port = try #require(Int(first.components(separatedBy: "serving on port ")[1].prefix { $0.isNumber }))
        let load = HandlerLoad(port: port)
        load.start()
        load.waitUntil { $0.bodies.count >= 10 }
        let reload = try harness.run(["modules", "reload", "example-handler", "--builtin", "2", "--home", home], executable: Harness.binary)
        #expect(reload.status == 0, "\(reload.stdout)\(reload.stderr)")
        load.waitUntil { $0.bodies.contains { $0.hasPrefix("handler v2:") } && $0.bodies.count >= 20 }
        let report = load.stop()
        #expect(report.failures.isEmpty, "\(report.failures)")
        // Every answer numbered one more than the one before: the handler's count crossed the reload.
        let numbers = report.bodies.compactMap { $0.split(separator: "(request ").last.flatMap { Int($0.prefix { $0.isNumber }) } }
        #expect(numbers == Array(1...numbers.count), "\(numbers)")
        let versions = report.bodies.map { $0.prefix(11) }
        #expect(versions.first == "handler v1:" && versions.last == "handler v2:")
        #expect(versions == versions.sorted(), "a v1 answer after a v2 one: \(versions)")
    }
}

/// One client asking `GET /handler/x` on a new connection each time until stopped.
final class HandlerLoad: @unchecked Sendable {
    struct Report {
        var bodies: [String] = []
        var failures: [String] = []
    }

    let port: Int
    private let lock = NSLock()
    private var report = Report()
    private var stopping = false
    private let done = DispatchSemaphore(value: 0)

    init(port: Int) { self.port = port }

    func start() {
        Thread.detachNewThread { [self] in
            while !lock.withLock({ stopping }) {
                do {
                    let body = try request()
                    lock.withLock { report.bodies.append(body) }
                } catch {
                    lock.withLock { report.failures.append("\(error)") }
                }
            }
            done.signal()
        }
    }

    func waitUntil(_ condition: (Report) -> Bool) {
        while !lock.withLock({ condition(report) }) { sched_yield() }
    }

    func stop() -> Report {
        lock.withLock { stopping = true }
        done.wait()
        return lock.withLock { report }
    }

    private func request() throws -> String {
        let socket = try Socket.connect(host: "127.0.0.1", port: port, timeout: 10)
        defer { socket.close() }
        let request = Array("GET /handler/x HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".utf8)
        try request.withUnsafeBytes { try socket.sendAll($0, timeout: 10) }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = try buffer.withUnsafeMutableBytes { try socket.receive(into: $0, timeout: 10) }
            if count == 0 { break }
            bytes += buffer[..<count]
        }
        let text = String(decoding: bytes, as: UTF8.self)
        guard text.hasPrefix("HTTP/1.1 200"), let split = text.range(of: "\r\n\r\n") else { throw HandlerFailure(text: text) }
        return String(text[split.upperBound...]).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    struct HandlerFailure: Error, CustomStringConvertible {
        var text: String
        var description: String { "bad answer: \(text)" }
    }
}
