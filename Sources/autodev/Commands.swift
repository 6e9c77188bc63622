import Doctor
import FoundationEssentials
import Integrity
import Platform
import ReleaseChannel
import SelfUpgrade
import SourceUpgrade

extension InitCommand {
    static func run(_ arguments: InitCommand) throws -> Int32 {
        let home = HomeLocator.locate(option: arguments.home)
        var configuration = home.isInitialized ? try UpgradeConfiguration.load(from: home) : UpgradeConfiguration()
        if let keep = arguments.keep {
            guard let count = Int(keep), count >= 2 else {
                throw UsageError(message: "The value '\(keep)' is invalid for '\(arguments.$keep.label)': give a whole number of at least 2", spec: InitCommand.spec)
            }
            configuration.historyLimit = count
        }
        let upgrader = try Upgrader(home, program: autodevIdentity, configuration: configuration)
        let executable = try ProcessControl.executablePath()
        var id: VersionID
        var created = true
        do {
            id = try upgrader.adopt(executable: executable)
            if arguments.keep != nil { try configuration.save(to: home) }
            try AutodevState.update(in: home.stateDirectory) { _ in }
            if let source = arguments.source { try WorkingCopy.clone(source, into: home.workingCopy, logs: home.logs) }
        } catch let error as UpgradeError where error.code == .alreadyInitialized {
            created = false
            guard let current = try home.currentVersion() else { throw UpgradeError.notInitialized(home: home.directory) }
            id = current
            if let source = arguments.source {
                if FileSystem.exists(home.workingCopy) {
                    Output.err("Keeping the working copy in \(home.workingCopy) (remove it to clone \(Output.quoted(source)) instead)")
                } else {
                    try WorkingCopy.clone(source, into: home.workingCopy, logs: home.logs)
                }
            }
        }
        if arguments.json {
            try Output.json(InitReport(home: home.directory, bin: home.bin, current: id.hex, version: autodevVersion, created: created))
        } else {
            let shown = Output.escaped(home.directory, keepingNewlines: false)
            Output.out(created ? "Initialized \(shown) with autodev \(autodevVersion) (\(id.short))"
                               : "\(shown) is already initialized (current version \(id.short))")
            Output.out("Put this directory on PATH to run the current version:")
            Output.out("  export PATH=\(Output.shellQuoted(home.bin)):\"$PATH\"")
        }
        return ExitCode.success
    }

    struct InitReport: Codable {
        var home: String
        var bin: String
        var current: String
        var version: String
        var created: Bool
    }
}

