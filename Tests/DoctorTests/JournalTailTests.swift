import Doctor
import Foundation
import Integrity
import Platform
import SelfUpgrade
import Storage
import Testing

@Suite("The doctor and the journal's tail")
struct JournalTailTests {
    @Test("a tail that is a directory or garbage is named as the tail, not as damage at a line of the journal; the repair sets it right and the home is healthy",
          arguments: ["directory", "garbage"])
    func tail(_ kind: String) throws {
        let scratch = try ScratchHome()
        defer { scratch.cleanUp() }
        let home = scratch.home
        let tail = Journal.tailPath(of: home.journal)
        let last = try Journal(path: home.journal).lastSequence
        try FileManager.default.removeItem(atPath: tail)
        if kind == "directory" {
            try FileManager.default.createDirectory(atPath: tail, withIntermediateDirectories: false)
        } else {
            try Data("not twenty digits".utf8).write(to: URL(fileURLWithPath: tail))
        }
        let doctor = Doctor(homeDirectory: home.root, program: scratch.program)
        let examination = try doctor.examine()
        let finding = try #require(examination.findings.first { $0.path == "journal.tail" }, "\(examination.findings)")
        #expect(finding.kind == .journal)
        #expect(finding.problem.contains(kind == "directory" ? "is not a regular file" : "names no record"), "\(finding.problem)")
        #expect(!examination.findings.contains { $0.problem.contains("damaged at line") }, "\(examination.findings)")
        let report = try doctor.repair()
        #expect(report.isComplete, "\(report.actions) \(report.after.findings)")
        let action = try #require(report.actions.first { $0.finding.path == "journal.tail" })
        #expect(action.repaired && !action.action.contains("rebuilt the journal"), "\(action.action)")
        #expect(try String(contentsOfFile: tail, encoding: .utf8) == String(repeating: "0", count: 20 - String(last).count) + String(last) + "\n")
    }
}
