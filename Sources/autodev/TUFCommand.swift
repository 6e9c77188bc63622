import Platform
import TUF

/// `autodev tuf`: the tuf-conformance client protocol.
///
///     autodev tuf --metadata-dir D init ROOT
///     autodev tuf --metadata-dir D --metadata-url U refresh
///     autodev tuf --metadata-dir D --metadata-url U --target-name T ... --target-base-url TU --target-dir TD download
///
/// Options and the command word may come in any order. Failures exit 1 with `Error: …` on stderr.
extension TUFCommand {
    /// Options may come before the command word: the whole line is parsed against every option
    /// of `tuf` (errors name `tuf`), the first word that is not an option or an option's value is
    /// the command, --help anywhere prints that command's help, and an option the command does
    /// not take is refused naming it; then the rest is that command's.
    static func main(_ words: ArraySlice<String>) throws -> Int32 {
        let parsed = try ParsedArguments.parse(words, spec: spec)
        guard let word = parsed.positionals.first, let index = parsed.positionalIndices.first else {
            Output.out(spec.helpText())
            return ExitCode.success
        }
        guard let command = CLI.subcommand(of: TUFCommand.self, named: word) else {
            throw UsageError(message: "Unknown command 'tuf \(word)'", spec: spec)
        }
        let commandSpec = command.spec
        if parsed.wantsHelp {
            Output.out(commandSpec.helpText())
            return ExitCode.success
        }
        for name in parsed.allValues.keys.sorted() where !commandSpec.options.contains(where: { $0.name == name }) {
            throw UsageError(message: "Unknown option '--\(name)'", spec: commandSpec)
        }
        return try command.main(words[..<index] + words[(index + 1)...])
    }

    static func initialize(_ arguments: TUFInitCommand) throws -> Int32 {
        let spec = TUFInitCommand.spec
        guard let rootPath = arguments.root else { throw UsageError(message: "Missing argument '<root>'", spec: spec) }
        let metadataDirectory = try ChannelCommands.required(arguments.$metadataDir, spec)
        let rootBytes: [UInt8]
        do {
            rootBytes = try FileSystem.readInputFile(rootPath, maxBytes: InputLimit.trustedRoot, what: "a trusted root")
        } catch {
            // The error names the action and the path already: not wrapped in a second "Failed to read".
            throw TUFError(.storage, "\(error)")
        }
        try Updater.initialize(metadataDirectory: metadataDirectory, trustedRoot: rootBytes)
        Output.err("tuf: trusted root stored in \(Output.escaped(metadataDirectory, keepingNewlines: false))")
        return ExitCode.success
    }

    static func refresh(_ arguments: TUFRefreshCommand) throws -> Int32 {
        let spec = TUFRefreshCommand.spec
        let metadataDirectory = try ChannelCommands.required(arguments.$metadataDir, spec)
        var updater = Updater(metadataDirectory: metadataDirectory, metadataURL: try ChannelCommands.required(arguments.$metadataURL, spec))
        try updater.refresh()
        Output.err("tuf: metadata in \(Output.escaped(metadataDirectory, keepingNewlines: false)) is up to date")
        return ExitCode.success
    }

    static func download(_ arguments: TUFDownloadCommand) throws -> Int32 {
        let spec = TUFDownloadCommand.spec
        let metadataDirectory = try ChannelCommands.required(arguments.$metadataDir, spec)
        guard !arguments.targetName.isEmpty else { throw UsageError(message: "Missing option '--target-name'", spec: spec) }
        let targetDirectory = try ChannelCommands.required(arguments.$targetDir, spec)
        var updater = Updater(metadataDirectory: metadataDirectory, metadataURL: try ChannelCommands.required(arguments.$metadataURL, spec),
                              targetBaseURL: try ChannelCommands.required(arguments.$targetBaseURL, spec))
        for name in arguments.targetName {
            let info = try updater.targetInfo(name)
            let path = try updater.download(info, to: targetDirectory)
            Output.err("tuf: \(Output.escaped(name, keepingNewlines: false)) verified (\(info.length) bytes) at \(Output.escaped(path, keepingNewlines: false))")
        }
        return ExitCode.success
    }
}