extension UpgradeCommand {
    static func run(_ arguments: UpgradeCommand) throws -> Int32 {
        if arguments.fromBinary != nil && arguments.source != nil {
            throw UsageError(message: "Pass either --from-binary or --source, not both", spec: UpgradeCommand.spec)
        }
        let (session, code) = try Session.begin(arguments, verifyTimeout: arguments.$timeout)
        guard let session else { return code }
        Cancellation.install()
        let build = try sourceBuild(SourceChoice(arguments), home: session.home)
        let candidate = arguments.fromBinary ?? build!.source
        let dryRun = arguments.dryRun
        let current = try session.home.currentVersion()
        var confirmed = false
        if !dryRun {
            confirmed = try session.confirm("Upgrade autodev \(current?.short ?? "") in \(session.home.directory) to \(Output.quoted(candidate))?", yes: arguments.yes)
        }
        var options = Upgrader.UpgradeOptions()
        options.explicit = confirmed
        options.dryRun = dryRun
        options.verifyState = arguments.verifyState
        let stateDirectory = session.home.stateDirectory
        // The journal is the durable record of the transaction: this marker is not fsync'd.
        options.beforeRestart = {
            try AutodevState.update(in: stateDirectory, durable: false) { $0.pendingTransaction = "upgrade" }
        }
        if !session.json && !dryRun {
            Output.err("Upgrading \(Output.quoted(session.home.directory)) from \(build == nil ? "" : "source ")\(Output.quoted(candidate))")
        }
        let outcome = try build.map { try session.upgrader.upgrade(fromSource: $0, options: options) }
            ?? session.upgrader.upgrade(fromBinary: candidate, options: options)
        // Only a dry run returns: a real upgrade continues in the new version.
        if session.json {
            try Output.json(outcome)
        } else {
            Output.out("Dry run: \(Output.quoted(candidate)) would become autodev \(Output.escaped(outcome.version ?? "?", keepingNewlines: false)) (\(outcome.to.short))")
            let steps = build == nil ? ["preflight", "stage", "verify"] : ["preflight", "build", "test", "stage", "verify"]
            Output.out("Plan: " + (steps + ["swap", "restart", "confirm"]).joined(separator: " → "))
            if let tests = outcome.tests { Output.out("  tests: \(tests)") }
            for step in steps {
                Output.out("  \(step): ok (\(Output.seconds(outcome.steps[step] ?? 0)))")
            }
            if let verification = outcome.verification {
                Output.out("  candidate: autodev \(Output.escaped(verification.report.version, keepingNewlines: false)), protocol \(verification.report.protocolVersion), \(verification.report.checks.count) checks passed")
                if let state = verification.report.state {
                    Output.out("  state: schema \(state.foundSchema.map(String.init) ?? "none") → \(state.schema), round trip \(state.roundTripEqual ? "equal" : "DIFFERENT")")
                    if !state.droppedFields.isEmpty {
                        Output.out("  state: fields the candidate does not keep (they would be dropped by its first save): \(Output.escaped(state.droppedFields.joined(separator: ", "), keepingNewlines: false))")
                    }
                }
                Output.out("  isolation: \(verification.isolation.joined(separator: ", "))")
            }
            Output.out("  swap, restart, confirm: not run (dry run); current " + (session.recovered
                ? "is \(current?.short ?? "nothing") (recovery at start changed the home: see above)" : "is still \(current?.short ?? "nothing")"))
        }
        return ExitCode.success
    }
}

extension UpgradeCommand {
    /// The source to build, unless a binary was given: --source, else the home's working copy,
    /// else the package around the current directory.
    /// What a command line says about the source to build.
    struct SourceChoice {
        var fromBinary: String? = nil
        var source: String?
        var testFilter: String?
        var confined = false
        var buildNetwork = false

        init(_ command: UpgradeCommand) {
            (fromBinary, source, testFilter, confined, buildNetwork) = (command.fromBinary, command.source, command.testFilter, command.confined, command.buildNetwork)
        }

        init(source: String?, testFilter: String?) {
            (self.source, self.testFilter) = (source, testFilter)
        }
    }

    static func sourceBuild(_ arguments: SourceChoice, home: Installation, spec: CommandSpec = UpgradeCommand.spec) throws -> SourceBuild? {
        guard arguments.fromBinary == nil else {
            if arguments.confined { throw UsageError(message: "'--confined' is for a build from source, not '--from-binary'", spec: spec) }
            return nil
        }
        guard var build = try locatedSourceBuild(arguments, home: home, spec: spec) else { return nil }
        if arguments.confined {
            build.confine(network: arguments.buildNetwork)
        } else if arguments.buildNetwork {
            throw UsageError(message: "'--build-network' needs '--confined'", spec: spec)
        }
        return build
    }

    private static func locatedSourceBuild(_ arguments: SourceChoice, home: Installation, spec: CommandSpec) throws -> SourceBuild? {
        let selection = arguments.testFilter.map { ["--filter", $0] } ?? SourceBuild.defaultTestSelection
        if let source = arguments.source { return SourceBuild(source: source, installation: home, testSelection: selection) }
        if FileSystem.exists(home.directory + "/source/Package.swift") {
            return SourceBuild(source: home.workingCopy, installation: home, testSelection: selection)
        }
        if let repository = HomeLocator.enclosingRepository(of: FileSystem.currentDirectory()) {
            return SourceBuild(source: repository, installation: home, testSelection: selection)
        }
        if spec.path == AgentCommand.configuration.path {
            throw UsageError(message: "No working copy for the proposals: pass --source DIR, or create one with 'autodev init --source DIR' (there is none in \(home.directory)/source)", spec: spec)
        }
        throw UsageError(message: "No candidate: pass --from-binary PATH or --source DIR (no working copy in \(home.directory)/source)", spec: spec)
    }
}

