import Doctor
import Foundation
import Integrity
import Platform
import SelfUpgrade
import Storage
import Testing

@Suite("The doctor and a transaction still running")
struct InProgressTests {
    @Test("an open transaction whose process holds the lock is in progress, not interrupted; once the lock is free it is interrupted")
    func liveHolder() throws {
        let scratch = try ScratchHome()
        defer { scratch.cleanUp() }
        let home = scratch.home
        var journal = try Journal(path: home.journal)
        try journal.append(JournalRecord(.begin(transaction: "tx-20261206T030000-live", operation: .upgrade, from: scratch.first.digest, target: nil, source: nil)))
        let doctor = Doctor(homeDirectory: home.root, program: scratch.program)
        let lock = try #require(try FileLock.tryAcquire(home.lock))
        let live = try doctor.examine()
        #expect(!live.findings.contains { $0.kind == .interruptedTransaction }, "\(live.findings)")
        #expect(live.inProgress?.contains("tx-20261206T030000-live (upgrade) is in progress: process \(getpid()) holds") == true, "\(live.inProgress ?? "nil")")
        lock.release()
        let left = try doctor.examine()
        #expect(left.findings.contains { $0.kind == .interruptedTransaction }, "\(left.findings)")
        #expect(left.inProgress == nil)
    }
}

@Suite("The doctor and the home's lock file")
struct LockFileTests {
    @Test("a lock file that is a link, a directory, a FIFO or a second name is a finding; the repair moves it aside and the home can be locked again",
          arguments: ["link", "directory", "fifo", "hard link"])
    func plantedLock(_ kind: String) throws {
        let scratch = try ScratchHome()
        defer { scratch.cleanUp() }
        let home = scratch.home
        try? FileManager.default.removeItem(atPath: home.lock)
        let elsewhere = scratch.root + "/elsewhere"
        try Data("theirs".utf8).write(to: URL(fileURLWithPath: elsewhere))
        switch kind {
        case "link": try FileManager.default.createSymbolicLink(atPath: home.lock, withDestinationPath: elsewhere)
        case "directory": try FileManager.default.createDirectory(atPath: home.lock, withIntermediateDirectories: false)
        case "fifo": #expect(mkfifo(home.lock, 0o600) == 0)
        default: try FileManager.default.linkItem(atPath: elsewhere, toPath: home.lock)
        }
        try expectRepaired(scratch)
        #expect(try String(contentsOfFile: elsewhere, encoding: .utf8) == "theirs")
    }

    @Test("a lock file of another user's is a lock finding, repaired by moving it aside (a change of owner would need the lock)",
          .enabled(if: geteuid() == 0, "changing a file's owner needs root"))
    func anotherUsersLock() throws {
        let scratch = try ScratchHome()
        defer { scratch.cleanUp() }
        try? FileManager.default.removeItem(atPath: scratch.home.lock)
        try Data("garbage".utf8).write(to: URL(fileURLWithPath: scratch.home.lock))
        #expect(chown(scratch.home.lock, 65534, 65534) == 0)
        try expectRepaired(scratch)
    }

    /// The lock cannot be taken; the doctor finds it as the lock, its repair completes, and then it can.
    func expectRepaired(_ scratch: ScratchHome) throws {
        let home = scratch.home
        #expect(throws: (any Error).self) { _ = try FileLock.tryAcquire(home.lock) }
        let doctor = Doctor(homeDirectory: home.root, program: scratch.program)
        let finding = try #require(try doctor.examine().findings.first { $0.kind == .lock })
        #expect(finding.path == "lock")
        let report = try doctor.repair()
        #expect(report.isComplete, "\(report.actions) \(report.after.findings)")
        let lock = try #require(try FileLock.tryAcquire(home.lock))
        lock.release()
    }
}
