import Foundation
import Testing

@Suite("Upgrade, restart, confirm and roll back with the real binary")
struct UpgradeTests {
    @Test("init adopts the binary and prints the PATH entry")
    func initialize() throws {
        let harness = try Harness()
        defer { harness.cleanUp() }
        let result = try harness.initialize()
        #expect(result.stdout.contains("export PATH=\(harness.home)/bin:\"$PATH\"\n"), "\(result.stdout)")
        let version = try harness.run(["--version"])
        #expect(version.stdout == "0.1.0\n")
        let again = try harness.run(["init", "--home", harness.home], executable: Harness.binary)
        #expect(again.status == 0)
        #expect(again.stdout.contains("already initialized"))
        #expect(try harness.journalLines().count == 1)

        // A home whose name the shell would expand or split is quoted, so the line can be pasted.
        let hostile = harness.root.appendingPathComponent("it's $(touch x) \"home\"").path
        let quoted = try harness.run(["init", "--home", hostile], executable: Harness.binary)
        #expect(quoted.status == 0, "\(quoted.stderr)")
        #expect(quoted.stdout.hasSuffix("  export PATH='\(harness.root.path)/it'\\''s $(touch x) \"home\"/bin':\"$PATH\"\n"), "\(quoted.stdout)")
    }

    @Test("an upgrade execs the new version in the same process, with the same argv and environment")
    func upgradeKeepsProcess() throws {
        let harness = try Harness()
        defer { harness.cleanUp() }
        _ = try harness.initialize()
        let old = try harness.current()
        let candidate = try harness.candidate()
        let arguments = ["self-upgrade", "--from-binary", candidate, "--yes", "--json"]
        let extra = ["AUTODEV_E2E_MARK": "kept across exec"]
        let result = try harness.run(arguments, environment: extra)
        #expect(result.status == 0, "\(result.stderr)")
        let report = try harness.json(result.stdout)
        #expect(report["result"] as? String == "confirmed")
        #expect(report["pid"] as? Int == Int(result.pid))
        #expect(report["arguments"] as? [String] == [harness.entry] + arguments)
        let environment = harness.environment(extra).sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)\n" }.joined()
        #expect(report["environmentSHA256"] as? String == sha256(environment))
        #expect(report["from"] as? String == old)
        let new = try harness.current()
        #expect(new != old)
        #expect(report["to"] as? String == new)