extension RollbackCommand {
    static func run(_ arguments: RollbackCommand) throws -> Int32 {
        let (session, code) = try Session.begin(arguments)
        guard let session else { return code }
        if arguments.test {
            let rehearsal = try session.upgrader.rehearseRollback(to: try arguments.to.map(session.upgrader.resolveVersion(prefix:)))
            if session.json {
                try Output.json(RehearsalReport(rehearsal))
            } else {
                Output.out("Rollback test: \(rehearsal.from?.short ?? "nothing") → \(rehearsal.target.short) (autodev \(Output.escaped(rehearsal.version ?? "?", keepingNewlines: false)))")
                Output.out("  hash check: ok (\(Output.seconds(rehearsal.hashSeconds)))")
                Output.out("  verification from the store: ok (\(Output.seconds(rehearsal.verification.seconds)); \(rehearsal.verification.isolation.joined(separator: ", ")))")
                Output.out("  swap of a scratch link: \(Output.seconds(rehearsal.swapSeconds)); start of the target: \(Output.seconds(rehearsal.startSeconds))")
                Output.out("A real rollback would take about \(Output.seconds(rehearsal.estimatedSeconds)). "
                    + (session.recovered ? "Nothing else was changed (recovery at start: see above)." : "Nothing was changed."))
            }
            return ExitCode.success
        }
        try session.confirm("Roll back \(session.home.directory) to \(arguments.to ?? "the previous version")?", yes: arguments.yes)
        // No state is saved before the exec: the journal's open rollback already says one is in
        // flight, and a pending marker in the state would cost two fsyncs on its critical path.
        // The target counts it in the state once it has confirmed (after the commit).
        var options = Upgrader.UpgradeOptions()
        options.restoresState = arguments.restoreState
        _ = try session.upgrader.rollback(to: try arguments.to.map(session.upgrader.resolveVersion(prefix:)), options: options)
        return ExitCode.failure // not reached: the rollback continues in the target version
    }

    struct RehearsalReport: Codable {
        var from: String?
        var target: String
        var version: String?
        var hashSeconds: Double
        var swapSeconds: Double
        var startSeconds: Double
        var estimatedSeconds: Double
        var verification: VerificationResult
        var changed = false

        init(_ rehearsal: Upgrader.Rehearsal) {
            from = rehearsal.from?.hex
            target = rehearsal.target.hex
            version = rehearsal.version
            hashSeconds = rehearsal.hashSeconds
            swapSeconds = rehearsal.swapSeconds
            startSeconds = rehearsal.startSeconds
            estimatedSeconds = rehearsal.estimatedSeconds
            verification = rehearsal.verification
        }
    }
}

enum ReportCommands {
    static func history(_ arguments: HistoryCommand) throws -> Int32 {
        let (session, code) = try Session.begin(arguments, readOnly: true)
        guard let session else { return code }
        // A script reading --json gets every row unless it asks for fewer; a terminal the newest 20.
        let asked = try ChannelCommands.integer(arguments.$limit, HistoryCommand.spec, range: 1...Int(Int32.max))
        let limit = arguments.all ? nil : asked ?? (session.json ? nil : 20)
        let (total, rows) = try session.upgrader.history(newest: limit)
        if session.json {
            try Output.json(rows)
        } else {
            let skipped = total - rows.count
            if skipped > 0 { Output.out("\(skipped) older row(s) not shown (--limit N shows the newest N, --all every row)") }
            Output.out(Output.table(["#", "ID", "VERSION", "SINCE", "VIA", "SOURCE"], rows.enumerated().map { index, row in
                ["\(skipped + index + 1)", row.short + (row.current ? " *" : row.present ? "" : " (missing)"), Output.escaped(row.version ?? "?", keepingNewlines: false), row.since, row.via, Output.escaped(row.source ?? "", keepingNewlines: false)]
            }))
        }
        return ExitCode.success
    }

