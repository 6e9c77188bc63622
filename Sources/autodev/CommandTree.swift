import SelfUpgrade

/// The command tree: every command's declaration (its name, help, options and arguments as
/// typed properties, its subcommands) and the call its `run` makes. Parsing, dispatch and help
/// all come from these declarations (see ``ParsableCommand``).
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

struct ReleaseKeygenCommand: ParsableCommand {
    static var configuration: CommandConfiguration {
        CommandConfiguration(
            path: ["release", "keygen"],
            abstract: "Create a minisign-compatible Ed25519 key pair (secret key unencrypted, mode 0600).")
    }

    @Option(name: "public-key", value: "PATH", help: "Where to write the public key (default: autodev.pub).") var publicKey: String?
    @Option(name: "secret-key", value: "PATH", help: "Where to write the secret key (default: autodev.key).") var secretKey: String?
    @Flag(name: "force", help: "Replace existing key files.") var force: Bool
    @Flag(CommandSpec.json) var json: Bool

    func run() throws -> Int32 { try ReleaseCommands.keygen(self) }
}

struct ReleaseSignCommand: ParsableCommand {
    static var configuration: CommandConfiguration {
        CommandConfiguration(
            path: ["release", "sign"],
            abstract: "Sign a file; writes <file>.minisig, which minisign -V accepts.")
    }

    @Argument("file", help: "The file to sign.") var file: String?
    @Option(name: "secret-key", value: "PATH", help: "The secret key (default: autodev.key).") var secretKey: String?
    @Option(name: "signature", value: "PATH", help: "Where to write the signature (default: <file>.minisig).") var signature: String?
    @Option(name: "trusted-comment", value: "TEXT", help: "The signed comment (default: timestamp and file name).") var trustedComment: String?
    @Flag(name: "legacy", help: "Sign the file itself ('Ed') instead of its BLAKE2b-512 digest ('ED').") var legacy: Bool
    @Flag(CommandSpec.json) var json: Bool

    func run() throws -> Int32 { try ReleaseCommands.sign(self) }
}

struct ReleaseVerifyCommand: ParsableCommand {
    static var configuration: CommandConfiguration {
        CommandConfiguration(
            path: ["release", "verify"],
            abstract: "Verify a file's minisign signature and its trusted comment.")
    }

    @Argument("file", help: "The signed file.") var file: String?
    @Option(name: "public-key", value: "PATH", help: "The public key (default: autodev.pub).") var publicKey: String?
    @Option(name: "signature", value: "PATH", help: "The signature (default: <file>.minisig).") var signature: String?
    @Flag(CommandSpec.json) var json: Bool

    func run() throws -> Int32 { try ReleaseCommands.verify(self) }
}

struct ReleaseDiffCommand: ParsableCommand {
    static var configuration: CommandConfiguration {
        CommandConfiguration(
            path: ["release", "diff"],
            abstract: "Make a patch that turns one binary into another (autodev's delta format).",
            discussion: "The patch names both files' sizes and SHA-256 (docs/delta-format.md); 'release add' makes the channel's patches itself, this is for inspection and benchmarks.")
    }

    @Argument("base", help: "The file the patch applies to.") var base: String?
    @Argument("result", help: "The file the patch makes.") var result: String?
    @Option(name: "output", value: "PATH", help: "Where to write the patch (default: <result>.patch).") var output: String?
    @Flag(CommandSpec.json) var json: Bool

    func run() throws -> Int32 { try DeltaCommands.diff(self) }
}

struct ReleasePatchCommand: ParsableCommand {
    static var configuration: CommandConfiguration {
        CommandConfiguration(
            path: ["release", "patch"],
            abstract: "Apply a patch made by 'release diff' and check the result's SHA-256.",
            discussion: "The patch is refused unless the base's size and SHA-256 are those it names; the result is written atomically only after its SHA-256 matched.")
    }

    @Argument("base", help: "The file the patch applies to.") var base: String?
    @Argument("patch", help: "The patch.") var patch: String?
    @Option(name: "output", value: "PATH", help: "Where to write the result.") var output: String?
    @Flag(CommandSpec.json) var json: Bool

    func run() throws -> Int32 { try DeltaCommands.patch(self) }
}

