import Foundation
import Integrity
import Platform
import SelfUpgrade
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
        try journal.append(JournalRecord(.begin(transaction: "t1", operation: .upgrade, from: nil, target: nil, source: nil)))
        try journal.append(JournalRecord(.commit(transaction: "t1", to: nil)))
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
        try journal.append(JournalRecord(.begin(transaction: "t1", operation: .upgrade, from: nil, target: nil, source: nil)))
        let handle = try #require(FileHandle(forWritingAtPath: path))
        try handle.seekToEnd()
        try handle.write(contentsOf: Data("1234abcd {\"kind\":\"com".utf8))
        try handle.close()
        var torn = try Journal(path: path)
        #expect(torn.hasTornTail)
        #expect(torn.records.count == 1)
        try torn.append(JournalRecord(.abort(transaction: "t1", reason: "test")))
        let repaired = try Journal(path: path)
        #expect(!repaired.hasTornTail)
        #expect(repaired.records.map(\.event) == [.begin(transaction: "t1", operation: .upgrade, from: nil, target: nil, source: nil), .abort(transaction: "t1", reason: "test")])
    }

    @Test("a complete last line with a bad checksum is corruption, not a torn write: reported, never cut off")
    func damagedCompleteLastLine() throws {
        let directory = try scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/journal"
        var journal = try Journal(path: path)
        for index in 0..<2 { try journal.append(JournalRecord(.begin(transaction: "t\(index)", operation: .upgrade, from: nil, target: nil, source: nil))) }
        let text = try String(contentsOfFile: path, encoding: .utf8)
        try text.replacingOccurrences(of: "t1", with: "t9").write(toFile: path, atomically: false, encoding: .utf8)
        #expect(throws: StorageError.corruptJournal(path: path, line: 2, reason: "checksum mismatch")) { try Journal(path: path) }
        #expect(try String(contentsOfFile: path, encoding: .utf8).hasSuffix("\n"))
    }

    @Test("damage before the last line is corruption, reported with its line")
    func corruption() throws {
        let directory = try scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/journal"
        var journal = try Journal(path: path)
        for index in 0..<3 { try journal.append(JournalRecord(.begin(transaction: "t\(index)", operation: .upgrade, from: nil, target: nil, source: nil))) }
        var lines = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").map(String.init)
        let dropped = lines.remove(at: 1)
        try (lines.joined(separator: "\n") + "\n").write(toFile: path, atomically: false, encoding: .utf8)
        #expect(throws: StorageError.corruptJournal(path: path, line: 2, reason: "record 3 follows record 1")) { try Journal(path: path) }
        lines.insert(dropped.replacingOccurrences(of: "t1", with: "t9"), at: 1)
        try (lines.joined(separator: "\n") + "\n").write(toFile: path, atomically: false, encoding: .utf8)
        #expect(throws: StorageError.corruptJournal(path: path, line: 2, reason: "checksum mismatch")) { try Journal(path: path) }
    }

    @Test("a second read of the same bytes gives the same journal; a same-sized change made between reads is seen")
    func rereadSeesChanges() throws {
        let directory = try scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/journal"
        var journal = try Journal(path: path)
        for index in 0..<3 { try journal.append(JournalRecord(.begin(transaction: "t\(index)", operation: .upgrade, from: nil, target: nil, source: nil))) }
        let first = try Journal(path: path)
        let second = try Journal(path: path)
        #expect(second.records == first.records)
        #expect(second.validByteCount == first.validByteCount)
        // Same size, same second: only the bytes tell this file from the one read before.
        let text = try String(contentsOfFile: path, encoding: .utf8)
        try text.replacingOccurrences(of: "\"t1\"", with: "\"t7\"").write(toFile: path, atomically: false, encoding: .utf8)
        #expect(throws: StorageError.corruptJournal(path: path, line: 2, reason: "checksum mismatch")) { try Journal(path: path) }
        try text.write(toFile: path, atomically: false, encoding: .utf8)
        #expect(try Journal(path: path).records == first.records)
        // A tail that names a record the journal lacks is refused on every read, not only the first.
        try Journal.recordDurableSequence(9, of: path)
        #expect(throws: StorageError.self) { try Journal(path: path) }
        #expect(throws: StorageError.self) { try Journal(path: path) }
    }

    @Test("a reader without the lock never calls a journal damaged because a writer appended while it read")
    func readerRacingWriter() throws {
        let directory = try scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/journal"
        var first = try Journal(path: path)
        try first.append(JournalRecord(.begin(transaction: "t0", operation: .upgrade, from: nil, target: nil, source: nil)))
        // The writer waits for a read after every tenth append, so reads interleave with the
        // appends however the two threads are scheduled.
        let writer = DispatchGroup()
        let readDone = DispatchSemaphore(value: 0)
        DispatchQueue.global().async(group: writer) {
            guard var journal = try? Journal(path: path) else { return }
            for index in 1...300 {
                _ = try? journal.append(JournalRecord(.begin(transaction: "t\(index)", operation: .upgrade, from: nil, target: nil, source: nil)))
                if index % 10 == 0 { readDone.wait() }
            }
        }
        var reads = 0
        var failures: [String] = []
        while writer.wait(timeout: .now()) == .timedOut {
            do { _ = try Journal(path: path) } catch { failures.append("\(error)") }
            reads += 1
            readDone.signal()
        }
        #expect(failures.isEmpty, "\(failures.count) of \(reads) reads failed, first: \(failures.first ?? "")")
        #expect(reads >= 30)
        #expect(try Journal(path: path).records.count == 301)
    }

    @Test("a tail naming a record no journal may number is malformed, not a record to wait for")
    func impossibleTail() throws {
        let directory = try scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/journal"
        var journal = try Journal(path: path)
        try journal.append(JournalRecord(.begin(transaction: "t1", operation: .upgrade, from: nil, target: nil, source: nil)))
        for text in ["09223372036854775807\n", "99999999999999999999\n", "\(JournalRecord.largestSequence + 1)".leftPadded(to: 20) + "\n"] {
            try text.write(toFile: Journal.tailPath(of: path), atomically: false, encoding: .utf8)
            #expect(Journal.durableSequence(of: path) == nil, "\(text)")
            #expect(try Journal(path: path).records.count == 1)
        }
        try "\(JournalRecord.largestSequence)".leftPadded(to: 20).appending("\n").write(toFile: Journal.tailPath(of: path), atomically: false, encoding: .utf8)
        #expect(Journal.durableSequence(of: path) == JournalRecord.largestSequence)
    }

    @Test("a tail of the right length but the wrong content is overwritten whole by the next durable append")
    func tailOverwrittenInPlace() throws {
        let directory = try scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/journal"
        var journal = try Journal(path: path)
        try journal.append(JournalRecord(.begin(transaction: "t1", operation: .upgrade, from: nil, target: nil, source: nil)))
        try String(repeating: "x", count: 20).appending("\n").write(toFile: Journal.tailPath(of: path), atomically: false, encoding: .utf8)
        #expect(Journal.durableSequence(of: path) == nil)
        try journal.append(JournalRecord(.commit(transaction: "t1", to: nil)))
        #expect(try String(contentsOfFile: Journal.tailPath(of: path), encoding: .utf8) == "00000000000000000002\n")
        try String(repeating: "9", count: 40).write(toFile: Journal.tailPath(of: path), atomically: false, encoding: .utf8)
        try journal.append(JournalRecord(.begin(transaction: "t2", operation: .upgrade, from: nil, target: nil, source: nil)))
        #expect(try String(contentsOfFile: Journal.tailPath(of: path), encoding: .utf8) == "00000000000000000003\n")
    }

    @Test("a failed append (ENOSPC) leaves the journal as it was")
    func failedAppend() throws {
        let directory = try scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/journal"
        var journal = try Journal(path: path)
        try journal.append(JournalRecord(.begin(transaction: "t1", operation: .upgrade, from: nil, target: nil, source: nil)))
        let before = try FileSystem.readFile(path)
        #expect(throws: SystemError.self) {
            try SystemCalls.withFaults({ $0.write = { _, _, _ in Int(SystemCalls.failing(.noSpace)) } }) {
                try journal.append(JournalRecord(.commit(transaction: "t1", to: nil)))
            }
        }
        #expect(journal.records.count == 1)
        #expect(try FileSystem.readFile(path) == before)
    }
}

