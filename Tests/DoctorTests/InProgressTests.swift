import Doctor
import Foundation
import Integrity
import Platform
import SelfUpgrade
import Storage
import Testing

@Suite("The doctor and a transaction still running")
struct InProgressTests {
    let root = FileManager.default.temporaryDirectory.appendingPathComponent("doctor-live-\(UUID().uuidString.prefix(8))").path
    let program = ProgramIdentity(name: "tool", version: "1.0.0", protocolVersion: 1)

    /// A home with one adopted version and a `begin` journaled after it: an open transaction.
    func homeWithOpenTransaction() throws -> Home {
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        let executable = root + "/tool-1"
        try Data("#!/bin/sh\nexit 0\n".utf8).write(to: URL(fileURLWithPath: executable))
        try FileSystem.setMode(executable, 0o755)
        let home = Home(root: root + "/home", programName: "tool")
        let upgrader = try Upgrader(home: home, program: program, configuration: UpgradeConfiguration())
        let first = try upgrader.adopt(executable: executable).digest
        var journal = try Journal(path: home.journal)
        try journal.append(JournalRecord(.begin(transaction: "tx-20261206T030000-live", operation: .upgrade, from: first, target: nil, source: nil)))
        return home
    }

    @Test("an open transaction whose process holds the lock is in progress, not interrupted; once the lock is free it is interrupted")
    func liveHolder() throws {
        defer { try? FileManager.default.removeItem(atPath: root) }
        let home = try homeWithOpenTransaction()
        let doctor = Doctor(homeDirectory: home.root, program: program)
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
