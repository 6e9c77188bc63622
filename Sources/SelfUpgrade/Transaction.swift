import Integrity
import Platform
import Storage

/// What a step learned, for its journal record.
struct StepOutcome {
    var to: SHA256Digest?
    var version: String?
}

/// One step of a transaction (the Command pattern): `run` does it, `undo` takes it back.
/// The runner journals each completed step and, on failure, undoes the completed ones in
/// reverse order and journals the abort with the reason.
protocol TransactionStep: Sendable {
    var name: StepName { get }
    func run(_ context: inout TransactionContext) throws -> StepOutcome
    func undo(_ context: TransactionContext) throws
}

extension TransactionStep {
    func undo(_ context: TransactionContext) throws {}
}

/// The state a transaction's steps share.
struct TransactionContext {
    let upgrader: Upgrader
    var journal: Journal
    let transaction: String
    let operation: Operation
    let from: SHA256Digest?
    let lock: FileLock
    var candidate: String?
    var source: CandidateSource?
    var target: SHA256Digest?
    var stagedNewVersion = false
    var verifyState = false
    /// Rehearse the restart protocol in verification (the transaction will exec the new version).
    var rehearseRestart = true
    var verification: Verifier.Result?
    var sourceBuild: SourceBuild?
    var testRun: Subprocess.Running?
    var testSummary: String?
    var timings: [(step: StepName, seconds: Double)] = []

    var home: Home { upgrader.home }
    var logDirectory: String { home.logDirectory(transaction: transaction) }

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
                try FailPoint.hit("before-\(step.name)")
                upgrader.progress(.started(step: step.name.rawValue))
                let start = MonotonicClock.now()
                let outcome = try step.run(&self)
                ran = true
                try journal.append(JournalRecord(.step(transaction: transaction, step: step.name,
                                                       to: outcome.to, version: outcome.version)))
                let seconds = MonotonicClock.seconds(since: start)
                timings.append((step.name, seconds))
                upgrader.progress(.finished(step: step.name.rawValue, seconds: seconds))
                completed.append(step)
                try FailPoint.hit("after-\(step.name)")
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
        stopSourceTools()
        let journaled = (try? journal.append(JournalRecord(.abort(transaction: transaction, reason: reason)))) != nil
        var failures: [String] = []
        for step in steps.reversed() {
            do {
                try FailPoint.hit("undo-\(step.name)")
                try step.undo(self)
            } catch {
                failures.append("undo of \(step.name) failed: \(error)")
            }
        }
        if !journaled { failures.append("the abort could not be journaled; the next start will undo the transaction") }
        return failures
    }

    /// Stops the build and test tools of a source upgrade: the test run's group, then every
    /// tool still working on the home's caches.
    func stopSourceTools() {
        guard sourceBuild != nil else { return }
        testRun?.terminate()
        SourceBuild.stopTools(of: home)
    }

    /// Journals `commit`.
    mutating func commit() throws {
        try journal.append(JournalRecord(.commit(transaction: transaction, to: target)))
    }
}

// MARK: - Steps

/// Lock is held by then; checks space, file system and writability before anything is written.
struct PreflightStep: TransactionStep {
    let name = StepName.preflight

