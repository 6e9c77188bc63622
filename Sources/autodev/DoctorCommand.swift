import Doctor
import Platform
import SelfUpgrade

/// `autodev doctor [--repair] [--json] [--quiet]`: the home's checks and repairs (the Doctor library).
extension DoctorCommand {
    static func run(_ arguments: DoctorCommand) throws -> Int32 {
        let home = HomeLocator.locate(option: arguments.home)
        guard home.isInitialized else { throw UpgradeError.notInitialized(home: home.directory) }
        let rate = try ChannelCommands.integer(arguments.$rate, DoctorCommand.spec, range: 1024...Int(Int32.max))
        let doctor = Doctor(homeDirectory: home.directory, program: autodevIdentity, options: options(rate: rate, offline: arguments.offline))
        let json = arguments.json
        let quiet = arguments.quiet
        guard arguments.repair else {
            let examination = try doctor.examine()
            // A timer's examination keeps what it found for 'self-upgrade status', as a background check does.
            // Best effort: on a read-only home the findings are still printed and the exit code says so.
            if quiet { try? IntegrityNotice.record(examination.findings, homeDirectory: home.directory) }
            if json {
                try Output.json(examination)
            } else if !(quiet && examination.isHealthy) {
                show(examination, quiet: quiet)
            }
            return examination.isHealthy ? ExitCode.success : ExitCode.failure
        }
        let report = try doctor.repair()
        if quiet || !IntegrityNotice.read(homeDirectory: home.directory).isEmpty {
            try? IntegrityNotice.record(report.after.findings, homeDirectory: home.directory)
        }
        if json {
            try Output.json(report)
        } else if !(quiet && report.before.isHealthy) {
            show(report)
        }
        return report.isComplete ? ExitCode.success : ExitCode.failure
    }

    /// The doctor's options for autodev: its own state type is decoded to check a state file.
    static func options(rate: Int?, offline: Bool) -> Doctor.Options {
        var options = Doctor.Options()
        options.hashBytesPerSecond = rate.map(Double.init)
        options.usesReleaseChannel = !offline
        options.checkState = { path in
            guard FileSystem.baseName(of: path) == "autodev.json" else { return }
            _ = try AutodevState.store(directory: FileSystem.parent(of: path)).load()
        }
        return options
    }

    static func show(_ examination: Examination, quiet: Bool) {
        if let inProgress = examination.inProgress, !quiet { Output.out("… \(Output.escaped(inProgress, keepingNewlines: false))") }
        if examination.isHealthy {
            Output.out("\(Output.quoted(examination.home)) is healthy: \(examination.versionsHashed) stored version(s) match their hashes (\(ByteCount.text(examination.bytesHashed)) hashed)"
                + (examination.freeBytes.map { ", \(ByteCount.text(Int(clamping: $0))) free" } ?? ""))
            return
        }
        for finding in examination.findings { line(finding) }
        if !quiet {
            Output.out("\(examination.findings.count) finding(s) in \(Output.quoted(examination.home)); nothing was changed. 'autodev doctor --repair' repairs what it can (each finding's 'repair:' line says how), keeping what it replaces aside.")
        }
    }

    static func line(_ finding: Finding) {
        Output.out("✗ \(finding.kind) \(Output.escaped(finding.path, keepingNewlines: false)): \(Output.escaped(finding.problem, keepingNewlines: false))")
        Output.out("    repair: \(Output.escaped(finding.remedy, keepingNewlines: false))")
    }

    static func show(_ report: RepairReport) {
        guard !report.before.isHealthy else {
            show(report.before, quiet: false)
            return
        }
        for action in report.actions {
            let finding = action.finding
            let head = "\(finding.kind) \(Output.escaped(finding.path, keepingNewlines: false))"
            if action.repaired {
                Output.out("✓ \(head): \(Output.escaped(action.action, keepingNewlines: false))"
                    + (action.source.map { " (from \(Output.quoted($0)))" } ?? ""))
            } else {
                Output.out("✗ \(head): not repaired: \(Output.escaped(action.action, keepingNewlines: false))")
            }
            if let kept = action.keptAs { Output.out("    what it replaced is kept as \(Output.quoted(kept))") }
        }
        let repaired = report.actions.filter(\.repaired).count
        // Finishing an interrupted transaction removes what it left in staging and its temporary
        // links; nothing else is deleted.
        let finished = report.actions.contains { $0.repaired && $0.finding.kind == .interruptedTransaction }
        Output.out("Repaired \(repaired) of \(report.actions.count) finding(s); nothing was deleted"
            + (finished ? " but what the interrupted transaction left behind (in staging, and its temporary links)." : "."))
        if !report.after.isHealthy {
            Output.out("Still found:")
            for finding in report.after.findings { line(finding) }
        }
    }
}
