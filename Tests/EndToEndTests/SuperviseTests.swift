import Foundation
import Platform
import Testing
import TestSupport

/// `autodev supervise`: the built binary supervising real programs (the built ExampleServer, and
/// small Python programs that misbehave on purpose), with a datagram socket standing in for
/// systemd's NOTIFY_SOCKET.
@Suite("The supervisor", .serialized)
struct SuperviseTests {
    static let python = ProcessControl.findExecutable("python3")

    @Test("the supervisor's log shows a program path with escape sequences and line breaks escaped")
    func logEscapes() throws {
        let harness = try Harness()
        defer { harness.cleanUp() }
        // A program that ends at once with 0: the supervisor ends with it.
        let program = try harness.script("ev\u{1B}]0;PWN\u{7}\nForged", "exit 0")
        let result = try harness.run(["supervise", "--home", harness.home, "--", program], executable: Harness.binary)
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stderr.contains("ev\\u{1B}]0;PWN\\u{7}\\nForged"), "\(result.stderr.debugDescription)")
        #expect(!result.stderr.contains("\u{1B}") && !result.stderr.contains("\u{7}"), "\(result.stderr.debugDescription)")
        #expect(!result.stderr.contains("\nForged"), "a forged line: \(result.stderr.debugDescription)")
    }

    @Test("upgrade and rollback by overlap under load: no failed request, counts increasing per connection, sd_notify to systemd")
    func overlapUnderLoad() throws {
        let harness = try Harness()
        defer { harness.cleanUp() }
        let systemd = try NotifyRecorder(harness: harness)
        defer { systemd.close() }
        let home = harness.root.appendingPathComponent("supervised").path
        let port = try ExampleServerTests.freePort()
        let supervisor = try RunningServer(harness: harness, executable: Harness.binary,
                                           arguments: ["supervise", "--home", home, "--listen", "127.0.0.1:\(port)", "--",
                                                       ExampleServerTests.server, "serve", "--home", harness.root.appendingPathComponent("state").path],
                                           environment: ["NOTIFY_SOCKET": systemd.address])
        defer { supervisor.stop() }
        let first = try supervisor.waitForLine(containing: "serving on port")
        let oldID = first.components(separatedBy: " ")[3]
        try systemd.waitFor { $0.contains { $0["READY"] == "1" } }
        #expect(systemd.messages.first?["MAINPID"] == String(supervisor.pid))
        let child = try #require(try Self.children(of: supervisor.pid).first)
        // The audit: stdio and the one listener, nothing of the supervisor's (lock, pipes, sockets).
        let supervisorFiles = Set(ExampleServerTests.descriptors(of: supervisor.pid).values)
        let inherited = ExampleServerTests.descriptors(of: child).filter { supervisorFiles.contains($0.value) }
        #expect(Set(inherited.keys).isSubset(of: [0, 1, 2, 3]) && inherited[3]?.hasPrefix("socket:") == true, "\(inherited)")

        let load = Load(port: port)
        load.start()
        try load.waitUntil { $0.responses >= 20 }
        let upgrade = try harness.spawnTool(Harness.binary, ["supervise", "upgrade", "--home", home, "--from-binary", try harness.candidateServer(), "--json"])
        #expect(upgrade.status == 0, "\(upgrade.stdout)")
        let reply = try harness.json(upgrade.stdout)
        let newID = String(try #require(reply["to"] as? String).prefix(12))
        #expect(reply["ok"] as? Bool == true && reply["operation"] as? String == "upgrade" && newID != oldID)
        #expect(try Self.children(of: supervisor.pid) == [try #require((reply["pid"] as? NSNumber)?.int32Value)])
        try load.waitUntil { $0.seen(newID, by: 2) }
        let rollback = try harness.spawnTool(Harness.binary, ["supervise", "rollback", "--home", home])
        #expect(rollback.status == 0 && rollback.stdout.hasPrefix("Rolled back \(newID) → \(oldID): pid "), "\(rollback.stdout)")
        try load.waitUntil { $0.seen(oldID, by: 2, after: newID) }
        let report = load.stop()
        #expect(report.refused == 0 && report.failures.isEmpty, "\(report.failures)")
        // Two versions serve side by side during an overlap, each counting from the state it
        // loaded: counts increase on each connection (one process serves it), not across them.
        for connection in report.countsPerConnection {
            #expect(zip(connection, connection.dropFirst()).allSatisfy { $0 < $1 }, "counts not increasing on a connection: \(connection)")
        }

        let status = try harness.spawnTool(Harness.binary, ["supervise", "status", "--home", home, "--json"])
        let state = try harness.json(status.stdout)
        #expect(status.status == 0 && (state["current"] as? String)?.hasPrefix(oldID) == true && state["ready"] as? Bool == true, "\(status.stdout)")
        #expect(state["listeners"] as? [String] == ["http port \(port)"])
        let journal = try String(contentsOfFile: home + "/journal", encoding: .utf8)
        #expect(journal.components(separatedBy: "\"kind\":\"commit\"").count - 1 == 2, "\(journal)")

        // systemd saw: MAINPID, READY, then for each overlap RELOADING (with the monotonic clock) and READY again.
        try systemd.waitFor { $0.filter { $0["READY"] == "1" }.count >= 3 }
        let reloads = systemd.messages.filter { $0["RELOADING"] == "1" }
        #expect(reloads.count == 2 && reloads.allSatisfy { UInt64($0["MONOTONIC_USEC"] ?? "") != nil }, "\(systemd.messages)")
        kill(supervisor.pid, SIGTERM)
        try systemd.waitFor { $0.contains { $0["STOPPING"] == "1" } }
        #expect(try supervisor.waitForExit() == 0)
        // Its cgroup went with it, with the one ExampleServer's module host made inside.
        if Self.cgroups { try Self.waitUntilNoCgroup(of: supervisor.pid) }
    }

    @Test("runs under systemd-socket-activate: takes its listener and passes it on by name",
          .enabled(if: ExampleServerTests.socketActivate != nil, "needs systemd-socket-activate (Debian package systemd)"))
    func socketActivation() throws {
        let harness = try Harness()
        defer { harness.cleanUp() }
        let home = harness.root.appendingPathComponent("supervised").path
        let port = try ExampleServerTests.freePort()
        let running = try RunningServer(harness: harness, executable: ExampleServerTests.socketActivate!,
                                        arguments: ["-l", "127.0.0.1:\(port)", "--fdname=http", Harness.binary, "supervise", "--home", home, "--",
                                                    ExampleServerTests.server, "serve", "--home", harness.root.appendingPathComponent("state").path])
        defer { running.stop() }
        _ = try running.waitForLine(containing: "Listening on")
        var client = HTTPClient(port: port)
        let answer = try client.get()
        #expect(try running.waitForLine(containing: "autodev supervise: pid").contains("on http port \(port);"))
        let upgrade = try harness.spawnTool(Harness.binary, ["supervise", "upgrade", "--home", home, "--from-binary", try harness.candidateServer()])
        #expect(upgrade.status == 0, "\(upgrade.stdout)")
        let next = try client.get()
        #expect(next.id != answer.id)
    }

    @Test("a candidate that never says READY=1 is stopped, the old version keeps serving, the transaction is aborted; a forged READY=1 from another pid is ignored; a second upgrade meanwhile is refused",
          .enabled(if: python != nil, "needs python3"))
    func neverReady() throws {
        let harness = try Harness()
        defer { harness.cleanUp() }
        let fixture = try Fixture(harness: harness)
        let supervisor = try fixture.start(fixture.program("v1"), extra: ["--ready-timeout", "3"])
        defer { supervisor.stop() }
        try fixture.waitForLog { $0.contains { $0.hasPrefix("ready v1") } }
        let before = try fixture.snapshot()
        let candidate = try fixture.program("v2", mode: "never-ready")
        let upgrade = try harness.spawnBackground(Harness.binary, ["supervise", "upgrade", "--home", fixture.home, "--from-binary", candidate])
        try fixture.waitForLog { $0.contains { $0.hasPrefix("start v2") } }
        let pid = try #require(try Self.children(of: supervisor.pid).first { try fixture.tag(of: $0) == "v2" })
        // Another process speaks for the candidate: not believed.
        let address = try #require(try Self.environment(of: pid)["NOTIFY_SOCKET"])
        try NotifySocket.send("READY=1", to: address)
        let second = try harness.spawnTool(Harness.binary, ["supervise", "upgrade", "--home", fixture.home, "--from-binary", candidate])
        #expect(second.status == 1 && second.stdout.contains("already running"), "\(second.stdout)")
        let result = try upgrade.wait()
        #expect(result.status == 1 && result.stdout.contains("did not say READY=1 within 3.0 s; it was stopped") && result.stdout.contains("still serves"), "\(result.stdout)")
        #expect(!ProcessControl.isAlive(pid) || (try? fixture.tag(of: pid)) == nil)
        #expect(try fixture.get() == "v1")
        #expect(try fixture.snapshot() == before)
        #expect(try String(contentsOfFile: fixture.home + "/journal", encoding: .utf8).contains("\"kind\":\"abort\""))
        #expect(try supervisor.lines().contains { $0.contains("ignored a notification from pid \(ProcessControl.id)") })
    }

    @Test("a candidate that exits before it is ready: the old version keeps serving", .enabled(if: python != nil, "needs python3"))
    func candidateExits() throws {
        let harness = try Harness()
        defer { harness.cleanUp() }
        let fixture = try Fixture(harness: harness)
        let supervisor = try fixture.startReady("v1")
        defer { supervisor.stop() }
        let before = try fixture.snapshot()
        let upgrade = try harness.spawnTool(Harness.binary, ["supervise", "upgrade", "--home", fixture.home, "--from-binary", try fixture.program("v2", mode: "crash")])
        #expect(upgrade.status == 1 && upgrade.stdout.contains("exited with status 3 before it was ready"), "\(upgrade.stdout)")
        #expect(try fixture.get() == "v1")
        #expect(try fixture.snapshot() == before)
    }

    @Test("exit 42 restarts into the current version; a version that crashes before it is ready is rolled back",
          .enabled(if: python != nil, "needs python3"))
    func restartAndRollback() throws {
        let harness = try Harness()
        defer { harness.cleanUp() }
        let fixture = try Fixture(harness: harness)
        let supervisor = try fixture.startReady("v1")
        defer { supervisor.stop() }
        let v1 = try fixture.current()
        let staged = try fixture.stageForNextStart("v2", mode: "crash")
        #expect(staged.status == 0 && staged.stdout.contains("runs it from its next start"), "\(staged.stdout)\(staged.stderr)")
        #expect(try fixture.current() != v1)
        // v1 asks to be restarted into the new version; v2 crashes before READY=1: back to v1.
        try fixture.signalProgram(supervisor, tag: "v1", SIGUSR1)
        try fixture.waitForLog { $0.filter { $0.hasPrefix("ready v1") }.count == 2 }
        #expect(try fixture.log().contains { $0.hasPrefix("start v2") })
        #expect(try fixture.current() == v1)
        let lines = try supervisor.lines()
        #expect(lines.contains { $0.contains("(exited with status 3) before it was ready: rolled back to \(v1.prefix(12))") }, "\(lines)")
        // A good version: exit 42 brings it up.
        _ = try fixture.stageForNextStart("v3")
        try fixture.signalProgram(supervisor, tag: "v1", SIGUSR1)
        try fixture.waitForLog { $0.contains { $0.hasPrefix("ready v3") } }
        #expect(try fixture.get() == "v3")
    }

    @Test("a version that exits 42 at once, never ready, is rolled back too, not restarted in a loop",
          .enabled(if: python != nil, "needs python3"))
    func exit42NeverReady() throws {
        let harness = try Harness()
        defer { harness.cleanUp() }
        let fixture = try Fixture(harness: harness)
        let supervisor = try fixture.startReady("v1")
        defer { supervisor.stop() }
        let v1 = try fixture.current()
        _ = try fixture.stageForNextStart("v2", mode: "exit42")
        try fixture.signalProgram(supervisor, tag: "v1", SIGUSR1)
        try fixture.waitForLog { $0.filter { $0.hasPrefix("ready v1") }.count == 2 }
        let log = try fixture.log()
        #expect(log.filter { $0.hasPrefix("start v2") }.count == 1, "\(log)")
        #expect(try fixture.current() == v1)
        #expect(try fixture.get() == "v1")
    }

    @Test("an upgrade to the version already serving is refused; a stored version whose bytes changed is not run",
          .enabled(if: python != nil, "needs python3"))
    func currentAndTampered() throws {
        let harness = try Harness()
        defer { harness.cleanUp() }
        let fixture = try Fixture(harness: harness)
        let program = try fixture.program("v1")
        let supervisor = try fixture.start(program)
        try fixture.waitForLog { $0.contains { $0.hasPrefix("ready v1") } }
        let same = try harness.spawnTool(Harness.binary, ["supervise", "upgrade", "--home", fixture.home, "--from-binary", program])
        #expect(same.status == 1)
        #expect(same.stdout.contains("is already the current version") || same.stderr.contains("is already the current version"), "\(same.stdout)\(same.stderr)")
        #expect(try fixture.log().filter { $0.hasPrefix("start v1") }.count == 1)
        kill(supervisor.pid, SIGTERM)
        _ = try supervisor.waitForExit()

        // The stored program changed on disk: the next supervisor refuses to run it.
        let stored = fixture.home + "/versions/" + (try fixture.current()) + "/program"
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: stored))
        try handle.seekToEnd()
        try handle.write(contentsOf: Data("\n# changed\n".utf8))
        try handle.close()
        let again = try fixture.start(program)
        defer { again.stop() }
        let refused = try again.waitForLine(containing: "could not start the program")
        #expect(refused.contains("damaged") || refused.contains("does not match"), "\(refused)")
        #expect(try fixture.log().filter { $0.hasPrefix("start v1") }.count == 1)
    }

    @Test("a control connection that sends nothing is closed by the supervisor; others are answered meanwhile",
          .enabled(if: python != nil, "needs python3"))
    func idleControlConnection() throws {
        let harness = try Harness()
        defer { harness.cleanUp() }
        let fixture = try Fixture(harness: harness)
        let supervisor = try fixture.startReady("v1")
        defer { supervisor.stop() }
        let idle = try Socket.connect(unixPath: fixture.home + "/supervise.sock")
        defer { idle.close() }
        let status = try harness.spawnTool(Harness.binary, ["supervise", "status", "--home", fixture.home])
        #expect(status.status == 0, "\(status.stdout)\(status.stderr)")
        // The supervisor ends the idle connection (end of file), without being asked.
        let start = MonotonicClock.now()
        var closed = false
        while !closed, MonotonicClock.seconds(since: start) < 30 {
            if let bytes = try? idle.receiveWaiting(), bytes.isEmpty { closed = true } else { ProcessControl.sleep(seconds: 0.05) }
        }
        #expect(closed, "the idle control connection was still open after 30 s")
    }

    @Test("a ready program that exits 0 on its own ends the supervisor with status 0, started once", .enabled(if: python != nil, "needs python3"))
    func exitZeroEnds() throws {
        let harness = try Harness()
        defer { harness.cleanUp() }
        let fixture = try Fixture(harness: harness)
        let supervisor = try fixture.startReady("v1")
        defer { supervisor.stop() }
        try fixture.signalProgram(supervisor, tag: "v1", SIGUSR2)
        #expect(try supervisor.waitForExit() == 0)
        let log = try fixture.log()
        #expect(log.filter { $0.hasPrefix("start v1") }.count == 1, "\(log)")
    }

    @Test("--ready started: a program that does not speak sd_notify is upgraded once it runs", .enabled(if: python != nil, "needs python3"))
    func readyStarted() throws {
        let harness = try Harness()
        defer { harness.cleanUp() }
        let fixture = try Fixture(harness: harness)
        let supervisor = try fixture.start(fixture.program("v1", mode: "never-ready"), extra: ["--ready", "started"])
        defer { supervisor.stop() }
        try fixture.waitForLog { $0.contains { $0.hasPrefix("start v1") } }
        let upgrade = try harness.spawnTool(Harness.binary, ["supervise", "upgrade", "--home", fixture.home, "--from-binary", try fixture.program("v2", mode: "never-ready")])
        #expect(upgrade.status == 0 && upgrade.stdout.hasPrefix("Upgraded "), "\(upgrade.stdout)")
        #expect(try fixture.get() == "v2")
    }

    @Test("a crash after readiness restarts the same version after a backoff", .enabled(if: python != nil, "needs python3"))
    func crashRestarts() throws {
        let harness = try Harness()
        defer { harness.cleanUp() }
        let fixture = try Fixture(harness: harness)
        let supervisor = try fixture.start(fixture.program("v1", mode: "crash-once"))
        defer { supervisor.stop() }
        try fixture.waitForLog { $0.filter { $0.hasPrefix("ready v1") }.count == 2 }
        #expect(try supervisor.lines().contains { $0.contains("restarting in 0.1 s (crash 1 in a row)") })
        #expect(try fixture.get() == "v1")
    }

    @Test("SIGHUP reaches the program; SIGTERM too, and the supervisor exits with its status", .enabled(if: python != nil, "needs python3"))
    func signalForwarding() throws {
        let harness = try Harness()
        defer { harness.cleanUp() }
        let fixture = try Fixture(harness: harness)
        let supervisor = try fixture.startReady("v1")
        defer { supervisor.stop() }
        // The systemd convention as the program sees it: one descriptor, LISTEN_PID its own pid, named.
        let child = try #require(try SuperviseTests.children(of: supervisor.pid).first)
        #expect(try fixture.log().first == "start v1 \(child) 1 True http")
        kill(supervisor.pid, SIGHUP)
        try fixture.waitForLog { $0.contains { $0.hasPrefix("hup v1") } }
        kill(supervisor.pid, SIGTERM)
        try fixture.waitForLog { $0.contains { $0.hasPrefix("term v1") } }
        #expect(try supervisor.waitForExit() == 7)
    }

    @Test("a supervisor killed by SIGKILL leaves no program serving on its own: it gets SIGTERM", .enabled(if: python != nil, "needs python3"))
    func supervisorKilled() throws {
        let harness = try Harness()
        defer { harness.cleanUp() }
        let fixture = try Fixture(harness: harness)
        let supervisor = try fixture.startReady("v1")
        defer { supervisor.stop() }
        kill(supervisor.pid, SIGKILL)
        try fixture.waitForLog { $0.contains { $0.hasPrefix("term v1") } }
    }

    @Test("a program that ignores SIGTERM is killed after the stop timeout", .enabled(if: python != nil, "needs python3"))
    func ignoresTerm() throws {
        let harness = try Harness()
        defer { harness.cleanUp() }
        let fixture = try Fixture(harness: harness)
        let supervisor = try fixture.start(fixture.program("v1", mode: "ignore-term"), extra: ["--stop-timeout", "1"])
        defer { supervisor.stop() }
        try fixture.waitForLog { $0.contains { $0.hasPrefix("ready v1") } }
        kill(supervisor.pid, SIGTERM)
        #expect(try supervisor.waitForExit() == 128 + SIGKILL)
        #expect(try supervisor.lines().contains { $0.contains("did not exit within 1.0 s of SIGTERM: SIGKILL") })
    }

    @Test("bad command lines are usage errors that create nothing")
    func badInput() throws {
        let harness = try Harness()
        defer { harness.cleanUp() }
        let home = harness.root.appendingPathComponent("never").path
        let cases: [([String], Int32, String)] = [
            (["supervise", "--home", home, "/bin/true"], 64, "Error: Unexpected argument '/bin/true' (the program and its arguments go after '--')"),
            (["supervise", "--home", home], 64, "Error: Missing '--' before the program"),
            (["supervise", "--home", home, "--"], 64, "Error: Missing the program after '--'"),
            (["supervise", "--", "/bin/true"], 64, "Error: Missing '--home <dir>'"),
            (["supervise", "--home", home, "--listen", "nowhere", "--", "/bin/true"], 64, "Error: The value 'nowhere' is invalid for '--listen <address>'"),
            (["supervise", "--home", home, "--listen", "127.0.0.1:70000", "--", "/bin/true"], 64, "Error: The value '127.0.0.1:70000' is invalid"),
            (["supervise", "--home", home, "--ready", "soon", "--", "/bin/true"], 64, "Error: The value 'soon' is invalid for '--ready <mode>'"),
            (["supervise", "--home", home, "--", "no-such-program-anywhere"], 1, "Error: Program \"no-such-program-anywhere\" not found"),
            (["supervise", "upgrade", "--home", home, "--from-binary", "/bin/true"], 1, "Error: No supervisor answers on \"\(home)/supervise.sock\""),
            (["supervise", "upgrade", "--home", home], 64, "Error: Missing '--from-binary <path>'"),
            (["supervise", "status"], 64, "Error: Missing '--home <dir>'"),
        ]
        for (arguments, status, message) in cases {
            let result = try harness.spawnTool(Harness.binary, arguments)
            #expect(result.status == status && result.stdout.hasPrefix(message), "\(arguments): \(result.status) \(result.stdout)")
            #expect(!FileManager.default.fileExists(atPath: home), "\(arguments) created the home")
        }
        // autodev's own home is not a supervised program's: refused, its journal untouched.
        _ = try harness.initialize()
        let journal = try harness.journalLines()
        let foreign = try harness.spawnTool(Harness.binary, ["supervise", "--home", harness.home, "--", "/bin/true"])
        #expect(foreign.status == 1 && foreign.stdout.contains("is not a supervised program's home"), "\(foreign.stdout)")
        #expect(try harness.journalLines() == journal)
        #expect(!FileManager.default.fileExists(atPath: harness.home + "/supervise.sock"))
        let busy = try ListeningSocket.tcp(host: "127.0.0.1", port: 0)
        defer { busy.close() }
        let taken = try harness.spawnTool(Harness.binary, ["supervise", "--home", home, "--listen", "127.0.0.1:\(busy.localPort!)", "--", "/bin/true"])
        #expect(taken.status == 1 && taken.stdout.contains("Failed to bind"), "\(taken.stdout)")
        #expect(!FileManager.default.fileExists(atPath: home))
        let help = try harness.spawnTool(Harness.binary, ["supervise", "--help"])
        #expect(help.status == 0 && help.stdout.hasPrefix("OVERVIEW: Run a program from a home") && help.stdout.contains("SUBCOMMANDS:"))
    }

    @Test("a link planted where the control socket goes: refused, its target untouched", .enabled(if: python != nil, "needs python3"))
    func plantedLink() throws {
        let harness = try Harness()
        defer { harness.cleanUp() }
        let fixture = try Fixture(harness: harness)
        let supervisor = try fixture.start(fixture.program("v1"))
        try fixture.waitForLog { $0.contains { $0.hasPrefix("ready v1") } }
        kill(supervisor.pid, SIGTERM)
        _ = try supervisor.waitForExit()
        let target = harness.root.appendingPathComponent("precious").path
        try "keep".write(toFile: target, atomically: true, encoding: .utf8)
        try FileManager.default.removeItem(atPath: fixture.home + "/supervise.sock")
        try FileManager.default.createSymbolicLink(atPath: fixture.home + "/supervise.sock", withDestinationPath: target)
        let again = try harness.spawnTool(Harness.binary, ["supervise", "--home", fixture.home, "--", "ignored"])
        #expect(again.status == 1 && again.stdout.contains("supervise.sock"), "\(again.stdout)")
        #expect(try String(contentsOfFile: target, encoding: .utf8) == "keep")
        // And a second supervisor on a home in use is refused before it touches anything.
        try FileManager.default.removeItem(atPath: fixture.home + "/supervise.sock")
        let first = try fixture.start(fixture.program("v1"))
        defer { first.stop() }
        _ = try first.waitForLine(containing: "started")
        let second = try harness.spawnTool(Harness.binary, ["supervise", "--home", fixture.home, "--", "ignored"])
        #expect(second.status == 1 && second.stdout.contains("Another supervisor runs on"), "\(second.stdout)")
    }

    /// Whether this machine has a cgroup v2 hierarchy this user can create cgroups in.
    static let cgroups = Cgroups.writable

    @Test("a daemon a program started (setsid, double fork) ends with the supervisor: SIGTERM or SIGKILL, in a cgroup",
          .enabled(if: python != nil && cgroups, "needs python3 and a writable cgroup v2 hierarchy"),
          arguments: [SIGTERM, SIGKILL])
    func daemonEndsInCgroup(signal: Int32) throws {
        try expectDaemonEnds(signal: signal, environment: [:])
    }

    @Test("a daemon a program started (setsid, double fork) ends with the supervisor's SIGTERM under the subreaper (no cgroup)",
          .enabled(if: python != nil, "needs python3"))
    func daemonEndsUnderSubreaper() throws {
        try expectDaemonEnds(signal: SIGTERM, environment: ["AUTODEV_PROCESS_TREES": "subreaper"])
    }

    func expectDaemonEnds(signal: Int32, environment: [String: String]) throws {
        let harness = try Harness()
        defer { harness.cleanUp() }
        let fixture = try Fixture(harness: harness)
        let supervisor = try fixture.start(fixture.program("v1", mode: "daemon"), environment: environment)
        defer { supervisor.stop() }
        try fixture.waitForLog { $0.contains { $0.hasPrefix("ready v1") } && $0.contains { $0.hasPrefix("daemon v1") } }
        let daemon = try #require(try fixture.log().first { $0.hasPrefix("daemon v1") }.flatMap { Int32($0.split(separator: " ")[2]) })
        kill(supervisor.pid, signal)
        _ = try supervisor.waitForExit()
        try Self.waitUntilGone(daemon)
        // Nothing serves the port any more.
        #expect(throws: (any Error).self) { try fixture.get() }
        if environment.isEmpty {
            #expect(!(try supervisor.lines()).contains { $0.contains("subreaper") })
            try Self.waitUntilNoCgroup(of: supervisor.pid)
        }
    }

    @Test("a program that exits 42 at once, forever, is started again after a growing backoff, ready or not",
          .enabled(if: python != nil, "needs python3"), arguments: ["started", "notify"])
    func exit42Backoff(readiness: String) throws {
        let harness = try Harness()
        defer { harness.cleanUp() }
        let fixture = try Fixture(harness: harness)
        let mode = readiness == "started" ? "exit42" : "ready-exit42"
        let supervisor = try fixture.start(fixture.program("v1", mode: mode), extra: ["--ready", readiness])
        defer { supervisor.stop() }
        // The fifth end in a row waits 1.6 s: before the line, five starts; without a backoff,
        // thousands and never this line.
        _ = try supervisor.waitForLine(containing: "restarting in 1.6 s (end 5 in a row)")
        let starts = try fixture.log().filter { $0.hasPrefix("start v1") }.count
        #expect((5...6).contains(starts), "\(starts) starts")
        #expect(try supervisor.lines().contains { $0.contains("exit status 42: restarting into the current version; restarting in 0.1 s (end 1 in a row)") })
    }

    @Test("a Unix socket another process listens on is refused, not replaced; a listener on a path is labelled with it",
          .enabled(if: python != nil, "needs python3"))
    func liveUnixSocket() throws {
        let harness = try Harness()
        defer { harness.cleanUp() }
        let fixture = try Fixture(harness: harness)
        let path = harness.root.appendingPathComponent("app.sock").path
        let first = try RunningServer(harness: harness, executable: Harness.binary,
                                      arguments: ["supervise", "--home", fixture.home, "--listen", path, "--", try fixture.program("v1")])
        defer { first.stop() }
        let line = try first.waitForLine(containing: "supervising")
        #expect(line.contains("on http unix \(path);"), "\(line)")
        try fixture.waitForLog { $0.contains { $0.hasPrefix("ready v1") } }
        let status = try harness.spawnTool(Harness.binary, ["supervise", "status", "--home", fixture.home, "--json"])
        #expect(try harness.json(status.stdout)["listeners"] as? [String] == ["http unix \(path)"], "\(status.stdout)")
        // A second supervisor (another home) on the same path: refused, the first keeps it.
        let other = harness.root.appendingPathComponent("other").path
        let second = try RunningServer(harness: harness, executable: Harness.binary,
                                       arguments: ["supervise", "--home", other, "--listen", path, "--", try fixture.program("v2")])
        defer { second.stop() }
        #expect(try second.waitForExit() == 1)
        let refusal = try second.lines()
        #expect(refusal.contains { $0.contains("another process listens on it") }, "\(refusal)")
        let probe = try Socket.connect(unixPath: path)
        probe.close()
        // A stale socket (nobody listens) is replaced.
        kill(first.pid, SIGTERM)
        _ = try first.waitForExit()
        #expect(FileManager.default.fileExists(atPath: path))
        let third = try RunningServer(harness: harness, executable: Harness.binary,
                                      arguments: ["supervise", "--home", other, "--listen", path, "--", try fixture.program("v3")])
        defer { third.stop() }
        _ = try third.waitForLine(containing: "started")
    }

    @Test("another user asking the supervisor gets a clear refusal", .enabled(if: python != nil && getuid() == 0 && FileManager.default.isExecutableFile(atPath: "/usr/bin/setpriv"), "needs python3, root and setpriv"))
    func otherUserRefused() throws {
        let harness = try Harness()
        defer { harness.cleanUp() }
        let fixture = try Fixture(harness: harness)
        let supervisor = try fixture.startReady("v1")
        defer { supervisor.stop() }
        chmod(fixture.home + "/supervise.sock", 0o777)
        chmod(fixture.home, 0o755)
        chmod(harness.root.path, 0o755)
        let result = try harness.spawnTool("/usr/bin/setpriv", ["--reuid", "65534", "--regid", "65534", "--clear-groups", Harness.binary,
                                                               "supervise", "status", "--home", fixture.home])
        #expect(result.status == 1 && result.stdout.contains("Error: Refused: the supervisor at") && result.stdout.contains("not uid 65534"), "\(result.stdout)")
    }

    /// Waits (up to 30 s) until the cgroup the supervisor `pid` made is removed, with every
    /// cgroup below it (a program's own, such as a module host's).
    static func waitUntilNoCgroup(of pid: Int32) throws {
        guard let mounts = try? String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8),
              let line = mounts.split(separator: "\n").first(where: { $0.contains(" - cgroup2 ") }) else { return }
        let root = String(line.split(separator: " ")[4])
        let start = MonotonicClock.now()
        while let left = ((try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []).first(where: { $0.hasPrefix("autodev-supervise-\(pid)-") }) {
            guard MonotonicClock.seconds(since: start) < 30 else { throw HTTPClient.Failure(description: "the cgroup \(root)/\(left) is still there after 30 s") }
            ProcessControl.sleep(seconds: 0.01)
        }
    }

    /// Waits (up to 30 s) until `pid` has exited (gone, or a zombie its new parent has not reaped yet).
    static func waitUntilGone(_ pid: Int32) throws {
        let start = MonotonicClock.now()
        while let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              stat.split(separator: ")").last?.split(separator: " ").first != "Z" {
            guard MonotonicClock.seconds(since: start) < 30 else { throw HTTPClient.Failure(description: "pid \(pid) still runs after 30 s") }
            ProcessControl.sleep(seconds: 0.01)
        }
    }

    // MARK: - Helpers

    static func children(of pid: Int32) throws -> [Int32] {
        let text = (try? String(contentsOfFile: "/proc/\(pid)/task/\(pid)/children", encoding: .utf8)) ?? ""
        return text.split(separator: " ").compactMap { Int32($0) }
    }

    static func environment(of pid: Int32) throws -> [String: String] {
        let data = try Data(contentsOf: URL(fileURLWithPath: "/proc/\(pid)/environ"))
        var result: [String: String] = [:]
        for entry in data.split(separator: 0) {
            let text = String(decoding: entry, as: UTF8.self)
            if let equals = text.firstIndex(of: "=") { result[String(text[..<equals])] = String(text[text.index(after: equals)...]) }
        }
        return result
    }
}

