import Foundation
import Integrity
import TestSupport
import Testing

/// A home after `init` and two upgrades: three stored versions, history of three.
private func homeWithHistory(_ harness: Harness, keep: Int = 5) throws -> [String] {
    #expect(try harness.run(["init", "--home", harness.home, "--keep", "\(keep)"], executable: Harness.binary).status == 0)
    var ids = [try harness.current()]
    for index in 0..<2 {
        let result = try harness.run(["self-upgrade", "--from-binary", try harness.candidate(suffix: "h\(index)")])
        #expect(result.status == 0, "\(result.stderr)")
        ids.append(try harness.current())
    }
    return ids
}

private func storedVersions(_ harness: Harness) throws -> [String] {
    try FileManager.default.contentsOfDirectory(atPath: harness.home + "/versions").sorted()
}

@Suite("A damaged journal never costs a stored version")
struct DamagedJournalTests {
    /// Each way of damaging the journal, applied to a home with three versions.
    static let damages: [(String, @Sendable (Harness) throws -> Void)] = [
        ("truncated to 0 bytes", { h in try Data().write(to: URL(fileURLWithPath: h.home + "/journal")) }),
        ("only a torn first line", { h in try Data("0badf00d {\"kind\":\"ado".utf8).write(to: URL(fileURLWithPath: h.home + "/journal")) }),
        ("a link to /dev/null", { h in
            try FileManager.default.removeItem(atPath: h.home + "/journal")
            try FileManager.default.createSymbolicLink(atPath: h.home + "/journal", withDestinationPath: "/dev/null")
        }),
        ("missing its first record", { h in
            let lines = try h.journalLines()
            try (lines.dropFirst().joined(separator: "\n") + "\n").write(toFile: h.home + "/journal", atomically: false, encoding: .utf8)
        }),
        ("moved aside", { h in try FileManager.default.moveItem(atPath: h.home + "/journal", toPath: h.root.path + "/journal.old") }),
        ("a record with a time of 1e300", { h in
            var lines = try h.journalLines()
            let json = lines[1].dropFirst(9).replacingOccurrences(of: #""time":"#, with: #""time":1e300,"_was":"#)
            let checksum = String(format: "%08x", crc32(Array(json.utf8)))
            lines[1] = checksum + " " + json
            try (lines.joined(separator: "\n") + "\n").write(toFile: h.home + "/journal", atomically: false, encoding: .utf8)
        }),
        // Every line intact and in sequence, but the last upgrade's records gone: the journal
        // names the older version while `current` names the newer one.
        ("cut at a record boundary before the last upgrade", { h in
            let lines = try h.journalLines()
            let lastBegin = try #require(lines.lastIndex { $0.contains("\"kind\":\"begin\"") })
            try (lines.prefix(lastBegin).joined(separator: "\n") + "\n").write(toFile: h.home + "/journal", atomically: false, encoding: .utf8)
        }),
        // Cut at a transaction boundary where the shorter journal still explains `current`: a
        // refused upgrade's records gone. Only the journal's tail shows that anything is missing.
        ("cut at a transaction boundary, current still explained", { h in
            let refused = try h.run(["self-upgrade", "--from-binary", "/bin/false", "--yes"])
            #expect(refused.status == 1, "\(refused.stderr)")
            let lines = try h.journalLines()
            #expect(lines.last?.contains("\"kind\":\"abort\"") == true, "\(lines.last ?? "")")
            let lastBegin = try #require(lines.lastIndex { $0.contains("\"kind\":\"begin\"") })
            try (lines.prefix(lastBegin).joined(separator: "\n") + "\n").write(toFile: h.home + "/journal", atomically: false, encoding: .utf8)
        }),
        ("a directory", { h in
            try FileManager.default.removeItem(atPath: h.home + "/journal")
            try FileManager.default.createDirectory(atPath: h.home + "/journal/inside", withIntermediateDirectories: true)
        }),
        ("a FIFO", { h in
            try FileManager.default.removeItem(atPath: h.home + "/journal")
            #expect(mkfifo(h.home + "/journal", 0o600) == 0)
        }),
    ]

    @Test("reading commands refuse it, delete nothing, and say how to repair", arguments: 0..<10)
    func refused(case index: Int) throws {
        let (name, damage) = Self.damages[index]
        let harness = try Harness()
        defer { harness.cleanUp() }
        let ids = try homeWithHistory(harness)
        try damage(harness)
        let before = try harness.snapshot()
        for command in [["self-upgrade", "status"], ["self-upgrade", "history"], ["self-upgrade", "rollback", "--yes"],
                        ["self-upgrade", "--from-binary", try harness.candidate(suffix: "x")], ["init", "--home", harness.home]] {
            let result = try harness.run(command, executable: Harness.binary)
            #expect(result.status == 1, "\(name): \(command) exited \(result.status): \(result.stderr)")
            #expect(result.stderr.contains("journal"), "\(name): \(result.stderr)")
            #expect(result.stderr.contains("autodev self-upgrade repair --home"), "\(name): \(result.stderr)")
        }
        #expect(try harness.snapshot() == before, "\(name)")
        #expect(try storedVersions(harness) == ids.sorted(), "\(name)")
        #expect(FileManager.default.fileExists(atPath: harness.entry), "\(name): bin/autodev is gone")
        // The advice, followed as written, rebuilds the journal and keeps everything.
        let repair = try harness.run(["self-upgrade", "repair", "--home", harness.home], executable: Harness.binary)
        #expect(repair.status == 0, "\(name): \(repair.stderr)")
        #expect(repair.stdout.contains("Nothing was deleted."), "\(name): \(repair.stdout)")
        #expect(try storedVersions(harness) == ids.sorted(), "\(name)")
        #expect(try harness.current() == ids.last!, "\(name): current changed")
        let history = try harness.run(["self-upgrade", "history", "--json"])
        #expect(history.status == 0, "\(name): \(history.stderr)")
        #expect(try JSONSerialization.jsonObject(with: Data(history.stdout.utf8)) as? [[String: Any]] != nil)
        let kept = try FileManager.default.contentsOfDirectory(atPath: harness.home).filter { $0.hasPrefix("journal.damaged-") && !$0.hasSuffix(".tail") }
        #expect(kept.count == (name == "moved aside" ? 0 : 1), "\(name): \(kept)")
        // The repaired home upgrades and rolls back as before.
        #expect(try harness.run(["self-upgrade", "--from-binary", try harness.candidate(suffix: "after")]).status == 0)
        #expect(try harness.run(["self-upgrade", "rollback", "--yes"]).status == 0)
        #expect(try harness.current() == ids.last!)
    }

    @Test("a damaged journal.tail: garbage is replaced by the next durable record; a link or directory is refused until repair moves it aside")
    func damagedTail() throws {
        let harness = try Harness()
        defer { harness.cleanUp() }
        _ = try homeWithHistory(harness)
        let tail = harness.home + "/journal.tail"
        try String(repeating: "garbage-", count: 8).write(toFile: tail, atomically: false, encoding: .utf8)
        #expect(try harness.run(["self-upgrade", "--from-binary", try harness.candidate(suffix: "t")]).status == 0)
        let last = try #require(try harness.journalLines().last?.firstMatch(of: /"sequence":([0-9]+)/)?.1)
        #expect(try String(contentsOfFile: tail, encoding: .utf8) == String(repeating: "0", count: 20 - last.count) + last + "\n")

        for kind in ["link", "directory"] {
            try FileManager.default.removeItem(atPath: tail)
            if kind == "link" {
                try FileManager.default.createSymbolicLink(atPath: tail, withDestinationPath: "/dev/null")
            } else {
                try FileManager.default.createDirectory(atPath: tail, withIntermediateDirectories: false)
            }
            let refused = try harness.run(["self-upgrade", "status"], executable: Harness.binary)
            #expect(refused.status == 1, "\(kind): \(refused.stdout)")
            #expect(refused.stderr.contains("journal.tail is not a regular file"), "\(kind): \(refused.stderr)")
            let repair = try harness.run(["self-upgrade", "repair", "--home", harness.home], executable: Harness.binary)
            #expect(repair.status == 0, "\(kind): \(repair.stderr)")
            #expect(repair.stdout.contains("is not a regular file (kept as"), "\(kind): \(repair.stdout)")
            #expect(try String(contentsOfFile: tail, encoding: .utf8).hasSuffix(last + "\n"))
            #expect(try harness.run(["self-upgrade", "status"]).status == 0)
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: harness.home).filter { $0.hasPrefix("journal.tail.damaged-") }.count == 2)
    }

