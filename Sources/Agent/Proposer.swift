import FoundationEssentials
import Platform
import SelfUpgrade
import Storage

/// How a proposer command is run (docs/agent.md has the whole protocol).
///
/// Its environment holds nothing of the agent's but `PATH`, the locale, `TERM`, `TZ`, `USER`,
/// `LOGNAME`, the variables named in ``passEnvironment`` (an API key the user chose to give it),
/// `AUTODEV_WORKING_COPY` and `AUTODEV_PROPOSER_INPUT` (a JSON file: the task, the archive's
/// head, the last rejection with its reason and numbers, the counts). Its standard output's last
/// line may report what the proposal cost (``ProposerReport``).
public struct ProposerSettings: Sendable {
    /// Variables passed through from the agent's environment by name.
    public var passEnvironment: [String]
    /// The task given to the proposer (text, up to ``taskLimit`` bytes).
    public var task: String?
    /// Wall-clock seconds a proposer run may take.
    public var timeoutSeconds: Double
    /// Runs it confined; nil: a plain child process (a library user's choice).
    public var runner: ProposerRunner?
    /// Receives each run's report.
    public var onReport: @Sendable (ProposerReport) -> Void

    /// The most bytes of task text.
    public static let taskLimit = 64 << 10
    /// Variables a proposer always gets from the agent's environment when they are set.
    public static let keptVariables = ["PATH", "LANG", "LC_ALL", "LC_CTYPE", "LC_MESSAGES", "TERM", "TZ", "USER", "LOGNAME"]

    public init(passEnvironment: [String] = [], task: String? = nil, timeoutSeconds: Double = 3600, runner: ProposerRunner? = nil,
                onReport: @escaping @Sendable (ProposerReport) -> Void = { _ in }) {
        self.passEnvironment = passEnvironment
        self.task = task
        self.timeoutSeconds = timeoutSeconds
        self.runner = runner
        self.onReport = onReport
    }

    /// The kept variables and those named in `passing`, from this process's environment.
    static func environment(passing: [String]) -> [String: String] {
        let current = ProcessControl.environment()
        var environment: [String: String] = [:]
        for name in keptVariables + passing { if let value = current[name] { environment[name] = value } }
        return environment
    }
}

/// Runs a proposer command confined: `run(command, workingCopy, environment, logDirectory)`
/// returns its report or throws ``AgentError`` (`proposerFailed`).
public struct ProposerRunner: Sendable {
    public var run: @Sendable (_ command: String, _ workingCopy: String, _ environment: [String: String], _ logs: String) throws -> ProposerReport

    public init(run: @escaping @Sendable (_ command: String, _ workingCopy: String, _ environment: [String: String], _ logs: String) throws -> ProposerReport) {
        self.run = run
    }

    /// Runs the proposer as code not trusted yet is run (``Upgrader/runConfined(_:environment:timeoutSeconds:outputLimit:logDirectory:name:writableDirectory:network:memoryBytes:)``):
    /// `/bin/sh -c "<command> <working copy>"` with the working copy its one writable directory
    /// (in place) but for its `.git` (read-only: the agent's git, which runs unconfined, must
    /// not find hooks or configuration it wrote), a private HOME and TMPDIR, no network unless `network`, and `timeoutSeconds`.
    /// Its output is kept in `<logs>/proposer.out` and `proposer.err`.
    public static func confined(by upgrader: Upgrader, timeoutSeconds: Double, network: Bool) -> ProposerRunner {
        ProposerRunner { command, workingCopy, environment, logs in
            let run = try upgrader.runConfined(["/bin/sh", "-c", command + " \"$0\"", workingCopy], environment: environment,
                                               timeoutSeconds: timeoutSeconds, outputLimit: 0, logDirectory: logs, name: "proposer",
                                               writableDirectory: workingCopy, readOnlyInside: [workingCopy + "/.git"],
                                               visible: ownDirectory(of: command) + (environment["AUTODEV_PROPOSER_INPUT"].map { [FileSystem.parent(of: $0)] } ?? []),
                                               network: network, memoryBytes: 1 << 40)
            guard run.succeeded else {
                throw AgentError(.proposerFailed, "The proposer '\(command)' \(run.status)" + (run.errorTail.isEmpty ? "" : ": \(run.errorTail)")
                                 + "; its output is in \(logs)/proposer.out and proposer.err")
            }
            return ProposerReport(output: ProposerReport.tail(of: logs + "/proposer.out"))
        }
    }

    /// The directory of a command's first word when that is an absolute path: what the command
    /// keeps beside itself stays visible to it.
    static func ownDirectory(of command: String) -> [String] {
        guard let first = command.split(separator: " ").first, first.hasPrefix("/") else { return [] }
        return [FileSystem.parent(of: String(first))]
    }
}

/// What a proposer said of its run: the last line of its standard output, when that line is a
/// JSON object such as `{"cost": 0.42, "note": "…"}`.
public struct ProposerReport: Sendable, Equatable {
    /// What the proposal cost, in the user's unit (dollars, tokens), counted against the budget.
    public var cost: Double?
    /// A line of its own about the proposal.
    public var note: String?

    public init(cost: Double? = nil, note: String? = nil) {
        self.cost = cost
        self.note = note
    }

    /// Reads the report from the last line of `output`; empty when it holds none.
    public init(output: [UInt8]) {
        let lines = output.split(separator: 0x0A)
        guard let last = lines.last, let value = try? JSONValue(parsing: Array(last), maxDepth: 2), case .object(let fields) = value else { return }
        // A cost is a finite amount of at most 10¹²: anything else is no report.
        if case .number(let cost)? = fields["cost"], cost.isFinite, cost >= 0, cost <= 1e12 { self.cost = cost }
        if case .string(let note)? = fields["note"] { self.note = String(note.prefix(500)) }
    }

    /// The last 4 KiB of a file (empty when it cannot be read).
    package static func tail(of path: String) -> [UInt8] {
        guard let bytes = try? FileSystem.readOwnFile(path, maxBytes: 64 << 20) else { return [] }
        return Array(bytes.suffix(4096))
    }
}

/// The file a proposer finds at `AUTODEV_PROPOSER_INPUT`.
struct ProposerInput: Encodable {
    struct Rejection: Encodable {
        var name: String
        var reason: String?
        var fitness: FitnessComparison?
        var flags: [String]?
    }

    var task: String?
    var workingCopy: String
    /// The archive number the proposal will be made on.
    var head: Int
    var accepted: Int
    var rejected: Int
    var lastRejection: Rejection?

    init(memory: AgentMemory, workingCopy: String, task: String?) {
        self.task = task
        self.workingCopy = workingCopy
        head = memory.currentHead
        accepted = memory.accepted
        rejected = memory.rejected
        lastRejection = memory.processed.last { !$0.isAccepted }.map {
            Rejection(name: $0.name, reason: $0.reason.map { String($0.prefix(8192)) }, fitness: $0.fitness, flags: $0.flags)
        }
    }

    func encoded() throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return Array(try encoder.encode(self)) + [0x0A]
    }
}
