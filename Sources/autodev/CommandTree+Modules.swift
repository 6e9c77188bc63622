// Reloadable modules: build, reload, serve, roll back, list, and the measurement gates.

struct ModulesBuildCommand: ParsableCommand, HomeCommand {
    static var configuration: CommandConfiguration {
        CommandConfiguration(
            path: ["modules", "build"],
            abstract: "Build a module's worker from source and keep it in the home's module store.",
            discussion: "Runs swift build -c release --static-swift-stdlib --disable-local-rpath --product <name>-module in <home>/build, the warm cache of source upgrades (output in <home>/logs/modules-build-<name>.log), starts the result once to read its name, protocol and state schema, and copies it into <home>/modules/store/<sha256>/. Nothing is recorded when any of that fails.")
    }

    @Argument("name", help: CommandTree.moduleNameHelp) var name: String?
    @Option(name: "source", value: "DIR", help: "The package to build (default: the home's working copy, else the package around the current directory).") var source: String?
    @Flag(CommandSpec.json) var json: Bool
    @Option(CommandSpec.home) var home: String?

    func run() throws -> Int32 { try ModuleCommands.build(self) }
}

struct ModulesReloadCommand: ParsableCommand, HomeCommand {
    static var configuration: CommandConfiguration {
        CommandConfiguration(
            path: ["modules", "reload"],
            abstract: "Load a module version: in place in a running host, else for the next start.",
            discussion: "The version is started once to check it runs the named module. A host running for the home ('modules serve', or a program embedding ModuleHost) is asked over <home>/modules/control.sock to reload it through eight journaled phases (prepare, drain, snapshot, migrate, swap, restore, verify, commit or rollback), and the phases and times are printed; exit 1 when it rolled back. With no host running, the version must speak the current version's protocol and is recorded as the one the next start runs.")
    }

    @Argument("name", help: CommandTree.moduleNameHelp) var name: String?
    @Option(name: "from", value: "PATH", help: "The module worker to load (default: the last one 'modules build' stored).") var from: String?
    @Option(name: "builtin", value: "VERSION", help: "Load a version built into this autodev (counter: 1 or 2; example-handler: 1 or 2).") var builtin: String?
    @Flag(CommandSpec.json) var json: Bool
    @Option(CommandSpec.home) var home: String?

    func run() throws -> Int32 { try ModuleCommands.reload(self) }
}

struct ModulesServeCommand: ParsableCommand, HomeCommand {
    static var configuration: CommandConfiguration {
        CommandConfiguration(
            path: ["modules", "serve"],
            abstract: "Run a module host for the home until SIGINT or SIGTERM.",
            discussion: "Starts every module on the version its journal names (the counter on its latest built-in version when none is named) and listens on <home>/modules/control.sock (mode 0600; only this user and root are answered), where 'modules reload' asks it to reload in place to a version of the module store or one built into this program. A module that cannot start is reported with 'modules rollback NAME' as the way out, and the others keep serving. One host per home: a second 'modules serve' fails naming the running one's pid.")
    }

    @Flag(CommandSpec.json) var json: Bool
    @Option(CommandSpec.home) var home: String?

    func run() throws -> Int32 { try ModuleCommands.serve(self) }
}

struct ModulesRollbackCommand: ParsableCommand, HomeCommand {
    static var configuration: CommandConfiguration {
        CommandConfiguration(
            path: ["modules", "rollback"],
            abstract: "Return a module to the version in force before its current one.")
    }

    @Argument("name", help: CommandTree.moduleNameHelp) var name: String?
    @Flag(CommandSpec.json) var json: Bool
    @Option(CommandSpec.home) var home: String?

    func run() throws -> Int32 { try ModuleCommands.rollback(self) }
}

struct ModulesListCommand: ParsableCommand, HomeCommand {
    static var configuration: CommandConfiguration {
        CommandConfiguration(
            path: ["modules", "list"],
            abstract: "Show each module's version, state schema and reload history, from the module journal.")
    }

    @Flag(CommandSpec.json) var json: Bool
    @Option(CommandSpec.home) var home: String?

    func run() throws -> Int32 { try ModuleCommands.list(self) }
}

struct ModulesStatefulGateCommand: ParsableCommand {
    static var configuration: CommandConfiguration {
        CommandConfiguration(
            path: ["modules", "test-stateful-reload"],
            abstract: "Reload a stateful module under load, migrating its state each time; report loss and times.",
            discussion: "Real worker processes (versions built into this binary): a counter module whose state schema changes between versions 1 and 2 is reloaded back and forth while four senders send messages at a fixed rate and check every reply. Exit 1 on any lost or mismatched message or any reload that did not commit.")
    }

    @Option(name: "reloads", value: "N", help: "Reloads to run (default 50).") var reloads: String?
    @Option(name: "rate", value: "N", help: "Messages a second, all senders together (default 2000).") var rate: String?
    @Flag(CommandSpec.json) var json: Bool

    func run() throws -> Int32 { try ModuleGates.stateful(self) }
}

struct ModulesConcurrentGateCommand: ParsableCommand {
    static var configuration: CommandConfiguration {
        CommandConfiguration(
            path: ["modules", "test-concurrent-reload"],
            abstract: "Reload several modules at the same moment under load; report interference, loss and times.",
            discussion: "Each round releases one reload per module at the same moment, while two senders per module send messages at a fixed rate and check every reply and, at the end, every module's state. Exit 1 on any lost or mismatched message or any reload that did not commit.")
    }

    @Option(name: "modules", value: "N", help: "Modules reloaded together (default 4).") var modules: String?
    @Option(name: "rounds", value: "N", help: "Rounds of simultaneous reloads (default 20).") var rounds: String?
    @Option(name: "rate", value: "N", help: "Messages a second, all senders together (default 2000).") var rate: String?
    @Flag(CommandSpec.json) var json: Bool

    func run() throws -> Int32 { try ModuleGates.concurrent(self) }
}

struct ModulesMeasureRoutingCommand: ParsableCommand {
    static var configuration: CommandConfiguration {
        CommandConfiguration(
            path: ["modules", "measure-routing"],
            abstract: "Measure one message routed through the host against a direct call.")
    }

    @Option(name: "messages", value: "N", help: "Messages to time (default 20000).") var messages: String?

    func run() throws -> Int32 { try ModuleGates.routing(self) }
}

struct ModulesCommand: ParsableCommand {
    static var configuration: CommandConfiguration {
        CommandConfiguration(
            path: ["modules"],
            abstract: "Hot reload of modules: build, reload, roll back and list them; run the reload gates.",
            words: .subcommandOnly,
            subcommands: [ModulesBuildCommand.self, ModulesReloadCommand.self, ModulesRollbackCommand.self, ModulesListCommand.self, ModulesServeCommand.self, ModulesStatefulGateCommand.self, ModulesConcurrentGateCommand.self],
            hiddenSubcommands: [ModulesMeasureRoutingCommand.self])
    }

    func run() throws -> Int32 {
        Output.out(Self.spec.helpText())
        return ExitCode.success
    }
}
