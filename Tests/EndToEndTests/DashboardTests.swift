import Foundation
import TestSupport
import Testing

/// A tmux server of a test's own (its socket in the harness's directory), running one pane.
struct TmuxPane {
    static let available = FileManager.default.isExecutableFile(atPath: "/usr/bin/tmux")
        || ProcessInfo.processInfo.environment["PATH"]?.split(separator: ":").contains { FileManager.default.isExecutableFile(atPath: "\($0)/tmux") } == true

    let harness: Harness
    let socket: String

    /// glibc's `posix_spawn_file_actions_addclosefrom_np` (2.34 and later; not in the Swift overlay).
    static let closeFrom: (@convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32)? = {
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "posix_spawn_file_actions_addclosefrom_np") else { return nil }
        return unsafeBitCast(symbol, to: (@convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32).self)
    }()

    /// Starts `autodev dashboard --home H` (the binary under test, the harness's environment) in
    /// a pane of `columns`×`rows`. When the dashboard ends, the pane's shell prints its exit status
    /// and the terminal's mode (`stty -a`), then waits, so both can be read from the pane.
    init(_ harness: Harness, columns: Int = 100, rows: Int = 30, binary: String = Harness.binary,
         environment extra: [String: String] = [:]) throws {
        self.harness = harness
        socket = harness.root.appendingPathComponent("tmux-\(UUID().uuidString.prefix(6))").path
        // The shell ignores SIGINT (the dashboard sets its own handler), so Ctrl-C in the pane ends
        // the dashboard alone and the shell goes on to report.
        let command = "trap '' INT; \(Self.quoted(binary)) dashboard --home \(Self.quoted(harness.home)); echo \"dashboard exited $?\"; stty -a; exec sleep 600"
        let started = try tmux(["new-session", "-d", "-x", "\(columns)", "-y", "\(rows)", command], environment: extra)
        try #require(started.status == 0, "tmux new-session failed: \(started.output)")
    }

    /// Runs tmux with this pane's server and waits for it (with waitpid: the server it starts
    /// keeps every descriptor the client had, so nothing that waits for a descriptor to close
    /// would ever return).
    @discardableResult
    func tmux(_ arguments: [String], environment extra: [String: String] = [:]) throws -> (status: Int32, output: String) {
        let output = harness.root.appendingPathComponent("tmux-output-\(UUID().uuidString.prefix(6))").path
        defer { try? FileManager.default.removeItem(atPath: output) }
        // The server started by the first call keeps this environment for the pane.
        let environment = harness.environment(["TERM": "xterm-256color"].merging(extra) { $1 })
        let argv = (["tmux", "-S", socket] + arguments).map { strdup($0) } + [nil]
        let envp = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { (argv + envp).forEach { free($0) } }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, output, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        // Nothing else of this process: the server would keep it open (the loopback HTTP
        // server's standard input among them, which then never ends).
        if let closeFrom = Self.closeFrom { _ = closeFrom(&actions, 3) }
        var pid: pid_t = 0
        let result = posix_spawnp(&pid, "tmux", &actions, nil, argv, envp)
        try #require(result == 0, "posix_spawnp tmux failed: \(result)")
        var status: Int32 = 0
        while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
        let code = status & 0x7f == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
        return (code, (try? String(contentsOfFile: output, encoding: .utf8)) ?? "")
    }

    /// The pane's text, one string a row (trailing blanks dropped, as tmux prints them).
    func capture() -> [String] {
        let text = (try? tmux(["capture-pane", "-p"]))?.output ?? ""
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        if lines.last == "" { lines.removeLast() }
        return lines
    }

    /// Polls the pane until `condition` holds for its text; the text then, or nil after `seconds`.
    @discardableResult
    func waitFor(seconds: Double = 20, _ condition: ([String]) -> Bool) -> [String]? {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            let lines = capture()
            if condition(lines) { return lines }
            usleep(50_000)
        }
        let lines = capture()
        return condition(lines) ? lines : nil
    }

    /// Waits until some row of the pane contains `text`.
    @discardableResult
    func waitFor(_ text: String, seconds: Double = 20) -> [String]? {
        waitFor(seconds: seconds) { $0.contains { $0.contains(text) } }
    }

    /// Types `keys` (tmux key names: "q", "C-c", "Up"; -l for literal text).
    func send(_ keys: String..., literal: Bool = false) throws {
        try tmux(["send-keys"] + (literal ? ["-l"] : []) + keys)
    }

    func resize(columns: Int, rows: Int) throws {
        try tmux(["resize-window", "-x", "\(columns)", "-y", "\(rows)"])
    }

    /// The dashboard's pid: the child of the pane's shell.
    func dashboardPID() -> Int32? {
        guard let shell = try? tmux(["display-message", "-p", "#{pane_pid}"]).output.trimmingCharacters(in: .whitespacesAndNewlines),
              let children = try? String(contentsOfFile: "/proc/\(shell)/task/\(shell)/children", encoding: .utf8) else { return nil }
        return children.split(separator: " ").first.flatMap { Int32($0) }
    }

    /// Waits until the pane's shell has said how the dashboard ended (`status`) and printed the
    /// terminal's mode after it.
    func waitForExit(_ status: String, seconds: Double = 20) -> [String]? {
        waitFor(seconds: seconds) { lines in
            lines.contains("dashboard exited \(status)") && lines.contains { $0.contains("icanon") } && lines.contains { $0.contains("echo") }
        }
    }

    /// The terminal's mode as `stty -a` printed it after the dashboard ended: echo and canonical
    /// input back on.
    static func modeRestored(_ lines: [String]) -> Bool {
        let words = lines.joined(separator: " ").split(separator: " ").map(String.init)
        return words.contains("icanon") && words.contains("echo") && !words.contains("-icanon") && !words.contains("-echo")
    }

    /// Ends the server and what runs in it; SIGKILL when it is still there a moment later (a
    /// server started from a process that blocks signals may not honour kill-server).
    func stop() {
        let server = (try? tmux(["display-message", "-p", "#{pid}"]))?.output.trimmingCharacters(in: .whitespacesAndNewlines)
        let shell = (try? tmux(["display-message", "-p", "#{pane_pid}"]))?.output.trimmingCharacters(in: .whitespacesAndNewlines)
        let dashboard = dashboardPID()
        _ = try? tmux(["kill-server"])
        for pid in [dashboard, shell.flatMap { Int32($0) }, server.flatMap { Int32($0) }].compactMap({ $0 }) where pid > 1 {
            if !Processes.waitUntilEnded(pid, seconds: 1) { kill(pid, SIGKILL) }
        }
    }

    static func quoted(_ text: String) -> String { "'" + text.replacingOccurrences(of: "'", with: "'\\''") + "'" }
}

