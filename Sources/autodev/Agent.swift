import ChannelUpdate
import Agent
import SelfUpgrade
import Doctor
import Platform
import ReleaseChannel

/// `autodev agent`: parses the options, opens the session, runs the Agent module's loop and
/// shows its events; `autodev agent status` shows its memory.
extension AgentCommand {
    static func run(_ arguments: AgentCommand) throws -> Int32 {
        let patches = arguments.patches.map(FileSystem.absolute)
        let proposer = arguments.proposer
        guard (patches == nil) != (proposer == nil) else {
            throw UsageError(message: "Pass exactly one of --patches DIR and --proposer CMD", spec: AgentCommand.spec)
        }
        let limit: Int? = try arguments.once ? 1 : arguments.maxIterations.map { text in
            guard let count = Int(text), count > 0 else {
                throw UsageError(message: "The value '\(text)' is invalid for '--max-iterations <n>': give a positive whole number", spec: AgentCommand.spec)
            }
            return count
        }
        // The options win over the home's settings (config.json), which win over the defaults.
        let homeRoot = HomeLocator.locate(option: arguments.home).directory
        let agentSettings = try AgentSettings.load(homeDirectory: homeRoot)
        let evaluator = try fitnessEvaluator(arguments, settings: agentSettings)
        let fitnessOptions = [arguments.$repin, arguments.$fitnessData, arguments.$fitnessRuns, arguments.$fitnessMargin, arguments.$fitnessTimeout,
                              arguments.$probationRuns, arguments.$probationSeconds]
        if evaluator == nil, let option = fitnessOptions.first(where: { $0.text != nil })?.option.name {
            throw UsageError(message: "'--\(option)' needs '--fitness <PATH>' (or fitnessCommand in config.json)", spec: AgentCommand.spec)
        }
        let from = try ChannelCommands.integer(arguments.$from, AgentCommand.spec, range: 0...Int(Int32.max))
        var selection = ParentSelection.head
        if let name = arguments.select {
            guard let rule = ParentSelection(rawValue: name) else {
                throw UsageError(message: "The value '\(name)' is invalid for '--select <RULE>': give head, best or explore", spec: AgentCommand.spec)
            }
            selection = rule
        }
        let probationRuns = try ChannelCommands.integer(arguments.$probationRuns, AgentCommand.spec, range: 0...1000) ?? agentSettings.probationRuns
        let probationSeconds = try seconds(arguments.$probationSeconds, range: 0...31_536_000) ?? agentSettings.probationSeconds
        if let patches, !FileSystem.isDirectory(patches) { throw ReleaseError("The patch directory \(Output.quoted(patches)) does not exist") }
        let proposals: ProposalSource = if let patches { .patches(directory: patches) } else { .proposer(command: proposer ?? "") }

        let settings = try UpdateSettings.load(homeDirectory: homeRoot)
        let updatePolicy = try updatePolicy(arguments) ?? settings.policy
        let updateInterval = try updateInterval(arguments) ?? settings.checkIntervalSeconds
        let (session, resumption) = try Session.open(arguments)
        let home = session.home
        Cancellation.install()
        guard var build = try UpgradeCommand.sourceBuild(.init(source: arguments.source, testFilter: arguments.testFilter), home: home, spec: AgentCommand.spec) else { return ExitCode.failure }
        // A proposal's manifest, plugins and tests are code not trusted yet.
        build.confine(network: arguments.buildNetwork)
        build.timeoutSeconds = try seconds(arguments.$buildTimeout, range: 1...604_800) ?? 7200
        let report = AgentReport(json: session.json)
        var loop = AgentLoop(
            upgrader: session.upgrader, build: build, proposals: proposals, maxIterations: limit,
            beforeRestart: { name in try AutodevState.update(in: home.stateDirectory) { $0.pendingTransaction = "agent:" + name } },
            onEvent: report.show)
        if let evaluator {
            let pin = try FitnessPin(evaluator, outside: build.source)
            loop.fitness = FitnessGate(evaluator: evaluator, pin: pin, workingCopy: build.source, upgrader: session.upgrader)
            if probationRuns > 0 {
                let upgrader = session.upgrader
                loop.probation = AgentLoop.ProbationPolicy(samples: probationRuns, seconds: probationSeconds) { id, reason in
                    var options = Upgrader.UpgradeOptions()
                    options.beforeRestart = { try AutodevState.update(in: home.stateDirectory) { $0.pendingTransaction = "agent:probation" } }
                    options.reason = "the agent's probation: " + reason
                    report.rollingBack(to: id, reason: reason)
                    _ = try upgrader.rollback(to: id.flatMap(VersionID.init(hex:)), options: options)
                }
            }
        }
        loop.proposer = try proposerSettings(arguments, session: session)
        loop.budget = (try seconds(arguments.$budgetSeconds, range: 1...31_536_000), try number(arguments.$budgetCost))
        loop.selection = selection
        loop.repin = arguments.repin
        loop.from = from
        loop.running = ((try? home.currentVersion())??.hex, autodevVersion)
        let integrityRate = try ChannelCommands.integer(arguments.$integrityRate, AgentCommand.spec, range: 0...Int(Int32.max)) ?? 1 << 20
        if let checker = backgroundChecker(session: session, settings: settings, policy: updatePolicy, interval: updateInterval,
                                           integrityRate: integrityRate, report: report) {
            loop.betweenProposals = { checker.tick() }
        }
        // A proposal that changes only a module's sources is built, tested and hot reloaded.
        let source = build.source, upgrader = session.upgrader, buildNetwork = arguments.buildNetwork, buildTimeout = build.timeoutSeconds
        let builder = ModuleBuilder(installation: home, environmentPrefix: autodevIdentity.environmentPrefix)
        loop.moduleRoute = ModuleRoute(modules: ["Sources/Examples/CounterModule": "counter", "Sources/Examples/ExampleHandler": "example-handler"]) { module in
            guard let entry = ModuleCatalog.entries.first(where: { $0.name == module }) else { throw ModuleCommandError("Unknown module \(module)") }
            return try builder.buildTestAndReload(module: entry.name, product: entry.product, source: source, testFilter: "ModulesTests",
                                                  upgrader: upgrader, network: buildNetwork, timeoutSeconds: buildTimeout)
        }
        switch try loop.run(after: resumption.map(AgentLoop.Restart.init)) {
        case .finished: return ExitCode.success
        case .upgradeReturned, .rollbackReturned: return ExitCode.failure
        }
    }

