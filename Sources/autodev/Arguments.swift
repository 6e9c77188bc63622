/// A command's options and arguments, for parsing and for its help text.
struct CommandSpec {
    struct Option {
        var name: String
        var short: String? = nil
        /// The value's name for options that take one ("PATH"); nil for flags.
        var value: String? = nil
        var help: String
    }

    var path: [String]
    var abstract: String
    var discussion: String? = nil
    var arguments: [(name: String, help: String)] = []
    var variadic = false
    var options: [Option] = []
    var subcommands: [CommandSpec] = []

    var commandName: String { (["autodev"] + path).joined(separator: " ") }

    static let help = Option(name: "help", short: "h", help: "Show help information.")
    static let json = Option(name: "json", help: "Print the result as JSON.")
    static let home = Option(name: "home", value: "DIR", help: "The installation's home (default: $AUTODEV_HOME, the home of the running binary, Workspace/ in this repository, else $XDG_DATA_HOME/autodev).")
    static let yes = Option(name: "yes", short: "y", help: "Do not ask for confirmation.")

    /// Help text in swift-argument-parser's layout.
    func helpText() -> String {
        var lines = ["OVERVIEW: \(abstract)"]
        if let discussion { lines += ["", discussion] }
        var usage = commandName
        if !subcommands.isEmpty && options.count <= 1 { usage += " <subcommand>" }
        if options.count > 1 || subcommands.isEmpty { usage += " [<options>]" }
        for argument in arguments { usage += variadic ? " <\(argument.name)> ..." : " <\(argument.name)>" }
        lines += ["", "USAGE: \(usage)"]
        if !arguments.isEmpty {
            lines += ["", "ARGUMENTS:"] + arguments.map { Self.row("<\($0.name)>", $0.help) }
        }
        lines += ["", "OPTIONS:"] + (options + [Self.help]).map { option in
            var label = option.short.map { "-\($0), " } ?? ""
            label += "--\(option.name)"
            if let value = option.value { label += " <\(value.lowercased())>" }
            return Self.row(label, option.help)
        }
        if !subcommands.isEmpty {
            lines += ["", "SUBCOMMANDS:"] + subcommands.map { Self.row($0.path.last!, $0.abstract) }
            lines += ["", "  See 'autodev help \(path.isEmpty ? "" : path.joined(separator: " ") + " ")<subcommand>' for detailed help."]
        }
        return lines.joined(separator: "\n")
    }

    private static func row(_ label: String, _ help: String) -> String {
        let padded = "  " + label
        let width = 26
        if padded.count < width { return padded + String(repeating: " ", count: width - padded.count) + help }
        return padded + "\n" + String(repeating: " ", count: width) + help
    }
}

/// A command line that does not fit its command: printed to stderr, exit 64.
struct UsageError: Error {
    var message: String
    var spec: CommandSpec
}

/// The parsed command line of one command.
struct ParsedArguments {
    var values: [String: String] = [:]
    /// Every value of each option, in order (for options that may be repeated).
    var allValues: [String: [String]] = [:]
    var flags: Set<String> = []
    var positionals: [String] = []
    var wantsHelp = false

    func has(_ flag: String) -> Bool { flags.contains(flag) }
    func value(_ name: String) -> String? { values[name] }
    func values(_ name: String) -> [String] { allValues[name] ?? [] }

    /// Parses `arguments` (after the command's own words) against `spec`:
    /// `--name value`, `--name=value`, `-x`, and `--` ending the options.
    static func parse(_ arguments: ArraySlice<String>, spec: CommandSpec) throws(UsageError) -> ParsedArguments {
        var parsed = ParsedArguments()
        var index = arguments.startIndex
        var optionsEnded = false
        while index < arguments.endIndex {
            let argument = arguments[index]
            index += 1
            if optionsEnded || !argument.hasPrefix("-") || argument == "-" {
                parsed.positionals.append(argument)
                continue
            }
            if argument == "--" {
                optionsEnded = true
                continue
            }
            var name: String
            var inlineValue: String?
            if argument.hasPrefix("--") {
                name = String(argument.dropFirst(2))
                if let equals = name.firstIndex(of: "=") {
                    inlineValue = String(name[name.index(after: equals)...])
                    name = String(name[..<equals])
                }
            } else {
                let short = String(argument.dropFirst())
                guard let option = (spec.options + [CommandSpec.help]).first(where: { $0.short == short }) else {
                    throw UsageError(message: "Unknown option '\(argument)'", spec: spec)
                }
                name = option.name
            }
            if name == "help" {
                parsed.wantsHelp = true
                continue
            }
            guard let option = spec.options.first(where: { $0.name == name }) else {
                throw UsageError(message: "Unknown option '--\(name)'", spec: spec)
            }
            if option.value != nil {
                if let inlineValue {
                    parsed.values[name] = inlineValue
                    parsed.allValues[name, default: []].append(inlineValue)
                } else if index < arguments.endIndex, !arguments[index].hasPrefix("--") {
                    parsed.values[name] = arguments[index]
                    parsed.allValues[name, default: []].append(arguments[index])
                    index += 1
                } else {
                    throw UsageError(message: "Missing value for '--\(name) <\(option.value!.lowercased())>'", spec: spec)
                }
                if parsed.values[name]?.isEmpty == true {
                    throw UsageError(message: "The value '' is invalid for '--\(name) <\(option.value!.lowercased())>': give a non-empty value", spec: spec)
                }
            } else {
                guard inlineValue == nil else { throw UsageError(message: "The flag '--\(name)' does not take a value", spec: spec) }
                parsed.flags.insert(name)
            }
        }
        if !spec.variadic && parsed.positionals.count > spec.arguments.count && !parsed.wantsHelp {
            throw UsageError(message: "Unexpected argument '\(parsed.positionals[spec.arguments.count])'", spec: spec)
        }
        return parsed
    }
}
