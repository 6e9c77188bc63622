import Foundation
import Integrity
import Testing
import TestSupport

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

    /// - Parameter configuration: written as the home's config.json before the upgrades.
    init(configuration: String? = nil) throws {
        harness = try Harness()
        _ = try harness.initialize()
        if let configuration { try configuration.write(toFile: harness.home + "/config.json", atomically: true, encoding: .utf8) }
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

    @Test("bad input: no installation, a bad rate, an extra argument, a home locked by a transaction; a clear error and nothing changed")
    func badInput() throws {
        let home = try DoctorHome()
        defer { home.harness.cleanUp() }
        let missing = home.harness.root.path + "/nowhere"
        let none = try home.harness.run(["doctor", "--home", missing], executable: Harness.binary)
        #expect(none.status == 1 && none.stderr.contains("No installation at \"\(missing)\""), "\(none.stderr)")
        #expect(!FileManager.default.fileExists(atPath: missing))
        for arguments in [["--rate", "0"], ["--rate", "fast"], ["--rate", "9223372036854775808"], ["extra"], ["--bogus"]] {
            let refused = try home.doctor(arguments)
            #expect(refused.status == 64, "\(arguments): \(refused.stderr)")
            #expect(refused.stderr.hasPrefix("Error: "), "\(arguments): \(refused.stderr)")
        }
        try home.flipByte(home.binary(home.kept))
        let before = try home.tree()
        // A transaction in progress holds the lock: the repair waits for nothing and changes nothing.
        let fd = open(home.home + "/lock", O_RDWR)
        defer { close(fd) }
        #expect(flock(fd, LOCK_EX | LOCK_NB) == 0)
        let locked = try home.doctor(["--repair"])
        #expect(locked.status == 1, "\(locked.stdout)")
        #expect(locked.stderr.contains("Another transaction holds the lock"), "\(locked.stderr)")
        #expect(try home.tree() == before)
        flock(fd, LOCK_UN)
        #expect(try home.doctor(["--repair"]).status == 0)
    }

    @Test("a rollback between the doctor's read of the journal and its read of current: examined again, no finding made of a half-seen change")
    func rollbackDuringExamination() throws {
        let home = try DoctorHome()
        defer { home.harness.cleanUp() }
        // The doctor stops itself once the journal is read; a whole rollback runs; it goes on.
        let doctor = try home.harness.start(["doctor", "--json"], environment: ["AUTODEV_FAILPOINT": "stop-doctor-journal-read"])
        try #require(Processes.waitUntilStopped(doctor.pid), "the doctor did not stop at its fail point")
        defer { kill(doctor.pid, SIGCONT) }
        let rolledBack = try home.harness.run(["self-upgrade", "rollback", "--yes"])
        kill(doctor.pid, SIGCONT)
        let result = doctor.finish()
        #expect(rolledBack.status == 0, "\(rolledBack.stderr)")
        #expect(try home.harness.current() == home.previous)
        #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
        let report = try home.harness.json(result.stdout)
        #expect((report["findings"] as? [[String: Any]])?.isEmpty == true, "\(result.stdout)")
        // Examined again once, undisturbed: no note that the home kept changing.
        #expect(report["inProgress"] == nil, "\(result.stdout)")
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

    @Test("entries under a digest's name that are no version's directory: strays left alone (no mode changed), a needed version's directory replaced by a link restored")
    func strayVersionEntries() throws {
        let home = try DoctorHome()
        defer { home.harness.cleanUp() }
        let outside = home.harness.root.path + "/outside"
        try FileManager.default.createDirectory(atPath: outside, withIntermediateDirectories: true)
        try "kept".write(toFile: outside + "/precious", atomically: true, encoding: .utf8)
        let versions = home.home + "/versions/"
        try FileManager.default.createSymbolicLink(atPath: versions + String(repeating: "a", count: 64), withDestinationPath: outside)
        try "stray".write(toFile: versions + String(repeating: "b", count: 64), atomically: true, encoding: .utf8)
        #expect(chmod(versions + String(repeating: "b", count: 64), 0o644) == 0)
        #expect(mkfifo(versions + String(repeating: "c", count: 64), 0o644) == 0)
        try FileManager.default.createDirectory(atPath: versions + home.current.uppercased(), withIntermediateDirectories: false)
        let healthy = try home.doctor()
        #expect(healthy.status == 0, "doctor: \(healthy.stdout)")
        // The kept version's directory replaced by a link to a copy outside the home.
        try FileManager.default.moveItem(atPath: versions + home.kept, toPath: outside + "/" + home.kept)
        try FileManager.default.createSymbolicLink(atPath: versions + home.kept, withDestinationPath: outside + "/" + home.kept)
        let found = try home.doctor()
        #expect(found.stdout.contains("a symbolic link stands in place of its directory"), "doctor: \(found.stdout)")
        try home.findAndRepair("version-missing")
        #expect(FileManager.default.fileExists(atPath: outside + "/precious"))
        #expect(FileManager.default.fileExists(atPath: outside + "/" + home.kept + "/autodev"))
        #expect(try FileManager.default.attributesOfItem(atPath: versions + String(repeating: "b", count: 64))[.posixPermissions] as? Int == 0o644)
        #expect(try FileManager.default.attributesOfItem(atPath: versions + home.kept)[.type] as? FileAttributeType == .typeDirectory)
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

    @Test("a damaged archive segment behind a refused checkpoint: the repair the error suggests names the home, not the archive")
    func repairHintNamesTheHome() throws {
        let home = try DoctorHome(configuration: "{\"journalCheckpointRecords\": 4}\n")
        defer { home.harness.cleanUp() }
        let archive = home.home + "/journal.d"
        let first = try #require(try FileManager.default.contentsOfDirectory(atPath: archive).first { $0.hasPrefix("1-") })
        // A changed byte in the first segment, and in the checkpoint, which sends readers there.
        let segment = try String(contentsOfFile: archive + "/" + first, encoding: .utf8).split(separator: "\n").map(String.init)
        try ([segment[0], segment[1].replacingOccurrences(of: "\"kind\"", with: "\"kinD\"")] + segment.dropFirst(2)).joined(separator: "\n")
            .appending("\n").write(toFile: archive + "/" + first, atomically: false, encoding: .utf8)
        let lines = try home.harness.journalLines()
        try ([lines[0].replacingOccurrences(of: "\"kind\":\"checkpoint\"", with: "\"kind\":\"checkpoinT\"")] + lines.dropFirst()).joined(separator: "\n")
            .appending("\n").write(toFile: home.home + "/journal", atomically: false, encoding: .utf8)
        let result = try home.harness.run(["self-upgrade", "status"])
        #expect(result.status == 1, "\(result.stderr)")
        let hint = try #require(result.stderr.split(separator: "\n").first { $0.contains("To rebuild it") }, "\(result.stderr)")
        #expect(hint.hasSuffix(" " + home.home) || hint.hasSuffix("'\(home.home)'"), "\(hint)")
    }

    @Test("the journal's checkpoint damaged, alone or followed by records: a new checkpoint, no history lost",
          arguments: [false, true])
    func checkpoint(followedByRecords: Bool) throws {
        let home = try DoctorHome(configuration: "{\"journalCheckpointRecords\": 4}\n")
        defer { home.harness.cleanUp() }
        if followedByRecords {
            try "{\"journalCheckpointRecords\": 64}\n".write(toFile: home.home + "/config.json", atomically: true, encoding: .utf8)
            #expect(try home.harness.run(["self-upgrade", "rollback", "--yes"]).status == 0)
            try "{\"journalCheckpointRecords\": 4}\n".write(toFile: home.home + "/config.json", atomically: true, encoding: .utf8)
        }
        let lines = try home.harness.journalLines()
        #expect((lines.count > 1) == followedByRecords)
        #expect(lines.first?.contains("\"kind\":\"checkpoint\"") == true, "no checkpoint was written: \(lines.first ?? "")")
        let history = try home.harness.run(["self-upgrade", "history", "--json"]).stdout
        // A changed byte: the line's checksum no longer matches.
        let damaged = [lines[0].replacingOccurrences(of: "\"kind\":\"checkpoint\"", with: "\"kind\":\"checkpoinT\"")] + lines.dropFirst()
        try (damaged.joined(separator: "\n") + "\n").write(toFile: home.home + "/journal", atomically: false, encoding: .utf8)
        try home.findAndRepair("journal-checkpoint")
        #expect(try home.harness.journalLines().first?.contains("\"kind\":\"checkpoint\"") == true)
        #expect(try home.harness.run(["self-upgrade", "history", "--json"]).stdout == history)
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

extension DoctorHome {
    /// `release` and `update` commands run by the binary under test in the harness's directory.
    func tool(_ arguments: [String]) throws -> Harness.Result {
        try harness.run(arguments, executable: Harness.binary, directory: harness.root.path)
    }

    /// A release repository `repo` in the harness's directory, with `artifacts` published as
    /// 1.0.0, 1.0.1, … for linux-x86_64.
    func publish(_ artifacts: [String]) throws {
        #expect(try tool(["release", "init", "--repo", "repo"]).status == 0)
        for (index, artifact) in artifacts.enumerated() {
            let added = try tool(["release", "add", "--repo", "repo", "--version", "1.0.\(index)", "--platform", "linux-x86_64", artifact])
            #expect(added.status == 0, "\(added.stderr)")
        }
        #expect(try tool(["release", "publish", "--repo", "repo"]).status == 0)
    }

    /// The home follows `url`, trusting the repository's first root, and has checked it once.
    func follow(_ url: String) throws {
        let configured = try harness.run(["update", "configure", "--channel", url, "--trusted-root", harness.root.path + "/repo/metadata/1.root.json"])
        #expect(configured.status == 0, "\(configured.stderr)")
        let checked = try harness.run(["update", "check"])
        #expect(checked.status == 0, "\(checked.stdout)\(checked.stderr)")
    }
}

@Suite("doctor: the release channel, the module store, and hostile homes")
struct DoctorChannelTests {
    @Test("the channel's timestamp.json damaged: kept aside, fetched again and verified against the trusted root")
    func timestampDamaged() throws {
        let home = try DoctorHome()
        defer { home.harness.cleanUp() }
        try home.publish([])
        try home.follow("file://" + home.harness.root.path + "/repo")
        let timestamp = home.home + "/channel/metadata/timestamp.json"
        var bytes = try Data(contentsOf: URL(fileURLWithPath: timestamp))
        // A changed version number: still JSON, no longer what the timestamp key signed.
        let text = String(decoding: bytes, as: UTF8.self).replacingOccurrences(of: "\"version\":1", with: "\"version\":7")
        bytes = Data(text.utf8)
        try bytes.write(to: URL(fileURLWithPath: timestamp))
        let output = try home.findAndRepair("channel-metadata")
        #expect(output.contains("fetched again from file://"), "\(output)")
        #expect(try home.harness.run(["update", "check"]).status == 0)
        try home.expectWorking()
    }

    @Test("a stored version whose only good copy is on the release channel: downloaded again by its hash over loopback",
          .enabled(if: StaticServer.available, "needs python3 for the loopback HTTP server"))
    func redownload() throws {
        let home = try DoctorHome()
        defer { home.harness.cleanUp() }
        let artifact = try home.harness.candidate("released")
        try home.publish([artifact])
        let server = try StaticServer(serving: try home.harness.publicView(of: home.harness.root.path + "/repo"))
        defer { server.stop() }
        let upgraded = try home.harness.run(["self-upgrade", "--from-binary", artifact, "--yes"])
        #expect(upgraded.status == 0, "\(upgraded.stderr)")
        let released = try home.harness.current()
        try home.follow(server.url)
        // No other copy: the file it was installed from is gone, and the doctor runs another binary.
        try FileManager.default.removeItem(atPath: artifact)
        try home.flipByte(home.binary(released))
        let output = try home.findAndRepair("version-damaged")
        #expect(output.contains("downloaded version \(released.prefix(12)) again from the release channel by its hash, verified through TUF"), "\(output)")
        #expect(output.contains("(from \"\(server.url)/targets/autodev/1.0.0/linux-x86_64/released\")"), "\(output)")
        #expect(try home.harness.current() == released)
        try home.expectWorking()
    }

    @Test("a stored version with no good copy anywhere: reported, not repaired, exit 1, nothing deleted")
    func noCopy() throws {
        let home = try DoctorHome()
        defer { home.harness.cleanUp() }
        try FileManager.default.removeItem(atPath: home.harness.root.path + "/second")
        try home.flipByte(home.binary(home.previous))
        let damaged = try Data(contentsOf: URL(fileURLWithPath: home.binary(home.previous)))
        let repaired = try home.doctor(["--repair"])
        #expect(repaired.status == 1, "\(repaired.stdout)")
        #expect(repaired.stdout.contains("not repaired: no trusted copy of version \(home.previous.prefix(12)) was found"), "\(repaired.stdout)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: home.binary(home.previous))) == damaged)
    }

    @Test("a module store entry damaged: restored from the copy in the home's build directory")
    func moduleEntry() throws {
        let home = try DoctorHome()
        defer { home.harness.cleanUp() }
        let program = Data("#!/bin/sh\necho module\n".utf8)
        let digest = SHA256.hash(data: Array(program)).hex
        for directory in [home.home + "/modules/store/" + digest, home.home + "/build/release"] {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            try program.write(to: URL(fileURLWithPath: directory + "/counter-module"))
        }
        let entry = home.home + "/modules/store/" + digest + "/counter-module"
        chmod(entry, 0o755)
        #expect(try home.doctor().status == 0)
        try home.flipByte(entry, at: 3)
        try home.findAndRepair("module")
        #expect(try Data(contentsOf: URL(fileURLWithPath: entry)) == program)
        try home.expectWorking()
    }

    /// Attacks on the doctor itself: each plants something in the home; the doctor must not
    /// hang, must write nothing outside the home (the outside directory is unchanged), must
    /// repair the home, and everything must work afterwards.
    @Test("hostile homes: planted links, a FIFO, a huge file, hard links, another user's file (16 cases)", arguments: DoctorAttack.allCases)
    func hostile(_ attack: DoctorAttack) throws {
        let home = try DoctorHome()
        defer { home.harness.cleanUp() }
        let outside = home.harness.root.path + "/outside"
        try FileManager.default.createDirectory(atPath: outside, withIntermediateDirectories: true)
        try Data("secret\n".utf8).write(to: URL(fileURLWithPath: outside + "/secret"))
        try attack.plant(home, outside: outside)
        let listing = { try FileManager.default.subpathsOfDirectory(atPath: outside).sorted().map { name in
            name + " " + SHA256.hash(data: Array((FileManager.default.contents(atPath: outside + "/" + name)) ?? Data())).hex
        } }
        let before = try listing()
        let (examined, ended) = try home.harness.runBounded(["doctor", "--home", home.home], executable: Harness.binary, seconds: 20)
        #expect(ended, "doctor did not end: \(attack)")
        #expect(examined.status == 1)
        #expect(examined.stdout.contains("✗ \(attack.kind) "), "\(attack): \(examined.stdout)")
        try home.findAndRepair(attack.kind, keptAside: false)
        #expect(try listing() == before, "\(attack): the doctor changed something outside the home")
        try home.expectWorking()
    }
}

/// What a hostile user plants in a home before the doctor runs.
enum DoctorAttack: String, CaseIterable, CustomTestStringConvertible {
    case stateDirectoryLink, doctorDirectoryLink, asideDirectoryLink, stagingLink, entryPointLink, versionLink,
         stateFIFO, hugeState, configurationHardLink, foreignOwner, channelLink, journalLink, snapshotsLink, metadataLink,
         journalHardLink, journalArchiveLink

    var testDescription: String { rawValue }

    /// The finding it must cause.
    var kind: String {
        switch self {
        case .stateDirectoryLink, .doctorDirectoryLink, .asideDirectoryLink, .stagingLink, .channelLink, .snapshotsLink, .journalArchiveLink: "layout"
        case .metadataLink: "version-metadata"
        case .entryPointLink: "entry-point"
        case .versionLink: "version-damaged"
        case .stateFIFO, .hugeState: "state"
        case .configurationHardLink: "configuration"
        case .foreignOwner: "owner"
        case .journalLink, .journalHardLink: "journal"
        }
    }

    func plant(_ home: DoctorHome, outside: String) throws {
        let manager = FileManager.default
        let state = home.home + "/state/autodev.json"
        switch self {
        case .stateDirectoryLink:
            try manager.moveItem(atPath: home.home + "/state", toPath: outside + "/state")
            try manager.createSymbolicLink(atPath: home.home + "/state", withDestinationPath: outside + "/state")
        case .doctorDirectoryLink:
            try manager.createSymbolicLink(atPath: home.home + "/doctor", withDestinationPath: outside)
            try Data("garbage".utf8).write(to: URL(fileURLWithPath: state))
        case .asideDirectoryLink:
            try manager.createDirectory(atPath: home.home + "/doctor", withIntermediateDirectories: true)
            try manager.createSymbolicLink(atPath: home.home + "/doctor/aside", withDestinationPath: outside)
            try Data("garbage".utf8).write(to: URL(fileURLWithPath: state))
        case .stagingLink:
            try manager.removeItem(atPath: home.home + "/staging")
            try manager.createSymbolicLink(atPath: home.home + "/staging", withDestinationPath: outside)
            try home.flipByte(home.binary(home.current))
        case .entryPointLink:
            try manager.removeItem(atPath: home.harness.entry)
            try manager.createSymbolicLink(atPath: home.harness.entry, withDestinationPath: outside + "/secret")
        case .versionLink:
            try manager.removeItem(atPath: home.binary(home.previous))
            try manager.createSymbolicLink(atPath: home.binary(home.previous), withDestinationPath: outside + "/secret")
        case .stateFIFO:
            try manager.removeItem(atPath: state)
            #expect(mkfifo(state, 0o600) == 0)
        case .hugeState:
            let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: state))
            try handle.truncate(atOffset: 1 << 30)
            try handle.close()
        case .configurationHardLink:
            try Data("{\"historyLimit\": \"many\"}".utf8).write(to: URL(fileURLWithPath: outside + "/config"))
            try? manager.removeItem(atPath: home.home + "/config.json")
            #expect(link(outside + "/config", home.home + "/config.json") == 0)
        case .foreignOwner:
            #expect(chown(state, 12345, 12345) == 0)
        case .channelLink:
            try manager.createSymbolicLink(atPath: home.home + "/channel", withDestinationPath: outside)
        case .snapshotsLink:
            // The snapshots moved out, a link left: a transaction would write its snapshot outside.
            try manager.moveItem(atPath: home.home + "/snapshots", toPath: outside + "/snapshots")
            try manager.createSymbolicLink(atPath: home.home + "/snapshots", withDestinationPath: outside + "/snapshots")
        case .metadataLink:
            let metadata = home.home + "/versions/" + home.kept + "/meta.json"
            try manager.moveItem(atPath: metadata, toPath: outside + "/meta.json")
            try manager.createSymbolicLink(atPath: metadata, withDestinationPath: outside + "/meta.json")
        case .journalLink:
            try manager.moveItem(atPath: home.home + "/journal", toPath: outside + "/journal")
            try manager.createSymbolicLink(atPath: home.home + "/journal", withDestinationPath: outside + "/journal")
        case .journalHardLink:
            // Every change would be refused (a journal with two names): the doctor must not call it healthy.
            try manager.moveItem(atPath: home.home + "/journal", toPath: outside + "/journal")
            #expect(link(outside + "/journal", home.home + "/journal") == 0)
        case .journalArchiveLink:
            try manager.createDirectory(atPath: outside + "/journal.d", withIntermediateDirectories: true)
            try manager.createSymbolicLink(atPath: home.home + "/journal.d", withDestinationPath: outside + "/journal.d")
        }
    }
}

@Suite("Snapshots of configuration and state, and rollback --restore-state")
struct SnapshotCommandTests {
    func notes(_ home: DoctorHome) throws -> String {
        try String(contentsOfFile: home.home + "/state/notes.json", encoding: .utf8)
    }

    func writeNotes(_ home: DoctorHome, _ text: String) throws {
        try "{\"schema\":1}\n{\"note\":\"\(text)\"}\n".write(toFile: home.home + "/state/notes.json", atomically: true, encoding: .utf8)
    }

    @Test("a default rollback leaves the state; --restore-state returns it to the snapshot taken when the target last ran")
    func restoreState() throws {
        let home = try DoctorHome()
        defer { home.harness.cleanUp() }
        try writeNotes(home, "written under the third version")
        #expect(try home.harness.run(["self-upgrade", "rollback", "--yes"]).status == 0)
        #expect(try home.harness.current() == home.previous)
        #expect(try notes(home).contains("written under the third version"), "a default rollback changed the state")
        try writeNotes(home, "written under the second version")
        let listed = try home.harness.run(["self-upgrade", "snapshots", "--json"])
        #expect(listed.status == 0, "\(listed.stderr)")
        let snapshots = try #require(try JSONSerialization.jsonObject(with: Data(listed.stdout.utf8)) as? [[String: Any]])
        #expect(snapshots.last?["version"] as? String == home.current)
        #expect((snapshots.last?["files"] as? [String: String])?["state/notes.json"] != nil)

        let restored = try home.harness.run(["self-upgrade", "rollback", "--restore-state", "--to", String(home.current.prefix(12)), "--yes"])
        #expect(restored.status == 0, "\(restored.stderr)")
        #expect(try home.harness.current() == home.current)
        #expect(try notes(home).contains("written under the third version"))
        // What it replaced is in the snapshot that rollback took first.
        let after = try #require(try JSONSerialization.jsonObject(with: Data(try home.harness.run(["self-upgrade", "snapshots", "--json"]).stdout.utf8)) as? [[String: Any]])
        let taken = try #require(after.last)
        #expect(taken["version"] as? String == home.previous)
        let digest = try #require((taken["files"] as? [String: String])?["state/notes.json"])
        #expect(try String(contentsOfFile: home.home + "/snapshots/objects/" + digest, encoding: .utf8).contains("written under the second version"))
        let table = try home.harness.run(["self-upgrade", "snapshots"])
        #expect(table.stdout.contains("(previous)") && table.stdout.contains("state/notes.json"), "\(table.stdout)")
    }

    @Test("snapshots planted as a link out of the home: a rollback works and writes no snapshot through it")
    func plantedLink() throws {
        let home = try DoctorHome()
        defer { home.harness.cleanUp() }
        let outside = home.harness.root.path + "/outside"
        try FileManager.default.moveItem(atPath: home.home + "/snapshots", toPath: outside)
        try FileManager.default.createSymbolicLink(atPath: home.home + "/snapshots", withDestinationPath: outside)
        let before = try FileManager.default.subpathsOfDirectory(atPath: outside).sorted()
        try "{\"schema\":1}\n{\"note\":\"changed\"}\n".write(toFile: home.home + "/state/notes.json", atomically: true, encoding: .utf8)
        let rollback = try home.harness.run(["self-upgrade", "rollback", "--yes"])
        #expect(rollback.status == 0, "\(rollback.stderr)")
        #expect(try FileManager.default.subpathsOfDirectory(atPath: outside).sorted() == before)
        #expect(try home.harness.run(["self-upgrade", "rollback", "--restore-state", "--yes"]).status == 1)
        #expect(try FileManager.default.subpathsOfDirectory(atPath: outside).sorted() == before)
    }

    @Test("--restore-state whose target fails its confirmation: the old version comes back with the state it had")
    func restoreUndone() throws {
        let home = try DoctorHome()
        defer { home.harness.cleanUp() }
        try writeNotes(home, "written under the third version")
        #expect(try home.harness.run(["self-upgrade", "rollback", "--yes"]).status == 0)
        try writeNotes(home, "written under the second version")
        let failed = try home.harness.run(["self-upgrade", "rollback", "--restore-state", "--to", String(home.current.prefix(12)), "--yes"],
                                          environment: ["AUTODEV_FAILPOINT": "fail-confirm"])
        #expect(failed.status == 1, "\(failed.stderr)")
        #expect(try home.harness.current() == home.previous)
        #expect(try notes(home).contains("written under the second version"))
        #expect(try home.doctor().status == 0)
    }

    @Test("--restore-state with no snapshot of the target: refused, exit 1, nothing changed")
    func noSnapshot() throws {
        let home = try DoctorHome()
        defer { home.harness.cleanUp() }
        try FileManager.default.removeItem(atPath: home.home + "/snapshots")
        let before = try home.tree()
        let refused = try home.harness.run(["self-upgrade", "rollback", "--restore-state", "--yes"])
        #expect(refused.status == 1)
        #expect(refused.stderr.contains("No snapshot of the configuration and state taken while version \(home.previous.prefix(12)) was running"), "\(refused.stderr)")
        // The lock file records the pid of its last holder, as after any command that takes it.
        var after = try home.tree()
        after["lock"] = before["lock"]
        #expect(after == before)
    }

    @Test("the configuration garbage and the channel's root.json damaged: restored from the last good snapshot")
    func fromSnapshot() throws {
        let home = try DoctorHome()
        defer { home.harness.cleanUp() }
        try home.publish([])
        try home.follow("file://" + home.harness.root.path + "/repo")
        // A version change snapshots the channel's trusted root with the rest.
        #expect(try home.harness.run(["self-upgrade", "rollback", "--yes"]).status == 0)
        let root = home.home + "/channel/metadata/root.json"
        let good = try Data(contentsOf: URL(fileURLWithPath: root))
        let config = try Data(contentsOf: URL(fileURLWithPath: home.home + "/config.json"))
        try Data(String(decoding: good, as: UTF8.self).replacingOccurrences(of: "\"root\"", with: "\"rooT\"").utf8).write(to: URL(fileURLWithPath: root))
        try Data("[]".utf8).write(to: URL(fileURLWithPath: home.home + "/config.json"))
        let output = try home.findAndRepair("channel-metadata")
        #expect(output.contains("✓ configuration config.json: restored it from snapshot"), "\(output)")
        #expect(output.contains("restored the trusted root from snapshot"), "\(output)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: root)) == good)
        #expect(try Data(contentsOf: URL(fileURLWithPath: home.home + "/config.json")) == config)
        #expect(try home.harness.run(["update", "check"]).status == 0)
        try home.expectWorking()
    }
}

@Suite("doctor --quiet for a timer: findings kept for self-upgrade status")
struct DoctorMonitoringTests {
    @Test("a damaged version found by 'doctor --quiet --rate' shows in status until repaired")
    func statusLine() throws {
        let home = try DoctorHome()
        defer { home.harness.cleanUp() }
        let quiet = try home.doctor(["--quiet", "--rate", "67108864"])
        #expect(quiet.status == 0 && quiet.stdout.isEmpty, "\(quiet.stdout)")
        try home.flipByte(home.binary(home.kept))
        let found = try home.doctor(["--quiet", "--rate", "67108864"])
        #expect(found.status == 1)
        #expect(found.stdout.hasPrefix("✗ version-damaged versions/\(home.kept)/autodev"), "\(found.stdout)")
        let status = try home.harness.run(["self-upgrade", "status"])
        #expect(status.status == 1)
        #expect(status.stdout.contains("Integrity: version-damaged versions/\(home.kept)/autodev: version \(home.kept.prefix(12)) (kept) now hashes to"), "\(status.stdout)")
        #expect(status.stdout.contains("run 'autodev doctor --repair'"))
        let json = try home.harness.json(try home.harness.run(["self-upgrade", "status", "--json"]).stdout)
        #expect((json["integrity"] as? [String])?.count == 1)
        #expect(try home.doctor(["--repair"]).status == 0)
        let after = try home.harness.run(["self-upgrade", "status"])
        #expect(after.status == 0 && !after.stdout.contains("Integrity:"), "\(after.stdout)")
        #expect(try home.doctor(["--rate", "12"]).status == 64)
    }

    @Test("a file whose name is not UTF-8, in state/ or anywhere else in the home, is reported for a person to rename, and repair leaves it where it is")
    func nameThatIsNotUTF8() throws {
        let home = try DoctorHome()
        defer { home.harness.cleanUp() }
        try #require(SandboxTests.makeFile(named: [0x78, 0xFF, 0x2E, 0x6A, 0x73, 0x6F, 0x6E], in: home.home + "/state"))
        let version = try home.harness.current()
        for directory in ["versions/" + version, "channel", "logs"] {
            try FileManager.default.createDirectory(atPath: home.home + "/" + directory, withIntermediateDirectories: true)
            try #require(SandboxTests.makeFile(named: [0x79, 0xFE], in: home.home + "/" + directory))
        }
        let found = try home.doctor([])
        #expect(found.status == 1)
        #expect(found.stdout.contains("unreadable-name state/x\u{FFFD}.json: its name is not UTF-8"), "\(found.stdout)")
        for directory in ["versions/" + version, "channel", "logs"] {
            #expect(found.stdout.contains("unreadable-name \(directory)/y\u{FFFD}: its name is not UTF-8"), "\(directory): \(found.stdout)")
        }
        let repair = try home.doctor(["--repair"])
        #expect(repair.status == 1, "\(repair.stdout)")
        #expect(repair.stdout.contains("rename it to a UTF-8 name by hand"), "\(repair.stdout)")
        let state = open(home.home + "/state", O_RDONLY | O_DIRECTORY)
        defer { close(state) }
        var info = stat()
        #expect(fstatat(state, [0x78, 0xFF, 0x2E, 0x6A, 0x73, 0x6F, 0x6E, 0].map { CChar(bitPattern: $0) }, &info, 0) == 0, "the file was moved")
    }

    @Test("a line break in a damaged file's name keeps one finding on one line: it forges no second one")
    func forgedLine() throws {
        let home = try DoctorHome()
        defer { home.harness.cleanUp() }
        let name = "a\nversion-damaged versions-forged: FORGED\u{1B}[31m.json"
        try Data("garbage".utf8).write(to: URL(fileURLWithPath: home.home + "/state/" + name))
        let found = try home.doctor(["--quiet"])
        #expect(found.status == 1, "\(found.stdout)")
        let status = try home.harness.run(["self-upgrade", "status"])
        let lines = status.stdout.split(separator: "\n").filter { $0.hasPrefix("Integrity:") }
        #expect(lines.count == 1, "\(status.stdout)")
        #expect(lines.first?.contains("a\\nversion-damaged versions-forged: FORGED\\u{1B}[31m.json") == true, "\(status.stdout)")
        let json = try home.harness.json(try home.harness.run(["self-upgrade", "status", "--json"]).stdout)
        #expect((json["integrity"] as? [String])?.count == 1, "\(json)")
    }
}
