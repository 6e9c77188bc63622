/// Why the agent could not go on: git failed, the working copy is not fit to work on, or the
/// proposer failed. The message names the directory and the action.
public struct AgentError: Error, Sendable, CustomStringConvertible {
    /// What kind of failure this is; new codes can be added without breaking callers.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Value: String, Hashable, Sendable {
            case toolMissing, gitFailed, notARepository, uncommittedChanges, proposerFailed, evaluatorChanged, unknownVersion, runInProgress, notJudged
        }

        private let value: Value
        private init(_ value: Value) { self.value = value }

        /// A tool the agent needs (git) is not on `PATH`.
        public static let toolMissing = Code(.toolMissing)
        /// A git command exited with an error.
        public static let gitFailed = Code(.gitFailed)
        /// The working copy (or a repository to clone) is not a git repository.
        public static let notARepository = Code(.notARepository)
        /// The working copy has changes that reverting a rejected proposal would lose.
        public static let uncommittedChanges = Code(.uncommittedChanges)
        /// The proposer command exited with an error.
        public static let proposerFailed = Code(.proposerFailed)
        /// The fitness evaluator (its command or data) is not what was pinned.
        public static let evaluatorChanged = Code(.evaluatorChanged)
        /// `--from` names no version of the archive that can be continued from.
        public static let unknownVersion = Code(.unknownVersion)
        /// An agent run is working on the home (pruning waits for it to end).
        public static let runInProgress = Code(.runInProgress)
        /// A proposal the fitness gate cannot judge (a module's change alone, under a gate).
        public static let notJudged = Code(.notJudged)

        /// The code's name (`gitFailed`).
        public var description: String { value.rawValue }
    }

    /// The kind of failure.
    public let code: Code
    /// The message shown to the user.
    public let description: String

    public init(_ code: Code, _ description: String) {
        self.code = code
        self.description = description
    }
}
