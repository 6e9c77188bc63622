import FoundationEssentials
import Integrity
import Platform
import Storage

/// The self-upgrade machinery of one program and one home.
///
/// A program calls ``start(handoff:)`` first thing at every start (it resumes a restart in progress or
/// recovers an interrupted transaction), then, when it wants to, ``upgrade(fromBinary:options:)``
/// or ``rollback(to:options:)``. See the module documentation for the invariants kept.
public struct Upgrader: Sendable {
    /// Progress of a transaction, for a terminal or a log.
    public enum Progress: Sendable {
        case started(step: String)
        case finished(step: String, seconds: Double)
        case failed(step: String, reason: String)
        /// A long step is still running: its elapsed time and latest output line.
        case working(step: String, seconds: Double, detail: String)
        /// A finished step was undone because a later one failed (not sent for a dry run, whose
        /// undo is the plan): what was reported finished is no longer in effect.
        case undone(step: String)
    }

    package let home: Home
    public let program: ProgramIdentity
    public var configuration: UpgradeConfiguration
    /// Checks run by a restarted version before it confirms itself; throwing rolls it back.
    public var health: @Sendable () throws -> Void
    /// Receives step progress.
    public var progress: @Sendable (Progress) -> Void

    /// - Parameters:
    ///   - homeDirectory: the installation's directory (created by ``adopt(executable:)``).
    ///   - program: the running program's identity; its name is the binary's file name in the store.
    ///   - configuration: settings; by default those in `<home>/config.json`.
    ///   - health: checks a restarted version runs before it confirms itself; throwing rolls it back.
    ///   - progress: receives step progress.
    /// - Throws: ``UpgradeError`` `.invalidConfiguration` when `config.json` cannot be read.
    public init(homeDirectory: String, program: ProgramIdentity, configuration: UpgradeConfiguration? = nil,
                health: @escaping @Sendable () throws -> Void = {},
                progress: @escaping @Sendable (Progress) -> Void = { _ in }) throws(UpgradeError) {
        try self.init(home: Home(root: homeDirectory, programName: program.name), program: program, configuration: configuration,
                      health: health, progress: progress)
    }

    /// The installation's directory.
    public var homeDirectory: String { home.root }
    /// Where the program keeps its state snapshots (`<home>/state`), for a ``StateStore``.
    public var stateDirectory: String { home.state }

    /// The version `current` points at; nil before ``adopt(executable:)``.
    public func currentVersion() throws(UpgradeError) -> VersionID? {
        try UpgradeError.wrapping { try home.currentVersion().map(VersionID.init) }
    }

    package init(home: Home, program: ProgramIdentity, configuration: UpgradeConfiguration? = nil,
                health: @escaping @Sendable () throws -> Void = {},
                progress: @escaping @Sendable (Progress) -> Void = { _ in }) throws(UpgradeError) {
        self.home = home
        self.program = program
        self.configuration = try UpgradeError.wrapping { try configuration ?? UpgradeConfiguration.load(from: home) }
        self.health = health
        self.progress = progress
    }

    package var store: VersionStore { VersionStore(home: home) }

    /// Re-hashes a stored version: its bytes must still match its id (a bad disk, a hand edit).
    /// - Throws: ``StorageError`` for a missing or damaged version.
    package func verifyStored(_ version: VersionID) throws {
        try store.verify(version.digest)
    }
    var verifier: Verifier { Verifier(home: home, program: program, configuration: configuration) }

    // MARK: - Start

    /// How a start went.
    public enum StartOutcome: Sendable, Equatable {
        /// An ordinary start; `recovery` lists what recovery did (usually nothing).
        case fresh(recovery: [String])
        /// This process was exec'd by a transaction of ours, which it has now finished.
        case resumed(Resumption)
    }

    /// The end of a transaction that crossed an `exec`.
    public struct Resumption: Sendable, Equatable, Codable {
        public enum Result: String, Sendable, Codable { case confirmed, rolledBack = "rolled-back" }
        public var transaction: String
        public var operation: TransactionOperation
        public var from: VersionID?
        public var to: VersionID?
        public var fromVersion: String?
        public var toVersion: String?
        public var result: Result
        /// Why it was rolled back.
        public var reason: String?
        /// Why pruning after the commit (the versions beyond the history limit, their logs) did not finish (the
        /// transaction stands; they stay until a later commit prunes them, and `doctor` names
        /// what is in the way); nil when nothing failed.
        public var pruneFailure: String? = nil
    }

