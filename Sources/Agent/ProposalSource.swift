import Integrity
import Platform

/// Where proposed changes come from.
public enum ProposalSource: Sendable, Equatable {
    /// Patch files (`*.patch`, `*.diff`) in a directory, taken in name order; each is applied with
    /// `git apply --index` and committed. Processed ones move to `applied/` or `rejected/`.
    case patches(directory: String)
    /// A shell command run in the working copy, with the working copy's path appended as its last
    /// argument and in `AUTODEV_WORKING_COPY`; whatever it changed is the proposal, committed as
    /// `proposal-<n>`. It changing nothing ends the loop.
    case proposer(command: String)

    /// The next proposal taken out of a source.
    public enum Next: Sendable, Equatable {
        /// Applied and committed as `commit`.
        case ready(name: String, digest: String, commit: String)
        /// A patch that does not apply; nothing was changed.
        case doesNotApply(name: String, digest: String, reason: String)
    }

    /// A patch file waiting in the directory.
    public struct PatchFile: Sendable, Equatable {
        /// Its file name.
        public var name: String
        /// Its path.
        public var path: String
        /// SHA-256 (hex) of its content: what the memory knows it by.
        public var digest: String
    }

    // MARK: - API

    /// The patches not processed yet, in name order: files named `*.patch` or `*.diff` whose
    /// content is not among `memory`'s processed proposals.
    /// - Returns: nothing for a proposer.
    public func pendingPatches(_ memory: AgentMemory) throws -> [PatchFile] {
        guard case .patches(let directory) = self else { return [] }
        let done = Set(memory.processed.map(\.digest))
        return try FileSystem.contentsOfDirectory(directory).sorted()
            .filter { $0.hasSuffix(".patch") || $0.hasSuffix(".diff") }
            .compactMap { name in
                let path = directory + "/" + name
                let digest = try SHA256.hash(file: path).hex
                // Already processed (and moved aside when it ended, unless the process died first).
                return done.contains(digest) ? nil : PatchFile(name: name, path: path, digest: digest)
            }
    }

    /// Takes the next proposal and commits it in `workingCopy` as `agent: <name>`.
    /// - Returns: the proposal, or nil when there is none (no pending patch; the proposer changed nothing).
    /// - Throws: ``AgentError`` when git or the proposer fails; a patch that does not apply is
    ///   ``Next/doesNotApply(name:digest:reason:)``, not an error.
    public func next(in workingCopy: WorkingCopy, memory: AgentMemory, proposer settings: ProposerSettings = ProposerSettings()) throws -> Next? {
        switch self {
        case .patches:
            guard let patch = try pendingPatches(memory).first else { return nil }
            // Committed by a run that died before it recorded the proposal as in flight: take
            // that commit instead of applying the patch a second time.
            if let commit = try Self.interrupted(in: workingCopy, name: patch.name, digest: patch.digest) {
                return .ready(name: patch.name, digest: patch.digest, commit: commit)
            }
            do {
                try workingCopy.git(["apply", "--index", patch.path])
            } catch {
                return .doesNotApply(name: patch.name, digest: patch.digest, reason: "the patch does not apply: \(error)")
            }
            return .ready(name: patch.name, digest: patch.digest, commit: try workingCopy.commit(Self.message(patch.name, patch.digest)))
        case .proposer(let command):
            let name = "proposal-\(memory.processed.count + 1)"
            if let (commit, digest) = try Self.interruptedProposal(in: workingCopy, name: name, memory: memory) {
                return .ready(name: name, digest: digest, commit: commit)
            }
            do {
                try propose(command, in: workingCopy, memory: memory, settings: settings)
            } catch {
                // The working copy was clean before it ran: what is there now is its.
                try? workingCopy.discardChanges()
                throw error
            }
            let nested = try workingCopy.nestedRepositories()
            if !nested.isEmpty {
                try workingCopy.discardChanges()
                return .doesNotApply(name: name, digest: "", reason: "it creates a nested git repository (\(nested.map(DisplayText.name).joined(separator: ", "))), whose configuration git and the build would run outside any sandbox; its change was discarded")
            }
            guard !(try workingCopy.isClean()) else { return nil }
            try workingCopy.git(["add", "-A"])
            let diff = try workingCopy.git(["diff", "--cached"])
            let digest = SHA256.hash(data: Array(diff.utf8)).hex
            let commit = try workingCopy.commit(Self.message(name, digest))
            return .ready(name: name, digest: digest, commit: commit)
        }
    }

