import FoundationEssentials
import Integrity
import Platform
import SelfUpgrade
import SourceUpgrade
import Storage

/// Exit codes of swift-argument-parser: 0 success, 1 runtime error, 64 usage error.
enum ExitCode {
    static let success: Int32 = 0
    static let failure: Int32 = 1
    static let usage: Int32 = 64
}

enum CLI {
    static func main(_ arguments: [String]) -> Int32 {
        do {
            return try dispatch(arguments[...])
        } catch let error as UsageError {
            // A usage error quotes what was typed: shown escaped like any outside text.
            Output.err("Error: \(Output.escaped(error.message, keepingNewlines: false))")
            Output.err("Usage: \(usageLine(error.spec))")
            Output.err("  See '\(error.spec.commandName) --help' for more information.")
            return ExitCode.usage
        } catch {
            Output.err("Error: \(Output.escaped("\(error)"))")
            if let home = Self.journalToRepair(error) {
                Output.err("  To rebuild it: autodev self-upgrade repair --home \(Output.shellQuoted(home))")
            }
            if (error as? UpgradeError)?.code == .notInitialized {
                Output.err("  Run 'autodev init' first (or pass --home DIR).")
            }
            return ExitCode.failure
        }
    }

    /// The home whose journal an error says must be repaired.
    static func journalToRepair(_ error: any Error) -> String? {
        if let error = error as? UpgradeError, error.code == .journalDamaged, let path = error.path { return FileSystem.parent(of: path) }
        switch error as? StorageError {
        case .corruptJournal(let path, _, _)?, .unusableJournal(let path, _)?: return FileSystem.parent(of: path)
        default: return nil
        }
    }

    static func usageLine(_ spec: CommandSpec) -> String {
        spec.helpText().split(separator: "\n").first { $0.hasPrefix("USAGE: ") }.map { String($0.dropFirst(7)) } ?? spec.commandName
    }

