import Foundation
import Integrity
import Testing
import TestSupport

/// Builds autodev from a clean clone of this repository, several times: minutes, not seconds.
/// scripts/test runs it on its own after the other tests. Its two tests run side by side: each
/// leaves a core idle much of the time (a release build compiles a chain of modules one by one).
@Suite("Upgrading from source with the agent")
struct SourceUpgradeTests {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path

    /// The tests each build must pass: the storage suite, where a patch below adds a failing test.
    /// The whole unit suite is minutes of work in a debug build, and this test is about the
    /// pipeline, not about the units (scripts/test runs them all beforehand).
    static let tests = ["--test-filter", "StorageTests"]

    /// Writes `name` into `patches` as the diff of `edit` applied to the working copy, then undoes the edit.
    func makePatch(_ name: String, in patches: String, source: String, file: String, _ edit: (String) -> String) throws {
        let path = source + "/" + file
        let original = try String(contentsOfFile: path, encoding: .utf8)
        try edit(original).write(toFile: path, atomically: true, encoding: .utf8)
        let diff = try Harness.git(["diff"], in: source)
        try original.write(toFile: path, atomically: true, encoding: .utf8)
        try diff.write(toFile: patches + "/" + name, atomically: true, encoding: .utf8)
    }

    /// The file holding autodev's version string, and an edit that sets it.
    let versionFile = "Sources/autodev/AutodevState.swift"
    func settingVersion(_ version: String) -> (String) -> String {
        { text in
            text.split(separator: "\n", omittingEmptySubsequences: false).map {
                $0.hasPrefix("let autodevVersion = ") ? "let autodevVersion = \"\(version)\"" : String($0)
            }.joined(separator: "\n")
        }
    }