    /// Finishes a restart in progress (confirm, or roll back and exec the old version) or
    /// recovers an interrupted transaction. Call before anything else uses the home.
    /// - Parameters:
    ///   - handoff: what the old version inherits when a failed confirmation execs it
    ///     back (the listening sockets this process inherited).
    ///   - recovering: false for a command that only reads the home (status, history): an
    ///     interrupted transaction is left for the next command that changes the home (status
    ///     shows it), so reading never moves `current`. A restart this process is finishing is
    ///     confirmed either way.
    /// - Throws: ``StorageError`` for a damaged journal, ``SystemError`` when the home cannot be changed.
    public func start(handoff: RestartHandoff = RestartHandoff(), recovering: Bool = true) throws(UpgradeError) -> StartOutcome {
        try UpgradeError.wrapping {
            var notes: [String] = []
            if let transaction = ProcessControl.environment(program.markers.transaction) {
                let descriptor = ProcessControl.environment(program.markers.lockDescriptor)
                let watchdog = ProcessControl.environment(program.markers.confirmDescriptor).flatMap(Watchdog.adopt)
                for marker in program.markers.perRestart { ProcessControl.removeEnvironment(marker) }
                if home.isInitialized, let (record, lock, ledger, journal) = try inheritedRestart(transaction, descriptor: descriptor) {
                    if record.outcome == .open {
                        defer { lock.release() }
                        var journal = journal
                        return .resumed(try confirm(record, journal: &journal, lock: lock, handoff: handoff, watchdog: watchdog))
                    }
                    watchdog.map(Watchdog.standDown)
                    lock.release()
                    return .resumed(resumption(record, ledger: ledger))
                }
                watchdog.map(Watchdog.standDown)
                notes.append("Ignored \(program.markers.transaction)=\(transaction.debugDescription): this process did not inherit that transaction's lock from a live restart")
            }
            guard home.isInitialized else { return .fresh(recovery: notes) }
            try home.checkLayout()
            guard recovering else {
                _ = try readJournal()
                return .fresh(recovery: notes)
            }
            return .fresh(recovery: notes + (try recover()))
        }
    }

    /// The transaction a restart marker names, with the inherited lock, when the marker is real:
    /// the descriptor holds the home's lock (someone holds it, and it is this descriptor), the
    /// lock file names this process (the same PID across exec), and the transaction is open and
    /// swapped, or ended by this very process in the journal's last record (the old version
    /// exec'd back after a failed confirmation). Anything else is stale or forged.
    private func inheritedRestart(_ transaction: String, descriptor: String?) throws -> (Ledger.Transaction, FileLock, Ledger, Journal)? {
        guard let descriptor, let raw = Int32(descriptor), raw > 2,
              let lock = FileLock.adoptHeld(rawValue: raw, path: home.lock) else { return nil }
        let holder = recordedLockHolder()
        let journal = try? readJournal()
        guard holder == String(ProcessControl.id), let journal else {
            lock.release()
            return nil
        }
        let ledger = Ledger(journal)
        guard let record = ledger.transaction(transaction) else {
            lock.release()
            return nil
        }
        // Ended here: the transaction's last record, and every record after it (a prune of the
        // version that failed), were written by this very process.
        let ending = journal.records.lastIndex { $0.event.transaction == record.id }
        let endedHere = record.outcome != .open && ending.map { journal.records[$0...].allSatisfy { $0.pid == ProcessControl.id } } == true
        guard (record.outcome == .open && record.hasSwapped) || endedHere else {
            lock.release()
            return nil
        }
        return (record, lock, ledger, journal)
    }