    static func snapshots(_ arguments: SnapshotsCommand) throws -> Int32 {
        let (session, code) = try Session.begin(arguments, readOnly: true)
        guard let session else { return code }
        let snapshots = session.upgrader.snapshots()
        if session.json {
            try Output.json(snapshots)
            return ExitCode.success
        }
        guard !snapshots.isEmpty else {
            Output.out("No snapshots yet in \(session.home.directory)/snapshots: the next upgrade or rollback takes the first.")
            return ExitCode.success
        }
        let status = try session.upgrader.status()
        Output.out(Output.table(["#", "TAKEN", "RUNNING", "TRANSACTION", "FILES"], snapshots.map { snapshot in
            let version = snapshot.version.map { id in
                id.short + (id.hex == status.current?.id ? " (current)" : id.hex == status.previous?.id ? " (previous)" : "")
            } ?? "none"
            return ["\(snapshot.sequence)", WallClock.iso8601(snapshot.time), version, snapshot.transaction, snapshot.files.keys.sorted().joined(separator: " ")]
        }))
        return ExitCode.success
    }

    static func status(_ arguments: StatusCommand) throws -> Int32 {
        guard !(arguments.prometheus && arguments.json) else {
            throw UsageError(message: "Pass either --prometheus or --json, not both", spec: StatusCommand.spec)
        }
        let (session, code) = try Session.begin(arguments, readOnly: true)
        guard let session else { return code }
        let status = try session.upgrader.status()
        // What the last update check (by hand or in the background) found, if the home follows a channel.
        let running = status.current?.version.flatMap(SemanticVersion.init) ?? SemanticVersion(autodevVersion)!
        let available = (try? UpdateChannel.load(home: session.home.directory))?.availableUpdate(newerThan: running)
        // What the last integrity check (the agent's background check, a timer's 'doctor --quiet') found.
        let integrity = IntegrityNotice.read(homeDirectory: session.home.directory)
        if arguments.prometheus {
            let channel = try? UpdateChannel.load(home: session.home.directory)
            Output.out(PrometheusMetrics.status(status, available: available, follows: channel != nil, lastCheck: channel?.lastCheck,
                                                integrityProblems: integrity.count))
            return ExitCode.success
        }
        if session.json {
            try Output.json(StatusReport(status: status, updateAvailable: available.map {
                StatusReport.Update(version: $0.version.description, critical: $0.critical)
            }, integrity: integrity.isEmpty ? nil : integrity))
        } else {
            Output.out("Home:      \(Output.escaped(status.home, keepingNewlines: false))")
            Output.out("Current:   \(status.current.map { "\(Output.escaped($0.version ?? "?", keepingNewlines: false)) (\($0.short))" } ?? "none")")
            Output.out("Previous:  \(status.previous.map { "\(Output.escaped($0.version ?? "?", keepingNewlines: false)) (\($0.short))" } ?? "none")")
            Output.out("Store:     \(status.versions.count) version(s), keeping \(status.historyLimit)")
            Output.out("Journal:   \(status.transactions) transaction(s)" + (status.openTransaction.map {
                ", \($0.id) not finished (in progress, or interrupted: then 'autodev self-upgrade repair', or the next command that changes this home, finishes it)"
            } ?? ""))
            Output.out("Run:       \(Output.escaped(status.entryPoint, keepingNewlines: false))")
            if let available {
                Output.out("Update:    update available: \(available.version)" + (available.critical ? " (critical)" : "") + "; run 'autodev update apply'")
            }
            for warning in status.warnings { Output.out("Warning:   \(warning)") }
            for problem in integrity {
                Output.out("Integrity: \(Output.escaped(problem, keepingNewlines: false)); run 'autodev doctor --repair'")
            }
        }
        return status.warnings.isEmpty && integrity.isEmpty ? ExitCode.success : ExitCode.failure
    }

