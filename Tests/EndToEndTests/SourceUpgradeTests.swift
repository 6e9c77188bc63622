import Foundation
import Integrity
import Testing

/// Builds autodev from a clean clone of this repository, several times: minutes, not seconds.
/// scripts/test runs it on its own after the other tests.
@Suite("Upgrading from source with the agent")
struct SourceUpgradeTests {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path

    /// Writes `name` into `patches` as the diff of `edit` applied to the working copy, then undoes the edit.
    func makePatch(_ name: String, in patches: String, source: String, file: String, _ edit: (String) -> String) throws {
        let path = source + "/" + file
        let original = try String(contentsOfFile: path, encoding: .utf8)
        try edit(original).write(toFile: path, atomically: true, encoding: .utf8)
        let diff = try Harness.git(["diff"], in: source)
        try original.write(toFile: path, atomically: true, encoding: .utf8)
        try diff.write(toFile: patches + "/" + name, atomically: true, encoding: .utf8)
    }

    @Test("from a clean clone: a version patch runs in the same process; a broken and a failing patch are rejected; rollback returns")
    func agentFromSource() throws {
        let harness = try Harness()
        defer { harness.cleanUp() }
        let initialized = try harness.run(["init", "--home", harness.home, "--source", Self.repository], executable: Harness.binary)
        #expect(initialized.status == 0, "\(initialized.stderr)")
        let source = harness.home + "/source"
        let originalVersion = try harness.run(["--version"]).stdout
        let patches = harness.root.appendingPathComponent("patches").path
        try FileManager.default.createDirectory(atPath: patches, withIntermediateDirectories: true)

        try makePatch("01-version.patch", in: patches, source: source, file: "Sources/autodev/AutodevState.swift") { text in
            text.split(separator: "\n", omittingEmptySubsequences: false).map {
                $0.hasPrefix("let autodevVersion = ") ? "let autodevVersion = \"9.9.9\"" : String($0)
            }.joined(separator: "\n")
        }
        try makePatch("02-does-not-compile.patch", in: patches, source: source, file: "Sources/Storage/Home.swift") {
            $0 + "\nthis line is not Swift\n"
        }
        try makePatch("03-test-fails.patch", in: patches, source: source, file: "Tests/StorageTests/StorageTests.swift") {
            $0 + "\n@Suite struct IntroducedByAPatch {\n    @Test func fails() { #expect(1 + 1 == 3, \"introduced by a patch\") }\n}\n"
        }

        let extra = ["AUTODEV_E2E_MARK": "kept across exec"]
        let arguments = ["agent", "--patches", patches, "--json"]
        let result = try harness.run(arguments, environment: extra)
        #expect(result.status == 0, "\(result.stderr)")
        let events = try result.stdout.split(separator: "\n").map { try harness.json(String($0)) }
        #expect(events.map { $0["event"] as? String } == ["accepted", "rejected", "rejected", "done"], "\(result.stdout)\n\(result.stderr)")
        #expect(events.map { $0["proposal"] as? String } == ["01-version.patch", "02-does-not-compile.patch", "03-test-fails.patch", nil])
        // One process all along, with the same argv and environment after the exec.
        #expect(Set(events.map { $0["pid"] as? Int }) == [Int(result.pid)])
        #expect(events.first?["restarted"] as? Bool == true)
        let environment = harness.environment(extra).sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)\n" }.joined()
        for event in events {
            #expect(event["arguments"] as? [String] == [harness.entry] + arguments)
            #expect(event["environmentSHA256"] as? String == SHA256.hash(data: Array(environment.utf8)).hex)
        }
        #expect((events[1]["reason"] as? String)?.contains("Home.swift") == true, "\(events[1])")
        #expect((events[1]["reason"] as? String)?.contains(": error: ") == true)
        #expect((events[2]["reason"] as? String)?.contains("introduced by a patch") == true, "\(events[2])")
        #expect(events[3]["version"] as? String == "9.9.9")
        #expect(try harness.run(["--version"]).stdout == "9.9.9\n")

        // The patches are set aside; the working copy holds the accepted one only.
        #expect(try FileManager.default.contentsOfDirectory(atPath: patches + "/applied") == ["01-version.patch"])
        #expect(try FileManager.default.contentsOfDirectory(atPath: patches + "/rejected").sorted() ==
            ["02-does-not-compile.patch", "02-does-not-compile.patch.reason", "03-test-fails.patch", "03-test-fails.patch.reason"])
        #expect(try Harness.git(["log", "-1", "--format=%s"], in: source) == "agent: 01-version.patch\n")
        #expect(try Harness.git(["status", "--porcelain"], in: source).isEmpty)
        let status = try harness.json(try harness.run(["agent", "status", "--json"]).stdout)
        #expect((status["processed"] as? [Any])?.count == 3)
        #expect(status["inFlight"] == nil)

        // Nothing left to do: a second run processes nothing twice.
        let again = try harness.run(arguments)
        #expect(again.stdout.split(separator: "\n").count == 1, "\(again.stdout)")

        let rollback = try harness.run(["self-upgrade", "rollback", "--yes"])
        #expect(rollback.status == 0, "\(rollback.stderr)")
        #expect(try harness.run(["--version"]).stdout == originalVersion)
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