    static func dispatch(_ arguments: ArraySlice<String>) throws -> Int32 {
        guard let first = arguments.first else {
            Output.out(CommandTree.root.helpText())
            return ExitCode.success
        }
        let rest = arguments.dropFirst()
        switch first {
        case "--version":
            Output.out(autodevVersion)
            return ExitCode.success
        case "-h", "--help":
            Output.out(CommandTree.root.helpText())
            return ExitCode.success
        case "help":
            return try help(Array(rest))
        case "init":
            return try run(CommandTree.initialize, rest, InitCommand.run)
        case "doctor":
            return try run(CommandTree.doctor, rest, DoctorCommand.run)
        case "dashboard":
            return try run(CommandTree.dashboard, rest, DashboardCommand.run)
        case "self-check":
            return try run(CommandTree.selfCheck, rest, SelfCheckCommand.run)
        case "digest":
            return try run(CommandTree.digest, rest, DigestCommand.run)
        case "agent":
            if rest.first == "status" { return try run(CommandTree.agentStatus, rest.dropFirst(), AgentCommand.status) }
            if rest.first == "archive" { return try run(CommandTree.agentArchive, rest.dropFirst(), AgentArchive.show) }
            return try run(CommandTree.agent, rest, AgentCommand.run)
        case "release":
            switch rest.first {
            case "init": return try run(CommandTree.releaseInit, rest.dropFirst(), ChannelCommands.initialize)
            case "add": return try run(CommandTree.releaseAdd, rest.dropFirst(), ChannelCommands.add)
            case "stamp": return try run(CommandTree.releaseStamp, rest.dropFirst(), ChannelCommands.stamp)
            case "normalize": return try run(CommandTree.releaseNormalize, rest.dropFirst(), ChannelCommands.normalize)
            case "publish": return try run(CommandTree.releasePublish, rest.dropFirst(), ChannelCommands.publish)
            case "refresh": return try run(CommandTree.releaseRefresh, rest.dropFirst(), ChannelCommands.refresh)
            case "rotate": return try run(CommandTree.releaseRotate, rest.dropFirst(), ChannelCommands.rotate)
            case "installer": return try run(CommandTree.releaseInstaller, rest.dropFirst(), ReleaseCommands.installer)
            case "keygen": return try run(CommandTree.releaseKeygen, rest.dropFirst(), ReleaseCommands.keygen)
            case "sign": return try run(CommandTree.releaseSign, rest.dropFirst(), ReleaseCommands.sign)
            case "verify": return try run(CommandTree.releaseVerify, rest.dropFirst(), ReleaseCommands.verify)
            case "diff": return try run(CommandTree.releaseDiff, rest.dropFirst(), DeltaCommands.diff)
            case "patch": return try run(CommandTree.releasePatch, rest.dropFirst(), DeltaCommands.patch)
            case "speed": return try run(CommandTree.releaseSpeed, rest.dropFirst(), ReleaseCommands.speed)
            case nil, "-h", "--help":
                Output.out(CommandTree.release.helpText())
                return ExitCode.success
            case let other?:
                throw UsageError(message: "Unknown command 'release \(other)'", spec: CommandTree.release)
            }
        case "tuf":
            return try TUFCommand.dispatch(rest)
        case "module-worker":
            return ModuleWorkerCommand.run(rest)
        case "modules":
            switch rest.first {
            case "build": return try run(CommandTree.modulesBuild, rest.dropFirst(), ModuleCommands.build)
            case "reload": return try run(CommandTree.modulesReload, rest.dropFirst(), ModuleCommands.reload)
            case "rollback": return try run(CommandTree.modulesRollback, rest.dropFirst(), ModuleCommands.rollback)
            case "list": return try run(CommandTree.modulesList, rest.dropFirst(), ModuleCommands.list)
            case "serve": return try run(CommandTree.modulesServe, rest.dropFirst(), ModuleCommands.serve)
            case "measure-routing": return try run(CommandTree.modulesMeasureRouting, rest.dropFirst(), ModuleGates.routing)
            case "test-stateful-reload": return try run(CommandTree.modulesStatefulGate, rest.dropFirst(), ModuleGates.stateful)
            case "test-concurrent-reload": return try run(CommandTree.modulesConcurrentGate, rest.dropFirst(), ModuleGates.concurrent)
            case nil, "-h", "--help":
                Output.out(CommandTree.modules.helpText())
                return ExitCode.success
            case let other?:
                throw UsageError(message: "Unknown command 'modules \(other)'", spec: CommandTree.modules)
            }
        case "supervise":
            switch rest.first {
            case "upgrade": return try run(CommandTree.superviseUpgrade, rest.dropFirst(), SuperviseCommands.upgrade)
            case "rollback": return try run(CommandTree.superviseRollback, rest.dropFirst(), SuperviseCommands.rollback)
            case "status": return try run(CommandTree.superviseStatus, rest.dropFirst(), SuperviseCommands.status)
            default: return try SuperviseCommands.run(rest)
            }
        case "config":
            switch rest.first {
            case "list": return try run(CommandTree.configList, rest.dropFirst(), ConfigCommands.list)
            case "get": return try run(CommandTree.configGet, rest.dropFirst(), ConfigCommands.get)
            case "set": return try run(CommandTree.configSet, rest.dropFirst(), ConfigCommands.set)
            case "unset": return try run(CommandTree.configUnset, rest.dropFirst(), ConfigCommands.unset)
            case nil, "-h", "--help":
                Output.out(CommandTree.config.helpText())
                return ExitCode.success
            case let other?:
                throw UsageError(message: "Unknown command 'config \(other)'", spec: CommandTree.config)
            }
        case "update":
            switch rest.first {
            case "configure": return try run(CommandTree.updateConfigure, rest.dropFirst(), ChannelCommands.configure)
            case "check": return try run(CommandTree.updateCheck, rest.dropFirst(), ChannelCommands.check)
            case "apply": return try run(CommandTree.updateApply, rest.dropFirst(), ChannelCommands.apply)
            case "-h", "--help":
                Output.out(CommandTree.update.helpText())
                return ExitCode.success
            case nil:
                return try run(CommandTree.update, rest, ChannelCommands.update)
            case let option? where option.hasPrefix("-"):
                return try run(CommandTree.update, rest, ChannelCommands.update)
            case let other?:
                throw UsageError(message: "Unknown command 'update \(other)'", spec: CommandTree.update)
            }
        case "self-upgrade":
            switch rest.first {
            case "rollback": return try run(CommandTree.rollback, rest.dropFirst(), RollbackCommand.run)
            case "repair": return try run(CommandTree.repair, rest.dropFirst(), RepairCommand.run)
            case "history": return try run(CommandTree.history, rest.dropFirst(), ReportCommands.history)
            case "status": return try run(CommandTree.status, rest.dropFirst(), ReportCommands.status)
            case "snapshots": return try run(CommandTree.snapshots, rest.dropFirst(), ReportCommands.snapshots)
            default: return try run(CommandTree.selfUpgrade, rest, UpgradeCommand.run)
            }
        default:
            throw UsageError(message: first.hasPrefix("-") ? "Unknown option '\(first)'" : "Unknown command '\(first)'", spec: CommandTree.root)
        }
    }