struct ReleaseSpeedCommand: ParsableCommand {
    static var configuration: CommandConfiguration {
        CommandConfiguration(
            path: ["release", "speed"],
            abstract: "Measure signatures and verifications per second.",
            discussion: "Rates are per second of CPU time, as openssl speed counts them. Ed25519 measures signing and verification; ecdsa-p256 and rsa-pss-3072 measure verification (SHA-256; PSS with MGF1-SHA-256) of a built-in key and signature, or of the files given.")
    }

    @Option(name: "scheme", value: "SCHEME", help: "ed25519, ecdsa-p256 or rsa-pss-3072 (default: ed25519).") var scheme: String?
    @Option(name: "public-key", value: "PATH", help: "A PEM PUBLIC KEY to verify with (ecdsa-p256, rsa-pss-3072).") var publicKey: String?
    @Option(name: "signature", value: "PATH", help: "The signature: DER for ECDSA, raw bytes for PSS.") var signature: String?
    @Option(name: "message", value: "PATH", help: "The signed file.") var message: String?
    @Option(name: "seconds", value: "SECONDS", help: "CPU seconds to measure each (default: 2).") var seconds: String?
    @Flag(CommandSpec.json) var json: Bool

    func run() throws -> Int32 { try ReleaseCommands.speed(self) }
}

struct AgentStatusCommand: ParsableCommand, HomeCommand {
    static var configuration: CommandConfiguration {
        CommandConfiguration(
            path: ["agent", "status"],
            abstract: "Show the agent's memory: processed proposals, outcomes, the one in flight.")
    }

    @Flag(CommandSpec.json) var json: Bool
    @Option(CommandSpec.home) var home: String?

    func run() throws -> Int32 { try AgentCommand.status(self) }
}

struct AgentArchiveCommand: ParsableCommand, HomeCommand {
    static var configuration: CommandConfiguration {
        CommandConfiguration(
            path: ["agent", "archive"],
            abstract: "Show the agent's versions as a tree: each proposal under the version it was made on, with its outcome and scores.",
            discussion: "#0 is the version the agent first worked from; each proposal is numbered in the order it was taken and hangs under the version it was made on. Accepted proposals are versions 'agent --from N' can continue from. Every proposal's commit is kept as refs/autodev/archive/<N> in the working copy until --prune drops it.")
    }

    @Flag(name: "prune", help: "Drop the commits of every proposal but the lineages (each version and its ancestors) of the head, of the best version, of a version on probation and of every version the installation still stores; their records stay in the tree, marked pruned, and git deletes what nothing reaches any more. Refused while an agent run is working.") var prune: Bool
    @Flag(CommandSpec.json) var json: Bool
    @Option(CommandSpec.home) var home: String?

    func run() throws -> Int32 { try AgentArchive.show(self) }
}

struct AgentCommand: ParsableCommand, HomeCommand {
    static var configuration: CommandConfiguration {
        CommandConfiguration(
            path: ["agent"],
            abstract: "Turn proposed changes to autodev's own source into the running version, one at a time.",
            discussion: "Each proposal is committed in the working copy and goes through the whole source upgrade (build, test, verify, swap, exec). One that passes becomes the running version in the same process, and the loop goes on there with its memory; one that fails is reverted and set aside in rejected/ with its reason. With --fitness, a verified candidate is also measured against the version it was made on, in the verification sandbox, and accepted only if no score is worse beyond the margin (docs/agent.md).",
            subcommands: [AgentStatusCommand.self, AgentArchiveCommand.self])
    }