    @Test("a hard link or another user's file planted as journal.tail is never written through; the journal is refused until repair sets it aside")
    func plantedTail() throws {
        let harness = try Harness()
        defer { harness.cleanUp() }
        _ = try homeWithHistory(harness)
        let tail = harness.home + "/journal.tail"
        let victim = harness.root.path + "/victim"
        try "precious\n".write(toFile: victim, atomically: true, encoding: .utf8)
        try FileManager.default.removeItem(atPath: tail)
        try FileManager.default.linkItem(atPath: victim, toPath: tail)
        let refused = try harness.run(["self-upgrade", "rollback", "--yes"], executable: Harness.binary)
        #expect(refused.status == 1)
        #expect(refused.stderr.contains("journal.tail has 2 names"), "\(refused.stderr)")
        #expect(try String(contentsOfFile: victim, encoding: .utf8) == "precious\n")
        let repair = try harness.run(["self-upgrade", "repair", "--home", harness.home], executable: Harness.binary)
        #expect(repair.status == 0, "\(repair.stderr)")
        #expect(try String(contentsOfFile: victim, encoding: .utf8) == "precious\n")
        #expect(try harness.run(["self-upgrade", "rollback", "--yes"]).status == 0)
        #expect(try String(contentsOfFile: victim, encoding: .utf8) == "precious\n")
    }

    @Test("repair of a sound journal changes nothing")
    func soundJournal() throws {
        let harness = try Harness()
        defer { harness.cleanUp() }
        _ = try homeWithHistory(harness)
        let before = try String(contentsOfFile: harness.home + "/journal", encoding: .utf8)
        let repair = try harness.run(["self-upgrade", "repair"])
        #expect(repair.status == 0)
        #expect(repair.stdout.contains("is sound; nothing was changed"))
        #expect(try String(contentsOfFile: harness.home + "/journal", encoding: .utf8) == before)
    }