    private static func run(_ spec: CommandSpec, _ arguments: ArraySlice<String>, _ body: (ParsedArguments) throws -> Int32) throws -> Int32 {
        let parsed = try ParsedArguments.parse(arguments, spec: spec)
        if parsed.wantsHelp {
            Output.out(spec.helpText())
            return ExitCode.success
        }
        return try body(parsed)
    }

    private static func help(_ words: [String]) throws -> Int32 {
        var spec = CommandTree.root
        for word in words {
            guard let next = spec.subcommands.first(where: { $0.path.last == word }) else {
                throw UsageError(message: "Unknown command '\(words.joined(separator: " "))'", spec: CommandTree.root)
            }
            spec = next
        }
        Output.out(spec.helpText())
        return ExitCode.success
    }
}

/// The context every home-using command shares: the home, an upgrader, and the start (resume or recovery).
struct Session {
    let home: Home
    let upgrader: Upgrader
    let json: Bool
    /// Recovery at start changed the home (its notes were printed): a later "nothing was
    /// changed" would not be true.
    var recovered = false

    /// Locates the home, builds the upgrader and runs `start()`.
    /// - Parameter readOnly: the command only reads the home: an interrupted transaction is
    ///   left for the next changing command (see ``Upgrader/start(handoff:recovering:)``).
    /// - Returns: the session, or the exit code when this process was a restart it has now finished.
    static func begin(_ arguments: ParsedArguments, readOnly: Bool = false) throws -> (Session?, Int32) {
        let (session, resumption) = try open(arguments, readOnly: readOnly)
        guard let resumption else { return (session, ExitCode.success) }
        return (nil, try finish(resumption, home: session.home, json: session.json))
    }

