import Agent
import Foundation
import Storage
import Testing

@Suite("Memory")
struct AgentMemoryTests {
    @Test("the memory file round-trips, with the proposal in flight")
    func roundTrip() throws {
        let fixture = try Fixture()
        defer { fixture.cleanUp() }
        var memory = AgentMemory()
        memory.processed = [
            AgentMemory.Proposal(name: "01.patch", digest: String(repeating: "a", count: 64), outcome: AgentMemory.Proposal.accepted,
                                 version: "9.9.9", id: String(repeating: "b", count: 64), seconds: 12.5, finishedAt: 1_700_000_000.25),
            AgentMemory.Proposal(name: "02.patch", digest: String(repeating: "c", count: 64), outcome: AgentMemory.Proposal.rejected,
                                 reason: "error: x\nsecond line", seconds: 3, finishedAt: 1_700_000_010),
        ]
        memory.inFlight = AgentMemory.InFlight(name: "03.patch", digest: String(repeating: "d", count: 64),
                                               commit: String(repeating: "e", count: 40), startedAt: 1_700_000_020)
        memory.run = AgentMemory.Run(startedAt: 1_700_000_000, iterations: 3)
        memory.restarts = 1
        try fixture.memory.save(memory)
        #expect(fixture.memory.path == fixture.home.root + "/state/agent.json")
        let loaded = try #require(try fixture.memory.load())
        #expect(loaded.state == memory)
        #expect(loaded.foundSchema == 1)
        #expect(loaded.state.accepted == 1)
        #expect(loaded.state.rejected == 1)
    }

    @Test("a memory file written by earlier versions reads as before, and unknown fields are ignored")
    func existingFormat() throws {
        let fixture = try Fixture()
        defer { fixture.cleanUp() }
        try FileManager.default.createDirectory(atPath: fixture.home.state, withIntermediateDirectories: true)
        let text = """
            {"schema":1}
            {"inFlight":{"commit":"0123456789012345678901234567890123456789","digest":"ff","name":"04-version.patch","startedAt":1763850000.5},\
            "processed":[{"digest":"aa","finishedAt":1763840000,"id":"bb","name":"01-version.patch","outcome":"accepted","seconds":40.5,"version":"9.9.9"},\
            {"digest":"cc","finishedAt":1763840100,"name":"02-does-not-compile.patch","outcome":"rejected","reason":"error","seconds":20}],\
            "restarts":1,"run":{"iterations":1,"startedAt":1763850000},"addedLater":true}

            """
        try text.write(toFile: fixture.home.state + "/agent.json", atomically: true, encoding: .utf8)
        let memory = try #require(try fixture.memory.load()?.state)
        #expect(memory.processed.map(\.name) == ["01-version.patch", "02-does-not-compile.patch"])
        #expect(memory.processed.map(\.isAccepted) == [true, false])
        #expect(memory.processed[0].version == "9.9.9")
        #expect(memory.processed[1].reason == "error")
        #expect(memory.inFlight == AgentMemory.InFlight(name: "04-version.patch", digest: "ff",
                                                       commit: "0123456789012345678901234567890123456789", startedAt: 1763850000.5))
        #expect(memory.run == AgentMemory.Run(startedAt: 1763850000, iterations: 1))
        #expect(memory.restarts == 1)
    }

    @Test("finishing keeps a rejection's reason and an acceptance's version, and clears the one in flight")
    func finish() {
        var memory = AgentMemory()
        let inFlight = AgentMemory.InFlight(name: "p", digest: "d", commit: "c", startedAt: 0)
        memory.inFlight = inFlight
        let rejected = memory.finish(inFlight, accepted: false, reason: "why", id: "id", version: "1.0")
        #expect(memory.inFlight == nil)
        #expect(rejected.reason == "why" && rejected.id == nil && rejected.version == nil && !rejected.isAccepted)
        let accepted = memory.finish(inFlight, accepted: true, reason: "why", id: "id", version: "1.0")
        #expect(accepted.reason == nil && accepted.id == "id" && accepted.version == "1.0" && accepted.isAccepted)
        #expect(memory.processed == [rejected, accepted])
        #expect(accepted.seconds > 0)
    }
}
