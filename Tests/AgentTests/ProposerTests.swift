import Agent
import Foundation
import Platform
import SelfUpgrade
import Storage
import Synchronization
import Testing

/// The proposer protocol with the confined runner the command line uses: real processes in the
/// verification sandbox, the working copy writable in place.
@Suite("The proposer protocol")
struct ProposerTests {
    /// A proposer script outside the working copy, and a loop running it confined.
    struct Setup {
        let fixture: Fixture
        let script: String
        let upgrader: Upgrader

        init(_ body: String) throws {
            fixture = try Fixture()
            script = fixture.root + "/propose.sh"
            try ("#!/bin/sh\nset -e\n" + body + "\n").write(toFile: script, atomically: true, encoding: .utf8)
            chmod(script, 0o755)
            upgrader = try Upgrader(home: fixture.home, program: ProgramIdentity(name: "tool", version: "1.0.0", protocolVersion: 1))
        }

        /// Replaces the proposer script (executable).
        func rewrite(_ text: String) throws {
            try text.write(toFile: script, atomically: true, encoding: .utf8)
            chmod(script, 0o755)
        }

        func loop(settings: ProposerSettings = ProposerSettings(), upgrade: ProposalUpgrade? = nil, maxIterations: Int? = 1,
                  events: @escaping (AgentEvent) -> Void = { _ in }) -> AgentLoop {
            var loop = fixture.loop(.proposer(command: script), upgrade: upgrade, maxIterations: maxIterations, events: events)
            var settings = settings
            settings.runner = .confined(by: upgrader, timeoutSeconds: settings.timeoutSeconds, network: false)
            loop.proposer = settings
            return loop
        }
    }

