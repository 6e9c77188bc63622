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

    @Test("--prune is refused while an agent run works on the home, then drops a rejected proposal's commit and keeps its record, marked")
    func prune() throws {
        let harness = try Harness()
        defer { harness.cleanUp() }
        _ = try harness.initialize()
        let source = harness.home + "/source"
        try FileManager.default.createDirectory(atPath: source, withIntermediateDirectories: true)
        let identity = ["-c", "user.name=test", "-c", "user.email=test@localhost", "-c", "commit.gpgsign=false"]
        _ = try Harness.git(["init", "--quiet"], in: source)
        try "first\n".write(toFile: source + "/a.txt", atomically: true, encoding: .utf8)
        _ = try Harness.git(["add", "a.txt"], in: source)
        _ = try Harness.git(identity + ["commit", "--quiet", "-m", "first"], in: source)
        let root = try Harness.git(["rev-parse", "HEAD"], in: source).trimmingCharacters(in: .newlines)
        try "proposal\n".write(toFile: source + "/a.txt", atomically: true, encoding: .utf8)
        _ = try Harness.git(identity + ["commit", "--quiet", "-am", "proposal"], in: source)
        let rejected = try Harness.git(["rev-parse", "HEAD"], in: source).trimmingCharacters(in: .newlines)
        _ = try Harness.git(["update-ref", "refs/autodev/archive/1", rejected], in: source)
        _ = try Harness.git(["reset", "--quiet", "--hard", root], in: source)
        // Written two hours ago, past the grace pruning gives objects an agent run may be writing.
        let objects = try FileManager.default.subpathsOfDirectory(atPath: source + "/.git/objects")
        for object in objects where object.count == 41 {
            try FileManager.default.setAttributes([.modificationDate: Date(timeIntervalSinceNow: -7200)], ofItemAtPath: source + "/.git/objects/" + object)
        }
        func memory(runBy pid: Int32) -> String {
            """
            {"schema":1}
            {"processed":[{"name":"p1","digest":"","outcome":"rejected","seconds":0,"finishedAt":0,"number":1,"parent":0,"commit":"\(rejected)"}],\
            "root":{"commit":"\(root)"},"run":{"startedAt":0,"iterations":1,"processID":\(pid)},"restarts":0}

            """
        }
        try FileManager.default.createDirectory(atPath: harness.home + "/state", withIntermediateDirectories: true)
        try memory(runBy: ProcessInfo.processInfo.processIdentifier).write(toFile: harness.home + "/state/agent.json", atomically: true, encoding: .utf8)
        let before = try harness.snapshot()
        let refused = try harness.run(["agent", "archive", "--prune"])
        #expect(refused.status != 0)
        #expect(refused.stderr.contains("An agent run (pid \(ProcessInfo.processInfo.processIdentifier)) is working on \(harness.home)"), "\(refused.stderr)")
        #expect(try harness.snapshot() == before)

        // The run has ended (its process is gone).
        try memory(runBy: 0).write(toFile: harness.home + "/state/agent.json", atomically: true, encoding: .utf8)
        let pruned = try harness.run(["agent", "archive", "--prune"])
        #expect(pruned.status == 0, "\(pruned.stderr)")
        #expect(pruned.stdout == "Pruned 1 proposal(s): #1.\nKept: #0.\n", "\(pruned.stdout)")
        #expect(try Harness.git(["for-each-ref", "refs/autodev/archive"], in: source).isEmpty)
        #expect(try Harness.git(["cat-file", "-t", rejected], in: source).isEmpty, "the rejected commit is still in the repository")
        let tree = try harness.run(["agent", "archive"])
        #expect(tree.stdout.contains("#1 rejected p1 (pruned)"), "\(tree.stdout)")
        let again = try harness.json(try harness.run(["agent", "archive", "--prune", "--json"]).stdout)
        #expect(again["pruned"] as? [Int] == [] && again["kept"] as? [Int] == [0], "\(again)")
    }
}
