import Agent
import Foundation
import Integrity
import Platform
import SelfUpgrade
import Storage
import Synchronization
import Testing

/// The fitness gate with real confined runs of a real evaluator script on real candidate
/// programs; only the build is stood in for: a proposal's "binary" is a script printing the
/// number in the working copy's `speed.txt` (or sleeping, or printing garbage), so each score
/// comes from the candidate's behaviour, not from the proposal's text.
@Suite("The fitness gate")
struct FitnessTests {
    /// A fixture with `speed.txt` and a test file, an evaluator outside the working copy, and the
    /// root version's program.
    struct Gate {
        let fixture: Fixture
        let evaluator: String
        let candidates: String
        let upgrader: Upgrader

        init() throws {
            fixture = try Fixture()
            try fixture.write("speed.txt", "10\n")
            try FileManager.default.createDirectory(atPath: fixture.source + "/Tests", withIntermediateDirectories: true)
            try fixture.write("Tests/checks.swift", "#expect(speed > 0)\n#expect(speed < 100)\n")
            try fixture.git(["add", "-A"])
            try fixture.git(["commit", "--quiet", "-m", "speed"])
            candidates = fixture.root + "/candidates"
            try FileManager.default.createDirectory(atPath: candidates, withIntermediateDirectories: true)
            evaluator = fixture.root + "/evaluator/fitness.sh"
            try FileManager.default.createDirectory(atPath: fixture.root + "/evaluator", withIntermediateDirectories: true)
            try Self.writeScript(evaluator, """
                set -e
                speed=$("$AUTODEV_CANDIDATE")
                printf '{"scores": {"speed": %s, "size": 100}, "better": {"speed": "higher", "size": "lower"}}\\n' "$speed"
                """)
            upgrader = try Upgrader(home: fixture.home, program: ProgramIdentity(name: "tool", version: "1.0.0", protocolVersion: 1))
            let root = try program(named: "root", speedFile: fixture.source + "/speed.txt")
            let stored = fixture.home.root + "/versions/" + Self.rootID
            try FileManager.default.createDirectory(atPath: stored, withIntermediateDirectories: true)
            try FileManager.default.copyItem(atPath: root, toPath: stored + "/autodev")
        }

        static func writeScript(_ path: String, _ body: String) throws {
            try ("#!/bin/sh\n" + body + "\n").write(toFile: path, atomically: true, encoding: .utf8)
            chmod(path, 0o755)
        }

        /// A candidate program made from the working copy's `speed.txt` as it is now.
        func program(named name: String, speedFile: String) throws -> String {
            let speed = try String(contentsOfFile: speedFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
            let path = candidates + "/" + name
            let body = switch speed {
            case "hang": "sleep 60"
            case "garbage": "echo 'not a number'"
            default: "[ -e '\(failFlag)' ] && exit 3\necho \(speed)"
            }
            try Self.writeScript(path, body)
            return path
        }

        /// While this file exists, every candidate program fails (beside the fitness command: a
        /// confined run sees the command's and the binary's own directories, not the rest of the
        /// temporary directory).
        var failFlag: String { fixture.root + "/evaluator/fail-now" }

        var gateEvaluator: FitnessEvaluator { FitnessEvaluator(command: evaluator, runs: 3, margin: 0.02, timeoutSeconds: 5) }

        func gate() throws -> FitnessGate {
            FitnessGate(evaluator: gateEvaluator, pin: try FitnessPin(gateEvaluator, outside: fixture.source), workingCopy: fixture.source, upgrader: upgrader)
        }

        /// An upgrade that "builds" the working copy into a program, hands it to the acceptance
        /// judgement against the current head's program, and gets as far as the exec.
        func upgrade() -> ProposalUpgrade {
            let fixture = self.fixture, gate = self
            return ProposalUpgrade(run: { hooks in
                let name = try fixture.subject().replacingOccurrences(of: "agent: ", with: "")
                let binary = try gate.program(named: name, speedFile: fixture.source + "/speed.txt")
                let digest = SHA256.hash(data: Array(name.utf8)).hex
                let stored = fixture.home.root + "/versions/" + digest
                try FileManager.default.createDirectory(atPath: stored, withIntermediateDirectories: true)
                try? FileManager.default.removeItem(atPath: stored + "/autodev")
                try FileManager.default.copyItem(atPath: binary, toPath: stored + "/autodev")
                let current = try FileManager.default.destinationOfSymbolicLink(atPath: gate.candidates + "/current")
                let candidate = Upgrader.Candidate(binary: binary, id: VersionID(hex: digest)!, version: "1.0.0", current: nil,
                                                   currentBinary: current, logDirectory: fixture.home.logs + "/fitness")
                if let acceptance = hooks.acceptance { _ = try acceptance(candidate) }
                try hooks.beforeRestart()
            })
        }

        /// Makes `name`'s program the running one (what the exec of an accepted version does).
        func makeCurrent(_ name: String) throws {
            try? FileManager.default.removeItem(atPath: candidates + "/current")
            try FileManager.default.createSymbolicLink(atPath: candidates + "/current", withDestinationPath: candidates + "/" + name)
        }

        /// The root version's identifier: its program is stored where the home keeps versions.
        static let rootID = String(repeating: "0", count: 63) + "1"

        func loop(events: @escaping (AgentEvent) -> Void = { _ in }) throws -> AgentLoop {
            var loop = fixture.loop(upgrade: upgrade(), events: events)
            loop.fitness = try gate()
            loop.running = (Self.rootID, "1.0.0")
            return loop
        }

        /// Writes a patch turning `speed.txt` from `old` to `new`.
        func speedPatch(_ name: String, from old: String, to new: String) throws {
            let diff = "diff --git a/speed.txt b/speed.txt\n--- a/speed.txt\n+++ b/speed.txt\n@@ -1 +1 @@\n-\(old)\n+\(new)\n"
            try diff.write(toFile: fixture.patches + "/" + name, atomically: true, encoding: .utf8)
        }
    }