    /// Recovery: leaves the home at exactly the old or the new version of an interrupted
    /// transaction, cleans staging, and repairs `current` from the journal.
    /// - Returns: what was done, one line each.
    public func recover() throws -> [String] {
        guard home.isInitialized else { return [] }
        let acquired: FileLock?
        do throws(SystemError) {
            acquired = try FileLock.tryAcquire(home.lock)
        } catch {
            // A read-only home cannot have been changed; reading it is still allowed.
            if error.errno == .readOnlyFileSystem || error.errno == .permissionDenied { return [] }
            throw error
        }
        guard let lock = acquired ?? (try? lockOfDeadHolder()) else { return [] }
        defer { lock.release() }
        var journal = try readJournal()
        var notes: [String] = []
        var ledger = Ledger(journal)
        if let open = ledger.openTransaction {
            let current = try home.currentVersion()
            let executable = try? ProcessControl.executablePath()
        let running = executable.flatMap { home.version(containing: $0) }
            let attempt = open.attempts + 1
            if open.hasSwapped, let to = open.to, running == to, current == to, attempt <= configuration.maxConfirmAttempts {
                try journal.append(JournalRecord(.attempt(transaction: open.id, number: attempt)))
                do {
                    try health()
                    try journal.append(JournalRecord(.commit(transaction: open.id, to: to)))
                    notes.append("Confirmed \(open.operation.rawValue) \(open.id) to \(to.short) at start (attempt \(attempt))")
                } catch {
                    try undo(open, journal: &journal, reason: "health check failed at start (attempt \(attempt)): \(error)")
                    notes.append("Rolled back \(open.id): its version failed the health check at start")
                }
            } else {
                let reason = open.hasSwapped
                    ? "unconfirmed after restart (attempt \(attempt) of \(configuration.maxConfirmAttempts)); rolled back at start"
                    : "interrupted after \(open.steps.last?.rawValue ?? "begin"); undone at start"
                try undo(open, journal: &journal, reason: reason)
                notes.append("Recovered \(open.operation.rawValue) \(open.id): \(reason)")
                if open.source?.isSourceBuild == true {
                    let tools = ProcessControl.killProcesses(commandLineContaining: home.buildCache)
                    if !tools.isEmpty { notes.append("Killed \(tools.count) build or test process(es) it left running") }
                }
            }
            ledger = Ledger(journal)
            // An interrupted transaction may have been killed in its flip.
            removeFlipLeftovers(noting: &notes)
        }
        if let expected = ledger.current, try home.currentVersion() != expected, store.contains(expected) {
            // A `current` out of step with the journal: a flip (of a repair) may have been killed.
            removeFlipLeftovers(noting: &notes)
            try home.setCurrent(expected)
            notes.append("Repaired \(home.current) to point at \(expected.short), as the journal says")
        }
        // The staging area, and the sandboxes an interrupted verification left on a tmpfs.
        for area in [home.staging] + Verifier.existingTmpfsParents(for: home) {
            // Listed and emptied inside the directory opened here, never through a link put
            // over its path meanwhile (nothing outside the home is removed); a link there now is
            // left for the layout check that refuses it.
            guard let directory = try? FileDescriptor.open(area, [.directory, .noFollow]) else { continue }
            defer { try? directory.close() }
            let leftovers = (try? directory.entryNames()) ?? []
            // A pruned version's directory may still be being removed in the background (or its
            // remover was killed): removed in the background again, and no process is looked for.
            let pruned = area == home.staging ? leftovers.filter { $0.description.hasPrefix(Self.prunedPrefix) } : []
            let others = leftovers.filter { !pruned.contains($0) }
            if !others.isEmpty {
                let orphans = ProcessControl.killProcesses(workingUnder: area)
                if !orphans.isEmpty { notes.append("Killed \(orphans.count) process(es) left running by an interrupted verification") }
            }
            for name in others {
                try FileSystem.removeTree(name, in: directory)
            }
            for name in pruned {
                try FileSystem.removeInBackground(name.description, in: directory, waitingForExitUpTo: Self.removalDelaySeconds)
            }
            if area != home.staging { try? FileSystem.removeEmptyDirectory(area) }
        }
        return notes
    }

    /// ``Home/removeFlipLeftovers()``, said in the recovery's notes.
    private func removeFlipLeftovers(noting notes: inout [String]) {
        let removed = home.removeFlipLeftovers()
        if removed > 0 { notes.append("Removed \(removed) temporary link(s) of a flip of \(home.current) killed half-way (.current.tmp-*)") }
    }