    @Test("""
        from a clean clone, a scripted proposer's six proposals judged by a fitness command: two better versions run in the same process; \
        one that does not compile (its manifest confined), one whose test fails, one that scores lower are rejected; one that changes nothing in the binary is the running version; \
        --from goes back to the rejected branches' parent; dry run, rollback test and cancellation change nothing; rollback returns; \
        a killed proposal is resumed once; a change to a module's sources is hot reloaded into its running host; \
        then the two builds are published with 'autodev release' and served on loopback: an installation of the older one updates over HTTP in the same process and rolls back
        """)
    func agentFromSource() throws {
        let harness = try Harness()
        defer { harness.cleanUp() }
        let initialized = try harness.run(["init", "--home", harness.home, "--source", Self.repository], executable: Harness.binary)
        #expect(initialized.status == 0, "\(initialized.stderr)")
        let source = harness.home + "/source"
        let originalVersion = try harness.run(["--version"]).stdout
        let patches = harness.root.appendingPathComponent("patches").path
        try FileManager.default.createDirectory(atPath: patches, withIntermediateDirectories: true)

        try makePatch("01-version.patch", in: patches, source: source, file: versionFile, settingVersion("9.9.9"))
        // Does not compile; its manifest tries to write outside the build's caches while swift
        // build and swift test evaluate it (they run confined: it cannot). The broken file is in
        // the top module, so going back to the parent rebuilds that module alone, not every module.
        let escaped = harness.root.appendingPathComponent("written-by-a-proposal's-manifest").path
        try makePatch("02-does-not-compile.patch", in: patches, source: source, file: versionFile) {
            $0 + "\nthis line is not Swift\n"
        }
        try makePatch("02-manifest.patch", in: patches, source: source, file: "Package.swift") {
            // After the tools-version line, which must stay first.
            let lines = $0.split(separator: "\n", maxSplits: 1, omittingEmptySubsequences: false)
            return lines[0] + "\nimport Foundation\n_ = FileManager.default.createFile(atPath: \"\(escaped)\", contents: Data(\"x\".utf8))\n" + lines[1]
        }
        try makePatch("03-test-fails.patch", in: patches, source: source, file: "Tests/StorageTests/StorageTests.swift") {
            $0 + "\n@Suite struct IntroducedByAPatch {\n    @Test func fails() { #expect(1 + 1 == 3, \"introduced by a patch\") }\n}\n"
        }

        // Passes every test and verifies, but scores lower than the version it is made on (9.9.9,
        // which 01 makes: the patch is 01's with its version line as 01 leaves it); 06 scores higher.
        let first = try String(contentsOfFile: patches + "/01-version.patch", encoding: .utf8)
        for (name, version) in [("04-lower-version.patch", "9.9.1"), ("06-higher-version.patch", "9.9.20")] {
            let patch = first.split(separator: "\n", omittingEmptySubsequences: false).map { line in
                line.hasPrefix("-let autodevVersion = ") ? "-let autodevVersion = \"9.9.9\""
                    : line.hasPrefix("+let autodevVersion = ") ? "+let autodevVersion = \"\(version)\"" : String(line)
            }.joined(separator: "\n")
            try patch.write(toFile: patches + "/" + name, atomically: true, encoding: .utf8)
        }
        // A comment: the binary it builds is the running version's own bytes.
        try makePatch("05-comment-only.patch", in: patches, source: source, file: versionFile) { $0 + "\n// A note.\n" }
        // The scripted proposer: proposal N applies the patches numbered N (confined, it reads
        // them where they are); past the last it changes nothing, which ends the run.
        let proposer = harness.root.appendingPathComponent("propose.sh").path
        try """
            #!/bin/sh
            set -e
            number=$(python3 -c 'import json, os; input = json.load(open(os.environ["AUTODEV_PROPOSER_INPUT"])); print(input["accepted"] + input["rejected"] + 1)')
            cd "$AUTODEV_WORKING_COPY"
            for patch in \(patches)/0$number-*.patch; do
                [ -f "$patch" ] && git apply "$patch"
            done
            exit 0
            """.write(toFile: proposer, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: proposer)
        // The fitness command: a score from what the candidate does (the version it reports),
        // kept outside the working copy.
        let fitness = harness.root.appendingPathComponent("fitness.sh").path
        try """
            #!/bin/sh
            set -e
            "$AUTODEV_CANDIDATE" --version | awk -F. '{ printf "{\\"scores\\": {\\"version\\": %d}, \\"better\\": {\\"version\\": \\"higher\\"}}\\n", $1 * 1000000 + $2 * 1000 + $3 }'
            """.write(toFile: fitness, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: fitness)

        let extra = ["AUTODEV_E2E_MARK": "kept across exec"]
        let arguments = ["agent", "--proposer", proposer, "--json", "--fitness", fitness, "--fitness-runs", "1", "--fitness-margin", "0"] + Self.tests
        let result = try harness.run(arguments, environment: extra)
        #expect(result.status == 0, "\(result.stderr)")
        let events = try result.stdout.split(separator: "\n").map { try harness.json(String($0)) }
        let names = (1...6).map { "proposal-\($0)" }
        // 9.9.9 passed its probation: sampled before each of the next five proposals.
        #expect(events.map { $0["event"] as? String } == ["accepted", "rejected", "rejected", "rejected", "rejected", "probation", "accepted", "done"], "\(result.stdout)\n\(result.stderr)")
        #expect(events.map { $0["proposal"] as? String } == Array(names.prefix(5)) + [nil, names[5], nil])
        try #require(events.count == 8)
        #expect(events[5]["number"] as? Int == 1 && events[5]["passed"] as? Int == 5 && events[5]["failure"] == nil, "\(events[5])")
        // One process all along, with the same argv and environment after each exec.
        #expect(Set(events.map { $0["pid"] as? Int }) == [Int(result.pid)])
        #expect(events[0]["restarted"] as? Bool == true && events[6]["restarted"] as? Bool == true)
        let environment = harness.environment(extra).sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)\n" }.joined()
        for event in events where event["event"] as? String != "probation" {
            #expect(event["arguments"] as? [String] == [harness.entry] + arguments)
            #expect(event["environmentSHA256"] as? String == SHA256.hash(data: Array(environment.utf8)).hex)
        }
        #expect((events[1]["reason"] as? String)?.contains("AutodevState.swift") == true, "\(events[1])")
        #expect((events[1]["reason"] as? String)?.contains(": error: ") == true)
        #expect(!FileManager.default.fileExists(atPath: escaped), "a proposal's manifest wrote outside the build's caches")
        #expect((events[2]["reason"] as? String)?.contains("introduced by a patch") == true, "\(events[2])")
        // Judged by its score against 9.9.9's, with the numbers; the comment recognised as the
        // running version before any verification; 9.9.20 judged better.
        #expect((events[3]["reason"] as? String)?.contains("worse than its parent: version 9009009 → 9009001 (-0.000089%, worse)") == true, "\(events[3])")
        let judged = try #require(events[3]["fitness"] as? [String: Any])
        #expect(judged["accepted"] as? Bool == false)
        #expect((events[0]["fitness"] as? [String: Any])?["accepted"] as? Bool == true, "\(events[0])")
        #expect((events[4]["reason"] as? String)?.contains("is already the current version") == true, "\(events[4])")
        #expect((events[6]["fitness"] as? [String: Any])?["accepted"] as? Bool == true, "\(events[6])")
        #expect(events[7]["version"] as? String == "9.9.20")
        #expect(try harness.run(["--version"]).stdout == "9.9.20\n")
        // The archive: everything hangs under 9.9.9, which hangs under the root.
        let archive = try harness.json(try harness.run(["agent", "archive", "--json"]).stdout)
        let nodes = try #require(archive["nodes"] as? [[String: Any]])
        #expect(nodes.map { $0["parent"] as? Int } == [0, 1, 1, 1, 1, 1], "\(archive)")
        #expect(nodes.map { $0["outcome"] as? String } == ["accepted", "rejected", "rejected", "rejected", "rejected", "accepted"], "\(archive)")
        #expect(archive["head"] as? Int == 6)
        let tree = try harness.run(["agent", "archive"])
        #expect(tree.stdout.contains("└─ #1 accepted proposal-1 → 9.9.9"), "\(tree.stdout)")
        #expect(tree.stdout.contains("(probation passed: 5 sample(s)"), "\(tree.stdout)")
        #expect(tree.stdout.contains("#4 rejected proposal-4: version 9009009 → 9009001"), "\(tree.stdout)")
        #expect(tree.stdout.contains("#6 accepted proposal-6 → 9.9.20"), "\(tree.stdout)")
        #expect(try Harness.git(["log", "-2", "--format=%s"], in: source) == "agent: proposal-6\nagent: proposal-1\n")
        #expect(try Harness.git(["status", "--porcelain"], in: source).isEmpty)
        let status = try harness.json(try harness.run(["agent", "status", "--json"]).stdout)
        #expect((status["processed"] as? [Any])?.count == 6)
        #expect(status["inFlight"] == nil)