        let status = try harness.json(try harness.run(["self-upgrade", "status", "--json"]).stdout)
        #expect((status["current"] as? [String: Any])?["id"] as? String == new)
        #expect((status["previous"] as? [String: Any])?["id"] as? String == old)
    }

    @Test("the text output names both versions")
    func upgradeText() throws {
        let harness = try Harness()
        defer { harness.cleanUp() }
        _ = try harness.initialize()
        let old = try harness.current()
        let result = try harness.run(["self-upgrade", "--from-binary", try harness.candidate()])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout == "Upgraded 0.1.0 (\(old.prefix(12))) → 0.1.0 (\(try harness.current().prefix(12)))\n")
        #expect(result.stderr.contains("✓ verify"))
    }

    @Test("rollback returns to the previous version and the history tells every change")
    func rollback() throws {
        let harness = try Harness()
        defer { harness.cleanUp() }
        _ = try harness.initialize()
        let first = try harness.current()
        #expect(try harness.run(["self-upgrade", "--from-binary", try harness.candidate()]).status == 0)
        let second = try harness.current()

        let before = try harness.snapshot()
        let rehearsal = try harness.run(["self-upgrade", "rollback", "--test", "--json"])
        #expect(rehearsal.status == 0, "\(rehearsal.stderr)")
        let rehearsed = try harness.json(rehearsal.stdout)
        #expect(rehearsed["target"] as? String == first)
        #expect((rehearsed["estimatedSeconds"] as? Double ?? 0) > 0)
        #expect(try harness.snapshot() == before, "rollback --test changed the home")

        let stateBefore = try String(contentsOfFile: harness.home + "/state/autodev.json", encoding: .utf8)
        let result = try harness.run(["self-upgrade", "rollback", "--yes"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout == "Rolled back 0.1.0 (\(second.prefix(12))) → 0.1.0 (\(first.prefix(12)))\n")
        #expect(try harness.current() == first)

        // Rolling forward again by id prefix (7 digits, as in git).
        let forward = try harness.run(["self-upgrade", "rollback", "--to", String(second.prefix(7))])
        #expect(forward.status == 0, "\(forward.stderr)")
        #expect(try harness.current() == second)

        let history = try JSONSerialization.jsonObject(with: Data(try harness.run(["self-upgrade", "history", "--json"]).stdout.utf8)) as? [[String: Any]]
        #expect(history?.map { $0["via"] as? String } == ["adopt", "upgrade", "rollback", "rollback"])
        #expect(history?.map { $0["id"] as? String } == [first, second, first, second])
        // The upgrade was counted in the state; a rollback between builds of one version writes
        // nothing there (the journal records it, and it costs no fsync).
        let state = try String(contentsOfFile: harness.home + "/state/autodev.json", encoding: .utf8)
        #expect(state.contains("\"upgrades\":1"))
        #expect(state == stateBefore)
    }

    @Test("a step that fails after the swap says the swap was undone")
    func undoneSwapIsSaid() throws {
        let harness = try Harness()
        defer { harness.cleanUp() }
        _ = try harness.initialize()
        let old = try harness.current()
        let result = try harness.run(["self-upgrade", "--from-binary", try harness.candidate(), "--yes"],
                                     environment: ["AUTODEV_FAILPOINT": "fail-before-exec"])
        #expect(result.status == 1)
        let lines = result.stderr.split(separator: "\n").map(String.init)
        let swapped = try #require(lines.firstIndex { $0.hasSuffix("✓ swap") || $0.contains("✓ swap (") }, "\(result.stderr)")
        let undone = try #require(lines.firstIndex { $0.contains("↩ swap undone") }, "\(result.stderr)")
        #expect(swapped < undone)
        #expect(lines.contains { $0.contains("↩ stage undone") }, "\(result.stderr)")
        #expect(try harness.current() == old)
    }

    @Test("when undoing the swap fails, the version current names stays in the store, and the next start finishes the abort")
    func failedUndoKeepsCurrentRunnable() throws {
        let harness = try Harness()
        defer { harness.cleanUp() }
        _ = try harness.initialize()
        let old = try harness.current()
        for points in ["fail-after-swap,fail-undo-swap", "fail-before-exec,fail-undo-swap"] {
            let result = try harness.run(["self-upgrade", "--from-binary", try harness.candidate(), "--yes"], environment: ["AUTODEV_FAILPOINT": points])
            #expect(result.status == 1, "\(points): \(result.stderr)")
            #expect(!result.stderr.contains("↩ stage undone"), "\(points): \(result.stderr)")
            let linked = try harness.current()
            #expect(FileManager.default.isExecutableFile(atPath: harness.home + "/versions/" + linked + "/autodev"), "\(points): current dangles")
            #expect(try harness.run(["--version"]).status == 0, "\(points): bin/autodev does not run")
            // The next command finishes the abort: back at the old version.
            let status = try harness.run(["self-upgrade", "--from-binary", try harness.candidate(suffix: "next"), "--dry-run"])
            #expect(status.status == 0, "\(points): \(status.stderr)")
            #expect(try harness.current() == old, "\(points)")
        }
    }

    @Test("a candidate identical to the current version is refused from its hash, before any verification")
    func identicalCandidate() throws {
        let harness = try Harness()
        defer { harness.cleanUp() }
        _ = try harness.initialize()
        let before = try harness.snapshot()
        let logs = (try? harness.logDirectories()) ?? []
        let result = try harness.run(["self-upgrade", "--from-binary", Harness.binary, "--yes"])
        #expect(result.status == 1)
        #expect(result.stderr.contains("is already the current version"), "\(result.stderr)")
        #expect(!result.stderr.contains("verify"), "\(result.stderr)")
        let newLogs = Set((try? harness.logDirectories()) ?? []).subtracting(logs)
        #expect(newLogs.allSatisfy { !FileManager.default.fileExists(atPath: $0 + "/verify.err") }, "a verification ran: \(newLogs)")
        #expect(try harness.snapshot() == before)
    }

    @Test("a new version that fails its health check after restart is rolled back and the old one runs")
    func failedConfirmation() throws {
        let harness = try Harness()
        defer { harness.cleanUp() }
        _ = try harness.initialize()
        let old = try harness.current()
        let result = try harness.run(["self-upgrade", "--from-binary", try harness.candidate()],
                                     environment: ["AUTODEV_FAILPOINT": "fail-confirm"])
        #expect(result.status == 1)
        #expect(result.stderr.contains("failed its health check after restart"))
        #expect(result.stderr.contains("Rolled back to 0.1.0 (\(old.prefix(12)))"))
        #expect(try harness.current() == old)
        // The abort, then the prune of the version that failed (journaled before it left the store).
        let lines = try harness.journalLines()
        #expect(lines.last { !$0.contains("\"kind\":\"prune\"") }?.contains("\"kind\":\"abort\"") == true)
        #expect(try FileManager.default.contentsOfDirectory(atPath: harness.home + "/versions") == [old])
    }

    @Test("the history keeps N versions and never prunes current or previous")
    func pruning() throws {
        let harness = try Harness()
        defer { harness.cleanUp() }
        #expect(try harness.run(["init", "--home", harness.home, "--keep", "2"], executable: Harness.binary).status == 0)
        var ids: [String] = []
        for index in 0..<3 {
            #expect(try harness.run(["self-upgrade", "--from-binary", try harness.candidate(suffix: "v\(index)")]).status == 0)
            ids.append(try harness.current())
        }
        let stored = try FileManager.default.contentsOfDirectory(atPath: harness.home + "/versions").sorted()
        #expect(stored == ids.suffix(2).sorted())
        #expect(try harness.journalLines().filter { $0.contains("\"kind\":\"prune\"") }.count == 2)
    }

    @Test("a pruning that fails after the commit is reported as a warning, the upgrade stands, and the next commit prunes")
    func pruningFailureReported() throws {
        let harness = try Harness()
        defer { harness.cleanUp() }
        #expect(try harness.run(["init", "--home", harness.home, "--keep", "2"], executable: Harness.binary).status == 0)
        #expect(try harness.run(["self-upgrade", "--from-binary", try harness.candidate(suffix: "v0")]).status == 0)
        let failed = try harness.run(["self-upgrade", "--from-binary", try harness.candidate(suffix: "v1")],
                                     environment: ["AUTODEV_FAILPOINT": "fail-prune-journaled"])
        #expect(failed.status == 0, "\(failed.stderr)")
        #expect(failed.stderr.contains("Warning: pruning after the commit did not finish (old versions or their logs may remain until the next commit): ") && failed.stderr.contains("prune-journaled"),
                "\(failed.stderr)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: harness.home + "/versions").count == 3)
        let json = try harness.run(["self-upgrade", "--from-binary", try harness.candidate(suffix: "v2"), "--json"],
                                   environment: ["AUTODEV_FAILPOINT": "fail-prune-journaled"])
        #expect(json.status == 0, "\(json.stderr)")
        #expect((try harness.json(json.stdout)["pruneFailure"] as? String)?.contains("prune-journaled") == true, "\(json.stdout)")
        let next = try harness.run(["self-upgrade", "--from-binary", try harness.candidate(suffix: "v3")])
        #expect(next.status == 0 && !next.stderr.contains("Warning"), "\(next.stderr)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: harness.home + "/versions").count == 2)
    }

    @Test("--verify-state makes the candidate migrate today's state and prove the round trip")
    func verifyState() throws {
        let harness = try Harness()
        defer { harness.cleanUp() }
        _ = try harness.initialize()
        try "{\"schema\":1}\n{\"rollbacks\":4,\"upgrades\":7}\n".write(toFile: harness.home + "/state/autodev.json", atomically: true, encoding: .utf8)
        let before = try harness.snapshot()
        let result = try harness.run(["self-upgrade", "--from-binary", try harness.candidate(), "--dry-run", "--verify-state", "--json"])
        #expect(result.status == 0, "\(result.stderr)")
        let outcome = try harness.json(result.stdout)
        let state = ((outcome["verification"] as? [String: Any])?["report"] as? [String: Any])?["state"] as? [String: Any]
        #expect(state?["foundSchema"] as? Int == 1)
        #expect(state?["schema"] as? Int == 2)
        #expect(state?["roundTripEqual"] as? Bool == true)
        #expect(try harness.snapshot() == before, "a dry run changed the home")
    }

    @Test("the state copy for --verify-state follows no link out of the state and waits on no FIFO")
    func verifyStateCopiesNoLinks() throws {
        let harness = try Harness()
        defer { harness.cleanUp() }
        _ = try harness.initialize()
        let state = harness.home + "/state"
        try "{\"schema\":1}\n{\"rollbacks\":4,\"upgrades\":7}\n".write(toFile: state + "/autodev.json", atomically: true, encoding: .utf8)
        try FileManager.default.createDirectory(atPath: state + "/kept", withIntermediateDirectories: false)
        try "data".write(toFile: state + "/kept/file", atomically: true, encoding: .utf8)
        try FileManager.default.createSymbolicLink(atPath: state + "/root", withDestinationPath: "/")
        try FileManager.default.createSymbolicLink(atPath: state + "/secret", withDestinationPath: "/etc/hostname")
        try FileManager.default.createSymbolicLink(atPath: state + "/loop", withDestinationPath: ".")
        #expect(mkfifo(state + "/fifo", 0o600) == 0)
        // The copy is where --state-copy says (in the home's staging area).
        let probe = """
            copy=""; previous=""
            for argument in "$@"; do [ "$previous" = --state-copy ] && copy="$argument"; previous="$argument"; done
            [ -n "$copy" ] && echo copy: $(cd "$copy" && find . | sort | tr '\\n' ' ')
            """
        let result = try harness.run(["self-upgrade", "--from-binary", try harness.execScript("lister", probe: probe), "--dry-run", "--verify-state"])
        #expect(result.status == 0, "\(result.stderr)")
        let log = try String(contentsOfFile: try #require(try harness.logDirectories().last) + "/verify.err", encoding: .utf8)
        #expect(log.contains("copy: . ./autodev.json ./kept ./kept/file\n"), "\(log.prefix(2000))")
    }

    @Test("a dry run prints the plan and each step's result, and changes nothing")
    func dryRun() throws {
        let harness = try Harness()
        defer { harness.cleanUp() }
        _ = try harness.initialize()
        let before = try harness.snapshot()
        let result = try harness.run(["self-upgrade", "--from-binary", try harness.candidate(), "--dry-run"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("Plan: preflight → stage → verify → swap → restart → confirm"))
        #expect(result.stdout.contains("verify: ok"))
        #expect(result.stdout.contains("network namespace") || result.stdout.contains("no network namespace"))
        #expect(try harness.snapshot() == before)
        let history = try harness.run(["self-upgrade", "history", "--json"]).stdout
        #expect(try (JSONSerialization.jsonObject(with: Data(history.utf8)) as? [Any])?.count == 1)
    }
}

func sha256(_ text: String) -> String {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/sha256sum")
    let input = Pipe(), output = Pipe()
    process.standardInput = input
    process.standardOutput = output
    try? process.run()
    input.fileHandleForWriting.write(Data(text.utf8))
    try? input.fileHandleForWriting.close()
    let data = output.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return String(String(decoding: data, as: UTF8.self).prefix(64))
}