    @Test("kill -9 at every step boundary of repair loses nothing; repair again finishes", arguments: ["repair-written", "repair-kept", "repair-replaced"])
    func killedRepair(point: String) throws {
        let harness = try Harness()
        defer { harness.cleanUp() }
        let ids = try homeWithHistory(harness)
        try Data().write(to: URL(fileURLWithPath: harness.home + "/journal"))
        let killed = try harness.run(["self-upgrade", "repair"], executable: Harness.binary, environment: ["AUTODEV_FAILPOINT": "kill-\(point)"])
        #expect(killed.status == 9 || killed.status == 137 || killed.status == Int32(SIGKILL), "\(point): \(killed.status) \(killed.stderr)")
        #expect(try storedVersions(harness) == ids.sorted(), "\(point)")
        #expect(try harness.current() == ids.last!, "\(point)")
        let again = try harness.run(["self-upgrade", "repair"], executable: Harness.binary)
        #expect(again.status == 0, "\(point): \(again.stderr)")
        #expect(try harness.run(["self-upgrade", "status"]).status == 0, "\(point)")
        #expect(try storedVersions(harness) == ids.sorted(), "\(point)")
    }
}

@Suite("Pruning is journaled first and survives kill -9")
struct PruneTests {
    @Test("kill -9 inside a prune leaves current and previous; the next commit finishes it", arguments: ["prune-journaled", "prune-moved"])
    func killedPrune(point: String) throws {
        let harness = try Harness()
        defer { harness.cleanUp() }
        #expect(try harness.run(["init", "--home", harness.home, "--keep", "2"], executable: Harness.binary).status == 0)
        var ids = [try harness.current()]
        #expect(try harness.run(["self-upgrade", "--from-binary", try harness.candidate(suffix: "p1")]).status == 0)
        ids.append(try harness.current())
        // The third upgrade prunes the first version in the confirming process: kill it there.
        let killed = try harness.run(["self-upgrade", "--from-binary", try harness.candidate(suffix: "p2")],
                                     environment: ["AUTODEV_FAILPOINT": "kill-\(point)"])
        #expect(killed.status != 0)
        let third = try harness.current()
        #expect(third != ids[1])
        let status = try harness.run(["self-upgrade", "status", "--json"])
        #expect(status.status == 0, "\(point): \(status.stderr)")
        let stored = try storedVersions(harness)
        #expect(stored.contains(third) && stored.contains(ids[1]), "\(point): \(stored)")
        #expect(try harness.journalLines().filter { $0.contains(#""kind":"prune""#) }.count == 1)
        #expect(try harness.run(["self-upgrade", "--from-binary", try harness.candidate(suffix: "p3")]).status == 0)
        #expect(try storedVersions(harness) == [third, try harness.current()].sorted(), "\(point)")
        // The condition: the pruned versions' directories, removed in the background, are gone.
        let deadline = Date().addingTimeInterval(30)
        while try !FileManager.default.contentsOfDirectory(atPath: harness.home + "/staging").isEmpty, Date() < deadline { usleep(10_000) }
        #expect(try FileManager.default.contentsOfDirectory(atPath: harness.home + "/staging").isEmpty)
    }

    @Test("logs of transactions older than every kept version are pruned with them")
    func logsPruned() throws {
        let harness = try Harness()
        defer { harness.cleanUp() }
        _ = try homeWithHistory(harness, keep: 2)
        for index in 0..<3 {
            #expect(try harness.run(["self-upgrade", "--from-binary", try harness.candidate(suffix: "l\(index)")]).status == 0)
        }
        let logs = try FileManager.default.contentsOfDirectory(atPath: harness.home + "/logs")
        #expect(logs.count <= 2, "\(logs)")
    }

    @Test("status, history and --help delete nothing, even with versions beyond the limit")
    func readersDeleteNothing() throws {
        let harness = try Harness()
        defer { harness.cleanUp() }
        let ids = try homeWithHistory(harness, keep: 5)
        try #"{"historyLimit":2}"#.write(toFile: harness.home + "/config.json", atomically: true, encoding: .utf8)
        for command in [["self-upgrade", "status"], ["self-upgrade", "history"], ["self-upgrade", "--help"], ["digest", harness.entry]] {
            #expect(try harness.run(command).status == 0, "\(command)")
        }
        #expect(try storedVersions(harness) == ids.sorted())
    }
}

@Suite("The file executed is the file checked")
struct CheckedExecTests {
    @Test("a rollback rehearsal starts the version it checked: a link put over its directory after the check runs nothing else")
    func rehearsalStartsTheCheckedFile() throws {
        let harness = try Harness()
        defer { harness.cleanUp() }
        _ = try harness.initialize()
        let previous = try harness.current()
        #expect(try harness.run(["self-upgrade", "--from-binary", try harness.candidate(suffix: "rehearsal-start"), "--yes"]).status == 0)
        let directory = harness.home + "/versions/" + previous
        let outside = harness.root.path + "/outside"
        let marker = harness.root.path + "/outside-ran"
        try FileManager.default.createDirectory(atPath: outside, withIntermediateDirectories: true)
        try "#!/bin/sh\necho ran > \(marker)\n".write(toFile: outside + "/autodev", atomically: true, encoding: .utf8)
        #expect(chmod(outside + "/autodev", 0o555) == 0)
        try FileManager.default.copyItem(atPath: directory + "/meta.json", toPath: outside + "/meta.json")
        let rehearsal = try harness.start(["self-upgrade", "rollback", "--test"], environment: ["AUTODEV_FAILPOINT": "stop-rehearsal-start"])
        try #require(Processes.waitUntilStopped(rehearsal.pid), "the rehearsal did not stop before its start")
        try FileManager.default.moveItem(atPath: directory, toPath: directory + ".real")
        try FileManager.default.createSymbolicLink(atPath: directory, withDestinationPath: outside)
        kill(rehearsal.pid, SIGCONT)
        let result = rehearsal.finish()
        try FileManager.default.removeItem(atPath: directory)
        try FileManager.default.moveItem(atPath: directory + ".real", toPath: directory)
        #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
        #expect(!FileManager.default.fileExists(atPath: marker), "the program put over the version's directory ran")
    }

