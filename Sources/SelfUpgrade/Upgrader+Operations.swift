import FoundationEssentials
import Integrity
import Platform
import Storage

extension Upgrader {
    // MARK: - Adopt

    /// Creates the home and adopts `executable` as its first version; `bin/<name>` points at it.
    /// - Returns: the version's id.
    /// - Throws: ``UpgradeError/alreadyInitialized(home:current:)``, ``SystemError``.
    public func adopt(executable: String) throws(UpgradeError) -> VersionID {
        try UpgradeError.wrapping {
            if home.isInitialized {
                // A damaged or missing journal beside stored versions is not a fresh home: adopting
                // over it would start a history that knows none of them. Repair it instead.
                if let current = Ledger(try readJournal()).current {
                    throw UpgradeError.alreadyInitialized(home: home.root, current: current.short)
                }
            }
            do {
                try home.createLayout()
            } catch {
                throw UpgradeError.homeNotWritable(path: home.root, reason: "\(error)")
            }
            if !FileSystem.exists(home.configuration) { try configuration.save(to: home) }
            guard let lock = try FileLock.tryAcquire(home.lock) else { throw UpgradeError.locked(path: home.lock, holder: nil) }
            defer { lock.release() }
            let staged = try store.stage(executable, source: "adopted:" + executable, transaction: "adopt")
            if var metadata = store.metadata(staged.id) {
                metadata.version = program.version
                // The program adopting its first version is built with this library.
                metadata.readsJournalCheckpoints = true
                try store.setMetadata(metadata)
            }
            try home.setCurrent(staged.id)
            try FileSystem.replaceSymbolicLink(home.entryPoint, target: "../current/" + home.programName)
            var journal = try Journal(path: home.journal)
            try journal.append(JournalRecord(.adopt(version: staged.id, name: program.version, source: executable, repairedFrom: nil)))
            return VersionID(staged.id)
        }
    }

    // MARK: - Upgrade

    /// How to upgrade.
    public struct UpgradeOptions: Sendable {
        /// Verify only: stage, verify, then undo; `current` and history stay as they are.
        public var dryRun = false
        /// Give the candidate a copy of the state to read, migrate and round-trip.
        public var verifyState = false
        /// Exec the new version after the swap (it then confirms itself). Without it the
        /// transaction commits right after the swap and the new version runs from the next start.
        public var restart = true
        /// Called just before `exec`, to save the program's state.
        public var beforeRestart: @Sendable () throws -> Void = {}
        /// Why a rollback is made, when the host decides it (a version that failed its probation):
        /// journaled as the `reason` of its `check` step's record.
        public var reason: String?
        /// Descriptors and environment the restarted version inherits (listening sockets).
        public var handoff = RestartHandoff()
        /// Fork a watchdog before the `exec` that brings the old version back if the new one does
        /// not confirm within ``UpgradeConfiguration/confirmDeadlineSeconds`` (it crashes, exits,
        /// hangs or never calls ``Upgrader/start(handoff:)``). nil: on when ``handoff`` passes
        /// descriptors (a server that must keep serving), off otherwise. Upgrades only.
        public var watchdog: Bool? = nil
        /// The version the candidate must report in its self-check, when something outside it
        /// says which version it is (a release's signed metadata). A candidate that reports
        /// another version is refused at verification: it is the wrong software, however well
        /// signed the download was. nil: any version is accepted.
        public var expectedVersion: String? = nil
        /// The id (SHA-256) the staged candidate must have, when something outside it says which
        /// bytes were verified (a release's signed hash). The stage step hashes what it copies
        /// into the store and refuses anything else: a file swapped after it was verified is
        /// never installed. nil: any bytes are accepted.
        public var expectedID: VersionID? = nil
        /// Put the configuration and state back as they were when the target version last ran
        /// (the newest snapshot taken while it was current), after the swap and before the
        /// restart: for a state an older version cannot read, or a user who wants the data back
        /// as it was. The state being replaced is in the snapshot this transaction took first.
        /// Refused (nothing changed) when no snapshot of the target is kept.
        public var restoresState = false
        /// An operator asked for this upgrade or rollback (a command, a request on a control
        /// socket), as opposed to the program deciding it on its own (an update check, an agent,
        /// a start-up hook). The restart-loop guard exists to stop a version that restarts itself
        /// endlessly: an explicit restart is never refused by it and is not counted.
        public var explicit = false
        /// A last judgement of the verified candidate, run right before the swap (upgrades and dry
        /// runs, not rollbacks): it returns its account in a line, journaled with its step
        /// (`evaluate`), or throws to refuse the candidate, which undoes the transaction with the
        /// error as the journaled reason. A fitness gate goes here. Not run for a candidate that is
        /// the running version's own bytes.
        public var acceptance: (@Sendable (Upgrader.Candidate) throws -> String)? = nil
        public init() {}
    }

