import Foundation
import TestSupport
import Testing

/// `autodev update` as a person meets it: in a real pseudo-terminal (tmux), against a channel on
/// loopback, with the notification command and the update settings of config.json.
@Suite("the update prompt, update settings and notifications, with the real binary", .serialized)
struct UpdatePromptTests {
    func published(_ harness: Harness, critical: Bool = false, notes: String? = nil) throws {
        _ = try harness.initialize()
        let directory = harness.root.path
        let tool = { (arguments: [String]) in try harness.run(arguments, executable: Harness.binary, directory: directory) }
        #expect(try tool(["release", "init", "--repo", "repo"]).status == 0)
        let candidate = try harness.candidate(version: "0.2.0")
        var add = ["release", "add", "--repo", "repo", "--version", "0.2.0", "--platform", "linux-x86_64", candidate]
        if critical { add.append("--critical") }
        if let notes {
            try notes.write(toFile: directory + "/notes", atomically: true, encoding: .utf8)
            add += ["--notes", "notes"]
        }
        #expect(try tool(add).status == 0)
        #expect(try tool(["release", "publish", "--repo", "repo"]).status == 0)
    }

    func configure(_ harness: Harness, url: String) throws {
        let configured = try harness.run(["update", "configure", "--channel", url, "--trusted-root", harness.root.path + "/repo/metadata/1.root.json"])
        #expect(configured.status == 0, "\(configured.stderr)")
    }

    func session(_ harness: Harness, _ arguments: [String], columns: Int = 100) throws -> TerminalSession {
        try TerminalSession([harness.entry] + arguments, environment: harness.environment(), directory: harness.root.path, columns: columns)
    }

    @Test("the view shows version, age, size and escaped, wrapped notes; 'later' installs nothing; 'skip' is remembered until a newer version")
    func laterAndSkip() throws {
        guard TerminalSession.available else { Issue.record("tmux is not installed (scripts/test installs it)"); return }
        let harness = try Harness()
        defer { harness.cleanUp() }
        let hostile = "Faster checks.\u{1B}]0;owned\u{07} A long line of release notes that goes on and on past the width of a narrow terminal so it must wrap.\n"
            + "日本語のリリースノートはとても長いのでこの行は端末の幅を超えて折り返されなければならない 更新"
        try published(harness, notes: hostile)
        try configure(harness, url: "file://\(harness.root.path)/repo")
        let old = try harness.current()

        let later = try session(harness, ["update"], columns: 60)
        let view = try later.waitFor("[s]kip this version")
        #expect(view.found, "\(view.screen)")
        #expect(view.screen.contains("autodev 0.2.0 is available (you have 0.1.0)"), "\(view.screen)")
        #expect(view.screen.contains("Released ") && view.screen.contains("just now"), "\(view.screen)")
        #expect(view.screen.contains("What's new:"))
        // The escape sequence in the notes arrives as text, never as a title change.
        #expect(view.screen.contains("\\u{1B}]0;owned") || view.screen.contains("\\e]0;owned") || view.screen.contains("\\x1b]0;owned"), "\(view.screen)")
        #expect(view.screen.split(separator: "\n").allSatisfy { $0.count <= 60 }, "\(view.screen)")
        // Wide characters take two columns: the box's right edge stays where its top ends.
        let columns = { (line: Substring) in line.unicodeScalars.reduce(0) { $0 + ((0x3000...0x9FFF).contains($1.value) ? 2 : 1) } }
        let box = view.screen.split(separator: "\n").map { $0.drop { $0 == " " } }.filter { $0.hasPrefix("┌") || $0.hasPrefix("│") || $0.hasPrefix("└") }
        #expect(box.contains { $0.contains("日本語") }, "\(view.screen)")
        #expect(Set(box.map(columns)).count == 1 && box.allSatisfy { $0.hasSuffix("┐") || $0.hasSuffix("│") || $0.hasSuffix("┘") }, "\(view.screen)")
        try later.send("l")
        #expect(try later.exitStatus() == 0)
        let ended = try later.screen()
        #expect(ended.contains("Not installed; 'autodev update' offers autodev 0.2.0 again"), "\(ended)")
        #expect(ended.contains("[mode icanon echo ]"), "the terminal's line editing and echo are back: \(ended)")
        #expect(try harness.current() == old)

        let skip = try session(harness, ["update"])
        #expect(try skip.waitFor("[s]kip this version").found)
        // Typed ahead as one burst: the unknown keys are passed over and the s decides.
        try skip.type("xzs")
        #expect(try skip.exitStatus() == 0)
        #expect(try skip.screen().contains("Skipped autodev 0.2.0"))
        #expect(try harness.run(["config", "get", "skippedVersions"]).stdout == "[\"0.2.0\"]\n")
        #expect(try harness.current() == old)

        // Not offered again: not by check, not by the prompt, not by a plain apply.
        let check = try harness.run(["update", "check"])
        #expect(check.stdout.contains("0.2.0 is available but skipped (config skippedVersions)"), "\(check.stdout)")
        let json = try harness.json(try harness.run(["update", "check", "--json"]).stdout)
        #expect(json["upToDate"] as? Bool == true && json["skipped"] as? String == "0.2.0")
        #expect(try harness.run(["update", "apply", "--yes"]).stdout.contains("skipped"))
        #expect(try harness.current() == old)

        // A newer version is offered again.
        let newer = try harness.candidate("newer", version: "0.3.0")
        let tool = { (arguments: [String]) in try harness.run(arguments, executable: Harness.binary, directory: harness.root.path) }
        #expect(try tool(["release", "add", "--repo", "repo", "--version", "0.3.0", "--platform", "linux-x86_64", newer]).status == 0)
        #expect(try tool(["release", "publish", "--repo", "repo"]).status == 0)
        #expect(try harness.run(["update", "check"]).stdout.contains("Newest version:   0.3.0"))
    }