/// A supervised Python program and its home; the program writes what it sees to a log.
struct Fixture {
    let harness: Harness
    let port: Int
    var home: String { harness.root.appendingPathComponent("supervised").path }
    var logPath: String { harness.root.appendingPathComponent("program.log").path }

    init(harness: Harness) throws {
        self.harness = harness
        port = try ExampleServerTests.freePort()
    }

    /// A program tagged `tag` (its answer, and its content: each tag is another version).
    /// Modes: ready, never-ready, crash (exit 3 at once), crash-once (exit 3 after READY=1 the
    /// first time), ignore-term.
    func program(_ tag: String, mode: String = "ready") throws -> String {
        let path = harness.root.appendingPathComponent("program-\(tag)").path
        let text = """
            #!/usr/bin/env python3
            import os, signal, socket, sys
            TAG, MODE = "\(tag)", "\(mode)"
            LOG = "\(logPath)"
            def say(*words):
                with open(LOG, "a") as log:
                    log.write(" ".join(str(word) for word in words) + "\\n")
            say("start", TAG, os.getpid(), os.environ.get("LISTEN_FDS"), os.environ.get("LISTEN_PID") == str(os.getpid()), os.environ.get("LISTEN_FDNAMES"))
            if MODE == "crash":
                sys.exit(3)
            if MODE == "exit42":
                sys.exit(42)
            if MODE == "daemon":
                # A child that leaves the session and forks again: a daemon nobody waits for,
                # serving the listener.
                if os.fork() == 0:
                    os.setsid()
                    if os.fork() == 0:
                        say("daemon", TAG, os.getpid())
                        daemon_listener = socket.socket(fileno=3)
                        while True:
                            connection, _ = daemon_listener.accept()
                            connection.sendall(b"HTTP/1.1 200 OK\\r\\nContent-Length: 6\\r\\nConnection: close\\r\\n\\r\\ndaemon")
                            connection.close()
                    os._exit(0)
            def term(number, frame):
                say("term", TAG)
                os._exit(7)
            signal.signal(signal.SIGTERM, signal.SIG_IGN if MODE == "ignore-term" else term)
            signal.signal(signal.SIGHUP, lambda number, frame: say("hup", TAG))
            signal.signal(signal.SIGUSR1, lambda number, frame: os._exit(42))
            signal.signal(signal.SIGUSR2, lambda number, frame: os._exit(0))
            listener = socket.socket(fileno=3)
            if MODE != "never-ready":
                address = os.environ["NOTIFY_SOCKET"]
                notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
                notify.sendto(b"READY=1", "\\0" + address[1:] if address.startswith("@") else address)
                say("ready", TAG, os.getpid())
            if MODE == "ready-exit42":
                sys.exit(42)
            marker = LOG + ".crashed"
            if MODE == "crash-once" and not os.path.exists(marker):
                open(marker, "w").close()
                sys.exit(3)
            while True:
                connection, _ = listener.accept()
                connection.recv(4096)
                connection.sendall(b"HTTP/1.1 200 OK\\r\\nContent-Length: %d\\r\\nConnection: close\\r\\n\\r\\n%s" % (len(TAG), TAG.encode()))
                connection.close()
            """
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: path)
        return path
    }

    /// Starts the supervisor on version `tag` of the program and waits until it is ready.
    func startReady(_ tag: String) throws -> RunningServer {
        let supervisor = try start(program(tag))
        do {
            try waitForLog { $0.contains { $0.hasPrefix("ready \(tag)") } }
        } catch {
            supervisor.stop()
            throw error
        }
        return supervisor
    }

    /// Stages version `tag` for the program's next start (`supervise upgrade --next-start`).
    @discardableResult
    func stageForNextStart(_ tag: String, mode: String = "ready") throws -> Harness.Result {
        try harness.spawnTool(Harness.binary, ["supervise", "upgrade", "--home", home, "--from-binary", try program(tag, mode: mode), "--next-start"])
    }

    func start(_ program: String, extra: [String] = [], environment: [String: String] = [:]) throws -> RunningServer {
        try RunningServer(harness: harness, executable: Harness.binary,
                          arguments: ["supervise", "--home", home, "--listen", "127.0.0.1:\(port)"] + extra + ["--", program],
                          environment: environment)
    }

    func log() throws -> [String] {
        ((try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
    }

    /// Waits (up to 30 s) until the program's log satisfies `condition`.
    func waitForLog(_ condition: ([String]) -> Bool) throws {
        let start = MonotonicClock.now()
        while !condition(try log()) {
            guard MonotonicClock.seconds(since: start) < 30 else { throw HTTPClient.Failure(description: "log: condition not met within 30 s: \(try log())") }
            ProcessControl.sleep(seconds: 0.01)
        }
    }

    /// The tag of the program running as `pid`, from its start line.
    func tag(of pid: Int32) throws -> String? {
        try log().first { $0.hasPrefix("start ") && $0.split(separator: " ")[2] == "\(pid)" }.map { String($0.split(separator: " ")[1]) }
    }

    func signalProgram(_ supervisor: RunningServer, tag: String, _ signal: Int32) throws {
        let pid = try #require(try SuperviseTests.children(of: supervisor.pid).first { try self.tag(of: $0) == tag })
        kill(pid, signal)
    }

    /// The body of `GET /` on a new connection.
    func get() throws -> String {
        let socket = try Socket.connect(host: "127.0.0.1", port: port, timeout: 10)
        defer { socket.close() }
        try Array("GET / HTTP/1.1\r\nHost: x\r\n\r\n".utf8).withUnsafeBytes { try socket.sendAll($0, timeout: 10) }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = try buffer.withUnsafeMutableBytes { try socket.receive(into: $0, timeout: 10) }
            if count == 0 { break }
            bytes += buffer[..<count]
        }
        return String(String(decoding: bytes, as: UTF8.self).split(separator: "\r\n\r\n").last ?? "")
    }

    func current() throws -> String {
        String(try FileManager.default.destinationOfSymbolicLink(atPath: home + "/current").dropFirst("versions/".count))
    }

    /// current, the stored versions and staging: what a failed upgrade must leave as it was.
    func snapshot() throws -> [String] {
        [try current()] + (try FileManager.default.contentsOfDirectory(atPath: home + "/versions").sorted())
            + (try FileManager.default.contentsOfDirectory(atPath: home + "/staging").sorted())
    }
}

