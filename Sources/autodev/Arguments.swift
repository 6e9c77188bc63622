/// A command of the command line: one typed declaration drives its parsing, its help and its
/// dispatch. The options and arguments are its properties (`@Option`, `@Flag`, `@Argument`,
/// `@Arguments`), declared in the order the help lists them; `configuration` names it, says
/// what it does and lists its subcommands.
protocol Command {
    static var configuration: CommandConfiguration { get }
    init()
    /// Parses the words after the command's name and runs it (a command with a protocol of its
    /// own, such as `supervise … -- PROGRAM`, parses them itself).
    static func main(_ words: ArraySlice<String>) throws -> Int32
}

/// A command whose words are parsed into its declared properties, then run.
protocol ParsableCommand: Command {
    /// Runs the command with its parsed properties; returns the exit status.
    func run() throws -> Int32
}

/// What a command is called, what its help says, and what comes below it.
struct CommandConfiguration {
    /// What may follow the command's name on the command line.
    enum Words {
        /// Options and arguments of the command itself (a non-option word that names no subcommand is an argument).
        case ownArguments
        /// A subcommand, or options of the command itself (a word that names no subcommand is an unknown command).
        case subcommandOrOptions
        /// A subcommand only: alone or with --help first, the command prints its help.
        case subcommandOnly
        /// Everything, subcommand words included: the command's ``Command/main(_:)`` reads them
        /// (`tuf`, whose options may come before the command word).
        case parsedByCommand
    }

    var path: [String]
    var abstract: String
    var discussion: String? = nil
    var words = Words.ownArguments
    var subcommands: [any Command.Type] = []
    /// Dispatched but not listed in the help (a measurement scripts/bench runs).
    var hiddenSubcommands: [any Command.Type] = []
}

extension Command {
    /// The command's specification (for parsing, help and usage errors), from its declaration.
    static var spec: CommandSpec { Declarations.collect { _ = Self() }.spec(of: Self.self) }

    /// Parses the words after the command's name into a command whose properties hold them.
    /// - Returns: nil when --help was asked for (the help has been printed).
    static func parse(_ words: ArraySlice<String>) throws(UsageError) -> Self? {
        var command: Self?
        let declarations = Declarations.collect { command = Self() }
        let spec = declarations.spec(of: Self.self)
        let parsed = try ParsedArguments.parse(words, spec: spec)
        if parsed.wantsHelp {
            Output.out(spec.helpText())
            return nil
        }
        declarations.assign(parsed)
        return command
    }
}

extension ParsableCommand {
    /// Parses and runs; --help prints the help.
    static func main(_ words: ArraySlice<String>) throws -> Int32 {
        guard let command = try parse(words) else { return ExitCode.success }
        return try command.run()
    }
}

/// The slots of the options and arguments a command's properties declare, in declaration order.
struct Declarations {
    fileprivate var slots: [ArgumentSlot] = []

    /// The slots declared while `body` runs (it creates one command).
    /// The command line is parsed on the main thread, before anything else starts: nothing
    /// else declares at the same time.
    static func collect(_ body: () -> Void) -> Declarations {
        let outer = ArgumentSlot.collecting
        ArgumentSlot.collecting = []
        body()
        let slots = ArgumentSlot.collecting ?? []
        ArgumentSlot.collecting = outer
        return Declarations(slots: slots)
    }

    func spec(of command: any Command.Type) -> CommandSpec {
        let configuration = command.configuration
        var spec = CommandSpec(path: configuration.path, abstract: configuration.abstract, discussion: configuration.discussion)
        for slot in slots {
            switch slot.kind {
            case .option(let option), .flag(let option), .repeated(let option): spec.options.append(option)
            case .argument(let name, let help): spec.arguments.append((name, help))
            case .arguments(let name, let help):
                spec.arguments.append((name, help))
                spec.variadic = true
            }
        }
        spec.subcommands = configuration.subcommands.map { $0.spec }
        return spec
    }

    /// Hands the parsed values to the slots: options by name, positionals in order.
    func assign(_ parsed: ParsedArguments) {
        var positionals = parsed.positionals[...]
        for slot in slots {
            switch slot.kind {
            case .option(let option), .repeated(let option): slot.values = parsed.allValues[option.name] ?? []
            case .flag(let option): slot.values = parsed.flags.contains(option.name) ? [""] : []
            case .argument:
                if let first = positionals.first {
                    slot.values = [first]
                    positionals = positionals.dropFirst()
                }
            case .arguments:
                slot.values = Array(positionals)
                positionals = []
            }
        }
    }
}

