import Foundation
import Testing

@Suite("autodev agent's options and archive")
struct AgentCommandTests {
    @Test("bad fitness, probation and selection options are refused before anything runs", arguments: [
        (["--repin"], "'--repin' needs '--fitness <PATH>'"),
        (["--fitness", "/nonexistent/fitness"], "The fitness command \"/nonexistent/fitness\" is not an executable file"),
        (["--fitness", "/bin/true", "--fitness-runs", "0"], "The value '0' is invalid for '--fitness-runs <n>': give an integer from 1 to 100"),
        (["--fitness", "/bin/true", "--fitness-margin", "nan"], "The value 'nan' is invalid for '--fitness-margin <PERCENT>'"),
        (["--fitness", "/bin/true", "--fitness-timeout", "1e300"], "The value '1e300' is invalid for '--fitness-timeout <SECONDS>'"),
        (["--fitness", "/bin/true", "--probation-runs", "-1"], "The value '-1' is invalid for '--probation-runs <n>'"),
        (["--select", "random"], "The value 'random' is invalid for '--select <RULE>': give head, best or explore"),
        (["--from", "-3"], "The value '-3' is invalid for '--from <n>'"),
    ])
    func refusedOptions(options: [String], message: String) throws {
        let harness = try Harness()
        defer { harness.cleanUp() }
        _ = try harness.initialize()
        let before = try harness.snapshot()
        let result = try harness.run(["agent", "--patches", harness.root.path] + options)
        #expect(result.status != 0)
        #expect(result.stderr.contains(message), "\(result.stderr)")
        #expect(try harness.snapshot() == before)
    }

    @Test("the archive of a damaged memory (a loop of parents, escape sequences in names) is shown escaped, each version once")
    func damagedArchive() throws {
        let harness = try Harness()
        defer { harness.cleanUp() }
        _ = try harness.initialize()
        let memory = #"""
            {"schema":1}
            {"processed":[{"name":"a\u001b[31mred","digest":"","outcome":"accepted","seconds":0,"finishedAt":0,"number":1,"parent":2,"commit":"c1"},{"name":"b","digest":"","outcome":"rejected","seconds":0,"finishedAt":0,"number":2,"parent":1}],"restarts":0}

            """#
        try FileManager.default.createDirectory(atPath: harness.home + "/state", withIntermediateDirectories: true)
        try memory.write(toFile: harness.home + "/state/agent.json", atomically: true, encoding: .utf8)
        let tree = try harness.run(["agent", "archive"])
        #expect(tree.status == 0, "\(tree.stderr)")
        #expect(!tree.stdout.contains("\u{1B}"))
        #expect(tree.stdout.split(separator: "\n").count == 3, "\(tree.stdout)")
        #expect(tree.stdout.contains("#1 accepted a\\u{1B}[31mred (its parent #2 does not lead back to the root, or its number is repeated: the memory is damaged)"), "\(tree.stdout)")
        let json = try harness.json(try harness.run(["agent", "archive", "--json"]).stdout)
        #expect((json["nodes"] as? [[String: Any]])?.count == 2)
    }
}