    func run(_ context: inout TransactionContext) throws -> StepOutcome {
        let home = context.home
        let staging = try FileSystem.status(home.staging)
        let versions = try FileSystem.status(home.versions)
        guard staging.device == versions.device else {
            throw UpgradeError.differentFileSystems(staging: home.staging, versions: home.versions)
        }
        let probePath = home.staging + "/.write-test-\(context.transaction)"
        do {
            let probe = try FileDescriptor.open(probePath, [.writeOnly, .create, .truncate], mode: 0o600)
            defer { try? FileSystem.removeFile(probePath) }
            try probe.closeAfter {
                try probe.writeAll(Array("autodev".utf8))
                try probe.sync()
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

/// Copies the candidate into the content-addressed store (hashing it on the way), fsync'd.
struct StageStep: TransactionStep {
    let name = StepName.stage

    func run(_ context: inout TransactionContext) throws -> StepOutcome {
        let staged = try context.upgrader.store.stage(context.candidate!, source: context.source?.encoded ?? "", transaction: context.transaction)
        context.target = staged.id
        context.stagedNewVersion = !staged.wasPresent
        return StepOutcome(to: staged.id)
    }

    func undo(_ context: TransactionContext) throws {
        try? FileSystem.removeTree(context.home.staging + "/" + context.transaction)
        guard let target = context.target, context.stagedNewVersion, target != context.from else { return }
        try context.upgrader.store.remove(target)
    }
}

/// Re-hashes a stored version before it is trusted again (rollback): invariant 6.
struct CheckIntegrityStep: TransactionStep {
    let name = StepName.check

    func run(_ context: inout TransactionContext) throws -> StepOutcome {
        try context.upgrader.store.verify(context.target!)
        return StepOutcome(to: context.target)
    }
}

/// Runs the staged binary's verification mode in the sandbox.
struct VerifyStep: TransactionStep {
    let name = StepName.verify

    func run(_ context: inout TransactionContext) throws -> StepOutcome {
        let target = context.target!
        let result = try context.upgrader.verifier.verify(
            binary: context.home.binary(target), logDirectory: context.logDirectory,
            stateFrom: context.verifyState ? context.home.state : nil, rehearseRestart: context.rehearseRestart)
        context.verification = result
        if var metadata = context.upgrader.store.metadata(target), metadata.version != result.report.version {
            metadata.version = result.report.version
            try? context.upgrader.store.setMetadata(metadata)
        }
        return StepOutcome(version: result.report.version)
    }
}

/// Flips `current` to the target: temporary link, rename, fsync of the directory.
/// The last moment a cancellation (SIGINT, SIGTERM) is honoured.
struct SwapStep: TransactionStep {
    let name = StepName.swap

    func run(_ context: inout TransactionContext) throws -> StepOutcome {
        let signal = Cancellation.signal
        if signal != 0 { throw Subprocess.Cancelled(signal: signal) }
        try context.home.setCurrent(context.target!)
        return StepOutcome(to: context.target)
    }

    func undo(_ context: TransactionContext) throws {
        if let from = context.from { try context.home.setCurrent(from) }
    }
}

// MARK: - Source steps

/// Starts `swift test` and `swift build -c release` side by side (each with its own warm
/// scratch directory, output in the transaction's logs), and waits for the build.
struct BuildStep: TransactionStep {
    let name = StepName.build

    func run(_ context: inout TransactionContext) throws -> StepOutcome {
        let build = context.sourceBuild!
        guard let swift = ProcessControl.findExecutable("swift") else { throw UpgradeError.toolMissing(name: "swift") }
        try FileSystem.createDirectory(context.logDirectory, mode: 0o755, intermediates: true)
        let environment = ProcessControl.environment().filter { !$0.key.hasPrefix("AUTODEV_") }
        func configuration(_ arguments: [String], log: String) -> Subprocess.Configuration {
            var configuration = Subprocess.Configuration(executable: swift, arguments: arguments, environment: environment)
            configuration.workingDirectory = build.source
            configuration.outputPath = context.logDirectory + "/" + log
            configuration.errorPath = configuration.outputPath
            return configuration
        }
        context.testRun = try Subprocess.launch(configuration(build.testArguments, log: "test.log"))
        let log = context.logDirectory + "/build.log"
        let status = try wait(for: try Subprocess.launch(configuration(build.buildArguments, log: "build.log")), log: log, context: context)
        guard status.isSuccess else {
            throw UpgradeError.toolFailed(command: "swift " + build.buildArguments.joined(separator: " "), status: status.description,
                                          problems: ToolLog.firstProblems(in: log), log: log)
        }
        guard FileSystem.exists(build.candidate) else {
            throw UpgradeError.toolFailed(command: "swift build", status: "produced no \(build.candidate)", problems: [], log: log)
        }
        context.candidate = build.candidate
        return StepOutcome()
    }

    func undo(_ context: TransactionContext) throws {
        context.stopSourceTools()
    }
}

/// Waits for the `swift test` run the build step started.
struct TestStep: TransactionStep {
    let name = StepName.test

    func run(_ context: inout TransactionContext) throws -> StepOutcome {
        let build = context.sourceBuild!
        let log = context.logDirectory + "/test.log"
        let status = try wait(for: context.testRun!, log: log, context: context)
        guard status.isSuccess else {
            throw UpgradeError.toolFailed(command: "swift " + build.testArguments.joined(separator: " "), status: status.description,
                                          problems: ToolLog.firstProblems(in: log), log: log)
        }
        context.testSummary = ToolLog.testSummary(in: log)
        return StepOutcome()
    }
}

/// Polls a tool until it ends, reporting progress (elapsed time and its last line) each second.
private func wait(for process: Subprocess.Running, log: String, context: TransactionContext) throws -> TerminationStatus {
    var reported = 0.0
    while true {
        if let status = try process.poll() { return status }
        if process.elapsed - reported >= 1 {
            reported = process.elapsed
            context.upgrader.progress(.working(step: log.hasSuffix("test.log") ? "test" : "build", seconds: reported,
                                                detail: ToolLog.lastLine(of: log)))
        }
        process.pause()
    }
}
