import SelfUpgrade

/// The command tree: every command's declaration (its name, help, options and arguments as
/// typed properties, its subcommands) and the call its `run` makes. Parsing, dispatch and help
/// all come from these declarations (see ``ParsableCommand``); the families of commands are in the
/// `CommandTree+<family>.swift` files beside this one.
enum CommandTree {
    static let releaseRepo = CommandSpec.Option(name: "repo", value: "DIR", help: "The release repository: metadata/ and targets/ are what a static HTTP server serves.")
    static let stallTimeout = CommandSpec.Option(name: "stall-timeout", value: "SECONDS", help: "Give up on a server that sends nothing for this long (default 30); a download keeps what arrived.")
    static let totalTimeout = CommandSpec.Option(name: "timeout", value: "SECONDS", help: "Give up on each fetch still going after this long, however steadily bytes arrive (default: 120 plus 1 per 64 KiB of its size); a download keeps what arrived.")
    static let tufMetadataDir = CommandSpec.Option(name: "metadata-dir", value: "DIR", help: "Where trusted metadata is kept (root.json, timestamp.json, <role>.json).")
    static let tufMetadataURL = CommandSpec.Option(name: "metadata-url", value: "URL", help: "The repository's metadata base URL.")
    static let superviseHome = CommandSpec.Option(name: "home", value: "DIR", help: "The supervised program's home: its versions, journal and control socket (supervise.sock).")
    static let moduleNameHelp = "The module: counter or example-handler."
    static let configKeyHelp = "A setting: " + ConfigurationFile.keys.map(\.name).joined(separator: ", ") + "."
}

struct InitCommand: ParsableCommand, HomeCommand {
    static var configuration: CommandConfiguration {
        CommandConfiguration(
            path: ["init"],
            abstract: "Create the home and adopt the running executable as its first version.",
            discussion: "Prints the directory to put on PATH; the 'autodev' there always runs the current version.")
    }

    @Option(CommandSpec.home) var home: String?
    @Option(name: "keep", value: "N", help: "How many versions the store keeps (default 5, at least 2).") var keep: String?
    @Option(name: "source", value: "DIR", help: "Clone this git repository into <home>/source as the working copy that source upgrades and the agent build.") var source: String?
    @Flag(CommandSpec.json) var json: Bool

    func run() throws -> Int32 { try Self.run(self) }
}

struct SelfCheckCommand: ParsableCommand {
    static var configuration: CommandConfiguration {
        CommandConfiguration(
            path: ["self-check"],
            abstract: "Verification mode: report version and protocol, run smoke checks.",
            discussion: "Run by the verifier on a staged candidate, inside the sandbox. Exits 0 only when every check passed.")
    }

    @Option(name: "state-copy", value: "DIR", help: "A copy of the state to read, migrate and round-trip.") var stateCopy: String?
    @Flag(CommandSpec.json) var json: Bool

    func run() throws -> Int32 { try Self.run(self) }
}

struct DigestCommand: ParsableCommand {
    static var configuration: CommandConfiguration {
        CommandConfiguration(
            path: ["digest"],
            abstract: "Print SHA-256 digests in sha256sum's format.")
    }

    @Arguments("file", help: "Files to hash.") var files: [String]

    func run() throws -> Int32 { try Self.run(self) }
}

struct DoctorCommand: ParsableCommand, HomeCommand {
    static var configuration: CommandConfiguration {
        CommandConfiguration(
            path: ["doctor"],
            abstract: "Check everything the home holds; with --repair, restore what is damaged from trusted sources.",
            discussion: "Checks every stored version against its hash, current and bin/autodev, the journal and its checkpoint, the state files, config.json, the release channel's configuration and trusted metadata (verified against the trusted root), the module store, the modes and owners of the home's files, and the free space; one line per finding says what it means and what --repair would do. Without --repair nothing is changed. --repair restores from, in this order: another copy the home holds with the same hash, the release channel (the version downloaded again by its exact hash through TUF), the last good snapshot of state and configuration, the journal rebuild; what it replaces is kept in <home>/doctor/aside/<time>/. Exit 0 when healthy (with --repair: when everything found was repaired), 1 otherwise.")
    }

    @Flag(name: "repair", help: "Repair what is found, keeping what is replaced aside.") var repair: Bool
    @Flag(name: "quiet", help: "Print nothing when the home is healthy, only findings (for a timer); what it finds is kept in <home>/doctor/integrity for 'self-upgrade status', the one file it writes.") var quiet: Bool
    @Option(name: "rate", value: "BYTES", help: "Hash stored versions at most this many bytes a second (default: unlimited).") var rate: String?
    @Flag(name: "offline", help: "Do not use the release channel to repair.") var offline: Bool
    @Flag(CommandSpec.json) var json: Bool
    @Option(CommandSpec.home) var home: String?

    func run() throws -> Int32 { try Self.run(self) }
}

struct DashboardCommand: ParsableCommand, HomeCommand {
    static var configuration: CommandConfiguration {
        CommandConfiguration(
            path: ["dashboard"],
            abstract: "A live full-screen view of the installation, with keys to upgrade, roll back and check.",
            discussion: "Shows the current and previous version and since when the current one is current (the journal's time of the transaction that made it current), the release channel (its URL, the last check, an available update, a download in progress), the kept versions, the last transactions, and the home's modules and supervised program when it has any; refreshed every second and at once on a key or a resize. Keys: u upgrade ('update apply'), r roll back (asks y/n first), c check now ('update check'), h history (scroll with the arrows, j/k, space/b; any other key returns), q quit. Each action runs as a child process without a terminal, its progress shown in the view; after an upgrade or a rollback the dashboard continues in the home's new current version (it execs it with the same arguments). SIGINT and SIGTERM restore the terminal and exit 130 and 143. Standard input and output must be a terminal.")
    }

    @Option(CommandSpec.home) var home: String?
    var json: Bool { false }

    func run() throws -> Int32 { try Self.run(self) }
}

struct AutodevCommand: ParsableCommand {
    static var configuration: CommandConfiguration {
        CommandConfiguration(
            path: [],
            abstract: "A program that upgrades itself safely: verified, journaled, atomic, reversible.",
            words: .subcommandOnly,
            subcommands: [InitCommand.self, UpgradeCommand.self, DoctorCommand.self, DashboardCommand.self, UpdateCommand.self, ConfigCommand.self, SuperviseCommand.self, AgentCommand.self, ModulesCommand.self, SelfCheckCommand.self, DigestCommand.self, ReleaseCommand.self, TUFCommand.self])
    }

    @Flag(name: "version", help: "Show the version.") var version: Bool

    func run() throws -> Int32 {
        Output.out(Self.spec.helpText())
        return ExitCode.success
    }
}