    // MARK: - Confirmation (the restarted process)

    /// Confirms the restarted version, or rolls it back and execs the old one; either way the
    /// watchdog (if any) is stood down once the journal says so.
    private func confirm(_ record: Ledger.Transaction, journal: inout Journal, lock: FileLock, handoff: RestartHandoff,
                         watchdog: String?) throws -> Resumption {
        let executable = try? ProcessControl.executablePath()
        let running = executable.flatMap { home.version(containing: $0) }
        do {
            try FailPoint.hit("before-confirm", program)
            guard let target = record.to, running == target, try home.currentVersion() == target else {
                throw UpgradeError.healthCheckFailed(reason: "restarted into \(running?.short ?? "a binary outside the store"), expected \(record.to?.short ?? "?")")
            }
            // The file executed is the one checked before the exec, unchanged since.
            try store.checkRunning(target, executable: executable!)
            try health()
            try FailPoint.hit("confirm", program)
        } catch {
            let reason = "\(UpgradeError.healthCheckFailed(reason: "\(error)"))"
            try undo(record, journal: &journal, reason: reason)
            // A process that writes anyway: the version that failed goes now, after the abort.
            _ = try? prune(&journal)
            watchdog.map(Watchdog.standDown)
            if let from = record.from, store.contains(from) {
                try restart(into: from, transaction: record.id, from: record.to, lock: lock, isRollback: true, handoff: handoff)
            }
            return resumption(record, ledger: Ledger(journal))
        }
        try journal.append(JournalRecord(.commit(transaction: record.id, to: record.to)))
        watchdog.map(Watchdog.standDown)
        try FailPoint.hit("after-commit", program)
        var resumed: Resumption
        do {
            resumed = resumption(record, ledger: try prune(&journal))
        } catch {
            resumed = resumption(record, ledger: Ledger(journal))
            resumed.pruneFailure = "\(error)"
        }
        checkpointIfDue(&journal)
        return resumed
    }

    private func resumption(_ record: Ledger.Transaction, ledger: Ledger) -> Resumption {
        let final = ledger.transaction(record.id) ?? record
        return Resumption(transaction: record.id, operation: TransactionOperation(record.operation),
                          from: record.from.map(VersionID.init), to: record.to.map(VersionID.init),
                          fromVersion: record.from.flatMap { ledger.versionName(of: $0) },
                          toVersion: record.to.flatMap { ledger.versionName(of: $0) } ?? final.version,
                          result: final.outcome == .committed ? .confirmed : .rolledBack, reason: final.reason)
    }

    /// Puts `current` back to the transaction's `from` and journals abort. What it staged stays
    /// in the store until a prune after a later commit (no command that only reads deletes).
    private func undo(_ record: Ledger.Transaction, journal: inout Journal, reason: String) throws {
        if let from = record.from, try home.currentVersion() != from, store.contains(from) {
            try home.setCurrent(from)
        }
        // A rollback that restored the target's state: the state it replaced comes back with `from`.
        SnapshotStore(home: home).undoRestore(of: record.id)
        try journal.append(JournalRecord(.abort(transaction: record.id, reason: reason)))
    }

    // MARK: - Restart

