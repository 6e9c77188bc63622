import Foundation
import Integrity
import TestSupport
import Testing

/// What a hostile probe of the release channel tried, each as a test against the real binary: a
/// home whose channel directories are links, planted and oversized metadata, a copied home, forged
/// lines in signed and unsigned fields, a pending.json out of step with its artifact, target
/// paths that leave the repository, a home reached through a link.
@Suite("The release channel against a hostile home, repository and server")
struct ChannelProbeTests {
    func published(_ harness: Harness) throws {
        _ = try UpdateApplyTests().published(harness)
    }

    func tool(_ harness: Harness, _ arguments: [String]) throws -> Harness.Result {
        try harness.run(arguments, executable: Harness.binary, directory: harness.root.path)
    }

    @Test("channel/staging, channel/metadata and channel/ as links to another directory are refused, naming the path; nothing is written there")
    func linkedChannelDirectories() throws {
        let harness = try Harness()
        defer { harness.cleanUp() }
        try published(harness)
        let old = try harness.current()
        let outside = harness.root.path + "/outside"
        try FileManager.default.createDirectory(atPath: outside, withIntermediateDirectories: true)
        let channel = harness.home + "/channel"

        // staging: the verified file would live where someone else can swap it.
        try? FileManager.default.removeItem(atPath: channel + "/staging")
        try FileManager.default.createSymbolicLink(atPath: channel + "/staging", withDestinationPath: outside)
        let staged = try harness.run(["update", "apply", "--yes"])
        #expect(staged.status == 1, "\(staged.stderr)")
        #expect(staged.stderr.contains("Refusing to use \"\(channel)/staging\": it is a symbolic link"), "\(staged.stderr)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: outside).isEmpty)
        #expect(try harness.current() == old)
        try FileManager.default.removeItem(atPath: channel + "/staging")

        // metadata: trusted metadata would be read from and written outside the home.
        try FileManager.default.moveItem(atPath: channel + "/metadata", toPath: outside + "/metadata")
        try FileManager.default.createSymbolicLink(atPath: channel + "/metadata", withDestinationPath: outside + "/metadata")
        let before = try FileManager.default.contentsOfDirectory(atPath: outside + "/metadata").sorted()
        let checked = try harness.run(["update", "check"])
        #expect(checked.status == 1, "\(checked.stderr)")
        #expect(checked.stderr.contains("Refusing to use \"\(channel)/metadata\": it is a symbolic link"), "\(checked.stderr)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: outside + "/metadata").sorted() == before)
        try FileManager.default.removeItem(atPath: channel + "/metadata")
        try FileManager.default.moveItem(atPath: outside + "/metadata", toPath: channel + "/metadata")
        #expect(try harness.run(["update", "check"]).status == 0)

        // The channel directory itself.
        try FileManager.default.moveItem(atPath: channel, toPath: outside + "/channel")
        try FileManager.default.createSymbolicLink(atPath: channel, withDestinationPath: outside + "/channel")
        let linked = try harness.run(["update", "check"])
        #expect(linked.status == 1, "\(linked.stderr)")
        #expect(linked.stderr.contains("Refusing to use \"\(channel)\": it is a symbolic link"), "\(linked.stderr)")
    }

    @Test("a trusted metadata file larger than 64 MiB is refused, not read whole")
    func oversizedMetadata() throws {
        let harness = try Harness()
        defer { harness.cleanUp() }
        try published(harness)
        let big = harness.home + "/channel/metadata/evil.json"
        #expect(FileManager.default.createFile(atPath: big, contents: nil))
        #expect(truncate(big, 64 << 20 + 1) == 0)  // sparse: no disk used
        let checked = try harness.run(["update", "check"])
        #expect(checked.status == 1, "\(checked.stderr)")
        #expect(checked.stderr.contains("evil.json\": it is larger than 64 MiB, the most metadata may be"), "\(checked.stderr)")
    }