    @Test("a stored version written in place (times put back) or made writable between its last check and its exec is caught by the new process and rolled back",
          arguments: ["written", "made writable"])
    func writtenBeforeExec(change: String) throws {
        let harness = try Harness()
        defer { harness.cleanUp() }
        _ = try harness.initialize()
        let before = try harness.current()
        let candidate = try harness.candidate(suffix: "written-before-exec")
        let bytes = try Data(contentsOf: URL(fileURLWithPath: candidate))
        let stored = harness.home + "/versions/" + SHA256.hash(data: Array(bytes)).hex + "/autodev"
        // The upgrade stops itself once its target is checked, right before the exec.
        let upgrade = try harness.start(["self-upgrade", "--from-binary", candidate, "--yes"], environment: ["AUTODEV_FAILPOINT": "stop-before-exec"])
        try #require(Processes.waitUntilStopped(upgrade.pid), "the upgrade did not stop before its exec")
        defer { kill(upgrade.pid, SIGCONT) }
        if change == "written" {
            // Its last byte (of the suffix, not of the program) changed in place, its times put back.
            let times = try FileManager.default.attributesOfItem(atPath: stored)[.modificationDate] as? Date
            let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: stored))
            try handle.seek(toOffset: UInt64(bytes.count - 1))
            try handle.write(contentsOf: Data("X".utf8))
            try handle.close()
            try FileManager.default.setAttributes([.modificationDate: try #require(times)], ofItemAtPath: stored)
        } else {
            // Its bytes kept, but anyone may now write them.
            #expect(chmod(stored, 0o777) == 0)
        }
        kill(upgrade.pid, SIGCONT)
        // The new version finds the file it runs is not what was checked, and execs the old one
        // back: stopped before that exec too.
        #expect(Processes.waitUntilStopped(upgrade.pid), "the new version did not exec the old one back")
        kill(upgrade.pid, SIGCONT)
        let result = upgrade.finish()
        #expect(result.status != 0, "\(result.stdout)\(result.stderr)")
        #expect(change == "written" ? result.stderr.contains("is damaged") && result.stderr.contains("now hashes to")
                    : result.stderr.contains("cannot be trusted as it is") && result.stderr.contains("can be written"), "\(result.stderr)")
        #expect(try harness.current() == before)
        #expect(try harness.run(["self-upgrade", "status"]).status == 0)
    }
}

@Suite("Restart markers cannot be forged")
struct MarkerTests {
    @Test("a finished transaction's id in AUTODEV_TX is ignored with a warning, and the command runs")
    func finishedTransaction() throws {
        let harness = try Harness()
        defer { harness.cleanUp() }
        _ = try homeWithHistory(harness)
        let transaction = try #require(try harness.journalLines().last.flatMap { line -> String? in
            (try? JSONSerialization.jsonObject(with: Data(line.dropFirst(9).utf8)) as? [String: Any])?["transaction"] as? String
        })
        let status = try harness.run(["self-upgrade", "status"], environment: ["AUTODEV_TX": transaction])
        #expect(status.status == 0)
        #expect(status.stdout.contains("Current:"), "\(status.stdout)")
        #expect(!status.stdout.contains("Upgraded"))
        #expect(status.stderr.contains("Ignored AUTODEV_TX"), "\(status.stderr)")
        // With a descriptor opened on the lock file (but not holding it) named as inherited.
        let forged = try harness.run(["-c", "exec 9<\"$1/lock\"; AUTODEV_TX=\(transaction) AUTODEV_LOCK_FD=9 exec \"$1/bin/autodev\" self-upgrade rollback --yes",
                                      "sh", harness.home], executable: "/bin/sh")
        #expect(forged.stderr.contains("Ignored AUTODEV_TX"), "\(forged.stderr)")
        #expect(!forged.stdout.contains("Upgraded"))
        #expect(forged.status == 0, "the rollback itself must run: \(forged.stderr)")
    }

    @Test("a forged marker does not stop recovery of an interrupted transaction")
    func recoveryStillRuns() throws {
        let harness = try Harness()
        defer { harness.cleanUp() }
        _ = try harness.initialize()
        let old = try harness.current()
        _ = try harness.run(["self-upgrade", "--from-binary", try harness.candidate()], environment: ["AUTODEV_FAILPOINT": "kill-after-swap"])
        let transaction = try #require(try harness.journalLines().last.flatMap { line -> String? in
            (try? JSONSerialization.jsonObject(with: Data(line.dropFirst(9).utf8)) as? [String: Any])?["transaction"] as? String
        })
        // A reading command with the forged marker: ignored, and the transaction only shown.
        let status = try harness.run(["self-upgrade", "status", "--json"], executable: Harness.binary,
                                     environment: ["AUTODEV_TX": transaction, "AUTODEV_LOCK_FD": "0"])
        #expect(status.stderr.contains("Ignored AUTODEV_TX"), "\(status.stderr)")
        #expect(status.stdout.contains("\"openTransaction\""), "\(status.stdout)")
        // A changing command with the forged marker: ignored, and recovery runs.
        let rollback = try harness.run(["self-upgrade", "rollback", "--test"], executable: Harness.binary,
                                       environment: ["AUTODEV_TX": transaction, "AUTODEV_LOCK_FD": "0"])
        #expect(rollback.stderr.contains("Ignored AUTODEV_TX"))
        #expect(rollback.stderr.contains("Recovered"), "\(rollback.stderr)")
        #expect(try harness.current() == old)
    }

    @Test("restart counters that are negative, malformed or from the future neither bypass nor block", arguments: [
        "-100:%now%", "3:1e18", "x:y", "2:nan", "99999999999999999999:%now%",
    ])
    func restartCounter(value: String) throws {
        let harness = try Harness()
        defer { harness.cleanUp() }
        _ = try harness.initialize()
        try #"{"maxRestarts":3}"#.write(toFile: harness.home + "/config.json", atomically: true, encoding: .utf8)
        let forged = value.replacingOccurrences(of: "%now%", with: "\(Date().timeIntervalSince1970)")
        let result = try harness.run(["self-upgrade", "--from-binary", try harness.candidate()], environment: ["AUTODEV_RESTARTS": forged])
        #expect(result.status == 0, "\(value): \(result.stderr)")
    }

    @Test("the loop guard refuses an upgrade at the limit but never a rollback")
    func loopGuardAndRollback() throws {
        let harness = try Harness()
        defer { harness.cleanUp() }
        _ = try homeWithHistory(harness)
        let atLimit = "5:\(Date().timeIntervalSince1970)"
        let upgrade = try harness.run(["self-upgrade", "--from-binary", try harness.candidate()], environment: ["AUTODEV_RESTARTS": atLimit])
        #expect(upgrade.status == 1)
        #expect(upgrade.stderr.contains("restart-loop guard"))
        let rollback = try harness.run(["self-upgrade", "rollback", "--yes"], environment: ["AUTODEV_RESTARTS": atLimit])
        #expect(rollback.status == 0, "\(rollback.stderr)")
    }
}