    @Option(name: "patches", value: "DIR", help: "Take unified diffs (*.patch, *.diff) from DIR in name order; processed ones move to DIR/applied or DIR/rejected.") var patches: String?
    @Option(name: "proposer", value: "CMD", help: "Run CMD with the working copy's path; what it changes there is the next proposal (none: the loop ends).") var proposer: String?
    @Flag(name: "once", help: "Process one proposal.") var once: Bool
    @Option(name: "max-iterations", value: "N", help: "Process at most N proposals.") var maxIterations: String?
    @Option(name: "source", value: "DIR", help: "The working copy (default: <home>/source).") var source: String?
    @Option(name: "test-filter", value: "REGEX", help: "The tests each proposal must pass (default: all but EndToEndTests).") var testFilter: String?
    @Option(name: "updates", value: "POLICY", help: "When the home follows a release channel, between proposals: manual (report a new release), critical (install critical releases) or all (install every newer release); default: updatePolicy in config.json, else manual. An install waits until no proposal has finished for autoUpgradeOnIdleMinutes.") var updates: String?
    @Option(name: "update-interval", value: "SECONDS", help: "Time between background update checks, jittered by 10 % (default: updateCheckIntervalSeconds in config.json, else 1800; 0 checks before every proposal).") var updateInterval: String?
    @Option(name: "integrity-rate", value: "BYTES", help: "Between proposals, re-hash the stored versions at most this many bytes a second and report a damaged one (default 1048576; 0: never).") var integrityRate: String?
    @Option(name: "fitness", value: "PATH", help: "An executable outside the working copy that measures the binary named by AUTODEV_CANDIDATE and prints {\"scores\": {...}, \"better\": {...}}; it runs confined, on the candidate and on its parent, alternating (default: fitnessCommand in config.json; the other fitness and probation settings there too).") var fitness: String?
    @Option(name: "fitness-data", value: "DIR", help: "A directory the fitness command reads (AUTODEV_FITNESS_DATA), pinned with it.") var fitnessData: String?
    @Option(name: "fitness-runs", value: "N", help: "Runs per binary, 1-100 (default 3); the medians are compared.") var fitnessRuns: String?
    @Option(name: "fitness-margin", value: "PERCENT", help: "How much worse than the parent's median a score's median may be, 0-100 (default 2).") var fitnessMargin: String?
    @Option(name: "fitness-timeout", value: "SECONDS", help: "Wall-clock limit of each fitness run, 1-86400 (default 600).") var fitnessTimeout: String?
    @Flag(name: "repin", help: "Accept the fitness command and data as they are now (they are pinned by hash at the first run with --fitness; a change is refused until this is passed).") var repin: Bool
    @Option(name: "task", value: "FILE", help: "A task for the proposer (UTF-8, up to 64 KiB), handed to it in AUTODEV_PROPOSER_INPUT.") var task: String?
    @RepeatedOption(name: "proposer-env", value: "NAME", help: "Pass the variable NAME to the proposer (an API key); repeatable. It gets no other variable of this environment but PATH, the locale, TERM, TZ, USER and LOGNAME.") var proposerEnv: [String]
    @Flag(name: "proposer-network", help: "Let the proposer reach the network (a coding model's API); it is confined otherwise as a candidate's verification is, the working copy its one writable directory.") var proposerNetwork: Bool
    @Flag(name: "build-network", help: "Let a proposal's swift build and swift test reach the network (a package whose dependencies must be fetched); they are confined otherwise: every mount read-only but the build caches (the working copy too), a private HOME and TMPDIR, their own loopback only, no capabilities.") var buildNetwork: Bool
    @Option(name: "build-timeout", value: "SECONDS", help: "Wall-clock limit of a proposal's swift build and of its swift test, each, 1-604800 (default 7200); at the limit the tool is killed with everything it started and the proposal rejected.") var buildTimeout: String?
    @Option(name: "proposer-timeout", value: "SECONDS", help: "Wall-clock limit of each proposer run, 1-86400 (default 3600).") var proposerTimeout: String?
    @Option(name: "budget-seconds", value: "SECONDS", help: "Take no new proposal once the run has lasted this long.") var budgetSeconds: String?
    @Option(name: "budget-cost", value: "AMOUNT", help: "Take no new proposal once the costs the proposer reported (the last line of its output: {\"cost\": N}) add up to AMOUNT.") var budgetCost: String?
    @Option(name: "probation-runs", value: "N", help: "With --fitness: an accepted version is sampled by the fitness command before each proposal and when a run ends, and must pass N samples (default 5; 0: no probation); one that fails or scores worse than its parent is rolled back to it.") var probationRuns: String?
    @Option(name: "probation-seconds", value: "SECONDS", help: "With --fitness: the least time on probation besides the samples (default 0).") var probationSeconds: String?
    @Option(name: "select", value: "RULE", help: "The version each new proposal is made on: head (the newest accepted one, default), best (the one whose lineage has the most scores judged better) or explore (sampled by score and novelty: (1 + improvements) / (1 + proposals made on it)).") var select: String?
    @Option(name: "from", value: "N", help: "Continue from version N of the archive ('autodev agent archive'): its commit is checked out and new proposals are made on it and measured against it.") var from: String?
    @Flag(CommandSpec.json) var json: Bool
    @Option(CommandSpec.home) var home: String?

