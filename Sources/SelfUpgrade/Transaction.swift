import Integrity
import Platform
import Storage

/// What a step learned, for its journal record.
package struct StepOutcome {
    package var to: SHA256Digest?
    package var version: String?
    /// The step's account in a line, journaled with it.
    package var detail: String?
    package init(to: SHA256Digest? = nil, version: String? = nil, detail: String? = nil) {
        self.to = to
        self.version = version
        self.detail = detail
    }
}

/// One step of a transaction (the Command pattern): `run` does it, `undo` takes it back.
/// The runner journals each completed step and, on failure, undoes the completed ones in
/// reverse order and journals the abort with the reason.
package protocol TransactionStep: Sendable {
    var name: StepName { get }
    /// True when `undo` takes back something a user was told had happened (the swap, the
    /// staged version): the progress then says it was undone.
    var undoIsVisible: Bool { get }
    /// False when losing the step's record in a power cut needs no repair: recovery then reads
    /// the transaction as not past that step and undoes it (the preflight changed nothing; a
    /// lost swap record leaves `current` at the target its stage record names, which recovery
    /// flips back). The record is then appended without an fsync; a later durable record (the
    /// commit) makes it durable with everything before it.
    var recordIsDurable: Bool { get }
    func run(_ context: inout TransactionContext) throws -> StepOutcome
    func undo(_ context: TransactionContext) throws
}

extension TransactionStep {
    package var undoIsVisible: Bool { false }
    package var recordIsDurable: Bool { true }
    package func undo(_ context: TransactionContext) throws {}
}