@Suite("The home's own files are never followed through a planted link")
struct PlantedLinkTests {
    @Test("a lock, journal, state, logs or staging link is refused and its target left alone", arguments: [
        "lock", "state/autodev.json", "logs", "staging", "state",
    ])
    func planted(name: String) throws {
        let harness = try Harness()
        defer { harness.cleanUp() }
        _ = try homeWithHistory(harness)
        let victim = harness.root.path + "/victim"
        try FileManager.default.createDirectory(atPath: victim + "-dir", withIntermediateDirectories: true)
        try "precious\n".write(toFile: victim, atomically: false, encoding: .utf8)
        let path = harness.home + "/" + name
        try? FileManager.default.removeItem(atPath: path)
        let isDirectory = ["logs", "staging", "state"].contains(name)
        try FileManager.default.createSymbolicLink(atPath: path, withDestinationPath: isDirectory ? victim + "-dir" : victim)
        // The state file is read only by the version that confirms itself, and the lock only by
        // commands that change the home: status touches neither.
        let commands = name == "state/autodev.json" || name == "lock" ? [["self-upgrade", "--from-binary", try harness.candidate()]]
            : [["self-upgrade", "status"], ["self-upgrade", "--from-binary", try harness.candidate()], ["self-upgrade", "rollback", "--yes"]]
        for command in commands {
            let result = try harness.run(command, executable: Harness.binary)
            #expect(result.status == 1, "\(name): \(command): \(result.stdout) \(result.stderr)")
            #expect(result.stderr.contains("link"), "\(name): \(result.stderr)")
        }
        #expect(try String(contentsOfFile: victim, encoding: .utf8) == "precious\n")
        #expect(try FileManager.default.contentsOfDirectory(atPath: victim + "-dir").isEmpty)
    }

    @Test("rollback --test takes the lock like every other command")
    func rehearsalLocks() throws {
        let harness = try Harness()
        defer { harness.cleanUp() }
        _ = try homeWithHistory(harness)
        let holder = Process()
        holder.executableURL = URL(fileURLWithPath: "/usr/bin/flock")
        holder.arguments = [harness.home + "/lock", "cat"]
        let input = Pipe()
        holder.standardInput = input
        let ready = Pipe()
        holder.standardOutput = ready
        try holder.run()
        defer { try? input.fileHandleForWriting.close(); holder.waitUntilExit() }
        // The holder echoes this line once it holds the lock.
        input.fileHandleForWriting.write(Data("held\n".utf8))
        _ = ready.fileHandleForReading.availableData
        let result = try harness.run(["self-upgrade", "rollback", "--test"])
        #expect(result.status == 1)
        #expect(result.stderr.contains("holds the lock"), "\(result.stderr)")
    }
}

@Suite("Smaller edges")
struct EdgeTests {
    @Test("a non-UTF-8 path is refused, not rewritten")
    func nonUTF8() throws {
        let harness = try Harness()
        defer { harness.cleanUp() }
        let result = try harness.run(["-c", "exec \"$1\" init --home \"$(printf '%s/x\\377' \"$2\")\"", "sh", Harness.binary, harness.root.path],
                                     executable: "/bin/sh")
        #expect(result.status == 64)
        #expect(result.stderr.contains("not valid UTF-8"), "\(result.stderr)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: harness.root.path).filter { $0.hasPrefix("x") }.isEmpty)
    }

    @Test("--timeout rejects inf and nan; an empty option value is a usage error", arguments: [
        ["self-upgrade", "--dry-run", "--from-binary", "/bin/true", "--timeout", "inf"],
        ["self-upgrade", "--dry-run", "--from-binary", "/bin/true", "--timeout", "nan"],
        ["self-upgrade", "--from-binary="],
        ["self-upgrade", "rollback", "--to="],
    ])
    func usage(arguments: [String]) throws {
        let harness = try Harness()
        defer { harness.cleanUp() }
        _ = try harness.initialize()
        let before = try harness.snapshot()
        let result = try harness.run(arguments)
        #expect(result.status == 64, "\(arguments): \(result.stderr)")
        #expect(try harness.snapshot() == before)
    }

