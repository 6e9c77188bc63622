// The self-upgrade commands: upgrade, rollback, history, status, snapshots, repair.

struct RollbackCommand: ParsableCommand, HomeCommand {
    static var configuration: CommandConfiguration {
        CommandConfiguration(
            path: ["self-upgrade", "rollback"],
            abstract: "Switch back to an earlier version, in milliseconds, with no network or compiler.",
            discussion: "Without --to, the target is the version before the current one in history. The target is checked to be the file that was hashed (its identity, or its hash where that does not match), `current` is flipped, and that checked file is exec'd to confirm itself.")
    }

    @Option(name: "to", value: "ID", help: "The version to return to: any unique prefix of its id (at least 7 hex digits).") var to: String?
    @Flag(name: "test", help: "Rehearse: verify the target from the store and report how long the rollback would take; change nothing.") var test: Bool
    @Flag(name: "restore-state", help: "Also return the configuration and state to the snapshot taken when the target version was last running (the state being replaced is snapshotted first).") var restoreState: Bool
    @Flag(CommandSpec.yes) var yes: Bool
    @Flag(CommandSpec.json) var json: Bool
    @Option(CommandSpec.home) var home: String?

    func run() throws -> Int32 { try Self.run(self) }
}

struct RepairCommand: ParsableCommand, HomeCommand {
    static var configuration: CommandConfiguration {
        CommandConfiguration(
            path: ["self-upgrade", "repair"],
            abstract: "Rebuild a damaged or missing journal from the versions on disk; delete nothing.",
            discussion: "Every stored version whose bytes still match its id is adopted into a new journal (oldest first by its metadata, the one `current` points at last); the damaged journal is kept beside it as journal.damaged-<time>. A sound journal is left as it is; a `current` that names no stored version is put back where the journal says. Then an interrupted transaction is finished, as any changing command does first (status and history only show it).")
    }

    @Flag(CommandSpec.json) var json: Bool
    @Option(CommandSpec.home) var home: String?

    func run() throws -> Int32 { try Self.run(self) }
}

struct HistoryCommand: ParsableCommand, HomeCommand {
    static var configuration: CommandConfiguration {
        CommandConfiguration(
            path: ["self-upgrade", "history"],
            abstract: "List the versions that have been current, derived from the journal.",
            discussion: "The newest 20 rows by default (every row with --json), numbered from the first; the whole journal is read, its archived segments in <home>/journal.d included.")
    }

    @Option(name: "limit", value: "N", help: "Show the newest N rows (default 20; with --json, all).") var limit: String?
    @Flag(name: "all", help: "Show every row.") var all: Bool
    @Flag(CommandSpec.json) var json: Bool
    @Option(CommandSpec.home) var home: String?

    func run() throws -> Int32 { try ReportCommands.history(self) }
}

struct SnapshotsCommand: ParsableCommand, HomeCommand {
    static var configuration: CommandConfiguration {
        CommandConfiguration(
            path: ["self-upgrade", "snapshots"],
            abstract: "List the snapshots of configuration and state that version changes took.",
            discussion: "Every transaction that changes the version first snapshots config.json, state/*.json, the channel's configuration and trusted root as they were, content-addressed in <home>/snapshots (unchanged files are stored once; an unchanged state adds nothing). The newest 5 are kept, and always the newest of the current and the previous version (older ones are removed in batches, once 10 are there). 'self-upgrade rollback --restore-state' returns to the one taken when the target was last running; 'doctor --repair' restores a damaged file from the newest good copy.")
    }

    @Flag(CommandSpec.json) var json: Bool
    @Option(CommandSpec.home) var home: String?

    func run() throws -> Int32 { try ReportCommands.snapshots(self) }
}

struct StatusCommand: ParsableCommand, HomeCommand {
    static var configuration: CommandConfiguration {
        CommandConfiguration(
            path: ["self-upgrade", "status"],
            abstract: "Show the current version, the store and any unfinished transaction.",
            discussion: "With --prometheus the same facts are written in the Prometheus text exposition format (for node_exporter's textfile collector: write to a temporary file, then rename it into the collector's directory).")
    }

    @Flag(name: "prometheus", help: "Print the facts as Prometheus metrics (autodev_*).") var prometheus: Bool
    @Flag(CommandSpec.json) var json: Bool
    @Option(CommandSpec.home) var home: String?

    func run() throws -> Int32 { try ReportCommands.status(self) }
}

struct UpgradeCommand: ParsableCommand, HomeCommand {
    static var configuration: CommandConfiguration {
        CommandConfiguration(
            path: ["self-upgrade"],
            abstract: "Replace the running program with a verified new version, or roll back.",
            discussion: "The transaction: preflight → [build → test] → stage → verify (sandboxed) → swap → restart (exec, same PID) → confirm. Without --from-binary the candidate is built from source: swift build -c release and swift test run side by side with warm caches in the home, their output in <home>/logs/<tx>/. Every step is journaled; Ctrl-C before the swap undoes everything; an interruption at any point leaves exactly the old or the new version.",
            subcommands: [RollbackCommand.self, HistoryCommand.self, StatusCommand.self, SnapshotsCommand.self, RepairCommand.self])
    }

    @Option(name: "from-binary", value: "PATH", help: "The candidate: a prebuilt autodev binary.") var fromBinary: String?
    @Option(name: "source", value: "DIR", help: "Build the candidate from this package (default: the home's working copy, else the package around the current directory).") var source: String?
    @Option(name: "test-filter", value: "REGEX", help: "The tests the source upgrade runs (default: all but EndToEndTests).") var testFilter: String?
    @Flag(name: "confined", help: "Build and test the source confined, as the agent builds a proposal, in caches of their own (<home>/build-confined): for source you have not reviewed (docs/agent.md).") var confined: Bool
    @Flag(name: "build-network", help: "With --confined: let swift build and swift test reach the network (dependencies to fetch).") var buildNetwork: Bool
    @Flag(name: "dry-run", help: "Stage and verify the candidate, print the plan and each step's result, and change nothing.") var dryRun: Bool
    @Flag(name: "verify-state", help: "Make the candidate read and migrate a copy of the current state and prove the round trip.") var verifyState: Bool
    @Option(name: "timeout", value: "SECONDS", help: "Wall-clock limit of the verification run (default from config.json: 30).") var timeout: String?
    @Flag(CommandSpec.yes) var yes: Bool
    @Flag(CommandSpec.json) var json: Bool
    @Option(CommandSpec.home) var home: String?

    func run() throws -> Int32 { try Self.run(self) }
}
