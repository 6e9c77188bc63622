import Foundation
import Testing

@Suite("autodev config reads and changes the settings, validated, keeping what it does not know")
struct ConfigTests {
    @Test("list shows every setting; set changes one, and the upgrader reads it; unset brings the default back")
    func listSetUnset() throws {
        let harness = try Harness()
        defer { harness.cleanUp() }
        _ = try harness.initialize()
        let list = try harness.run(["config", "list", "--json"])
        #expect(list.status == 0, "\(list.stderr)")
        let entries = try #require(try JSONSerialization.jsonObject(with: Data(list.stdout.utf8)) as? [[String: Any]])
        #expect(entries.compactMap { $0["key"] as? String }.prefix(2) == ["historyLimit", "verifyTimeoutSeconds"])
        #expect(entries.count == 23)

        let set = try harness.run(["config", "set", "historyLimit", "3"])
        #expect(set.status == 0 && set.stdout == "historyLimit = 3\n", "\(set.stdout)\(set.stderr)")
        #expect(try harness.run(["config", "get", "historyLimit"]).stdout == "3\n")
        let status = try harness.run(["self-upgrade", "status"])
        #expect(status.stdout.contains("keeping 3"), "\(status.stdout)")

        #expect(try harness.run(["config", "unset", "historyLimit"]).status == 0)
        let entry = try harness.json(try harness.run(["config", "get", "historyLimit", "--json"]).stdout)
        #expect(entry["value"] as? String == "5" && entry["isDefault"] as? Bool == true)
    }

    @Test("a refused value, an unknown key or a missing argument changes nothing and says why", arguments: [
        (["historyLimit", "1"], "'historyLimit' must be at least 2; nothing was changed"),
        (["verifyMemoryBytes", "2.5"], "'verifyMemoryBytes' must be a whole number, not negative, not '2.5'; nothing was changed"),
        (["maxRestarts", "many"], "'maxRestarts' must be a number, not 'many'; nothing was changed"),
        (["verifyTimeoutSeconds", "1e9"], "'verifyTimeoutSeconds' must be from 1 to 86400; nothing was changed"),
        (["verifyTimeoutSeconds", "1e-300"], "'verifyTimeoutSeconds' must be from 1 to 86400; nothing was changed"),
        (["verifyFileSizeBytes", "9007199254740990"], "'verifyFileSizeBytes' must be from 1048576 (1 MiB) to 68719476736 (64 GiB); nothing was changed"),
        (["confirmDeadlineSeconds", "1e300"], "'confirmDeadlineSeconds' must be above 0 and at most 86400; nothing was changed"),
        (["noSuchKey", "1"], "there is no setting 'noSuchKey'; the settings are historyLimit, "),
        (["fitnessCommand", "relative/path"], "'fitnessCommand' must be an absolute path; nothing was changed"),
        (["fitnessRuns", "0"], "'fitnessRuns' must be from 1 to 100; nothing was changed"),
        (["fitnessMarginPercent", "101"], "'fitnessMarginPercent' must be from 0 to 100; nothing was changed"),
        (["probationRuns", "1.5"], "'probationRuns' must be a whole number, not negative, not '1.5'; nothing was changed"),
        (["historyLimit"], "Missing <value>"),
    ])
    func refused(arguments: [String], message: String) throws {
        let harness = try Harness()
        defer { harness.cleanUp() }
        _ = try harness.initialize()
        let before = try Data(contentsOf: URL(fileURLWithPath: harness.home + "/config.json"))
        let result = try harness.run(["config", "set"] + arguments)
        #expect(result.status != 0)
        #expect(result.stderr.contains(message), "\(result.stderr)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: harness.home + "/config.json")) == before)
    }