    @Test("faster is accepted, slower, garbage, a hang and weakened tests are rejected with their numbers or reasons; the archive is a tree")
    func gateDecisions() throws {
        let gate = try Gate()
        defer { gate.fixture.cleanUp() }
        try gate.makeCurrent("root")
        try gate.speedPatch("01-faster.patch", from: "10", to: "12")
        try gate.speedPatch("02-slower.patch", from: "12", to: "11")
        try gate.speedPatch("03-garbage.patch", from: "12", to: "garbage")
        try gate.speedPatch("04-hang.patch", from: "12", to: "hang")
        // Weakening the tests the gate relies on: one assertion deleted, and a better score.
        try """
            diff --git a/Tests/checks.swift b/Tests/checks.swift
            --- a/Tests/checks.swift
            +++ b/Tests/checks.swift
            @@ -1,2 +1 @@
             #expect(speed > 0)
            -#expect(speed < 100)
            diff --git a/speed.txt b/speed.txt
            --- a/speed.txt
            +++ b/speed.txt
            @@ -1 +1 @@
            -12
            +50

            """.write(toFile: gate.fixture.patches + "/05-weaker-tests.patch", atomically: true, encoding: .utf8)

        // 01 is judged better and reaches the exec, with its numbers saved for the new version.
        #expect(try gate.loop().run(after: nil) == .upgradeReturned)
        let inFlight = try #require(try gate.fixture.memory.load()?.state.inFlight)
        let decision = try #require(inFlight.fitness)
        #expect(decision.accepted)
        #expect(decision.scores.map(\.name) == ["size", "speed"])
        #expect(decision.scores.last?.parent == [10, 10, 10] && decision.scores.last?.candidate == [12, 12, 12])
        #expect(decision.scores.last?.verdict == "better" && decision.scores.first?.verdict == "same")
        // The new version runs; the loop goes on there.
        try gate.makeCurrent("01-faster.patch")
        var events: [AgentEvent] = []
        let ending = try gate.loop { events.append($0) }.run(after: AgentLoop.Restart(accepted: true, id: String(repeating: "a", count: 64), version: "1.1.0"))
        guard case .finished(let memory) = ending else { Issue.record("\(ending)"); return }
        #expect(memory.processed.map(\.outcome) == ["accepted", "rejected", "rejected", "rejected", "rejected"])
        let slower = memory.processed[1]
        #expect(slower.reason?.contains("worse than its parent: size 100 → 100 (+0%, same); speed 12 → 11 (-8.333%, worse)") == true, "\(slower.reason ?? "")")
        #expect(slower.fitness?.scores.last?.candidate == [11, 11, 11])
        #expect(memory.processed[2].reason?.contains("printed no scores") == true, "\(memory.processed[2].reason ?? "")")
        #expect(memory.processed[3].reason?.contains("did not finish within 5 s and was killed") == true, "\(memory.processed[3].reason ?? "")")
        #expect(memory.processed[4].flags == ["removes-assertions"])
        #expect(memory.processed[4].reason?.contains("removes 1 test assertion") == true)
        // The tree: 01 on the root, the rest on 01; every commit kept.
        #expect(memory.processed.map(\.parent) == [0, 1, 1, 1, 1])
        #expect(memory.currentHead == 1)
        let kept = try gate.fixture.git(["for-each-ref", "--format=%(refname)", "refs/autodev/archive"])
        #expect(kept.split(separator: "\n").count == 5, "\(kept)")
        #expect(try gate.fixture.read("speed.txt") == "12\n")

        // Continuing from the root: its commit is checked out, the next proposal hangs under it
        // and is judged against the root's stored program (10), not the running version (12).
        try gate.speedPatch("06-from-root.patch", from: "10", to: "10.5")
        var fromRoot = try gate.loop()
        fromRoot.from = 0
        #expect(try fromRoot.run(after: nil) == .upgradeReturned)
        let resumed = try #require(try gate.fixture.memory.load()?.state)
        #expect(resumed.inFlight?.parent == 0)
        #expect(resumed.head == 0)
        #expect(resumed.inFlight?.fitness?.scores.last?.parent == [10, 10, 10])
        #expect(resumed.inFlight?.fitness?.scores.last?.candidate == [10.5, 10.5, 10.5])
        // A rejected proposal is no version to continue from.
        var fromRejected = try gate.loop()
        fromRejected.from = 2
        #expect { try fromRejected.run(after: nil) } throws: { ($0 as? AgentError)?.code == .unknownVersion }
    }

