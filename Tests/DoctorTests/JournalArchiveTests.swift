import Doctor
import Foundation
import Platform
import SelfUpgrade
import Storage
import Testing

@Suite("The doctor and the journal's archive")
struct JournalArchiveTests {
    @Test("an archive segment deleted behind a sound checkpoint: the doctor names the lost records, repairs nothing (nothing here can), changes nothing, and the home works on")
    func segmentDeleted() throws {
        let scratch = try ScratchHome()
        defer { scratch.cleanUp() }
        let home = scratch.home
        let upgrader = try Upgrader(home: home, program: scratch.program, configuration: UpgradeConfiguration())
        // The adopted script reports nothing; a version verified now says it reads checkpoints.
        let store = VersionStore(home: home)
        var metadata = try #require(store.metadata(scratch.first.digest))
        metadata.readsJournalCheckpoints = true
        try store.setMetadata(metadata)
        // A transaction begun and aborted: a rotation needs two records or more.
        var records = try Journal(path: home.journal)
        try records.append(JournalRecord(.begin(transaction: "tx-aborted", operation: .upgrade, from: scratch.first.digest, target: nil, source: nil)))
        try records.append(JournalRecord(.abort(transaction: "tx-aborted", reason: "a test")))
        try #require(try upgrader.checkpointNow(), "no checkpoint written")
        let doctor = Doctor(homeDirectory: home.root, program: scratch.program)
        #expect(try doctor.examine().findings.filter { $0.kind == .journalArchive }.isEmpty)

        let archive = home.journal + ".d"
        let segment = try #require(try FileSystem.contentsOfDirectory(archive).first)
        try FileManager.default.moveItem(atPath: archive + "/" + segment, toPath: scratch.root + "/" + segment)
        let journal = try Data(contentsOf: URL(fileURLWithPath: home.journal))
        let examination = try doctor.examine()
        let finding = try #require(examination.findings.first { $0.kind == .journalArchive }, "\(examination.findings)")
        #expect(finding.path == "journal.d", "\(finding)")
        #expect(finding.problem.contains("the history before record 4 is lost"), "\(finding.problem)")
        #expect(finding.remedy.contains("backup"), "\(finding.remedy)")
        // Only that: the checkpoint is sound, so the journal itself is not called damaged.
        #expect(examination.findings.allSatisfy { $0.kind == .journalArchive }, "\(examination.findings)")

        let report = try doctor.repair()
        let action = try #require(report.actions.first { $0.finding.kind == .journalArchive })
        #expect(!action.repaired && action.action.contains("backup"), "\(action.action)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: home.journal)) == journal)
        #expect(try upgrader.status().warnings.isEmpty)

        // The segment back: healthy again.
        try FileManager.default.moveItem(atPath: scratch.root + "/" + segment, toPath: archive + "/" + segment)
        #expect(try doctor.examine().findings.isEmpty)
    }
}
