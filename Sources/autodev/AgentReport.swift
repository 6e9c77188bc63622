import Agent
import Platform
import ReleaseChannel

/// Shows the agent's events: lines of text (notes on standard error, outcomes on standard
/// output), or with `--json` one JSON object per outcome on standard output.
struct AgentReport {
    let json: Bool

    func show(_ event: AgentEvent) {
        switch event {
        case .resuming(let name): note("resuming \(DisplayText.name(name)), interrupted before it ended")
        case .upgrading(let name): note("\(DisplayText.name(name)): build, test, verify")
        case .reloadingModule(let name, let module): note("\(DisplayText.name(name)) changes only the module \(module): build, test, hot reload")
        case .finished(let proposal, let restarted): outcome(proposal, restarted: restarted)
        case .done(let memory): summary(memory)
        case .probation(let number, let passed, let failure): probation(number: number, passed: passed, failure: failure)
        case .budgetReached(let reason):
            if json {
                try? Output.jsonLine(BudgetLine(event: "budget-reached", reason: reason, pid: ProcessControl.id))
            } else {
                Output.out("agent: budget reached: \(DisplayText.message(reason)); no more proposals in this run")
            }
        }
    }

    /// An accepted version's probation ended.
    func probation(number: Int, passed: Int, failure: String?) {
        if json {
            try? Output.jsonLine(ProbationLine(event: "probation", number: number, passed: passed, failure: failure, pid: ProcessControl.id))
        } else if let failure {
            Output.out("agent: version #\(number) failed its probation after \(passed) passing sample(s): \(DisplayText.message(failure))")
        } else {
            Output.out("agent: version #\(number) passed its probation: \(passed) sample(s)")
        }
    }

    /// The rollback of a version that failed its probation starts.
    func rollingBack(to id: String?, reason: String) {
        note("rolling back to \(id.map { String($0.prefix(12)) } ?? "the previous version"): the version on probation \(reason)")
    }

    struct BudgetLine: Encodable {
        var event: String
        var reason: String
        var pid: Int32
    }

    struct ProbationLine: Encodable {
        var event: String
        var number: Int
        var passed: Int
        var failure: String?
        var pid: Int32
    }

    /// What the background check found: an update, or a damaged stored version.
    func notice(_ notice: BackgroundChecker.Notice) {
        switch notice {
        case .updateAvailable(let offer): updateAvailable(offer)
        case .integrityProblem(let problem): integrityProblem(problem)
        }
    }

    /// The background integrity check found a stored version damaged.
    func integrityProblem(_ problem: String) {
        if json {
            try? Output.jsonLine(IntegrityLine(event: "integrity-problem", problem: problem, pid: ProcessControl.id))
        } else {
            Output.out("agent: integrity: \(DisplayText.name(problem)); run 'autodev doctor --repair'")
        }
    }

    struct IntegrityLine: Encodable {
        var event: String
        var problem: String
        var pid: Int32
    }

    /// A release newer than the running version was found by the background check.
    func updateAvailable(_ offer: ReleaseOffer) {
        if json {
            try? Output.jsonLine(UpdateLine(event: "update-available", version: offer.facts.version.description,
                                            critical: offer.facts.critical, pid: ProcessControl.id))
        } else {
            Output.out("agent: update available: \(offer.facts.version)" + (offer.facts.critical ? " (critical)" : "")
                       + "; run 'autodev update apply', or pass --updates to install it between proposals")
        }
    }

    /// The background check installs a release now (the policy allows it and no proposal is in flight).
    func installing(_ offer: ReleaseOffer) {
        if json {
            try? Output.jsonLine(UpdateLine(event: "update-installing", version: offer.facts.version.description,
                                            critical: offer.facts.critical, pid: ProcessControl.id))
        } else {
            note("installing autodev \(offer.facts.version) from the release channel between proposals")
        }
    }

    /// The line of a rejection reason that says most: the first compiler error or test issue,
    /// else the first line.
    static func headline(of reason: String) -> String {
        let lines = reason.split(separator: "\n").map { $0.drop { $0 == " " } }
        let problem = lines.first { $0.contains(": error: ") || $0.contains("recorded an issue") } ?? lines.first ?? ""
        return String(problem)
    }

    // MARK: - Internals

