import Integrity
import Platform
import SelfUpgrade
import SourceUpgrade
import Storage

/// What the agent remembers across restarts (`<home>/state/agent.json`): every proposal it has
/// finished, the one in flight, and the run it belongs to.
struct AgentMemory: Codable, Sendable, Equatable {
    struct Proposal: Codable, Sendable, Equatable {
        var name: String
        var digest: String
        var outcome: String // "accepted" or "rejected"
        var reason: String?
        var version: String?
        var id: String?
        var seconds: Double
        var finishedAt: Double
    }

    struct InFlight: Codable, Sendable, Equatable {
        var name: String
        var digest: String
        /// The commit that applied it to the working copy.
        var commit: String
        var startedAt: Double
    }

    struct Run: Codable, Sendable, Equatable {
        var startedAt: Double
        var iterations: Int
    }

    var processed: [Proposal] = []
    var inFlight: InFlight?
    var run: Run?
    var restarts = 0

    var accepted: Int { processed.filter { $0.outcome == "accepted" }.count }
    var rejected: Int { processed.filter { $0.outcome == "rejected" }.count }

    static func store(_ home: Home) -> StateStore<AgentMemory> { StateStore(directory: home.state, name: "agent", schema: 1) }
}

/// `autodev agent`: takes proposed changes to its own source one at a time; each that builds,
/// tests and verifies becomes the running version (exec, same PID), each that fails is reverted
/// and set aside with its reason.
enum AgentCommand {
    static func run(_ arguments: ParsedArguments) throws -> Int32 {
        let patches = arguments.value("patches").map(FileSystem.absolute)
        let proposer = arguments.value("proposer")
        guard (patches == nil) != (proposer == nil) else {
            throw UsageError(message: "Pass exactly one of --patches DIR and --proposer CMD", spec: CommandTree.agent)
        }
        let limit: Int? = try arguments.has("once") ? 1 : arguments.value("max-iterations").map { text in
            guard let count = Int(text), count > 0 else {
                throw UsageError(message: "The value '\(text)' is invalid for '--max-iterations <n>': give a positive whole number", spec: CommandTree.agent)
            }
            return count
        }
        if let patches, !FileSystem.isDirectory(patches) { throw ReleaseError("The patch directory \"\(patches)\" does not exist") }

        let (session, resumption) = try Session.open(arguments)
        let home = session.home
        Cancellation.install()
        guard let build = try UpgradeCommand.sourceBuild(arguments, home: home) else { return ExitCode.failure }
        guard FileSystem.exists(build.source + "/.git") else {
            throw ReleaseError("The working copy \"\(build.source)\" is not a git repository (create one with 'autodev init --source DIR')")
        }
        try WorkingCopy.requireClean(build.source, logs: home.logs)
        let store = AgentMemory.store(home)
        var memory = try store.load()?.state ?? AgentMemory()
        let report = Reporter(json: session.json)

        if let resumption, let inFlight = memory.inFlight {
            // We are the version this proposal built (or the old one, rolled back to).
            let accepted = resumption.result == .confirmed
            if !accepted { try revert(inFlight, in: build.source, home: home) }
            finish(&memory, inFlight, accepted: accepted, reason: resumption.reason, id: resumption.to?.digest, version: resumption.toVersion)
            memory.restarts += 1
            try store.save(memory)
            try settle(inFlight.name, accepted: accepted, reason: resumption.reason, patches: patches)
            report.outcome(memory.processed.last!, restarted: true)
        } else if resumption == nil {
            memory.run = AgentMemory.Run(startedAt: WallClock.now(), iterations: 0)
            try store.save(memory)
        }

        while true {
            if let limit, (memory.run?.iterations ?? 0) >= limit { break }
            let proposal: (name: String, digest: String, commit: String)
            if let inFlight = memory.inFlight {
                // Interrupted before it ended (a crash or kill): it was not processed yet; run it again.
                proposal = (inFlight.name, inFlight.digest, inFlight.commit)
                report.note("resuming \(Output.escaped(inFlight.name, keepingNewlines: false)), interrupted before it ended")
            } else {
                guard let next = try nextProposal(patches: patches, proposer: proposer, build: build, home: home, memory: memory) else { break }
                switch next {
                case .rejected(let name, let digest, let reason):
                    finish(&memory, AgentMemory.InFlight(name: name, digest: digest, commit: "", startedAt: WallClock.now()),
                           accepted: false, reason: reason, id: nil, version: nil)
                    memory.run?.iterations += 1
                    try store.save(memory)
                    try settle(name, accepted: false, reason: reason, patches: patches)
                    report.outcome(memory.processed.last!, restarted: false)
                    continue
                case .ready(let name, let digest, let commit):
                    proposal = (name, digest, commit)
                }
                memory.inFlight = AgentMemory.InFlight(name: proposal.name, digest: proposal.digest, commit: proposal.commit, startedAt: WallClock.now())
                memory.run?.iterations += 1
                try store.save(memory)
            }
            report.note("\(Output.escaped(proposal.name, keepingNewlines: false)): build, test, verify")
            var options = Upgrader.UpgradeOptions()
            let saved = memory
            options.beforeRestart = {
                try store.save(saved)
                try AutodevState.update(in: home.state) { $0.pendingTransaction = "agent:" + proposal.name }
            }
            do {
                _ = try session.upgrader.upgrade(fromSource: build, options: options)
                // Not reached: an accepted proposal continues in the new version, through exec.
                return ExitCode.failure
            } catch where isAboutTheMachine(error) {
                // Not the proposal's fault (cancelled, no toolchain, the home locked or read-only):
                // stop with the proposal unprocessed, to be taken again next time.
                try revert(memory.inFlight!, in: build.source, home: home)
                memory.inFlight = nil
                memory.run?.iterations -= 1
                try store.save(memory)
                throw error
            } catch {
                let inFlight = memory.inFlight!
                try revert(inFlight, in: build.source, home: home)
                finish(&memory, inFlight, accepted: false, reason: "\(error)", id: nil, version: nil)
                try store.save(memory)
                try settle(inFlight.name, accepted: false, reason: "\(error)", patches: patches)
                report.outcome(memory.processed.last!, restarted: false)
            }
        }
        report.summary(memory)
        return ExitCode.success
    }