        // Back to #1, the parent of the rejected branches: its commit is checked out and the
        // next proposals are made on it (the proposer has none left: nothing is built).
        let resumedFrom = try harness.run(["agent", "--from", "1", "--proposer", proposer, "--json"] + Self.tests)
        #expect(resumedFrom.status == 0, "\(resumedFrom.stderr)")
        #expect(try Harness.git(["rev-parse", "HEAD"], in: source) == (nodes[0]["commit"] as? String ?? "?") + "\n", "\(nodes[0])")
        #expect(try Harness.git(["log", "-1", "--format=%s"], in: source) == "agent: proposal-1\n")
        #expect(try harness.json(try harness.run(["agent", "archive", "--json"]).stdout)["head"] as? Int == 1)

        // Nothing left to do: a second run processes nothing twice.
        let again = try harness.run(arguments)
        #expect(again.stdout.split(separator: "\n").count == 1, "\(again.stdout)")
        #expect((try harness.json(try harness.run(["agent", "status", "--json"]).stdout)["processed"] as? [Any])?.count == 6)

        // The user's commands on a source candidate, confined as the agent's builds (their caches
        // are warm now): a dry run builds, tests and verifies with the state's round trip, a
        // rollback rehearsal; both change nothing.
        let before = try harness.snapshot()
        let journalBefore = try harness.journalLines().count
        let dryRun = try harness.run(["self-upgrade", "--dry-run", "--verify-state", "--confined"] + Self.tests)
        #expect(dryRun.status == 0, "\(dryRun.stderr)")
        #expect(dryRun.stdout.contains("Plan: preflight → build → test → stage → verify → swap → restart → confirm"), "\(dryRun.stdout)")
        #expect(dryRun.stdout.contains("  test: ok"))
        #expect(dryRun.stdout.contains("round trip equal"))
        let rehearsal = try harness.run(["self-upgrade", "rollback", "--test"])
        #expect(rehearsal.status == 0, "\(rehearsal.stderr)")
        #expect(rehearsal.stdout.contains("Nothing was changed"), "\(rehearsal.stdout)")
        #expect(try harness.snapshot() == before)