/// A datagram socket standing in for systemd's NOTIFY_SOCKET: records every message.
final class NotifyRecorder: @unchecked Sendable {
    let socket: NotifySocket
    var address: String { socket.address }
    private(set) var messages: [[String: String]] = []

    init(harness: Harness) throws {
        socket = try NotifySocket.bind(harness.root.appendingPathComponent("notify.sock").path)
    }

    /// Reads what arrived until `condition` holds of all messages (up to 30 s).
    func waitFor(_ condition: ([[String: String]]) -> Bool) throws {
        let start = MonotonicClock.now()
        while true {
            while let message = socket.receive() { messages.append(message.fields) }
            if condition(messages) { return }
            guard MonotonicClock.seconds(since: start) < 30 else { throw HTTPClient.Failure(description: "notify: condition not met within 30 s: \(messages)") }
            _ = Poller.wait([(socket.descriptor, Poller.readable)], timeout: 0.1)
        }
    }

    func close() { socket.close() }
}

extension RunningServer {
    /// Waits (up to 30 s) for the process to exit. - Returns: its exit status (128 + signal when killed).
    func waitForExit() throws -> Int32 {
        let start = MonotonicClock.now()
        while process.isRunning {
            guard MonotonicClock.seconds(since: start) < 30 else { throw HTTPClient.Failure(description: "still running after 30 s") }
            ProcessControl.sleep(seconds: 0.01)
        }
        return process.terminationReason == .uncaughtSignal ? 128 + process.terminationStatus : process.terminationStatus
    }
}

extension Harness {
    /// A tool started in the background (stdout and stderr to one file), reaped by its pid.
    struct Background {
        let pid: pid_t
        let output: String
        func wait() throws -> Result {
            var status: Int32 = 0
            while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
            let text = (try? String(contentsOfFile: output, encoding: .utf8)) ?? ""
            return Result(status: status & 0x7f == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f), stdout: text, stderr: "", pid: pid)
        }
    }

    func spawnBackground(_ executable: String, _ arguments: [String]) throws -> Background {
        let output = root.appendingPathComponent("tool-\(UUID().uuidString.prefix(6))").path
        var pid: pid_t = 0
        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        let envp = environment().map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { (argv + envp).forEach { free($0) } }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, output, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        let result = posix_spawn(&pid, executable, &actions, nil, argv, envp)
        try #require(result == 0, "posix_spawn failed: \(result)")
        return Background(pid: pid, output: output)
    }

    /// Runs a tool and waits (stdout and stderr together), reaping it by its pid.
    func spawnTool(_ executable: String, _ arguments: [String]) throws -> Result {
        try spawnBackground(executable, arguments).wait()
    }
}
