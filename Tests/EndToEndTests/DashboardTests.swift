import Foundation
import TestSupport
import Testing

@Suite("autodev dashboard, driven in tmux", .enabled(if: TerminalSession.available, "needs tmux (scripts/test installs it)"),
       .serialized)
struct DashboardTests {
    /// `autodev dashboard --home H` (the binary under test) in a `columns`×`rows` terminal.
    func dashboard(_ harness: Harness, columns: Int = 100, rows: Int = 30) throws -> TerminalSession {
        try TerminalSession([Harness.binary, "dashboard", "--home", harness.home], environment: harness.environment(["TERM": "xterm-256color"]),
                            directory: harness.root.path, columns: columns, rows: rows)
    }

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
        let pane = try dashboard(harness)
        defer { pane.stop() }

        let first = try #require(pane.waitForRow(containing: "Current:   0.1.0 (\(old.prefix(12)))"), "\(pane.rows())")
        let dashboard = try #require(pane.programPID())
        #expect(first.contains { $0.hasPrefix("Current:   0.1.0 (\(old.prefix(12))), current since ") && $0.contains("ago, by its adopt)") })
        #expect(first.contains("Previous:  none"))
        #expect(first.contains("Channel:   \(server.url)"))
        #expect(first.contains("  never checked; next check: none scheduled here (c checks now)"))
        #expect(first.last == "u upgrade  r roll back  c check now  h history  q quit")
        // No modules and no supervisor in this home: nothing is said of them.
        #expect(!first.contains { $0.hasPrefix("Modules") || $0.hasPrefix("Supervised") })

        try pane.send("c")
        let checked = try #require(pane.waitForRow(containing: "Update:  update available: 0.2.0 (critical); u installs it"), "\(pane.rows())")
        #expect(checked.contains { $0.hasPrefix("  last check ") })
        #expect(checked.contains { $0.hasPrefix("Checked: update available: 0.2.0 (critical)") })
        try README.record(checked)

        try pane.send("h")
        #expect(pane.waitForRow(containing: "History (rows 1-1 of 1):") != nil, "\(pane.rows())")
        try pane.send("x")
        #expect(pane.waitForRow(containing: "Last transactions (1 of 1):") != nil, "\(pane.rows())")

        try pane.send("u")
        let upgraded = pane.waitForRows(seconds: 60) { $0.contains { $0.hasPrefix("Current:   0.2.0 (") } }
        try #require(upgraded != nil, "\(pane.rows())")
        let new = try harness.current()
        #expect(new != old)
        #expect(upgraded!.contains { $0.hasPrefix("Current:   0.2.0 (\(new.prefix(12))), current since ") && $0.contains("by its upgrade)") })
        #expect(upgraded!.contains("Previous:  0.1.0 (\(old.prefix(12)))"))
        // The same process, exec'd into the new version.
        #expect(pane.programPID() == dashboard)
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(dashboard)/exe").hasSuffix("/versions/\(new)/autodev"))

