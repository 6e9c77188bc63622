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
        let upgrader = try checkpointed(scratch)
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

        let lockBefore = try FileSystem.status(home.lock, followLinks: false)
        let lockBytes = try Data(contentsOf: URL(fileURLWithPath: home.lock))
        let report = try doctor.repair()
        // Nothing to repair: not even the lock file is taken (and written).
        let lockAfter = try FileSystem.status(home.lock, followLinks: false)
        #expect(lockAfter.modificationSeconds == lockBefore.modificationSeconds && lockAfter.modificationNanoseconds == lockBefore.modificationNanoseconds)
        #expect(try Data(contentsOf: URL(fileURLWithPath: home.lock)) == lockBytes)
        let action = try #require(report.actions.first { $0.finding.kind == .journalArchive })
        #expect(!action.repaired && action.action.contains("backup"), "\(action.action)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: home.journal)) == journal)
        #expect(try upgrader.status().warnings.isEmpty)

        // The segment back: healthy again.
        try FileManager.default.moveItem(atPath: scratch.root + "/" + segment, toPath: archive + "/" + segment)
        #expect(try doctor.examine().findings.isEmpty)
    }

    @Test("the archive owned by another user and writable by others, a segment writable by others: owner and permissions findings, repaired; history reads again",
          .enabled(if: geteuid() == 0, "giving a file to another user and back needs root"))
    func archiveModesAndOwners() throws {
        let scratch = try ScratchHome()
        defer { scratch.cleanUp() }
        let home = scratch.home
        let upgrader = try checkpointed(scratch)
        let archive = home.journal + ".d"
        let segment = try #require(Journal.segments(in: archive).first).name
        #expect(chmod(archive, 0o777) == 0)
        #expect(chown(archive, 65534, 65534) == 0)
        #expect(chmod(archive + "/" + segment, 0o666) == 0)
        // history names the way out that works (the journal itself is sound: its rebuild is not it).
        let refused = #expect(throws: UpgradeError.self) { try upgrader.history() }
        #expect(refused?.description.contains("'autodev doctor --repair' moves a link or a file there aside, and gives a directory back") == true, "\(String(describing: refused))")
        let doctor = Doctor(homeDirectory: home.root, program: scratch.program)
        let findings = try doctor.examine().findings
        #expect(findings.contains { $0.kind == .permissions && $0.path == "journal.d" }, "\(findings)")
        #expect(findings.contains { $0.kind == .owner && $0.path == "journal.d" }, "\(findings)")
        #expect(findings.contains { $0.kind == .permissions && $0.path == "journal.d/" + segment }, "\(findings)")
        #expect(!findings.contains { $0.kind == .journalArchive }, "named by its owner and mode: \(findings)")
        let report = try doctor.repair()
        #expect(report.isComplete, "\(report.actions) \(report.after.findings)")
        let repaired = try FileSystem.status(archive, followLinks: false)
        #expect(repaired.mode & 0o777 == 0o755 && repaired.owner == geteuid())
        #expect(try FileSystem.status(archive + "/" + segment, followLinks: false).mode & 0o777 == 0o644)
        #expect(try upgrader.history().isEmpty == false)
    }

    @Test("a FIFO in a segment's place: named as the archive's finding (the doctor never calls healthy a home whose history fails), and nothing changed")
    func segmentReplacedByFIFO() throws {
        let scratch = try ScratchHome()
        defer { scratch.cleanUp() }
        let home = scratch.home
        _ = try checkpointed(scratch)
        let archive = home.journal + ".d"
        let segment = try #require(Journal.segments(in: archive).first).name
        try FileManager.default.removeItem(atPath: archive + "/" + segment)
        #expect(mkfifo(archive + "/" + segment, 0o600) == 0)
        let doctor = Doctor(homeDirectory: home.root, program: scratch.program)
        let findings = try doctor.examine().findings
        let finding = try #require(findings.first { $0.kind == .journalArchive }, "\(findings)")
        #expect(finding.problem.contains("cannot be read") && finding.problem.contains(segment), "\(finding.problem)")
        let report = try doctor.repair()
        #expect(report.actions.allSatisfy { !$0.repaired }, "\(report.actions)")
        #expect(try FileSystem.status(archive + "/" + segment, followLinks: false).kind == .other)
    }

    /// The scratch home's journal behind a checkpoint, its records in the archive.
    func checkpointed(_ scratch: ScratchHome) throws -> Upgrader {
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
        return upgrader
    }
}
