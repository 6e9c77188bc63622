import Foundation
import Integrity
import Testing

/// A home with three stored versions (kept, previous, current), damaged one way per test; then
/// `doctor` (finds it, changes nothing) and `doctor --repair` (restores a working installation,
/// keeps what it replaced), and the installation must still show its status and history,
/// upgrade and roll back.
struct DoctorHome {
    let harness: Harness
    /// Oldest first: the adopted binary, then two upgrades.
    let ids: [String]
    var kept: String { ids[0] }
    var previous: String { ids[1] }
    var current: String { ids[2] }
    var home: String { harness.home }

    init() throws {
        harness = try Harness()
        _ = try harness.initialize()
        var ids = [try harness.current()]
        for name in ["second", "third"] {
            let upgraded = try harness.run(["self-upgrade", "--from-binary", try harness.candidate(name), "--yes"])
            try #require(upgraded.status == 0, "\(upgraded.stderr)")
            ids.append(try harness.current())
        }
        self.ids = ids
    }

    func binary(_ id: String) -> String { home + "/versions/" + id + "/autodev" }

    /// Flips one byte of a file (its mode kept: a bad disk, not a chmod).
    func flipByte(_ path: String, at offset: UInt64 = 4096) throws {
        let mode = try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as! Int
        chmod(path, 0o644)
        let handle = try FileHandle(forUpdating: URL(fileURLWithPath: path))
        try handle.seek(toOffset: offset)
        let byte = try #require(try handle.read(upToCount: 1)).first!
        try handle.seek(toOffset: offset)
        try handle.write(contentsOf: Data([byte ^ 0x40]))
        try handle.close()
        chmod(path, mode_t(mode))
    }

    /// Every entry of the home, not followed through links: kind, mode, owner, size, link target
    /// and the SHA-256 of each file's content.
    func tree() throws -> [String: String] {
        var entries: [String: String] = [:]
        func walk(_ relative: String) throws {
            let path = relative.isEmpty ? home : home + "/" + relative
            let attributes = try FileManager.default.attributesOfItem(atPath: path)
            let type = attributes[.type] as! FileAttributeType
            var line = "\(type.rawValue) \(attributes[.posixPermissions] ?? "") \(attributes[.ownerAccountID] ?? "")"
            if type == .typeSymbolicLink {
                line += " -> " + (try FileManager.default.destinationOfSymbolicLink(atPath: path))
            } else if type == .typeRegular {
                line += " \(attributes[.size] ?? "") " + SHA256.hash(data: Array(try Data(contentsOf: URL(fileURLWithPath: path)))).hex
            }
            entries[relative] = line
            if type == .typeDirectory {
                for name in try FileManager.default.contentsOfDirectory(atPath: path) { try walk(relative.isEmpty ? name : relative + "/" + name) }
            }
        }
        try walk("")
        return entries
    }

    /// `doctor` run by the binary under test from outside the home (its entry point may be what is damaged).
    func doctor(_ arguments: [String] = [], environment: [String: String] = [:]) throws -> Harness.Result {
        try harness.run(["doctor", "--home", home] + arguments, executable: Harness.binary, environment: environment)
    }