/// The state a transaction's steps share.
package struct TransactionContext {
    package let upgrader: Upgrader
    var journal: Journal
    package let transaction: String
    let operation: Operation
    let from: SHA256Digest?
    let lock: FileLock
    /// The file the stage step copies into the store (a source build sets it when it is built).
    package var candidate: String?
    /// Or the bytes the stage step writes into the store as they come.
    var candidateStream: ((_ write: (UnsafeRawBufferPointer) throws -> Void) throws -> Void)?
    /// The SHA-256 the caller verified `candidate` has as it wrote it: the stage step moves the
    /// file into the store instead of copying it where it can, and hashes it there, unless
    /// `candidateLease` proves nobody else opened it since it was written
    /// (``VersionStore/stage(adopting:expected:lease:source:transaction:)``).
    var candidateVerified: SHA256Digest?
    /// The write lease the caller took on `candidate` before writing it.
    var candidateLease: WriteLease?
    /// Where the stage step took the candidate from when it moved it into the store: its undo
    /// puts it back there.
    var adoptedFrom: String?
    var source: CandidateSource?
    var target: SHA256Digest?
    var stagedNewVersion = false
    package var verifyState = false
    /// Rehearse the restart protocol in verification (the transaction will exec the new version).
    package var rehearseRestart = true
    /// The version the candidate's self-check must report (a release's listed version).
    package var expectedVersion: String?
    /// The id the staged candidate must have (a release's signed SHA-256).
    var expectedID: SHA256Digest?
    var verification: Verifier.Result?
    /// The verification the stage step began on the staged copy, which the verify step finishes.
    var verificationInFlight: VerificationInFlight?
    /// The target's binary, opened and checked by the check step: what a restart executes.
    var checkedBinary: FileDescriptor?
    /// The test run's summary line, for a source upgrade.
    package var testSummary: String?
    /// Run first on every abort: stops what a step left running (a source build's tools).
    package var abortActions: [@Sendable () -> Void] = []
    var timings: [(step: StepName, seconds: Double)] = []

    package var home: Home { upgrader.home }
    package var logDirectory: String { home.logDirectory(transaction: transaction) }

    /// Journals `begin`.
    init(upgrader: Upgrader, journal: Journal, transaction: String, operation: Operation,
         from: SHA256Digest?, lock: FileLock, source: CandidateSource?, target: SHA256Digest? = nil) throws {
        self.upgrader = upgrader
        self.journal = journal
        self.transaction = transaction
        self.operation = operation
        self.from = from
        self.lock = lock
        self.source = source
        self.target = target
        try self.journal.append(JournalRecord(.begin(transaction: transaction, operation: operation,
                                                     from: from, target: target, source: source)))
    }

    /// Runs `steps` in order; on failure undoes what was done and journals `abort`.
    mutating func run(_ steps: [any TransactionStep]) throws {
        var completed: [any TransactionStep] = []
        for step in steps {
            var ran = false
            do {
                try FailPoint.hit("before-\(step.name)", upgrader.program)
                upgrader.progress(.started(step: step.name.rawValue))
                let start = MonotonicClock.now()
                let outcome = try step.run(&self)
                ran = true
                // A rollback's critical path fsyncs only its intent (`begin`, which names the
                // target), the link flip and its commit: a step record lost in a power cut reads
                // as a transaction that had not swapped, which recovery undoes (the link put back
                // to `from`). Other operations learn their target at the stage step, whose record
                // (and the verification's, which precedes the flip) must be on disk first.
                try journal.append(JournalRecord(.step(transaction: transaction, step: step.name,
                                                       to: outcome.to, version: outcome.version, detail: outcome.detail)),
                                   durable: operation != .rollback && step.recordIsDurable)
                let seconds = MonotonicClock.seconds(since: start)
                timings.append((step.name, seconds))
                upgrader.progress(.finished(step: step.name.rawValue, seconds: seconds))
                completed.append(step)
                try FailPoint.hit("after-\(step.name)", upgrader.program)
            } catch {
                if ran && !completed.contains(where: { $0.name == step.name }) { completed.append(step) }
                upgrader.progress(.failed(step: step.name.rawValue, reason: "\(error)"))
                let undoFailures = abort(undoing: completed, reason: "\(step.name): \(error)")
                guard undoFailures.isEmpty else { throw UpgradeError.undoFailed(cause: "\(step.name): \(error)", failures: undoFailures) }
                throw error
            }
        }
    }

    /// Journals the abort, then undoes `steps` (last first). The record comes first so that
    /// nothing leaves the store before the journal explains why; `current` pointing at the
    /// target meanwhile is repaired from the journal by the next start.
    /// - Returns: the undo steps that failed, each with its error (also in the journal).
    @discardableResult
    mutating func abort(undoing steps: [any TransactionStep], reason: String) -> [String] {
        for action in abortActions { action() }
        let journaled = (try? journal.append(JournalRecord(.abort(transaction: transaction, reason: reason)))) != nil
        var failures: [String] = []
        for step in steps.reversed() {
            do {
                try FailPoint.hit("undo-\(step.name)", upgrader.program)
                try step.undo(self)
                if operation != .dryRun && step.undoIsVisible { upgrader.progress(.undone(step: step.name.rawValue)) }
            } catch {
                // The steps before it may be what it needed undone first (the stage a swap still
                // points at): they are left for the next start, which finishes the abort.
                failures.append("undo of \(step.name) failed: \(error); the steps before it were left as they are")
                break
            }
        }
        if !journaled { failures.append("the abort could not be journaled; the next start will undo the transaction") }
        return failures
    }

    /// Journals `commit`.
    mutating func commit() throws {
        try journal.append(JournalRecord(.commit(transaction: transaction, to: target)))
    }
}

// MARK: - Steps

/// Lock is held by then; checks space, file system and writability before anything is written.
package struct PreflightStep: TransactionStep {
    package init() {}
    package let name = StepName.preflight
    package var recordIsDurable: Bool { false }

    package func run(_ context: inout TransactionContext) throws -> StepOutcome {
        let home = context.home
        let staging = try FileSystem.status(home.staging)
        let versions = try FileSystem.status(home.versions)
        guard staging.device == versions.device else {
            throw UpgradeError.differentFileSystems(staging: home.staging, versions: home.versions)
        }
        let probePath = home.staging + "/.write-test-\(context.transaction)"
        do {
            let probe = try FileDescriptor.openOwned(probePath, [.writeOnly, .create, .truncate], mode: 0o600)
            defer { try? FileSystem.removeFile(probePath) }
            try probe.closeAfter {
                // Written, not fsync'd: the probe shows the home takes writes; nothing needs it on
                // disk, and the room the upgrade needs is measured below.
                try probe.writeAll(Array("autodev".utf8))
                if let candidate = context.candidate {
                    let needed = try FileSystem.status(candidate).size * 2 + (1 << 20)
                    let available = try probe.availableBytes()
                    guard UInt64(needed) <= available else {
                        throw UpgradeError.insufficientSpace(path: home.staging, needed: needed, available: available)
                    }
                }
            }
        } catch let error as SystemError {
            throw UpgradeError.homeNotWritable(path: home.root, reason: error.description)
        }
        return StepOutcome()
    }
}