        // SIGTERM in the middle of the build (the top module's whole-module compile and the
        // link take long enough; a change lower down would make the next build rebuild every
        // module above it): the tools are stopped, everything is undone, and the journal says why.
        let touched = source + "/" + versionFile
        let original = try String(contentsOfFile: touched, encoding: .utf8)
        try (original + "\npublic let touchedByTheCancellationTest = 1\n").write(toFile: touched, atomically: true, encoding: .utf8)
        let cancelled = try harness.run(["self-upgrade", "--yes", "--confined"] + Self.tests, killAfter: 3, signal: SIGTERM)
        // The agent will not work on a working copy with changes a revert would lose.
        let dirty = try harness.run(["agent", "--once", "--patches", patches] + Self.tests)
        #expect(dirty.status == 1)
        #expect(dirty.stderr.contains("has uncommitted changes (\(versionFile))"), "\(dirty.stderr)")
        try original.write(toFile: touched, atomically: true, encoding: .utf8)
        #expect(cancelled.status != 0)
        #expect(cancelled.stderr.contains("Cancelled"), "\(cancelled.stderr)")
        #expect(try harness.snapshot() == before)
        let records = try harness.journalLines().dropFirst(journalBefore)
        let abort = try #require(records.last.map { try harness.json(String($0.drop { $0 != " " }.dropFirst())) })
        #expect(abort["kind"] as? String == "abort", "\(records)")
        #expect((abort["reason"] as? String)?.contains("Cancelled") == true, "\(abort)")
        #expect(Processes.waitUntilGone(commandLineContaining: harness.home + "/build", seconds: 2).isEmpty,
                "the build tools outlived the cancellation")

        // Back to the version before 9.9.20.
        let rollback = try harness.run(["self-upgrade", "rollback", "--yes"])
        #expect(rollback.status == 0, "\(rollback.stderr)")
        #expect(try harness.run(["--version"]).stdout == "9.9.9\n")

        // SIGKILL in the middle of a proposal's build (the top module's whole-module compile and
        // the static link of autodev take several times the 4 s): the next run takes it up again
        // and processes it once (one commit, one entry in the memory).
        let more = harness.root.appendingPathComponent("more").path
        try FileManager.default.createDirectory(atPath: more, withIntermediateDirectories: true)
        try makePatch("04-version.patch", in: more, source: source, file: versionFile, settingVersion("9.9.10"))
        let killed = try harness.run(["agent", "--patches", more] + Self.tests, killAfter: 4)
        #expect(killed.status == SIGKILL, "\(killed.stderr)")
        let pending = try harness.json(try harness.run(["agent", "status", "--json"]).stdout)
        #expect((pending["inFlight"] as? [String: Any])?["name"] as? String == "04-version.patch", "\(pending)")
        let resumed = try harness.run(["agent", "--patches", more, "--json"] + Self.tests)
        #expect(resumed.status == 0, "\(resumed.stderr)")
        let resumedEvents = try resumed.stdout.split(separator: "\n").map { try harness.json(String($0)) }
        #expect(resumedEvents.map { $0["event"] as? String } == ["accepted", "done"], "\(resumed.stdout)\n\(resumed.stderr)")
        #expect(resumedEvents.first?["proposal"] as? String == "04-version.patch")
        #expect(try harness.run(["--version"]).stdout == "9.9.10\n")
        #expect(try Harness.git(["log", "-2", "--format=%s"], in: source) == "agent: 04-version.patch\nagent: proposal-1\n")

        let memory = try harness.json(try harness.run(["agent", "status", "--json"]).stdout)
        let processed = (memory["processed"] as? [[String: Any]])?.compactMap { $0["name"] as? String }
        #expect(processed == names + ["04-version.patch"], "\(memory)")
        // Made on #1, where --from left the head.
        #expect((memory["processed"] as? [[String: Any]])?.last?["parent"] as? Int == 1, "\(memory)")

        // A proposal that changes only a module's sources is built, tested in the warm test cache
        // and hot reloaded into the running module host: the host keeps its pid and serves the
        // new version; autodev itself is not upgraded and the agent does not exec.
        let host = try RunningServer(harness: harness, executable: harness.entry, arguments: ["modules", "serve", "--home", harness.home])
        defer { host.stop() }
        _ = try host.waitForLine(containing: "serving counter@2")
        let modulePatches = harness.root.appendingPathComponent("module").path
        try FileManager.default.createDirectory(atPath: modulePatches, withIntermediateDirectories: true)
        try makePatch("06-counter.patch", in: modulePatches, source: source, file: "Sources/Examples/CounterModule/Counter.swift") {
            $0.replacingOccurrences(of: "/// The example stateful module: named counters.",
                                    with: "/// The example stateful module: named counters, each a total.")
        }
        let moduleRun = try harness.run(["agent", "--patches", modulePatches, "--json"])
        #expect(moduleRun.status == 0, "\(moduleRun.stderr)")
        let moduleEvents = try moduleRun.stdout.split(separator: "\n").map { try harness.json(String($0)) }
        #expect(moduleEvents.map { $0["event"] as? String } == ["accepted", "done"], "\(moduleRun.stdout)\n\(moduleRun.stderr)")
        #expect((moduleEvents.first?["version"] as? String)?.hasPrefix("module counter@2 hot reloaded in ") == true, "\(moduleEvents)")
        #expect(moduleEvents.first?["restarted"] as? Bool == false)
        #expect(host.process.isRunning, "the module host ended: \((try? host.lines()) ?? [])")
        let modules = try harness.run(["modules", "list", "--json", "--home", harness.home])
        let counter = try #require((try JSONSerialization.jsonObject(with: Data(modules.stdout.utf8)) as? [[String: Any]])?.first { $0["module"] as? String == "counter" })
        // The version the host runs now is the worker built from the working copy, kept in the store.
        #expect((counter["path"] as? String)?.hasPrefix(harness.home + "/modules/store/") == true, "\(modules.stdout)")
        #expect((counter["history"] as? [[String: Any]])?.last?["event"] as? String == "commit", "\(modules.stdout)")
        #expect(try Harness.git(["log", "-1", "--format=%s"], in: source) == "agent: 06-counter.patch\n")
        #expect(try harness.run(["--version"]).stdout == "9.9.10\n")
        host.stop()

        // The version built from the clean clone (9.9.10) and the one under test, released together.
        let built = try FileManager.default.destinationOfSymbolicLink(atPath: harness.home + "/current")
        try ReleaseScenario.updateOverHTTP(older: Harness.binary, olderVersion: String(originalVersion.dropLast()),
                            newer: harness.home + "/" + built + "/autodev", newerVersion: "9.9.10")
    }
}