    @Test("stopped with Ctrl-Z while it asks and brought back with fg, the prompt asks again; its answer still decides")
    func suspendedPrompt() throws {
        let harness = try Harness()
        defer { harness.cleanUp() }
        try published(harness)
        try configure(harness, url: "file://\(harness.root.path)/repo")
        let prompt = try TerminalSession([harness.entry, "update"], environment: harness.environment(), directory: harness.root.path, jobControl: true)
        #expect(try prompt.waitFor("[s]kip this version").found)
        try prompt.send("C-z")
        #expect(try prompt.waitFor("[stopped]").found)
        #expect(try prompt.lineMode() == "icanon echo")
        try prompt.send("Enter")
        let asked = prompt.waitForRows { rows in rows.filter { $0.contains("Install now? [Y]es, [l]ater, [s]kip this version") }.count >= 2 }
        #expect(asked != nil, "\(prompt.rows())")
        try prompt.send("l")
        #expect(try prompt.exitStatus() == 0)
        #expect(try prompt.screen().contains("Not installed"))
        #expect(try prompt.modeRestored())
    }

    @Test("a critical release cannot be skipped; 'yes' installs it, and the new version says 'Updated from' once")
    func criticalThenNow() throws {
        guard TerminalSession.available else { Issue.record("tmux is not installed (scripts/test installs it)"); return }
        let harness = try Harness()
        defer { harness.cleanUp() }
        try published(harness, critical: true)
        try configure(harness, url: "file://\(harness.root.path)/repo")
        let old = try harness.current()

        let terminal = try session(harness, ["update"])
        #expect(try terminal.waitFor("a critical release cannot be skipped").found)
        try terminal.send("s")
        let refused = try terminal.waitFor("is a critical release: it cannot be skipped")
        #expect(refused.found, "\(refused.screen)")
        try terminal.send("y")
        let status = try terminal.exitStatus()
        #expect(status == 0, "\((try? terminal.screen()) ?? "")")
        let screen = try terminal.screen()
        #expect(screen.contains("✓ Verified autodev/0.2.0/linux-x86_64/candidate"), "\(screen)")
        #expect(screen.contains("✓ Updated from 0.1.0 (\(old.prefix(12))) to 0.2.0"), "\(screen)")
        #expect(screen.components(separatedBy: "Updated from").count == 2, "\(screen)")
        #expect(try harness.current() != old)
    }

