import SelfUpgrade
import Platform
import Storage
import Synchronization

/// `autodev agent`'s loop: takes proposed changes to the program's own source one at a time;
/// each that builds, tests and verifies becomes the running version (exec, same process), each
/// that fails is reverted and set aside with its reason.
///
/// Invariants:
/// - The memory is saved before every step that could end the process: a proposal is recorded
///   in flight before its upgrade starts, and again right before the exec.
/// - No proposal is processed twice and none is skipped: one found in flight at a start that is
///   not its restart is run again (not applied again); one finished is known by its digest.
/// - The working copy is clean when the loop starts, and every proposal is one commit on top of
///   it, so taking one back (`git reset --hard HEAD~1`) loses nothing else.
public struct AgentLoop {
    /// How a restart ended that this process is the end of: the outcome of the proposal in flight.
    public struct Restart: Sendable, Equatable {
        /// The new version confirmed itself (else the old one was exec'd back).
        public var accepted: Bool
        /// Why the new version did not confirm.
        public var reason: String?
        /// The new version's identifier (hex).
        public var id: String?
        /// The new version's version string.
        public var version: String?

        /// - Parameters:
        ///   - accepted: whether the new version confirmed itself.
        ///   - reason: why it did not.
        ///   - id: the new version's identifier (hex).
        ///   - version: the new version's version string.
        public init(accepted: Bool, reason: String? = nil, id: String? = nil, version: String? = nil) {
            self.accepted = accepted
            self.reason = reason
            self.id = id
            self.version = version
        }
    }

    /// How a run ended, when it returns.
    public enum Ending: Sendable, Equatable {
        /// No proposal left, or the limit reached; ``AgentEvent/done(_:)`` was reported.
        case finished(AgentMemory)
        /// The upgrade returned instead of exec'ing the new version; the proposal stays in flight.
        case upgradeReturned
        /// A version failed its probation and the rollback to its parent returned instead of
        /// exec'ing it; the archive and the working copy already say it was rolled back.
        case rollbackReturned
    }

    /// How long an accepted version stays on probation, and how it is rolled back.
    public struct ProbationPolicy: Sendable {
        /// Passing samples it needs (one before each proposal is taken and one when a run ends).
        public var samples: Int
        /// Seconds it needs besides, from its first start.
        public var seconds: Double
        /// Rolls back to the version with this identifier (hex; nil: the previous one) and execs
        /// it: does not return when it works.
        public var rollback: @Sendable (_ to: String?, _ reason: String) throws -> Void

        public init(samples: Int = 5, seconds: Double = 0, rollback: @escaping @Sendable (_ to: String?, _ reason: String) throws -> Void) {
            self.samples = samples
            self.seconds = seconds
            self.rollback = rollback
        }
    }

    /// The git working copy the proposals are committed in (the source build's package).
    public var workingCopy: WorkingCopy
    /// Where the proposals come from.
    public var proposals: ProposalSource
    /// Builds, tests, verifies and swaps in the working copy's version, then execs it.
    public var upgrade: ProposalUpgrade
    /// The memory's file.
    public var memoryStore: StateStore<AgentMemory>
    /// Proposals to take in one run at most (`--once` is 1); nil for no limit.
    public var maxIterations: Int?
    /// Runs right before the exec of a proposal's version, with the proposal's name.
    public var beforeRestart: @Sendable (String) throws -> Void
    /// Receives every ``AgentEvent``.
    public var onEvent: (AgentEvent) -> Void
    /// Runs before each proposal is taken, while none is in flight: the moment the host is idle
    /// (a background update check runs here, and may install an update, exec'ing into it; the
    /// loop then goes on in the new version).
    public var betweenProposals: () -> Void = {}
    /// When set, a proposal that changes only one module's sources is hot reloaded through it
    /// instead of going through the upgrade.
    public var moduleRoute: ModuleRoute?
    /// When set, a verified candidate is accepted only if its evaluation is not worse than its
    /// parent's; its evaluator must be what the memory pinned.
    public var fitness: FitnessGate?
    /// Pin the fitness evaluator as it is now, at a start that is not a restart (the user saw
    /// the change and accepts it).
    public var repin = false
    /// At a start that is not a restart: continue from this archive version (its commit is
    /// checked out; new proposals are made on it and judged against it).
    public var from: Int?
    /// How the version each new proposal is made on is chosen.
    public var selection = ParentSelection.head
    /// The running version (identifier hex, version string): the archive's root at the first run.
    public var running: (id: String?, version: String?) = (nil, nil)
    /// How a proposer command is run: its environment, task, time limit and confinement.
    public var proposer = ProposerSettings()
    /// Stops taking proposals once a run has lasted this many seconds, or its proposer has
    /// reported this much cost in all; nil for no limit.
    public var budget: (seconds: Double?, cost: Double?) = (nil, nil)
    /// With a fitness gate: an accepted version runs on probation, sampled by the evaluator
    /// against its parent's scores, and is rolled back when a sample fails or is worse.
    public var probation: ProbationPolicy?