    @Test("an evaluator changed after it was pinned stops the run until it is pinned again; one changed mid-run rejects the proposal, flagged")
    func pinning() throws {
        let gate = try Gate()
        defer { gate.fixture.cleanUp() }
        try gate.makeCurrent("root")
        try gate.speedPatch("01-faster.patch", from: "10", to: "12")
        // The first run pins it; a changed evaluator is refused at the next start.
        var loop = try gate.loop()
        loop.maxIterations = 0
        _ = try loop.run(after: nil)
        #expect(try gate.fixture.memory.load()?.state.fitnessPin?.commandSHA256 == (try SHA256.hash(file: gate.evaluator).hex))
        try Gate.writeScript(gate.evaluator, #"echo '{"scores": {"speed": 1000}, "better": {"speed": "higher"}}'"#)
        #expect { try gate.loop().run(after: nil) } throws: { ($0 as? AgentError)?.code == .evaluatorChanged }
        #expect(try gate.fixture.memory.load()?.state.processed.isEmpty == true)

        // Changed while a run is under way (after its start pinned it): the proposal it would
        // have judged is rejected and flagged, and the run stops.
        var repinned = try gate.loop()
        repinned.repin = true
        let pinnedGate = repinned.fitness!
        try Gate.writeScript(gate.evaluator, #"echo '{"scores": {"speed": 999}, "better": {"speed": "higher"}}'"#)
        repinned.fitness = pinnedGate
        #expect { try repinned.run(after: nil) } throws: { ($0 as? AgentError)?.code == .evaluatorChanged }
        let memory = try #require(try gate.fixture.memory.load()?.state)
        #expect(memory.processed.map(\.outcome) == ["rejected"])
        #expect(memory.processed.first?.flags == ["evaluator-changed"])
        #expect(memory.processed.first?.reason?.contains("the evaluator changed since it was pinned") == true)
    }

    @Test("an evaluator inside the working copy is refused; a fitness command that tries to write outside its sandbox is a rejection")
    func confinement() throws {
        let gate = try Gate()
        defer { gate.fixture.cleanUp() }
        let inside = gate.fixture.source + "/fitness.sh"
        try Gate.writeScript(inside, "true")
        #expect { try FitnessPin(FitnessEvaluator(command: inside), outside: gate.fixture.source) } throws: {
            "\($0)".contains("inside the working copy")
        }
        // Through a link from outside, too.
        let link = gate.fixture.root + "/evaluator/link.sh"
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: inside)
        #expect { try FitnessPin(FitnessEvaluator(command: link), outside: gate.fixture.source) } throws: {
            "\($0)".contains("inside the working copy")
        }
        try FileManager.default.removeItem(atPath: inside)
        // Data with a link out of its directory (into the working copy, say) cannot be pinned.
        let data = gate.fixture.root + "/data"
        try FileManager.default.createDirectory(atPath: data, withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: data + "/score", withDestinationPath: gate.fixture.source + "/speed.txt")
        #expect { try FitnessPin(FitnessEvaluator(command: gate.evaluator, data: data), outside: gate.fixture.source) } throws: {
            "\($0)".contains("holds a link out of it (score → ")
        }
        try FileManager.default.removeItem(atPath: data + "/score")
        try gate.makeCurrent("root")
        let escaped = gate.fixture.root + "/escaped"
        try Gate.writeScript(gate.evaluator, """
            set -e
            touch "\(escaped)"
            echo '{"scores": {"speed": 1000}, "better": {"speed": "higher"}}'
            """)
        try gate.speedPatch("01-faster.patch", from: "10", to: "12")
        let ending = try gate.loop().run(after: nil)
        guard case .finished(let memory) = ending else { Issue.record("\(ending)"); return }
        #expect(memory.processed.map(\.outcome) == ["rejected"])
        #expect(memory.processed.first?.reason?.contains("the fitness command on the parent (run 1) exited with status 1") == true, "\(memory.processed.first?.reason ?? "")")
        #expect(!FileManager.default.fileExists(atPath: escaped))
    }

    @Test("scores are read strictly")
    func parsing() throws {
        let good = try FitnessScores(parsing: Array(#" {"scores": {"a.b-c_d": 1.5}, "better": {"a.b-c_d": "lower"}} "#.utf8))
        #expect(good.values == ["a.b-c_d": 1.5] && good.better == ["a.b-c_d": .lower])
        for bad in ["", "[]", "{}", #"{"scores": {}, "better": {}}"#, #"{"scores": {"a": 1}, "better": {"b": "higher"}}"#,
                    #"{"scores": {"a": "1"}, "better": {"a": "higher"}}"#, #"{"scores": {"a": 1}, "better": {"a": "up"}}"#,
                    #"{"scores": {"a b": 1}, "better": {"a b": "higher"}}"#, #"{"scores": {"a": 1}, "better": {"a": "higher"}} {}"#,
                    #"{"scores": {"a": 1e999}, "better": {"a": "higher"}}"#] {
            #expect(throws: FitnessError.self, "\(bad)") { try FitnessScores(parsing: Array(bad.utf8)) }
        }
        let evaluator = FitnessEvaluator(command: "/bin/true", runs: 3, margin: 0.05)
        let parent = [10.0, 11, 30].map { FitnessScores(values: ["t": $0], better: ["t": .lower]) }
        let close = [10.4, 12, 1].map { FitnessScores(values: ["t": $0], better: ["t": .lower]) }
        let slow = [12.0, 12, 1].map { FitnessScores(values: ["t": $0], better: ["t": .lower]) }
        // Medians: 11 against 10.4 (better by 5.5 %), against 12 (worse by 9 %).
        #expect(FitnessComparison(parent: parent, candidate: close, evaluator: evaluator).scores.first?.verdict == "better")
        #expect(!FitnessComparison(parent: parent, candidate: slow, evaluator: evaluator).accepted)
        #expect(FitnessComparison(parent: parent, candidate: parent, evaluator: evaluator).scores.first?.verdict == "same")
    }
}

@Suite("Probation")
struct ProbationTests {
    @Test("a version accepted on a good score that starts failing after its third sample is rolled back to its parent by itself")
    func failingVersionRolledBack() throws {
        let gate = try FitnessTests.Gate()
        defer { gate.fixture.cleanUp() }
        try gate.makeCurrent("root")
        let root = try gate.fixture.head()
        try gate.speedPatch("01-faster.patch", from: "10", to: "12")
        for name in ["02", "03", "04", "05"] { try gate.fixture.makePatch("\(name).patch", changing: "a.txt", line: name) }
        #expect(try gate.loop().run(after: nil) == .upgradeReturned)
        try gate.makeCurrent("01-faster.patch")
        let accepted = SHA256.hash(data: Array("01-faster.patch".utf8)).hex

        // The next proposals do not build; the third one's build breaks the running version's
        // environment: its fourth sample fails.
        let calls = Mutex(0)
        let flag = gate.failFlag
        let breaking = ProposalUpgrade(run: { _ in
            let count = calls.withLock { $0 += 1; return $0 }
            if count == 3 { FileManager.default.createFile(atPath: flag, contents: nil) }
            throw BuildFailed(description: "does not build")
        })
        let rollbacks = Mutex<[String]>([])
        var loop = gate.fixture.loop(upgrade: breaking) { _ in }
        var events: [AgentEvent] = []
        loop.onEvent = { events.append($0) }
        loop.fitness = try gate.gate()
        loop.running = (FitnessTests.Gate.rootID, "1.0.0")
        loop.probation = AgentLoop.ProbationPolicy(samples: 5) { id, reason in rollbacks.withLock { $0.append("\(id ?? "nil"): \(reason)") } }
        let ending = try loop.run(after: AgentLoop.Restart(accepted: true, id: accepted, version: "1.1.0"))
        #expect(ending == .rollbackReturned)
        let memory = try #require(try gate.fixture.memory.load()?.state)
        #expect(memory.processed.map(\.outcome) == ["rolled-back", "rejected", "rejected", "rejected"])
        #expect(memory.processed[0].flags == ["rolled-back"])
        #expect(memory.processed[0].probation?.hasPrefix("failed probation sample 4: the fitness command on the version on probation (run 4) exited with status 3") == true,
                "\(memory.processed[0].probation ?? "")")
        #expect(memory.probation == nil && memory.head == 0)
        #expect(try gate.fixture.head() == root)
        #expect(rollbacks.withLock { $0 }.count == 1)
        #expect(rollbacks.withLock { $0 }.first?.hasPrefix(FitnessTests.Gate.rootID + ": failed probation sample 4") == true)
        #expect(events.contains { if case .probation(1, 3, let failure?) = $0 { failure.contains("sample 4") } else { false } })
        // A rolled-back version is no version to continue from.
        #expect(memory.version(1) == nil)
    }

    @Test("an evaluator changed while a version is on probation stops the run, and rolls nothing back")
    func evaluatorChangedOnProbation() throws {
        let gate = try FitnessTests.Gate()
        defer { gate.fixture.cleanUp() }
        try gate.makeCurrent("root")
        try gate.speedPatch("01-faster.patch", from: "10", to: "12")
        try gate.fixture.makePatch("02.patch", changing: "a.txt", line: "02")
        #expect(try gate.loop().run(after: nil) == .upgradeReturned)
        try gate.makeCurrent("01-faster.patch")
        var loop = gate.fixture.loop() { _ in }
        loop.fitness = try gate.gate()
        loop.probation = AgentLoop.ProbationPolicy(samples: 5) { _, _ in Issue.record("rolled back") }
        try FitnessTests.Gate.writeScript(gate.evaluator, #"echo '{"scores": {"speed": 0, "size": 100}, "better": {"speed": "higher", "size": "lower"}}'"#)
        #expect { try loop.run(after: AgentLoop.Restart(accepted: true, id: SHA256.hash(data: Array("01-faster.patch".utf8)).hex, version: "1.1.0")) } throws: {
            ($0 as? AgentError)?.code == .evaluatorChanged
        }
        let memory = try #require(try gate.fixture.memory.load()?.state)
        #expect(memory.processed.map(\.outcome) == ["accepted"])
        #expect(memory.probation?.number == 1 && memory.probation?.passed == 0)
    }

    @Test("a version that passes its samples is promoted, and is not sampled again")
    func passingVersionPromoted() throws {
        let gate = try FitnessTests.Gate()
        defer { gate.fixture.cleanUp() }
        try gate.makeCurrent("root")
        try gate.speedPatch("01-faster.patch", from: "10", to: "12")
        for name in ["02", "03", "04"] { try gate.fixture.makePatch("\(name).patch", changing: "a.txt", line: name) }
        #expect(try gate.loop().run(after: nil) == .upgradeReturned)
        try gate.makeCurrent("01-faster.patch")
        var loop = gate.fixture.loop() { _ in }
        loop.fitness = try gate.gate()
        loop.probation = AgentLoop.ProbationPolicy(samples: 2) { _, _ in Issue.record("rolled back") }
        let ending = try loop.run(after: AgentLoop.Restart(accepted: true, id: SHA256.hash(data: Array("01-faster.patch".utf8)).hex, version: "1.1.0"))
        guard case .finished(let memory) = ending else { Issue.record("\(ending)"); return }
        #expect(memory.processed.map(\.outcome) == ["accepted", "rejected", "rejected", "rejected"])
        #expect(memory.processed[0].probation?.hasPrefix("passed: 2 sample(s)") == true, "\(memory.processed[0].probation ?? "")")
        #expect(memory.probation == nil)
        // Breaking it now changes nothing: it is promoted.
        FileManager.default.createFile(atPath: gate.failFlag, contents: nil)
        #expect(try loop.run(after: nil) != .rollbackReturned)
    }
}

