import Doctor
import Foundation
import Integrity
import Platform
import SelfUpgrade
import Storage
import Testing

@Suite("IntegrityScrubber: stored versions re-hashed at a bounded rate")
struct IntegrityScrubberTests {
    let root = FileManager.default.temporaryDirectory.appendingPathComponent("scrub-\(UUID().uuidString.prefix(8))").path
    let program = ProgramIdentity(name: "tool", version: "1.0.0", protocolVersion: 1)

    /// Stores `count` versions of `size` bytes each (content-addressed, as the store does).
    func store(_ count: Int, size: Int) throws -> [String] {
        var ids: [String] = []
        for index in 0..<count {
            let bytes = [UInt8](repeating: UInt8(index + 1), count: size)
            let id = SHA256.hash(data: bytes).hex
            try FileManager.default.createDirectory(atPath: root + "/versions/" + id, withIntermediateDirectories: true)
            try Data(bytes).write(to: URL(fileURLWithPath: root + "/versions/" + id + "/tool"))
            ids.append(id)
        }
        return ids.sorted()
    }

    func damage(_ id: String, at offset: UInt64 = 10) throws {
        let handle = try FileHandle(forUpdating: URL(fileURLWithPath: root + "/versions/" + id + "/tool"))
        try handle.seek(toOffset: offset)
        try handle.write(contentsOf: Data([0xFF]))
        try handle.close()
    }

    @Test("never reads more than the rate allows, and reports a damaged version only once all of it was read")
    func bounded() throws {
        defer { try? FileManager.default.removeItem(atPath: root) }
        let ids = try store(3, size: 300_000)
        try damage(ids[1])
        var scrubber = IntegrityScrubber(homeDirectory: root, program: program, bytesPerSecond: 100_000)
        var found: [(call: Int, finding: Finding)] = []
        for call in 0..<9 {
            found += scrubber.advance(now: Double(call)).map { (call, $0) }
            // The first call counts one second; each later one the second since the previous.
            #expect(scrubber.bytesHashed == (call + 1) * 100_000)
        }
        // The second version's last byte is read at the sixth call (600,000 bytes).
        #expect(found.count == 1)
        #expect(found.first?.call == 5)
        #expect(found.first?.finding.path == "versions/\(ids[1])/tool")
        #expect(scrubber.completedPasses == 1)
        #expect(scrubber.damaged.map(\.hex) == [ids[1]])
        // A long pause does not turn into a long read: one pass at most.
        _ = scrubber.advance(now: 1_000_000)
        #expect(scrubber.bytesHashed == 1_800_000)
        #expect(scrubber.completedPasses == 2)
    }

    @Test("a file changed between two calls is hashed again from its start")
    func changedMidway() throws {
        defer { try? FileManager.default.removeItem(atPath: root) }
        let ids = try store(1, size: 300_000)
        var scrubber = IntegrityScrubber(homeDirectory: root, program: program, bytesPerSecond: 100_000)
        _ = scrubber.advance(now: 0)
        // Damaged in the part already hashed: only a fresh start can see it.
        try damage(ids[0], at: 5)
        var findings: [Finding] = []
        for second in 1...5 { findings += scrubber.advance(now: Double(second)) }
        #expect(findings.count == 1, "the damage in bytes already hashed went unseen")
    }

    @Test("an intact store: passes complete with nothing found")
    func intact() throws {
        defer { try? FileManager.default.removeItem(atPath: root) }
        _ = try store(2, size: 1000)
        var scrubber = IntegrityScrubber(homeDirectory: root, program: program, bytesPerSecond: 1_048_576)
        #expect(scrubber.advance(now: 0).isEmpty)
        #expect(scrubber.completedPasses == 1)
        #expect(scrubber.damaged.isEmpty)
    }
}