    /// What a transaction that did not exec reports.
    public struct Outcome: Sendable, Codable, Equatable {
        public var transaction: String
        public var operation: TransactionOperation
        public var from: VersionID?
        public var to: VersionID
        public var version: String?
        public var dryRun: Bool
        public var verification: VerificationResult?
        public var steps: [String: Double]
        /// The test run's summary line, for a source upgrade.
        public var tests: String?
        /// Why pruning after the commit (the versions beyond the history limit, their logs) did not finish (the
        /// transaction stands); nil when nothing failed or nothing was committed here.
        public var pruneFailure: String? = nil
    }

    /// Upgrades to a prebuilt binary: preflight → stage → verify → swap → restart → confirm.
    ///
    /// With `options.restart` this does not return on success: the process execs the new version,
    /// whose ``start(handoff:)`` confirms the transaction.
    /// - Throws: ``UpgradeError`` naming what was wrong; everything done is undone first.
    public func upgrade(fromBinary candidate: String, options: UpgradeOptions = UpgradeOptions()) throws(UpgradeError) -> Outcome {
        try UpgradeError.wrapping {
            let path = FileSystem.absolute(candidate)
            try Self.validateCandidate(path)
            return try transact(operation: options.dryRun ? .dryRun : .upgrade, source: .binary(path: path), options: options) { context in
                context.candidate = path
                context.verifyState = options.verifyState
                context.rehearseRestart = options.restart
                context.expectedVersion = options.expectedVersion
                context.expectedID = options.expectedID?.digest
                return [PreflightStep(), StageStep(beginsVerification: true), VerifyStep()]
            }
        }
    }

    /// Upgrades to a prebuilt binary this process has just verified, as
    /// ``upgrade(fromBinary:options:)`` does, but moving the file into the store instead of
    /// copying it (a download checked against signed hashes while it was written, in a directory
    /// of this user's, is one). The moved file is hashed once more where it lies, and anything but
    /// `sha256` is refused (`candidateChanged`): a file swapped or written after its verification
    /// is never installed.
    ///
    /// It is moved only when nobody else can have a hand in it: a regular file of this user's,
    /// with one link, that nobody else can write, in a directory nobody else can write, on the
    /// file system of the home (and not a version already stored). Otherwise, and for a dry run,
    /// it is copied as any candidate is. If the upgrade fails after the move, its undo moves the
    /// file back (mode 0755); after a crash, the version stays in the store.
    /// - Parameters:
    ///   - candidate: the verified file.
    ///   - sha256: its SHA-256, as the caller verified it.
    ///   - lease: the write lease the caller took on the file before writing its first byte
    ///     (hashing what it wrote): while unbroken, the file is not read again.
    package func upgrade(fromVerifiedBinary candidate: String, sha256: VersionID, lease: WriteLease? = nil,
                         options: UpgradeOptions = UpgradeOptions()) throws(UpgradeError) -> Outcome {
        try UpgradeError.wrapping {
            let path = FileSystem.absolute(candidate)
            try Self.validateCandidate(path)
            return try transact(operation: options.dryRun ? .dryRun : .upgrade, source: .binary(path: path), options: options) { context in
                context.candidate = path
                if !options.dryRun {
                    context.candidateVerified = sha256.digest
                    context.candidateLease = lease
                }
                context.verifyState = options.verifyState
                context.rehearseRestart = options.restart
                context.expectedVersion = options.expectedVersion
                context.expectedID = options.expectedID?.digest ?? sha256.digest
                return [PreflightStep(), StageStep(beginsVerification: true), VerifyStep()]
            }
        }
    }