/// Copies the candidate into the content-addressed store (hashing it on the way), fsync'd; or
/// moves in a download verified as it was written. The bytes are hashed once, as they are
/// written, where a write lease proves nothing else opened the file meanwhile (the step's
/// journal detail says so); otherwise they are read back and hashed from the store.
///
/// With `beginsVerification` (a ``VerifyStep`` comes next), a candidate copied from a file is
/// hashed while its verification's self-check runs from the staged copy
/// (``VerificationInFlight``), and moved into the store once that run has ended; the verify
/// step finishes that verification. Not where the candidate may be the version already running
/// (the same bytes as its stored file): that is recognised from its hash before anything runs.
package struct StageStep: TransactionStep {
    package init(beginsVerification: Bool = false) { self.beginsVerification = beginsVerification }
    package let name = StepName.stage
    package var undoIsVisible: Bool { true }
    let beginsVerification: Bool

    package func run(_ context: inout TransactionContext) throws -> StepOutcome {
        do {
            return try stage(&context)
        } catch let error as SystemError where error.errno == .textBusy {
            // A writer held the file open while it was read back (``FileDescriptor/withoutWriters(_:)``).
            throw UpgradeError.candidateHeldOpen(path: context.candidate ?? error.path, reason: error.detail ?? "\(error.errno)")
        }
    }

    private func stage(_ context: inout TransactionContext) throws -> StepOutcome {
        let source = context.source?.encoded ?? ""
        let staged: VersionStore.Staged
        if let stream = context.candidateStream {
            staged = try context.upgrader.store.stage(streaming: stream, source: source, transaction: context.transaction)
        } else if let verified = context.candidateVerified,
                  let adopted = try context.upgrader.store.stage(adopting: context.candidate!, expected: verified, lease: context.candidateLease,
                                                                 source: source, transaction: context.transaction) {
            staged = adopted
            context.adoptedFrom = context.candidate
        } else {
            // A lease this process holds on the candidate would keep the copy from opening it.
            context.candidateLease?.end()
            // The file opened is checked again (a regular file within the cap), whatever the
            // path named when it was validated; SIGINT or SIGTERM ends the copy of a large one.
            do {
                if beginsVerification, context.expectedID == nil, !Self.mayBeCurrent(context.candidate!, context) {
                    staged = try stageWhileVerifying(&context, source: source)
                } else {
                    staged = try context.upgrader.store.stage(context.candidate!, source: source, transaction: context.transaction,
                                                              maxBytes: Upgrader.maximumCandidateBytes, stop: { Cancellation.signal != 0 })
                }
            } catch let error as SystemError where error.errno == .interrupted && Cancellation.signal != 0 {
                throw Subprocess.Cancelled(signal: Cancellation.signal)
            } catch let error as SystemError where error.errno == .textBusy {
                // Another process had the copy in staging open for writing while it was hashed.
                throw UpgradeError.stagedCopyHeldOpen(path: error.path, candidate: context.candidate!, reason: error.detail ?? "\(error.errno)")
            }
        }
        context.target = staged.id
        context.stagedNewVersion = !staged.wasPresent
        // What was copied is what was verified before the transaction, or nothing is installed.
        if let expected = context.expectedID, staged.id != expected {
            try? undo(context)
            throw UpgradeError.candidateChanged(path: context.candidate ?? source, staged: staged.id.hex, expected: expected.hex)
        }
        // Known from the hash alone: no verification is spent on the version already running
        // (a dry run still verifies it: proving the running source's build is what was asked).
        if staged.id == context.from && context.operation != .dryRun { throw UpgradeError.alreadyCurrent(id: staged.id.short) }
        let detail = staged.hashedAsWritten ? "hashed once, as it was written"
            : context.verificationInFlight != nil ? "hashed while its self-check ran" : nil
        return StepOutcome(to: staged.id, detail: detail)
    }

    /// Whether `candidate` may be the version `current` names: the same bytes as its stored
    /// file, or either cannot be read. Which route the stage takes is all this decides: the id
    /// is the staged copy's hash either way.
    private static func mayBeCurrent(_ candidate: String, _ context: TransactionContext) -> Bool {
        guard let from = context.from else { return false }
        return (try? FileSystem.sameContents(candidate, context.home.binary(from))) ?? true
    }

    /// Begins the candidate's verification, copies the candidate into staging meanwhile (the
    /// self-check runs from there once it is copied), hashes the copy while the self-check runs,
    /// and moves it into the store once that run has ended.
    private func stageWhileVerifying(_ context: inout TransactionContext, source: String) throws -> VersionStore.Staged {
        let store = context.upgrader.store
        // The verification makes its sandbox while the copy is made, and starts once it is.
        let flight = try VerificationInFlight.begin(context.upgrader.verifier, binary: store.stagedPath(transaction: context.transaction),
                                                logDirectory: context.logDirectory, stateFrom: context.verifyState ? context.home.state : nil,
                                                rehearseRestart: context.rehearseRestart, expectedVersion: context.expectedVersion)
        context.verificationInFlight = flight
        context.abortActions.append { flight.abandon() }
        let hashed: VersionStore.Hashed
        do {
            let unhashed = try store.copyUnhashed(context.candidate!, transaction: context.transaction,
                                                  maxBytes: Upgrader.maximumCandidateBytes, stop: { Cancellation.signal != 0 })
            flight.copyDone()
            hashed = try store.hash(unhashed, source: source)
            flight.copyHashed(hashed)
        } catch {
            flight.abandon(because: error)
            throw error
        }
        let home = context.home
        return try flight.afterSelfCheck {
            let staged = try store.store(hashed)
            return (staged, home.binary(staged.id))
        }
    }

    package func undo(_ context: TransactionContext) throws {
        try? FileSystem.removeTree(context.home.staging + "/" + context.transaction)
        guard let target = context.target, context.stagedNewVersion, target != context.from else { return }
        // A version the journal's history names (the previous one, its directory repaired by
        // these very bytes) stays: other transactions need it.
        guard !Ledger(context.journal).history.contains(where: { $0.id == target }) else { return }
        // Never the version `current` names, whatever went wrong before this undo.
        guard (try? context.home.currentVersion()) != target else {
            throw StillCurrent(link: context.home.current, version: VersionID(target).short)
        }
        // A verified file moved in goes back where it was (a download kept for the next try).
        if let origin = context.adoptedFrom, !FileSystem.exists(origin) {
            let binary = context.home.binary(target)
            if (try? FileSystem.rename(binary, to: origin)) != nil { try? FileSystem.setMode(origin, 0o755) }
        }
        try context.upgrader.store.remove(target)
    }
}