    func run() throws -> Int32 { try Self.run(self) }
}

struct ReleaseInitCommand: ParsableCommand {
    static var configuration: CommandConfiguration {
        CommandConfiguration(
            path: ["release", "init"],
            abstract: "Create a release repository: Ed25519 keys and the four top-level TUF roles, signed.",
            discussion: "Writes DIR/metadata/ (1.root.json is the root users trust: give it to 'autodev update configure --trusted-root'), DIR/targets/, and the keys in DIR/keys/ (mode 0600). In real use, move the root and targets keys offline after this, and keep only the snapshot and timestamp keys where 'publish' and 'refresh' run. Serve only DIR/metadata/ and DIR/targets/ (never DIR/keys/ or DIR/pending.json).")
    }

    @Option(CommandTree.releaseRepo) var repo: String?
    @Option(name: "threshold", value: "N", help: "Keys per role, all of which must sign (default 1, at most 10).") var threshold: String?
    @Option(name: "expires", value: "DAYS", help: "Days root, targets and snapshot stay valid (default 365); timestamps last 7 days.") var expires: String?
    @Flag(CommandSpec.json) var json: Bool

    func run() throws -> Int32 { try ChannelCommands.initialize(self) }
}

struct ReleaseAddCommand: ParsableCommand {
    static var configuration: CommandConfiguration {
        CommandConfiguration(
            path: ["release", "add"],
            abstract: "Add an artifact to what the next 'publish' signs.",
            discussion: "The target path is <program>/<version>/<platform>/<file name> (the program is autodev unless --program names another), listed with its length, SHA-256 and SHA-512, and the release's facts in its 'custom' field. The file is stored as targets/<path's directories>/<sha256>.<file name>. Beside it go patches from the newest earlier releases of the same program and platform (<program>/<version>/<platform>/from-<base sha256, 12 digits>.patch, docs/delta-format.md), each a target with its own length and hashes and, in 'custom', the SHA-256 of the binary it applies to and of the artifact it rebuilds; 'update apply' downloads the one made from the running binary instead of the full file. Clients see nothing until 'release publish'.")
    }

    @Argument("file", help: "The artifact.") var file: String?
    @Option(CommandTree.releaseRepo) var repo: String?
    @Option(name: "version", value: "V", help: "The release's semantic version (e.g. 1.4.0, 2.0.0-rc.1).") var version: String?
    @Option(name: "platform", value: "P", help: "linux-x86_64, linux-aarch64, darwin-x86_64, darwin-arm64 or windows-x86_64.") var platform: String?
    @Flag(name: "critical", help: "Mark the release critical: users should install it without delay.") var critical: Bool
    @Option(name: "min-version", value: "V", help: "The oldest version that may update to this one directly.") var minVersion: String?
    @Option(name: "rollout", value: "PERCENT", help: "Offer it to this percentage of installations, 0-100 (default 100).") var rollout: String?
    @Option(name: "notes", value: "FILE", help: "Release notes (UTF-8 text).") var notes: String?
    @Option(name: "patches", value: "N", help: "Make patches from the N newest earlier releases of the platform (default 3; 0 for none).") var patches: String?
    @Option(name: "program", value: "NAME", help: "The program the release is of, as its ProgramIdentity names it (default autodev).") var program: String?
    @Flag(CommandSpec.json) var json: Bool

    func run() throws -> Int32 { try ChannelCommands.add(self) }
}

struct ReleaseNormalizeCommand: ParsableCommand {
    static var configuration: CommandConfiguration {
        CommandConfiguration(
            path: ["release", "normalize"],
            abstract: "Make a built binary's bytes a function of its source alone.",
            discussion: "Zeroes the compiler's per-object hashes (.swift_modhash, read by nothing at run time) and sets the linker's build id from the content: two stripped release builds of one commit, in clones at any paths, then have the same SHA-256. The file is replaced atomically (mode 0755); anything but an ELF file is left as it is. A source upgrade does this to every build; scripts/build-release and scripts/verify-build use it to make and check a published artifact.")
    }

    @Argument("file", help: "The binary to normalise.") var file: String?
    @Flag(CommandSpec.json) var json: Bool

    func run() throws -> Int32 { try ChannelCommands.normalize(self) }
}