    /// - Parameters:
    ///   - workingCopy: the git working copy the upgrade builds.
    ///   - proposals: where proposals come from.
    ///   - upgrade: the source upgrade of the working copy.
    ///   - memoryStore: the memory's file (``AgentMemory/store(in:)``).
    ///   - maxIterations: proposals to take in one run at most.
    ///   - beforeRestart: runs right before the exec, with the proposal's name.
    ///   - onEvent: receives every event.
    public init(workingCopy: WorkingCopy, proposals: ProposalSource, upgrade: ProposalUpgrade, memoryStore: StateStore<AgentMemory>,
                maxIterations: Int? = nil, beforeRestart: @escaping @Sendable (String) throws -> Void = { _ in },
                onEvent: @escaping (AgentEvent) -> Void = { _ in }) {
        self.workingCopy = workingCopy
        self.proposals = proposals
        self.upgrade = upgrade
        self.memoryStore = memoryStore
        self.maxIterations = maxIterations
        self.beforeRestart = beforeRestart
        self.onEvent = onEvent
    }

    // MARK: - API

    /// Runs the loop: finishes the proposal `restart` ended, then takes proposals until none is
    /// left or the limit is reached. An accepted proposal does not return: the process execs its
    /// version, whose start runs this again with the restart's outcome.
    /// - Parameter restart: the outcome of the restart this process is the end of, if any.
    /// - Returns: how the run ended.
    /// - Throws: ``AgentError`` before anything is done when the working copy is not a clean git
    ///   repository; errors that say nothing of a proposal (cancelled, no toolchain, the home
    ///   locked) after taking the proposal back out, leaving it unprocessed for the next run.
    public func run(after restart: Restart?) throws -> Ending {
        try workingCopy.requireRepository()
        try workingCopy.requireClean()
        var memory = try memoryStore.load()?.state ?? AgentMemory()
        if memory.root == nil {
            memory.root = AgentMemory.Root(id: running.id, version: running.version, commit: try workingCopy.head())
        }
        if let gate = fitness {
            if memory.fitnessPin == nil || (repin && restart == nil) {
                memory.fitnessPin = gate.pin
            } else if memory.fitnessPin != gate.pin {
                throw AgentError(.evaluatorChanged, "The fitness evaluator changed since it was pinned (\(FitnessGate.changes(from: memory.fitnessPin!, to: gate.pin))): look at the change, then pass --repin to judge by it from now on")
            }
        }
        if restart == nil, let from {
            guard memory.inFlight == nil else {
                throw AgentError(.unknownVersion, "A proposal (\(memory.inFlight!.name)) is in flight: run the agent without --from to finish it first")
            }
            guard let node = memory.version(from) else {
                throw AgentError(.unknownVersion, "The archive has no version #\(from) to continue from (see 'autodev agent archive': the root #0 and accepted proposals are versions)")
            }
            try workingCopy.checkOut(node.commit)
            memory.head = from
        }

        if let restart, let inFlight = memory.inFlight {
            // This process is the version the proposal built (or the old one, rolled back to).
            if !restart.accepted { try workingCopy.revert(inFlight.commit) }
            let proposal = memory.finish(inFlight, accepted: restart.accepted, reason: restart.reason, id: restart.id, version: restart.version)
            try workingCopy.keep(inFlight.commit, number: proposal.number ?? 0)
            if restart.accepted, probation != nil, fitness != nil, proposal.fitness != nil, let number = proposal.number {
                memory.probation = AgentMemory.Probation(number: number, startedAt: WallClock.now())
            }
            memory.restarts += 1
            try memoryStore.save(memory)
            try proposals.settle(inFlight.name, accepted: restart.accepted, reason: restart.reason)
            onEvent(.finished(proposal, restarted: true))
        } else if restart == nil {
            memory.run = AgentMemory.Run(startedAt: WallClock.now(), iterations: 0)
            memory.run?.processID = ProcessControl.id
            try memoryStore.save(memory)
        }

        taking: while true {
            if memory.inFlight == nil, try !sampleProbation(&memory) { return .rollbackReturned }
            if let maxIterations, (memory.run?.iterations ?? 0) >= maxIterations { break }
            if memory.inFlight == nil, let spent = budgetSpent(memory) {
                onEvent(.budgetReached(spent))
                break
            }
            if memory.inFlight == nil { betweenProposals() }
            if memory.inFlight == nil, selection != .head, case let parent = memory.parent(by: selection), parent != memory.currentHead,
               let version = memory.version(parent) {
                // Another branch of the archive: its commit is what the next proposal is made on.
                try workingCopy.checkOut(version.commit)
                memory.head = parent
                try memoryStore.save(memory)
            }
            var inFlight: AgentMemory.InFlight
            if let interrupted = memory.inFlight {
                // Interrupted before it ended (a crash or kill): it was not processed yet; run it again.
                inFlight = interrupted
                onEvent(.resuming(name: interrupted.name))
            } else {
                let reported = Mutex<ProposerReport?>(nil)
                var settings = proposer
                let forward = proposer.onReport
                settings.onReport = { report in
                    reported.withLock { $0 = report }
                    forward(report)
                }
                let next = try proposals.next(in: workingCopy, memory: memory, proposer: settings)
                if let cost = reported.withLock({ $0 })?.cost {
                    let spent = memory.run?.cost ?? 0
                    memory.run?.cost = spent + cost
                    try memoryStore.save(memory)
                }
                switch next {
                case nil:
                    break taking
                case .doesNotApply(let name, let digest, let reason)?:
                    let proposal = memory.finish(AgentMemory.InFlight(name: name, digest: digest, commit: "", startedAt: WallClock.now()),
                                                 accepted: false, reason: reason, id: nil, version: nil)
                    memory.run?.iterations += 1
                    try memoryStore.save(memory)
                    try proposals.settle(name, accepted: false, reason: reason)
                    onEvent(.finished(proposal, restarted: false))
                    continue
                case .ready(let name, let digest, let commit)?:
                    inFlight = AgentMemory.InFlight(name: name, digest: digest, commit: commit, startedAt: WallClock.now())
                    inFlight.parent = memory.currentHead
                }
                memory.inFlight = inFlight
                memory.run?.iterations += 1
                try memoryStore.save(memory)
            }
            if fitness != nil, case let removed = try workingCopy.removedAssertions(inFlight.commit), removed > 0 {
                // The gate's scores mean something only while the tests hold the candidate to them.
                try workingCopy.revert(inFlight.commit)
                let reason = "it removes \(removed) test assertion(s) under Tests/: with a fitness gate, a proposal may not weaken the checks the gate relies on"
                memory.finish(inFlight, accepted: false, reason: reason, id: nil, version: nil)
                memory.processed[memory.processed.count - 1].flags = ["removes-assertions"]
                try workingCopy.keep(inFlight.commit, number: memory.processed.count)
                try memoryStore.save(memory)
                try proposals.settle(inFlight.name, accepted: false, reason: reason)
                onEvent(.finished(memory.processed[memory.processed.count - 1], restarted: false))
                continue
            }
            if let route = moduleRoute, let module = route.module(changing: try workingCopy.changedFiles(inFlight.commit)) {
                onEvent(.reloadingModule(name: inFlight.name, module: module))
                let accepted: Bool
                let detail: String
                do {
                    // The gate measures the program's binary, which this route does not rebuild:
                    // a module change would be taken on a score it could not have earned.
                    if fitness != nil {
                        throw AgentError(.notJudged, "with a fitness gate, a change to the module \(module) alone is not taken: the gate measures autodev's binary, which a module's hot reload does not change")
                    }
                    detail = try route.reload(module)
                    accepted = true
                } catch {
                    try workingCopy.revert(inFlight.commit)
                    detail = "\(error)"
                    accepted = false
                }
                let proposal = memory.finish(inFlight, accepted: accepted, reason: accepted ? nil : detail, id: nil, version: accepted ? detail : nil)
                try workingCopy.keep(inFlight.commit, number: proposal.number ?? 0)
                try memoryStore.save(memory)
                try proposals.settle(inFlight.name, accepted: accepted, reason: accepted ? nil : detail)
                onEvent(.finished(proposal, restarted: false))
                continue
            }
            onEvent(.upgrading(name: inFlight.name))
            let store = memoryStore
            let saved = memory
            let beforeRestart = self.beforeRestart
            let decision = Decision()
            let gate = fitness
            let parentID = memory.version(inFlight.parent ?? memory.currentHead)?.id
            var acceptance: (@Sendable (Upgrader.Candidate) throws -> String)?
            if let gate {
                acceptance = { @Sendable (candidate: Upgrader.Candidate) throws -> String in
                    let comparison = try gate.judge(candidate, parentID: parentID)
                    decision.set(comparison)
                    return "fitness: not worse than its parent: \(comparison.summary) (\(comparison.rule))"
                }
            }
            let name = inFlight.name
            do {
                try upgrade.run(ProposalUpgrade.Hooks(beforeRestart: {
                    var saved = saved
                    saved.inFlight?.fitness = decision.get()
                    try store.save(saved)
                    try beforeRestart(name)
                }, acceptance: acceptance))
                // Not reached when the new version was exec'd: an accepted proposal goes on there.
                return .upgradeReturned
            } catch where upgrade.isAboutTheMachine(error) {
                // Not the proposal's fault (cancelled, no toolchain, the home locked or read-only):
                // stop with the proposal unprocessed, to be taken again next time.
                try workingCopy.revert(inFlight.commit)
                memory.inFlight = nil
                memory.run?.iterations -= 1
                try memoryStore.save(memory)
                throw error
            } catch {
                try workingCopy.revert(inFlight.commit)
                var proposal = memory.finish(inFlight, accepted: false, reason: "\(error)", id: nil, version: nil)
                let rejection = (error as? FitnessRejection) ?? ((error as? UpgradeError)?.underlying as? FitnessRejection)
                if let rejection {
                    proposal.fitness = rejection.comparison
                    proposal.flags = rejection.flags.isEmpty ? nil : rejection.flags
                    memory.processed[memory.processed.count - 1] = proposal
                }
                try workingCopy.keep(inFlight.commit, number: proposal.number ?? 0)
                try memoryStore.save(memory)
                try proposals.settle(inFlight.name, accepted: false, reason: "\(error)")
                onEvent(.finished(proposal, restarted: false))
                if let rejection, rejection.flags.contains("evaluator-changed") {
                    throw AgentError(.evaluatorChanged, "The fitness evaluator changed during the run (\(inFlight.name) was rejected for it): look at the change, then pass --repin to judge by it from now on")
                }
            }
        }
        onEvent(.done(memory))
        return .finished(memory)
    }

