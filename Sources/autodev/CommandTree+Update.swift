// Following a release channel (update), and the TUF client of the conformance protocol (tuf).

struct UpdateConfigureCommand: ParsableCommand {
    static var configuration: CommandConfiguration {
        CommandConfiguration(
            path: ["update", "configure"],
            abstract: "Follow a release channel: its URL and the root metadata to trust.",
            discussion: "Stores <home>/channel/config.json and copies the trusted root into <home>/channel/metadata/, replacing any earlier channel and its metadata.")
    }

    @Option(name: "channel", value: "URL", help: "The release repository's URL (http, https or file); metadata/ and targets/ are under it.") var channel: String?
    @Option(name: "trusted-root", value: "FILE", help: "The root metadata to trust (the repository's 1.root.json, obtained out of band).") var trustedRoot: String?
    @Option(CommandSpec.home) var home: String?

    func run() throws -> Int32 { try ChannelCommands.configure(self) }
}

struct UpdateCheckCommand: ParsableCommand, HomeCommand {
    static var configuration: CommandConfiguration {
        CommandConfiguration(
            path: ["update", "check"],
            abstract: "Refresh the channel's signed metadata and say whether a newer release applies.",
            discussion: "A release applies when it is for this platform, newer than the running version (semantic versioning), the running version is at least its minimum version, and this installation's rollout bucket (0-99, from the hash of <home>/channel/installation-id) is below its rollout percentage. Pre-releases are offered only to pre-release installations. Exit 0 when up to date or a release applies; 1 when the channel cannot be read or does not verify (the trusted metadata is then unchanged).")
    }

    @Option(name: "current-version", value: "V", help: "Check as if this version were running (default: this program's version).") var currentVersion: String?
    @Option(CommandTree.stallTimeout) var stallTimeout: String?
    @Option(CommandTree.totalTimeout) var timeout: String?
    @Flag(CommandSpec.json) var json: Bool
    @Option(CommandSpec.home) var home: String?

    func run() throws -> Int32 { try ChannelCommands.check(UpdateRequest(self)) }
}

struct UpdateApplyCommand: ParsableCommand, HomeCommand {
    static var configuration: CommandConfiguration {
        CommandConfiguration(
            path: ["update", "apply"],
            abstract: "Download the release 'check' would offer, verified, and upgrade to it.",
            discussion: "Refreshes the channel, downloads the artifact into <home>/channel/staging (an interrupted download resumes from its .partial file), checks its length, SHA-256 and SHA-512 against the signed metadata, then runs the self-upgrade transaction with it (stage, verify, swap, restart, confirm). A version older than the highest one this installation ever accepted is refused. Nothing is downloaded when a package manager owns the binary (use its upgrade command), the home is read-only or not writable, has less free space than twice the download, or the staging directory is on another file system. Progress: one line on a terminal, one JSON event a second with --json, nothing on a pipe.")
    }

    @Option(name: "version", value: "V", help: "Install this version (for this platform) instead of the newest; its rollout percentage does not apply.") var version: String?
    @Flag(name: "allow-downgrade", help: "Accept a version older than the highest one accepted before.") var allowDowngrade: Bool
    @Flag(name: "download-only", help: "Download and verify into the staging directory, print the verified file's path, and stop: the running version is left as it is (no confirmation asked). A later 'apply' reuses the file.") var downloadOnly: Bool
    @Option(CommandTree.stallTimeout) var stallTimeout: String?
    @Option(CommandTree.totalTimeout) var timeout: String?
    @Flag(CommandSpec.yes) var yes: Bool
    @Flag(CommandSpec.json) var json: Bool
    @Option(CommandSpec.home) var home: String?

    func run() throws -> Int32 { try ChannelCommands.apply(UpdateRequest(self)) }
}