extension SourceUpgradeTests {
    /// Starts building `product` stripped, as a release is, in a clean clone of this
    /// repository's HEAD at `directory`.
    func startReproducibleBuild(_ product: String, in directory: String, harness: Harness) throws -> Process {
        _ = try Harness.git(["clone", "--quiet", Self.repository, directory], in: harness.root.path)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["swift", "build", "-c", "release", "--static-swift-stdlib", "--product", product, "-Xlinker", "-s"]
        process.currentDirectoryURL = URL(fileURLWithPath: directory)
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        return process
    }

    /// Waits for the build `startReproducibleBuild` started and normalises its binary with the
    /// binary under test.
    func finishReproducibleBuild(_ process: Process, _ product: String, in directory: String, harness: Harness) throws -> String {
        process.waitUntilExit()
        #expect(process.terminationStatus == 0, "the build of \(product) in \(directory) failed")
        let binary = directory + "/.build/release/" + product
        let normalized = try harness.run(["release", "normalize", binary, "--json"], executable: Harness.binary)
        #expect(normalized.status == 0, "\(normalized.stderr)")
        return try #require(try harness.json(normalized.stdout)["sha256"] as? String)
    }

    @Test("one commit built in two clean clones at different paths gives the same bytes once normalised")
    func reproducibleBuilds() throws {
        let harness = try Harness()
        defer { harness.cleanUp() }
        // Both at once: a release build of a chain of modules keeps about one core busy.
        let directories = [harness.root.appendingPathComponent("a").path,
                           harness.root.appendingPathComponent("another-clone/at/a/longer/path").path]
        var builds: [Process] = []
        defer {
            for build in builds where build.isRunning {
                build.terminate()
                build.waitUntilExit()
            }
        }
        for directory in directories { builds.append(try startReproducibleBuild("EmbeddingExample", in: directory, harness: harness)) }
        let digests = try zip(builds, directories).map { try finishReproducibleBuild($0, "EmbeddingExample", in: $1, harness: harness) }
        #expect(digests[0] == digests[1])
    }
}

extension Harness {
    /// Runs git in `directory` and returns its output.
    static func git(_ arguments: [String], in directory: String) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/git")
        process.arguments = arguments
        process.currentDirectoryURL = URL(fileURLWithPath: directory)
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let output = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return String(decoding: output, as: UTF8.self)
    }
}
