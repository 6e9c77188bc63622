import Doctor
import FoundationEssentials
import Integrity
import Platform
import ReleaseChannel
import SelfUpgrade
import SourceUpgrade
import Storage

enum InitCommand {
    static func run(_ arguments: ParsedArguments) throws -> Int32 {
        let home = HomeLocator.locate(option: arguments.value("home"))
        var configuration = home.isInitialized ? try UpgradeConfiguration.load(from: home) : UpgradeConfiguration()
        if let keep = arguments.value("keep") {
            guard let count = Int(keep), count >= 2 else {
                throw UsageError(message: "The value '\(keep)' is invalid for '--keep <n>': give a whole number of at least 2", spec: CommandTree.initialize)
            }
            configuration.historyLimit = count
        }
        let upgrader = try Upgrader(home: home, program: autodevIdentity, configuration: configuration)
        let executable = try ProcessControl.executablePath()
        var id: VersionID
        var created = true
        do {
            id = try upgrader.adopt(executable: executable)
            if arguments.value("keep") != nil { try configuration.save(to: home) }
            try AutodevState.update(in: home.state) { _ in }
            if let source = arguments.value("source") { try WorkingCopy.clone(source, into: home.workingCopy, logs: home.logs) }
        } catch let error as UpgradeError where error.code == .alreadyInitialized {
            created = false
            guard let current = try home.currentVersion() else { throw UpgradeError.notInitialized(home: home.root) }
            id = VersionID(current)
            if let source = arguments.value("source") {
                if FileSystem.exists(home.workingCopy) {
                    Output.err("Keeping the working copy in \(home.workingCopy) (remove it to clone \(Output.quoted(source)) instead)")
                } else {
                    try WorkingCopy.clone(source, into: home.workingCopy, logs: home.logs)
                }
            }
        }
        if arguments.has("json") {
            try Output.json(InitReport(home: home.root, bin: home.bin, current: id.hex, version: autodevVersion, created: created))
        } else {
            Output.out(created ? "Initialized \(home.root) with autodev \(autodevVersion) (\(id.short))"
                               : "\(home.root) is already initialized (current version \(id.short))")
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

enum UpgradeCommand {
    static func run(_ arguments: ParsedArguments) throws -> Int32 {
        if arguments.value("from-binary") != nil && arguments.value("source") != nil {
            throw UsageError(message: "Pass either --from-binary or --source, not both", spec: CommandTree.selfUpgrade)
        }
        let (session, code) = try Session.begin(arguments)
        guard let session else { return code }
        Cancellation.install()
        let build = try sourceBuild(arguments, home: session.home)
        let candidate = arguments.value("from-binary") ?? build!.source
        let dryRun = arguments.has("dry-run")
        let current = try session.home.currentVersion()
        var confirmed = false
        if !dryRun {
            confirmed = try session.confirm("Upgrade autodev \(current?.short ?? "") in \(session.home.root) to \(Output.quoted(candidate))?", arguments)
        }
        var options = Upgrader.UpgradeOptions()
        options.explicit = confirmed
        options.dryRun = dryRun
        options.verifyState = arguments.has("verify-state")
        let stateDirectory = session.home.state
        options.beforeRestart = {
            try AutodevState.update(in: stateDirectory) { $0.pendingTransaction = "upgrade" }
        }
        if !session.json && !dryRun {
            Output.err("Upgrading \(session.home.root) from \(build == nil ? "" : "source ")\(Output.quoted(candidate))")
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
    static func sourceBuild(_ arguments: ParsedArguments, home: Home, spec: CommandSpec = CommandTree.selfUpgrade) throws -> SourceBuild? {
        guard arguments.value("from-binary") == nil else {
            if arguments.has("confined") { throw UsageError(message: "'--confined' is for a build from source, not '--from-binary'", spec: spec) }
            return nil
        }
        guard var build = try locatedSourceBuild(arguments, home: home, spec: spec) else { return nil }
        if arguments.has("confined") {
            build.confine(network: arguments.has("build-network"))
        } else if arguments.has("build-network"), spec.path == CommandTree.selfUpgrade.path {
            throw UsageError(message: "'--build-network' needs '--confined'", spec: spec)
        }
        return build
    }

    private static func locatedSourceBuild(_ arguments: ParsedArguments, home: Home, spec: CommandSpec) throws -> SourceBuild? {
        let selection = arguments.value("test-filter").map { ["--filter", $0] } ?? SourceBuild.defaultTestSelection
        if let source = arguments.value("source") { return SourceBuild(source: source, home: home, testSelection: selection) }
        if FileSystem.exists(home.root + "/source/Package.swift") {
            return SourceBuild(source: home.workingCopy, home: home, testSelection: selection)
        }
        if let repository = HomeLocator.enclosingRepository(of: FileSystem.currentDirectory()) {
            return SourceBuild(source: repository, home: home, testSelection: selection)
        }
        if spec.path == CommandTree.agent.path {
            throw UsageError(message: "No working copy for the proposals: pass --source DIR, or create one with 'autodev init --source DIR' (there is none in \(home.root)/source)", spec: spec)
        }
        throw UsageError(message: "No candidate: pass --from-binary PATH or --source DIR (no working copy in \(home.root)/source)", spec: spec)
    }
}

enum RollbackCommand {
    static func run(_ arguments: ParsedArguments) throws -> Int32 {
        let (session, code) = try Session.begin(arguments)
        guard let session else { return code }
        if arguments.has("test") {
            let rehearsal = try session.upgrader.rehearseRollback(to: try arguments.value("to").map(session.upgrader.resolveVersion(prefix:)))
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
        try session.confirm("Roll back \(session.home.root) to \(arguments.value("to") ?? "the previous version")?", arguments)
        // No state is saved before the exec: the journal's open rollback already says one is in
        // flight, and a pending marker in the state would cost two fsyncs on its critical path.
        // The target counts it in the state once it has confirmed (after the commit).
        var options = Upgrader.UpgradeOptions()
        options.restoresState = arguments.has("restore-state")
        _ = try session.upgrader.rollback(to: try arguments.value("to").map(session.upgrader.resolveVersion(prefix:)), options: options)
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
        var verification: Verifier.Result
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
    static func history(_ arguments: ParsedArguments) throws -> Int32 {
        let (session, code) = try Session.begin(arguments, readOnly: true)
        guard let session else { return code }
        // A script reading --json gets every row unless it asks for fewer; a terminal the newest 20.
        let asked = try ChannelCommands.integer("limit", arguments, CommandTree.history, range: 1...Int(Int32.max))
        let limit = arguments.has("all") ? nil : asked ?? (session.json ? nil : 20)
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

    static func snapshots(_ arguments: ParsedArguments) throws -> Int32 {
        let (session, code) = try Session.begin(arguments, readOnly: true)
        guard let session else { return code }
        let snapshots = session.upgrader.snapshots()
        if session.json {
            try Output.json(snapshots)
            return ExitCode.success
        }
        guard !snapshots.isEmpty else {
            Output.out("No snapshots yet in \(session.home.root)/snapshots: the next upgrade or rollback takes the first.")
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

    static func status(_ arguments: ParsedArguments) throws -> Int32 {
        guard !(arguments.has("prometheus") && arguments.has("json")) else {
            throw UsageError(message: "Pass either --prometheus or --json, not both", spec: CommandTree.status)
        }
        let (session, code) = try Session.begin(arguments, readOnly: true)
        guard let session else { return code }
        let status = try session.upgrader.status()
        // What the last update check (by hand or in the background) found, if the home follows a channel.
        let running = status.current?.version.flatMap(SemanticVersion.init) ?? SemanticVersion(autodevVersion)!
        let available = (try? UpdateChannel.load(home: session.home.root))?.availableUpdate(newerThan: running)
        // What the last integrity check (the agent's background check, a timer's 'doctor --quiet') found.
        let integrity = IntegrityNotice.read(homeDirectory: session.home.root)
        if arguments.has("prometheus") {
            let channel = try? UpdateChannel.load(home: session.home.root)
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

enum DigestCommand {
    static func run(_ arguments: ParsedArguments) throws -> Int32 {
        guard !arguments.positionals.isEmpty else {
            throw UsageError(message: "Missing expected argument '<file> ...'", spec: CommandTree.digest)
        }
        var status = ExitCode.success
        for path in arguments.positionals {
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

enum RepairCommand {
    static func run(_ arguments: ParsedArguments) throws -> Int32 {
        let home = HomeLocator.locate(option: arguments.value("home"))
        guard home.isInitialized else { throw UpgradeError.notInitialized(home: home.root) }
        let upgrader = try Upgrader(home: home, program: autodevIdentity)
        let report = try upgrader.repair()
        // Then what every changing command does first: finish an interrupted transaction.
        let recovery = try upgrader.recover()
        for note in recovery { Output.err("autodev: recovery: \(Output.escaped(note, keepingNewlines: false))") }
        if arguments.has("json") {
            try Output.json(report)
        } else if !report.repaired {
            Output.out("The journal of \(home.root) is sound; " + (recovery.isEmpty ? "nothing was changed." : "nothing else was changed."))
        } else if report.adopted.isEmpty && report.current == report.currentBefore {
            Output.out("The journal of \(home.root) is sound; \(Output.escaped(report.problem ?? "", keepingNewlines: false)). Nothing was deleted.")
        } else if report.adopted.isEmpty {
            Output.out("The journal of \(home.root) is sound; current named \(report.currentBefore?.short ?? "nothing") (\(report.problem ?? "")) and now names \(report.current?.short ?? "nothing"), as the journal says.")
        } else {
            Output.out("Repaired the journal of \(home.root) (\(report.problem ?? "damaged"))")
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
