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
