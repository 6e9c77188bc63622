import FoundationEssentials
import Platform
import SelfUpgrade
import Supervisor

/// `autodev supervise`: run a program from a home, restart it, upgrade it by overlap.
enum SuperviseCommands {
    /// `autodev supervise [options] -- PROGRAM ARGS...`: the options are parsed up to '--', and
    /// everything after it is the program's, as given.
    static func run(_ arguments: ArraySlice<String>) throws -> Int32 {
        let spec = SuperviseCommand.spec
        let split = arguments.firstIndex(of: "--")
        guard let parsed = try SuperviseCommand.parse(split.map { arguments[..<$0] } ?? arguments) else { return ExitCode.success }
        if let extra = parsed.program.first {
            throw UsageError(message: "Unexpected argument '\(extra)' (the program and its arguments go after '--')", spec: spec)
        }
        guard let split else { throw UsageError(message: "Missing '--' before the program: autodev supervise --home DIR -- PROGRAM ARGS...", spec: spec) }
        let program = Array(arguments[(split + 1)...])
        guard let name = program.first, !name.isEmpty else { throw UsageError(message: "Missing the program after '--'", spec: spec) }
        guard let home = parsed.home else { throw UsageError(message: "Missing '--home <dir>': the supervised program's home", spec: spec) }
        var configuration = SupervisorConfiguration(home: FileSystem.absolute(home), program: name, arguments: Array(program.dropFirst()))
        // Each listener is a descriptor the program inherits from 3 on: far more than any program
        // serves, and a few thousand would leave none for starting it (a restart loop, not a start).
        guard parsed.listen.count <= SupervisorConfiguration.maximumListeners else {
            throw UsageError(message: "\(parsed.listen.count) listeners given: at most \(SupervisorConfiguration.maximumListeners)", spec: spec)
        }
        for (index, text) in parsed.listen.enumerated() {
            guard let listener = SupervisorConfiguration.parseListen(text, index: index) else {
                throw UsageError(message: "The value '\(text)' is invalid for '--listen <address>': give HOST:PORT, [IPv6]:PORT or a socket path, optionally NAME= before it", spec: spec)
            }
            if configuration.listen.contains(where: { $0.name == listener.name }) {
                throw UsageError(message: "The listener name '\(listener.name)' is given twice", spec: spec)
            }
            configuration.listen.append(listener)
        }
        if let ready = parsed.ready {
            guard let readiness = SupervisorConfiguration.Readiness(rawValue: ready) else {
                throw UsageError(message: "The value '\(ready)' is invalid for '--ready <mode>': give notify or started", spec: spec)
            }
            configuration.readiness = readiness
        }
        configuration.readyTimeoutSeconds = try seconds(parsed.$readyTimeout, default: configuration.readyTimeoutSeconds, spec: spec)
        configuration.stopTimeoutSeconds = try seconds(parsed.$stopTimeout, default: configuration.stopTimeoutSeconds, spec: spec)
        let supervisor = try Supervisor(configuration)
        if parsed.json {
            try Output.jsonLine(StartReport(pid: ProcessControl.id, home: configuration.home, listeners: supervisor.listenerDescriptions,
                                            control: SupervisorConfiguration.controlSocket(home: configuration.home)))
        }
        return supervisor.run()
    }

    static func seconds(_ given: GivenValue, default value: Double, spec: CommandSpec) throws -> Double {
        guard let text = given.text else { return value }
        guard let seconds = Double(text), seconds.isFinite, seconds > 0, seconds <= 86_400 else {
            throw UsageError(message: "The value '\(text)' is invalid for '\(given.label)': give a number of seconds above 0 and at most 86400", spec: spec)
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
    static func upgrade(_ arguments: SuperviseUpgradeCommand) throws -> Int32 {
        let home = try requireHome(arguments.home, SuperviseUpgradeCommand.spec)
        guard let binary = arguments.fromBinary else {
            throw UsageError(message: "Missing '--from-binary <path>'", spec: SuperviseUpgradeCommand.spec)
        }
        let path = FileSystem.absolute(binary)
        guard !path.contains("\n") else { throw UsageError(message: "The path '\(binary)' contains a line break", spec: SuperviseUpgradeCommand.spec) }
        if arguments.nextStart {
            let upgrader = try Upgrader(homeDirectory: home, program: SupervisorConfiguration.identity)
            guard try upgrader.currentVersion() != nil else { throw UpgradeError.notInitialized(home: home) }
            let outcome = try upgrader.stageForNextStart(fromBinary: path)
            var reply = ControlReply(ok: true, message: "Staged \(outcome.to.short) as the current version (was \(outcome.from?.short ?? "nothing")); the program runs it from its next start")
            reply.operation = "upgrade"
            reply.transaction = outcome.transaction
            reply.from = outcome.from?.hex
            reply.to = outcome.to.hex
            return try report(reply, json: arguments.json)
        }
        return try report(try ControlClient.send("upgrade " + path, home: home), json: arguments.json)
    }

    /// `autodev supervise rollback --home DIR`
    static func rollback(_ arguments: SuperviseRollbackCommand) throws -> Int32 {
        let home = try requireHome(arguments.home, SuperviseRollbackCommand.spec)
        return try report(try ControlClient.send("rollback", home: home), json: arguments.json)
    }

    /// `autodev supervise status --home DIR`
    static func status(_ arguments: SuperviseStatusCommand) throws -> Int32 {
        let home = try requireHome(arguments.home, SuperviseStatusCommand.spec)
        return try report(try ControlClient.send("status", home: home), json: arguments.json)
    }

    static func requireHome(_ home: String?, _ spec: CommandSpec) throws -> String {
        guard let home else { throw UsageError(message: "Missing '--home <dir>'", spec: spec) }
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
