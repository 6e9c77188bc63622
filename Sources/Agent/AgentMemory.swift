import SelfUpgrade
import Platform
import Storage

/// How the version the next proposal is made on is chosen among the archive's versions.
public enum ParentSelection: String, Sendable, CaseIterable, Codable {
    /// The newest accepted version (or the one `--from` named): a line of versions.
    case head
    /// The version whose lineage has the most scores judged better.
    case best
    /// Sampled by score and novelty: weight (1 + improvements along its lineage) / (1 + proposals made on it).
    case explore
}

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
        /// Its number in the archive (1 for the first proposal; 0 is the root).
        public var number: Int?
        /// The archive number of the version it was made on (0: the root).
        public var parent: Int?
        /// The commit that applied it (kept as `refs/autodev/archive/<number>`).
        public var commit: String?
        /// Its scores against its parent's and the rule's decision, when a fitness gate judged it.
        public var fitness: FitnessComparison?
        /// Marks for the archive: "evaluator-changed", "removes-assertions".
        public var flags: [String]?
        /// How its probation ended (accepted versions under a fitness gate): passed, or failed
        /// and rolled back, with the numbers.
        public var probation: String?
        /// Set when pruning dropped its commit: the record stays (the archive's history), it is
        /// no longer a version to continue from.
        public var pruned: Bool?

        /// The outcome of a proposal that became the running version.
        public static let accepted = "accepted"
        /// The outcome of a proposal that was taken back.
        public static let rejected = "rejected"
        /// The outcome of an accepted proposal that failed its probation and was rolled back.
        public static let rolledBack = "rolled-back"

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
        /// The archive number of the version it was made on.
        public var parent: Int?
        /// The fitness gate's decision, once it accepted the candidate (saved before the exec).
        public var fitness: FitnessComparison?

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
        /// What the proposer reported its proposals of this run cost, in all.
        public var cost: Double?
        /// The process working on it (the same across its restarts, which exec in place).
        public var processID: Int32?

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
    /// The archive's root: the version and commit the agent first worked from.
    public var root: Root?
    /// The archive number of the version the working copy is at (0: the root); proposals are
    /// made on it. nil in a memory written before the archive: the newest accepted proposal.
    public var head: Int?
    /// The fitness evaluator as the user last pinned it.
    public var fitnessPin: FitnessPin?
    /// The accepted version on probation, if any.
    public var probation: Probation?

    /// An accepted version whose fitness and health are still being sampled while it runs.
    public struct Probation: Codable, Sendable, Equatable {
        /// Its archive number.
        public var number: Int
        /// When its probation began (seconds since 1970).
        public var startedAt: Double
        /// Samples it passed so far.
        public var passed: Int
        public init(number: Int, startedAt: Double, passed: Int = 0) {
            self.number = number
            self.startedAt = startedAt
            self.passed = passed
        }
    }

    /// The version and commit the archive starts from.
    public struct Root: Codable, Sendable, Equatable {
        /// The version's identifier (hex), if the home had one.
        public var id: String?
        /// Its version string.
        public var version: String?
        /// The working copy's commit.
        public var commit: String
        public init(id: String?, version: String?, commit: String) {
            self.id = id
            self.version = version
            self.commit = commit
        }
    }

    /// An empty memory: nothing processed, nothing in flight.
    public init() {}

    /// The archive number new proposals are made on.
    public var currentHead: Int {
        head ?? processed.indices.last { processed[$0].isAccepted }.map { $0 + 1 } ?? 0
    }

    /// The archive's node `number`: the root's version and commit for 0, else an accepted
    /// proposal's; nil for a rejected or unknown one.
    public func version(_ number: Int) -> (id: String?, commit: String)? {
        if number == 0 { return root.map { ($0.id, $0.commit) } }
        guard number >= 1, number <= processed.count else { return nil }
        let proposal = processed[number - 1]
        guard proposal.isAccepted, proposal.pruned != true, let commit = proposal.commit else { return nil }
        return (proposal.id, commit)
    }

    /// The archive's versions a proposal can be made on: the root and every accepted proposal.
    public var versions: [Int] {
        (root == nil ? [] : [0]) + processed.indices.filter { version($0 + 1) != nil }.map { $0 + 1 }
    }

    /// Scores judged better, added up along version `number`'s lineage back to the root.
    public func improvements(of number: Int) -> Int {
        var total = 0, current = number, steps = 0
        while current >= 1, current <= processed.count, steps <= processed.count {
            let proposal = processed[current - 1]
            total += proposal.fitness?.scores.filter { $0.verdict == "better" }.count ?? 0
            current = proposal.parent ?? 0
            steps += 1
        }
        return total
    }

    /// Proposals made on version `number`.
    public func children(of number: Int) -> Int {
        processed.filter { ($0.parent ?? 0) == number }.count
    }

    /// The version the next proposal is made on, by `rule`; `random` gives numbers in 0..<1.
    public func parent(by rule: ParentSelection, random: () -> Double = { Double.random(in: 0..<1) }) -> Int {
        let candidates = versions
        guard !candidates.isEmpty else { return currentHead }
        switch rule {
        case .head:
            return currentHead
        case .best:
            // The most improvements along its lineage; the newest among equals.
            return candidates.max { (improvements(of: $0), $0) < (improvements(of: $1), $1) } ?? currentHead
        case .explore:
            // Score and novelty, as the Darwin Gödel Machine samples its archive: a version is
            // drawn in proportion to (1 + its lineage's improvements) / (1 + proposals made on it).
            let weights = candidates.map { Double(1 + improvements(of: $0)) / Double(1 + children(of: $0)) }
            var point = random() * weights.reduce(0, +)
            for (candidate, weight) in zip(candidates, weights) {
                if point < weight { return candidate }
                point -= weight
            }
            return candidates.last!
        }
    }

    /// How many proposals were accepted.
    public var accepted: Int { processed.filter(\.isAccepted).count }
    /// How many proposals were rejected.
    public var rejected: Int { processed.filter { $0.outcome == Proposal.rejected }.count }

    /// The memory's file, `<home>/state/agent.json`.
    /// - Parameter home: the installation's home.
    /// - Returns: a store reading and writing schema 1.
    public static func store(in installation: Installation) -> StateStore<AgentMemory> { store(in: installation.home) }

    package static func store(in home: Home) -> StateStore<AgentMemory> {
        StateStore(directory: home.state, name: "agent", schema: 1)
    }

    /// Moves `inFlight` to ``processed`` with its outcome; a rejection keeps its reason, an
    /// acceptance its version.
    /// - Returns: the finished proposal.
    @discardableResult
    public mutating func finish(_ inFlight: InFlight, accepted: Bool, reason: String?, id: String?, version: String?) -> Proposal {
        var proposal = Proposal(
            name: inFlight.name, digest: inFlight.digest, outcome: accepted ? Proposal.accepted : Proposal.rejected,
            reason: accepted ? nil : reason, version: accepted ? version : nil, id: accepted ? id : nil,
            seconds: WallClock.now() - inFlight.startedAt, finishedAt: WallClock.now())
        proposal.number = processed.count + 1
        proposal.parent = inFlight.parent ?? currentHead
        proposal.commit = inFlight.commit.isEmpty ? nil : inFlight.commit
        proposal.fitness = inFlight.fitness
        processed.append(proposal)
        if accepted { head = proposal.number }
        self.inFlight = nil
        return proposal
    }
}
