import Foundation
import Integrity
import Platform
import SelfUpgrade
import Storage
import Testing

/// Counts calls made from any thread.
private final class Counter: @unchecked Sendable {
    private let lock = NSLock()
    private var value = 0
    func increment() { lock.withLock { value += 1 } }
    var count: Int { lock.withLock { value } }
}

@Suite("A rollback's critical path")
struct RollbackPathTests {
    @Test("a rollback fsyncs its intent, the link flip and its commit, nothing else")
    func threeSyncs() throws {
        let demo = try Demo()
        defer { demo.cleanUp() }
        _ = try demo.upgrader.upgrade(fromBinary: try demo.candidate("2.0"), options: Demo.noRestart)
        let syncs = Counter()
        try SystemCalls.withFaults({ calls in
            let real = calls.fsync
            calls.fsync = { fd in
                syncs.increment()
                return real(fd)
            }
        }) {
            _ = try demo.upgrader.rollback(to: nil, options: Demo.noRestart)
        }
        #expect(try demo.home.currentVersion() == demo.first)
        #expect(syncs.count == 3)
    }

    @Test("a rollback whose step records were lost in a power cut, with the link flipped, is undone at start")
    func lostStepRecords() throws {
        let demo = try Demo()
        defer { demo.cleanUp() }
        let second = try demo.upgrader.upgrade(fromBinary: try demo.candidate("2.0"), options: Demo.noRestart).to.digest
        _ = try demo.upgrader.rollback(to: nil, options: Demo.noRestart)
        // What a power cut can leave: the durable `begin` and link flip, not the unsynced steps,
        // nor the commit that never came.
        let lines = try String(contentsOfFile: demo.home.journal, encoding: .utf8).split(separator: "\n")
        #expect(lines.suffix(3).map { $0.contains(#""kind":"step""#) || $0.contains(#""kind":"commit""#) } == [true, true, true])
        try (lines.dropLast(3).joined(separator: "\n") + "\n").write(toFile: demo.home.journal, atomically: true, encoding: .utf8)
        #expect(try demo.home.currentVersion() == demo.first)
        let notes = try demo.upgrader.recover()
        #expect(notes.first?.contains("interrupted after begin; undone at start") == true)
        #expect(try demo.home.currentVersion() == second)
        #expect(Ledger(try Journal(path: demo.home.journal)).openTransaction == nil)
    }
}