@Suite("autodev dashboard, driven in tmux", .enabled(if: TmuxPane.available, "needs tmux (scripts/test installs it)"),
       .serialized)
struct DashboardTests {
    /// A release 0.2.0 (the binary under test, stamped) published on a loopback HTTP server the
    /// home follows; with `faults`, the server misbehaves as ``StaticServer`` says.
    func channel(_ harness: Harness, faults: String? = nil) throws -> StaticServer {
        _ = try harness.initialize()
        let directory = harness.root.path
        let tool = { (arguments: [String]) in try harness.run(arguments, executable: Harness.binary, directory: directory) }
        #expect(try tool(["release", "init", "--repo", "repo"]).status == 0)
        let candidate = try harness.candidate(version: "0.2.0")
        #expect(try tool(["release", "add", "--repo", "repo", "--version", "0.2.0", "--platform", "linux-x86_64", "--critical", candidate]).status == 0)
        #expect(try tool(["release", "publish", "--repo", "repo"]).status == 0)
        let server = try StaticServer(serving: try harness.publicView(of: directory + "/repo"), faults: faults)
        let configured = try tool(["update", "configure", "--channel", server.url, "--trusted-root", "repo/metadata/1.root.json", "--home", harness.home])
        #expect(configured.status == 0, "\(configured.stderr)")
        return server
    }

