import Foundation
import Integrity
import Testing

@Suite("Crash safety: SIGKILL anywhere leaves exactly the old or the new version")
struct CrashTests {
    /// Where the process kills itself (AUTODEV_FAILPOINT) and which version must result.
    static let boundaries: [(point: String, endsNew: Bool)] = [
        ("kill-before-preflight", false), ("kill-after-preflight", false), ("kill-before-stage", false),
        ("kill-after-stage", false), ("kill-before-verify", false), ("kill-after-verify", false),
        ("kill-before-swap", false), ("kill-after-swap", true), ("kill-before-exec", true),
        ("kill-before-confirm", true), ("kill-after-commit", true),
    ]

    @Test("killed at every step boundary", arguments: boundaries.map(\.point))
    func boundary(point: String) throws {
        let endsNew = Self.boundaries.first { $0.point == point }!.endsNew
        let harness = try Harness()
        defer { harness.cleanUp() }
        _ = try harness.initialize()
        let old = try harness.current()
        let candidate = try harness.candidate()
        let new = SHA256.hash(data: try Data(contentsOf: URL(fileURLWithPath: candidate))).hex
        let result = try harness.run(["self-upgrade", "--from-binary", candidate], environment: ["AUTODEV_FAILPOINT": point])
        #expect(result.status == SIGKILL, "\(point): the process was not killed (\(result.status)): \(result.stderr)")
        let current = try harness.expectRecovered(to: [old, new], "\(point)")
        #expect(current == (endsNew ? new : old), "\(point)")
        // Recovery deletes nothing: an undone candidate may stay until the next commit prunes it.
        let versions = try FileManager.default.contentsOfDirectory(atPath: harness.home + "/versions").sorted()
        #expect(versions.contains(old) && Set(versions).isSubset(of: [old, new]), "\(point): store holds \(versions)")
        if endsNew { #expect(versions == [old, new].sorted(), "\(point): store holds \(versions)") }
        // The installation works on: a next upgrade goes through, and prunes what was undone.
        #expect(try harness.run(["self-upgrade", "--from-binary", try harness.candidate(suffix: "next")]).status == 0)
        let after = try FileManager.default.contentsOfDirectory(atPath: harness.home + "/versions")
        #expect(endsNew || !after.contains(new), "\(point): the undone candidate is still stored: \(after)")
    }

    @Test("a rollback killed at every step boundary", arguments: ["kill-after-check", "kill-after-swap", "kill-before-confirm"])
    func rollbackBoundary(point: String) throws {
        let harness = try Harness()
        defer { harness.cleanUp() }
        _ = try harness.initialize()
        let first = try harness.current()
        #expect(try harness.run(["self-upgrade", "--from-binary", try harness.candidate()]).status == 0)
        let second = try harness.current()
        let result = try harness.run(["self-upgrade", "rollback"], environment: ["AUTODEV_FAILPOINT": point])
        #expect(result.status == SIGKILL, "\(point): the process was not killed (\(result.status)): \(result.stderr)")
        let current = try harness.expectRecovered(to: [first, second], "\(point)")
        // Before the swap the old version stays; after it, the start is the target's and confirms it.
        #expect(current == (point == "kill-after-check" ? second : first))
    }

    @Test("killed while the journal is archived behind a checkpoint: readable, nothing lost, the next checkpoint goes through",
          arguments: ["kill-checkpoint-archived", "kill-checkpoint-written", "kill-checkpoint-installed"])
    func checkpointBoundary(point: String) throws {
        let harness = try Harness()
        defer { harness.cleanUp() }
        _ = try harness.initialize()
        // A checkpoint after every commit: the upgrade's confirmation writes the first one.
        try #"{"journalCheckpointRecords":4}"#.write(toFile: harness.home + "/config.json", atomically: true, encoding: .utf8)
        let old = try harness.current()
        let candidate = try harness.candidate()
        let new = SHA256.hash(data: try Data(contentsOf: URL(fileURLWithPath: candidate))).hex
        let result = try harness.run(["self-upgrade", "--from-binary", candidate], environment: ["AUTODEV_FAILPOINT": point])
        #expect(result.status == SIGKILL, "\(point): the process was not killed (\(result.status)): \(result.stderr)")
        // The commit came before the checkpoint: the upgrade stands whatever the checkpoint's fate.
        #expect(try harness.expectRecovered(to: [old, new], "\(point)") == new)
        let firstLine = try #require(try harness.journalLines().first)
        #expect(firstLine.contains(#""kind":"checkpoint""#) == (point == "kill-checkpoint-installed"), "\(point)")
        func history() throws -> [String] {
            let rows = try JSONSerialization.jsonObject(with: Data(try harness.run(["self-upgrade", "history", "--all", "--json"]).stdout.utf8))
            return ((rows as? [[String: Any]]) ?? []).compactMap { $0["via"] as? String }
        }
        #expect(try history() == ["adopt", "upgrade"], "\(point)")
        // The home works on: a rollback commits and checkpoints, and the whole history is still told.
        #expect(try harness.run(["self-upgrade", "rollback", "--yes"]).status == 0)
        #expect(try harness.current() == old)
        #expect(try harness.journalLines().first?.contains(#""kind":"checkpoint""#) == true)
        #expect(try history() == ["adopt", "upgrade", "rollback"], "\(point)")
        #expect(!FileManager.default.fileExists(atPath: harness.home + "/journal.checkpoint"), "\(point)")
    }

    @Test("SIGKILL at 100 random moments of an upgrade")
    func randomKills() throws {
        let harness = try Harness()
        defer { harness.cleanUp() }
        _ = try harness.initialize()
        // Calibrate: how long an undisturbed upgrade takes here, the longest of three. Later
        // upgrades can take longer (a hundred 18 MB copies leave the disk behind on its
        // writeback), so moments reach twice that: one after the process ended finds the new
        // version, as a kill just after its commit does.
        var duration = 0.0
        for round in 0..<3 {
            let start = Date()
            #expect(try harness.run(["self-upgrade", "--from-binary", try harness.candidate(suffix: "calibration-\(round)")]).status == 0)
            duration = max(duration, Date().timeIntervalSince(start))
        }
        var outcomes = (old: 0, new: 0)
        for iteration in 0..<100 {
            let old = try harness.current()
            let candidate = try harness.candidate(suffix: "random-\(iteration)")
            let new = SHA256.hash(data: try Data(contentsOf: URL(fileURLWithPath: candidate))).hex
            let moment = Double.random(in: 0...(duration * 2))
            _ = try harness.runKilled(["self-upgrade", "--from-binary", candidate], after: moment)
            let current = try harness.expectRecovered(to: [old, new], "kill \(iteration) at \(Int(moment * 1000)) ms")
            if current == new { outcomes.new += 1 } else { outcomes.old += 1 }
        }
        // Both outcomes must have been reached, or the moments did not cover the transaction.
        #expect(outcomes.old > 0 && outcomes.new > 0, "old \(outcomes.old), new \(outcomes.new)")
    }
}
