import Agent
import Foundation
import Testing

@Suite("Proposals")
struct ProposalSourceTests {
    @Test("patches are taken in name order, and only *.patch and *.diff")
    func nameOrder() throws {
        let fixture = try Fixture()
        defer { fixture.cleanUp() }
        try fixture.makePatch("b.patch", changing: "b.txt")
        try fixture.makePatch("a.diff", changing: "a.txt")
        try fixture.makePatch("c.txt", changing: "c.txt")
        try fixture.makePatch("c.patch.orig", changing: "c.txt")
        try "notes\n".write(toFile: fixture.patches + "/README", atomically: true, encoding: .utf8)

        let pending = try ProposalSource.patches(directory: fixture.patches).pendingPatches(AgentMemory())
        #expect(pending.map(\.name) == ["a.diff", "b.patch"])

        // Through the loop: each is applied and committed before its upgrade runs.
        var events: [AgentEvent] = []
        let ending = try fixture.loop { events.append($0) }.run(after: nil)
        let finished = events.compactMap { if case .finished(let proposal, _) = $0 { proposal } else { nil } }
        #expect(finished.map(\.name) == ["a.diff", "b.patch"])
        #expect(finished.map(\.reason) == ["does not build: agent: a.diff", "does not build: agent: b.patch"])
        #expect(events.first == .upgrading(name: "a.diff"))
        guard case .finished(let memory) = ending else { Issue.record("the loop did not finish: \(ending)"); return }
        #expect(memory.processed.map(\.name) == ["a.diff", "b.patch"])
        #expect(fixture.contents(fixture.patches) == ["README", "c.patch.orig", "c.txt", "rejected"])
    }

    @Test("a proposal committed by a run that died before recording it is taken from its commit, not applied again")
    func committedButNotRecorded() throws {
        let fixture = try Fixture()
        defer { fixture.cleanUp() }
        try fixture.makePatch("01.patch", changing: "a.txt")
        let source = ProposalSource.patches(directory: fixture.patches)
        // The commit is made, then the process dies: the memory never hears of it.
        try fixture.workingCopy.requireClean()
        guard case .ready(_, _, let commit)? = try source.next(in: fixture.workingCopy, memory: AgentMemory()) else {
            Issue.record("the patch was not taken"); return
        }
        #expect(try fixture.head() == commit)

        var events: [AgentEvent] = []
        _ = try fixture.loop { events.append($0) }.run(after: nil)
        let finished = events.compactMap { if case .finished(let proposal, _) = $0 { proposal } else { nil } }
        // Rejected for what its upgrade said, not because the patch no longer applies.
        #expect(finished.map(\.name) == ["01.patch"])
        #expect(finished.first?.reason == "does not build: agent: 01.patch", "\(finished)")
        // Taken back out as the one commit it was.
        #expect(try fixture.head() != commit)
        #expect(try fixture.subject() != "agent: 01.patch")
    }

    @Test("a processed proposal is never offered again, even when its file was not moved aside")
    func processedNotOfferedAgain() throws {
        let fixture = try Fixture()
        defer { fixture.cleanUp() }
        try fixture.makePatch("01.patch", changing: "a.txt")
        try fixture.makePatch("02.patch", changing: "b.txt")
        let source = ProposalSource.patches(directory: fixture.patches)
        let first = try #require(try source.pendingPatches(AgentMemory()).first)

        // As if the process died after saving the memory and before settling the patch.
        var memory = AgentMemory()
        memory.finish(AgentMemory.InFlight(name: first.name, digest: first.digest, commit: "", startedAt: 0),
                      accepted: false, reason: "does not build", id: nil, version: nil)
        try fixture.memory.save(memory)
        #expect(try source.pendingPatches(memory).map(\.name) == ["02.patch"])

        var events: [AgentEvent] = []
        _ = try fixture.loop { events.append($0) }.run(after: nil)
        #expect(events.compactMap { if case .upgrading(let name) = $0 { name } else { nil } } == ["02.patch"])
        #expect(fixture.contents(fixture.patches) == ["01.patch", "rejected"])

        // A second run finds nothing to do and changes nothing.
        let head = try fixture.head()
        events = []
        _ = try fixture.loop { events.append($0) }.run(after: nil)
        #expect(events.count == 1)
        #expect(try fixture.head() == head)
        #expect(try fixture.memory.load()?.state.processed.map(\.name) == ["01.patch", "02.patch"])
    }