    /// The finding is reported, with exit 1, and nothing on disk changes; then the repair
    /// restores it (exit 0), names what it kept aside, and a second examination is healthy.
    /// - Returns: the repair's output.
    @discardableResult
    func findAndRepair(_ kind: String, keptAside: Bool = true, environment: [String: String] = [:],
                       sourceLocation: SourceLocation = #_sourceLocation) throws -> String {
        let before = try tree()
        let found = try doctor(environment: environment)
        #expect(found.status == 1, "doctor: \(found.stdout)\(found.stderr)", sourceLocation: sourceLocation)
        #expect(found.stdout.contains("✗ \(kind) "), "doctor: \(found.stdout)", sourceLocation: sourceLocation)
        #expect(found.stdout.contains("nothing was changed"), sourceLocation: sourceLocation)
        #expect(try tree() == before, "doctor changed the home", sourceLocation: sourceLocation)
        let json = try doctor(["--json"], environment: environment)
        #expect(json.status == 1, sourceLocation: sourceLocation)
        #expect((try harness.json(json.stdout)["findings"] as? [[String: Any]])?.contains { $0["kind"] as? String == kind } == true, sourceLocation: sourceLocation)
        #expect(try tree() == before, "doctor --json changed the home", sourceLocation: sourceLocation)

        let repaired = try doctor(["--repair"], environment: environment)
        #expect(repaired.status == 0, "doctor --repair: \(repaired.stdout)\(repaired.stderr)", sourceLocation: sourceLocation)
        #expect(repaired.stdout.contains("✓ \(kind) "), "doctor --repair: \(repaired.stdout)", sourceLocation: sourceLocation)
        #expect(!repaired.stdout.contains("not repaired"), "doctor --repair: \(repaired.stdout)", sourceLocation: sourceLocation)
        if keptAside {
            #expect(repaired.stdout.contains("is kept as \"doctor/aside/"), "doctor --repair: \(repaired.stdout)", sourceLocation: sourceLocation)
        }
        let healthy = try doctor()
        #expect(healthy.status == 0, "doctor after the repair: \(healthy.stdout)", sourceLocation: sourceLocation)
        return repaired.stdout
    }

    /// Status, history, an upgrade and a rollback all work, and every stored version is intact.
    func expectWorking(sourceLocation: SourceLocation = #_sourceLocation) throws {
        let status = try harness.run(["self-upgrade", "status"])
        #expect(status.status == 0, "status: \(status.stdout)\(status.stderr)", sourceLocation: sourceLocation)
        let history = try harness.run(["self-upgrade", "history"])
        #expect(history.status == 0, "history: \(history.stderr)", sourceLocation: sourceLocation)
        let before = try harness.current()
        let upgraded = try harness.run(["self-upgrade", "--from-binary", try harness.candidate("after-repair"), "--yes"])
        #expect(upgraded.status == 0, "upgrade: \(upgraded.stderr)", sourceLocation: sourceLocation)
        #expect(try harness.current() != before, sourceLocation: sourceLocation)
        let rolledBack = try harness.run(["self-upgrade", "rollback", "--yes"])
        #expect(rolledBack.status == 0, "rollback: \(rolledBack.stderr)", sourceLocation: sourceLocation)
        #expect(try harness.current() == before, sourceLocation: sourceLocation)
        for id in ids where FileManager.default.fileExists(atPath: binary(id)) {
            #expect(SHA256.hash(data: Array(try Data(contentsOf: URL(fileURLWithPath: binary(id))))).hex == id, sourceLocation: sourceLocation)
        }
    }
}

@Suite("doctor: one test per damage class, found without a change, repaired, still working")
struct DoctorTests {
    @Test("a healthy home: exit 0, one line, nothing changed")
    func healthy() throws {
        let home = try DoctorHome()
        defer { home.harness.cleanUp() }
        let before = try home.tree()
        let result = try home.doctor()
        #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
        #expect(result.stdout.contains("is healthy: 3 stored version(s) match their hashes"), "\(result.stdout)")
        #expect(try home.doctor(["--quiet"]).stdout.isEmpty)
        #expect(try home.doctor(["--repair"]).status == 0)
        #expect(try home.tree() == before)
    }

    @Test("a flipped byte in the current, the previous and a kept binary: each restored from another copy with its hash",
          arguments: [0, 1, 2])
    func flippedByte(which: Int) throws {
        let home = try DoctorHome()
        defer { home.harness.cleanUp() }
        let id = [home.current, home.previous, home.kept][which]
        try home.flipByte(home.binary(id))
        let output = try home.findAndRepair("version-damaged")
        #expect(output.contains("restored version \(id.prefix(12)) from another copy with the same hash"), "\(output)")
        // What was replaced is kept: the damaged bytes, aside.
        let aside = try FileManager.default.subpathsOfDirectory(atPath: home.home + "/doctor/aside").filter { $0.hasSuffix(id + "/autodev") }
        #expect(aside.count == 1)
        try home.expectWorking()
    }

