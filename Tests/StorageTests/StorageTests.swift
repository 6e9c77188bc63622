import Foundation
import Integrity
import Platform
import Storage
import Testing

func scratchDirectory() throws -> String {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("autodev-storage-\(UUID().uuidString.prefix(8))").path
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

@Suite("Journal")
struct JournalTests {
    @Test("reads back what it appended, with sequence numbers")
    func roundTrip() throws {
        let directory = try scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var journal = try Journal(path: directory + "/journal")
        try journal.append(JournalRecord(kind: .begin, transaction: "t1", operation: .upgrade))
        try journal.append(JournalRecord(kind: .commit, transaction: "t1"))
        let reread = try Journal(path: directory + "/journal")
        #expect(reread.records == journal.records)
        #expect(reread.records.map(\.sequence) == [1, 2])
        #expect(!reread.hasTornTail)
    }

    @Test("a torn last line is ignored, then cut off by the next append")
    func tornTail() throws {
        let directory = try scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/journal"
        var journal = try Journal(path: path)
        try journal.append(JournalRecord(kind: .begin, transaction: "t1", operation: .upgrade))
        let handle = try #require(FileHandle(forWritingAtPath: path))
        try handle.seekToEnd()
        try handle.write(contentsOf: Data("1234abcd {\"kind\":\"com".utf8))
        try handle.close()
        var torn = try Journal(path: path)
        #expect(torn.hasTornTail)
        #expect(torn.records.count == 1)
        try torn.append(JournalRecord(kind: .abort, transaction: "t1", reason: "test"))
        let repaired = try Journal(path: path)
        #expect(!repaired.hasTornTail)
        #expect(repaired.records.map(\.kind) == [.begin, .abort])
    }

    @Test("damage before the last line is corruption, reported with its line")
    func corruption() throws {
        let directory = try scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/journal"
        var journal = try Journal(path: path)
        for index in 0..<3 { try journal.append(JournalRecord(kind: .begin, transaction: "t\(index)", operation: .upgrade)) }
        var lines = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").map(String.init)
        let dropped = lines.remove(at: 1)
        try (lines.joined(separator: "\n") + "\n").write(toFile: path, atomically: false, encoding: .utf8)
        #expect(throws: StorageError.corruptJournal(path: path, line: 2, reason: "record 3 follows record 1")) { try Journal(path: path) }
        lines.insert(dropped.replacingOccurrences(of: "t1", with: "t9"), at: 1)
        try (lines.joined(separator: "\n") + "\n").write(toFile: path, atomically: false, encoding: .utf8)
        #expect(throws: StorageError.corruptJournal(path: path, line: 2, reason: "checksum mismatch")) { try Journal(path: path) }
    }

    @Test("a failed append (ENOSPC) leaves the journal as it was")
    func failedAppend() throws {
        let directory = try scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/journal"
        var journal = try Journal(path: path)
        try journal.append(JournalRecord(kind: .begin, transaction: "t1", operation: .upgrade))
        let before = try FileSystem.readFile(path)
        #expect(throws: SystemError.self) {
            try SystemCalls.withFaults({ $0.write = { _, _, _ in Int(SystemCalls.failing(.noSpace)) } }) {
                try journal.append(JournalRecord(kind: .commit, transaction: "t1"))
            }
        }
        #expect(journal.records.count == 1)
        #expect(try FileSystem.readFile(path) == before)
    }
}

@Suite("State snapshots")
struct StateStoreTests {
    struct V1: Codable, Sendable, Equatable { var count: Int }
    struct V2: Codable, Sendable, Equatable { var total: Int; var label: String }

    static func store(_ directory: String) -> StateStore<V2> {
        StateStore(directory: directory, name: "app", schema: 2, migrations: [
            .converting(from: 1, V1.self, to: V2.self) { V2(total: $0.count, label: "migrated") },
        ])
    }

    @Test("an older schema is migrated on load; the older snapshot is kept when saving the new one")
    func migration() throws {
        let directory = try scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try StateStore<V1>(directory: directory, name: "app", schema: 1).save(V1(count: 41))
        let store = Self.store(directory)
        let loaded = try #require(try store.load())
        #expect(loaded.state == V2(total: 41, label: "migrated"))
        #expect(loaded.foundSchema == 1)
        try store.save(loaded.state)
        #expect(try store.load()?.foundSchema == 2)
        // A version that only knows schema 1 still finds the copy in its schema.
        let old = try #require(try StateStore<V1>(directory: directory, name: "app", schema: 1).load())
        #expect(old.state == V1(count: 41))
        #expect(old.path.hasSuffix("app.v1.json"))
    }

