import Platform
import TUF

/// `autodev tuf`: the tuf-conformance client protocol.
///
///     autodev tuf --metadata-dir D init ROOT
///     autodev tuf --metadata-dir D --metadata-url U refresh
///     autodev tuf --metadata-dir D --metadata-url U --target-name T ... --target-base-url TU --target-dir TD download
///
/// Options and the command word may come in any order. Failures exit 1 with `Error: …` on stderr.
enum TUFCommand {
    static func dispatch(_ arguments: ArraySlice<String>) throws -> Int32 {
        let parsed = try ParsedArguments.parse(arguments, spec: CommandTree.tuf)
        let spec: CommandSpec
        switch parsed.positionals.first {
        case "init": spec = CommandTree.tufInit
        case "refresh": spec = CommandTree.tufRefresh
        case "download": spec = CommandTree.tufDownload
        case nil:
            Output.out(CommandTree.tuf.helpText())
            return ExitCode.success
        case let other?:
            throw UsageError(message: "Unknown command 'tuf \(other)'", spec: CommandTree.tuf)
        }
        if parsed.wantsHelp {
            Output.out(spec.helpText())
            return ExitCode.success
        }
        for name in parsed.allValues.keys where !spec.options.contains(where: { $0.name == name }) {
            throw UsageError(message: "Unknown option '--\(name)'", spec: spec)
        }
        let operands = Array(parsed.positionals.dropFirst())
        guard operands.count == spec.arguments.count else {
            throw UsageError(message: operands.count < spec.arguments.count ? "Missing argument '<\(spec.arguments[operands.count].name)>'"
                                                                             : "Unexpected argument '\(operands[spec.arguments.count])'", spec: spec)
        }
        func required(_ name: String) throws -> String {
            guard let value = parsed.value(name) else { throw UsageError(message: "Missing option '--\(name)'", spec: spec) }
            return value
        }
        let metadataDirectory = try required("metadata-dir")
        switch spec.path.last {
        case "init":
            let rootBytes: [UInt8]
            do {
                rootBytes = try FileSystem.readInputFile(operands[0], maxBytes: InputLimit.trustedRoot, what: "a trusted root")
            } catch {
                // The error names the action and the path already: not wrapped in a second "Failed to read".
                throw TUFError(.storage, "\(error)")
            }
            try Updater.initialize(metadataDirectory: metadataDirectory, trustedRoot: rootBytes)
            Output.err("tuf: trusted root stored in \(metadataDirectory)")
        case "refresh":
            var updater = Updater(metadataDirectory: metadataDirectory, metadataURL: try required("metadata-url"))
            try updater.refresh()
            Output.err("tuf: metadata in \(metadataDirectory) is up to date")
        default:
            let names = parsed.values("target-name")
            guard !names.isEmpty else { throw UsageError(message: "Missing option '--target-name'", spec: spec) }
            let targetDirectory = try required("target-dir")
            var updater = Updater(metadataDirectory: metadataDirectory, metadataURL: try required("metadata-url"),
                                  targetBaseURL: try required("target-base-url"))
            for name in names {
                let info = try updater.targetInfo(name)
                let path = try updater.download(info, to: targetDirectory)
                Output.err("tuf: \(name) verified (\(info.length) bytes) at \(path)")
            }
        }
        return ExitCode.success
    }
}