    /// A background update check between proposals, when the home follows a release channel:
    /// a new release is reported (and recorded for `self-upgrade status`); under `policy` it is
    /// installed while no proposal is in flight, and the loop goes on in the new version.
    /// Also, with a rate above 0, the stored versions are re-hashed at that many bytes a second
    /// (``IntegrityScrubber``), and a damaged one is reported as an update is, and recorded for
    /// `self-upgrade status`.
    /// A version in the settings' skip list is not offered (unless critical); an update the
    /// policy allows waits until no proposal has finished for `autoUpgradeOnIdleMinutes`; each
    /// notice also goes to the notification command.
    static func backgroundChecker(session: Session, settings: UpdateSettings, policy: UpdateSettings.Policy, interval: Double, integrityRate: Int,
                                  report: AgentReport) -> CheckerClock? {
        let channel = try? UpdateChannel.load(home: session.home.directory)
        guard channel != nil || integrityRate > 0 else { return nil }
        let update = channel.flatMap { try? ChannelUpdate(channel: $0, upgrader: session.upgrader, current: SemanticVersion(autodevVersion)!,
                                                          skippedVersions: Set(settings.skippedVersions)) }
        let scrubber = integrityRate > 0 ? ScrubberBox(IntegrityScrubber(homeDirectory: session.home.directory, program: autodevIdentity,
                                                                        bytesPerSecond: Double(integrityRate))) : nil
        let home = session.home.directory
        let memory = AgentMemory.store(in: session.home)
        let started = WallClock.now()
        let notifier = UpdateNotifier(homeDirectory: home, program: autodevIdentity, settings: settings)
        let checker = BackgroundChecker(
            timing: .init(interval: interval), policy: policy.checkerPolicy, start: MonotonicClock.seconds(since: 0),
            check: {
                // No channel: only the integrity check runs.
                guard let update else { return nil }
                let offer: ReleaseOffer? = if case .available(let offer) = try update.check() { offer } else { nil }
                try update.channel.recordAvailable(offer)
                return offer
            },
            isIdle: {
                // Idle: no proposal in flight (ticks run only between them) and none finished for the minutes set.
                guard settings.autoUpgradeOnIdleMinutes > 0 else { return true }
                let last = (try? memory.load()?.state.processed.last?.finishedAt) ?? nil
                return WallClock.now() - max(last ?? started, started) >= Double(settings.autoUpgradeOnIdleMinutes) * 60
            },
            notify: { notice in
                report.notice(notice)
                switch notice {
                case .updateAvailable(let offer):
                    notifier.send(.updateAvailable, version: offer.facts.version.description, critical: offer.facts.critical)
                case .integrityProblem(let problem):
                    notifier.send(.integrityProblem, message: problem)
                }
            },
            apply: { offer in
                guard let update else { return }
                report.installing(offer)
                do {
                    try ChannelCommands.install(offer, with: update, session: session, allowDowngrade: false, json: session.json) { _ in false }
                } catch {
                    notifier.send(.failed, version: offer.facts.version.description, message: "\(error)")
                    throw error
                }
            },
            integrity: scrubber.map { box in
                { now in
                    let findings = box.scrubber.advance(now: now)
                    if !findings.isEmpty { try? IntegrityNotice.record(findings, homeDirectory: home) }
                    return findings.map { "\($0.path): \($0.problem)" }
                }
            })
        return CheckerClock(checker)
    }