    /// Why the run's budget is spent, or nil while it is not.
    func budgetSpent(_ memory: AgentMemory) -> String? {
        guard let run = memory.run else { return nil }
        if let seconds = budget.seconds, WallClock.now() - run.startedAt >= seconds {
            return "the run's \(Int(seconds)) s are spent (\(Int(WallClock.now() - run.startedAt)) s)"
        }
        if let cost = budget.cost, let spent = run.cost, spent >= cost {
            return "the proposer reported a cost of \(FitnessComparison.number(spent)), the budget is \(FitnessComparison.number(cost))"
        }
        return nil
    }

    /// Takes one probation sample of the running version, if one is on probation: promotes it
    /// when it has passed enough, rolls it back to its parent when the sample fails.
    /// - Returns: false when a rollback was started and returned (it execs when it works).
    func sampleProbation(_ memory: inout AgentMemory) throws -> Bool {
        guard let policy = probation, let gate = fitness, let state = memory.probation,
              state.number >= 1, state.number <= memory.processed.count else { return true }
        let index = state.number - 1
        let proposal = memory.processed[index]
        guard let comparison = proposal.fitness, let id = proposal.id else {
            memory.probation = nil
            try memoryStore.save(memory)
            return true
        }
        let parent = proposal.parent ?? 0
        let failure: String?
        do {
            try gate.check(id: id, against: comparison, sample: state.passed + 1)
            failure = nil
        } catch let rejection as FitnessRejection where rejection.flags.contains("evaluator-changed") {
            // The judge changed, not the version: nothing it says now is trusted, least of all a rollback.
            throw AgentError(.evaluatorChanged, "The fitness evaluator changed while #\(state.number) was on probation (\(rejection)): look at the change, then pass --repin")
        } catch {
            failure = "\(error)"
        }
        guard let failure else {
            memory.probation?.passed += 1
            let passed = state.passed + 1, seconds = WallClock.now() - state.startedAt
            if passed >= policy.samples && seconds >= policy.seconds {
                memory.processed[index].probation = "passed: \(passed) sample(s) over \(Int(seconds)) s"
                memory.probation = nil
                onEvent(.probation(number: state.number, passed: passed, failure: nil))
            }
            try memoryStore.save(memory)
            return true
        }
        // Failed: the archive says so and the working copy goes back to the parent before the
        // rollback execs it (the parent's run goes on from there).
        let reason = "failed probation sample \(state.passed + 1): \(failure)"
        memory.processed[index].outcome = AgentMemory.Proposal.rolledBack
        memory.processed[index].probation = reason + "; rolled back to #\(parent)"
        memory.processed[index].flags = (memory.processed[index].flags ?? []) + ["rolled-back"]
        memory.probation = nil
        memory.head = parent
        let target = memory.version(parent)
        if let target { try workingCopy.checkOut(target.commit) }
        try memoryStore.save(memory)
        onEvent(.probation(number: state.number, passed: state.passed, failure: reason))
        try policy.rollback(target?.id, reason)
        return false
    }
}

/// The fitness decision, handed from the acceptance judgement to the step before the exec.
private final class Decision: Sendable {
    private let value = Mutex<FitnessComparison?>(nil)
    func set(_ comparison: FitnessComparison) { value.withLock { $0 = comparison } }
    func get() -> FitnessComparison? { value.withLock { $0 } }
}
