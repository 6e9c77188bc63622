import SelfUpgrade

/// `autodev config`: the installation's settings in `<home>/config.json`, one key at a time.
enum ConfigCommands {
    static func list(_ arguments: ParsedArguments) throws -> Int32 {
        let entries = try file(arguments).entries()
        if arguments.has("json") {
            try Output.json(entries)
            return ExitCode.success
        }
        let width = entries.map(\.key.count).max() ?? 0
        for entry in entries {
            let note = !entry.isKnown ? "  (not known to this version; kept)" : entry.isDefault ? "  (default)" : ""
            Output.out(entry.key + String(repeating: " ", count: width - entry.key.count) + "  " + entry.value + note)
        }
        return ExitCode.success
    }

    static func get(_ arguments: ParsedArguments) throws -> Int32 {
        let key = try argument(0, "key", arguments, CommandTree.configGet)
        let entry = try file(arguments).entry(key)
        if arguments.has("json") { try Output.json(entry) } else { Output.out(entry.value) }
        return ExitCode.success
    }

    static func set(_ arguments: ParsedArguments) throws -> Int32 {
        let key = try argument(0, "key", arguments, CommandTree.configSet)
        let value = try argument(1, "value", arguments, CommandTree.configSet)
        let entry = try file(arguments).set(key, to: value)
        if arguments.has("json") { try Output.json(entry) } else { Output.out("\(entry.key) = \(entry.value)") }
        return ExitCode.success
    }

    static func unset(_ arguments: ParsedArguments) throws -> Int32 {
        let key = try argument(0, "key", arguments, CommandTree.configUnset)
        let configuration = try file(arguments)
        try configuration.unset(key)
        let entry = try? configuration.entry(key)
        Output.out(entry.map { "\($0.key) = \($0.value) (default)" } ?? "\(key) removed")
        return ExitCode.success
    }

    private static func file(_ arguments: ParsedArguments) throws -> ConfigurationFile {
        ConfigurationFile(homeDirectory: HomeLocator.locate(option: arguments.value("home")).root)
    }

    private static func argument(_ index: Int, _ name: String, _ arguments: ParsedArguments, _ spec: CommandSpec) throws -> String {
        guard index < arguments.positionals.count else { throw UsageError(message: "Missing <\(name)>", spec: spec) }
        return arguments.positionals[index]
    }
}