    /// How the proposer runs: confined, with the working copy writable in place, the network
    /// only with `--proposer-network`, and the environment the protocol names.
    static func proposerSettings(_ arguments: AgentCommand, session: Session) throws -> ProposerSettings {
        var settings = ProposerSettings()
        settings.passEnvironment = arguments.proposerEnv
        for name in settings.passEnvironment where name.isEmpty || name.contains("=") || name.hasPrefix("AUTODEV_") {
            throw UsageError(message: "The value '\(name)' is invalid for '--proposer-env <NAME>': give the name of a variable (not one of autodev's own)", spec: AgentCommand.spec)
        }
        if let path = arguments.task {
            let bytes = try FileSystem.readInputFile(FileSystem.absolute(path), maxBytes: ProposerSettings.taskLimit, what: "the task for the proposer")
            guard let text = String(validating: bytes, as: UTF8.self) else { throw ReleaseError("The task \(Output.quoted(path)) is not UTF-8 text") }
            settings.task = text
        }
        settings.timeoutSeconds = try seconds(arguments.$proposerTimeout, range: 1...86_400) ?? settings.timeoutSeconds
        settings.runner = .confined(by: session.upgrader, timeoutSeconds: settings.timeoutSeconds, network: arguments.proposerNetwork)
        return settings
    }

    /// A number of seconds in `range` from the option; nil without it.
    static func seconds(_ given: GivenValue, range: ClosedRange<Double>) throws -> Double? {
        guard let text = given.text else { return nil }
        guard let value = Double(text), value.isFinite, range.contains(value) else {
            throw UsageError(message: "The value '\(text)' is invalid for '--\(given.option.name) <SECONDS>': give a number of seconds from \(Int(range.lowerBound)) to \(Int(range.upperBound))", spec: AgentCommand.spec)
        }
        return value
    }

    /// A non-negative finite number from the option; nil without it.
    static func number(_ given: GivenValue) throws -> Double? {
        guard let text = given.text else { return nil }
        guard let value = Double(text), value.isFinite, value >= 0 else {
            throw UsageError(message: "The value '\(text)' is invalid for '--\(given.option.name) <AMOUNT>': give a number of 0 or more", spec: AgentCommand.spec)
        }
        return value
    }