    static func status(_ arguments: ParsedArguments) throws -> Int32 {
        let (session, code) = try Session.begin(arguments)
        guard let session else { return code }
        let memory = try AgentMemory.store(session.home).load()?.state ?? AgentMemory()
        if session.json {
            try Output.json(memory)
        } else {
            Output.out("Proposals: \(memory.processed.count) processed, \(memory.accepted) accepted, \(memory.rejected) rejected; \(memory.restarts) restart(s)")
            Output.out("In flight: " + (memory.inFlight.map { "\(Output.escaped($0.name, keepingNewlines: false)) (since \(WallClock.iso8601($0.startedAt)))" } ?? "none"))
            for proposal in memory.processed.suffix(20) {
                Output.out("  \(WallClock.iso8601(proposal.finishedAt))  \(proposal.outcome == "accepted" ? "accepted" : "rejected")  \(Output.escaped(proposal.name, keepingNewlines: false))"
                           + (proposal.id.map { "  → \(proposal.version ?? "?") (\($0.prefix(12)))" } ?? "")
                           + (proposal.reason.map { "  " + headline(of: $0) } ?? ""))
            }
        }
        return ExitCode.success
    }

    // MARK: - Internals

    /// The line of a rejection reason that says most: the first compiler error or test issue,
    /// else the first line.
    static func headline(of reason: String) -> String {
        let lines = reason.split(separator: "\n").map { $0.drop { $0 == " " } }
        let problem = lines.first { $0.contains(": error: ") || $0.contains("recorded an issue") } ?? lines.first ?? ""
        return String(problem)
    }

    /// Errors that say nothing of the proposal.
    static func isAboutTheMachine(_ error: any Error) -> Bool {
        if error is Subprocess.Cancelled { return true }
        guard let error = error as? UpgradeError else { return false }
        return [.toolMissing, .locked, .homeNotWritable, .restartLoop, .notInitialized, .insufficientSpace, .cancelled].contains(error.code)
    }

    enum Next {
        case ready(name: String, digest: String, commit: String)
        case rejected(name: String, digest: String, reason: String)
    }

    /// The next proposal, applied and committed in the working copy; nil when there is none.
    static func nextProposal(patches: String?, proposer: String?, build: SourceBuild, home: Home, memory: AgentMemory) throws -> Next? {
        let source = build.source
        if let patches {
            let done = Set(memory.processed.map(\.digest))
            for name in try FileSystem.contentsOfDirectory(patches) where name.hasSuffix(".patch") || name.hasSuffix(".diff") {
                let path = patches + "/" + name
                let digest = try SHA256.hash(file: path).hex
                guard !done.contains(digest) else { continue } // already processed (moved aside when it ended)
                do {
                    try WorkingCopy.git(["apply", "--index", path], in: source, logs: home.logs)
                } catch {
                    return .rejected(name: name, digest: digest, reason: "the patch does not apply: \(error)")
                }
                try WorkingCopy.git(["commit", "--quiet", "-m", "agent: \(name)"], in: source, logs: home.logs)
                return .ready(name: name, digest: digest, commit: try head(source, home))
            }
            return nil
        }
        // A proposer edits the working copy; what it changed is the proposal.
        var configuration = Subprocess.Configuration(executable: "/bin/sh", arguments: ["-c", proposer! + " \"$0\"", source],
                                                     environment: ProcessControl.environment().filter { !$0.key.hasPrefix("AUTODEV_") }
                                                         .merging(["AUTODEV_WORKING_COPY": source]) { $1 })
        configuration.workingDirectory = source
        let log = home.logs + "/proposer.log"
        configuration.outputPath = log
        configuration.errorPath = log
        let status = try Subprocess.run(configuration)
        guard status.isSuccess else { throw ReleaseError("The proposer '\(proposer!)' \(status); its output is in \(log)") }
        guard !(try WorkingCopy.git(["status", "--porcelain"], in: source, logs: home.logs)).isEmpty else { return nil }
        let name = "proposal-\(memory.processed.count + 1)"
        try WorkingCopy.git(["add", "-A"], in: source, logs: home.logs)
        let diff = try WorkingCopy.git(["diff", "--cached"], in: source, logs: home.logs)
        try WorkingCopy.git(["commit", "--quiet", "-m", "agent: \(name)"], in: source, logs: home.logs)
        return .ready(name: name, digest: SHA256.hash(data: Array(diff.utf8)).hex, commit: try head(source, home))
    }