struct ReleaseStampCommand: ParsableCommand {
    static var configuration: CommandConfiguration {
        CommandConfiguration(
            path: ["release", "stamp"],
            abstract: "Write a version into a built binary, without rebuilding it.",
            discussion: "The binary reports the stamped version instead of the one compiled in (its --version and the self-check report that verification compares with the release's version). The file is replaced atomically with its owner, group and permissions, except setuid and setgid (and file capabilities), which are not carried over to a new binary; a symbolic link or a file with several names is refused. It must hold exactly one stamp area (programs built with this library do). Stamp before 'release add': the stamp changes the file's hashes.")
    }

    @Argument("file", help: "The binary to stamp.") var file: String?
    @Option(name: "version", value: "V", help: "The semantic version to write (e.g. 1.4.0).") var version: String?
    @Flag(CommandSpec.json) var json: Bool

    func run() throws -> Int32 { try ChannelCommands.stamp(self) }
}

struct ReleasePublishCommand: ParsableCommand {
    static var configuration: CommandConfiguration {
        CommandConfiguration(
            path: ["release", "publish"],
            abstract: "Sign what changed: the next targets, snapshot and timestamp versions.",
            discussion: "Consistent snapshots: N.targets.json and N.snapshot.json are new files, and timestamp.json is written last, so clients see the old release or the new one. With nothing added since the last publish, nothing is signed.")
    }

    @Option(CommandTree.releaseRepo) var repo: String?
    @Option(name: "expires", value: "DAYS", help: "Days targets and snapshot stay valid (default 365).") var expires: String?
    @Flag(CommandSpec.json) var json: Bool

    func run() throws -> Int32 { try ChannelCommands.publish(self) }
}

struct ReleaseRefreshCommand: ParsableCommand {
    static var configuration: CommandConfiguration {
        CommandConfiguration(
            path: ["release", "refresh"],
            abstract: "Re-sign the timestamp with a new expiry (run it from cron, more often than weekly).")
    }

    @Option(CommandTree.releaseRepo) var repo: String?
    @Flag(CommandSpec.json) var json: Bool

    func run() throws -> Int32 { try ChannelCommands.refresh(self) }
}

struct ReleaseRotateCommand: ParsableCommand {
    static var configuration: CommandConfiguration {
        CommandConfiguration(
            path: ["release", "rotate"],
            abstract: "Replace a role's keys with new ones in the next root version.",
            discussion: "Writes N+1.root.json listing new keys for the role (as many as its threshold); a new root is signed by the old root keys and the new ones, so installations trusting any earlier root walk to it. The old key files move to keys/retired/. Run 'autodev release publish' afterwards: it signs targets, snapshot and timestamp again under the new keys.")
    }

    @Option(CommandTree.releaseRepo) var repo: String?
    @Option(name: "role", value: "ROLE", help: "root, targets, snapshot or timestamp.") var role: String?
    @Option(name: "expires", value: "DAYS", help: "Days the new root stays valid (default 365).") var expires: String?
    @Flag(CommandSpec.json) var json: Bool

    func run() throws -> Int32 { try ChannelCommands.rotate(self) }
}

struct ReleaseInstallerCommand: ParsableCommand {
    static var configuration: CommandConfiguration {
        CommandConfiguration(
            path: ["release", "installer"],
            abstract: "Sign the binaries the curl | sh installer (scripts/get-autodev) downloads.",
            discussion: "For each platform, the newest release the signed targets metadata lists (never what is only pending) is checked against its signed length and SHA-256 and copied to DIR/install/autodev-<platform>, with its minisign signature (prehashed, 'ED') in DIR/install/autodev-<platform>.minisig and the trusted comment 'autodev <version> <platform>', each written atomically; metadata/ and targets/ are not changed. Run it after every 'release publish', and serve DIR/install/ beside metadata/ and targets/. Nothing is written when nothing is published or a stored file does not match its signed hashes.")
    }

    @Option(CommandTree.releaseRepo) var repo: String?
    @Option(name: "secret-key", value: "PATH", help: "The minisign secret key that signs them ('release keygen'); users pass its public key to get-autodev --key.") var secretKey: String?
    @Flag(CommandSpec.json) var json: Bool

    func run() throws -> Int32 { try ReleaseCommands.installer(self) }
}

