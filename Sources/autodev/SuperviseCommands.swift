import FoundationEssentials
import Platform
import SelfUpgrade
import Supervisor

/// `autodev supervise`: run a program from a home, restart it, upgrade it by overlap.
enum SuperviseCommands {
    /// `autodev supervise [options] -- PROGRAM ARGS...`
    static func run(_ arguments: ArraySlice<String>) throws -> Int32 {
        let spec = CommandTree.supervise
        let split = arguments.firstIndex(of: "--")
        let parsed = try ParsedArguments.parse(split.map { arguments[..<$0] } ?? arguments, spec: spec)
        if parsed.wantsHelp {
            Output.out(spec.helpText())
            return ExitCode.success
        }
        if let extra = parsed.positionals.first {
            throw UsageError(message: "Unexpected argument '\(extra)' (the program and its arguments go after '--')", spec: spec)
        }
        guard let split else { throw UsageError(message: "Missing '--' before the program: autodev supervise --home DIR -- PROGRAM ARGS...", spec: spec) }
        let program = Array(arguments[(split + 1)...])
        guard let name = program.first, !name.isEmpty else { throw UsageError(message: "Missing the program after '--'", spec: spec) }
        guard let home = parsed.value("home") else { throw UsageError(message: "Missing '--home <dir>': the supervised program's home", spec: spec) }
        var configuration = SupervisorConfiguration(home: FileSystem.absolute(home), program: name, arguments: Array(program.dropFirst()))
        for (index, text) in parsed.values("listen").enumerated() {
            guard let listener = SupervisorConfiguration.parseListen(text, index: index) else {
                throw UsageError(message: "The value '\(text)' is invalid for '--listen <address>': give HOST:PORT, [IPv6]:PORT or a socket path, optionally NAME= before it", spec: spec)
            }
            if configuration.listen.contains(where: { $0.name == listener.name }) {
                throw UsageError(message: "The listener name '\(listener.name)' is given twice", spec: spec)
            }
            configuration.listen.append(listener)
        }
        if let ready = parsed.value("ready") {
            guard let readiness = SupervisorConfiguration.Readiness(rawValue: ready) else {
                throw UsageError(message: "The value '\(ready)' is invalid for '--ready <mode>': give notify or started", spec: spec)
            }
            configuration.readiness = readiness
        }
        configuration.readyTimeoutSeconds = try seconds(parsed, "ready-timeout", default: configuration.readyTimeoutSeconds, spec: spec)
        configuration.stopTimeoutSeconds = try seconds(parsed, "stop-timeout", default: configuration.stopTimeoutSeconds, spec: spec)
        let supervisor = try Supervisor(configuration)
        if parsed.has("json") {
            try Output.jsonLine(StartReport(pid: ProcessControl.id, home: configuration.home, listeners: supervisor.listenerDescriptions,
                                            control: SupervisorConfiguration.controlSocket(home: configuration.home)))
        }
        return supervisor.run()
    }

    static func seconds(_ parsed: ParsedArguments, _ name: String, default value: Double, spec: CommandSpec) throws -> Double {
        guard let text = parsed.value(name) else { return value }
        guard let seconds = Double(text), seconds.isFinite, seconds > 0, seconds <= 86_400 else {
            throw UsageError(message: "The value '\(text)' is invalid for '--\(name) <seconds>': give a number of seconds above 0 and at most 86400", spec: spec)
        }
        return seconds
    }

    struct StartReport: Codable {
        var pid: Int32
        var home: String
        var listeners: [String]
        var control: String
    }

    /// `autodev supervise upgrade --home DIR --from-binary PATH [--next-start]`
    static func upgrade(_ arguments: ParsedArguments) throws -> Int32 {
        let home = try requireHome(arguments, CommandTree.superviseUpgrade)
        guard let binary = arguments.value("from-binary") else {
            throw UsageError(message: "Missing '--from-binary <path>'", spec: CommandTree.superviseUpgrade)
        }
        let path = FileSystem.absolute(binary)
        guard !path.contains("\n") else { throw UsageError(message: "The path '\(binary)' contains a line break", spec: CommandTree.superviseUpgrade) }
        if arguments.has("next-start") {
            let upgrader = try Upgrader(homeDirectory: home, program: SupervisorConfiguration.identity)
            guard try upgrader.currentVersion() != nil else { throw UpgradeError.notInitialized(home: home) }
            let outcome = try upgrader.stageForNextStart(fromBinary: path)
            var reply = ControlReply(ok: true, message: "Staged \(outcome.to.short) as the current version (was \(outcome.from?.short ?? "nothing")); the program runs it from its next start")
            reply.operation = "upgrade"
            reply.transaction = outcome.transaction
            reply.from = outcome.from?.hex
            reply.to = outcome.to.hex
            return try report(reply, json: arguments.has("json"))
        }
        return try report(try ControlClient.send("upgrade " + path, home: home), json: arguments.has("json"))
    }

    /// `autodev supervise rollback --home DIR`
    static func rollback(_ arguments: ParsedArguments) throws -> Int32 {
        let home = try requireHome(arguments, CommandTree.superviseRollback)
        return try report(try ControlClient.send("rollback", home: home), json: arguments.has("json"))
    }

    /// `autodev supervise status --home DIR`
    static func status(_ arguments: ParsedArguments) throws -> Int32 {
        let home = try requireHome(arguments, CommandTree.superviseStatus)
        return try report(try ControlClient.send("status", home: home), json: arguments.has("json"))
    }

    static func requireHome(_ arguments: ParsedArguments, _ spec: CommandSpec) throws -> String {
        guard let home = arguments.value("home") else { throw UsageError(message: "Missing '--home <dir>'", spec: spec) }
        return FileSystem.absolute(home)
    }

    static func report(_ reply: ControlReply, json: Bool) throws -> Int32 {
        if json {
            try Output.json(reply)
        } else if reply.ok {
            Output.out(reply.message)
        } else {
            Output.err("Error: \(reply.message)")
        }
        return reply.ok ? ExitCode.success : ExitCode.failure
    }
}
