import Integrity
import Platform
import Storage

extension Verifier {
    /// The largest scratch journal a rehearsal may leave.
    static let rehearsalJournalLimitBytes = 1 << 20

    /// The descriptor number the rehearsed restart inherits the lock as.
    static let rehearsalLockDescriptor: Int32 = 3

    /// Rehearses the restart protocol with `binary`, in the sandbox.
    ///
    /// A scratch home inside the sandbox gets its own store holding the candidate (the stored
    /// file bound read-only in the candidate's mount namespace; where mounts are not isolated, a
    /// copy staged through ``VersionStore/stage(_:source:transaction:)``, so hashed), `current`
    /// pointing at it, a journal with `adopt`, then `begin`, `step stage`, `step verify` and
    /// `step swap` of a transaction, and a lock taken here. The candidate is started from that
    /// store as a restarted process is: the transaction in `<PREFIX>TX`, the lock inherited as
    /// descriptor 3 (`<PREFIX>LOCK_FD`) with the child's own pid written into the lock file just
    /// before `execve`, the scratch home in `<PREFIX>HOME`, and
    /// ``ProgramIdentity/restartProbeArguments``. It passes when the candidate exits 0 within the
    /// timeout and the scratch journal holds a `commit` of that transaction.
    /// - Throws: ``UpgradeError/verificationFailed(binary:reason:log:)`` "did not confirm the
    ///   rehearsed restart: …".
    func rehearseRestart(binary: String, sandbox: String, environment: [String: String], outputs: SandboxOutputs,
                         confinement: inout Confinement, log: String, stop: () -> Bool = { false }) throws {
        let stored = confinement.bindsFiles ? try storedFile(binary) : nil
        let rehearsal = try prepareRehearsal(binary: binary, bound: stored, sandbox: sandbox, environment: environment, outputs: outputs, log: log)
        defer { rehearsal.lock.release() }
        let status = try confinement.launch(limited(rehearsal.run), writing: rehearsal.area, binary: binary, log: log).wait(stoppingWhen: stop)
        try judgeRehearsal(rehearsal, status: status, binary: binary, sandbox: sandbox, outputs: outputs, log: log)
    }

    /// A file the rehearsal runs where it is, bound read-only in the candidate's namespace onto
    /// an empty file of the scratch store: no copy, no hash. With an identity in its metadata,
    /// the bind is of that very file or fails (``Subprocess/Configuration/readOnlyBindIdentities``).
    package struct BoundFile: Sendable {
        /// Where the file is.
        package var path: String
        /// What the store recorded of it: its id, and the identity of the file that was hashed.
        package var metadata: VersionMetadata

        package init(path: String, metadata: VersionMetadata) {
            self.path = path
            self.metadata = metadata
        }
    }

    /// `binary` as a file of this home's store with its metadata, or nil. A file whose identity
    /// is not the one recorded (changed since, by a backup tool or by a writer) is hashed again
    /// first, and bound only with the identity it had then.
    /// - Throws: ``StorageError`` when it no longer hashes to its id.
    private func storedFile(_ binary: String) throws -> BoundFile? {
        let store = VersionStore(home: home)
        guard let id = home.version(containing: binary), var metadata = store.metadata(id) else { return nil }
        if metadata.identity == nil || (try? FileSystem.status(binary, followLinks: false)).map(FileIdentity.init) != metadata.identity {
            try store.openChecked(id).descriptor.close()
            guard let checked = store.metadata(id) else { return nil }
            metadata = checked
        }
        return BoundFile(path: binary, metadata: metadata)
    }

    /// A rehearsal made ready to run: its scratch home, the lock held on it, and the run.
    struct PreparedRehearsal: Sendable {
        var scratch: Home
        var transaction: String
        /// Held until the rehearsal has been judged; the run inherits it.
        var lock: FileLock
        var run: Subprocess.Configuration
        var area: Confinement.WritableArea
    }