    static func head(_ source: String, _ home: Home) throws -> String {
        String(try WorkingCopy.git(["rev-parse", "HEAD"], in: source, logs: home.logs).prefix(40))
    }

    /// Takes a proposal's commit back out of the working copy (if it is still the newest).
    static func revert(_ inFlight: AgentMemory.InFlight, in source: String, home: Home) throws {
        guard !inFlight.commit.isEmpty, try head(source, home) == inFlight.commit else { return }
        try WorkingCopy.git(["reset", "--quiet", "--hard", "HEAD~1"], in: source, logs: home.logs)
    }

    static func finish(_ memory: inout AgentMemory, _ inFlight: AgentMemory.InFlight, accepted: Bool, reason: String?,
                       id: SHA256Digest?, version: String?) {
        memory.processed.append(AgentMemory.Proposal(
            name: inFlight.name, digest: inFlight.digest, outcome: accepted ? "accepted" : "rejected", reason: accepted ? nil : reason,
            version: accepted ? version : nil, id: accepted ? id?.hex : nil, seconds: WallClock.now() - inFlight.startedAt,
            finishedAt: WallClock.now()))
        memory.inFlight = nil
    }

    /// Moves a processed patch to `applied/` or `rejected/` (with a `.reason` file beside it).
    static func settle(_ name: String, accepted: Bool, reason: String?, patches: String?) throws {
        guard let patches, FileSystem.exists(patches + "/" + name) else { return }
        let directory = patches + "/" + (accepted ? "applied" : "rejected")
        try FileSystem.createDirectory(directory, mode: 0o755)
        try FileSystem.rename(patches + "/" + name, to: directory + "/" + name)
        if let reason, !accepted { try FileSystem.writeAtomically(directory + "/" + name + ".reason", Array((reason + "\n").utf8)) }
    }

    /// Prints what happened, as text or one JSON object per event.
    struct Reporter {
        let json: Bool

        func note(_ text: String) {
            if !json { Output.err("agent: \(Output.escaped(text))") }
        }

        func outcome(_ proposal: AgentMemory.Proposal, restarted: Bool) {
            if json {
                try? Output.jsonLine(AgentEvent(event: proposal.outcome, proposal: proposal.name, reason: proposal.reason,
                                                version: proposal.version, id: proposal.id, pid: ProcessControl.id,
                                                restarted: restarted, arguments: CommandLine.arguments,
                                                environmentSHA256: Session.environmentDigest()))
            } else if proposal.outcome == "accepted" {
                Output.out("agent: \(Output.escaped(proposal.name, keepingNewlines: false)) accepted: now running autodev \(proposal.version ?? "?") (\(proposal.id?.prefix(12) ?? "?")) in process \(ProcessControl.id)")
            } else {
                Output.out("agent: \(Output.escaped(proposal.name, keepingNewlines: false)) rejected: \(Output.escaped(proposal.reason ?? ""))")
            }
        }

        func summary(_ memory: AgentMemory) {
            if json {
                try? Output.jsonLine(AgentEvent(event: "done", proposal: nil, reason: nil, version: autodevVersion, id: nil,
                                                pid: ProcessControl.id, restarted: false, arguments: CommandLine.arguments,
                                                environmentSHA256: Session.environmentDigest()))
            } else {
                Output.out("agent: done: \(memory.accepted) accepted, \(memory.rejected) rejected in all; running autodev \(autodevVersion)")
            }
        }
    }

    struct AgentEvent: Codable {
        var event: String
        var proposal: String?
        var reason: String?
        var version: String?
        var id: String?
        var pid: Int32
        var restarted: Bool
        var arguments: [String]
        var environmentSHA256: String
    }
}