    @Test("keys a newer version wrote are kept and listed; config.json as a link is replaced, its target left alone")
    func unknownKeysAndLinks() throws {
        let harness = try Harness()
        defer { harness.cleanUp() }
        _ = try harness.initialize()
        let path = harness.home + "/config.json"
        try #"{"fromTheFuture": {"a": [1, 2]}, "exact": 9007199254740993, "huge": 18446744073709551616, "maxRestarts": 9}"#.write(toFile: path, atomically: true, encoding: .utf8)
        #expect(try harness.run(["config", "list"]).stdout.contains("fromTheFuture"))
        #expect(try harness.run(["config", "set", "maxRestarts", "4"]).status == 0)
        let document = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as? [String: Any])
        #expect(document["maxRestarts"] as? Int == 4)
        #expect((document["fromTheFuture"] as? [String: Any])?["a"] as? [Int] == [1, 2])
        // Numbers are kept as written, even those a double cannot hold.
        #expect(try String(contentsOfFile: path, encoding: .utf8).contains("\"exact\": 9007199254740993"))
        #expect(try String(contentsOfFile: path, encoding: .utf8).contains("\"huge\": 18446744073709551616"))

        // Another user's config.json is not taken over.
        #expect(chown(path, 65534, 65534) == 0 || getuid() != 0)
        if getuid() == 0 {
            let foreign = try harness.run(["config", "set", "maxRestarts", "5"])
            #expect(foreign.status != 0 && foreign.stderr.contains("is owned by user 65534"), "\(foreign.stderr)")
            #expect(chown(path, 0, 0) == 0)
        }

        let victim = harness.root.path + "/victim.json"
        try #"{"historyLimit": 6}"#.write(toFile: victim, atomically: true, encoding: .utf8)
        try FileManager.default.removeItem(atPath: path)
        try FileManager.default.createSymbolicLink(atPath: path, withDestinationPath: victim)
        let result = try harness.run(["config", "set", "historyLimit", "4"])
        #expect(result.status != 0, "a config.json that is a link was read through: \(result.stdout)")
        #expect(try String(contentsOfFile: victim, encoding: .utf8) == #"{"historyLimit": 6}"#)
    }
}

@Suite("autodev config under concurrent changes and hostile contents")
struct ConfigEdgeTests {
    @Test("changes made at the same moment by several processes all land (read, edit and write run under a lock)")
    func concurrentChanges() throws {
        let harness = try Harness()
        defer { harness.cleanUp() }
        _ = try harness.initialize()
        let keys = ["historyLimit", "maxRestarts", "maxConfirmAttempts", "restartWindowSeconds",
                    "notifyTimeoutSeconds", "updateCheckIntervalSeconds", "autoUpgradeOnIdleMinutes", "verifyCPUSeconds"]
        for round in 0..<4 {
            let value = String(60 + round)
            let running = try keys.map { try harness.start(["config", "set", $0, value]) }
            for process in running {
                let result = process.finish()
                #expect(result.status == 0, "\(result.stderr)")
            }
            let entries = try #require(try JSONSerialization.jsonObject(with: Data(try harness.run(["config", "list", "--json"]).stdout.utf8)) as? [[String: Any]])
            for key in keys {
                let entry = entries.first { $0["key"] as? String == key }
                #expect(entry?["value"] as? String == value, "round \(round): \(key) lost its change: \(String(describing: entry))")
            }
        }
    }

    @Test("a lock held by another process makes a change give up with a message after a bounded wait, changing nothing; the lock file is closed to other users")
    func heldLock() throws {
        let harness = try Harness()
        defer { harness.cleanUp() }
        _ = try harness.initialize()
        #expect(try harness.run(["config", "set", "historyLimit", "4"]).status == 0)
        let lock = harness.home + "/config.json.lock"
        #expect((try FileManager.default.attributesOfItem(atPath: lock)[.posixPermissions] as? Int) == 0o600)
        let before = try Data(contentsOf: URL(fileURLWithPath: harness.home + "/config.json"))
        // A holder that opened the file read-only, as another user could when it was 0644.
        let marker = harness.root.path + "/held"
        let holder = try harness.start(["-c", "import fcntl, sys, time\nf = open(sys.argv[1])\nfcntl.flock(f, fcntl.LOCK_EX)\nopen(sys.argv[2], 'w').close()\ntime.sleep(120)",
                                        lock, marker], executable: "/usr/bin/python3")
        defer { kill(holder.pid, SIGKILL); _ = holder.finish() }
        #expect(harness.waitUntil(seconds: 20) { FileManager.default.fileExists(atPath: marker) })
        let start = Date()
        let refused = try harness.run(["config", "set", "historyLimit", "6"])
        #expect(refused.status != 0)
        #expect(refused.stderr.contains("another process has held \"\(lock)\"") || refused.stderr.contains("another process has held \(lock)"), "\(refused.stderr)")
        #expect(Date().timeIntervalSince(start) < 60)
        #expect(try Data(contentsOf: URL(fileURLWithPath: harness.home + "/config.json")) == before)
    }

