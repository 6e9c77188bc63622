import Doctor
import Foundation
import Integrity
import Platform
import SelfUpgrade
import Storage
import Testing

@Suite("The doctor and the current link")
struct CurrentTests {
    @Test("current left at an aborted transaction's target (its undo killed before the link went back) is a finding; the repair points it where the journal says")
    func leftAtAbortedTarget() throws {
        let scratch = try ScratchHome()
        defer { scratch.cleanUp() }
        let home = scratch.home
        // A second stored version, the target of a transaction that was aborted, and `current`
        // still at it: what a kill between the journaled abort and the undo of the swap leaves.
        let candidate = scratch.root + "/tool-2"
        try Data("#!/bin/sh\nexit 2\n".utf8).write(to: URL(fileURLWithPath: candidate))
        let second = try VersionStore(home: home).stage(candidate, source: "test", transaction: "tx-20261206T030500-ab").id
        var journal = try Journal(path: home.journal)
        try journal.append(JournalRecord(.begin(transaction: "tx-20261206T030500-ab", operation: .rollback, from: scratch.first.digest, target: second, source: nil)))
        try journal.append(JournalRecord(.abort(transaction: "tx-20261206T030500-ab", reason: "swap: killed")))
        try home.setCurrent(second)
        let doctor = Doctor(homeDirectory: home.root, program: scratch.program)
        let examination = try doctor.examine()
        let finding = try #require(examination.findings.first { $0.kind == .current }, "\(examination.findings)")
        #expect(finding.problem.contains("but the journal's current version is \(scratch.first.short)"), "\(finding.problem)")
        let report = try doctor.repair()
        #expect(report.isComplete, "\(report.actions) \(report.after.findings)")
        #expect(try home.currentVersion() == scratch.first.digest)
    }
}