    /// Makes the scratch home (`bound` bound into its store where given, a staged copy of
    /// `binary` otherwise), its journal, lock and the run that rehearses the restart.
    func prepareRehearsal(binary: String, bound: BoundFile?, sandbox: String, environment: [String: String], outputs: SandboxOutputs,
                          log: String) throws -> PreparedRehearsal {
        // A fresh name, made only now: nothing the self-check did can have prepared it.
        let scratch = Home(root: sandbox + "/rehearsal-" + String(UInt64.random(in: 0...UInt64.max), radix: 36), programName: program.name)
        let transaction = "tx-rehearsal-\(String(UInt32.random(in: 0...UInt32.max), radix: 16))"
        var binds: [(source: String, target: String)] = []
        var identities: [String: FileIdentity] = [:]
        let staged: SHA256Digest = try Self.withoutSync {
            try scratch.createLayout()
            let stagedID: SHA256Digest
            if let bound {
                // The identity recorded at staging still holds for the file bound.
                let id = bound.metadata.id
                try FileSystem.createDirectory(scratch.versionDirectory(id), mode: 0o755)
                try VersionStore(home: scratch).setMetadata(bound.metadata)
                try FileDescriptor.open(scratch.binary(id), [.writeOnly, .create, .exclusive, .noFollow], mode: 0o755).close()
                binds = [(bound.path, scratch.binary(id))]
                identities = bound.metadata.identity.map { [bound.path: $0] } ?? [:]
                stagedID = id
            } else {
                stagedID = try VersionStore(home: scratch).stage(binary, source: "rehearsal:" + binary, transaction: "adopt").id
            }
            try scratch.setCurrent(stagedID)
            try FileSystem.replaceSymbolicLink(scratch.entryPoint, target: "../current/" + program.name)
            var journal = try Journal(path: scratch.journal)
            try journal.append(JournalRecord(.adopt(version: stagedID, name: program.version, source: binary, repairedFrom: nil)))
            try journal.append(JournalRecord(.begin(transaction: transaction, operation: .upgrade, from: stagedID, target: nil,
                                                    source: .binary(path: binary))))
            try journal.append(JournalRecord(.step(transaction: transaction, step: .stage, to: stagedID, version: nil)))
            try journal.append(JournalRecord(.step(transaction: transaction, step: .verify, to: nil, version: nil)))
            try journal.append(JournalRecord(.step(transaction: transaction, step: .swap, to: stagedID, version: nil)))
            return stagedID
        }
        guard let lock = try FileLock.tryAcquire(scratch.lock) else {
            throw UpgradeError.verificationFailed(binary: binary, reason: "the rehearsal's lock \(scratch.lock) is held by another process", log: log)
        }

        var restartEnvironment = environment
        restartEnvironment[program.markers.home] = scratch.root
        restartEnvironment[program.markers.transaction] = transaction
        restartEnvironment[program.markers.upgradedFrom] = staged.hex
        restartEnvironment[program.markers.lockDescriptor] = String(Self.rehearsalLockDescriptor)
        var run = Subprocess.Configuration(executable: scratch.binary(staged), arguments: program.restartProbeArguments,
                                           environment: restartEnvironment)
        run.readOnlyBinds = binds
        // The file bound is the one whose identity the store recorded when it was hashed: one
        // put in its place (and put back later), or changed in place since, is not rehearsed.
        run.readOnlyBindIdentities = identities
        run.workingDirectory = sandbox + "/tmp"
        run.outputPath = outputs.restartOut
        run.errorPath = outputs.restartErr
        run.inheritedDescriptor = Subprocess.InheritedDescriptor(source: lock.descriptor.rawValue, target: Self.rehearsalLockDescriptor,
                                                                 writeProcessID: true)
        // It writes its scratch home through a layer, but the journal in place (that is what is
        // read back) and the lock (the file it inherited open, which it checks is the home's).
        let area = Confinement.WritableArea(role: Self.rehearsalRole, path: scratch.root, keptFiles: [scratch.journal, scratch.lock])
        return PreparedRehearsal(scratch: scratch, transaction: transaction, lock: lock, run: run, area: area)
    }

    /// Passes the rehearsal that ended with `status` when it exited 0 having journaled the
    /// commit of its transaction.
    /// - Throws: ``UpgradeError/verificationFailed(binary:reason:log:)`` "did not confirm the
    ///   rehearsed restart: …".
    func judgeRehearsal(_ rehearsal: PreparedRehearsal, status: TerminationStatus, binary: String, sandbox: String, outputs: SandboxOutputs,
                        log: String) throws {
        let scratch = rehearsal.scratch
        let transaction = rehearsal.transaction
        func reject(_ what: String) -> UpgradeError {
            let tail = lastLines(of: outputs.restartErr)
            return UpgradeError.verificationFailed(binary: binary, reason: "did not confirm the rehearsed restart: \(what)" + (tail.isEmpty ? "" : ": \(tail)")
                                                   + fullFileSystemNote(sandbox: sandbox), log: log)
        }
        guard status.isSuccess else { throw reject("'\(program.restartProbeArguments.joined(separator: " "))' \(status)") }
        let outcome: Ledger.Transaction.Outcome?
        // A rehearsal journals a handful of records: a larger file is not read (it could hold
        // gigabytes written to make this process use as much memory).
        let journalSize = (try? FileSystem.status(scratch.journal, followLinks: false).size) ?? 0
        guard journalSize <= Self.rehearsalJournalLimitBytes else {
            throw reject("its journal holds \(journalSize) bytes, more than the \(Self.rehearsalJournalLimitBytes) a rehearsed restart may write")
        }
        do {
            outcome = Ledger(try Journal(path: scratch.journal)).transaction(transaction)?.outcome
        } catch {
            throw reject("its journal cannot be read: \(error)")
        }
        switch outcome {
        case .committed: return
        case .aborted: throw reject("it rolled the transaction back")
        default: throw reject("it exited 0 without journaling commit of \(transaction)")
        }
    }

    /// Runs `body` with `fsync` a no-op: for files in the sandbox, which is deleted after the
    /// verification whatever happens, durability buys nothing and each sync costs milliseconds.
    static func withoutSync<Result>(_ body: () throws -> Result) rethrows -> Result {
        var calls = SystemCalls.current
        calls.fsync = { _ in 0 }
        return try SystemCalls.$current.withValue(calls, operation: body)
    }
}