    @Test("not a terminal: refused like a usage error (64), nothing drawn")
    func refusesWithoutTerminal() throws {
        let harness = try Harness()
        defer { harness.cleanUp() }
        _ = try harness.initialize()
        let piped = try harness.run(["dashboard", "--home", harness.home], executable: Harness.binary)
        #expect(piped.status == 64)
        #expect(piped.stdout == "")
        #expect(piped.stderr.hasPrefix("Error: The dashboard needs a terminal, and standard input is not one"), "\(piped.stderr)")
        #expect(piped.stderr.contains("See 'autodev dashboard --help' for more information."))
        let help = try harness.run(["dashboard", "--help"], executable: Harness.binary)
        #expect(help.status == 0 && help.stdout.hasPrefix("OVERVIEW: A live full-screen view of the installation"))
    }

    @Test("shows the installation; c finds the update on a loopback channel, h pages the history, u upgrades and continues in the new version, r+y rolls back, q restores the terminal")
    func checkUpgradeRollBack() throws {
        let harness = try Harness()
        defer { harness.cleanUp() }
        let server = try channel(harness)
        defer { server.stop() }
        let old = try harness.current()
        let pane = try TmuxPane(harness)
        defer { pane.stop() }

        let first = try #require(pane.waitFor("Current:   0.1.0 (\(old.prefix(12)))"), "\(pane.capture())")
        let dashboard = try #require(pane.dashboardPID())
        #expect(first.contains { $0.hasPrefix("Current:   0.1.0 (\(old.prefix(12))), current since ") && $0.contains("ago, by its adopt)") })
        #expect(first.contains("Previous:  none"))
        #expect(first.contains("Channel:   \(server.url)"))
        #expect(first.contains("  never checked; next check: none scheduled here (c checks now)"))
        #expect(first.last == "u upgrade  r roll back  c check now  h history  q quit")
        // No modules and no supervisor in this home: nothing is said of them.
        #expect(!first.contains { $0.hasPrefix("Modules") || $0.hasPrefix("Supervised") })

        try pane.send("c")
        let checked = try #require(pane.waitFor("Update:  update available: 0.2.0 (critical); u installs it"), "\(pane.capture())")
        #expect(checked.contains { $0.hasPrefix("  last check ") })
        #expect(checked.contains { $0.hasPrefix("Checked: update available: 0.2.0 (critical)") })
        try README.record(checked)

        try pane.send("h")
        #expect(pane.waitFor("History (rows 1-1 of 1):") != nil, "\(pane.capture())")
        try pane.send("x")
        #expect(pane.waitFor("Last transactions (1 of 1):") != nil, "\(pane.capture())")

        try pane.send("u")
        let upgraded = pane.waitFor(seconds: 60) { $0.contains { $0.hasPrefix("Current:   0.2.0 (") } }
        try #require(upgraded != nil, "\(pane.capture())")
        let new = try harness.current()
        #expect(new != old)
        #expect(upgraded!.contains { $0.hasPrefix("Current:   0.2.0 (\(new.prefix(12))), current since ") && $0.contains("by its upgrade)") })
        #expect(upgraded!.contains("Previous:  0.1.0 (\(old.prefix(12)))"))
        // The same process, exec'd into the new version.
        #expect(pane.dashboardPID() == dashboard)
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(dashboard)/exe").hasSuffix("/versions/\(new)/autodev"))

        try pane.send("r")
        #expect(pane.waitFor("Roll back to 0.1.0 (\(old.prefix(12)))? y/n") != nil, "\(pane.capture())")
        try pane.send("y")
        #expect(pane.waitFor(seconds: 60) { $0.contains { $0.hasPrefix("Current:   0.1.0 (\(old.prefix(12))), current since ") && $0.contains("by its rollback)") } } != nil,
                "\(pane.capture())")
        #expect(try harness.current() == old)
        try pane.send("h")
        #expect(pane.waitFor("History (rows 1-3 of 3):") != nil, "\(pane.capture())")
        try pane.send("q")
        #expect(pane.waitFor("Last transactions (3 of 3):") != nil, "\(pane.capture())")