    @Test("a failed undo during an abort is reported, not swallowed")
    func failedUndo() throws {
        let harness = try Harness()
        defer { harness.cleanUp() }
        _ = try harness.initialize()
        let result = try harness.run(["self-upgrade", "--from-binary", try harness.candidate()],
                                     environment: ["AUTODEV_FAILPOINT": "fail-before-swap,fail-undo-stage"])
        #expect(result.status == 1)
        #expect(result.stderr.contains("undo of stage failed"), "\(result.stderr)")
    }

    @Test("an aborted upgrade to the previous version's bytes repairs that version's directory, and its undo does not remove it")
    func abortKeepsPrevious() throws {
        let harness = try Harness()
        defer { harness.cleanUp() }
        _ = try harness.initialize()
        let first = try harness.current()
        #expect(try harness.run(["self-upgrade", "--from-binary", try harness.candidate(), "--yes"]).status == 0)
        // The previous version's binary lost (a removal interrupted, a disk): its bytes offered again.
        let previous = harness.home + "/versions/" + first + "/autodev"
        let again = harness.root.path + "/first-again"
        try FileManager.default.copyItem(atPath: previous, toPath: again)
        try FileManager.default.removeItem(atPath: previous)
        let result = try harness.run(["self-upgrade", "--from-binary", again, "--yes"], environment: ["AUTODEV_FAILPOINT": "fail-before-swap"])
        #expect(result.status == 1, "\(result.stderr)")
        #expect(FileManager.default.fileExists(atPath: previous), "the undo removed the version the journal's history names")
        let doctor = try harness.run(["doctor"])
        #expect(doctor.status == 0, "\(doctor.stdout) \(doctor.stderr)")
    }

    @Test("run with standard input, output and error closed, an upgrade succeeds and writes nothing into the lock", arguments: ["<&- >&- 2>&-", "<&- >/dev/null 2>&-", "</dev/null >/dev/null 2>&-"])
    func closedStandardDescriptors(closing: String) throws {
        let harness = try Harness()
        defer { harness.cleanUp() }
        _ = try harness.initialize()
        let candidate = try harness.candidate()
        let result = try harness.run(["-c", "exec \(closing); exec \"$0\" self-upgrade --from-binary \"$1\" --yes", harness.home + "/bin/autodev", candidate],
                                     executable: "/bin/sh")
        #expect(result.status == 0, "\(closing): \(result.stderr)")
        let digest = SHA256.hash(data: Array(try Data(contentsOf: URL(fileURLWithPath: candidate)))).hex
        #expect(try harness.current() == digest, "\(closing)")
        let lock = try String(contentsOfFile: harness.home + "/lock", encoding: .utf8)
        #expect(Int(lock) != nil, "\(closing): the lock holds \(lock.debugDescription)")
    }

    @Test("fields of the state the candidate does not keep are reported by --verify-state")
    func droppedStateFields() throws {
        let harness = try Harness()
        defer { harness.cleanUp() }
        _ = try harness.initialize()
        let path = harness.home + "/state/autodev.json"
        let text = try String(contentsOfFile: path, encoding: .utf8)
        let parts = text.split(separator: "\n", maxSplits: 1)
        try (parts[0] + "\n" + parts[1].replacingOccurrences(of: "{", with: #"{"fromTheFuture":{"x":1},"#, options: [], range: parts[1].range(of: "{")) + "\n")
            .write(toFile: path, atomically: false, encoding: .utf8)
        let result = try harness.run(["self-upgrade", "--dry-run", "--verify-state", "--from-binary", try harness.candidate()])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("would be dropped by its first save): fromTheFuture"), "\(result.stdout)")
    }
}

/// CRC-32 (IEEE), as the journal's lines carry it.
private func crc32(_ bytes: [UInt8]) -> UInt32 {
    var crc: UInt32 = 0xFFFF_FFFF
    for byte in bytes {
        crc ^= UInt32(byte)
        for _ in 0..<8 { crc = (crc >> 1) ^ (0xEDB8_8320 & (0 &- (crc & 1))) }
    }
    return ~crc
}

@Suite("current and the journal disagree: nothing moves current back behind the user's back")
struct CurrentLinkTests {
    @Test("a current that names no stored version is put back where the journal says, never to the newest stored version")
    func danglingCurrent() throws {
        let harness = try Harness()
        defer { harness.cleanUp() }
        let ids = try homeWithHistory(harness)
        #expect(try harness.run(["self-upgrade", "rollback", "--yes"]).status == 0)
        #expect(try harness.current() == ids[1])
        try FileManager.default.removeItem(atPath: harness.home + "/current")
        try FileManager.default.createSymbolicLink(atPath: harness.home + "/current", withDestinationPath: "versions/" + String(repeating: "a", count: 64))
        let status = try harness.run(["self-upgrade", "status"], executable: Harness.binary)
        #expect(status.status == 1, "\(status.stdout)")
        #expect(status.stdout.contains("but the journal says \(ids[1].prefix(12))"), "\(status.stdout)")
        let repair = try harness.run(["self-upgrade", "repair"], executable: Harness.binary)
        #expect(repair.status == 0, "\(repair.stderr)")
        #expect(repair.stdout.contains("now names \(ids[1].prefix(12)), as the journal says"), "\(repair.stdout)")
        #expect(try harness.current() == ids[1])
    }

