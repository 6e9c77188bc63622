import Agent
import Foundation
import Platform
import Storage
import Testing

@Suite("The loop")
struct AgentLoopTests {
    @Test("an in-flight proposal found at a start is reported and run again, without being applied again")
    func interruptedProposal() throws {
        let fixture = try Fixture()
        defer { fixture.cleanUp() }
        try fixture.makePatch("01.patch", changing: "a.txt")
        let base = try fixture.head()
        // The first run gets as far as the exec, which never happens: the process "dies" there.
        var events: [AgentEvent] = []
        let first = try fixture.loop(upgrade: fixture.reachingRestart()) { events.append($0) }.run(after: nil)
        #expect(first == .upgradeReturned)
        #expect(events == [.upgrading(name: "01.patch")])
        let pending = try #require(try fixture.memory.load()?.state)
        let inFlight = try #require(pending.inFlight)
        #expect(inFlight.name == "01.patch")
        #expect(inFlight.commit == (try fixture.head()))
        #expect(pending.run?.iterations == 1)

        // The next start is not that proposal's restart: it is taken up again as it stands.
        events = []
        let second = try fixture.loop { events.append($0) }.run(after: nil)
        #expect(events.prefix(2) == [.resuming(name: "01.patch"), .upgrading(name: "01.patch")])
        guard case .finished(let memory) = second else { Issue.record("\(second)"); return }
        #expect(memory.processed.map(\.name) == ["01.patch"])
        #expect(memory.processed.first?.reason == "does not build: agent: 01.patch")
        #expect(memory.inFlight == nil)
        #expect(try fixture.head() == base)
        #expect(try fixture.git(["log", "--format=%s"]) == "initial\n")
    }

    @Test("an accepted proposal is recorded by the version it exec'd, and its patch moves to applied/")
    func acceptedAfterRestart() throws {
        let fixture = try Fixture()
        defer { fixture.cleanUp() }
        try fixture.makePatch("01.patch", changing: "a.txt")
        try fixture.makePatch("02.patch", changing: "b.txt")
        let noted = fixture.root + "/before-restart"
        var loop = fixture.loop(upgrade: fixture.reachingRestart())
        loop.beforeRestart = { name in try FileSystem.writeAtomically(noted, Array(name.utf8)) }
        #expect(try loop.run(after: nil) == .upgradeReturned)
        #expect(try String(contentsOfFile: noted, encoding: .utf8) == "01.patch")
        let applied = try fixture.head()

        // The new version's start: it confirmed, and goes on with the next proposal.
        var events: [AgentEvent] = []
        let ending = try fixture.loop { events.append($0) }
            .run(after: AgentLoop.Restart(accepted: true, id: String(repeating: "f", count: 64), version: "9.9.9"))
        guard case .finished(let proposal, restarted: true)? = events.first else { Issue.record("\(events)"); return }
        #expect(proposal.name == "01.patch" && proposal.isAccepted && proposal.version == "9.9.9")
        #expect(events.dropFirst().first == .upgrading(name: "02.patch"))
        guard case .finished(let memory) = ending else { Issue.record("\(ending)"); return }
        #expect(memory.processed.map(\.outcome) == ["accepted", "rejected"])
        #expect(memory.restarts == 1)
        #expect(try fixture.head() == applied)
        #expect(fixture.contents(fixture.patches + "/applied") == ["01.patch"])
        #expect(fixture.contents(fixture.patches + "/rejected") == ["02.patch", "02.patch.reason"])
    }

    @Test("a new version that failed its confirmation is reverted and rejected with the reason")
    func rolledBackAfterRestart() throws {
        let fixture = try Fixture()
        defer { fixture.cleanUp() }
        try fixture.makePatch("01.patch", changing: "a.txt")
        let base = try fixture.head()
        _ = try fixture.loop(upgrade: fixture.reachingRestart()).run(after: nil)
        #expect(try fixture.head() != base)
        var events: [AgentEvent] = []
        _ = try fixture.loop { events.append($0) }
            .run(after: AgentLoop.Restart(accepted: false, reason: "health check failed"))
        guard case .finished(let proposal, restarted: true)? = events.first else { Issue.record("\(events)"); return }
        #expect(!proposal.isAccepted && proposal.reason == "health check failed")
        #expect(try fixture.head() == base)
        #expect(try String(contentsOfFile: fixture.patches + "/rejected/01.patch.reason", encoding: .utf8) == "health check failed\n")
    }

    @Test("an error that is not the proposal's fault stops the loop and leaves the proposal to be taken again")
    func machineError() throws {
        let fixture = try Fixture()
        defer { fixture.cleanUp() }
        try fixture.makePatch("01.patch", changing: "a.txt")
        let base = try fixture.head()
        let cancelled = ProposalUpgrade(run: { _ in throw Subprocess.Cancelled(signal: SIGTERM) })
        var events: [AgentEvent] = []
        #expect(throws: Subprocess.Cancelled.self) { try fixture.loop(upgrade: cancelled) { events.append($0) }.run(after: nil) }
        #expect(events == [.upgrading(name: "01.patch")])
        let memory = try #require(try fixture.memory.load()?.state)
        #expect(memory.processed.isEmpty)
        #expect(memory.inFlight == nil)
        #expect(memory.run?.iterations == 0)
        #expect(try fixture.head() == base)
        #expect(fixture.contents(fixture.patches) == ["01.patch"])

        // The next run takes it.
        events = []
        _ = try fixture.loop { events.append($0) }.run(after: nil)
        #expect(events.first == .upgrading(name: "01.patch"))
    }

    @Test("a rejected proposal is reverted and the loop goes on; the limit bounds a run")
    func limit() throws {
        let fixture = try Fixture()
        defer { fixture.cleanUp() }
        for (index, file) in Fixture.files.enumerated() { try fixture.makePatch("0\(index + 1).patch", changing: file) }
        let base = try fixture.head()
        let ending = try fixture.loop(maxIterations: 2).run(after: nil)
        guard case .finished(let memory) = ending else { Issue.record("\(ending)"); return }
        #expect(memory.processed.map(\.name) == ["01.patch", "02.patch"])
        #expect(memory.run?.iterations == 2)
        #expect(try fixture.head() == base)
        #expect(fixture.contents(fixture.patches) == ["03.patch", "rejected"])
        // A new run counts from zero.
        let next = try fixture.loop(maxIterations: 1).run(after: nil)
        guard case .finished(let after) = next else { Issue.record("\(next)"); return }
        #expect(after.processed.map(\.name) == ["01.patch", "02.patch", "03.patch"])
    }

    @Test("the memory is saved with the proposal in flight before the upgrade runs")
    func savedBeforeUpgrade() throws {
        let fixture = try Fixture()
        defer { fixture.cleanUp() }
        try fixture.makePatch("01.patch", changing: "a.txt")
        let store = fixture.memory
        // What the upgrade finds on disk when it starts is what a killed process leaves behind.
        let reading = ProposalUpgrade(run: { _ in
            let memory = try store.load()?.state
            throw BuildFailed(description: "in flight: \(memory?.inFlight?.name ?? "nothing"), iterations \(memory?.run?.iterations ?? -1)")
        })
        let ending = try fixture.loop(upgrade: reading).run(after: nil)
        guard case .finished(let memory) = ending else { Issue.record("\(ending)"); return }
        #expect(memory.processed.first?.reason == "in flight: 01.patch, iterations 1")
    }
}