/// One declared option or argument and what the command line gave it.
final class ArgumentSlot {
    enum Kind {
        case option(CommandSpec.Option)
        case repeated(CommandSpec.Option)
        case flag(CommandSpec.Option)
        case argument(name: String, help: String)
        case arguments(name: String, help: String)
    }

    nonisolated(unsafe) fileprivate static var collecting: [ArgumentSlot]?

    let kind: Kind
    fileprivate(set) var values: [String] = []

    init(_ kind: Kind) {
        self.kind = kind
        Self.collecting?.append(self)
    }

    /// The option's declaration, for messages about its value.
    var option: CommandSpec.Option {
        switch kind {
        case .option(let option), .repeated(let option), .flag(let option): return option
        case .argument(let name, _), .arguments(let name, _): return CommandSpec.Option(name: name, help: "")
        }
    }
}

/// An option's value as given, with its declaration (`$name` of an `@Option`): for messages
/// that quote the option ("The value 'x' is invalid for '--keep <n>'").
struct GivenValue {
    var option: CommandSpec.Option
    var text: String?

    /// `--name <value>`, as usage errors quote it.
    var label: String { "--\(option.name)" + (option.value.map { " <\($0.lowercased())>" } ?? "") }
}

/// An option that takes a value; the last one given counts.
@propertyWrapper struct Option {
    private let slot: ArgumentSlot
    init(_ option: CommandSpec.Option) { slot = ArgumentSlot(.option(option)) }
    init(name: String, value: String, help: String) { self.init(CommandSpec.Option(name: name, value: value, help: help)) }
    var wrappedValue: String? { slot.values.last }
    var projectedValue: GivenValue { GivenValue(option: slot.option, text: slot.values.last) }
}

/// An option that may be given several times; every value, in order.
@propertyWrapper struct RepeatedOption {
    private let slot: ArgumentSlot
    init(name: String, value: String, help: String) { slot = ArgumentSlot(.repeated(CommandSpec.Option(name: name, value: value, help: help))) }
    var wrappedValue: [String] { slot.values }
}

/// An option without a value.
@propertyWrapper struct Flag {
    private let slot: ArgumentSlot
    init(_ option: CommandSpec.Option) { slot = ArgumentSlot(.flag(option)) }
    init(name: String, short: String? = nil, help: String) { self.init(CommandSpec.Option(name: name, short: short, help: help)) }
    var wrappedValue: Bool { !slot.values.isEmpty }
    var projectedValue: GivenValue { GivenValue(option: slot.option, text: slot.values.isEmpty ? nil : "") }
}

/// A positional argument (nil when the command line has none for it; the command says what is missing).
@propertyWrapper struct Argument {
    private let slot: ArgumentSlot
    init(_ name: String, help: String) { slot = ArgumentSlot(.argument(name: name, help: help)) }
    var wrappedValue: String? { slot.values.first }
}

/// The positional arguments left after the ones declared before it.
@propertyWrapper struct Arguments {
    private let slot: ArgumentSlot
    init(_ name: String, help: String) { slot = ArgumentSlot(.arguments(name: name, help: help)) }
    var wrappedValue: [String] { slot.values }
}

/// A command's options and arguments, for parsing and for its help text (made from its declaration).
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
    /// Every value of each option, in order (the last one counts for an option given once).
    var allValues: [String: [String]] = [:]
    var flags: Set<String> = []
    var positionals: [String] = []
    /// Where each positional is in the parsed words.
    var positionalIndices: [Int] = []
    var wantsHelp = false

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
                parsed.positionalIndices.append(index - 1)
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
                let value: String
                if let inlineValue {
                    value = inlineValue
                } else if index < arguments.endIndex, !arguments[index].hasPrefix("--") {
                    value = arguments[index]
                    index += 1
                } else {
                    throw UsageError(message: "Missing value for '--\(name) <\(option.value!.lowercased())>'", spec: spec)
                }
                parsed.allValues[name, default: []].append(value)
                if value.isEmpty {
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