    /// Upgrades to a candidate whose bytes arrive in pieces: `produce` passes each piece to its
    /// `write` argument (a download's body, a decompression, a delta applied on the fly), and
    /// the stage step writes them straight into the store's staging directory, hashing on the
    /// way; then verify → swap → restart → confirm as for ``upgrade(fromBinary:options:)``.
    /// An error thrown by `produce` aborts the transaction with nothing changed.
    /// - Parameter name: where the bytes come from (a URL), for the journal and history.
    public func upgrade(streamedFrom name: String, options: UpgradeOptions = UpgradeOptions(),
                        produce: @escaping (_ write: (UnsafeRawBufferPointer) throws -> Void) throws -> Void) throws(UpgradeError) -> Outcome {
        // `produce` is escaping: storing a non-escaping closure needs the standard library's
        // escape check, which compiles this file's absolute path into the binary, so builds of
        // one commit in two clones would differ (docs/agent.md, reproducible builds).
        try UpgradeError.wrapping {
            try transact(operation: options.dryRun ? .dryRun : .upgrade, source: .stream(name: name), options: options) { context in
                context.candidateStream = produce
                context.verifyState = options.verifyState
                context.rehearseRestart = options.restart
                context.expectedVersion = options.expectedVersion
                context.expectedID = options.expectedID?.digest
                return [PreflightStep(), StageStep(beginsVerification: true), VerifyStep()]
            }
        }
    }

    /// Rolls back to `target` (by default the version before the current one in history): a
    /// version that was current here before. A stored version that never was (staged by an
    /// upgrade that did not finish, and so maybe never verified) is refused: an upgrade to it
    /// verifies it first. Never needs the network or a compiler, and the restart-loop guard
    /// never refuses it.
    /// - Throws: ``UpgradeError/noPreviousVersion``, `unknownVersion` for a version never current,
    ///   ``StorageError`` for a missing version.
    public func rollback(to target: VersionID?, options: UpgradeOptions = UpgradeOptions()) throws(UpgradeError) -> Outcome {
        try UpgradeError.wrapping {
            try transact(operation: .rollback, options: options, target: { ledger in try resolveRollbackTarget(target?.digest, ledger: ledger) }) { _ in
                [CheckIntegrityStep(reason: options.reason)]
            }
        }
    }