        try pane.send("q")
        let ended = try #require(pane.waitForExit("0"), "\(pane.capture())")
        #expect(TmuxPane.modeRestored(ended), "\(ended)")
    }

    @Test("a resize redraws at the new size: no line longer than the width, the keys on the last row; 10x3 and rapid resizes too")
    func followsResizes() throws {
        let harness = try Harness()
        defer { harness.cleanUp() }
        _ = try harness.initialize()
        let pane = try TmuxPane(harness)
        defer { pane.stop() }
        #expect(pane.waitFor("Current:   0.1.0") != nil, "\(pane.capture())")

        try pane.resize(columns: 60, rows: 20)
        let narrow = pane.waitFor { $0.count == 20 && $0.last == "u upgrade  r roll back  c check now  h history  q quit" }
        try #require(narrow != nil, "\(pane.capture())")
        #expect(narrow!.allSatisfy { $0.count <= 60 }, "\(narrow!)")
        // The title names the home, longer than 60 columns: cut, not wrapped onto a second row.
        #expect(narrow!.first!.hasPrefix("autodev dashboard  ") && narrow![1].hasPrefix("Current:"), "\(narrow!)")

        try pane.resize(columns: 10, rows: 3)
        let tiny = pane.waitFor { $0.count == 3 && $0.last == "u upgrade" }
        #expect(tiny != nil && tiny!.allSatisfy { $0.count <= 10 }, "\(pane.capture())")

        for step in 0..<30 { try pane.resize(columns: 20 + step * 3, rows: 5 + step % 20) }
        try pane.resize(columns: 70, rows: 25)
        let settled = pane.waitFor { $0.count == 25 && $0.last == "u upgrade  r roll back  c check now  h history  q quit" && $0[1].hasPrefix("Current:") }
        #expect(settled != nil && settled!.allSatisfy { $0.count <= 70 }, "\(pane.capture())")

        try pane.send("q")
        let ended = try #require(pane.waitForExit("0"), "\(pane.capture())")
        #expect(TmuxPane.modeRestored(ended), "\(ended)")
    }

    @Test("SIGTERM, SIGINT (Ctrl-C) and SIGHUP restore the terminal: exits 143, 130 and by the signal")
    func signalsRestoreTheTerminal() throws {
        let harness = try Harness()
        defer { harness.cleanUp() }
        _ = try harness.initialize()
        for (signal, status) in [(SIGTERM, "143"), (SIGINT, "130"), (SIGHUP, "129")] {
            let pane = try TmuxPane(harness)
            defer { pane.stop() }
            #expect(pane.waitFor("Current:   0.1.0") != nil, "\(pane.capture())")
            if signal == SIGINT {
                try pane.send("C-c")
            } else {
                kill(try #require(pane.dashboardPID()), signal)
            }
            let ended = try #require(pane.waitForExit("\(status)"), "signal \(signal): \(pane.capture())")
            #expect(TmuxPane.modeRestored(ended), "signal \(signal): \(ended)")
        }
    }

    @Test("text from the journal reaches the screen escaped: a source path with escape sequences cannot clear the screen or colour it")
    func hostileTextIsEscaped() throws {
        let harness = try Harness()
        defer { harness.cleanUp() }
        _ = try harness.initialize()
        let candidate = try harness.candidate("evil\u{1B}[2J\u{1B}]0;pwned\u{07}\u{1B}[31mRED")
        let upgraded = try harness.run(["self-upgrade", "--from-binary", candidate, "--yes"])
        #expect(upgraded.status == 0, "\(upgraded.stderr)")
        let pane = try TmuxPane(harness, columns: 200)
        defer { pane.stop() }
        let lines = try #require(pane.waitFor("evil\\u{1B}[2J\\u{1B}]0;pwned\\u{7}\\u{1B}[31mRED"), "\(pane.capture())")
        // The screen was not cleared after the row: the keys are still on the last row.
        #expect(lines.last == "u upgrade  r roll back  c check now  h history  q quit")
        let title = try pane.tmux(["display-message", "-p", "#{pane_title}"]).output
        #expect(!title.contains("pwned"))
        try pane.send("q")
        #expect(pane.waitForExit("0") != nil)
    }

    @Test("keys held down: a burst of unknown keys with q at its end quits; a burst of c starts one check and says it is busy")
    func keysHeldDown() throws {
        let harness = try Harness()
        defer { harness.cleanUp() }
        let faults = harness.root.appendingPathComponent("faults").path
        let server = try channel(harness, faults: faults)
        defer { server.stop() }
        // Every request hangs: the check stays running while the keys arrive.
        try Data(#"{"mode": "stall-head", "metadata": true}"#.utf8).write(to: URL(fileURLWithPath: faults))
        let pane = try TmuxPane(harness)
        defer { pane.stop() }
        #expect(pane.waitFor("Current:   0.1.0") != nil, "\(pane.capture())")
        try pane.send(String(repeating: "c", count: 40), literal: true)
        #expect(pane.waitFor("Busy: check is running (q stops it and quits).") != nil, "\(pane.capture())")
        #expect(Processes.commandLineContaining("update check --home \(harness.home)").count == 1)
        try pane.send(String(repeating: "x", count: 100) + "q", literal: true)
        let ended = try #require(pane.waitForExit("0"), "\(pane.capture())")
        #expect(TmuxPane.modeRestored(ended))
        #expect(Processes.waitUntilGone(commandLineContaining: "update check --home \(harness.home)").isEmpty)
    }

    @Test("a channel that hangs: the view stays live during c and u (the download's progress shown), SIGKILL of the action is shown, q stops it and quits")
    func hangingChannel() throws {
        let harness = try Harness()
        defer { harness.cleanUp() }
        let faults = harness.root.appendingPathComponent("faults").path
        let server = try channel(harness, faults: faults)
        defer { server.stop() }
        let old = try harness.current()
        let pane = try TmuxPane(harness)
        defer { pane.stop() }
        #expect(pane.waitFor("Current:   0.1.0") != nil, "\(pane.capture())")

        // The metadata hangs: the check runs on while the clock in the title moves on.
        try Data(#"{"mode": "stall-head", "metadata": true}"#.utf8).write(to: URL(fileURLWithPath: faults))
        try pane.send("c")
        let running = try #require(pane.waitFor("Running: check"), "\(pane.capture())")
        #expect(pane.waitFor { $0.first != running.first && $0.contains { $0.contains("Running: check") } } != nil, "the view did not refresh")
        // Killed from outside: the dashboard says so and goes on.
        let child = try #require(Processes.commandLineContaining("update check --home \(harness.home)").first)
        kill(child, SIGKILL)
        #expect(pane.waitFor("Check failed (it was killed by signal 9 (Killed))") != nil, "\(pane.capture())")

        // Metadata answers, the artifact drips a byte every 0.2 s: the download shows its progress.
        try Data(#"{"mode": "drip"}"#.utf8).write(to: URL(fileURLWithPath: faults))
        try pane.send("u")
        #expect(pane.waitFor(seconds: 30) { $0.contains { $0.hasPrefix("  Downloading: ") && $0.contains(" of ") } } != nil, "\(pane.capture())")
        try pane.send("q")
        let ended = try #require(pane.waitForExit("0"), "\(pane.capture())")
        #expect(TmuxPane.modeRestored(ended))
        #expect(Processes.waitUntilGone(commandLineContaining: "update apply --yes --json --home \(harness.home)").isEmpty)
        #expect(try harness.current() == old)
    }
}

/// The README's "Dashboard" section shows a screen these tests captured: written to
/// `.build/dashboard-screen.txt` (under the package) for copying into it.
enum README {
    static func record(_ lines: [String]) throws {
        let package = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let text = lines.reversed().drop { $0.isEmpty }.reversed().joined(separator: "\n") + "\n"
        try? Data(text.utf8).write(to: package.appendingPathComponent(".build/dashboard-screen.txt"))
    }
}