    /// A proposal's commit message: `agent: <name>`, and the proposal's digest as a trailer, by
    /// which a run that finds the commit unrecorded knows it for that proposal.
    static func message(_ name: String, _ digest: String) -> String {
        "agent: \(name)\n\nProposal-Digest: \(digest)"
    }

    /// The checked-out commit, when it is the commit of proposal `name` with `digest`.
    static func interrupted(in workingCopy: WorkingCopy, name: String, digest: String) throws -> String? {
        let text = try workingCopy.git(["log", "-1", "--format=%H%n%B"])
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        guard lines.count > 1, lines[1] == "agent: \(name)", lines.contains("Proposal-Digest: \(digest)"[...]) else { return nil }
        return String(lines[0])
    }

    /// The checked-out commit and its digest, when it is the commit of proposal `name` and that
    /// digest is not among the processed ones.
    static func interruptedProposal(in workingCopy: WorkingCopy, name: String, memory: AgentMemory) throws -> (String, String)? {
        let text = try workingCopy.git(["log", "-1", "--format=%H%n%B"])
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        guard lines.count > 1, lines[1] == "agent: \(name)",
              let trailer = lines.first(where: { $0.hasPrefix("Proposal-Digest: ") }) else { return nil }
        let digest = String(trailer.dropFirst("Proposal-Digest: ".count))
        if memory.processed.contains(where: { $0.digest == digest }) {
            // Committed by a run that died before it recorded it, and the same change was
            // processed before: nothing judged it as this proposal, so it is taken back out.
            try workingCopy.git(["reset", "--quiet", "--hard", "HEAD~1"])
            return nil
        }
        return (String(lines[0]), digest)
    }

    /// Sets a processed patch aside: to `applied/`, or to `rejected/` with `<name>.reason`
    /// holding the reason. Nothing for a proposer, or when the file is gone already.
    public func settle(_ name: String, accepted: Bool, reason: String?) throws {
        guard case .patches(let directory) = self, FileSystem.exists(directory + "/" + name) else { return }
        let destination = directory + "/" + (accepted ? "applied" : "rejected")
        try FileSystem.createDirectory(destination, mode: 0o755)
        try FileSystem.rename(directory + "/" + name, to: destination + "/" + name)
        if let reason, !accepted { try FileSystem.writeAtomically(destination + "/" + name + ".reason", Array((reason + "\n").utf8)) }
    }

    // MARK: - Internals

    /// Runs the proposer in the working copy with the protocol's environment (docs/agent.md):
    /// confined by `settings.runner` when there is one, else as a plain child process whose
    /// output goes to `<logs>/proposer.log`.
    private func propose(_ command: String, in workingCopy: WorkingCopy, memory: AgentMemory, settings: ProposerSettings) throws {
        let source = workingCopy.directory
        try FileSystem.createOwnDirectory(workingCopy.logs, below: FileSystem.parent(of: workingCopy.logs), mode: 0o755)
        let input = workingCopy.logs + "/proposer-input.json"
        try FileSystem.writeAtomically(input, try ProposerInput(memory: memory, workingCopy: source, task: settings.task).encoded(), mode: 0o644)
        var environment = ProposerSettings.environment(passing: settings.passEnvironment)
        environment["AUTODEV_WORKING_COPY"] = source
        environment["AUTODEV_PROPOSER_INPUT"] = input
        let report: ProposerReport
        if let runner = settings.runner {
            report = try runner.run(command, source, environment, workingCopy.logs)
        } else {
            environment["HOME"] = ProcessControl.environment()["HOME"]
            var configuration = Subprocess.Configuration(executable: "/bin/sh", arguments: ["-c", command + " \"$0\"", source], environment: environment)
            configuration.workingDirectory = source
            configuration.timeoutSeconds = settings.timeoutSeconds
            let log = workingCopy.logs + "/proposer.log"
            configuration.outputPath = log
            configuration.errorPath = log
            let status = try Subprocess.run(configuration)
            guard status.isSuccess else { throw AgentError(.proposerFailed, "The proposer '\(command)' \(status); its output is in \(log)") }
            report = ProposerReport(output: ProposerReport.tail(of: log))
        }
        settings.onReport(report)
    }

}