    /// The evaluator the `--fitness` options describe; nil without `--fitness`.
    static func fitnessEvaluator(_ arguments: AgentCommand, settings: AgentSettings) throws -> FitnessEvaluator? {
        guard let command = arguments.fitness ?? settings.fitnessCommand else { return nil }
        let path = FileSystem.absolute(command)
        guard let status = try? FileSystem.status(path), status.kind == .regular, status.mode & 0o111 != 0 else {
            throw ReleaseError("The fitness command \(Output.quoted(path)) is not an executable file")
        }
        var evaluator = FitnessEvaluator(command: path, runs: settings.fitnessRuns, margin: settings.fitnessMarginPercent / 100,
                                         timeoutSeconds: settings.fitnessTimeoutSeconds)
        if let data = arguments.fitnessData ?? settings.fitnessData {
            let directory = FileSystem.absolute(data)
            guard FileSystem.isDirectory(directory) else { throw ReleaseError("The fitness data directory \(Output.quoted(directory)) does not exist") }
            evaluator.data = directory
        }
        evaluator.runs = try ChannelCommands.integer(arguments.$fitnessRuns, AgentCommand.spec, range: FitnessEvaluator.runRange) ?? evaluator.runs
        if let text = arguments.fitnessMargin {
            guard let percent = Double(text), percent.isFinite, FitnessEvaluator.marginRange.contains(percent / 100) else {
                throw UsageError(message: "The value '\(text)' is invalid for '--fitness-margin <PERCENT>': give a number from 0 to 100", spec: AgentCommand.spec)
            }
            evaluator.margin = percent / 100
        }
        evaluator.timeoutSeconds = try seconds(arguments.$fitnessTimeout, range: FitnessEvaluator.timeoutRange) ?? evaluator.timeoutSeconds
        return evaluator
    }

    /// The policy `--updates` names; nil without the option.
    static func updatePolicy(_ arguments: AgentCommand) throws -> UpdateSettings.Policy? {
        guard let name = arguments.updates else { return nil }
        guard let policy = UpdateSettings.Policy(rawValue: name) else {
            throw UsageError(message: "The value '\(name)' is invalid for '--updates <policy>': give manual, critical or all", spec: AgentCommand.spec)
        }
        return policy
    }

    /// The seconds `--update-interval` names; nil without the option.
    static func updateInterval(_ arguments: AgentCommand) throws -> Double? {
        guard let text = arguments.updateInterval else { return nil }
        guard let seconds = Double(text), seconds.isFinite, seconds >= 0, seconds <= 604_800 else {
            throw UsageError(message: "The value '\(text)' is invalid for '--update-interval <seconds>': give a number of seconds from 0 to 604800", spec: AgentCommand.spec)
        }
        return seconds
    }

    static func status(_ arguments: AgentStatusCommand) throws -> Int32 {
        let (session, code) = try Session.begin(arguments)
        guard let session else { return code }
        let memory = try AgentMemory.store(in: session.home).load()?.state ?? AgentMemory()
        if session.json {
            try Output.json(memory)
        } else {
            Output.out("Proposals: \(memory.processed.count) processed, \(memory.accepted) accepted, \(memory.rejected) rejected; \(memory.restarts) restart(s)")
            Output.out("In flight: " + (memory.inFlight.map { "\(DisplayText.name($0.name)) (since \(WallClock.iso8601($0.startedAt)))" } ?? "none"))
            for proposal in memory.processed.suffix(20) {
                // Names, versions and reasons come from proposals and tools: escaped, one line each.
                Output.out("  \(WallClock.iso8601(proposal.finishedAt))  " + DisplayText.name(
                    "\(proposal.outcome)  \(proposal.name)"
                    + (proposal.id.map { "  → \(proposal.version ?? "?") (\($0.prefix(12)))" } ?? "")
                    + (proposal.reason.map { "  " + AgentReport.headline(of: $0) } ?? "")))
            }
        }
        return ExitCode.success
    }
}

extension UpdateSettings.Policy {
    /// The background checker's policy of the same name.
    var checkerPolicy: BackgroundChecker.Policy {
        switch self {
        case .manual: .manual
        case .critical: .criticalOnly
        case .all: .all
        }
    }
}

/// The agent's integrity scrubber, advanced from the background checker's tick (one thread).
final class ScrubberBox {
    var scrubber: IntegrityScrubber
    init(_ scrubber: IntegrityScrubber) { self.scrubber = scrubber }
}

/// A ``BackgroundChecker`` driven by the monotonic clock, ticked from the agent's loop.
final class CheckerClock {
    private var checker: BackgroundChecker

    init(_ checker: BackgroundChecker) { self.checker = checker }

    /// Checks if a check is due, and installs what the policy allows. A failure changes nothing
    /// (the checker backs off); it is noted on standard error.
    func tick() {
        if let failure = checker.tick(now: MonotonicClock.seconds(since: 0)) {
            Output.err("agent: update check: \(failure)")
        }
    }
}
