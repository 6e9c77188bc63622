// The agent: its loop, its status and its archive.

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
