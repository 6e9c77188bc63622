import Integrity
import Platform
import Storage

extension StepName {
    /// The new version runs beside the old one and has said it is ready (overlap restart).
    package static let ready = StepName(rawValue: "ready")
}

extension Upgrader {
    // MARK: - Overlap (a supervisor restarts the program, not exec)

    /// A restart by overlap: the caller starts `binary` beside the running version and returns
    /// once it is ready; it throws when it never became ready (having stopped it). `undo` stops it
    /// again if a later step fails.
    public struct Overlap: Sendable {
        /// Starts the version at the given path and waits for its readiness; throws if it never is.
        public var start: @Sendable (_ binary: String, _ version: VersionID) throws -> Void
        /// Stops what `start` started (a later step failed).
        public var undo: @Sendable () -> Void
        public init(start: @escaping @Sendable (_ binary: String, _ version: VersionID) throws -> Void, undo: @escaping @Sendable () -> Void) {
            self.start = start
            self.undo = undo
        }
    }

    /// Upgrades by overlap: preflight → stage → ready (the new version serves beside the old one
    /// and said so) → swap → commit. The old version is the caller's to stop after this returns.
    /// A candidate that never becomes ready aborts the transaction: `current` never moved.
    /// - Throws: ``UpgradeError`` naming what was wrong; everything done is undone first.
    public func upgrade(fromBinary candidate: String, overlap: Overlap) throws(UpgradeError) -> Outcome {
        try UpgradeError.wrapping {
            let path = FileSystem.absolute(candidate)
            try Self.validateCandidate(path)
            var options = UpgradeOptions()
            options.restart = false
            return try transact(operation: .upgrade, source: .binary(path: path), options: options) { context in
                context.candidate = path
                return [PreflightStep(), StageStep(), ReadyStep(overlap: overlap)]
            }
        }
    }

    /// Rolls back by overlap: check the target's hash → ready → swap → commit.
    /// - Parameter target: the version to return to; nil: the one before the current in history.
    /// - Throws: ``UpgradeError/noPreviousVersion``, ``StorageError`` for a missing version.
    public func rollback(to target: VersionID?, overlap: Overlap) throws(UpgradeError) -> Outcome {
        try UpgradeError.wrapping {
            var options = UpgradeOptions()
            options.restart = false
            return try transact(operation: .rollback, options: options, target: { ledger in try resolveRollbackTarget(target?.digest, ledger: ledger) }) { _ in
                [CheckIntegrityStep(), ReadyStep(overlap: overlap)]
            }
        }
    }

    /// Stages `candidate` and makes it current without running it (preflight → stage → swap →
    /// commit): the program runs it from its next start. Not verified: whoever starts it must
    /// roll back if it fails before it proves itself (a supervisor does).
    /// - Throws: ``UpgradeError`` naming what was wrong; everything done is undone first.
    public func stageForNextStart(fromBinary candidate: String) throws(UpgradeError) -> Outcome {
        try UpgradeError.wrapping {
            let path = FileSystem.absolute(candidate)
            try Self.validateCandidate(path)
            var options = UpgradeOptions()
            options.restart = false
            return try transact(operation: .upgrade, source: .binary(path: path), options: options) { context in
                context.candidate = path
                return [PreflightStep(), StageStep()]
            }
        }
    }

    /// The stored binary of `version`.
    public func binaryPath(of version: VersionID) -> String { home.binary(version.digest) }

    /// The version before the current one in history, if any.
    public func previousVersion() throws(UpgradeError) -> VersionID? {
        try UpgradeError.wrapping { Ledger(try readJournal()).previous.map(VersionID.init) }
    }
}

/// Starts the target beside the running version and waits for its readiness.
struct ReadyStep: TransactionStep {
    let name = StepName.ready
    let overlap: Upgrader.Overlap

    func run(_ context: inout TransactionContext) throws -> StepOutcome {
        let target = context.target!
        // Starting a second copy of what already serves proves nothing.
        if target == context.from { throw UpgradeError.alreadyCurrent(id: VersionID(target).short) }
        try overlap.start(context.home.binary(target), VersionID(target))
        return StepOutcome(to: target)
    }

    func undo(_ context: TransactionContext) throws {
        overlap.undo()
    }
}
