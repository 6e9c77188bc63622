import FoundationEssentials
import Integrity
import Platform
import SelfUpgrade
import SourceUpgrade

/// Exit codes of swift-argument-parser: 0 success, 1 runtime error, 64 usage error.
enum ExitCode {
    static let success: Int32 = 0
    static let failure: Int32 = 1
    static let usage: Int32 = 64
}

enum CLI {
    static func main(_ arguments: [String]) -> Int32 {
        ProcessControl.openClosedStandardDescriptors()
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
        guard let error = error as? UpgradeError, error.code == .journalDamaged, let path = error.path else { return nil }
        // The journal, its archive (journal.d) or a segment in it: the home holds the journal.
        let directory = FileSystem.parent(of: path)
        return FileSystem.baseName(of: directory) == "journal.d" ? FileSystem.parent(of: directory) : directory
    }

    static func usageLine(_ spec: CommandSpec) -> String {
        spec.helpText().split(separator: "\n").first { $0.hasPrefix("USAGE: ") }.map { String($0.dropFirst(7)) } ?? spec.commandName
    }

    static func dispatch(_ arguments: ArraySlice<String>) throws -> Int32 {
        guard let first = arguments.first else {
            Output.out(AutodevCommand.spec.helpText())
            return ExitCode.success
        }
        switch first {
        case "--version":
            Output.out(autodevVersion)
            return ExitCode.success
        case "-h", "--help":
            Output.out(AutodevCommand.spec.helpText())
            return ExitCode.success
        case "help":
            return try help(Array(arguments.dropFirst()))
        case "module-worker":
            return ModuleWorkerCommand.run(arguments.dropFirst())
        default:
            guard let command = subcommand(of: AutodevCommand.self, named: first) else {
                throw UsageError(message: first.hasPrefix("-") ? "Unknown option '\(first)'" : "Unknown command '\(first)'", spec: AutodevCommand.spec)
            }
            return try run(command, arguments.dropFirst())
        }
    }

    /// Runs `command` with the words after its name: a subcommand's when the first word names
    /// one, else its own, as its declaration says what may follow it.
    static func run(_ command: any Command.Type, _ words: ArraySlice<String>) throws -> Int32 {
        let configuration = command.configuration
        if configuration.words == .parsedByCommand { return try command.main(words) }
        if let word = words.first, let next = subcommand(of: command, named: word) {
            return try run(next, words.dropFirst())
        }
        if let word = words.first {
            switch configuration.words {
            case .ownArguments, .parsedByCommand: break
            // A command with subcommands asked for help first prints it, whatever follows.
            case .subcommandOrOptions where word == "-h" || word == "--help", .subcommandOnly where word == "-h" || word == "--help":
                Output.out(command.spec.helpText())
                return ExitCode.success
            case .subcommandOrOptions where word.hasPrefix("-"): break
            case .subcommandOrOptions, .subcommandOnly:
                throw UsageError(message: "Unknown command '\((configuration.path + [word]).joined(separator: " "))'", spec: command.spec)
            }
        }
        return try command.main(words)
    }

    /// The subcommand of `command` a word names, hidden ones included.
    static func subcommand(of command: any Command.Type, named word: String) -> (any Command.Type)? {
        let configuration = command.configuration
        return (configuration.subcommands + configuration.hiddenSubcommands).first { $0.configuration.path.last == word }
    }

    /// `autodev help [COMMAND…]`: the help of the command the words name (hidden ones are not named).
    private static func help(_ words: [String]) throws -> Int32 {
        var command: any Command.Type = AutodevCommand.self
        for word in words {
            guard let next = command.configuration.subcommands.first(where: { $0.configuration.path.last == word }) else {
                throw UsageError(message: "Unknown command '\(words.joined(separator: " "))'", spec: AutodevCommand.spec)
            }
            command = next
        }
        Output.out(command.spec.helpText())
        return ExitCode.success
    }
}

/// The options of a command that works on an installation's home.
protocol HomeCommand {
    /// `--home DIR`; nil: located as ``HomeLocator`` says.
    var home: String? { get }
    /// `--json`.
    var json: Bool { get }
}

/// The context every home-using command shares: the home, an upgrader, and the start (resume or recovery).
struct Session {
    let home: Installation
    let upgrader: Upgrader
    let json: Bool
    /// Recovery at start changed the home (its notes were printed): a later "nothing was
    /// changed" would not be true.
    var recovered = false

    /// Locates the home, builds the upgrader and runs `start()`.
    /// - Parameter readOnly: the command only reads the home: an interrupted transaction is
    ///   left for the next changing command (see ``Upgrader/start(handoff:recovering:)``).
    /// - Returns: the session, or the exit code when this process was a restart it has now finished.
    static func begin(_ command: some HomeCommand, verifyTimeout: GivenValue? = nil, readOnly: Bool = false) throws -> (Session?, Int32) {
        let (session, resumption) = try open(command, verifyTimeout: verifyTimeout, readOnly: readOnly)
        guard let resumption else { return (session, ExitCode.success) }
        return (nil, try finish(resumption, home: session.home, json: session.json))
    }

