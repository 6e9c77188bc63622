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
    /// How many fsyncs `body` makes, from any thread.
    static func fsyncs(_ body: () throws -> Void) throws -> Int {
        let syncs = Counter()
        try SystemCalls.withFaults({ calls in
            let real = calls.fsync
            calls.fsync = { fd in
                syncs.increment()
                return real(fd)
            }
        }, body)
        return syncs.count
    }

    @Test("a rollback fsyncs its intent, the link flip and its commit, nothing else")
    func threeSyncs() throws {
        let demo = try Demo()
        defer { demo.cleanUp() }
        _ = try demo.upgrader.upgrade(fromBinary: try demo.candidate("2.0"), options: Demo.noRestart)
        let syncs = try Self.fsyncs { _ = try demo.upgrader.rollback(to: nil, options: Demo.noRestart) }
        #expect(try demo.home.currentVersion() == demo.first)
        #expect(syncs == 3)
    }

    @Test("rollbacks back and forth exchange current with the link it held before: no link is made, none is freed")
    func rollbacksExchangeLinks() throws {
        let demo = try Demo()
        defer { demo.cleanUp() }
        let second = try demo.upgrader.upgrade(fromBinary: try demo.candidate("2.0"), options: Demo.noRestart).to.digest
        let inode = { (path: String) in try FileSystem.status(path, followLinks: false).inode }
        #expect(try FileSystem.destinationOfSymbolicLink(demo.home.previousCurrent) == "versions/" + demo.first.hex)
        let (toSecond, toFirst) = (try inode(demo.home.current), try inode(demo.home.previousCurrent))
        try SystemCalls.withFaults({ $0.symlink = { _, _ in SystemCalls.failing(.noSpace) } }) {
            _ = try demo.upgrader.rollback(to: nil, options: Demo.noRestart)
            #expect(try demo.home.currentVersion() == demo.first)
            #expect(try inode(demo.home.current) == toFirst && inode(demo.home.previousCurrent) == toSecond)
            _ = try demo.upgrader.rollback(to: nil, options: Demo.noRestart)
        }
        #expect(try demo.home.currentVersion() == second)
        #expect(try inode(demo.home.current) == toSecond && inode(demo.home.previousCurrent) == toFirst)
    }

    @Test("the reason a host gives for a rollback is journaled with its check step")
    func reasonJournaled() throws {
        let demo = try Demo()
        defer { demo.cleanUp() }
        _ = try demo.upgrader.upgrade(fromBinary: try demo.candidate("2.0"), options: Demo.noRestart)
        var options = Demo.noRestart
        options.reason = "the agent's probation: sample 4 failed"
        _ = try demo.upgrader.rollback(to: nil, options: options)
        let lines = try String(contentsOfFile: demo.home.journal, encoding: .utf8).split(separator: "\n")
        let check = try #require(lines.last { $0.contains(#""kind":"step""#) && $0.contains(#""step":"check""#) })
        #expect(check.contains(#""reason":"the agent's probation: sample 4 failed""#), "\(check)")
        #expect(try demo.home.currentVersion() == demo.first)
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
        // The tail, written after each durable record only, names the `begin` then.
        try FileSystem.removeFile(Journal.tailPath(of: demo.home.journal))
        try Journal.recordDurableSequence(try Journal(path: demo.home.journal).lastSequence, of: demo.home.journal)
        #expect(try demo.home.currentVersion() == demo.first)
        let notes = try demo.upgrader.recover()
        #expect(notes.first?.contains("interrupted after begin; undone at start") == true)
        #expect(try demo.home.currentVersion() == second)
        #expect(Ledger(try Journal(path: demo.home.journal)).openTransaction == nil)
    }

    @Test("an upgrade fsyncs its intent, the staged file and store, the stage and verify records, the link flip and its commit; not its preflight's probe or swap record")
    func upgradeSyncs() throws {
        let demo = try Demo()
        defer { demo.cleanUp() }
        let candidate = try demo.candidate("2.0")
        let syncs = try Self.fsyncs { _ = try demo.upgrader.upgrade(fromBinary: candidate, options: Demo.noRestart) }
        // begin; the staged file, its metadata file and directory, the store; the stage record;
        // the version's metadata after verification (file and directory); the verify record;
        // the link flip; the commit.
        #expect(syncs == 11)
        let lines = try String(contentsOfFile: demo.home.journal, encoding: .utf8).split(separator: "\n")
        #expect(lines.contains { $0.contains(#""step":"preflight""#) } && lines.contains { $0.contains(#""step":"swap""#) },
                "the records left unsynced are written all the same")
    }

    @Test("an upgrade whose swap record was lost in a power cut, with the link flipped, is undone at start")
    func lostSwapRecord() throws {
        let demo = try Demo()
        defer { demo.cleanUp() }
        let second = try demo.upgrader.upgrade(fromBinary: try demo.candidate("2.0"), options: Demo.noRestart).to.digest
        #expect(try demo.home.currentVersion() == second)
        // What a power cut can leave: everything up to the durable verify record and the link
        // flip, not the unsynced swap record, nor the commit that never came.
        let lines = try String(contentsOfFile: demo.home.journal, encoding: .utf8).split(separator: "\n")
        #expect(lines.suffix(2).map { $0.contains(#""step":"swap""#) || $0.contains(#""kind":"commit""#) } == [true, true])
        #expect(lines.dropLast(2).last?.contains(#""step":"verify""#) == true)
        try (lines.dropLast(2).joined(separator: "\n") + "\n").write(toFile: demo.home.journal, atomically: true, encoding: .utf8)
        try FileSystem.removeFile(Journal.tailPath(of: demo.home.journal))
        try Journal.recordDurableSequence(try Journal(path: demo.home.journal).lastSequence, of: demo.home.journal)
        let notes = try demo.upgrader.recover()
        #expect(notes.contains { $0.contains("undone at start") }, "\(notes)")
        #expect(try demo.home.currentVersion() == demo.first)
        #expect(Ledger(try Journal(path: demo.home.journal)).openTransaction == nil)
        #expect(Ledger(try Journal(path: demo.home.journal)).current == demo.first)
    }

    @Test("a refused lock names the process holding it now (/proc/locks), not the pid an earlier holder left in the file")
    func lockHolderNamed() throws {
        let demo = try Demo()
        defer { demo.cleanUp() }
        let held = try #require(try FileLock.tryAcquire(demo.home.lock))
        defer { held.release() }
        try held.descriptor.truncate(to: 0)
        try held.descriptor.writeAll(Array("999999999".utf8))
        let error = #expect(throws: UpgradeError.self) { _ = try demo.upgrader.rollback(to: nil, options: Demo.noRestart) }
        #expect(error?.message.contains("(process \(getpid()))") == true, "\(String(describing: error))")
    }

    /// A home with a second version, rolled back from it: the second version is the next rollback's target.
    func rolledBack() throws -> (Demo, SHA256Digest) {
        let demo = try Demo()
        let second = try demo.upgrader.upgrade(fromBinary: try demo.candidate("2.0"), options: Demo.noRestart).to.digest
        _ = try demo.upgrader.rollback(to: nil, options: Demo.noRestart)
        return (demo, second)
    }

    @Test("a stored version whose identity matches is not re-hashed; one staged before identities were kept is re-hashed once")
    func identityMatches() throws {
        let (demo, second) = try rolledBack()
        defer { demo.cleanUp() }
        let store = VersionStore(home: demo.home)
        #expect(store.metadata(second)?.identity != nil)
        let first = try store.openChecked(second)
        try first.descriptor.close()
        #expect(!first.rehashed)
        // A store written before identities were kept: hashed once, then trusted by identity.
        var metadata = try #require(store.metadata(second))
        metadata.identity = nil
        try store.setMetadata(metadata)
        let again = try store.openChecked(second)
        try again.descriptor.close()
        #expect(again.rehashed)
        let then = try store.openChecked(second)
        try then.descriptor.close()
        #expect(!then.rehashed)
    }

    /// Makes the stored binary writable, changes it, and makes it read-only again.
    func tamper(_ path: String, _ change: (String) throws -> Void) throws {
        try FileSystem.setMode(FileSystem.parent(of: path), 0o755)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: path)
        try change(path)
        try? FileManager.default.setAttributes([.posixPermissions: 0o555], ofItemAtPath: path)
    }

    @Test("a modified, truncated, replaced, writable, setuid or given-away stored version is refused; a re-linked or touched one is re-hashed",
          arguments: ["modified", "modified, times put back", "truncated", "replaced", "re-linked", "mode changed",
                      "left writable", "setuid", "another owner's"])
    func changedStoredVersion(change: String) throws {
        let (demo, second) = try rolledBack()
        defer { demo.cleanUp() }
        let path = demo.home.binary(second)
        let original = try Data(contentsOf: URL(fileURLWithPath: path))
        let times = try FileManager.default.attributesOfItem(atPath: path)[.modificationDate] as? Date
        try tamper(path) { path in
            switch change {
            case "modified", "modified, times put back":
                let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
                try handle.seek(toOffset: 2)
                try handle.write(contentsOf: Data("X".utf8))
                try handle.close()
                if change.hasSuffix("put back"), let times {
                    try FileManager.default.setAttributes([.modificationDate: times], ofItemAtPath: path)
                }
            case "truncated":
                try FileHandle(forWritingTo: URL(fileURLWithPath: path)).truncate(atOffset: 4)
            case "replaced":
                try FileManager.default.removeItem(atPath: path)
                try (original.dropLast() + Data("x".utf8)).write(to: URL(fileURLWithPath: path))
            case "re-linked":
                try FileSystem.link(path, to: demo.directory + "/second-name")
            default:
                break // the mode change of tamper() itself
            }
        }
        // Bytes kept, but a mode or owner that lets them change (or run with privileges).
        switch change {
        case "left writable": try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: path)
        case "setuid": try FileManager.default.setAttributes([.posixPermissions: 0o4555], ofItemAtPath: path)
        case "another owner's": #expect(chown(path, 65534, 65534) == 0)
        default: break
        }
        let keepsBytes = change == "re-linked" || change == "mode changed"
        let checked = try? VersionStore(home: demo.home).openChecked(second)
        try checked?.descriptor.close()
        #expect((checked != nil) == keepsBytes, "\(change)")
        if keepsBytes { #expect(checked?.rehashed == true, "\(change)") }
        // A rollback to it goes through only when its bytes are still its id.
        let current = try demo.home.currentVersion()
        let rollback = Result { try demo.upgrader.rollback(to: nil, options: Demo.noRestart) }
        if keepsBytes {
            #expect(try rollback.get().to.digest == second)
        } else {
            #expect(throws: UpgradeError.self) { try rollback.get() }
            #expect(try demo.home.currentVersion() == current)
        }
    }
}