@Suite("The shipped evaluation of autodev")
struct ShippedEvaluationTests {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path

    /// The autodev binary under test (as the end-to-end tests find it).
    static var binary: String {
        if let path = ProcessInfo.processInfo.environment["AUTODEV_BINARY"], !path.isEmpty { return path }
        let bundle = URL(fileURLWithPath: (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0])
        return bundle.deletingLastPathComponent().appendingPathComponent("autodev").path
    }

    @Test("scripts/fitness-autodev runs confined as the gate runs it and prints scores the gate reads")
    func confinedRun() throws {
        let fixture = try Fixture()
        defer { fixture.cleanUp() }
        let upgrader = try Upgrader(home: fixture.home, program: ProgramIdentity(name: "autodev", version: "1.0.0", protocolVersion: 1))
        // As the gate runs it: the binary it measures is visible to it, wherever it is.
        let run = try upgrader.runConfined([Self.repository + "/scripts/fitness-autodev"], environment: ["AUTODEV_CANDIDATE": Self.binary],
                                           timeoutSeconds: 120, outputLimit: FitnessScores.outputLimit,
                                           logDirectory: fixture.home.logs + "/fitness", name: "fitness",
                                           visible: [URL(fileURLWithPath: Self.binary).deletingLastPathComponent().path])
        #expect(run.succeeded, "\(run.status): \(run.errorTail)")
        let scores = try FitnessScores(parsing: try #require(run.output))
        #expect(scores.better == ["startup_ms": .lower, "status_ms": .lower, "size_bytes": .lower])
        let size = try FileManager.default.attributesOfItem(atPath: Self.binary)[.size] as? Int
        #expect(scores.values["size_bytes"] == size.map(Double.init))
        #expect((scores.values["startup_ms"] ?? 0) > 0 && (scores.values["status_ms"] ?? 0) > 0)
        #expect(run.isolation.contains("network namespace (no network)"), "\(run.isolation)")
    }
}

@Suite("Fitness numbers")
struct FitnessNumberTests {
    @Test("a change is never shown as 0 % when it is not")
    func percentages() {
        let values: [(Double, String)] = [(9.6774, "9.677"), (-8.333333, "-8.333"), (0, "0"), (-0.0000888, "-0.000089"),
                                          (0.00049, "0.00049"), (12, "12"), (0.0005, "0.001")]
        for (value, text) in values { #expect(FitnessComparison.percent(value) == text, "\(value)") }
    }
}

@Suite("Choosing the parent")
struct ParentSelectionTests {
    /// An archive: the root; #1 accepted with two better scores; #2 rejected on #1; #3 accepted
    /// on the root with one better score; #4 accepted on #1 with none better.
    func memory() -> AgentMemory {
        func comparison(better: Int) -> FitnessComparison {
            let parent = [FitnessScores(values: ["a": 1, "b": 1, "c": 1], better: ["a": .higher, "b": .higher, "c": .higher])]
            let values: [String: Double] = ["a": better >= 1 ? 2 : 1, "b": better >= 2 ? 2 : 1, "c": 1]
            return FitnessComparison(parent: parent, candidate: [FitnessScores(values: values, better: parent[0].better)],
                                     evaluator: FitnessEvaluator(command: "/bin/true", runs: 1))
        }
        var memory = AgentMemory()
        memory.root = AgentMemory.Root(id: nil, version: "1.0.0", commit: "c0")
        func add(_ outcome: String, parent: Int, better: Int?) {
            var proposal = AgentMemory.Proposal(name: "p\(memory.processed.count + 1)", digest: "", outcome: outcome, seconds: 0, finishedAt: 0)
            proposal.number = memory.processed.count + 1
            proposal.parent = parent
            proposal.commit = "c\(memory.processed.count + 1)"
            proposal.fitness = better.map(comparison)
            memory.processed.append(proposal)
        }
        add("accepted", parent: 0, better: 2)
        add("rejected", parent: 1, better: nil)
        add("accepted", parent: 0, better: 1)
        add("accepted", parent: 1, better: 0)
        memory.head = 4
        return memory
    }