struct ReleaseCommand: ParsableCommand {
    static var configuration: CommandConfiguration {
        CommandConfiguration(
            path: ["release"],
            abstract: "Publish release repositories (TUF); sign and verify files with minisign-compatible keys.",
            words: .subcommandOnly,
            subcommands: [ReleaseInitCommand.self, ReleaseStampCommand.self, ReleaseNormalizeCommand.self, ReleaseAddCommand.self, ReleasePublishCommand.self, ReleaseRefreshCommand.self, ReleaseRotateCommand.self, ReleaseInstallerCommand.self, ReleaseKeygenCommand.self, ReleaseSignCommand.self, ReleaseVerifyCommand.self, ReleaseDiffCommand.self, ReleasePatchCommand.self, ReleaseSpeedCommand.self])
    }

    func run() throws -> Int32 {
        Output.out(Self.spec.helpText())
        return ExitCode.success
    }
}

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

struct TUFCommand: ParsableCommand {
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

    /// Not reached: ``main(_:)`` hands the words to the command they name.
    func run() throws -> Int32 { ExitCode.usage }
}

struct ModulesBuildCommand: ParsableCommand, HomeCommand {
    static var configuration: CommandConfiguration {
        CommandConfiguration(
            path: ["modules", "build"],
            abstract: "Build a module's worker from source and keep it in the home's module store.",
            discussion: "Runs swift build -c release --static-swift-stdlib --product <name>-module in <home>/build, the warm cache of source upgrades (output in <home>/logs/modules-build-<name>.log), starts the result once to read its name, protocol and state schema, and copies it into <home>/modules/store/<sha256>/. Nothing is recorded when any of that fails.")
    }

    @Argument("name", help: CommandTree.moduleNameHelp) var name: String?
    @Option(name: "source", value: "DIR", help: "The package to build (default: the home's working copy, else the package around the current directory).") var source: String?
    @Flag(CommandSpec.json) var json: Bool
    @Option(CommandSpec.home) var home: String?

    func run() throws -> Int32 { try ModuleCommands.build(self) }
}

struct ModulesReloadCommand: ParsableCommand, HomeCommand {
    static var configuration: CommandConfiguration {
        CommandConfiguration(
            path: ["modules", "reload"],
            abstract: "Load a module version: in place in a running host, else for the next start.",
            discussion: "The version is started once to check it runs the named module. A host running for the home ('modules serve', or a program embedding ModuleHost) is asked over <home>/modules/control.sock to reload it through eight journaled phases (prepare, drain, snapshot, migrate, swap, restore, verify, commit or rollback), and the phases and times are printed; exit 1 when it rolled back. With no host running, the version must speak the current version's protocol and is recorded as the one the next start runs.")
    }

    @Argument("name", help: CommandTree.moduleNameHelp) var name: String?
    @Option(name: "from", value: "PATH", help: "The module worker to load (default: the last one 'modules build' stored).") var from: String?
    @Option(name: "builtin", value: "VERSION", help: "Load a version built into this autodev (counter: 1 or 2; example-handler: 1 or 2).") var builtin: String?
    @Flag(CommandSpec.json) var json: Bool
    @Option(CommandSpec.home) var home: String?

    func run() throws -> Int32 { try ModuleCommands.reload(self) }
}

struct ModulesServeCommand: ParsableCommand, HomeCommand {
    static var configuration: CommandConfiguration {
        CommandConfiguration(
            path: ["modules", "serve"],
            abstract: "Run a module host for the home until SIGINT or SIGTERM.",
            discussion: "Starts every module on the version its journal names (the counter on its latest built-in version when none is named) and listens on <home>/modules/control.sock (mode 0600; only this user and root are answered), where 'modules reload' asks it to reload in place to a version of the module store or one built into this program. A module that cannot start is reported with 'modules rollback NAME' as the way out, and the others keep serving. One host per home: a second 'modules serve' fails naming the running one's pid.")
    }

    @Flag(CommandSpec.json) var json: Bool
    @Option(CommandSpec.home) var home: String?

    func run() throws -> Int32 { try ModuleCommands.serve(self) }
}

struct ModulesRollbackCommand: ParsableCommand, HomeCommand {
    static var configuration: CommandConfiguration {
        CommandConfiguration(
            path: ["modules", "rollback"],
            abstract: "Return a module to the version in force before its current one.")
    }

    @Argument("name", help: CommandTree.moduleNameHelp) var name: String?
    @Flag(CommandSpec.json) var json: Bool
    @Option(CommandSpec.home) var home: String?

