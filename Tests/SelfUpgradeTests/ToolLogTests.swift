import Foundation
import SourceUpgrade
import Testing

@Suite("Reading build and test logs")
struct ToolLogTests {
    func log(_ text: String) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("autodev-log-\(UUID().uuidString.prefix(8))").path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test("compiler errors are found once each, in order, up to the limit")
    func compilerErrors() throws {
        let path = try log("""
            [3/9] Compiling Storage Home.swift
            /src/Sources/Storage/Home.swift:12:5: error: cannot find 'x' in scope
            /src/Sources/Storage/Home.swift:12:5: error: cannot find 'x' in scope
            /src/Sources/Storage/Home.swift:13:1: warning: unused
            /src/Sources/Storage/Home.swift:20:9: error: expected expression
            error: fatalError
            """)
        defer { try? FileManager.default.removeItem(atPath: path) }
        #expect(ToolLog.firstProblems(in: path) == [
            "/src/Sources/Storage/Home.swift:12:5: error: cannot find 'x' in scope",
            "/src/Sources/Storage/Home.swift:20:9: error: expected expression",
        ])
        #expect(ToolLog.firstProblems(in: path, limit: 1).count == 1)
    }

    @Test("a test issue keeps the comment Swift Testing prints after it")
    func testIssueWithComment() throws {
        let path = try log("""
            ◇ Test fails() started.
            ✘ Test fails() recorded an issue at StorageTests.swift:190:26: Expectation failed: (1 + 1 → 2) == 3
            ↳ introduced by a patch
            ✘ Test fails() failed after 0.001 seconds with 1 issue.
            """)
        defer { try? FileManager.default.removeItem(atPath: path) }
        #expect(ToolLog.firstProblems(in: path) == [
            "✘ Test fails() recorded an issue at StorageTests.swift:190:26: Expectation failed: (1 + 1 → 2) == 3 ↳ introduced by a patch",
        ])
    }

    @Test("a test run that crashed or stopped without a failed test is explained by the tool's errors, else its last lines")
    func crashesAndOtherEnds() throws {
        let crashed = try log("""
            ◇ Test run started.
            ◇ Test reads() started.
            Storage/Home.swift:40: Fatal error: Unexpectedly found nil while unwrapping an Optional value
            error: Exited with unexpected signal code 4
            """)
        let other = try log("""
            [1/3] Compiling
            error: the test runner could not be found

            """)
        let silent = try log("one\ntwo\n\nthree\nfour\n")
        defer { for path in [crashed, other, silent] { try? FileManager.default.removeItem(atPath: path) } }
        #expect(ToolLog.firstProblems(in: crashed) == [
            "Storage/Home.swift:40: Fatal error: Unexpectedly found nil while unwrapping an Optional value",
            "error: Exited with unexpected signal code 4",
        ])
        #expect(ToolLog.firstProblems(in: other) == ["error: the test runner could not be found"])
        #expect(ToolLog.firstProblems(in: silent) == ["two", "three", "four"])
    }
}