    /// The store's status, and the update the last check found (`updateAvailable`, absent when none).
    struct StatusReport: Encodable {
        struct Update: Encodable {
            var version: String
            var critical: Bool
        }
        var status: Upgrader.Status
        var updateAvailable: Update?
        /// What the last integrity check found (absent when nothing).
        var integrity: [String]?

        enum Keys: String, CodingKey { case updateAvailable, integrity }

        func encode(to encoder: any Encoder) throws {
            try status.encode(to: encoder)
            var container = encoder.container(keyedBy: Keys.self)
            try container.encodeIfPresent(updateAvailable, forKey: .updateAvailable)
            try container.encodeIfPresent(integrity, forKey: .integrity)
        }
    }
}

extension DigestCommand {
    static func run(_ arguments: DigestCommand) throws -> Int32 {
        guard !arguments.files.isEmpty else {
            throw UsageError(message: "Missing expected argument '<file> ...'", spec: DigestCommand.spec)
        }
        var status = ExitCode.success
        for path in arguments.files {
            do {
                let digest = path == "-" ? try SHA256.hash(file: "/dev/stdin") : try hash(path)
                Output.out("\(digest.hex)  \(Output.escaped(path, keepingNewlines: false))")
            } catch {
                Output.err("autodev: \(error)")
                status = ExitCode.failure
            }
        }
        return status
    }

    /// The SHA-256 of a named file, streamed in bounded memory: a regular file only (a device
    /// such as /dev/zero or a FIFO is refused instead of read forever; '-' reads standard input).
    static func hash(_ path: String) throws -> SHA256Digest {
        let fd = try FileSystem.openInputFile(path, what: "a file to digest (or '-' for standard input)")
        return try fd.closeAfter {
            // Hashed from a read-only mapping, as the store hashes (see docs/benchmarks.md).
            try fd.withMappedBytes(length: try fd.status().size) { bytes in
                var hasher = SHA256()
                hasher.update(bufferPointer: bytes)
                return hasher.finalize()
            }
        }
    }
}

extension RepairCommand {
    static func run(_ arguments: RepairCommand) throws -> Int32 {
        let home = HomeLocator.locate(option: arguments.home)
        guard home.isInitialized else { throw UpgradeError.notInitialized(home: home.directory) }
        let upgrader = try Upgrader(home, program: autodevIdentity)
        let report = try upgrader.repair()
        // Then what every changing command does first: finish an interrupted transaction.
        let recovery = try upgrader.recover()
        for note in recovery { Output.err("autodev: recovery: \(Output.escaped(note, keepingNewlines: false))") }
        if arguments.json {
            try Output.json(report)
        } else if !report.repaired {
            Output.out("The journal of \(home.directory) is sound; " + (recovery.isEmpty ? "nothing was changed." : "nothing else was changed."))
        } else if report.adopted.isEmpty && report.current == report.currentBefore {
            Output.out("The journal of \(home.directory) is sound; \(Output.escaped(report.problem ?? "", keepingNewlines: false)). Nothing was deleted.")
        } else if report.adopted.isEmpty {
            Output.out("The journal of \(home.directory) is sound; current named \(report.currentBefore?.short ?? "nothing") (\(report.problem ?? "")) and now names \(report.current?.short ?? "nothing"), as the journal says.")
        } else {
            Output.out("Repaired the journal of \(home.directory) (\(report.problem ?? "damaged"))")
            let moved = report.current != report.currentBefore
                ? " (it was \(report.currentBefore?.short ?? (report.currentKeptAs == nil ? "missing or not in the store" : "not a link")))" : " (unchanged)"
            Output.out("  adopted \(report.adopted.count) version(s) from the store; current: \(report.current?.short ?? "none")" + moved)
            if let kept = report.currentKeptAs { Output.out("  what was at current is kept as \(Output.quoted(kept))") }
            if let kept = report.keptAs { Output.out("  the damaged journal is kept as \(kept)") }
            for id in report.damaged { Output.out("  version \(id.short) is damaged (its bytes do not match its id): kept, not adopted") }
            Output.out("Nothing was deleted.")
        }
        return ExitCode.success
    }
}