    func run() throws -> Int32 { try ModuleCommands.rollback(self) }
}

struct ModulesListCommand: ParsableCommand, HomeCommand {
    static var configuration: CommandConfiguration {
        CommandConfiguration(
            path: ["modules", "list"],
            abstract: "Show each module's version, state schema and reload history, from the module journal.")
    }

    @Flag(CommandSpec.json) var json: Bool
    @Option(CommandSpec.home) var home: String?

    func run() throws -> Int32 { try ModuleCommands.list(self) }
}

struct ModulesStatefulGateCommand: ParsableCommand {
    static var configuration: CommandConfiguration {
        CommandConfiguration(
            path: ["modules", "test-stateful-reload"],
            abstract: "Reload a stateful module under load, migrating its state each time; report loss and times.",
            discussion: "Real worker processes (versions built into this binary): a counter module whose state schema changes between versions 1 and 2 is reloaded back and forth while four senders send messages at a fixed rate and check every reply. Exit 1 on any lost or mismatched message or any reload that did not commit.")
    }

    @Option(name: "reloads", value: "N", help: "Reloads to run (default 50).") var reloads: String?
    @Option(name: "rate", value: "N", help: "Messages a second, all senders together (default 2000).") var rate: String?
    @Flag(CommandSpec.json) var json: Bool

    func run() throws -> Int32 { try ModuleGates.stateful(self) }
}

struct ModulesConcurrentGateCommand: ParsableCommand {
    static var configuration: CommandConfiguration {
        CommandConfiguration(
            path: ["modules", "test-concurrent-reload"],
            abstract: "Reload several modules at the same moment under load; report interference, loss and times.",
            discussion: "Each round releases one reload per module at the same moment, while two senders per module send messages at a fixed rate and check every reply and, at the end, every module's state. Exit 1 on any lost or mismatched message or any reload that did not commit.")
    }

    @Option(name: "modules", value: "N", help: "Modules reloaded together (default 4).") var modules: String?
    @Option(name: "rounds", value: "N", help: "Rounds of simultaneous reloads (default 20).") var rounds: String?
    @Option(name: "rate", value: "N", help: "Messages a second, all senders together (default 2000).") var rate: String?
    @Flag(CommandSpec.json) var json: Bool

    func run() throws -> Int32 { try ModuleGates.concurrent(self) }
}

struct ModulesMeasureRoutingCommand: ParsableCommand {
    static var configuration: CommandConfiguration {
        CommandConfiguration(
            path: ["modules", "measure-routing"],
            abstract: "Measure one message routed through the host against a direct call.")
    }

    @Option(name: "messages", value: "N", help: "Messages to time (default 20000).") var messages: String?

    func run() throws -> Int32 { try ModuleGates.routing(self) }
}

struct ModulesCommand: ParsableCommand {
    static var configuration: CommandConfiguration {
        CommandConfiguration(
            path: ["modules"],
            abstract: "Hot reload of modules: build, reload, roll back and list them; run the reload gates.",
            words: .subcommandOnly,
            subcommands: [ModulesBuildCommand.self, ModulesReloadCommand.self, ModulesRollbackCommand.self, ModulesListCommand.self, ModulesServeCommand.self, ModulesStatefulGateCommand.self, ModulesConcurrentGateCommand.self],
            hiddenSubcommands: [ModulesMeasureRoutingCommand.self])
    }

    func run() throws -> Int32 {
        Output.out(Self.spec.helpText())
        return ExitCode.success
    }
}

struct SuperviseUpgradeCommand: ParsableCommand {
    static var configuration: CommandConfiguration {
        CommandConfiguration(
            path: ["supervise", "upgrade"],
            abstract: "Upgrade the supervised program with zero downtime, by overlap.",
            discussion: "Asks the running supervisor (through <home>/supervise.sock) to stage the binary, start it beside the running version on the same listeners, wait for its READY=1 (sd_notify), make it current, then stop the old version with SIGTERM (it drains; SIGKILL after the stop timeout). A new version that exits or is not ready in time is stopped; the old one keeps serving and the transaction is journaled as aborted. Exit 0 once the new version serves. With --next-start, stage and make the binary current without running it (the program runs it after it exits with status 42): no supervisor is needed, and one that ends before it is ready is rolled back by the supervisor.")
    }