    /// Replaces this process with `target`'s binary: same PID, same argv, same environment plus
    /// the markers and `handoff`'s variables; the lock passes with it, above `handoff`'s
    /// descriptors (placed at 3, 4, …); no other descriptor but stdio crosses. With `watchdog`,
    /// a ``Watchdog`` forked just before the `exec` restores `from` if `target` does not confirm
    /// within ``UpgradeConfiguration/confirmDeadlineSeconds``. On failure the descriptor table
    /// is restored. Returns only by throwing.
    /// With `checked`, the descriptor of `target`'s binary that was checked (a rollback's check
    /// step), that descriptor is what is executed, not the path.
    func restart(into target: SHA256Digest, transaction: String, from: SHA256Digest?, lock: FileLock, isRollback: Bool,
                 explicit: Bool = false, handoff: RestartHandoff = RestartHandoff(), checked: FileDescriptor? = nil,
                 watchdog: Bool = false) throws -> Never {
        var environment = ProcessControl.environment()
        var fallbackEnvironment = environment
        for marker in program.markers.perRestart { fallbackEnvironment[marker] = nil }
        environment.merge(handoff.environment) { $1 }
        fallbackEnvironment.merge(handoff.environment) { $1 }
        environment[program.markers.transaction] = transaction
        environment[program.markers.upgradedFrom] = from?.hex
        environment[program.markers.restarts] = try RestartGuard(configuration: configuration, markers: program.markers).next(isRollback: isRollback, explicit: explicit)
        // The lock must not sit where a handed-off descriptor goes: a copy above them crosses instead.
        let top = RestartHandoff.firstDescriptor + Int32(handoff.descriptors.count)
        var lockDescriptor = lock.descriptor.rawValue
        if lockDescriptor < top {
            lockDescriptor = try Descriptors.duplicate(lockDescriptor, atLeast: top, closeOnExec: false)
        } else {
            try lock.keepAcrossExec()
        }
        environment[program.markers.lockDescriptor] = String(lockDescriptor)
        let arrangement: Descriptors.Arrangement
        do {
            arrangement = try Descriptors.arrange(handoff.descriptors, from: RestartHandoff.firstDescriptor, keep: [lockDescriptor])
        } catch {
            if lockDescriptor != lock.descriptor.rawValue { Descriptors.close(lockDescriptor) }
            throw error
        }
        var confirmation: String?
        do {
            if watchdog, let from, store.contains(from) {
                let started = try Watchdog.start(deadlineSeconds: configuration.confirmDeadlineSeconds,
                                                 listenerCount: handoff.descriptors.count, lock: lockDescriptor,
                                                 path: home.binary(from), arguments: CommandLine.arguments,
                                                 environment: fallbackEnvironment)
                confirmation = Watchdog.marker(confirmation: started.confirmation, pid: started.pid)
                environment[program.markers.confirmDescriptor] = confirmation
            }
            try FailPoint.hit("before-exec", program)
            if let checked {
                try ProcessControl.exec(descriptor: checked, path: home.binary(target), arguments: CommandLine.arguments, environment: environment)
            } else {
                try ProcessControl.exec(home.binary(target), arguments: CommandLine.arguments, environment: environment)
            }
        } catch {
            confirmation.map(Watchdog.standDown)
            arrangement.undo()
            if lockDescriptor != lock.descriptor.rawValue { Descriptors.close(lockDescriptor) }
            throw error
        }
    }

    // MARK: - Locking

    /// What the lock file says about its holder: the pid the last taker wrote (its first
    /// 32 bytes: a pid is at most 10 digits, and a file grown huge is not read into memory).
    package func recordedLockHolder() -> String? {
        (try? FileSystem.readOwnFile(home.lock, maxBytes: 32)).map { String(decoding: $0, as: UTF8.self) }
    }

    /// The lock, once it is free, when the process recorded as its holder is dead: a killed
    /// holder's children can keep the descriptor for the moment they take to die with it.
    /// Waits up to two seconds; nil when the holder lives or the lock stays taken.
    func lockOfDeadHolder() throws -> FileLock? {
        let holder = recordedLockHolder().flatMap { Int32($0) }
        guard let holder, !ProcessControl.isAlive(holder) else { return nil }
        let start = MonotonicClock.now()
        while MonotonicClock.seconds(since: start) < 2 {
            if let lock = try FileLock.tryAcquire(home.lock) { return lock }
            ProcessControl.sleep(seconds: 0.005)
        }
        return nil
    }

    package func acquireLock() throws -> FileLock {
        guard home.isInitialized else { throw UpgradeError.notInitialized(home: home.root) }
        let acquired: FileLock?
        do {
            acquired = try FileLock.tryAcquire(home.lock) ?? lockOfDeadHolder()
        } catch {
            throw UpgradeError.homeNotWritable(path: home.root, reason: "\(error)")
        }
        guard let lock = acquired else {
            // The process holding it now, from /proc/locks; the pid written into the file names
            // whoever took it last, who may be gone.
            let holder = FileLock.holder(of: home.lock).flatMap { $0 > 0 ? String($0) : nil }
                ?? recordedLockHolder()
            throw UpgradeError.locked(path: home.lock, holder: holder.flatMap { $0.isEmpty ? nil : $0 })
        }
        // The holder's pid (the lock's descriptor is fresh, at offset 0).
        try? lock.descriptor.overwrite(with: Array("\(ProcessControl.id)".utf8))
        return lock
    }