    @Test("a regular file at current is refused with the way out; repair keeps it aside and follows the journal")
    func fileAtCurrent() throws {
        let harness = try Harness()
        defer { harness.cleanUp() }
        let ids = try homeWithHistory(harness)
        try FileManager.default.removeItem(atPath: harness.home + "/current")
        try "not a link".write(toFile: harness.home + "/current", atomically: true, encoding: .utf8)
        let status = try harness.run(["self-upgrade", "status"], executable: Harness.binary)
        #expect(status.status == 1)
        #expect(status.stderr.contains("which is not a link to a version in the store"), "\(status.stderr)")
        #expect(status.stderr.contains("autodev self-upgrade repair --home"), "\(status.stderr)")
        let repair = try harness.run(["self-upgrade", "repair", "--home", harness.home], executable: Harness.binary)
        #expect(repair.status == 0, "\(repair.stderr)")
        #expect(repair.stdout.contains("what was at current is kept as"), "\(repair.stdout)")
        #expect(try harness.current() == ids.last!)
        let kept = try FileManager.default.contentsOfDirectory(atPath: harness.home).filter { $0.hasPrefix("current.damaged-") }
        #expect(kept.count == 1)

        // Again, with files an earlier repair set aside under the names this one would take (its
        // second and the next few): each is kept as it was, and this one takes a free name.
        try FileManager.default.removeItem(atPath: harness.home + "/current")
        try "again".write(toFile: harness.home + "/current", atomically: true, encoding: .utf8)
        let format = DateFormatter()
        format.locale = Locale(identifier: "en_US_POSIX")
        format.timeZone = TimeZone(identifier: "UTC")
        format.dateFormat = "yyyyMMdd'T'HHmmss"
        let planted = (0..<5).map { harness.home + "/current.damaged-" + format.string(from: Date().addingTimeInterval(Double($0))) }
        for path in planted where !FileManager.default.fileExists(atPath: path) { try "earlier".write(toFile: path, atomically: true, encoding: .utf8) }
        let second = try harness.run(["self-upgrade", "repair", "--home", harness.home], executable: Harness.binary)
        #expect(second.status == 0, "\(second.stderr)")
        for path in planted where !kept.contains(URL(fileURLWithPath: path).lastPathComponent) {
            #expect(try String(contentsOfFile: path, encoding: .utf8) == "earlier", "\(path)")
        }
        let keptNow = try FileManager.default.contentsOfDirectory(atPath: harness.home).filter { $0.hasPrefix("current.damaged-") }
        #expect(try keptNow.contains { try String(contentsOfFile: harness.home + "/" + $0, encoding: .utf8) == "again" }, "\(keptNow)")
        #expect(try harness.current() == ids.last!)
    }

    @Test("a journal cut before its last commit: status and history only read, show the unfinished transaction, and move nothing")
    func readingCommandsDoNotRecover() throws {
        let harness = try Harness()
        defer { harness.cleanUp() }
        _ = try homeWithHistory(harness)
        let lines = try harness.journalLines()
        try (lines.dropLast().joined(separator: "\n") + "\n").write(toFile: harness.home + "/journal", atomically: false, encoding: .utf8)
        // As a kill before the commit leaves it: the tail names the last record that was written.
        let last = try #require(lines.dropLast().last?.firstMatch(of: /"sequence":([0-9]+)/)?.1)
        try (String(repeating: "0", count: 20 - last.count) + last + "\n").write(toFile: harness.home + "/journal.tail", atomically: false, encoding: .utf8)
        let before = try harness.snapshot()
        let status = try harness.run(["self-upgrade", "status"], executable: Harness.binary)
        #expect(status.stdout.contains("not finished"), "\(status.stdout)")
        #expect(try harness.run(["self-upgrade", "history"], executable: Harness.binary).status == 0)
        #expect(try harness.snapshot() == before, "a reading command changed the home")
        #expect(try harness.journalLines() == Array(lines.dropLast()))
    }
}

@Suite("A shipped release has no test hooks")
struct ShippedBinaryTests {
    /// The release binary exactly as it ships (scripts/test sets it; the other tests drive a build
    /// with the crash-test hooks compiled in).
    static let shipped = ProcessInfo.processInfo.environment["AUTODEV_SHIPPED_BINARY"].flatMap { $0.isEmpty ? nil : $0 }

