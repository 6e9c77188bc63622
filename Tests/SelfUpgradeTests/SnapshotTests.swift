import Foundation
import Platform
import Integrity
import SelfUpgrade
import Storage
import Testing

@Suite("Snapshots of configuration and state: content-addressed, deduplicated, pruned")
struct SnapshotTests {
    let root = FileManager.default.temporaryDirectory.appendingPathComponent("snapshots-\(UUID().uuidString.prefix(8))").path

    func home() throws -> Home {
        let home = Home(root: root)
        try home.createLayout()
        try Data("{\"historyLimit\": 5}\n".utf8).write(to: URL(fileURLWithPath: home.configuration))
        return home
    }

    func write(_ home: Home, state: String) throws {
        try Data("{\"schema\":1}\n{\"value\":\"\(state)\"}\n".utf8).write(to: URL(fileURLWithPath: home.state + "/app.json"))
    }

    func entries(_ path: String) -> [String] { ((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []).sorted() }

    @Test("an unchanged state and version write nothing; a changed file adds only its new content")
    func deduplicated() throws {
        let home = try home()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let store = SnapshotStore(home: home)
        let version = SHA256.hash(data: Array("a".utf8))
        try write(home, state: "one")
        let first = try store.take(version: version, transaction: "tx-1", retaining: [])
        #expect(first.files.keys.sorted() == ["config.json", "state/app.json"])
        let listing = entries(store.directory) + entries(store.directory + "/objects")
        let again = try store.take(version: version, transaction: "tx-2", retaining: [])
        #expect(again == first)
        #expect(entries(store.directory) + entries(store.directory + "/objects") == listing, "an unchanged state wrote something")
        try write(home, state: "two")
        let second = try store.take(version: version, transaction: "tx-3", retaining: [])
        #expect(second.sequence == 2)
        #expect(second.files["config.json"] == first.files["config.json"])
        #expect(entries(store.directory + "/objects").count == 3, "config stored once, two states")
        #expect(store.contents(of: "state/app.json", in: first) == Array("{\"schema\":1}\n{\"value\":\"one\"}\n".utf8))
    }

    @Test("rollbacks back and forth with the state unchanged write one snapshot per version; a change under either writes again")
    func backAndForth() throws {
        let home = try home()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let store = SnapshotStore(home: home)
        let a = SHA256.hash(data: Array("a".utf8))
        let b = SHA256.hash(data: Array("b".utf8))
        try write(home, state: "one")
        let underA = try store.take(version: a, transaction: "tx-1", retaining: [a])
        let underB = try store.take(version: b, transaction: "tx-2", retaining: [a, b])
        let listing = entries(store.directory) + entries(store.directory + "/objects")
        for round in 3...8 {
            let version = round % 2 == 1 ? a : b
            #expect(try store.take(version: version, transaction: "tx-\(round)", retaining: [a, b]) == (version == a ? underA : underB))
        }
        #expect(entries(store.directory) + entries(store.directory + "/objects") == listing, "an unchanged state wrote something")
        // The state changes under b: leaving b records it, and leaving a afterwards records a's
        // view of it too (the newest snapshot of a holds the old state).
        try write(home, state: "two")
        let changed = try store.take(version: b, transaction: "tx-9", retaining: [a, b])
        #expect(changed.sequence == 3)
        let again = try store.take(version: a, transaction: "tx-10", retaining: [a, b])
        #expect(again.sequence == 4)
        #expect(store.newest(for: a) == again)
        #expect(store.contents(of: "state/app.json", in: again) == Array("{\"schema\":1}\n{\"value\":\"two\"}\n".utf8))
        // A snapshot older than the newest two is not looked for: a third version in between
        // makes a's next snapshot a new one.
        let c = SHA256.hash(data: Array("c".utf8))
        #expect(try store.take(version: c, transaction: "tx-11", retaining: [b, c]).sequence == 5)
        #expect(try store.take(version: b, transaction: "tx-12", retaining: [b, c]).sequence == 6)
        #expect(try store.take(version: a, transaction: "tx-13", retaining: [a, b]).sequence == 7)
    }

    @Test("pruned once twice five are there, to the newest five and the newest of each retained version; unreferenced content goes")
    func pruned() throws {
        let home = try home()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let store = SnapshotStore(home: home)
        let old = SHA256.hash(data: Array("old".utf8))
        let new = SHA256.hash(data: Array("new".utf8))
        try write(home, state: "0")
        let retained = try store.take(version: old, transaction: "tx-old", retaining: [old])
        for index in 1...9 {
            try write(home, state: "\(index)")
            try store.take(version: new, transaction: "tx-\(index)", retaining: [old, new])
        }
        #expect(store.list().count == 10, "pruned before twice five were there")
        try write(home, state: "10")
        try store.take(version: new, transaction: "tx-10", retaining: [old, new])
        let kept = store.list()
        #expect(kept.count == 6)
        #expect(kept.first == retained)
        #expect(store.newest(for: old) == retained)
        #expect(kept.suffix(5).map(\.sequence) == [7, 8, 9, 10, 11])
        // Content of the removed snapshots is gone; that of the kept ones is intact.
        #expect(entries(store.directory + "/objects").count == 7)
        for snapshot in kept { #expect(store.contents(of: "state/app.json", in: snapshot) != nil) }
    }

    @Test("a damaged object is never restored: the restore refuses and writes nothing")
    func damagedObject() throws {
        let home = try home()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let store = SnapshotStore(home: home)
        try write(home, state: "kept")
        let snapshot = try store.take(version: nil, transaction: "tx-1", retaining: [])
        try Data("tampered".utf8).write(to: URL(fileURLWithPath: store.directory + "/objects/" + snapshot.files["state/app.json"]!))
        try write(home, state: "now")
        #expect(throws: StorageError.self) { try store.restore(snapshot) }
        #expect(try String(contentsOfFile: home.state + "/app.json", encoding: .utf8).contains("now"))
    }

    @Test("a manifest numbered near Int.max, below zero, or out of its name's order is skipped; the next snapshot follows the real newest")
    func foreignManifests() throws {
        let home = try home()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let store = SnapshotStore(home: home)
        try write(home, state: "one")
        let first = try store.take(version: nil, transaction: "tx-1", retaining: [])
        let manifest = try String(contentsOfFile: store.directory + "/" + first.name + ".json", encoding: .utf8)
        for (name, sequence) in [("99999999-tx-huge", "9223372036854775807"), ("00000000-tx-negative", "-5"), ("99999998-tx-renamed", "1"),
                                 ("2147483647-tx-ten", "2147483647"), ("00000007-tx\u{1B}[31m", "7"), ("00000008-", "8")] {
            let planted = manifest.replacingOccurrences(of: #""sequence":1"#, with: #""sequence":"# + sequence)
                .replacingOccurrences(of: #""transaction":"tx-1""#, with: #""transaction":""# + String(name.dropFirst(9)) + #"""#)
            try planted.write(toFile: store.directory + "/" + name + ".json", atomically: true, encoding: .utf8)
        }
        #expect(store.list().map(\.name) == [first.name])
        try write(home, state: "two")
        #expect(try store.take(version: nil, transaction: "tx-2", retaining: []).sequence == 2)
        // One at the end of the range is read, and nothing is written past it: a clear refusal.
        let last = manifest.replacingOccurrences(of: #""sequence":1"#, with: #""sequence":99999999"#)
            .replacingOccurrences(of: #""transaction":"tx-1""#, with: #""transaction":"tx-last""#)
        try last.write(toFile: store.directory + "/99999999-tx-last.json", atomically: true, encoding: .utf8)
        try write(home, state: "three")
        let refusal = #expect(throws: StorageError.self) { try store.take(version: nil, transaction: "tx-3", retaining: []) }
        #expect(refusal?.description.contains("99999999-tx-last.json") == true, "\(String(describing: refusal))")
    }

    @Test("a torn manifest is skipped, never believed")
    func tornManifest() throws {
        let home = try home()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let store = SnapshotStore(home: home)
        try write(home, state: "one")
        try store.take(version: nil, transaction: "tx-1", retaining: [])
        try Data("{\"format\":1,\"seq".utf8).write(to: URL(fileURLWithPath: store.directory + "/00000002-tx-2.json"))
        #expect(store.list().map(\.sequence) == [1])
    }
}