        try pane.send("r")
        #expect(pane.waitForRow(containing: "Roll back to 0.1.0 (\(old.prefix(12)))? y/n") != nil, "\(pane.rows())")
        try pane.send("y")
        #expect(pane.waitForRows(seconds: 60) { $0.contains { $0.hasPrefix("Current:   0.1.0 (\(old.prefix(12))), current since ") && $0.contains("by its rollback)") } } != nil,
                "\(pane.rows())")
        #expect(try harness.current() == old)
        try pane.send("h")
        #expect(pane.waitForRow(containing: "History (rows 1-3 of 3):") != nil, "\(pane.rows())")
        try pane.send("q")
        #expect(pane.waitForRow(containing: "Last transactions (3 of 3):") != nil, "\(pane.rows())")

        try pane.send("q")
        #expect(try pane.exitStatus() == 0, "\(pane.rows())")
        #expect(try pane.modeRestored(), "\(pane.rows())")
    }

    @Test("a resize redraws at the new size: no line longer than the width, the keys on the last row; 10x3 and rapid resizes too")
    func followsResizes() throws {
        let harness = try Harness()
        defer { harness.cleanUp() }
        _ = try harness.initialize()
        let pane = try dashboard(harness)
        defer { pane.stop() }
        #expect(pane.waitForRow(containing: "Current:   0.1.0") != nil, "\(pane.rows())")

        try pane.resize(columns: 60, rows: 20)
        // A whole frame: the screen is cleared after a resize, then written row by row.
        let narrow = pane.waitForRows { $0.count == 20 && $0.first?.hasPrefix("autodev dashboard  ") == true && $0.last == "u upgrade  r roll back  c check now  h history  q quit" }
        try #require(narrow != nil, "\(pane.rows())")
        #expect(narrow!.allSatisfy { $0.count <= 60 }, "\(narrow!)")
        // The title names the home, longer than 60 columns: cut, not wrapped onto a second row.
        #expect(narrow![1].hasPrefix("Current:"), "\(narrow!)")

        try pane.resize(columns: 10, rows: 3)
        let tiny = pane.waitForRows { $0.count == 3 && $0.last == "u upgrade" }
        #expect(tiny != nil && tiny!.allSatisfy { $0.count <= 10 }, "\(pane.rows())")

        for step in 0..<30 { try pane.resize(columns: 20 + step * 3, rows: 5 + step % 20) }
        try pane.resize(columns: 70, rows: 25)
        let settled = pane.waitForRows { $0.count == 25 && $0.last == "u upgrade  r roll back  c check now  h history  q quit" && $0[1].hasPrefix("Current:") }
        #expect(settled != nil && settled!.allSatisfy { $0.count <= 70 }, "\(pane.rows())")

        try pane.send("q")
        #expect(try pane.exitStatus() == 0, "\(pane.rows())")
        #expect(try pane.modeRestored(), "\(pane.rows())")
    }

    @Test("SIGTERM, SIGINT (Ctrl-C) and SIGHUP restore the terminal: exits 143, 130 and by the signal")
    func signalsRestoreTheTerminal() throws {
        let harness = try Harness()
        defer { harness.cleanUp() }
        _ = try harness.initialize()
        for (signal, status) in [(SIGTERM, 143), (SIGINT, 130), (SIGHUP, 129)] {
            let pane = try dashboard(harness)
            defer { pane.stop() }
            #expect(pane.waitForRow(containing: "Current:   0.1.0") != nil, "\(pane.rows())")
            if signal == SIGINT {
                try pane.send("C-c")
            } else {
                kill(try #require(pane.programPID()), signal)
            }
            #expect(try pane.exitStatus() == status, "signal \(signal): \(pane.rows())")
            #expect(try pane.modeRestored(), "signal \(signal): \(pane.rows())")
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
        let pane = try dashboard(harness, columns: 200)
        defer { pane.stop() }
        let lines = try #require(pane.waitForRow(containing: "evil\\u{1B}[2J\\u{1B}]0;pwned\\u{7}\\u{1B}[31mRED"), "\(pane.rows())")
        // The screen was not cleared after the row: the keys are still on the last row.
        #expect(lines.last == "u upgrade  r roll back  c check now  h history  q quit")
        let title = try pane.title()
        #expect(!title.contains("pwned"))
        try pane.send("q")
        #expect(try pane.exitStatus() == 0)
    }

    @Test("a last check later than this machine's clock reads 'in the future', never 'in the future … ago'")
    func checkInTheFuture() throws {
        let harness = try Harness()
        defer { harness.cleanUp() }
        let server = try channel(harness)
        defer { server.stop() }
        let future = Int(Date().timeIntervalSince1970) + 3 * 86_400
        try Data("\(future)\n".utf8).write(to: URL(fileURLWithPath: harness.home + "/channel/checked"))
        let pane = try dashboard(harness)
        defer { pane.stop() }
        let rows = try #require(pane.waitForRow(containing: "last check "), "\(pane.rows())")
        let line = try #require(rows.first { $0.contains("last check ") })
        #expect(line.contains("(in the future (the clock moved back?))") && !line.contains("ago"), "\(line)")
        try pane.send("q")
        #expect(try pane.exitStatus() == 0)
    }

    @Test("Ctrl-Z gives the shell its terminal back as it was and stops the dashboard; when continued it takes the screen again and redraws")
    func suspendAndContinue() throws {
        let harness = try Harness()
        defer { harness.cleanUp() }
        _ = try harness.initialize()
        // Under a shell with job control, as a person runs it: Ctrl-Z stops the job, Enter then
        // brings it back with 'fg'.
        let pane = try TerminalSession([harness.entry, "dashboard"], environment: harness.environment(), directory: harness.root.path,
                                       jobControl: true)
        defer { pane.stop() }
        #expect(pane.waitForRow(containing: "Current:   0.1.0") != nil, "\(pane.rows())")
        let program = try #require(pane.programPID())
        #expect(try pane.format("alternate_on") == "1")
        #expect(try pane.lineMode() == "-icanon -echo")
        let state = { () -> Character? in
            (try? String(contentsOfFile: "/proc/\(program)/stat", encoding: .utf8)).flatMap { $0.split(separator: ")").last?.dropFirst().first }
        }
        try pane.send("C-z")
        #expect(harness.waitUntil(seconds: 10) { state() == "T" }, "the dashboard did not stop: \(String(describing: state()))")
        #expect(try pane.format("alternate_on") == "0", "the screen the shell had is back")
        #expect(try pane.lineMode() == "icanon echo")
        #expect(pane.waitForRow(containing: "[stopped]") != nil, "\(pane.rows())")
        try pane.send("Enter")
        #expect(harness.waitUntil(seconds: 10) { (try? pane.format("alternate_on")) == "1" })
        let redrawn = pane.waitForRows { $0.contains { $0.hasPrefix("Current:   0.1.0") } && $0.last == "u upgrade  r roll back  c check now  h history  q quit" }
        #expect(redrawn != nil, "\(pane.rows())")
        #expect(try pane.lineMode() == "-icanon -echo")
        try pane.send("q")
        #expect(try pane.exitStatus() == 0)
        #expect(try pane.modeRestored())
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
        let pane = try dashboard(harness)
        defer { pane.stop() }
        #expect(pane.waitForRow(containing: "Current:   0.1.0") != nil, "\(pane.rows())")
        try pane.type(String(repeating: "c", count: 40))
        #expect(pane.waitForRow(containing: "Busy: check is running (q stops it and quits).") != nil, "\(pane.rows())")
        #expect(Processes.commandLineContaining("update check --home \(harness.home)").count == 1)
        try pane.type(String(repeating: "x", count: 100) + "q")
        #expect(try pane.exitStatus() == 0, "\(pane.rows())")
        #expect(try pane.modeRestored())
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
        let pane = try dashboard(harness)
        defer { pane.stop() }
        #expect(pane.waitForRow(containing: "Current:   0.1.0") != nil, "\(pane.rows())")

        // The metadata hangs: the check runs on while the clock in the title moves on.
        try Data(#"{"mode": "stall-head", "metadata": true}"#.utf8).write(to: URL(fileURLWithPath: faults))
        try pane.send("c")
        let running = try #require(pane.waitForRow(containing: "Running: check"), "\(pane.rows())")
        #expect(pane.waitForRows { $0.first != running.first && $0.contains { $0.contains("Running: check") } } != nil, "the view did not refresh")
        // Killed from outside: the dashboard says so and goes on.
        let child = try #require(Processes.commandLineContaining("update check --home \(harness.home)").first)
        kill(child, SIGKILL)
        #expect(pane.waitForRow(containing: "Check failed (it was killed by signal 9 (Killed))") != nil, "\(pane.rows())")

        // Metadata answers, the artifact drips a byte every 0.2 s: the download shows its progress.
        try Data(#"{"mode": "drip"}"#.utf8).write(to: URL(fileURLWithPath: faults))
        try pane.send("u")
        #expect(pane.waitForRows(seconds: 30) { $0.contains { $0.hasPrefix("  Downloading: ") && $0.contains(" of ") } } != nil, "\(pane.rows())")
        try pane.send("q")
        #expect(try pane.exitStatus() == 0, "\(pane.rows())")
        #expect(try pane.modeRestored())
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