/// Why a staged version was not removed by its undo.
private struct StillCurrent: Error, CustomStringConvertible {
    let link: String
    let version: String
    var description: String { "\(link) still names \(version), so the staged version is kept" }
}

extension TransactionContext {
    /// Opens the target as the restart will execute it, proven to be the file that was hashed
    /// (``VersionStore/openChecked(_:)``: its identity, or its bytes), and keeps the descriptor.
    mutating func openCheckedTarget() throws {
        let checked = try upgrader.store.openChecked(target!)
        try? checkedBinary?.close()
        checkedBinary = checked.descriptor
    }
}

/// Proves a stored version is the file that was hashed before it is trusted again (rollback):
/// its identity, or its bytes where the identity does not match (``VersionStore/openChecked(_:)``).
/// The descriptor checked is the one the restart executes. Invariant 6.
struct CheckIntegrityStep: TransactionStep {
    let name = StepName.check
    /// Why the rollback is made (``Upgrader/UpgradeOptions/reason``), journaled with the step.
    var reason: String?

    package func run(_ context: inout TransactionContext) throws -> StepOutcome {
        if context.journal.checkpoint != nil, context.upgrader.store.metadata(context.target!)?.readsJournalCheckpoints != true {
            throw UpgradeError.verificationFailed(binary: context.home.binary(context.target!), reason: "it predates journal checkpoints and could not read this home's journal, which starts from one", log: context.logDirectory)
        }
        try context.openCheckedTarget()
        return StepOutcome(to: context.target, detail: reason)
    }
}