    @Test("a FIFO or a link to /dev/zero among the trusted metadata is neither waited on nor read (update check, tuf refresh)")
    func plantedMetadata() throws {
        let harness = try Harness()
        defer { harness.cleanUp() }
        try published(harness)
        for plant in ["fifo", "zero"] {
            let evil = harness.home + "/channel/metadata/evil.json"
            if plant == "fifo" { #expect(mkfifo(evil, 0o600) == 0) } else { try FileManager.default.createSymbolicLink(atPath: evil, withDestinationPath: "/dev/zero") }
            let (checked, ended) = try harness.runBounded(["update", "check"])
            #expect(ended, "\(plant): update check did not end")
            #expect(checked.status == 1 && checked.stderr.contains("evil.json"), "\(plant): \(checked.stderr)")
            try FileManager.default.removeItem(atPath: evil)
        }

        let metadata = harness.root.path + "/tuf-metadata"
        try FileManager.default.createDirectory(atPath: metadata, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: harness.root.path + "/repo/metadata/1.root.json", toPath: metadata + "/root.json")
        for plant in ["fifo", "zero"] {
            let timestamp = metadata + "/timestamp.json"
            try? FileManager.default.removeItem(atPath: timestamp)
            if plant == "fifo" { #expect(mkfifo(timestamp, 0o600) == 0) } else { try FileManager.default.createSymbolicLink(atPath: timestamp, withDestinationPath: "/dev/zero") }
            let (refreshed, ended) = try harness.runBounded(["tuf", "--metadata-dir", metadata, "--metadata-url", "file://\(harness.root.path)/repo/metadata/", "refresh"],
                                                           executable: Harness.binary)
            #expect(ended, "\(plant): tuf refresh did not end")
            // What was planted is not trusted metadata: the refresh fetches timestamp anew and stores a regular file.
            #expect(refreshed.status == 0, "\(plant): \(refreshed.stderr)")
            let kind = try FileManager.default.attributesOfItem(atPath: timestamp)[.type] as? FileAttributeType
            #expect(kind == .typeRegular, "\(plant): \(String(describing: kind))")
        }
    }

    @Test("after --download-only, apply needs room only for the copy in the store, not for a second download",
          .enabled(if: getuid() == 0 && FileManager.default.isExecutableFile(atPath: "/usr/bin/mount"), "needs root to mount a small tmpfs"))
    func downloadOnlyThenApplyInLittleSpace() throws {
        let harness = try Harness()
        defer { harness.cleanUp() }
        let directory = harness.root.path
        #expect(try tool(harness, ["release", "init", "--repo", "repo"]).status == 0)
        let candidate = try harness.candidate(version: "0.2.0")
        #expect(try tool(harness, ["release", "add", "--repo", "repo", "--version", "0.2.0", "--platform", "linux-x86_64", candidate]).status == 0)
        #expect(try tool(harness, ["release", "publish", "--repo", "repo"]).status == 0)
        let length = try #require(try FileManager.default.attributesOfItem(atPath: candidate)[.size] as? Int)
        // Room for the installed version, the download, its copy in the store and the sandbox's
        // copy, plus the 16 MiB margin: more than a download counted once needs, less than twice.
        let mebibytes = (length * 7 / 2 + (16 << 20)) >> 20 + 2
        let small = directory + "/small"
        try FileManager.default.createDirectory(atPath: small, withIntermediateDirectories: true)
        #expect(try Processes.run("/usr/bin/mount", ["-t", "tmpfs", "-o", "size=\(mebibytes)m", "tmpfs", small]) == 0)
        defer { _ = try? Processes.run("/usr/bin/umount", [small]) }
        let home = small + "/home"
        #expect(try harness.run(["init", "--home", home], executable: Harness.binary).status == 0)
        #expect(try tool(harness, ["update", "configure", "--channel", "file://\(directory)/repo", "--trusted-root", "repo/metadata/1.root.json",
                                   "--home", home]).status == 0)
        let fetched = try harness.run(["update", "apply", "--download-only", "--home", home], executable: home + "/bin/autodev")
        #expect(fetched.status == 0, "\(fetched.stderr)")
        let applied = try harness.run(["update", "apply", "--yes", "--home", home], executable: home + "/bin/autodev")
        #expect(applied.status == 0, "\(applied.stderr)")
        #expect(applied.stdout.contains("Updated from 0.1.0"), "\(applied.stdout)")
    }

    @Test("the downgrade floor survives a home copied elsewhere (cp -a) with highest-accepted deleted")
    func floorInCopiedHome() throws {
        let harness = try Harness()
        defer { harness.cleanUp() }
        try published(harness)
        let applied = try harness.run(["update", "apply", "--yes"])
        #expect(applied.status == 0, "\(applied.stderr)")
        let older = try harness.candidate("older", version: "0.1.5")
        #expect(try tool(harness, ["release", "add", "--repo", "repo", "--version", "0.1.5", "--platform", "linux-x86_64", older]).status == 0)
        #expect(try tool(harness, ["release", "publish", "--repo", "repo"]).status == 0)
        #expect(try harness.run(["self-upgrade", "rollback", "--yes"]).status == 0)

        let copy = harness.root.path + "/moved-home"
        let copied = Process()
        copied.executableURL = URL(fileURLWithPath: "/bin/cp")
        copied.arguments = ["-a", harness.home, copy]
        try copied.run()
        copied.waitUntilExit()
        #expect(copied.terminationStatus == 0)
        try FileManager.default.removeItem(atPath: copy + "/channel/highest-accepted")
        let refused = try harness.run(["update", "apply", "--yes", "--version", "0.1.5", "--home", copy], executable: copy + "/bin/autodev")
        #expect(refused.status == 1, "\(refused.stderr)")
        #expect(refused.stderr.contains("Refusing autodev 0.1.5: it is older than 0.2.0"), "\(refused.stderr)")
        #expect(try String(contentsOfFile: copy + "/channel/highest-accepted", encoding: .utf8) == "0.2.0\n")
    }

    @Test("a signed release date with an OSC title, BEL, NUL, a line separator and a right-to-left override is shown escaped")
    func releasedEscaped() throws {
        let harness = try Harness()
        defer { harness.cleanUp() }
        try published(harness)
        let repository = harness.root.path + "/repo"
        var targets = try #require(try CanonicalJSON.parse(Array(try Data(contentsOf: URL(fileURLWithPath: repository + "/pending.json")))).objectValue)
        let path = try #require(targets.keys.first)
        var entry = try #require(targets[path]?.objectValue)
        var custom = try #require(entry["custom"]?.objectValue)
        custom["released"] = .string("2026\u{1B}]0;owned\u{7}\u{0}\u{2028}x\u{202E}gnp.exe")
        entry["custom"] = .object(custom)
        targets[path] = .object(entry)
        try RepositorySigner(repository: repository).publish(targets)
        let check = try harness.run(["update", "check"])
        #expect(check.status == 0, "\(check.stderr)")
        for forbidden in ["\u{1B}", "\u{7}", "\u{0}", "\u{2028}", "\u{202E}"] {
            #expect(!check.stdout.contains(forbidden), "\(check.stdout.debugDescription)")
        }
        #expect(check.stdout.contains("Released:         2026\\u{1B}]0;owned\\u{7}\\u{0}\\u{2028}x\\u{202E}gnp.exe\n"), "\(check.stdout)")
    }

    @Test("fields of unsigned metadata quoted in an error cannot forge a line (update check and tuf refresh)")
    func unsignedFieldsEscaped() throws {
        let harness = try Harness()
        defer { harness.cleanUp() }
        try published(harness)
        let timestamp = harness.root.path + "/repo/metadata/timestamp.json"
        let forged = #"{"signatures":[],"signed":{"_type":"x\nForged: line\u001b[2J","expires":"2100-01-01T00:00:00Z","meta":{},"spec_version":"1.0.31","version":9}}"#
        try forged.write(toFile: timestamp, atomically: true, encoding: .utf8)
        let check = try harness.run(["update", "check"])
        #expect(check.status == 1)
        #expect(!check.stderr.contains("\nForged") && !check.stderr.contains("\u{1B}"), "\(check.stderr)")
        #expect(check.stderr.contains("has _type \"x\\nForged: line\\u{1B}[2J\""), "\(check.stderr)")

        let metadata = harness.root.path + "/tuf-metadata"
        try FileManager.default.createDirectory(atPath: metadata, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: harness.root.path + "/repo/metadata/1.root.json", toPath: metadata + "/root.json")
        let refreshed = try tool(harness, ["tuf", "--metadata-dir", metadata, "--metadata-url", "file://\(harness.root.path)/repo/metadata/", "refresh"])
        #expect(refreshed.status == 1)
        #expect(!refreshed.stderr.contains("\nForged") && !refreshed.stderr.contains("\u{1B}"), "\(refreshed.stderr)")
    }

    @Test("publish compares the SHA-512 and length with the artifact, and refuses a pending.json that is a link")
    func publishChecksEveryHash() throws {
        let harness = try Harness()
        defer { harness.cleanUp() }
        try published(harness)
        let repository = harness.root.path + "/repo"
        let pendingPath = repository + "/pending.json"
        let timestamp = try Data(contentsOf: URL(fileURLWithPath: repository + "/metadata/timestamp.json"))
        let original = try Data(contentsOf: URL(fileURLWithPath: pendingPath))
        var pending = try #require(try JSONSerialization.jsonObject(with: original) as? [String: Any])
        let path = try #require(pending.keys.first)
        var entry = try #require(pending[path] as? [String: Any])
        var hashes = try #require(entry["hashes"] as? [String: Any])
        hashes["sha512"] = String(repeating: "ab", count: 64)
        entry["hashes"] = hashes
        pending[path] = entry
        try JSONSerialization.data(withJSONObject: pending).write(to: URL(fileURLWithPath: pendingPath))
        let refused = try tool(harness, ["release", "publish", "--repo", "repo"])
        #expect(refused.status == 1)
        #expect(refused.stderr.contains("lists a SHA-512 its artifact does not have; nothing was signed"), "\(refused.stderr)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: repository + "/metadata/timestamp.json")) == timestamp)

        // A pending.json that is a link to a file elsewhere is not what this repository signs.
        let elsewhere = harness.root.path + "/elsewhere.json"
        try original.write(to: URL(fileURLWithPath: elsewhere))
        try FileManager.default.removeItem(atPath: pendingPath)
        try FileManager.default.createSymbolicLink(atPath: pendingPath, withDestinationPath: elsewhere)
        let linked = try tool(harness, ["release", "publish", "--repo", "repo"])
        #expect(linked.status == 1)
        #expect(linked.stderr.contains("pending.json\": it is a symbolic link"), "\(linked.stderr)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: repository + "/metadata/timestamp.json")) == timestamp)
    }

    @Test("a download that cannot match (altered, longer than signed) says so, keeps no partial file and does not promise a resume")
    func untrueFailureMessages() throws {
        let harness = try Harness()
        defer { harness.cleanUp() }
        try published(harness)
        let directory = harness.root.path + "/repo/targets/autodev/0.2.0/linux-x86_64"
        let target = directory + "/" + (try #require(try FileManager.default.contentsOfDirectory(atPath: directory).first))
        let original = try Data(contentsOf: URL(fileURLWithPath: target))
        let staging = harness.home + "/channel/staging"
        for (what, body) in [("altered", { var data = original; data[data.count / 2] ^= 0xFF; return data }()), ("one byte longer", original + Data([0]))] {
            try body.write(to: URL(fileURLWithPath: target))
            let failed = try harness.run(["update", "apply", "--yes"])
            #expect(failed.status == 1, "\(what): \(failed.stderr)")
            #expect(failed.stderr.contains("the release cannot be installed as published\nNothing was installed\n"), "\(what): \(failed.stderr)")
            #expect(!failed.stderr.contains("retry") && !failed.stderr.contains("resume") && !failed.stderr.contains("0 of "), "\(what): \(failed.stderr)")
            let left = (try? FileManager.default.contentsOfDirectory(atPath: staging)) ?? []
            #expect(left.isEmpty, "\(what): \(left)")
        }
    }

    @Test("SIGINT during verification says the verified download is kept for the next apply, and it is")
    func signalDuringVerify() throws {
        let harness = try Harness()
        defer { harness.cleanUp() }
        // A release whose verification cannot end before the signal: its candidate never answers.
        _ = try harness.initialize()
        let tool = { (arguments: [String]) in try harness.run(arguments, executable: Harness.binary, directory: harness.root.path) }
        let hanging = try harness.script("hanging", "exec sleep 600")
        #expect(try tool(["release", "init", "--repo", "repo"]).status == 0)
        #expect(try tool(["release", "add", "--repo", "repo", "--version", "0.2.0", "--platform", "linux-x86_64", hanging]).status == 0)
        #expect(try tool(["release", "publish", "--repo", "repo"]).status == 0)
        #expect(try tool(["update", "configure", "--channel", "file://\(harness.root.path)/repo", "--trusted-root", "repo/metadata/1.root.json",
                          "--home", harness.home]).status == 0)
        let old = try harness.current()
        let running = try harness.start(["update", "apply", "--yes"])
        // The condition: the candidate's sandbox exists, so verification is under way.
        let verifying = harness.waitUntil(seconds: 60) { !harness.verificationSandboxes().isEmpty }
        #expect(verifying, "verification never started")
        kill(running.pid, SIGINT)
        let result = running.finish()
        #expect(result.status == 1, "\(result.stderr)")
        #expect(try harness.current() == old)
        let staged = try FileManager.default.contentsOfDirectory(atPath: harness.home + "/channel/staging").filter { FileSystemName.isSHA256($0) }
        #expect(staged.count == 1)
        #expect(result.stderr.contains("Cancelled by signal 2; nothing was changed; the verified download is kept in \"\(harness.home)/channel/staging/\(staged.first ?? "")\" for the next 'autodev update apply'"), "\(result.stderr)")
    }

    @Test("self-upgrade --from-binary refuses a candidate over 1 GiB before copying it, even with --dry-run")
    func candidateCap() throws {
        let harness = try Harness()
        defer { harness.cleanUp() }
        _ = try harness.initialize()
        let huge = try harness.candidate("huge")
        #expect(truncate(huge, (1 << 30) + 1) == 0)
        let refused = try harness.run(["self-upgrade", "--from-binary", huge, "--dry-run"])
        #expect(refused.status == 1, "\(refused.stderr)")
        #expect(refused.stderr.contains("a candidate may be at most 1 GiB (1073741824 bytes)"), "\(refused.stderr)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: harness.home + "/versions").count == 1)
    }

    @Test("signed target paths with ../ or an empty segment are not offered and never requested")
    func targetPathShape() throws {
        let harness = try Harness()
        defer { harness.cleanUp() }
        try published(harness)
        let repository = harness.root.path + "/repo"
        var targets = try #require(try CanonicalJSON.parse(Array(try Data(contentsOf: URL(fileURLWithPath: repository + "/pending.json")))).objectValue)
        let entry = try #require(targets.values.first?.objectValue)
        var custom = try #require(entry["custom"]?.objectValue)
        custom["version"] = .string("0.3.0")
        var hostile = entry
        hostile["custom"] = .object(custom)
        for path in ["autodev/0.3.0/linux-x86_64/../../../../../tmp/t/pwn", "autodev/0.3.0//linux-x86_64/x", "autodev/0.3.0/linux-x86_64/.."] {
            targets[path] = .object(hostile)
        }
        try RepositorySigner(repository: repository).publish(targets)
        let check = try harness.run(["update", "check"])
        #expect(check.status == 0, "\(check.stderr)")
        #expect(check.stdout.contains("Newest version:   0.2.0"), "\(check.stdout)")
        let apply = try harness.run(["update", "apply", "--yes", "--version", "0.3.0"])
        #expect(apply.status == 1)
        #expect(apply.stderr.contains("offers no autodev 0.3.0 for linux-x86_64"), "\(apply.stderr)")
    }

    @Test("update apply through a home reached by a symbolic link upgrades it")
    func linkedHome() throws {
        let harness = try Harness()
        defer { harness.cleanUp() }
        try published(harness)
        let old = try harness.current()
        let link = harness.root.path + "/link"
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: harness.root.path)
        let applied = try harness.run(["update", "apply", "--yes", "--home", link + "/home"])
        #expect(applied.status == 0, "\(applied.stderr)")
        #expect(try harness.current() != old)
        #expect(try harness.run(["--version"]).stdout == "0.2.0\n")
    }
}