    @Test("settling moves a rejected patch with its reason to rejected/ and an accepted one to applied/")
    func settling() throws {
        let fixture = try Fixture()
        defer { fixture.cleanUp() }
        try fixture.makePatch("good.patch", changing: "a.txt")
        try fixture.makePatch("bad.patch", changing: "b.txt")
        let source = ProposalSource.patches(directory: fixture.patches)
        try source.settle("good.patch", accepted: true, reason: nil)
        try source.settle("bad.patch", accepted: false, reason: "Home.swift:3:1: error: expected declaration")
        #expect(fixture.contents(fixture.patches) == ["applied", "rejected"])
        #expect(fixture.contents(fixture.patches + "/applied") == ["good.patch"])
        #expect(fixture.contents(fixture.patches + "/rejected") == ["bad.patch", "bad.patch.reason"])
        #expect(try String(contentsOfFile: fixture.patches + "/rejected/bad.patch.reason", encoding: .utf8)
            == "Home.swift:3:1: error: expected declaration\n")
        // Settling again (the file is gone) changes nothing; a proposer has nothing to settle.
        try source.settle("good.patch", accepted: false, reason: "again")
        try ProposalSource.proposer(command: "true").settle("good.patch", accepted: false, reason: "again")
        #expect(fixture.contents(fixture.patches + "/rejected") == ["bad.patch", "bad.patch.reason"])
    }

    @Test("a patch that does not apply is rejected with git's reason and leaves the working copy clean")
    func doesNotApply() throws {
        let fixture = try Fixture()
        defer { fixture.cleanUp() }
        try fixture.makePatch("stale.patch", changing: "a.txt")
        // The line the patch expects is gone.
        try fixture.write("a.txt", "something else\n")
        try fixture.git(["commit", "--quiet", "-am", "rewrite a.txt"])
        let head = try fixture.head()

        var events: [AgentEvent] = []
        _ = try fixture.loop { events.append($0) }.run(after: nil)
        let finished = events.compactMap { if case .finished(let proposal, let restarted) = $0 { (proposal, restarted) } else { nil } }
        let (proposal, restarted) = try #require(finished.first)
        #expect(finished.count == 1)
        #expect(!restarted)
        #expect(proposal.name == "stale.patch")
        #expect(proposal.outcome == AgentMemory.Proposal.rejected)
        let reason = try #require(proposal.reason)
        #expect(reason.hasPrefix("the patch does not apply: 'git apply --index "), "\(reason)")
        #expect(reason.contains("patch failed: a.txt:1"), "\(reason)")
        // It never got to an upgrade.
        #expect(!events.contains(.upgrading(name: "stale.patch")))
        #expect(try fixture.head() == head)
        #expect(try fixture.git(["status", "--porcelain"]).isEmpty)
        #expect(fixture.contents(fixture.patches + "/rejected") == ["stale.patch", "stale.patch.reason"])
        #expect(try String(contentsOfFile: fixture.patches + "/rejected/stale.patch.reason", encoding: .utf8) == reason + "\n")
    }

    @Test("a proposer's change is committed as proposal-<n>; a proposer that changes nothing ends the loop")
    func proposer() throws {
        let fixture = try Fixture()
        defer { fixture.cleanUp() }
        let head = try fixture.head()
        var events: [AgentEvent] = []
        let ending = try fixture.loop(.proposer(command: "true")) { events.append($0) }.run(after: nil)
        #expect(events.count == 1)
        guard case .done(let memory)? = events.first, case .finished(memory) = ending else {
            Issue.record("expected the loop to end at once: \(events)")
            return
        }
        #expect(memory.processed.isEmpty)
        #expect(try fixture.head() == head)

        // Edits a.txt once, then nothing; it gets the working copy as its argument and in the environment.
        let script = fixture.root + "/propose.sh"
        try """
            #!/bin/sh
            grep -q proposed "$1/a.txt" && exit 0
            echo proposed >> "$AUTODEV_WORKING_COPY/a.txt"
            """.write(toFile: script, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: script)
        let source = ProposalSource.proposer(command: script)
        let next = try source.next(in: fixture.workingCopy, memory: AgentMemory())
        guard case .ready(let name, let digest, let commit)? = next else { Issue.record("no proposal: \(String(describing: next))"); return }
        #expect(name == "proposal-1")
        #expect(digest.count == 64)
        #expect(commit == (try fixture.head()))
        #expect(try fixture.subject() == "agent: proposal-1")
        #expect(try fixture.read("a.txt") == "a.txt: first line\nproposed\n")
        // Unrecorded, the commit is the proposal still (its run died before recording it) …
        guard case .ready(let again, _, let same)? = try source.next(in: fixture.workingCopy, memory: AgentMemory()) else {
            Issue.record("the unrecorded proposal was not taken up again"); return
        }
        #expect(again == "proposal-1" && same == commit)
        // … and once processed, the proposer runs again and changes nothing: the loop ends.
        var recorded = AgentMemory()
        recorded.finish(AgentMemory.InFlight(name: name, digest: digest, commit: commit, startedAt: 0), accepted: true, reason: nil, id: "", version: "")
        #expect(try source.next(in: fixture.workingCopy, memory: recorded) == nil)
    }

    @Test("a failing proposer stops the loop with its status and log")
    func failingProposer() throws {
        let fixture = try Fixture()
        defer { fixture.cleanUp() }
        let error = try #require(throws: AgentError.self) {
            try fixture.loop(.proposer(command: "echo broken; exit 3")).run(after: nil)
        }
        #expect(error.code == .proposerFailed)
        #expect(error.description == "The proposer 'echo broken; exit 3' exited with status 3; its output is in \(fixture.home.logs)/proposer.log")
        #expect(try String(contentsOfFile: fixture.home.logs + "/proposer.log", encoding: .utf8) == "broken\n")
    }
}
