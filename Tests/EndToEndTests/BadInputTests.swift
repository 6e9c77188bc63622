import Foundation
import Integrity
import Testing
import TestSupport

@Suite("Bad input: a clear error, a non-zero exit, nothing changed on disk")
struct BadInputTests {
    /// Runs an upgrade expected to fail and checks the message and that the home is as it was.
    func expectRejected(_ harness: Harness, _ arguments: [String], message: String,
                        environment: [String: String] = [:]) throws {
        let before = try harness.snapshot()
        let result = try harness.run(arguments, environment: environment)
        #expect(result.status == 1, "exit \(result.status): \(result.stderr)")
        #expect(result.stderr.contains(message), "stderr was: \(result.stderr)")
        #expect(try harness.snapshot() == before, "the home changed")
    }

    @Test("--confined with a prebuilt candidate, or --build-network without --confined, is refused before anything runs", arguments: [
        (["--from-binary", "/bin/true", "--confined"], "'--confined' is for a build from source, not '--from-binary'"),
        (["--source", "/nonexistent", "--build-network"], "'--build-network' needs '--confined'"),
    ])
    func confinedOptions(options: [String], message: String) throws {
        let harness = try Harness()
        defer { harness.cleanUp() }
        _ = try harness.initialize()
        let before = try harness.snapshot()
        let result = try harness.run(["self-upgrade", "--dry-run"] + options)
        #expect(result.status != 0)
        #expect(result.stderr.contains(message), "\(result.stderr)")
        #expect(try harness.snapshot() == before)
    }