    @Test("Esc during the download cancels it, keeps what arrived, installs nothing; the next apply resumes and installs")
    func escapeThenResume() throws {
        guard TerminalSession.available, StaticServer.available else { Issue.record("tmux or python3 is missing"); return }
        let harness = try Harness()
        defer { harness.cleanUp() }
        try published(harness)
        let faults = harness.root.path + "/faults.json"
        try #"{"mode": "slow"}"#.write(toFile: faults, atomically: true, encoding: .utf8)
        let server = try StaticServer(serving: harness.root.path + "/repo", faults: faults)
        defer { server.stop() }
        try configure(harness, url: server.url)
        let old = try harness.current()

        let terminal = try session(harness, ["update"])
        defer { terminal.stop() }
        #expect(try terminal.waitFor("[s]kip this version").found)
        try terminal.send("Enter")
        let downloading = try terminal.waitFor("Esc or Ctrl-C cancels")
        #expect(downloading.found, "\(downloading.screen)")
        let partial = { () -> Int in
            let staging = harness.home + "/channel/staging"
            let names = (try? FileManager.default.contentsOfDirectory(atPath: staging)) ?? []
            return names.filter { $0.hasSuffix(".partial") }.compactMap {
                try? FileManager.default.attributesOfItem(atPath: staging + "/" + $0)[.size] as? Int
            }.max() ?? 0
        }
        #expect(harness.waitUntil(seconds: 30) { partial() > 0 })
        try terminal.send("Escape")
        let status = try terminal.exitStatus()
        #expect(status == 1, "\((try? terminal.screen()) ?? "")")
        let screen = try terminal.screen()
        #expect(screen.contains("Nothing was installed"), "\(screen)")
        #expect(screen.contains("[mode icanon echo ]"), "the terminal's line editing and echo are back: \(screen)")
        let kept = partial()
        #expect(kept > 0)
        #expect(try harness.current() == old)

        try FileManager.default.removeItem(atPath: faults)
        let resumed = try harness.run(["update", "apply", "--yes"])
        #expect(resumed.status == 0, "\(resumed.stderr)")
        #expect(resumed.stdout.hasPrefix("Updated from 0.1.0"), "\(resumed.stdout)")
        let requests = try String(contentsOfFile: faults + ".requests", encoding: .utf8)
        #expect(requests.contains("bytes=\(kept)-") || requests.contains("bytes="), "\(requests)")
        #expect(try harness.current() != old)
    }

    @Test("on a pipe, 'autodev update' asks nothing and prints no escape sequence; --json prints the check report")
    func pipe() throws {
        let harness = try Harness()
        defer { harness.cleanUp() }
        try published(harness)
        try configure(harness, url: "file://\(harness.root.path)/repo")
        let old = try harness.current()
        let plain = try harness.run(["update"])
        #expect(plain.status == 0, "\(plain.stderr)")
        #expect(plain.stdout.contains("Newest version:   0.2.0"), "\(plain.stdout)")
        #expect(!(plain.stdout + plain.stderr).contains("\u{1B}"))
        let json = try harness.json(try harness.run(["update", "--json"]).stdout)
        #expect(json["upToDate"] as? Bool == false)
        #expect(try harness.current() == old)
    }