    func newTransactionID() -> String {
        let stamp = WallClock.iso8601(WallClock.now()).filter { $0.isNumber || $0 == "T" }
        return "tx-\(stamp)-\(String(UInt32.random(in: 0...UInt32.max), radix: 16))"
    }

    // MARK: - Pruning

    /// Removes versions beyond the history limit that a well-formed journal proves unreferenced
    /// (``Ledger/prunable(stored:linked:limit:)``): each removal is journaled first, then the
    /// version is renamed into staging and deleted. Logs of transactions older than every kept
    /// version go with them. Runs only after a commit: a command that only reads never deletes.
    /// - Returns: the ledger of the journal as it ends.
    @discardableResult
    func prune(_ journal: inout Journal) throws -> Ledger {
        let ledger = Ledger(journal)
        var journaled = false
        var stored = try store.list()
        let prunable = ledger.prunable(stored: stored, linked: try home.currentVersion(), limit: configuration.historyLimit)
        guard !prunable.isEmpty else {
            try pruneLogs(ledger, stored: stored)
            return ledger
        }
        // Moved through the directories opened here, never a link put over `versions` or
        // `staging` meanwhile: nothing outside the home is moved or removed.
        let (versions, staging) = try store.openDirectories()
        defer { try? versions.close(); try? staging.close() }
        for id in prunable {
            if !ledger.pruned.contains(id) {
                try journal.append(JournalRecord(.prune(version: id)))
                journaled = true
            }
            try FailPoint.hit("prune-journaled", program)
            let doomedName = try store.moveOut(id, from: versions, into: staging)
            stored.removeAll { $0 == id }
            try FailPoint.hit("prune-moved", program)
            // Its blocks are freed by a process of its own, once this one has exited (or a
            // second has passed): nothing waits for them, nor shares the disk with them.
            try FileSystem.removeInBackground(doomedName, in: staging, waitingForExitUpTo: Self.removalDelaySeconds)
        }
        let final = journaled ? Ledger(journal) : ledger
        try pruneLogs(final, stored: stored)
        return final
    }

    /// The name a pruned version's directory takes in staging until it is removed.
    static let prunedPrefix = VersionStore.removedPrefix

    /// How long a pruned version's remover waits for the process that pruned it to exit before
    /// it frees the blocks anyway (a daemon that prunes and runs on).
    static let removalDelaySeconds = 1.0

    /// Removes the logs of transactions that began before the oldest transaction that brought a
    /// version still kept (their versions are gone; their logs explain nothing that remains).
    /// `stored` is what the store holds now.
    private func pruneLogs(_ ledger: Ledger, stored: [SHA256Digest]) throws {
        // Removed inside the directory opened here, never through a link put over `logs`.
        guard try FileSystem.statusIfPresent(home.logs, followLinks: false) != nil else { return }
        let logs = try FileDescriptor.open(home.logs, [.directory, .noFollow])
        defer { try? logs.close() }
        let names = Set(try logs.entryNames().map(\.description))
        guard !names.isEmpty else { return }
        for transaction in ledger.transactionsBeforeOldestKept(stored: Set(stored)) where names.contains(transaction) {
            try FileSystem.removeTree(transaction, in: logs)
        }
    }

    // MARK: - Checkpoints

    /// Once the active journal holds ``UpgradeConfiguration/journalCheckpointRecords`` records,
    /// archives it and starts a new one with a checkpoint (``Journal/rotate(keeping:hook:)``), so
    /// that reading the journal costs the same whatever its history. Only after a commit, under
    /// the lock, with no transaction open and from a well-formed journal; a failure leaves the
    /// journal as it was (longer) and is not the transaction's. Never while the store keeps a
    /// version that does not read checkpoints (one verified or stored before them).
    func checkpointIfDue(_ journal: inout Journal, now: Bool = false) {
        guard now || journal.activeRecordCount >= configuration.journalCheckpointRecords, let state = checkpointState(journal) else { return }
        try? journal.rotate(keeping: state) { point in try FailPoint.hit(point, program) }
    }