    @Test("a newer schema without a kept copy, a damaged file and a missing migration are errors")
    func errors() throws {
        let directory = try scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try Self.store(directory).save(V2(total: 1, label: "x"))
        #expect(throws: StorageError.newerState(path: directory + "/app.json", schema: 2, supported: 1)) {
            try StateStore<V1>(directory: directory, name: "app", schema: 1).load()
        }
        try "garbage".write(toFile: directory + "/app.json", atomically: true, encoding: .utf8)
        #expect(throws: StorageError.corruptState(path: directory + "/app.json", reason: "no schema header")) { try Self.store(directory).load() }
        try StateStore<V1>(directory: directory, name: "app", schema: 0).save(V1(count: 1))
        #expect(throws: StorageError.missingMigration(path: directory + "/app.json", from: 0)) { try Self.store(directory).load() }
    }

    @Test("JSON differences are named by path")
    func differences() throws {
        let left = try JSONDecoder().decode(JSONValue.self, from: Data(#"{"a":1,"b":{"c":[1,2]},"d":"x"}"#.utf8))
        let right = try JSONDecoder().decode(JSONValue.self, from: Data(#"{"a":1,"b":{"c":[1,3]},"e":true}"#.utf8))
        #expect(left.differences(from: right) == ["b.c[1]", "d", "e"])
    }
}

@Suite("Version store")
struct VersionStoreTests {
    @Test("stages content-addressed, read-only copies; a disk full while staging leaves nothing behind")
    func staging() throws {
        let directory = try scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let home = Home(root: directory + "/home")
        try home.createLayout()
        let candidate = directory + "/candidate"
        let content = (0..<300_000).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        try FileSystem.writeAtomically(candidate, content, mode: 0o755)
        let store = VersionStore(home: home)

        let written = CallCounter()
        #expect(throws: SystemError.self) {
            try SystemCalls.withFaults({ calls in
                let real = calls.write
                calls.write = { fd, buffer, count in
                    return written.next() > 1 ? Int(SystemCalls.failing(.noSpace)) : real(fd, buffer, min(count, 4096))
                }
            }) {
                try store.stage(candidate, source: "test", transaction: "t1")
            }
        }
        #expect(try store.list().isEmpty)
        #expect(try FileSystem.contentsOfDirectory(home.staging).isEmpty)

        let staged = try store.stage(candidate, source: "test", transaction: "t2")
        #expect(staged.id == SHA256.hash(data: content))
        #expect(!staged.wasPresent)
        #expect(try FileSystem.status(home.binary(staged.id)).mode == 0o555)
        try store.verify(staged.id)
        #expect(try store.stage(candidate, source: "test", transaction: "t3").wasPresent)
        #expect(try FileSystem.contentsOfDirectory(home.staging).isEmpty)
    }

    @Test("ids resolve from unique prefixes of at least 7 hex digits")
    func prefixes() throws {
        let a = SHA256.hash(data: [1]), b = SHA256.hash(data: [2])
        #expect(try SHA256Digest.resolve(prefix: String(a.hex.prefix(7)), among: [a, b]) == a)
        #expect(try SHA256Digest.resolve(prefix: a.hex.uppercased(), among: [a, b]) == a)
        #expect(throws: StorageError.invalidVersionPrefix("abc")) { try SHA256Digest.resolve(prefix: "abc", among: [a]) }
        #expect(throws: StorageError.unknownVersion(prefix: "0000000")) { try SHA256Digest.resolve(prefix: "0000000", among: [a]) }
        let twin = try #require(SHA256Digest(hex: String(a.hex.prefix(8)) + String(repeating: "0", count: 56)))
        #expect(throws: StorageError.self) { try SHA256Digest.resolve(prefix: String(a.hex.prefix(8)), among: [a, twin]) }
    }
}

/// Counts calls of an injected system call (only the test's own thread calls it).
final class CallCounter: @unchecked Sendable {
    private var count = 0
    func next() -> Int {
        count += 1
        return count
    }
}