/// Runs the staged binary's verification mode in the sandbox.
package struct VerifyStep: TransactionStep {
    package init() {}
    package let name = StepName.verify

    package func run(_ context: inout TransactionContext) throws -> StepOutcome {
        let target = context.target!
        let result: Verifier.Result
        do {
            if let flight = context.verificationInFlight {
                result = try flight.finish()
            } else {
                result = try context.upgrader.verifier.verify(
                    binary: context.home.binary(target), logDirectory: context.logDirectory,
                    stateFrom: context.verifyState ? context.home.state : nil, rehearseRestart: context.rehearseRestart,
                    expectedVersion: context.expectedVersion)
            }
        } catch let error as UpgradeError {
            // The user knows the file they offered, not the stored copy's path.
            guard let candidate = context.candidate else { throw error }
            throw error.naming(candidate: candidate, storedAs: context.home.binary(target), stagedAs: context.verificationInFlight?.binary)
        }
        context.verification = result
        let readsCheckpoints = result.report.readsJournalCheckpoints == true
        if !readsCheckpoints && context.journal.checkpoint != nil {
            throw UpgradeError.verificationFailed(binary: context.home.binary(target), reason: "it predates journal checkpoints and cannot read this home's journal, which starts from one", log: context.logDirectory)
        }
        // A dry run changes nothing, a stored version's metadata included.
        if context.operation != .dryRun { Self.recordVersion(of: target, result.report, context) }
        // The restart executes this descriptor, proven to be the file whose bytes were staged
        // (one fstat against the identity recorded then; hashed again where it moved): a stored
        // file replaced or rewritten while it was verified is refused, restart or not, as a
        // rollback refuses it. Invariant 6.
        if context.operation != .dryRun { try context.openCheckedTarget() }
        return StepOutcome(version: result.report.version)
    }

    /// Records in the stored version's metadata what its report says: its version, and whether
    /// it reads journal checkpoints (nothing is written where the metadata says so already).
    private static func recordVersion(of target: SHA256Digest, _ report: SelfCheckReport, _ context: TransactionContext) {
        let readsCheckpoints = report.readsJournalCheckpoints == true
        guard var metadata = context.upgrader.store.metadata(target),
              metadata.version != report.version || metadata.readsJournalCheckpoints != readsCheckpoints else { return }
        metadata.version = report.version
        metadata.readsJournalCheckpoints = readsCheckpoints
        try? context.upgrader.store.setMetadata(metadata)
    }
}

/// Flips `current` to the target: temporary link, rename, fsync of the directory.
/// The last moment a cancellation (SIGINT, SIGTERM) is honoured.
struct SwapStep: TransactionStep {
    let name = StepName.swap
    var undoIsVisible: Bool { true }
    var recordIsDurable: Bool { false }

    package func run(_ context: inout TransactionContext) throws -> StepOutcome {
        let signal = Cancellation.signal
        if signal != 0 { throw Subprocess.Cancelled(signal: signal) }
        try context.home.setCurrent(context.target!)
        return StepOutcome(to: context.target)
    }

    package func undo(_ context: TransactionContext) throws {
        if let from = context.from { try context.home.setCurrent(from) }
    }
}