struct UpdateCommand: ParsableCommand, HomeCommand {
    static var configuration: CommandConfiguration {
        CommandConfiguration(
            path: ["update"],
            abstract: "Check a TUF release channel for newer versions of autodev, and install them.",
            discussion: "Alone, on a terminal: shows the newest release that applies (version, when it was released, download size, release notes) and asks: [Y]es installs it now (download progress in place; Esc or Ctrl-C cancels and keeps what arrived), [l]ater leaves it for next time, [s]kip this version does not offer it again until a newer one is published (remembered in config.json as skippedVersions; a critical release cannot be skipped). After the restart the new version says \"Updated from …\" once. On a pipe or with --json it says what 'update check' says and asks nothing.",
            words: .subcommandOrOptions,
            subcommands: [UpdateConfigureCommand.self, UpdateCheckCommand.self, UpdateApplyCommand.self])
    }

    @Option(CommandTree.stallTimeout) var stallTimeout: String?
    @Option(CommandTree.totalTimeout) var timeout: String?
    @Flag(CommandSpec.json) var json: Bool
    @Option(CommandSpec.home) var home: String?

    func run() throws -> Int32 { try ChannelCommands.update(self) }
}

struct TUFInitCommand: ParsableCommand {
    static var configuration: CommandConfiguration {
        CommandConfiguration(
            path: ["tuf", "init"],
            abstract: "Make a root.json file the trusted root (no checks, no network).")
    }

    @Argument("root", help: "The initial trusted root.json.") var root: String?
    @Option(CommandTree.tufMetadataDir) var metadataDir: String?

    func run() throws -> Int32 { try TUFCommand.initialize(self) }
}

struct TUFRefreshCommand: ParsableCommand {
    static var configuration: CommandConfiguration {
        CommandConfiguration(
            path: ["tuf", "refresh"],
            abstract: "Update root, timestamp, snapshot and targets from the repository.")
    }

    @Option(CommandTree.tufMetadataDir) var metadataDir: String?
    @Option(CommandTree.tufMetadataURL) var metadataURL: String?

    func run() throws -> Int32 { try TUFCommand.refresh(self) }
}

struct TUFDownloadCommand: ParsableCommand {
    static var configuration: CommandConfiguration {
        CommandConfiguration(
            path: ["tuf", "download"],
            abstract: "Refresh, then download verified targets (a cached file that matches is kept).")
    }

    @Option(CommandTree.tufMetadataDir) var metadataDir: String?
    @Option(CommandTree.tufMetadataURL) var metadataURL: String?
    @RepeatedOption(name: "target-name", value: "PATH", help: "A target path; repeat for several, processed in order (the first failure stops).") var targetName: [String]
    @Option(name: "target-base-url", value: "URL", help: "The repository's target base URL.") var targetBaseURL: String?
    @Option(name: "target-dir", value: "DIR", help: "Where downloaded targets are stored, one file per target path.") var targetDir: String?

    func run() throws -> Int32 { try TUFCommand.download(self) }
}

struct TUFCommand: Command {
    static var configuration: CommandConfiguration {
        CommandConfiguration(
            path: ["tuf"],
            abstract: "A TUF client (The Update Framework 1.0): trusted metadata, verified downloads.",
            discussion: "The tuf-conformance client protocol: options may come before or after the command word. Exit 0 on success, 1 on any failure, 64 for a malformed command line.",
            words: .parsedByCommand,
            subcommands: [TUFInitCommand.self, TUFRefreshCommand.self, TUFDownloadCommand.self])
    }

    @Arguments("command", help: "init <root>, refresh or download.") var words: [String]
    @Option(CommandTree.tufMetadataDir) var metadataDir: String?
    @Option(CommandTree.tufMetadataURL) var metadataURL: String?
    @RepeatedOption(name: "target-name", value: "PATH", help: "A target path; repeat for several, processed in order (the first failure stops).") var targetName: [String]
    @Option(name: "target-base-url", value: "URL", help: "The repository's target base URL.") var targetBaseURL: String?
    @Option(name: "target-dir", value: "DIR", help: "Where downloaded targets are stored, one file per target path.") var targetDir: String?
}