@Suite("Home")
struct HomeTests {
    @Test("a binary's real path is found in the store of a home named through a symbolic link")
    func versionThroughLink() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("autodev-home-\(UUID().uuidString.prefix(8))").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let hex = String(repeating: "ab", count: 32)
        try FileManager.default.createDirectory(atPath: directory + "/real/home/versions/" + hex, withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: directory + "/link", withDestinationPath: directory + "/real")
        let home = Home(root: directory + "/link/home")
        let real = try FileSystem.realPath(directory + "/real/home") + "/versions/" + hex + "/autodev"
        #expect(home.version(containing: real)?.hex == hex)
        #expect(home.version(containing: directory + "/link/home/versions/" + hex + "/autodev")?.hex == hex)
        #expect(home.version(containing: directory + "/real/elsewhere/" + hex + "/autodev") == nil)
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
        // An embedder sees one public error type, whose code says the home is damaged and whose
        // underlying error is the precise cause.
        func cause(_ load: () throws(UpgradeError) -> Any?) -> StorageError? {
            do {
                _ = try load()
                return nil
            } catch {
                #expect(error.code == .homeDamaged && error.path == directory + "/app.json", "\(error)")
                return error.underlying as? StorageError
            }
        }
        #expect(cause { () throws(UpgradeError) in try StateStore<V1>(directory: directory, name: "app", schema: 1).load() }
                == .newerState(path: directory + "/app.json", schema: 2, supported: 1))
        try "garbage".write(toFile: directory + "/app.json", atomically: true, encoding: .utf8)
        #expect(cause { () throws(UpgradeError) in try Self.store(directory).load() } == .corruptState(path: directory + "/app.json", reason: "no schema header: its first line does not end"))
        try StateStore<V1>(directory: directory, name: "app", schema: 0).save(V1(count: 1))
        #expect(cause { () throws(UpgradeError) in try Self.store(directory).load() } == .missingMigration(path: directory + "/app.json", from: 0))
    }

    @Test("a schema header that is not one says what it is: no line, not JSON, not an object, no field, not a number, out of range")
    func headerProblems() {
        let cases: [(header: String, reason: String)] = [
            ("", "it is empty"),
            ("garbage", "no schema header: its first line does not end"),
            ("garbage\n", "no schema header: its first line is not JSON"),
            ("[1]\n", "no schema header: its first line is not a JSON object"),
            ("{\"other\":1}\n", "no schema header: its first line has no \"schema\" field"),
            ("{\"schema\":\"2\"}\n", "its schema header's \"schema\" is not a number"),
            ("{\"schema\":-1}\n", "its schema header names schema -1, not a whole number from 0 to 2147483647"),
            ("{\"schema\":2.5}\n", "its schema header names schema 2.5, not a whole number from 0 to 2147483647"),
            ("{\"schema\":1e300}\n", "its schema header names a schema out of range (0 to 2147483647)"),
            ("{\"schema\":9007199254740993}\n", "its schema header names a schema out of range (0 to 2147483647)"),
            ("{\"schema\":3000000000}\n", "its schema header names schema 3000000000, not a whole number from 0 to 2147483647"),
        ]
        for (header, reason) in cases {
            let bytes = Array((header + (header.hasSuffix("\n") ? "{}\n" : "")).utf8)
            #expect(throws: StorageError.corruptState(path: "/state/app.json", reason: reason), "\(header)") {
                try StateFile.split(bytes, path: "/state/app.json")
            }
        }
        let split = try? StateFile.split(Array("{ \"schema\" : 3 }\n{\"a\":1}\n".utf8), path: "/state/app.json")
        #expect(split?.schema == 3 && split?.body == Array("{\"a\":1}\n".utf8))
    }

    @Test("a state that cannot be encoded is refused naming the file, with the encoder's error, and nothing is written")
    func unencodable() throws {
        let directory = try scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        struct Reading: Codable, Sendable, Equatable { var value: Double }
        let store = StateStore<Reading>(directory: directory, name: "reading", schema: 1)
        let error = try #require(throws: UpgradeError.self) { try store.save(Reading(value: .nan)) }
        #expect(error.path == directory + "/reading.json" && error.message.contains(directory + "/reading.json"), "\(error)")
        #expect(error.underlying is EncodingError)
        #expect(!FileManager.default.fileExists(atPath: directory + "/reading.json"))
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

/// A journal line as any writer would put it: CRC-32 of the JSON, a space, the JSON.
func journalLine(_ json: String) -> String {
    let checksum = String(CRC32.checksum(Array(json.utf8)), radix: 16)
    return String(repeating: "0", count: 8 - checksum.count) + checksum + " " + json + "\n"
}

@Suite("Journal format: older and newer writers, values out of range")
struct JournalFormatTests {
    let id = String(repeating: "ab", count: 32)

    func write(_ lines: [String]) throws -> (directory: String, path: String) {
        let directory = try scratchDirectory()
        let path = directory + "/journal"
        try lines.map(journalLine).joined().write(toFile: path, atomically: false, encoding: .utf8)
        return (directory, path)
    }

    @Test("records written before the format field existed are read as format 1")
    func olderWriter() throws {
        let (directory, path) = try write([
            #"{"kind":"adopt","pid":7,"sequence":1,"source":"/bin/x","time":1763800000.5,"to":"\#(id)","version":"0.1.0"}"#,
        ])
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let journal = try Journal(path: path)
        #expect(journal.records.first?.format == 1)
        #expect(journal.records.first?.event == .adopt(version: SHA256Digest(hex: id)!, name: "0.1.0", source: "/bin/x", repairedFrom: nil))
    }

    @Test("what this release writes keeps integers as integers and every older field name")
    func writtenShape() throws {
        let directory = try scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var journal = try Journal(path: directory + "/journal")
        try journal.append(JournalRecord(.attempt(transaction: "t1", number: 2)))
        let line = try String(contentsOfFile: directory + "/journal", encoding: .utf8)
        #expect(line.contains(#""attempt":2,"#))
        #expect(line.contains(#""sequence":1,"#))
        #expect(line.contains(#""kind":"attempt""#))
        #expect(line.contains(#""v":1"#))
        #expect(!line.contains(".0,"))
    }

    @Test("a kind and fields written by a newer release are skipped, and the versions it names are kept")
    func newerWriter() throws {
        let other = String(repeating: "cd", count: 32)
        let (directory, path) = try write([
            #"{"kind":"adopt","sequence":1,"time":1,"to":"\#(id)","v":1}"#,
            #"{"kind":"pin","sequence":2,"time":2,"v":2,"pinned":["\#(other)"],"note":"x"}"#,
            #"{"kind":"prune","sequence":3,"time":3,"to":"\#(other)","v":2,"why":"a field from the future"}"#,
        ])
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let journal = try Journal(path: path)
        #expect(journal.records.count == 3)
        #expect(journal.records[1].event == .unknown(kind: "pin", versions: [SHA256Digest(hex: other)!]))
        #expect(journal.records[2].format == 2)
        var appended = journal
        try appended.append(JournalRecord(.commit(transaction: "t", to: nil)))
        #expect(try Journal(path: path).records.map(\.sequence) == [1, 2, 3, 4])
    }

    @Test("values out of range are corruption at their line, never a trap", arguments: [
        #""time":1e300"#, #""time":-1"#, #""time":"soon""#, #""sequence":9223372036854775807"#, #""sequence":1.5"#,
        #""pid":-4"#, #""attempt":-1"#, #""transaction":"""#, #""transaction":"../../etc""#, #""v":0"#,
    ])
    func outOfRange(field: String) throws {
        // The second record, with one field replaced.
        var fields = [#""kind""#: #""attempt""#, #""transaction""#: #""t""#, #""attempt""#: "1", #""sequence""#: "2",
                      #""time""#: "2", #""pid""#: "1", #""to""#: #""\#(id)""#, #""v""#: "1"]
        let parts = field.split(separator: ":", maxSplits: 1).map(String.init)
        fields[parts[0]] = parts[1]
        let second = "{" + fields.map { "\($0.key):\($0.value)" }.joined(separator: ",") + "}"
        let (directory, path) = try write([#"{"kind":"adopt","sequence":1,"time":1,"to":"\#(id)"}"#, second,
                                           #"{"kind":"commit","sequence":3,"time":3,"transaction":"t"}"#])
        defer { try? FileManager.default.removeItem(atPath: directory) }
        #expect {
            try Journal(path: path)
        } throws: { error in
            guard case .corruptJournal(_, let line, _)? = error as? StorageError else { return false }
            return line == 2
        }
    }

    @Test("a journal that does not start with record 1 is refused")
    func missingBeginning() throws {
        let (directory, path) = try write([#"{"kind":"prune","sequence":2,"time":1,"to":"\#(id)"}"#])
        defer { try? FileManager.default.removeItem(atPath: directory) }
        #expect(throws: StorageError.corruptJournal(path: path, line: 1, reason: "it starts at record 2, not 1: its beginning is missing")) {
            try Journal(path: path)
        }
    }

    @Test("a journal that is a link or not a regular file is refused, not followed or read")
    func plantedJournal() throws {
        let directory = try scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var appending = try Journal(path: directory + "/journal")
        try "precious\n".write(toFile: directory + "/other", atomically: false, encoding: .utf8)
        try FileManager.default.createSymbolicLink(atPath: directory + "/journal", withDestinationPath: directory + "/other")
        #expect(throws: SystemError.self) { try Journal(path: directory + "/journal") }
        #expect(throws: SystemError.self) { try appending.append(JournalRecord(.prune(version: SHA256Digest(hex: id)!))) }
        #expect(try String(contentsOfFile: directory + "/other", encoding: .utf8) == "precious\n")
        try FileManager.default.removeItem(atPath: directory + "/journal")
        #expect(mkfifo(directory + "/journal", 0o644) == 0)
        #expect(throws: SystemError.self) { try Journal(path: directory + "/journal") }
    }
}

private extension String {
    /// Zeros before it up to `width` characters.
    func leftPadded(to width: Int) -> String { String(repeating: "0", count: max(0, width - count)) + self }
}
