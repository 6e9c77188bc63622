import Foundation
import Integrity
import Platform
import SelfUpgrade
import Storage
import Testing

/// The home's own files are read with the strict parser and written without `JSONEncoder`
/// (a start that touches no `Codable` machinery is a faster rollback). What is written must
/// still read the same with `JSONDecoder` (the releases before this one), and what they wrote
/// must read the same now.
@Suite("Home files read and written without Codable, compatible both ways")
struct StrictReadingTests {
    /// A journal line as the journal writes one: CRC-32 in hex, a space, the JSON, a newline.
    static func journalLine(_ json: String) -> Data {
        let checksum = String(CRC32.checksum(Array(json.utf8)), radix: 16)
        return Data((String(repeating: "0", count: 8 - checksum.count) + checksum + " " + json + "\n").utf8)
    }

    static let hostileText = "quote \" backslash \\ slash / newline \n tab \t nul \u{0} bell \u{7} escape \u{1B}[2J del \u{7F} é 日本 🙂"

    @Test("serialized JSON reads back the same with the strict parser and with JSONDecoder")
    func serializedRoundTrips() throws {
        let value = JSONValue.object([
            "text": .string(Self.hostileText), "whole": .number(1_796_434_735), "fraction": .number(1_796_434_735.836781),
            "negative": .number(-42), "tiny": .number(1e-7), "huge": .number(1e300), "limit": .number(9_007_199_254_740_993),
            "flag": .bool(true), "nothing": .null, "list": .array([.string("a/b"), .number(0.5), .object([:])]),
            "nested": .object(["z": .string(""), "a": .array([])]),
        ])
        let bytes = try value.serialized()
        #expect(try JSONValue(parsing: bytes) == value)
        #expect(try JSONDecoder().decode(JSONValue.self, from: Data(bytes)) == value)
        // Keys sorted, slashes as they are, whole numbers without a fraction.
        let text = String(decoding: bytes, as: UTF8.self)
        #expect(text.hasPrefix(#"{"flag":true,"fraction":1796434735.836781,"huge":1e+300,"limit":9007199254740992,"list":["a/b",0.5,{}],"negative":-42,"#), "\(text)")
        #expect(text.contains(#""whole":1796434735}"#) || text.hasSuffix(#""whole":1796434735}"#), "\(text)")
        #expect(!text.contains("\u{1B}") && !text.contains("\u{0}") && !text.contains("\n"))
        #expect(throws: JournalFieldError.self) { try JSONValue.number(.nan).serialized() }
        #expect(throws: JournalFieldError.self) { try JSONValue.array([.number(.infinity)]).serialized() }
    }

    /// A checkpoint's state with every list filled.
    static func state() throws -> JournalCheckpoint.State {
        let one = try #require(SHA256Digest(hex: String(repeating: "ab", count: 32)))
        let two = try #require(SHA256Digest(hex: String(repeating: "0f", count: 32)))
        return JournalCheckpoint.State(
            wellFormed: true, transactions: 3,
            history: [JournalCheckpoint.Entry(id: one, version: "0.1.0", since: 1_796_434_735.25, via: "adopt", transaction: nil, source: "adopted:/x"),
                      JournalCheckpoint.Entry(id: two, version: nil, since: 1_796_434_736, via: "upgrade", transaction: "tx-1", source: Self.hostileText)],
            versionNames: [JournalCheckpoint.Named(id: one, name: "0.1.0")], transactionNames: [JournalCheckpoint.Named(id: two, name: "0.2.0")],
            pruned: [two], known: [one, two], namedByUnknown: [], firstBrought: [JournalCheckpoint.Position(id: two, position: 1)],
            logged: [JournalCheckpoint.Logged(transaction: "tx-1", position: 1)])
    }

    @Test("a checkpoint written now is the one JSONDecoder reads; one JSONEncoder wrote is read now")
    func checkpointBothWays() throws {
        let state = try Self.state()
        let checkpoint = JournalCheckpoint(through: 7, time: 1_796_434_737.5, state: state)
        let line = try checkpoint.line()
        let json = line[9..<(line.count - 1)]
        #expect(try JournalCheckpoint(json: json) == checkpoint)
        // As a release before this one reads it.
        struct Line: Codable { var kind: String; var sequence: Int; var time: Double; var v: Int; var format: Int; var state: String; var sha256: String }
        let old = try JSONDecoder().decode(Line.self, from: Data(json))
        #expect(old.kind == "checkpoint" && old.sequence == 7 && old.time == 1_796_434_737.5 && old.format == 1)
        #expect(try JSONDecoder().decode(JournalCheckpoint.State.self, from: Data(old.state.utf8)) == state)

        // As a release before this one wrote it.
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let stateText = String(decoding: try encoder.encode(state), as: UTF8.self)
        let written = try encoder.encode(Line(kind: "checkpoint", sequence: 7, time: 1_796_434_737.5, v: 1, format: 1, state: stateText,
                                              sha256: SHA256.hash(data: Array(stateText.utf8)).hex))
        #expect(try JournalCheckpoint(json: Array(written)[...]) == checkpoint)
        #expect(try JournalCheckpoint.State(json: JSONValue(parsing: Array(stateText.utf8))) == state)
    }