    @Test("candidates that are missing, a directory, not executable or not a program")
    func unusableCandidates() throws {
        let harness = try Harness()
        defer { harness.cleanUp() }
        _ = try harness.initialize()
        let missing = harness.root.appendingPathComponent("nope").path
        try expectRejected(harness, ["self-upgrade", "--from-binary", missing], message: "The candidate \"\(missing)\" does not exist")
        try expectRejected(harness, ["self-upgrade", "--from-binary", harness.root.path], message: "is a directory, not a program")
        let plain = harness.root.appendingPathComponent("plain").path
        try Data("data".utf8).write(to: URL(fileURLWithPath: plain))
        try expectRejected(harness, ["self-upgrade", "--from-binary", plain], message: "is not executable (mode 644)")
        let garbage = harness.root.appendingPathComponent("garbage").path
        try Data((0..<4096).map { _ in UInt8.random(in: 1...255) }).write(to: URL(fileURLWithPath: garbage))
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: garbage)
        try expectRejected(harness, ["self-upgrade", "--from-binary", garbage], message: "is not a program this system can run")
        #expect(try harness.journalLines().last?.contains("\"kind\":\"abort\"") == true)
    }

    @Test("a config.json that is not valid: the field and what is wrong with it, in words", arguments: [
        (#"{"historyLimit": -3}"#, "'historyLimit' must be at least 2"),
        (#"{"historyLimit": "x"}"#, "'historyLimit' must be a whole number"),
        (#"{"confirmDeadlineSeconds": 0}"#, "'confirmDeadlineSeconds' must be above 0 and at most 86400"),
        (#"{"journalCheckpointRecords": 1}"#, "'journalCheckpointRecords' must be from 4 to 1000000"),
        (#"{"journalCheckpointRecords": 1e300}"#, "it is not valid JSON, or a number in it is out of range"),
        (#"{"historyLimit": 3,"#, "it is not valid JSON, or a number in it is out of range"),
        (#"[1]"#, "the document must be a JSON object"),
    ])
    func invalidConfiguration(text: String, reason: String) throws {
        let harness = try Harness()
        defer { harness.cleanUp() }
        _ = try harness.initialize()
        try text.write(toFile: harness.home + "/config.json", atomically: true, encoding: .utf8)
        try expectRejected(harness, ["self-upgrade", "--from-binary", try harness.candidate()],
                           message: "The configuration \"\(harness.home)/config.json\" is invalid: \(reason)\n")
    }

    @Test("candidates that fail, hang or speak another protocol in verification")
    func failingVerification() throws {
        let harness = try Harness()
        defer { harness.cleanUp() }
        _ = try harness.initialize()
        let failing = try harness.script("failing", "echo 'cannot start: missing resource' >&2; exit 3")
        // The message names the file the user offered, then the stored copy that ran.
        try expectRejected(harness, ["self-upgrade", "--from-binary", failing],
                           message: "Verification of \"\(failing)\" (run as its stored copy \"\(harness.home)/versions/")
        try expectRejected(harness, ["self-upgrade", "--from-binary", failing],
                           message: "its verification run exited with status 3: cannot start: missing resource")
        // One that cannot even be started is named the same way, with the copy it was run as.
        let empty = harness.root.path + "/empty"
        #expect(FileManager.default.createFile(atPath: empty, contents: Data(), attributes: [.posixPermissions: 0o755]))
        try expectRejected(harness, ["self-upgrade", "--from-binary", empty],
                           message: "Verification of \"\(empty)\" (run as its copy \"\(harness.home)/staging/tx-")
        // A line break in that path is shown escaped: it starts no line of its own.
        let forging = try harness.script("failing\nError: forged", "exit 3")
        try expectRejected(harness, ["self-upgrade", "--from-binary", forging], message: "Verification of \"\(harness.root.path)/failing\\nError: forged\" (run as")
        let hanging = try harness.script("hanging", "sleep 600")
        let start = Date()
        try expectRejected(harness, ["self-upgrade", "--from-binary", hanging, "--timeout", "1"],
                           message: "did not finish within 1 s and was killed")
        #expect(Date().timeIntervalSince(start) < 60)
        let foreign = try harness.script("foreign", #"echo '{"program":"autodev","version":"9.0.0","protocolVersion":99,"checks":[]}'"#)
        try expectRejected(harness, ["self-upgrade", "--from-binary", foreign],
                           message: "it speaks upgrade protocol 99, this version speaks 1")
        let mute = try harness.script("mute", "exit 0")
        try expectRejected(harness, ["self-upgrade", "--from-binary", mute], message: "did not print a self-check report")
    }

    @Test("a hanging candidate's whole process group is killed")
    func processGroupKilled() throws {
        let harness = try Harness()
        defer { harness.cleanUp() }
        _ = try harness.initialize()
        let marker = harness.root.appendingPathComponent("grandchild-alive").path
        let forking = try harness.script("forking", "(sleep 3; touch \(marker)) & sleep 600")
        try expectRejected(harness, ["self-upgrade", "--from-binary", forking, "--timeout", "1"], message: "was killed")
        // Left alive, the forked shell would touch the marker within 3 s and then end.
        #expect(Processes.waitUntilGone(commandLineContaining: marker).isEmpty, "a child of the candidate outlived it")
        #expect(!FileManager.default.fileExists(atPath: marker), "a child of the candidate outlived it")
    }

    @Test("another transaction holding the lock")
    func locked() throws {
        let harness = try Harness()
        defer { harness.cleanUp() }
        _ = try harness.initialize()
        let fd = open(harness.home + "/lock", O_RDWR)
        #expect(flock(fd, LOCK_EX | LOCK_NB) == 0)
        defer { close(fd) }
        try expectRejected(harness, ["self-upgrade", "--from-binary", try harness.candidate()], message: "Another transaction holds the lock")
        try expectRejected(harness, ["self-upgrade", "rollback"], message: "Another transaction holds the lock")
    }

    @Test("a journal with a garbage line in the middle is refused; a torn tail is tolerated")
    func damagedJournal() throws {
        let harness = try Harness()
        defer { harness.cleanUp() }
        _ = try harness.initialize()
        #expect(try harness.run(["self-upgrade", "--from-binary", try harness.candidate()]).status == 0)
        let path = harness.home + "/journal"
        let original = try Data(contentsOf: URL(fileURLWithPath: path))

        var lines = try harness.journalLines()
        lines.insert("garbage that is not a record", at: 2)
        try Data((lines.joined(separator: "\n") + "\n").utf8).write(to: URL(fileURLWithPath: path))
        let damaged = try Data(contentsOf: URL(fileURLWithPath: path))
        try expectRejected(harness, ["self-upgrade", "status"], message: "The journal \"\(path)\" is damaged at line 3 (no checksum)")
        try expectRejected(harness, ["self-upgrade", "rollback"], message: "is damaged at line 3")
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == damaged)

        // A flipped byte inside a record is caught by its checksum.
        var flipped = original
        let index = flipped.firstIndex(of: UInt8(ascii: "{"))! + 5
        flipped[index] ^= 0x01
        try flipped.write(to: URL(fileURLWithPath: path))
        try expectRejected(harness, ["self-upgrade", "history"], message: "is damaged at line 1 (checksum mismatch)")

        // A torn last line (a crash mid-append) is ignored, then cut off by the next append.
        try (original + Data("0badc0de {\"kind\":\"beg".utf8)).write(to: URL(fileURLWithPath: path))
        #expect(try harness.run(["self-upgrade", "status"]).status == 0)
        #expect(try harness.run(["self-upgrade", "rollback"]).status == 0)
        #expect(try harness.journalLines().allSatisfy { !$0.contains("0badc0de") })
    }

    @Test("a version deleted by hand is reported, and rolling back to it is refused")
    func deletedVersion() throws {
        let harness = try Harness()
        defer { harness.cleanUp() }
        _ = try harness.initialize()
        let first = try harness.current()
        #expect(try harness.run(["self-upgrade", "--from-binary", try harness.candidate()]).status == 0)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: harness.home + "/versions/" + first)
        try FileManager.default.removeItem(atPath: harness.home + "/versions/" + first)
        let status = try harness.run(["self-upgrade", "status"])
        #expect(status.status == 1)
        #expect(status.stdout.contains("version \(first.prefix(12)) is in the history but missing from the store"))
        try expectRejected(harness, ["self-upgrade", "rollback"], message: "Version \(first.prefix(12)) is missing from the store")
        try expectRejected(harness, ["self-upgrade", "rollback", "--to", String(first.prefix(9))], message: "is missing from the store")
    }

    @Test("rolling back to a version the store pruned says so")
    func prunedVersion() throws {
        let harness = try Harness()
        defer { harness.cleanUp() }
        #expect(try harness.run(["init", "--home", harness.home, "--keep", "2"], executable: Harness.binary).status == 0)
        let first = try harness.current()
        for suffix in ["p1", "p2"] {
            #expect(try harness.run(["self-upgrade", "--from-binary", try harness.candidate(suffix: suffix)]).status == 0)
        }
        try expectRejected(harness, ["self-upgrade", "rollback", "--to", String(first.prefix(12))],
                           message: "Version \(first.prefix(12)) was pruned: the store keeps the last 2 versions")
    }

    @Test("rollback with no previous version, or to an unknown or too short id")
    func rollbackTargets() throws {
        let harness = try Harness()
        defer { harness.cleanUp() }
        _ = try harness.initialize()
        try expectRejected(harness, ["self-upgrade", "rollback"], message: "There is no previous version to roll back to")
        try expectRejected(harness, ["self-upgrade", "rollback", "--test"], message: "There is no previous version to roll back to")
        try expectRejected(harness, ["self-upgrade", "rollback", "--to", "abc"], message: "'abc' is not a version id: give at least 7 hexadecimal digits")
        try expectRejected(harness, ["self-upgrade", "rollback", "--to", "0000000"], message: "No version in the store or the history starts with '0000000'")
        try expectRejected(harness, ["self-upgrade", "rollback", "--to", String(try harness.current().prefix(8))], message: "is already the current version")
    }

    @Test("a home that is not writable")
    func readOnlyHome() throws {
        let harness = try Harness()
        defer { harness.cleanUp() }
        _ = try harness.initialize()
        // root ignores permission bits, so make the home really read-only for this run:
        // a private mount namespace with a read-only bind mount of it.
        guard getuid() == 0, FileManager.default.fileExists(atPath: "/usr/bin/unshare") else {
            try FileManager.default.setAttributes([.posixPermissions: 0o555], ofItemAtPath: harness.home + "/staging")
            defer { try? FileManager.default.setAttributes([.posixPermissions: 0o700], ofItemAtPath: harness.home + "/staging") }
            try expectRejected(harness, ["self-upgrade", "--from-binary", try harness.candidate()], message: "is not writable")
            return
        }
        let candidate = try harness.candidate()
        let before = try harness.snapshot()
        let script = "mount --bind \(harness.home) \(harness.home) && mount -o remount,bind,ro \(harness.home) && exec \(harness.entry) self-upgrade --from-binary \(candidate)"
        let result = try harness.run(["-m", "/bin/sh", "-c", script], executable: "/usr/bin/unshare")
        #expect(result.status == 1, "\(result.stderr)")
        #expect(result.stderr.contains("is not writable") || result.stderr.contains("Read-only file system"), "\(result.stderr)")
        #expect(try harness.snapshot() == before)
    }

    @Test("the restart-loop guard refuses another restart after too many in a short time")
    func restartLoop() throws {
        let harness = try Harness()
        defer { harness.cleanUp() }
        _ = try harness.initialize()
        let recent = "5:\(Date().timeIntervalSince1970 - 10)"
        try expectRejected(harness, ["self-upgrade", "--from-binary", try harness.candidate()],
                           message: "Refusing to restart again: 5 restarts in the last 60 s (restart-loop guard; an upgrade confirmed at a terminal is never refused; the limit is maxRestarts and restartWindowSeconds in the home's config.json)",
                           environment: ["AUTODEV_RESTARTS": recent])
        // Outside the window the count starts again.
        let old = "5:\(Date().timeIntervalSince1970 - 600)"
        #expect(try harness.run(["self-upgrade", "--from-binary", try harness.candidate()], environment: ["AUTODEV_RESTARTS": old]).status == 0)
    }

    @Test("an upgrade confirmed at a terminal is explicit: the restart-loop guard lets it through at its limit",
          .enabled(if: FileManager.default.fileExists(atPath: "/usr/bin/script"), "needs script(1) from util-linux for a pseudo-terminal"))
    func confirmedUpgradeIsExplicit() throws {
        let harness = try Harness()
        defer { harness.cleanUp() }
        _ = try harness.initialize()
        let before = try harness.current()
        let atLimit = "5:\(Date().timeIntervalSince1970 - 10)"
        let command = "\(harness.entry) self-upgrade --from-binary \(try harness.candidate())"
        let answered = try harness.run(["-qec", command, "/dev/null"], executable: "/usr/bin/script",
                                       environment: ["AUTODEV_RESTARTS": atLimit], input: "y\n")
        #expect(answered.stdout.contains("[y/N]"), "\(answered.stdout)")
        #expect(answered.status == 0, "\(answered.stdout)")
        #expect(!answered.stdout.contains("restart-loop guard"), "\(answered.stdout)")
        #expect(try harness.current() != before)
        // The same upgrade with --yes (a script, not a person) is held by the guard.
        try expectRejected(harness, ["self-upgrade", "--from-binary", try harness.candidate(suffix: "again"), "--yes"],
                           message: "Refusing to restart again: 5 restarts in the last 60 s", environment: ["AUTODEV_RESTARTS": atLimit])
    }

    @Test("on a terminal a changing command asks, and 'no' changes nothing",
          .enabled(if: FileManager.default.fileExists(atPath: "/usr/bin/script"), "needs script(1) from util-linux for a pseudo-terminal"))
    func confirmationPrompt() throws {
        let harness = try Harness()
        defer { harness.cleanUp() }
        _ = try harness.initialize()
        let before = try harness.snapshot()
        // script(1) gives the command a pseudo-terminal and types our input into it.
        let command = "\(harness.entry) self-upgrade --from-binary \(try harness.candidate())"
        let answered = try harness.run(["-qec", command, "/dev/null"], executable: "/usr/bin/script", input: "n\n")
        #expect(answered.stdout.contains("[y/N]"), "\(answered.stdout)")
        #expect(answered.stdout.contains("Cancelled; nothing was changed"), "\(answered.stdout)")
        #expect(answered.status == 1)
        #expect(try harness.snapshot() == before)
    }

    @Test("""
        input files that are /dev/zero, a FIFO, a directory, a link loop or over the limit: refused at once with the reason \
        (release add, --notes, update configure --trusted-root, tuf init, release sign/verify keys)
        """)
    func inputFiles() throws {
        let harness = try Harness()
        defer { harness.cleanUp() }
        _ = try harness.initialize()
        let directory = harness.root.path
        let fifo = directory + "/fifo"
        #expect(mkfifo(fifo, 0o600) == 0)
        let loop = directory + "/loop"
        try FileManager.default.createSymbolicLink(atPath: loop, withDestinationPath: loop)
        let large = directory + "/large-root.json"
        #expect(FileManager.default.createFile(atPath: large, contents: nil))
        #expect(truncate(large, 600_000) == 0)
        let note = directory + "/notes.txt"
        try Data("notes".utf8).write(to: URL(fileURLWithPath: note))
        let tool = { (arguments: [String]) in try harness.runBounded(arguments, executable: Harness.binary) }
        #expect(try harness.run(["release", "init", "--repo", "repo"], executable: Harness.binary, directory: directory).status == 0)
        let repository = directory + "/repo"
        let candidate = try harness.candidate(version: "0.2.0")
        let pending = try Data(contentsOf: URL(fileURLWithPath: repository + "/pending.json"))
        let notRegular = "it is not a regular file (a device, FIFO or socket)"
        let cases: [([String], String)] = [
            (["release", "add", "--repo", repository, "--version", "0.2.0", "--platform", "linux-x86_64", "/dev/zero"], notRegular),
            (["release", "add", "--repo", repository, "--version", "0.2.0", "--platform", "linux-x86_64", fifo], notRegular),
            (["release", "add", "--repo", repository, "--version", "0.2.0", "--platform", "linux-x86_64", directory], "it is a directory"),
            (["release", "add", "--repo", repository, "--version", "0.2.0", "--platform", "linux-x86_64", "--notes", "/dev/zero", candidate], notRegular),
            (["release", "add", "--repo", repository, "--version", "0.2.0", "--platform", "linux-x86_64", "--notes", fifo, note], notRegular),
            (["update", "configure", "--home", harness.home, "--channel", "file:///x", "--trusted-root", "/dev/zero"], notRegular),
            (["update", "configure", "--home", harness.home, "--channel", "file:///x", "--trusted-root", fifo], notRegular),
            (["update", "configure", "--home", harness.home, "--channel", "file:///x", "--trusted-root", loop], "too many levels of symbolic links (a link loop)"),
            (["update", "configure", "--home", harness.home, "--channel", "file:///x", "--trusted-root", large], "it is larger than 500 KiB, the most a trusted root may be"),
            (["tuf", "--metadata-dir", directory + "/md", "init", "/dev/zero"], notRegular),
            (["tuf", "--metadata-dir", directory + "/md", "init", fifo], notRegular),
            (["release", "verify", "--public-key", fifo, note], notRegular),
        ]
        for (arguments, message) in cases {
            let (result, ended) = try tool(arguments)
            #expect(ended, "\(arguments) hung")
            #expect(result.status == 1, "\(arguments): exit \(result.status) \(result.stderr)")
            #expect(result.stderr.hasPrefix("Error: Failed to read \"") && result.stderr.contains(message), "\(arguments): \(result.stderr)")
            // One action, said once: never "Failed to read … Failed to read …".
            #expect(result.stderr.components(separatedBy: "Failed to").count == 2, "\(result.stderr)")
        }
        #expect(try Data(contentsOf: URL(fileURLWithPath: repository + "/pending.json")) == pending, "release add changed pending.json")

        // digest streams any size, but only from a regular file (or '-' for standard input).
        let (digest, digestEnded) = try tool(["digest", "/dev/zero", fifo, note])
        #expect(digestEnded, "digest read /dev/zero or waited on the FIFO")
        #expect(digest.status == 1)
        #expect(digest.stdout == "\(SHA256.hash(data: Array("notes".utf8)).hex)  \(note)\n", "\(digest.stdout)")
        #expect(digest.stderr.components(separatedBy: "it is not a regular file (a device, FIFO or socket)").count == 3, "\(digest.stderr)")
        let forged = directory + "/x\nforged line"
        try Data("notes".utf8).write(to: URL(fileURLWithPath: forged))
        let (named, _) = try tool(["digest", forged])
        #expect(named.stdout == "\(SHA256.hash(data: Array("notes".utf8)).hex)  \(directory)/x\\nforged line\n", "\(named.stdout)")
        #expect(!FileManager.default.fileExists(atPath: harness.home + "/channel"))
    }
}
