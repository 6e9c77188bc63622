import SelfUpgrade
import Platform
import Storage

/// What the agent remembers across restarts (`<home>/state/agent.json`, schema 1): every
/// proposal it has finished, the one in flight, and the run it belongs to.
///
/// Readers ignore fields they do not know, so a newer version may add some.
public struct AgentMemory: Codable, Sendable, Equatable {
    /// A finished proposal.
    public struct Proposal: Codable, Sendable, Equatable {
        /// The patch's file name, or `proposal-<n>` for a proposer's change.
        public var name: String
        /// SHA-256 (hex) of the patch file or of the proposer's staged diff.
        public var digest: String
        /// ``AgentMemory/Proposal/accepted`` or ``AgentMemory/Proposal/rejected``.
        public var outcome: String
        /// Why it was rejected.
        public var reason: String?
        /// The version string it became (accepted only).
        public var version: String?
        /// The version's identifier (hex; accepted only).
        public var id: String?
        /// From its start to its end, across a restart.
        public var seconds: Double
        /// When it ended (seconds since 1970).
        public var finishedAt: Double

        /// The outcome of a proposal that became the running version.
        public static let accepted = "accepted"
        /// The outcome of a proposal that was taken back.
        public static let rejected = "rejected"

        /// Whether it became the running version.
        public var isAccepted: Bool { outcome == Self.accepted }

        /// A finished proposal with its outcome; see the properties.
        public init(name: String, digest: String, outcome: String, reason: String? = nil, version: String? = nil,
                    id: String? = nil, seconds: Double, finishedAt: Double) {
            self.name = name
            self.digest = digest
            self.outcome = outcome
            self.reason = reason
            self.version = version
            self.id = id
            self.seconds = seconds
            self.finishedAt = finishedAt
        }
    }

    /// The proposal being processed: applied and committed, its upgrade not ended yet.
    public struct InFlight: Codable, Sendable, Equatable {
        /// As in ``AgentMemory/Proposal/name``.
        public var name: String
        /// As in ``AgentMemory/Proposal/digest``.
        public var digest: String
        /// The commit that applied it to the working copy (empty when none did).
        public var commit: String
        /// When it started (seconds since 1970).
        public var startedAt: Double

        /// A proposal in flight; see the properties.
        public init(name: String, digest: String, commit: String, startedAt: Double) {
            self.name = name
            self.digest = digest
            self.commit = commit
            self.startedAt = startedAt
        }
    }

    /// The current run (`autodev agent` started without a restart to finish).
    public struct Run: Codable, Sendable, Equatable {
        /// When it started (seconds since 1970).
        public var startedAt: Double
        /// Proposals taken in this run, against `--once` and `--max-iterations`.
        public var iterations: Int

        /// A run; see the properties.
        public init(startedAt: Double, iterations: Int) {
            self.startedAt = startedAt
            self.iterations = iterations
        }
    }

    /// Every finished proposal, oldest first.
    public var processed: [Proposal] = []
    /// The proposal being processed, if any.
    public var inFlight: InFlight?
    /// The current run.
    public var run: Run?
    /// Restarts into a proposal's version (or back to the old one) the agent has gone on after.
    public var restarts = 0

    /// An empty memory: nothing processed, nothing in flight.
    public init() {}

    /// How many proposals were accepted.
    public var accepted: Int { processed.filter(\.isAccepted).count }
    /// How many proposals were rejected.
    public var rejected: Int { processed.filter { $0.outcome == Proposal.rejected }.count }

    /// The memory's file, `<home>/state/agent.json`.
    /// - Parameter home: the installation's home.
    /// - Returns: a store reading and writing schema 1.
    package static func store(in home: Home) -> StateStore<AgentMemory> {
        StateStore(directory: home.state, name: "agent", schema: 1)
    }

    /// Moves `inFlight` to ``processed`` with its outcome; a rejection keeps its reason, an
    /// acceptance its version.
    /// - Returns: the finished proposal.
    @discardableResult
    public mutating func finish(_ inFlight: InFlight, accepted: Bool, reason: String?, id: String?, version: String?) -> Proposal {
        let proposal = Proposal(
            name: inFlight.name, digest: inFlight.digest, outcome: accepted ? Proposal.accepted : Proposal.rejected,
            reason: accepted ? nil : reason, version: accepted ? version : nil, id: accepted ? id : nil,
            seconds: WallClock.now() - inFlight.startedAt, finishedAt: WallClock.now())
        processed.append(proposal)
        self.inFlight = nil
        return proposal
    }
}
