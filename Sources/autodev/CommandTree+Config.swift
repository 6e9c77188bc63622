import SelfUpgrade

// The installation's settings.

struct ConfigListCommand: ParsableCommand, HomeCommand {
    static var configuration: CommandConfiguration {
        CommandConfiguration(
            path: ["config", "list"],
            abstract: "Show every setting: its value, and whether it is the default.")
    }

    @Flag(CommandSpec.json) var json: Bool
    @Option(CommandSpec.home) var home: String?

    func run() throws -> Int32 { try ConfigCommands.list(self) }
}

struct ConfigGetCommand: ParsableCommand, HomeCommand {
    static var configuration: CommandConfiguration {
        CommandConfiguration(
            path: ["config", "get"],
            abstract: "Print one setting's value.")
    }

    @Argument("key", help: CommandTree.configKeyHelp) var key: String?
    @Flag(CommandSpec.json) var json: Bool
    @Option(CommandSpec.home) var home: String?

    func run() throws -> Int32 { try ConfigCommands.get(self) }
}

struct ConfigSetCommand: ParsableCommand, HomeCommand {
    static var configuration: CommandConfiguration {
        CommandConfiguration(
            path: ["config", "set"],
            abstract: "Change one setting, validated as the upgrader reads it; a refused value changes nothing.")
    }

    @Argument("key", help: CommandTree.configKeyHelp) var key: String?
    @Argument("value", help: "A number.") var value: String?
    @Flag(CommandSpec.json) var json: Bool
    @Option(CommandSpec.home) var home: String?

    func run() throws -> Int32 { try ConfigCommands.set(self) }
}

struct ConfigUnsetCommand: ParsableCommand {
    static var configuration: CommandConfiguration {
        CommandConfiguration(
            path: ["config", "unset"],
            abstract: "Remove one setting from the file: its default applies again.")
    }

    @Argument("key", help: CommandTree.configKeyHelp) var key: String?
    @Option(CommandSpec.home) var home: String?

    func run() throws -> Int32 { try ConfigCommands.unset(self) }
}

struct ConfigCommand: ParsableCommand {
    static var configuration: CommandConfiguration {
        CommandConfiguration(
            path: ["config"],
            abstract: "Read and change the installation's settings (<home>/config.json).",
            discussion: ConfigurationFile.keys.map { "\($0.name) (default \($0.defaultValue)): \($0.help)" }.joined(separator: "\n")
            + "\nKeys this version does not know are kept as they are.",
            words: .subcommandOnly,
            subcommands: [ConfigListCommand.self, ConfigGetCommand.self, ConfigSetCommand.self, ConfigUnsetCommand.self])
    }

    func run() throws -> Int32 {
        Output.out(Self.spec.helpText())
        return ExitCode.success
    }
}