    /// What a checkpoint of `journal` holds, or nil when none may be written: a transaction is
    /// open, the journal is not well formed, or a stored version predates checkpoints (it could
    /// not read the journal after a rollback to it).
    package func checkpointState(_ journal: Journal) -> JournalCheckpoint.State? {
        let ledger = Ledger(journal)
        guard ledger.openTransaction == nil, ledger.isWellFormed, let stored = try? store.list() else { return nil }
        guard stored.allSatisfy({ store.metadata($0)?.readsJournalCheckpoints == true }) else { return nil }
        let logged = Set((try? FileSystem.contentsOfDirectory(home.logs)) ?? [])
        return ledger.checkpointState(stored: Set(stored), recent: max(configuration.historyLimit, Self.checkpointRecentVersions),
                                      logged: logged)
    }

    /// Archives the active journal and starts it again from a new checkpoint now, as a commit
    /// does once the journal is long: for a journal whose checkpoint was refused (the active file,
    /// its damaged first line with it, is kept in the archive as `<first>-<last>`, which readers
    /// of the whole history read past). Call under the home's lock; the same conditions as after
    /// a commit apply (no open transaction, a well-formed journal, every stored version reads
    /// checkpoints). An active file holding nothing but the refused line is replaced by the new
    /// checkpoint (its records are all in the archive).
    /// - Returns: true when the journal now starts with a sound checkpoint.
    /// - Throws: ``StorageError`` when the journal cannot be read.
    package func checkpointNow() throws -> Bool {
        var journal = try readJournal()
        if journal.checkpointRefusal != nil, journal.activeRecordCount == 0 {
            // Nothing but the refused line: its records are all in the archive already.
            if let state = checkpointState(journal) { try journal.replaceRefusedCheckpoint(keeping: state) }
        } else {
            checkpointIfDue(&journal, now: true)
        }
        let reread = try Journal(path: home.journal)
        return reread.checkpoint != nil && reread.checkpointRefusal == nil
    }

    /// Distinct recent versions a checkpoint keeps the history of, at least.
    static let checkpointRecentVersions = 16
}

/// The restart-loop guard: `<PREFIX>RESTARTS=count:first-epoch` counts restarts in a window.
/// A value that is malformed or out of range (negative count, an epoch in the future) is ignored:
/// counting starts again, so a forged value can neither bypass the guard nor block it forever.
///
/// It counts what indicates a loop: restarts the program decided on its own (an update check, an
/// agent, a version that upgrades itself at start). An operator's explicit upgrade or rollback
/// (``Upgrader/UpgradeOptions/explicit``) is neither refused nor counted; a rollback is never
/// refused (it is how a loop is left).
struct RestartGuard {
    let configuration: UpgradeConfiguration
    let markers: Markers

    /// The marker value for one more restart.
    /// - Parameters:
    ///   - isRollback: a rollback is never refused.
    ///   - explicit: an operator asked: never refused, and the count passes on unchanged.
    /// - Throws: ``UpgradeError/restartLoop(count:seconds:)`` past the limit.
    func next(isRollback: Bool = false, explicit: Bool = false) throws -> String {
        let now = WallClock.now()
        var count = 0
        var first = now
        if let (seen, since) = Self.parse(ProcessControl.environment(markers.restarts)), since <= now + 1,
           now - since <= configuration.restartWindowSeconds {
            count = seen
            first = since
        }
        if explicit { return "\(count):\(first)" }
        guard count < configuration.maxRestarts || isRollback else {
            throw UpgradeError.restartLoop(count: count, seconds: configuration.restartWindowSeconds)
        }
        return "\(min(count + 1, 1_000_000)):\(first)"
    }

    /// Throws when another restart would be refused.
    func check() throws { _ = try next() }

    static func parse(_ value: String?) -> (count: Int, since: Double)? {
        guard let parts = value?.split(separator: ":", omittingEmptySubsequences: false), parts.count == 2,
              let count = Int(parts[0]), (0...1_000_000).contains(count),
              let since = Double(parts[1]), since.isFinite, since >= 0 else { return nil }
        return (count, since)
    }
}