    private func note(_ text: String) {
        if !json { Output.err("agent: \(DisplayText.message(text))") }
    }

    private func outcome(_ proposal: AgentMemory.Proposal, restarted: Bool) {
        if json {
            try? Output.jsonLine(Line(event: proposal.outcome, proposal: proposal.name, reason: proposal.reason,
                                      version: proposal.version, id: proposal.id, pid: ProcessControl.id,
                                      restarted: restarted, arguments: CommandLine.arguments,
                                      environmentSHA256: Session.environmentDigest(), number: proposal.number,
                                      parent: proposal.parent, fitness: proposal.fitness, flags: proposal.flags))
        } else if proposal.isAccepted && proposal.id == nil {
            Output.out("agent: \(DisplayText.name(proposal.name)) accepted: \(DisplayText.message(proposal.version ?? "?")), no restart, still process \(ProcessControl.id)")
        } else if proposal.isAccepted {
            Output.out("agent: \(DisplayText.name(proposal.name)) accepted: now running autodev \(proposal.version ?? "?") (\(proposal.id?.prefix(12) ?? "?")) in process \(ProcessControl.id)"
                       + (proposal.fitness.map { "; fitness: " + $0.summary } ?? ""))
        } else {
            Output.out("agent: \(DisplayText.name(proposal.name)) rejected: \(DisplayText.message(proposal.reason ?? ""))")
        }
    }

    private func summary(_ memory: AgentMemory) {
        if json {
            try? Output.jsonLine(Line(event: "done", proposal: nil, reason: nil, version: autodevVersion, id: nil,
                                      pid: ProcessControl.id, restarted: false, arguments: CommandLine.arguments,
                                      environmentSHA256: Session.environmentDigest()))
        } else {
            Output.out("agent: done: \(memory.accepted) accepted, \(memory.rejected) rejected in all; running autodev \(autodevVersion)")
        }
    }

    /// An update event as a JSON line.
    private struct UpdateLine: Codable {
        var event: String
        var version: String
        var critical: Bool
        var pid: Int32
    }

    /// One event as a JSON line.
    private struct Line: Codable {
        var event: String
        var proposal: String?
        var reason: String?
        var version: String?
        var id: String?
        var pid: Int32
        var restarted: Bool
        var arguments: [String]
        var environmentSHA256: String
        var number: Int? = nil
        var parent: Int? = nil
        var fitness: FitnessComparison? = nil
        var flags: [String]? = nil
    }
}

/// `autodev agent archive`: the agent's versions as a tree.
enum AgentArchive {
    /// One node of the tree as `--json` prints it.
    struct Node: Encodable {
        var number: Int
        var parent: Int?
        var name: String
        var outcome: String
        var reason: String?
        var version: String?
        var id: String?
        var commit: String?
        var fitness: FitnessComparison?
        var flags: [String]?
        var probation: String?
        var pruned: Bool?
    }

    struct Report: Encodable {
        var root: AgentMemory.Root?
        var head: Int
        var probation: AgentMemory.Probation?
        var fitnessPin: FitnessPin?
        var nodes: [Node]
    }