    @Test("it gets only the protocol's environment and the variables passed by name, a private HOME, and its input file")
    func environment() throws {
        setenv("PROPOSER_TEST_SECRET", "not for the proposer", 1)
        setenv("PROPOSER_TEST_PASSED", "passed on purpose", 1)
        let setup = try Setup(#"""
            env | sort > "$1/env.txt"
            cp "$AUTODEV_PROPOSER_INPUT" "$1/input.json"
            """#)
        defer { setup.fixture.cleanUp() }
        // The upgrade sees the proposal before it is taken back.
        let seen = Mutex<[String]>([])
        let fixture = setup.fixture
        let reading = ProposalUpgrade(run: { _ in
            seen.withLock { $0 = [(try? fixture.read("env.txt")) ?? "", (try? fixture.read("input.json")) ?? ""] }
            throw BuildFailed(description: "does not build")
        })
        var settings = ProposerSettings(passEnvironment: ["PROPOSER_TEST_PASSED"], task: "make it faster")
        settings.timeoutSeconds = 30
        _ = try setup.loop(settings: settings, upgrade: reading, maxIterations: 2).run(after: nil)
        let (env, input) = seen.withLock { ($0[0], $0[1]) }
        #expect(env.contains("PROPOSER_TEST_PASSED=passed on purpose"))
        #expect(!env.contains("PROPOSER_TEST_SECRET"), "\(env)")
        #expect(env.contains("AUTODEV_WORKING_COPY=\(setup.fixture.source)"))
        let home = env.split(separator: "\n").first { $0.hasPrefix("HOME=") }
        #expect(home != nil && home != "HOME=\(ProcessInfo.processInfo.environment["HOME"] ?? "")", "\(home ?? "")")
        let variables = Set(env.split(separator: "\n").map { String($0.prefix { $0 != "=" }) })
        let allowed = Set(ProposerSettings.keptVariables + ["PROPOSER_TEST_PASSED", "AUTODEV_WORKING_COPY", "AUTODEV_PROPOSER_INPUT",
                                                            "HOME", "TMPDIR", "TOOL_SANDBOX", "PWD", "SHLVL", "_", "OLDPWD"])
        #expect(variables.subtracting(allowed).isEmpty, "\(variables.subtracting(allowed))")
        // The second run's input names the first's rejection.
        let json = try #require(try JSONSerialization.jsonObject(with: Data(input.utf8)) as? [String: Any])
        #expect(json["task"] as? String == "make it faster")
        #expect((json["lastRejection"] as? [String: Any])?["reason"] as? String == "does not build", "\(json)")
    }

    @Test("writing outside the working copy fails the proposer, and nothing is written there")
    func confinedWrites() throws {
        let setup = try Setup("")
        defer { setup.fixture.cleanUp() }
        let escaped = setup.fixture.root + "/escaped"
        try setup.rewrite("#!/bin/sh\nset -e\necho change >> \"$1/a.txt\"\ntouch '\(escaped)'\n")
        #expect { try setup.loop().run(after: nil) } throws: {
            ($0 as? AgentError)?.code == .proposerFailed && "\($0)".contains("exited with status 1") && "\($0)".contains("escaped")
        }
        #expect(!FileManager.default.fileExists(atPath: escaped))
    }

    @Test("it cannot plant a hook or configuration in the working copy's .git for the agent's own git to run")
    func gitIsReadOnly() throws {
        let setup = try Setup("")
        defer { setup.fixture.cleanUp() }
        let ran = setup.fixture.root + "/hook-ran"
        let hook = "#!/bin/sh\ntouch '\(ran)'\n"
        try setup.rewrite("""
            #!/bin/sh
            echo change >> "$1/a.txt"
            printf '\(hook.replacingOccurrences(of: "\n", with: "\\n"))' > "$1/.git/hooks/pre-commit" && chmod +x "$1/.git/hooks/pre-commit"
            printf '[core]\\n\\tfsmonitor = %s\\n' "$1/.git/hooks/pre-commit" >> "$1/.git/config"
            exit 0
            """)
        _ = try setup.loop().run(after: nil)
        #expect(!FileManager.default.fileExists(atPath: setup.fixture.source + "/.git/hooks/pre-commit"))
        #expect(!(try String(contentsOfFile: setup.fixture.source + "/.git/config", encoding: .utf8)).contains("fsmonitor"))
        #expect(!FileManager.default.fileExists(atPath: ran))
        // A hook the user's repository has is not run by the agent's commits either.
        try hook.write(toFile: setup.fixture.source + "/.git/hooks/pre-commit", atomically: true, encoding: .utf8)
        chmod(setup.fixture.source + "/.git/hooks/pre-commit", 0o755)
        try setup.rewrite("#!/bin/sh\necho again >> \"$1/b.txt\"\n")
        _ = try setup.loop().run(after: nil)
        #expect(try setup.fixture.memory.load()?.state.processed.count == 2)
        #expect(!FileManager.default.fileExists(atPath: ran))
    }

    @Test("a nested repository (whose filters git would run) is refused and discarded; a failed proposer's leftovers are discarded")
    func nestedRepositoryAndLeftovers() throws {
        let setup = try Setup("")
        defer { setup.fixture.cleanUp() }
        let ran = setup.fixture.root + "/filter-ran"
        try setup.rewrite("""
            #!/bin/sh
            set -e
            mkdir "$1/sub" && cd "$1/sub" && git init -q && printf 'f filter=pw\\n' > .gitattributes
            git config filter.pw.clean "touch '\(ran)'; cat"
            echo data > f
            echo change >> "$1/a.txt"
            """)
        let ending = try setup.loop().run(after: nil)
        guard case .finished(let memory) = ending else { Issue.record("\(ending)"); return }
        #expect(memory.processed.first?.reason?.hasPrefix("it creates a nested git repository (sub/.git)") == true, "\(memory.processed.first?.reason ?? "")")
        #expect(try setup.fixture.workingCopy.isClean())
        #expect(!FileManager.default.fileExists(atPath: setup.fixture.source + "/sub"))
        #expect(!FileManager.default.fileExists(atPath: ran))

        // A proposer that fails after writing: its writes go, the next run starts clean.
        try setup.rewrite("#!/bin/sh\necho half >> \"$1/a.txt\"\nmkdir \"$1/new\" && echo x > \"$1/new/file\"\nexit 7\n")
        #expect { try setup.loop().run(after: nil) } throws: { ($0 as? AgentError)?.code == .proposerFailed }
        #expect(try setup.fixture.workingCopy.isClean())
        #expect(!FileManager.default.fileExists(atPath: setup.fixture.source + "/new"))
    }

    @Test("a cost that is not a finite amount of at most 10^12 is no report")
    func hostileCosts() {
        for text in [#"{"cost": 1.7e308}"#, #"{"cost": -1}"#, #"{"cost": "5"}"#, #"{"cost": 1e13}"#, "cost 5", ""] {
            #expect(ProposerReport(output: Array(("noise\n" + text).utf8)).cost == nil, "\(text)")
        }
        #expect(ProposerReport(output: Array(#"{"cost": 0.25, "note": "two calls"}"#.utf8)) == ProposerReport(cost: 0.25, note: "two calls"))
    }

    @Test("the costs it reports add up to the budget, which ends the run")
    func budget() throws {
        let setup = try Setup(#"""
            echo "proposed" >> "$1/a.txt"
            echo 'thinking…'
            echo '{"cost": 0.6, "note": "two calls"}'
            """#)
        defer { setup.fixture.cleanUp() }
        var events: [AgentEvent] = []
        var loop = setup.loop(maxIterations: nil) { events.append($0) }
        loop.budget = (nil, 1.0)
        let ending = try loop.run(after: nil)
        guard case .finished(let memory) = ending else { Issue.record("\(ending)"); return }
        #expect(memory.processed.count == 2)
        #expect(memory.run?.cost == 1.2)
        #expect(events.contains(.budgetReached("the proposer reported a cost of 1.2, the budget is 1")), "\(events)")
    }
}
