import Platform
import SelfUpgrade

/// `autodev config`: the installation's settings in `<home>/config.json`, one key at a time.
enum ConfigCommands {
    static func list(_ arguments: ConfigListCommand) throws -> Int32 {
        let entries = try file(arguments.home).entries()
        if arguments.json {
            try Output.json(entries)
            return ExitCode.success
        }
        // A key or value the file holds may be anything: shown escaped, a long value cut short
        // ('config get KEY' shows it whole), columns by display width.
        let keys = entries.map { TerminalText.escaped($0.key, limit: 60) }
        let width = keys.map(TerminalText.width).max() ?? 0
        for (entry, key) in zip(entries, keys) {
            let note = !entry.isKnown ? "  (not known to this version; kept)" : entry.isDefault ? "  (default)" : ""
            Output.out(key + String(repeating: " ", count: width - TerminalText.width(key)) + "  " + TerminalText.escaped(entry.value, limit: 200) + note)
        }
        return ExitCode.success
    }

    static func get(_ arguments: ConfigGetCommand) throws -> Int32 {
        let key = try argument(arguments.key, "key", ConfigGetCommand.spec)
        let entry = try file(arguments.home).entry(key)
        if arguments.json { try Output.json(entry) } else { Output.out(TerminalText.escaped(entry.value)) }
        return ExitCode.success
    }

    static func set(_ arguments: ConfigSetCommand) throws -> Int32 {
        let key = try argument(arguments.key, "key", ConfigSetCommand.spec)
        let value = try argument(arguments.value, "value", ConfigSetCommand.spec)
        let entry = try file(arguments.home, changing: true).set(key, to: value)
        if arguments.json { try Output.json(entry) } else { Output.out("\(entry.key) = \(TerminalText.escaped(entry.value, limit: 200))") }
        return ExitCode.success
    }

    static func unset(_ arguments: ConfigUnsetCommand) throws -> Int32 {
        let key = try argument(arguments.key, "key", ConfigUnsetCommand.spec)
        let configuration = try file(arguments.home, changing: true)
        try configuration.unset(key)
        let entry = try? configuration.entry(key)
        Output.out(entry.map { "\($0.key) = \(TerminalText.escaped($0.value, limit: 200)) (default)" } ?? "\(TerminalText.escaped(key, limit: 100)) removed")
        return ExitCode.success
    }

    /// The home's config.json; a change needs an installation (reading shows the defaults).
    private static func file(_ homeOption: String?, changing: Bool = false) throws -> ConfigurationFile {
        let home = HomeLocator.locate(option: homeOption)
        if changing, !home.isInitialized { throw UpgradeError.notInitialized(home: home.directory) }
        return ConfigurationFile(homeDirectory: home.directory)
    }

    private static func argument(_ value: String?, _ name: String, _ spec: CommandSpec) throws -> String {
        guard let value else { throw UsageError(message: "Missing <\(name)>", spec: spec) }
        return value
    }
}
