import Agent
import Platform

/// `autodev agent`: parses the options, opens the session, runs the Agent module's loop and
/// shows its events; `autodev agent status` shows its memory.
enum AgentCommand {
    static func run(_ arguments: ParsedArguments) throws -> Int32 {
        let patches = arguments.value("patches").map(FileSystem.absolute)
        let proposer = arguments.value("proposer")
        guard (patches == nil) != (proposer == nil) else {
            throw UsageError(message: "Pass exactly one of --patches DIR and --proposer CMD", spec: CommandTree.agent)
        }
        let limit: Int? = try arguments.has("once") ? 1 : arguments.value("max-iterations").map { text in
            guard let count = Int(text), count > 0 else {
                throw UsageError(message: "The value '\(text)' is invalid for '--max-iterations <n>': give a positive whole number", spec: CommandTree.agent)
            }
            return count
        }
        if let patches, !FileSystem.isDirectory(patches) { throw ReleaseError("The patch directory \"\(patches)\" does not exist") }
        let proposals: ProposalSource = if let patches { .patches(directory: patches) } else { .proposer(command: proposer ?? "") }

        let (session, resumption) = try Session.open(arguments)
        let home = session.home
        Cancellation.install()
        guard let build = try UpgradeCommand.sourceBuild(arguments, home: home) else { return ExitCode.failure }
        let report = AgentReport(json: session.json)
        var loop = AgentLoop(
            upgrader: session.upgrader, build: build, proposals: proposals, maxIterations: limit,
            beforeRestart: { name in try AutodevState.update(in: home.state) { $0.pendingTransaction = "agent:" + name } },
            onEvent: report.show)
        // A proposal that changes only a module's sources is built, tested and hot reloaded.
        let source = build.source
        loop.moduleRoute = ModuleRoute(modules: ["Sources/CounterModule": "counter", "Sources/ExampleHandler": "example-handler"]) { module in
            try ModuleCommands.buildTestAndReload(module, source: source, home: home, testFilter: "ModulesTests")
        }
        switch try loop.run(after: resumption.map(AgentLoop.Restart.init)) {
        case .finished: return ExitCode.success
        case .upgradeReturned: return ExitCode.failure
        }
    }

    static func status(_ arguments: ParsedArguments) throws -> Int32 {
        let (session, code) = try Session.begin(arguments)
        guard let session else { return code }
        let memory = try AgentMemory.store(in: session.home).load()?.state ?? AgentMemory()
        if session.json {
            try Output.json(memory)
        } else {
            Output.out("Proposals: \(memory.processed.count) processed, \(memory.accepted) accepted, \(memory.rejected) rejected; \(memory.restarts) restart(s)")
            Output.out("In flight: " + (memory.inFlight.map { "\(DisplayText.name($0.name)) (since \(WallClock.iso8601($0.startedAt)))" } ?? "none"))
            for proposal in memory.processed.suffix(20) {
                Output.out("  \(WallClock.iso8601(proposal.finishedAt))  \(proposal.isAccepted ? "accepted" : "rejected")  \(DisplayText.name(proposal.name))"
                           + (proposal.id.map { "  → \(proposal.version ?? "?") (\($0.prefix(12)))" } ?? "")
                           + (proposal.reason.map { "  " + AgentReport.headline(of: $0) } ?? ""))
            }
        }
        return ExitCode.success
    }
}