    package func transact(
        operation: Operation, source: CandidateSource? = nil, options: UpgradeOptions,
        target resolve: ((Ledger) throws -> SHA256Digest)? = nil,
        steps: (inout TransactionContext) throws -> [any TransactionStep]
    ) throws -> Outcome {
        let lock = try acquireLock()
        var released = false
        defer { if !released { lock.release() } }
        let journal = try readJournal()
        let ledger = Ledger(journal)
        if let open = ledger.openTransaction { throw UpgradeError.locked(path: home.lock, holder: "unfinished transaction \(open.id)") }
        let from = try home.currentVersion()
        let target = try resolve?(ledger)
        if target != nil, target == from { throw UpgradeError.alreadyCurrent(id: from!.short) }
        let source = source ?? target.flatMap { ledger.versionName(of: $0) }.map(CandidateSource.other)
        if options.restart && operation == .upgrade && !options.explicit { try RestartGuard(configuration: configuration, markers: program.markers).check() }

        let snapshots = SnapshotStore(home: home)
        let restoring: StateSnapshot?
        if options.restoresState {
            guard let target, let snapshot = snapshots.newest(for: target) else {
                throw UpgradeError.noSnapshot(version: target?.short ?? "the candidate", directory: snapshots.directory)
            }
            restoring = snapshot
        } else {
            restoring = nil
        }
        var context = try TransactionContext(upgrader: self, journal: journal, transaction: newTransactionID(),
                                             operation: operation, from: from, lock: lock, source: source, target: target)
        defer { try? context.checkedBinary?.close() }
        // The configuration and state as they were under `from`: small files hashed, and nothing
        // written when they are what the newest snapshot holds. A snapshot that cannot be taken
        // never stops a transaction (a rollback must work on a full disk), but one that restores
        // state needs it, to undo the restore.
        let retained: Set<SHA256Digest> = Set([ledger.current, ledger.previous].compactMap { $0 })
        if operation != .dryRun {
            do {
                try snapshots.take(version: from, transaction: context.transaction, retaining: retained, restoring: restoring?.name)
            } catch where restoring != nil {
                throw UpgradeError(wrapping: error)
            } catch {}
        }
        var pruneFailure: String?
        var plan = try steps(&context)
        if let acceptance = options.acceptance, operation != .rollback { plan.append(EvaluateStep(judge: acceptance)) }
        if operation != .dryRun { plan.append(SwapStep()) }
        try context.run(plan)
        // The verification's clean-up (its sandbox, its logs) overlapped the last steps.
        context.verificationInFlight?.join()

        if operation == .dryRun {
            let failures = context.abort(undoing: plan, reason: "dry run: verified, nothing changed")
            guard failures.isEmpty else { throw UpgradeError.undoFailed(cause: "dry run", failures: failures) }
        } else if context.target == from {
            let failures = context.abort(undoing: plan, reason: "the candidate is identical to the current version")
            guard failures.isEmpty else { throw UpgradeError.undoFailed(cause: "identical candidate", failures: failures) }
            throw UpgradeError.alreadyCurrent(id: from!.short)
        } else if options.restart {
            do {
                if let restoring { try snapshots.restore(restoring) }
                try options.beforeRestart()
                released = true
                try restart(into: context.target!, transaction: context.transaction, from: from, lock: lock,
                            isRollback: operation == .rollback, explicit: options.explicit, handoff: options.handoff,
                            checked: context.checkedBinary,
                            watchdog: operation != .rollback && (options.watchdog ?? !options.handoff.descriptors.isEmpty))
            } catch {
                released = false
                try? lock.descriptor.setCloseOnExec(true)
                if restoring != nil { snapshots.undoRestore(of: context.transaction) }
                let failures = context.abort(undoing: plan, reason: "restart: \(error)")
                guard failures.isEmpty else { throw UpgradeError.undoFailed(cause: "restart: \(error)", failures: failures) }
                throw error
            }
        } else {
            if let restoring { try snapshots.restore(restoring) }
            try context.commit()
            do {
                _ = try prune(&context.journal)
            } catch {
                pruneFailure = "\(error)"
            }
        }
        let version = context.verification?.report.version ?? Ledger(context.journal).versionName(of: context.target!)
        if operation != .dryRun { checkpointIfDue(&context.journal) }
        return Outcome(transaction: context.transaction, operation: TransactionOperation(operation), from: from.map(VersionID.init),
                       to: VersionID(context.target!),
                       version: version,
                       dryRun: operation == .dryRun, verification: context.verification,
                       steps: Dictionary(context.timings.map { ($0.step.rawValue, $0.seconds) }, uniquingKeysWith: { $1 }),
                       tests: context.testSummary, pruneFailure: pruneFailure)
    }

    /// The largest candidate binary accepted: 1 GiB, as for a release artifact. A larger file
    /// is refused before anything is copied (it would fill the store only to fail verification).
    public static let maximumCandidateBytes = 1 << 30

    /// Checks a candidate path before any transaction starts.
    static func validateCandidate(_ path: String) throws {
        guard let info = try FileSystem.statusIfPresent(path) else { throw UpgradeError.candidateMissing(path: path) }
        switch info.kind {
        case .directory: throw UpgradeError.candidateIsDirectory(path: path)
        case .regular: break
        default: throw UpgradeError.candidateNotRegular(path: path)
        }
        guard info.size <= maximumCandidateBytes else { throw UpgradeError.candidateTooLarge(path: path, size: info.size, maximum: maximumCandidateBytes) }
        guard info.isExecutable else { throw UpgradeError.candidateNotExecutable(path: path, mode: String(info.mode, radix: 8)) }
    }

    /// Finds the one known or stored version whose id starts with `prefix` (7 to 64 hex
    /// digits), for `rollback(to:)` and `rehearseRollback(to:)` by a prefix a person typed.
    /// - Throws: ``UpgradeError`` `unknownVersion` when the prefix is too short, matches no
    ///   version or more than one; `journalDamaged` when the journal cannot be read.
    public func resolveVersion(prefix: String) throws(UpgradeError) -> VersionID {
        try UpgradeError.wrapping {
            let ledger = Ledger(try readJournal())
            return VersionID(try SHA256Digest.resolve(prefix: prefix, among: ledger.knownVersions.union(try store.list())))
        }
    }