    @Test("a long value is given whole with --json and by get; keys and values the file holds reach a terminal escaped")
    func longAndHostileContents() throws {
        let harness = try Harness()
        defer { harness.cleanUp() }
        _ = try harness.initialize()
        let long = "/opt/" + String(repeating: "n", count: 400) + "/notify"
        #expect(try harness.run(["config", "set", "notifyCommand", long]).status == 0)
        let entry = try harness.json(try harness.run(["config", "get", "notifyCommand", "--json"]).stdout)
        #expect(entry["value"] as? String == "\"" + long + "\"")
        #expect(try harness.run(["config", "get", "notifyCommand"]).stdout == "\"" + long + "\"\n")

        let path = harness.home + "/config.json"
        try #"{"\u001b]0;owned\u0007key\u001b[2J": "\u001b[31mred", "日本": 1}"#.write(toFile: path, atomically: true, encoding: .utf8)
        let list = try harness.run(["config", "list"])
        #expect(list.status == 0, "\(list.stderr)")
        #expect(!list.stdout.unicodeScalars.contains { $0.value == 0x1B || $0.value == 0x07 }, "\(list.stdout.debugDescription)")
        #expect(list.stdout.contains(#"\u{1B}]0;owned\u{7}key\u{1B}[2J"#), "\(list.stdout)")
        #expect(list.stdout.contains(#""\u001b[31mred""#), "\(list.stdout)")
        // Columns line up by display width: every value starts at the same column.
        let lines = list.stdout.split(separator: "\n").map(String.init)
        let wide = try #require(lines.first { $0.hasPrefix("日本") })
        let known = try #require(lines.first { $0.hasPrefix("historyLimit") })
        let column = known.distance(from: known.startIndex, to: try #require(known.range(of: "5  (default)")).lowerBound)
        #expect(wide.count + 2 == column + "1  (not known to this version; kept)".count, "\(list.stdout)")
    }
}

@Suite("autodev's own state read without JSONDecoder")
struct StateReadingTests {
    @Test("every form of state/autodev.json reads the same with the strict reader as with JSONDecoder (self-check compares the two)", arguments: [
        #"{"counters":{"failedRestarts":0,"restarts":0,"rollbacks":0,"upgrades":1},"lastConfirmedVersion":"0.1.0"}"#,
        #"{"counters":{"failedRestarts":0,"restarts":2,"rollbacks":3.0,"upgrades":1e1},"pendingTransaction":"tx-1","lastConfirmedVersion":null}"#,
        #"{"counters":{"failedRestarts":-4,"restarts":9007199254740991,"rollbacks":0,"upgrades":0,"extra":[1]},"future":{"a":[{}]},"lastConfirmedVersion":"caf\u00e9 \ud83d\ude00"}"#,
        #"{"counters":{"failedRestarts":0,"restarts":0,"rollbacks":0,"upgrades":9007199254740993}}"#,
        #"{"counters":{"failedRestarts":0,"restarts":0,"rollbacks":0,"upgrades":0},"pendingTransaction":"a\/b\n"}"#,
    ])
    func stateForms(_ body: String) throws {
        let harness = try Harness()
        defer { harness.cleanUp() }
        let directory = harness.root.path + "/state"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try Data((#"{"schema":2}"# + "\n" + body + "\n").utf8).write(to: URL(fileURLWithPath: directory + "/autodev.json"))
        let result = try harness.run(["self-check", "--state-copy", directory, "--json"], executable: Harness.binary)
        let report = try harness.json(result.stdout)
        let state = try #require(report["state"] as? [String: Any], "\(result.stdout)\(result.stderr)")
        #expect(state["error"] == nil && state["roundTripEqual"] as? Bool == true, "\(state)")
        #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
    }
}