    /// Like ``begin(_:)``, but hands a finished restart to the caller (the agent goes on working).
    /// - Parameter verifyTimeout: self-upgrade's `--timeout`, the wall-clock limit of the verification run.
    static func open(_ command: some HomeCommand, verifyTimeout: GivenValue? = nil, readOnly: Bool = false) throws -> (Session, Upgrader.Resumption?) {
        let home = HomeLocator.locate(option: command.home)
        // Before anything is printed or created: every command with a session needs an installation.
        guard home.isInitialized else { throw UpgradeError.notInitialized(home: home.directory) }
        let json = command.json
        let stateDirectory = home.stateDirectory
        let interactive = !json && ProcessControl.standardErrorIsTerminal
        var upgrader = try Upgrader(home, program: autodevIdentity, health: {
            if AutodevState.readStrictly(directory: stateDirectory) == nil {
                _ = try AutodevState.store(directory: stateDirectory).load()
            }
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
        if let timeout = verifyTimeout?.text {
            guard let seconds = Double(timeout), seconds.isFinite, seconds > 0, seconds <= 86_400 else {
                throw UsageError(message: "The value '\(timeout)' is invalid for '--timeout <seconds>': give a number of seconds above 0 and at most 86400", spec: UpgradeCommand.spec)
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
    /// A rollback between builds of one version writes nothing. What is written is not fsync'd:
    /// the journal is the durable record of every restart (`self-upgrade history` shows it), and
    /// these counters follow from it; a power cut may lose the write, never tear it.
    private static func recordResumption(_ resumption: Upgrader.Resumption, home: Installation) {
        let confirmed = resumption.result == .confirmed
        let store = { AutodevState.store(directory: home.stateDirectory) }
        guard let loaded = AutodevState.readStrictly(directory: home.stateDirectory) ?? (try? store().load()?.state) else { return }
        var state = loaded
        state.pendingTransaction = nil
        if confirmed {
            state.lastConfirmedVersion = autodevVersion
            if resumption.operation == .upgrade { state.counters.upgrades += 1 }
        }
        if state != loaded { try? store().save(state, durable: false) }
    }

    /// Reports a transaction that crossed an exec, in the process it ended in.
    private static func finish(_ resumption: Upgrader.Resumption, home: Installation, json: Bool) throws -> Int32 {
        let confirmed = resumption.result == .confirmed
        let from = name(resumption.from, resumption.fromVersion)
        let to = name(resumption.to, resumption.toVersion)
        if json {
            try Output.json(ResumeReport(result: resumption.result.rawValue, operation: resumption.operation.rawValue,
                                         transaction: resumption.transaction, from: resumption.from?.hex, to: resumption.to?.hex,
                                         fromVersion: resumption.fromVersion, toVersion: resumption.toVersion,
                                         reason: resumption.reason, pid: ProcessControl.id,
                                         arguments: CommandLine.arguments,
                                         environmentSHA256: environmentDigest(), pruneFailure: resumption.pruneFailure))
        } else if confirmed && resumption.operation == .upgrade && CommandLine.arguments.dropFirst().first == "update" {
            // The line a person sees once, in the new version, after `autodev update`.
            Output.out((ProcessControl.standardOutputIsTerminal ? "✓ " : "") + "Updated from \(from) to \(to)")
        } else if confirmed {
            Output.out(resumption.operation == .rollback ? "Rolled back \(from) → \(to)" : "Upgraded \(from) → \(to)")
        } else {
            Output.err("Error: \(Output.escaped(resumption.reason ?? "the new version did not confirm"))")
            Output.err("Rolled back to \(from)")
        }
        if let failure = resumption.pruneFailure, !json {
            Output.err("Warning: pruning after the commit did not finish (old versions or their logs may remain until the next commit): \(Output.escaped(failure)) ('autodev doctor' examines the home)")
        }
        notify(resumption, home: home)
        return confirmed ? ExitCode.success : ExitCode.failure
    }

    /// Tells the notification command, if one is configured, that a version was applied or
    /// rolled back (an upgrade that did not confirm was rolled back).
    private static func notify(_ resumption: Upgrader.Resumption, home: Installation) {
        guard UpdateNotifier.isConfigured(homeDirectory: home.directory) else { return }
        let notifier = UpdateNotifier(homeDirectory: home.directory, program: autodevIdentity)
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
    func confirm(_ question: String, yes: Bool) throws -> Bool {
        guard !yes, ProcessControl.standardInputIsTerminal else { return false }
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
    /// Why pruning after the commit failed, when it did.
    var pruneFailure: String? = nil
}