    @Test("the notification command gets each event's name and JSON; a hanging one is killed at its bound and the update completes")
    func notifications() throws {
        let harness = try Harness()
        defer { harness.cleanUp() }
        try published(harness)
        try configure(harness, url: "file://\(harness.root.path)/repo")
        let record = harness.root.path + "/events"
        let notify = try harness.script("notify", "{ printf '%s ' \"$1\"; cat; } >> '\(record)'")
        #expect(try harness.run(["config", "set", "notifyCommand", notify]).status == 0)
        let relative = try harness.run(["config", "set", "notifyCommand", "notify"])
        #expect(relative.status != 0 && relative.stderr.contains("'notifyCommand' must be an absolute path to an executable"), "\(relative.stderr)")
        let events = { () throws -> [(String, [String: Any])] in
            let text = (try? String(contentsOfFile: record, encoding: .utf8)) ?? ""
            return try text.split(separator: "\n").map { line in
                let name = String(line.prefix(while: { $0 != " " }))
                return (name, try harness.json(String(line.dropFirst(name.count + 1))))
            }
        }

        #expect(try harness.run(["update", "check"]).status == 0)
        #expect(try harness.run(["update", "check"]).status == 0)
        var seen = try events()
        #expect(seen.map(\.0) == ["update-available"], "announced once")
        #expect(seen.first?.1["version"] as? String == "0.2.0" && seen.first?.1["program"] as? String == "autodev")
        #expect(seen.first?.1["currentVersion"] as? String == "0.1.0")

        let applied = try harness.run(["update", "apply", "--yes"])
        #expect(applied.status == 0, "\(applied.stderr)")
        seen = try events()
        #expect(seen.map(\.0) == ["update-available", "applied"])
        #expect(seen.last?.1["version"] as? String == "0.2.0" && seen.last?.1["fromVersion"] as? String == "0.1.0")

        // The key spelled with a JSON escape is the same key: the command still runs.
        let config = harness.home + "/config.json"
        let written = try String(contentsOfFile: config, encoding: .utf8)
        try Data(written.replacingOccurrences(of: "\"notifyCommand\"", with: "\"notify\\u0043ommand\"").utf8).write(to: URL(fileURLWithPath: config))
        #expect(try String(contentsOfFile: config, encoding: .utf8).contains("notify\\u0043ommand"))
        let rolledBack = try harness.run(["self-upgrade", "rollback", "--yes"])
        #expect(rolledBack.status == 0, "\(rolledBack.stderr)")
        seen = try events()
        #expect(seen.map(\.0) == ["update-available", "applied", "rolled-back"])
        #expect(seen.last?.1["version"] as? String == "0.1.0")

        // A failed update: the published file no longer matches its signed hash.
        let targets = harness.root.path + "/repo/targets"
        let stored = try #require(FileManager.default.enumerator(atPath: targets)?.allObjects.compactMap { $0 as? String }.first { $0.hasSuffix(".candidate") })
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: targets + "/" + stored))
        try handle.seek(toOffset: 100)
        try handle.write(contentsOf: Data([0xFF, 0xFE]))
        try handle.close()
        try? FileManager.default.removeItem(atPath: harness.home + "/channel/staging")
        #expect(try harness.run(["update", "apply", "--yes", "--allow-downgrade"]).status == 1)
        seen = try events()
        #expect(seen.last?.0 == "failed", "\(seen.map(\.0))")
        #expect((seen.last?.1["message"] as? String)?.contains("Nothing was installed") == true, "\(seen.last?.1 ?? [:])")

        // A command that never ends is killed at its bound; what it reports on still happens.
        let hanging = try harness.script("hang", "exec sleep 600")
        #expect(try harness.run(["config", "set", "notifyCommand", hanging]).status == 0)
        #expect(try harness.run(["config", "set", "notifyTimeoutSeconds", "1"]).status == 0)
        let before = try harness.current()
        let start = Date()
        let rollback = try harness.run(["self-upgrade", "rollback", "--yes"])
        #expect(rollback.status == 0, "\(rollback.stderr)")
        #expect(Date().timeIntervalSince(start) < 30)
        #expect(try harness.current() != before)
        let log = try String(contentsOfFile: harness.home + "/logs/notify.log", encoding: .utf8)
        #expect(log.contains("rolled-back: not delivered:") && log.contains("did not finish within 1 s"), "\(log)")
        #expect(try harness.run(["ps", "-eo", "args"], executable: "/bin/ps").stdout.contains("sleep 600") == false)

        // A daemon the command starts in a session of its own ends with the command.
        let marker = "sleep 3\(Int.random(in: 1000...9999))1"
        let daemon = try harness.script("daemon", "setsid sh -c 'exec \(marker)' </dev/null >/dev/null 2>&1 &\nexit 0")
        #expect(try harness.run(["config", "set", "notifyCommand", daemon]).status == 0)
        #expect(try harness.run(["self-upgrade", "rollback", "--yes"]).status == 0)
        #expect(try harness.run(["ps", "-eo", "args"], executable: "/bin/ps").stdout.contains(marker) == false, "the daemon outlived the command")

        // <home>/logs planted as a link: announcing an update writes nothing where it points
        // (the announcement is not delivered: its input and log would go there).
        let outside = harness.root.path + "/outside"
        try FileManager.default.createDirectory(atPath: outside, withIntermediateDirectories: true)
        try FileManager.default.removeItem(atPath: harness.home + "/logs")
        try FileManager.default.createSymbolicLink(atPath: harness.home + "/logs", withDestinationPath: outside)
        #expect(try harness.run(["config", "set", "notifyCommand", notify]).status == 0)
        try FileManager.default.removeItem(atPath: harness.home + "/channel/available")
        let announced = try harness.run(["update", "check"])
        #expect(announced.status == 0, "\(announced.stderr)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: outside) == [])
    }

    @Test("docs/examples/notify-webhook.sh posts each event's JSON to a webhook (a loopback server) with curl")
    func webhookExample() throws {
        guard let python = ChildServer.python else { Issue.record("python3 is missing"); return }
        _ = python
        let harness = try Harness()
        defer { harness.cleanUp() }
        try published(harness)
        try configure(harness, url: "file://\(harness.root.path)/repo")
        let received = harness.root.path + "/received"
        let script = """
        import http.server, sys
        out = sys.argv[1]
        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args): pass
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with open(out, "ab") as f:
                    f.write(self.headers["X-Autodev-Event"].encode() + b" " + body.strip() + b"\\n")
                self.send_response(204); self.end_headers()
        server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
        print(server.server_address[1], flush=True)
        import threading; threading.Thread(target=server.serve_forever, daemon=True).start()
        sys.stdin.read()
        """
        let server = try ChildServer(python: ["-c", script, received], name: "the webhook")
        defer { server.stop() }
        let example = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("docs/examples/notify-webhook.sh").path
        try "http://127.0.0.1:\(server.port)/hook\n".write(toFile: harness.root.path + "/webhook-url", atomically: true, encoding: .utf8)
        #expect(try harness.run(["config", "set", "notifyCommand", example]).status == 0)
        let check = try harness.run(["update", "check"], environment: ["NOTIFY_WEBHOOK_URL_FILE": harness.root.path + "/webhook-url"])
        #expect(check.status == 0, "\(check.stderr)")
        let lines = try String(contentsOfFile: received, encoding: .utf8).split(separator: "\n")
        #expect(lines.count == 1 && lines[0].hasPrefix("update-available {"), "\(lines)")
        let event = try harness.json(String(lines[0].dropFirst("update-available ".count)))
        #expect(event["event"] as? String == "update-available" && event["version"] as? String == "0.2.0")
        #expect(try String(contentsOfFile: harness.home + "/logs/notify.log", encoding: .utf8).contains("update-available: delivered"))
    }

    @Test("config: the update settings are listed with their defaults and validated; unknown keys kept")
    func settings() throws {
        let harness = try Harness()
        defer { harness.cleanUp() }
        _ = try harness.initialize()
        let list = try harness.run(["config", "list"])
        for line in ["updatePolicy", "updateCheckIntervalSeconds", "autoUpgradeOnIdleMinutes", "skippedVersions", "notifyCommand", "notifyTimeoutSeconds"] {
            #expect(list.stdout.contains(line), "\(list.stdout)")
        }
        #expect(try harness.run(["config", "set", "updatePolicy", "critical"]).stdout == "updatePolicy = \"critical\"\n")
        let bad = try harness.run(["config", "set", "updatePolicy", "sometimes"])
        #expect(bad.status != 0 && bad.stderr.contains("'updatePolicy' must be manual, critical, all, not 'sometimes'; nothing was changed"), "\(bad.stderr)")
        let short = try harness.run(["config", "set", "updateCheckIntervalSeconds", "5"])
        #expect(short.status != 0 && short.stderr.contains("'updateCheckIntervalSeconds' must be from 60 to 604800"), "\(short.stderr)")
        let badList = try harness.run(["config", "set", "skippedVersions", "1.0.0,$(rm -rf)"])
        #expect(badList.status != 0 && badList.stderr.contains("'skippedVersions'"), "\(badList.stderr)")
        #expect(try harness.run(["config", "set", "skippedVersions", "1.0.0, 1.1.0"]).stdout == "skippedVersions = [\"1.0.0\",\"1.1.0\"]\n")
        #expect(try harness.run(["config", "get", "updatePolicy"]).stdout == "\"critical\"\n")
    }
}
