import Platform
import SelfUpgrade
import SourceUpgrade

// The one file of this module that uses the source upgrade's API.

/// The source upgrade a proposal goes through: build, test, verify, swap, exec restart.
public struct ProposalUpgrade: Sendable {
    /// What the loop hands an upgrade: a step right before the exec, and the acceptance
    /// judgement of the verified candidate (the fitness gate), if any.
    public struct Hooks: Sendable {
        /// Runs right before the exec.
        public var beforeRestart: @Sendable () throws -> Void
        /// Judges the verified candidate before the swap (``Upgrader/UpgradeOptions/acceptance``).
        public var acceptance: (@Sendable (Upgrader.Candidate) throws -> String)?
    }

    /// Runs the upgrade with `hooks`. Returns only when no exec happened (which a real upgrade
    /// never does); throws when the proposal is rejected or the upgrade could not run.
    package var run: @Sendable (_ hooks: Hooks) throws -> Void
    /// Whether an error the upgrade threw says nothing of the proposal (cancelled, no toolchain,
    /// the home locked or not writable): the proposal is then left unprocessed, not rejected.
    package var isAboutTheMachine: @Sendable (any Error) -> Bool

    /// An upgrade with its steps given as functions (for tests, which cannot exec).
    /// - Parameters:
    ///   - run: runs the upgrade, calling its hooks' `beforeRestart` right before the exec.
    ///   - isAboutTheMachine: tells errors that are not the proposal's fault.
    package init(run: @escaping @Sendable (_ hooks: Hooks) throws -> Void,
                isAboutTheMachine: @escaping @Sendable (any Error) -> Bool = ProposalUpgrade.isAboutTheMachine) {
        self.run = run
        self.isAboutTheMachine = isAboutTheMachine
    }

    /// `upgrader.upgrade(fromSource: build)`, which execs the new version when it succeeds.
    /// - Parameters:
    ///   - upgrader: the installation's upgrader.
    ///   - build: how to build and test the working copy.
    public init(upgrader: Upgrader, build: SourceBuild) {
        self.init(run: { hooks in
            var options = Upgrader.UpgradeOptions()
            options.beforeRestart = hooks.beforeRestart
            options.acceptance = hooks.acceptance
            _ = try upgrader.upgrade(fromSource: build, options: options)
        })
    }

    /// Cancellation, and the upgrade errors that come from the machine or the installation.
    /// - Parameter error: an error the upgrade threw.
    /// - Returns: whether it says nothing of the proposal.
    public static func isAboutTheMachine(_ error: any Error) -> Bool {
        if error is Subprocess.Cancelled { return true }
        guard let error = error as? UpgradeError else { return false }
        return [.toolMissing, .locked, .homeNotWritable, .restartLoop, .notInitialized, .insufficientSpace, .cancelled].contains(error.code)
    }
}

extension AgentLoop {
    /// A loop whose proposals go through `upgrader.upgrade(fromSource: build)` in `build`'s package.
    /// - Parameters:
    ///   - upgrader: the installation's upgrader.
    ///   - build: the source build; its package is the working copy.
    ///   - proposals: where proposals come from.
    ///   - maxIterations: proposals to take in one run at most.
    ///   - beforeRestart: runs right before the exec, with the proposal's name.
    ///   - onEvent: receives every event.
    public init(upgrader: Upgrader, build: SourceBuild, proposals: ProposalSource, maxIterations: Int? = nil,
                beforeRestart: @escaping @Sendable (String) throws -> Void = { _ in }, onEvent: @escaping (AgentEvent) -> Void = { _ in }) {
        self.init(workingCopy: WorkingCopy(directory: build.source, logs: upgrader.home.logs), proposals: proposals,
                  upgrade: ProposalUpgrade(upgrader: upgrader, build: build), memoryStore: AgentMemory.store(in: upgrader.home),
                  maxIterations: maxIterations, beforeRestart: beforeRestart, onEvent: onEvent)
    }
}

extension AgentLoop.Restart {
    /// The outcome of the restart `resumption` reports.
    public init(_ resumption: Upgrader.Resumption) {
        self.init(accepted: resumption.result == .confirmed, reason: resumption.reason, id: resumption.to?.hex,
                  version: resumption.toVersion)
    }
}