    @Test("a stored version deleted: restored")
    func versionDeleted() throws {
        let home = try DoctorHome()
        defer { home.harness.cleanUp() }
        try FileManager.default.removeItem(atPath: home.home + "/versions/" + home.previous)
        try home.findAndRepair("version-missing", keptAside: false)
        #expect(FileManager.default.fileExists(atPath: home.binary(home.previous)))
        try home.expectWorking()
    }

    @Test("current deleted, or pointing at a missing version: put back where the journal says")
    func currentLink() throws {
        for damage in ["deleted", "dangling"] {
            let home = try DoctorHome()
            defer { home.harness.cleanUp() }
            try FileManager.default.removeItem(atPath: home.home + "/current")
            if damage == "dangling" {
                try FileManager.default.createSymbolicLink(atPath: home.home + "/current", withDestinationPath: "versions/" + String(repeating: "ab", count: 32))
            }
            try home.findAndRepair("current", keptAside: damage == "dangling")
            #expect(try home.harness.current() == home.current)
            try home.expectWorking()
        }
    }

    @Test("bin/autodev deleted, or replaced by another program: the link again, the program kept aside")
    func entryPoint() throws {
        for damage in ["deleted", "replaced"] {
            let home = try DoctorHome()
            defer { home.harness.cleanUp() }
            try FileManager.default.removeItem(atPath: home.harness.entry)
            if damage == "replaced" {
                try "#!/bin/sh\necho impostor\n".write(toFile: home.harness.entry, atomically: false, encoding: .utf8)
                chmod(home.harness.entry, 0o755)
            }
            let output = try home.findAndRepair("entry-point", keptAside: damage == "replaced")
            #expect(try FileManager.default.destinationOfSymbolicLink(atPath: home.harness.entry) == "../current/autodev")
            if damage == "replaced" {
                let kept = try #require(output.split(separator: "\"").first { $0.hasPrefix("doctor/aside/") })
                #expect(try String(contentsOfFile: home.home + "/" + kept, encoding: .utf8) == "#!/bin/sh\necho impostor\n")
            }
            try home.expectWorking()
        }
    }

    @Test("the state file truncated or garbage: kept aside, the program starts again")
    func stateFile() throws {
        for damage in ["truncated", "garbage"] {
            let home = try DoctorHome()
            defer { home.harness.cleanUp() }
            let path = home.home + "/state/autodev.json"
            let original = try Data(contentsOf: URL(fileURLWithPath: path))
            let damaged = damage == "truncated" ? original.prefix(5) : Data("\u{0}garbage\u{7f}".utf8)
            try damaged.write(to: URL(fileURLWithPath: path))
            try home.findAndRepair("state")
            try home.expectWorking()
        }
    }

    @Test("the configuration garbage: kept aside, the defaults apply")
    func configuration() throws {
        let home = try DoctorHome()
        defer { home.harness.cleanUp() }
        try Data("{not json".utf8).write(to: URL(fileURLWithPath: home.home + "/config.json"))
        #expect(try home.harness.run(["self-upgrade", "status"]).status == 1)
        try home.findAndRepair("configuration")
        try home.expectWorking()
    }

    @Test("the journal cut short: rebuilt by the journal rebuild, the damaged one kept")
    func journal() throws {
        let home = try DoctorHome()
        defer { home.harness.cleanUp() }
        let lines = try home.harness.journalLines()
        try (lines.prefix(2).joined(separator: "\n") + "\n").write(toFile: home.home + "/journal", atomically: false, encoding: .utf8)
        let output = try home.findAndRepair("journal", keptAside: false)
        #expect(output.contains("rebuilt the journal from 3 stored version(s)"), "\(output)")
        #expect(try home.harness.current() == home.current)
        try home.expectWorking()
    }

    @Test("wrong permissions on the home: set back")
    func permissions() throws {
        let home = try DoctorHome()
        defer { home.harness.cleanUp() }
        chmod(home.home, 0o777)
        chmod(home.binary(home.current), 0o644)
        chmod(home.home + "/state/autodev.json", 0o666)
        let output = try home.findAndRepair("permissions", keptAside: false)
        #expect(output.contains("set its mode to 0555"), "\(output)")
        #expect((try FileManager.default.attributesOfItem(atPath: home.home)[.posixPermissions] as? Int) == 0o755)
        try home.expectWorking()
    }
}
