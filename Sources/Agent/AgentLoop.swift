import SelfUpgrade
import Platform
import Storage

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

        if let restart, let inFlight = memory.inFlight {
            // This process is the version the proposal built (or the old one, rolled back to).
            if !restart.accepted { try workingCopy.revert(inFlight.commit) }
            let proposal = memory.finish(inFlight, accepted: restart.accepted, reason: restart.reason, id: restart.id, version: restart.version)
            memory.restarts += 1
            try memoryStore.save(memory)
            try proposals.settle(inFlight.name, accepted: restart.accepted, reason: restart.reason)
            onEvent(.finished(proposal, restarted: true))
        } else if restart == nil {
            memory.run = AgentMemory.Run(startedAt: WallClock.now(), iterations: 0)
            try memoryStore.save(memory)
        }

        taking: while true {
            if let maxIterations, (memory.run?.iterations ?? 0) >= maxIterations { break }
            if memory.inFlight == nil { betweenProposals() }
            let inFlight: AgentMemory.InFlight
            if let interrupted = memory.inFlight {
                // Interrupted before it ended (a crash or kill): it was not processed yet; run it again.
                inFlight = interrupted
                onEvent(.resuming(name: interrupted.name))
            } else {
                switch try proposals.next(in: workingCopy, memory: memory) {
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
                }
                memory.inFlight = inFlight
                memory.run?.iterations += 1
                try memoryStore.save(memory)
            }
            if let route = moduleRoute, let module = route.module(changing: try workingCopy.changedFiles(inFlight.commit)) {
                onEvent(.reloadingModule(name: inFlight.name, module: module))
                let accepted: Bool
                let detail: String
                do {
                    detail = try route.reload(module)
                    accepted = true
                } catch {
                    try workingCopy.revert(inFlight.commit)
                    detail = "\(error)"
                    accepted = false
                }
                let proposal = memory.finish(inFlight, accepted: accepted, reason: accepted ? nil : detail, id: nil, version: accepted ? detail : nil)
                try memoryStore.save(memory)
                try proposals.settle(inFlight.name, accepted: accepted, reason: accepted ? nil : detail)
                onEvent(.finished(proposal, restarted: false))
                continue
            }
            onEvent(.upgrading(name: inFlight.name))
            let store = memoryStore
            let saved = memory
            let beforeRestart = self.beforeRestart
            do {
                try upgrade.run {
                    try store.save(saved)
                    try beforeRestart(inFlight.name)
                }
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
                let proposal = memory.finish(inFlight, accepted: false, reason: "\(error)", id: nil, version: nil)
                try memoryStore.save(memory)
                try proposals.settle(inFlight.name, accepted: false, reason: "\(error)")
                onEvent(.finished(proposal, restarted: false))
            }
        }
        onEvent(.done(memory))
        return .finished(memory)
    }
}