    @Test("a checkpoint the strict reader cannot take is refused with the reason, never half read")
    func damagedCheckpoints() throws {
        let line = try JournalCheckpoint(through: 7, time: 1, state: try Self.state()).line()
        let json = String(decoding: line[9..<(line.count - 1)], as: UTF8.self)
        for (damaged, reason) in [
            (json.replacingOccurrences(of: #""format":1"#, with: #""format":2"#), "checkpoint format 2 is not format 1"),
            (json.replacingOccurrences(of: #""sequence":7"#, with: #""sequence":1"#), "'sequence' is out of range"),
            (json.replacingOccurrences(of: #""sequence":7"#, with: #""sequence":7,"sequence":8"#), "not a checkpoint: invalid JSON"),
            (json.replacingOccurrences(of: #""kind":"checkpoint""#, with: #""kind":"commit""#), "not a checkpoint"),
            (json.replacingOccurrences(of: #"\"wellFormed\":true"#, with: #"\"wellFormed\":false"#), "its digest does not match its state"),
            (json.replacingOccurrences(of: #""time":1"#, with: #""time":1e999"#), "'time' is"),
            // 2⁵³ + 1 reads as the double 2⁵³: past the largest sequence, not rounded into range.
            (json.replacingOccurrences(of: #""sequence":7"#, with: #""sequence":9007199254740993"#), "'sequence' is out of range"),
            (json.replacingOccurrences(of: #""sequence":7"#, with: #""sequence":9007199254740992"#), "'sequence' is out of range"),
            // The record format is part of what a checkpoint claims: absent or another one is refused.
            (json.replacingOccurrences(of: #","v":1}"#, with: "}"), "'v' is missing"),
            (json.replacingOccurrences(of: #","v":1}"#, with: #","v":2}"#), "record format 2 is not format 1"),
            (json.replacingOccurrences(of: #","v":1}"#, with: #","v":"1"}"#), "'v' is not a number"),
        ] {
            #expect(damaged != json)
            #expect {
                _ = try JournalCheckpoint(json: Array(damaged.utf8)[...])
            } throws: { error in
                "\(error)".contains(reason)
            }
        }
    }

    @Test("a checkpoint followed by a record nesting deep in an unknown field is believed; the archive planted as a link is refused, nothing written through it")
    func checkpointThenDeepRecordAndArchiveLink() throws {
        let directory = try scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/journal"
        let checkpoint = try JournalCheckpoint(through: 7, time: 1, state: try Self.state()).line()
        let deep = String(repeating: "[", count: 100) + String(repeating: "]", count: 100)
        try (Data(checkpoint) + Self.journalLine(#"{"future":\#(deep),"kind":"commit","sequence":8,"time":1,"transaction":"t1","v":1}"#))
            .write(to: URL(fileURLWithPath: path))
        var journal = try Journal(path: path)
        #expect(journal.checkpointRefusal == nil && journal.checkpoint?.through == 7, "\(String(describing: journal.checkpointRefusal))")
        #expect(journal.records.map(\.sequence) == [8])

        // journal.d as a link out: the rotation is refused and nothing lands where it points.
        let outside = directory + "/outside"
        try FileManager.default.createDirectory(atPath: outside, withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: path + ".d", withDestinationPath: outside)
        #expect {
            try journal.rotate(keeping: try Self.state())
        } throws: { error in
            "\(error)".contains("symbolic link") && "\(error)".contains(path + ".d")
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: outside) == [])
        #expect(throws: (any Error).self) { _ = try Journal(path: path, replayingArchive: true) }
    }

    @Test("a first record that carries a checkpoint's kind only inside an unknown field is a record, not a checkpoint")
    func nestedKindIsNoClaim() throws {
        let directory = try scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/journal"
        try (Self.journalLine(#"{"future":{"kind":"checkpoint"},"kind":"begin","note":"\"kind\":\"checkpoint\"","operation":"upgrade","sequence":1,"time":1,"transaction":"t1","v":1}"#)
            + Self.journalLine(#"{"kind":"commit","sequence":2,"time":1,"transaction":"t1","v":1}"#)).write(to: URL(fileURLWithPath: path))
        let journal = try Journal(path: path)
        #expect(journal.checkpoint == nil && journal.checkpointRefusal == nil)
        #expect(journal.records.map(\.sequence) == [1, 2])
    }

    @Test("a journal whose checkpoint covers the largest sequence number takes no further record, and is left as it was")
    func lastSequence() throws {
        let directory = try scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/journal"
        let largest = (1 << 53) - 1
        let line = try JournalCheckpoint(through: largest, time: 1, state: try Self.state()).line()
        try Data(line).write(to: URL(fileURLWithPath: path))
        var journal = try Journal(path: path)
        #expect(journal.lastSequence == largest)
        // Sound, but full: what the doctor and the repair read to rebuild it.
        #expect(journal.appendProblem?.contains("the last a journal may number") == true)
        #expect {
            try journal.append(JournalRecord(.commit(transaction: "t1", to: nil)))
        } throws: { error in
            "\(error)".contains("no record can follow it") && "\(error)".contains(path)
        }
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == Data(line))
        #expect(journal.lastSequence == largest)
    }

    @Test("a record's unknown fields may hold what a later release writes: integers beyond 64 bits, deep nesting")
    func unknownFieldsTolerated() throws {
        let directory = try scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/journal"
        var journal = try Journal(path: path)
        try journal.append(JournalRecord(.begin(transaction: "t1", operation: .upgrade, from: nil, target: nil, source: nil)))
        var bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        // A second record written by hand with the fields a later release might add.
        let deep = String(repeating: "[", count: 40) + String(repeating: "]", count: 40)
        bytes.append(Self.journalLine(#"{"future":{"count":18446744073709551616,"tree":\#(deep)},"kind":"commit","sequence":2,"time":1,"transaction":"t1","v":1}"#))
        try bytes.write(to: URL(fileURLWithPath: path))
        let reread = try Journal(path: path)
        #expect(reread.records.count == 2)
        #expect(reread.records.last?.event == .commit(transaction: "t1", to: nil))
        // Past what JSONDecoder takes is still refused, with the line named.
        let bomb = String(repeating: "[", count: 600) + String(repeating: "]", count: 600)
        bytes.append(Self.journalLine(#"{"future":\#(bomb),"kind":"commit","sequence":3,"time":1,"transaction":"t1","v":1}"#))
        try bytes.write(to: URL(fileURLWithPath: path))
        #expect {
            _ = try Journal(path: path)
        } throws: { error in
            "\(error)".contains("nesting deeper than 512")
        }
    }

    @Test("snapshot manifests: the strict reader takes every form this release writes, optional parts absent or present")
    func snapshotManifests() throws {
        let files = ["config.json": String(repeating: "a1", count: 32), "state/autodev.json": String(repeating: "b2", count: 32)]
        for (version, restored) in [(nil, nil), ("cd" + String(repeating: "0", count: 62), nil), (nil, "00000003-tx-1"), ("ef" + String(repeating: "1", count: 62), "00000004-tx-2")] as [(String?, String?)] {
            let manifest = SnapshotStore.Manifest(format: 1, sequence: 7, transaction: "tx-20261205T093402-5e9ca21c", version: version, time: 1_796_463_242.340092,
                                                  files: files, restored: restored)
            let bytes = try manifest.json.serialized() + [10]
            // Read by the strict parser itself, not by the decoder it falls back to.
            #expect(SnapshotStore.Manifest(parsing: bytes) == manifest, "\(String(decoding: bytes, as: UTF8.self))")
            #expect(try JSONDecoder().decode(SnapshotStore.Manifest.self, from: Data(bytes)) == manifest)
        }
        #expect(SnapshotStore.Manifest(parsing: Array(#"{"files":{},"format":1,"sequence":1,"time":1,"transaction":"t","restored":5}"#.utf8)) == nil)
    }

    struct Sample: Codable, Sendable, Equatable { var count: Int; var name: String? }

    @Test("a state store's strict reader is checked against JSONDecoder: agreeing passes, reading otherwise fails the state check")
    func strictStateReader() throws {
        let directory = try scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var store = StateStore<Sample>(directory: directory, name: "sample", schema: 1)
        try store.save(Sample(count: 3, name: "x"))
        store.strictReader = { bytes in
            guard let value = try? JSONValue(parsing: bytes), case .object(let fields) = value, let count = try? FieldReader(fields: fields).integer("count", in: 0...100),
                  let name = try? FieldReader(fields: fields).optionalString("name") else { return nil }
            return Sample(count: count, name: name)
        }
        #expect(try store.load()?.state == Sample(count: 3, name: "x"))
        let agreeing = SelfCheckReport.checkState(store)
        #expect(agreeing.error == nil && agreeing.roundTripEqual, "\(agreeing)")
        // A reader that gets it wrong is caught, naming the file.
        store.strictReader = { _ in Sample(count: 4, name: "x") }
        let disagreeing = SelfCheckReport.checkState(store)
        #expect(disagreeing.error?.contains("the strict reader reads \(store.path) differently from JSONDecoder") == true, "\(disagreeing)")
        // A form the strict reader leaves alone goes to the decoder.
        store.strictReader = { _ in nil }
        #expect(try store.load()?.state == Sample(count: 3, name: "x"))
    }

    @Test("version metadata: the strict reader agrees with JSONDecoder, whole nanoseconds exact; other forms are left to the decoder")
    func versionMetadata() throws {
        let id = try #require(SHA256Digest(hex: String(repeating: "cd", count: 32)))
        var metadata = VersionMetadata(id: id, size: 17_000_000, version: "1.2.3", source: "binary:" + Self.hostileText, addedAt: 1_796_434_735.83678,
                                       identity: FileIdentity(device: 65_024, inode: 333_151, size: 17_000_000,
                                                              changeNanoseconds: 1_796_434_735_836_780_123, modificationNanoseconds: 1_796_434_735_836_780_999))
        metadata.readsJournalCheckpoints = true
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        let bytes = Array(try encoder.encode(metadata))
        #expect(VersionMetadata(parsing: bytes) == metadata)
        #expect(try JSONDecoder().decode(VersionMetadata.self, from: Data(bytes)) == metadata)
        // Without the optional parts, as older stores wrote it.
        let plain = VersionMetadata(id: id, size: 0, version: nil, source: "adopted:/x", addedAt: 0)
        #expect(VersionMetadata(parsing: Array(try encoder.encode(plain))) == plain)
        for other in [#"{"id":"x","size":1,"source":"s","addedAt":1}"#, #"{"id":"\#(id.hex)","size":-1,"source":"s","addedAt":1}"#,
                      #"{"id":"\#(id.hex)","size":"1","source":"s","addedAt":1}"#, #"{"id":"\#(id.hex)","size":1,"source":"s","addedAt":1e300}"#,
                      #"{"id":"\#(id.hex)","size":1,"source":"s","addedAt":1,"identity":{"device":1}}"#] {
            #expect(VersionMetadata(parsing: Array(other.utf8)) == nil, "\(other)")
        }
    }

    @Test("config.json: the strict reader takes exactly the valid ones, with the decoder's values; the rest go to the decoder for its message",
          arguments: [
              "{}", #"{"historyLimit": 7, "verifyTimeoutSeconds": 12.5, "verifyCPUSeconds": 100, "verifyMemoryBytes": 1073741824}"#,
              #"{"maxRestarts": 9223372036854775807, "confirmDeadlineSeconds": 0.25, "journalCheckpointRecords": 4, "unknownKey": [1, {"x": null}]}"#,
              #"{"restartWindowSeconds": 604800, "verifyFileSizeBytes": 1048576, "maxConfirmAttempts": 100}"#,
              #"{"historyLimit": 1}"#, #"{"historyLimit": 2.5}"#, #"{"historyLimit": "5"}"#, #"{"historyLimit": null}"#,
              #"{"verifyCPUSeconds": -1}"#, #"{"verifyMemoryBytes": 18446744073709551615}"#, #"{"confirmDeadlineSeconds": 1e999}"#,
              #"{"journalCheckpointRecords": 1e300}"#, #"{"historyLimit": 3,"#, "[]", #"{"historyLimit": 5, "historyLimit": 6}"#,
          ])
    func configuration(_ text: String) throws {
        let bytes = Array(text.utf8)
        let decoded = try? JSONDecoder().decode(UpgradeConfiguration.self, from: Data(bytes))
        let parsed = UpgradeConfiguration(parsing: bytes)
        if let parsed {
            #expect(parsed == decoded, "\(text)")
        } else if text != #"{"historyLimit": 5, "historyLimit": 6}"# {
            // Duplicate keys aside (the strict parser refuses them; the decoder decides), only
            // what the decoder refuses is left to it.
            #expect(decoded == nil, "\(text)")
        }
    }
}