    static func show(_ arguments: AgentArchiveCommand) throws -> Int32 {
        let (session, code) = try Session.begin(arguments)
        guard let session else { return code }
        if arguments.prune { return try prune(session) }
        let memory = try AgentMemory.store(in: session.home).load()?.state ?? AgentMemory()
        let nodes = memory.processed.enumerated().map { index, proposal in
            Node(number: proposal.number ?? index + 1, parent: proposal.parent, name: proposal.name, outcome: proposal.outcome,
                 reason: proposal.reason, version: proposal.version, id: proposal.id, commit: proposal.commit,
                 fitness: proposal.fitness, flags: proposal.flags, probation: proposal.probation, pruned: proposal.pruned)
        }
        if session.json {
            try Output.json(Report(root: memory.root, head: memory.currentHead, probation: memory.probation, fitnessPin: memory.fitnessPin, nodes: nodes))
            return ExitCode.success
        }
        let head = memory.currentHead
        let rootText = memory.root.map { "version \($0.version ?? "?")" + ($0.id.map { " (\($0.prefix(12)))" } ?? "") + " at commit \($0.commit.prefix(12))" } ?? "the version the agent started from"
        Output.out(DisplayText.name("#0 root: \(rootText)") + (head == 0 ? "  ← head" : ""))
        // Children by parent; each entry is shown once and each number walked once, whatever the
        // file links (a damaged memory may loop or repeat numbers); walked without recursion,
        // however deep the lineage.
        var children: [Int: [Int]] = [:]
        for (index, node) in nodes.enumerated() { children[node.parent ?? 0, default: []].append(index) }
        var shownEntries = Set<Int>(), walkedNumbers: Set<Int> = [0]
        var stack: [(index: Int, depth: Int, last: Bool)] = (children[0] ?? []).reversed().enumerated().map { ($0.element, 0, $0.offset == 0) }
        while let (index, depth, last) = stack.popLast() {
            let node = nodes[index]
            guard walkedNumbers.insert(node.number).inserted else { continue }
            shownEntries.insert(index)
            // Past 32 levels the indentation stops growing and the depth is written instead.
            let indent = depth <= 32 ? String(repeating: "   ", count: depth) : String(repeating: "   ", count: 32) + "(\(depth)) "
            Output.out(indent + (last ? "└─ " : "├─ ") + line(node) + (node.number == head && head != 0 ? "  ← head" : ""))
            let next = (children[node.number] ?? []).filter { !walkedNumbers.contains(nodes[$0].number) }
            for (offset, child) in next.reversed().enumerated() { stack.append((child, depth + 1, offset == 0)) }
        }
        // What no walk from the root reaches: a parent that loops or is missing, a repeated number.
        for (index, node) in nodes.enumerated() where !shownEntries.contains(index) {
            Output.out("?─ " + line(node) + DisplayText.name(" (its parent #\(node.parent.map(String.init) ?? "?") does not lead back to the root, or its number is repeated: the memory is damaged)"))
        }
        return ExitCode.success
    }

    /// `agent archive --prune`: marks what is dropped in the memory first, then drops the
    /// commits (a pruning cut short is finished by the next: every marked number is dropped).
    static func prune(_ session: Session) throws -> Int32 {
        let store = AgentMemory.store(in: session.home)
        guard var memory = try store.load()?.state else {
            if session.json { try Output.json(ArchivePruning(kept: [0], pruned: [])) } else { Output.out("The archive is empty: nothing to prune.") }
            return ExitCode.success
        }
        guard !memory.runIsInProgress else {
            throw AgentError(.runInProgress, "An agent run (pid \(memory.run?.processID ?? 0)) is working on \(session.home.directory): prune the archive when it has ended")
        }
        let stored = Set(try session.upgrader.status().versions.filter(\.present).map(\.id))
        let result = memory.prune(storedIDs: stored)
        if !result.pruned.isEmpty { try store.save(memory) }
        let marked = memory.processed.indices.filter { memory.processed[$0].pruned == true }.map { $0 + 1 }
        try WorkingCopy(directory: session.home.workingCopy, logs: session.home.logs).dropArchived(marked)
        if session.json {
            try Output.json(result)
        } else {
            Output.out(result.pruned.isEmpty ? "Nothing to prune: every kept commit is on a lineage that is kept."
                : "Pruned \(result.pruned.count) proposal(s): " + result.pruned.map { "#\($0)" }.joined(separator: ", ") + ".")
            Output.out("Kept: " + result.kept.map { "#\($0)" }.joined(separator: ", ") + ".")
        }
        return ExitCode.success
    }

    /// `#2 accepted 02.patch → 1.2.0 (abc123456789): startup_ms 3.1 → 2.8 (+9.7%, better)`.
    static func line(_ node: Node) -> String {
        // Every part comes from the memory file: escaped as a whole, on one line.
        var text = "#\(node.number) \(node.outcome) \(node.name)"
        if let version = node.version, let id = node.id { text += " → \(version) (\(id.prefix(12)))" }
        if let flags = node.flags { text += " [" + flags.joined(separator: ", ") + "]" }
        if let probation = node.probation { text += " (probation \(probation))" }
        if node.pruned == true { text += " (pruned)" }
        if let fitness = node.fitness { text += ": " + fitness.summary }
        else if let reason = node.reason { text += ": " + AgentReport.headline(of: reason) }
        return DisplayText.name(text)
    }
}