    /// ``resolveTarget(_:ledger:)`` for a rollback: a version the journal shows was current
    /// here before.
    /// - Throws: `unknownVersion` for a stored version that never was.
    func resolveRollbackTarget(_ target: SHA256Digest?, ledger: Ledger) throws -> SHA256Digest {
        let id = try resolveTarget(target, ledger: ledger)
        guard ledger.history.contains(where: { $0.id == id }) else { throw UpgradeError.neverCurrent(id: id.short) }
        return id
    }

    func resolveTarget(_ target: SHA256Digest?, ledger: Ledger) throws -> SHA256Digest {
        let id: SHA256Digest
        if let target {
            id = target
        } else {
            guard let previous = ledger.previous else { throw UpgradeError.noPreviousVersion }
            id = previous
        }
        guard store.contains(id) else {
            if ledger.pruned.contains(id) { throw UpgradeError.prunedVersion(id: id.short, limit: configuration.historyLimit) }
            throw StorageError.missingVersion(id: id.short, path: home.binary(id))
        }
        return id
    }

    // MARK: - Rollback rehearsal

    /// What a rehearsed rollback found.
    public struct Rehearsal: Sendable, Codable, Equatable {
        public var from: VersionID?
        public var target: VersionID
        public var version: String?
        public var hashSeconds: Double
        public var swapSeconds: Double
        public var startSeconds: Double
        public var verification: VerificationResult
        /// Hash check + swap + start of the target: what the real rollback would take.
        public var estimatedSeconds: Double { hashSeconds + swapSeconds + startSeconds }
    }

    /// Rehearses a rollback without changing anything: checks the target's hash, runs its
    /// verification from the store in the sandbox, times a link swap on a scratch link and a
    /// start of the target.
    public func rehearseRollback(to target: VersionID?) throws(UpgradeError) -> Rehearsal {
        try UpgradeError.wrapping {
            // Under the lock like every command that works in the home: a concurrent start's
            // recovery would otherwise clean the staging area under this rehearsal's sandbox.
            let lock = try acquireLock()
            defer { lock.release() }
            let ledger = Ledger(try readJournal())
            let id = try resolveRollbackTarget(target?.digest, ledger: ledger)
            let from = try home.currentVersion()
            if id == from { throw UpgradeError.alreadyCurrent(id: id.short) }

            var start = MonotonicClock.now()
            try store.verify(id)
            let hashSeconds = MonotonicClock.seconds(since: start)

            let scratch = home.staging + "/rehearsal-\(ProcessControl.id)"
            try FileSystem.createDirectory(scratch, mode: 0o700)
            defer { try? FileSystem.removeTree(scratch) }
            let verification = try verifier.verify(binary: home.binary(id), logDirectory: scratch + "/logs", stateFrom: home.state)

            start = MonotonicClock.now()
            try FileSystem.replaceSymbolicLink(scratch + "/current", target: "versions/" + id.hex)
            let swapSeconds = MonotonicClock.seconds(since: start)

            // The start outside the sandbox runs the descriptor checked against the version's
            // identity (through this process's /proc entry for it, as `fexecve` does), never the
            // path: a link put over the version's directory meanwhile runs nothing else.
            let checked = try store.openChecked(id).descriptor
            defer { try? checked.close() }
            try FailPoint.hit("rehearsal-start", program)
            var run = Subprocess.Configuration(executable: "/proc/\(ProcessControl.id)/fd/\(checked.rawValue)", arguments: ["--version"],
                                               environment: ["PATH": "/usr/bin:/bin"])
            run.timeoutSeconds = configuration.verifyTimeoutSeconds
            start = MonotonicClock.now()
            let status = try Subprocess.run(run)
            let startSeconds = MonotonicClock.seconds(since: start)
            guard status.isSuccess else {
                throw UpgradeError.verificationFailed(binary: home.binary(id), reason: "'--version' \(status)", log: scratch)
            }
            return Rehearsal(from: from.map(VersionID.init), target: VersionID(id), version: verification.report.version, hashSeconds: hashSeconds,
                             swapSeconds: swapSeconds, startSeconds: startSeconds, verification: verification)
        }
    }
}