    /// Like ``begin(_:)``, but hands a finished restart to the caller (the agent goes on working).
    static func open(_ arguments: ParsedArguments, readOnly: Bool = false) throws -> (Session, Upgrader.Resumption?) {
        let home = HomeLocator.locate(option: arguments.value("home"))
        // Before anything is printed or created: every command with a session needs an installation.
        guard home.isInitialized else { throw UpgradeError.notInitialized(home: home.root) }
        let json = arguments.has("json")
        let stateDirectory = home.state
        let interactive = !json && ProcessControl.standardErrorIsTerminal
        var upgrader = try Upgrader(home: home, program: autodevIdentity, health: {
            _ = try AutodevState.store(directory: stateDirectory).load()
            guard SHA256.hash(data: Array("abc".utf8)).hex == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" else {
                throw UpgradeError.healthCheckFailed(reason: "SHA-256 known answer mismatch")
            }
        }, progress: { event in
            guard !json else { return }
            let clear = interactive ? "\r\u{1B}[K" : ""
            switch event {
            case .started(let step): if interactive { Output.err("==> \(step)…", terminator: false) }
            case .finished(let step, let seconds): Output.err("\(clear)  ✓ \(step) (\(Output.seconds(seconds)))")
            case .failed(let step, _): Output.err("\(clear)  ✗ \(step)")
            case .undone(let step): Output.err("\(clear)  ↩ \(step) undone")
            case .working(let step, let seconds, let detail):
                if interactive {
                    Output.err("\(clear)  \(step) \(Int(seconds)) s  \(Output.escaped(String(detail.prefix(70)), keepingNewlines: false))", terminator: false)
                } else if Int(seconds) % 30 == 0 {
                    Output.err("  \(step): \(Int(seconds)) s")
                }
            }
        })
        if let timeout = arguments.value("timeout") {
            guard let seconds = Double(timeout), seconds.isFinite, seconds > 0, seconds <= 86_400 else {
                throw UsageError(message: "The value '\(timeout)' is invalid for '--timeout <seconds>': give a number of seconds above 0 and at most 86400", spec: CommandTree.selfUpgrade)
            }
            upgrader.configuration.verifyTimeoutSeconds = seconds
        }
        var session = Session(home: home, upgrader: upgrader, json: json)
        switch try upgrader.start(recovering: !readOnly) {
        case .fresh(let recovery):
            for note in recovery { Output.err("autodev: recovery: \(Output.escaped(note, keepingNewlines: false))") }
            session.recovered = !recovery.isEmpty
            return (session, nil)
        case .resumed(let resumption):
            recordResumption(resumption, home: home)
            return (session, resumption)
        }
    }

    /// Records a finished restart in autodev's state, only where the state says something the
    /// journal does not: the pending transaction is over, or another version confirmed itself.
    /// A rollback between builds of one version writes nothing (no fsync on its path); the
    /// journal is the record of every restart, and `self-upgrade history` shows it.
    private static func recordResumption(_ resumption: Upgrader.Resumption, home: Home) {
        let confirmed = resumption.result == .confirmed
        let store = AutodevState.store(directory: home.state)
        guard let loaded = try? store.load()?.state else { return }
        var state = loaded
        state.pendingTransaction = nil
        if confirmed {
            state.lastConfirmedVersion = autodevVersion
            if resumption.operation == .upgrade { state.counters.upgrades += 1 }
        }
        if state != loaded { try? store.save(state) }
    }

    /// Reports a transaction that crossed an exec, in the process it ended in.
    private static func finish(_ resumption: Upgrader.Resumption, home: Home, json: Bool) throws -> Int32 {
        let confirmed = resumption.result == .confirmed
        let from = name(resumption.from, resumption.fromVersion)
        let to = name(resumption.to, resumption.toVersion)
        if json {
            try Output.json(ResumeReport(result: resumption.result.rawValue, operation: resumption.operation.rawValue,
                                         transaction: resumption.transaction, from: resumption.from?.hex, to: resumption.to?.hex,
                                         fromVersion: resumption.fromVersion, toVersion: resumption.toVersion,
                                         reason: resumption.reason, pid: ProcessControl.id,
                                         arguments: CommandLine.arguments,
                                         environmentSHA256: environmentDigest()))
        } else if confirmed && resumption.operation == .upgrade && CommandLine.arguments.dropFirst().first == "update" {
            // The line a person sees once, in the new version, after `autodev update`.
            Output.out((ProcessControl.standardOutputIsTerminal ? "✓ " : "") + "Updated from \(from) to \(to)")
        } else if confirmed {
            Output.out(resumption.operation == .rollback ? "Rolled back \(from) → \(to)" : "Upgraded \(from) → \(to)")
        } else {
            Output.err("Error: \(Output.escaped(resumption.reason ?? "the new version did not confirm"))")
            Output.err("Rolled back to \(from)")
        }
        notify(resumption, home: home)
        return confirmed ? ExitCode.success : ExitCode.failure
    }

    /// Tells the notification command, if one is configured, that a version was applied or
    /// rolled back (an upgrade that did not confirm was rolled back).
    private static func notify(_ resumption: Upgrader.Resumption, home: Home) {
        guard UpdateNotifier.isConfigured(homeDirectory: home.root) else { return }
        let notifier = UpdateNotifier(homeDirectory: home.root, program: autodevIdentity)
        if resumption.result == .confirmed {
            notifier.send(resumption.operation == .rollback ? .rolledBack : .applied, version: resumption.toVersion, fromVersion: resumption.fromVersion)
        } else {
            notifier.send(.rolledBack, version: resumption.fromVersion, fromVersion: resumption.toVersion,
                          message: resumption.reason ?? "the new version did not confirm")
        }
    }

    /// SHA-256 of the environment as sorted `NAME=value` lines, without the restart counter (the
    /// one variable a restart changes): equal before and after an exec that kept the environment.
    static func environmentDigest() -> String {
        var environment = ProcessControl.environment()
        environment.removeValue(forKey: autodevIdentity.markers.restarts)
        let lines = environment.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)\n" }.joined()
        return SHA256.hash(data: Array(lines.utf8)).hex
    }

    static func name(_ id: VersionID?, _ version: String?) -> String {
        guard let id else { return "nothing" }
        return (version.map { Output.escaped($0, keepingNewlines: false) + " " } ?? "") + "(\(id.short))"
    }

    /// Asks on a terminal; never when standard input is not one, or with --yes.
    /// - Returns: true when a person answered yes at the terminal: an operator's explicit
    ///   command, which the restart-loop guard never refuses (`UpgradeOptions.explicit`).
    @discardableResult
    func confirm(_ question: String, _ arguments: ParsedArguments) throws -> Bool {
        guard !arguments.has("yes"), ProcessControl.standardInputIsTerminal else { return false }
        Output.err("\(question) [y/N] ", terminator: false)
        let answer = ProcessControl.readLine()?.lowercased() ?? ""
        guard answer == "y" || answer == "yes" else { throw UpgradeError.cancelled }
        return true
    }
}

struct ResumeReport: Codable {
    var result: String
    var operation: String
    var transaction: String
    var from: String?
    var to: String?
    var fromVersion: String?
    var toVersion: String?
    var reason: String?
    var pid: Int32
    var arguments: [String]
    var environmentSHA256: String
}