    @Test("AUTODEV_FAILPOINT in its environment neither kills nor fails it",
          .enabled(if: shipped != nil, "needs AUTODEV_SHIPPED_BINARY, the shipped release build (scripts/test sets it)"))
    func failPointIgnored() throws {
        let shipped = try #require(Self.shipped)
        let harness = try Harness()
        defer { harness.cleanUp() }
        #expect(try harness.run(["init", "--home", harness.home], executable: shipped).status == 0)
        let old = try harness.current()
        // The same points kill the hooked build (CrashTests); the shipped one goes through.
        let result = try harness.run(["self-upgrade", "--from-binary", try harness.candidate(), "--yes"],
                                     environment: ["AUTODEV_FAILPOINT": "kill-before-stage,fail-before-verify,kill-before-swap"])
        #expect(result.status == 0, "\(result.status): \(result.stderr)")
        #expect(try harness.current() != old)
    }
}

@Suite("Libraries are not looked up beside a stored version")
struct LibrarySearchTests {
    @Test("""
        a libc or libm planted in a stored version's directory is never loaded: the binary has no RUNPATH, \
        so the loader searches only the system's directories (the shipped build and the one the tests drive)
        """)
    func plantedLibrary() throws {
        let binaries = [Harness.binary] + (ShippedBinaryTests.shipped.map { [$0] } ?? [])
        for binary in binaries {
            let harness = try Harness()
            defer { harness.cleanUp() }
            #expect(try harness.run(["init", "--home", harness.home], executable: binary).status == 0)
            let version = harness.home + "/" + (try FileManager.default.destinationOfSymbolicLink(atPath: harness.home + "/current"))
            for name in ["libc.so.6", "libm.so.6"] {
                try Data("not a library, planted beside the binary".utf8).write(to: URL(fileURLWithPath: version + "/" + name))
            }
            let result = try harness.run(["--version"], executable: version + "/autodev", environment: ["LD_DEBUG": "libs"])
            #expect(result.status == 0, "\(binary): \(result.stderr)")
            #expect(!result.stderr.contains("RUNPATH") && !result.stderr.contains("RPATH") && !result.stderr.contains(version + "/lib"),
                    "\(binary) searches for libraries beside itself: \(result.stderr)")
        }
    }
}

extension LibrarySearchTests {
    @Test("a swift-backtrace planted beside the binary, in the home or in the working directory is never run when autodev crashes")
    func plantedBacktracer() throws {
        let harness = try Harness()
        defer { harness.cleanUp() }
        #expect(try harness.run(["init", "--home", harness.home], executable: Harness.binary).status == 0)
        let version = harness.home + "/" + (try FileManager.default.destinationOfSymbolicLink(atPath: harness.home + "/current"))
        let marker = harness.root.appendingPathComponent("backtracer-ran").path
        let directory = harness.root.appendingPathComponent("working").path
        for place in [harness.home + "/bin", harness.home + "/libexec/swift/linux", version, version + "/libexec/swift/linux",
                      directory, directory + "/libexec/swift/linux"] {
            try FileManager.default.createDirectory(atPath: place, withIntermediateDirectories: true)
            try "#!/bin/sh\necho \"$0\" >> \(marker)\n".write(toFile: place + "/swift-backtrace", atomically: true, encoding: .utf8)
            #expect(chmod(place + "/swift-backtrace", 0o755) == 0)
        }
        // Started by name through PATH too, so that the runtime would look in the working directory.
        for (executable, path) in [(version + "/autodev", nil), (harness.entry, nil), ("autodev", harness.home + "/bin")] as [(String, String?)] {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/bin/sh")
            process.arguments = ["-c", "exec \"$0\" digest -", executable]
            process.currentDirectoryURL = URL(fileURLWithPath: directory)
            var environment = harness.environment([:])
            if let path { environment["PATH"] = path + ":" + (environment["PATH"] ?? "/usr/bin:/bin") }
            process.environment = environment
            let input = Pipe()  // never written: autodev waits on it
            process.standardInput = input
            process.standardError = FileHandle.nullDevice
            try process.run()
            let pid = process.processIdentifier
            // The condition: the shell has become autodev, and autodev waits on its input (its
            // `main` has run: the crash signals have their default action). Sent sooner, while the
            // runtime starts, a SIGSEGV finds the runtime's handlers (see docs/architecture.md).
            let started = harness.waitUntil(seconds: 20) {
                ((try? String(contentsOfFile: "/proc/\(pid)/comm", encoding: .utf8)) ?? "").hasPrefix("autodev")
                    && ((try? String(contentsOfFile: "/proc/\(pid)/wchan", encoding: .utf8)) ?? "").contains("pipe_read")
            }
            #expect(started, "\(executable) never started")
            kill(pid, SIGSEGV)
            let ended = Processes.waitUntilEnded(pid, seconds: 20)
            #expect(ended, "\(executable) did not end after SIGSEGV")
            if !ended { kill(pid, SIGKILL) }
            process.waitUntilExit()
            #expect(process.terminationReason == .uncaughtSignal && process.terminationStatus == SIGSEGV,
                    "\(executable): \(process.terminationReason) \(process.terminationStatus)")
            try? input.fileHandleForWriting.close()
        }
        #expect(!FileManager.default.fileExists(atPath: marker), "\((try? String(contentsOfFile: marker, encoding: .utf8)) ?? "")")
    }
}

@Suite("Finding the home")
struct HomeLocatorTests {
    @Test("a FIFO planted as Package.swift beside a Workspace/ above the working directory is passed over, never waited on")
    func plantedManifest() throws {
        let harness = try Harness()
        defer { harness.cleanUp() }
        let top = harness.root.path + "/planted"
        try FileManager.default.createDirectory(atPath: top + "/Workspace", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: top + "/below", withIntermediateDirectories: true)
        #expect(mkfifo(top + "/Package.swift", 0o644) == 0)
        let data = harness.root.path + "/data"
        let running = try harness.start(["self-upgrade", "status"], executable: Harness.binary,
                                        environment: ["AUTODEV_HOME": "", "XDG_DATA_HOME": data], directory: top + "/below")
        let ended = Processes.waitUntilEnded(running.pid, seconds: 20)
        if !ended { kill(running.pid, SIGKILL) }
        let result = running.finish()
        #expect(ended, "autodev waited on the FIFO")
        // Another home is chosen (this repository's Workspace when the binary is built in it, else
        // the data directory's), never the directory with the planted manifest.
        #expect(!(result.stdout + result.stderr).contains(top), "\(result.stdout)\(result.stderr)")
    }
}