    @Option(CommandTree.superviseHome) var home: String?
    @Option(name: "from-binary", value: "PATH", help: "The new version of the program.") var fromBinary: String?
    @Flag(name: "next-start", help: "Only stage it and make it current; it runs from the program's next start.") var nextStart: Bool
    @Flag(CommandSpec.json) var json: Bool

    func run() throws -> Int32 { try SuperviseCommands.upgrade(self) }
}

struct SuperviseRollbackCommand: ParsableCommand {
    static var configuration: CommandConfiguration {
        CommandConfiguration(
            path: ["supervise", "rollback"],
            abstract: "Return the supervised program to its previous version, by overlap.",
            discussion: "The same overlap as an upgrade, with the version before the current one in history (its hash checked first).")
    }

    @Option(CommandTree.superviseHome) var home: String?
    @Flag(CommandSpec.json) var json: Bool

    func run() throws -> Int32 { try SuperviseCommands.rollback(self) }
}

struct SuperviseStatusCommand: ParsableCommand {
    static var configuration: CommandConfiguration {
        CommandConfiguration(
            path: ["supervise", "status"],
            abstract: "Show the supervised program's version, pid, readiness and listeners.")
    }

    @Option(CommandTree.superviseHome) var home: String?
    @Flag(CommandSpec.json) var json: Bool

    func run() throws -> Int32 { try SuperviseCommands.status(self) }
}

struct SuperviseCommand: ParsableCommand {
    static var configuration: CommandConfiguration {
        CommandConfiguration(
            path: ["supervise"],
            abstract: "Run a program from a home, pass it listeners, restart it, upgrade it by overlap.",
            discussion: "Usage: autodev supervise --home DIR [--listen [NAME=]HOST:PORT ...] -- PROGRAM ARGS...\n\nA new home adopts PROGRAM as its first version; afterwards the home's current version runs, with ARGS (argv[0] is PROGRAM as given). The listeners (opened here, or inherited by the systemd convention) reach the program as LISTEN_FDS, LISTEN_PID (its own pid), LISTEN_FDNAMES, descriptors from 3; NOTIFY_SOCKET is the supervisor's, for READY=1. Exit status 42 restarts the program into the current version; every restart, after a crash or an exit 42 alike, waits a backoff (0.1 s doubling for each end in a row, at most 10 s, reset after 10 s of readiness); a version that ends in any way (a crash, 0, 42) before it ever said READY=1 is rolled back to the last one that did. SIGTERM, SIGINT and SIGHUP are forwarded; after SIGTERM or SIGINT the supervisor waits for the program (SIGKILL after the stop timeout) and exits with its status. Everything the program starts ends with it and with the supervisor (a cgroup v2 leaf where the machine allows, else the supervisor is a child subreaper; AUTODEV_PROCESS_TREES=subreaper chooses the latter). A --listen socket path another process listens on is refused. A program that exits 0 on its own ends the supervisor (status 0). Only this user (or root) may use the control socket. Under systemd (NOTIFY_SOCKET set) it sends MAINPID, READY=1, RELOADING=1 during upgrades, STOPPING=1.",
            subcommands: [SuperviseUpgradeCommand.self, SuperviseRollbackCommand.self, SuperviseStatusCommand.self])
    }

    @Arguments("program", help: "After '--': the program (adopted into a new home) and its arguments.") var program: [String]
    @Option(CommandTree.superviseHome) var home: String?
    @RepeatedOption(name: "listen", value: "ADDRESS", help: "A listener to open: [NAME=]HOST:PORT, [IPv6]:PORT or a socket path; repeatable. Unnamed ones are http, http-2, …") var listen: [String]
    @Option(name: "ready", value: "MODE", help: "notify: the program says READY=1 (default); started: ready once running.") var ready: String?
    @Option(name: "ready-timeout", value: "SECONDS", help: "How long a new version has to be ready in an upgrade (default 30).") var readyTimeout: String?
    @Option(name: "stop-timeout", value: "SECONDS", help: "How long a stopped version has to exit after SIGTERM before SIGKILL (default 10).") var stopTimeout: String?
    @Flag(CommandSpec.json) var json: Bool

    /// Not reached: ``main(_:)`` parses the options before '--' and runs the program after it.
    func run() throws -> Int32 { ExitCode.usage }

    static func main(_ words: ArraySlice<String>) throws -> Int32 { try SuperviseCommands.run(words) }
}

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