    @Test("head keeps the line, best follows the most improved lineage, explore samples by score and novelty")
    func rules() {
        let memory = memory()
        #expect(memory.versions == [0, 1, 3, 4])
        #expect(memory.improvements(of: 4) == 2 && memory.improvements(of: 3) == 1 && memory.improvements(of: 0) == 0)
        #expect(memory.parent(by: .head) == 4)
        // #1 and #4 both have 2 along their lineage: the newer wins.
        #expect(memory.parent(by: .best) == 4)
        // Weights: root 1/3, #1 3/3, #3 2/1, #4 3/1 (sum 6.333…): points fall in that order.
        #expect(memory.parent(by: .explore, random: { 0.0 }) == 0)
        #expect(memory.parent(by: .explore, random: { 0.1 }) == 1)
        #expect(memory.parent(by: .explore, random: { 0.4 }) == 3)
        #expect(memory.parent(by: .explore, random: { 0.9 }) == 4)
        // A lineage that loops (a damaged memory) ends the walk.
        var looped = memory
        looped.processed[0].parent = 4
        #expect(looped.improvements(of: 4) <= 2 * looped.processed.count)
    }

    @Test("pruning keeps the head's and the best lineage, what is stored and on probation; a pruned version is no parent")
    func pruning() {
        var memory = memory()
        // #5 rejected on #3, #6 accepted on #3, #7 accepted on #1 and rolled back after its probation.
        memory.processed += [("rejected", 3), ("accepted", 3), (AgentMemory.Proposal.rolledBack, 1)].map { outcome, parent in
            var proposal = AgentMemory.Proposal(name: "p", digest: "", outcome: outcome, seconds: 0, finishedAt: 0)
            proposal.parent = parent
            proposal.commit = "c"
            return proposal
        }
        memory.processed[5].id = "stored"
        // Head #4 (on #1), best #4: #1 and #4 kept; #6 and its parent #3 while #6's binary is stored.
        #expect(memory.retainedVersions(storedIDs: ["stored"]) == [0, 1, 3, 4, 6])
        var pruned = memory
        #expect(pruned.prune(storedIDs: ["stored"]) == ArchivePruning(kept: [0, 1, 3, 4, 6], pruned: [2, 5, 7]))
        #expect(pruned.versions == [0, 1, 3, 4, 6])
        #expect(pruned.processed.count == memory.processed.count, "records stay")
        // Once #6's binary is gone from the store, it and #3 go too, and are no parent any more.
        #expect(pruned.prune(storedIDs: []) == ArchivePruning(kept: [0, 1, 4], pruned: [3, 6]))
        #expect(pruned.versions == [0, 1, 4])
        #expect(pruned.version(6) == nil && memory.version(6) != nil)
        #expect(pruned.parent(by: .explore, random: { 0.99 }) == 4)
        // Again: nothing new; a version on probation keeps its lineage.
        #expect(pruned.prune(storedIDs: []).pruned.isEmpty)
        memory.probation = AgentMemory.Probation(number: 7, startedAt: 0)
        #expect(memory.retainedVersions(storedIDs: []).contains(7))
        // A damaged memory whose parents loop ends the walk.
        memory.processed[0].parent = 4
        #expect(memory.retainedVersions(storedIDs: []).isSuperset(of: [0, 1, 4]))
    }
}
