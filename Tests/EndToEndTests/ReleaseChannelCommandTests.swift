import Foundation
import Integrity
import Testing

@Suite("release init/add/publish/refresh and update configure/check with the real binary")
struct ReleaseChannelCommandTests {
    @Test("a published release is offered to an older installation; usage errors exit 64, channel failures 1")
    func publishAndCheck() throws {
        let harness = try Harness()
        defer { harness.cleanUp() }
        let directory = harness.root.path
        let run = { (arguments: [String]) in try harness.run(arguments, executable: Harness.binary, directory: directory) }

        let created = try run(["release", "init", "--repo", "repo"])
        #expect(created.status == 0, "\(created.stderr)")
        #expect(created.stdout.hasPrefix("Created release repository \"repo\": root, targets, snapshot and timestamp version 1, 1 key(s) each\n"))
        try Data(repeating: 7, count: 4096).write(to: URL(fileURLWithPath: directory + "/autodev"))
        try Data("Faster checks.\n".utf8).write(to: URL(fileURLWithPath: directory + "/notes"))

        let badPlatform = try run(["release", "add", "--repo", "repo", "--version", "1.0.0", "--platform", "linux-sparc", "autodev"])
        #expect(badPlatform.status == 64)
        #expect(badPlatform.stderr.hasPrefix("Error: The value 'linux-sparc' is invalid for '--platform <p>'"))
        let badVersion = try run(["release", "add", "--repo", "repo", "--version", "v1", "--platform", "linux-x86_64", "autodev"])
        #expect(badVersion.status == 64)

        let added = try run(["release", "add", "--repo", "repo", "--version", "0.2.0", "--platform", "linux-x86_64",
                             "--critical", "--notes", "notes", "autodev"])
        #expect(added.stdout == "Added autodev/0.2.0/linux-x86_64/autodev; run 'autodev release publish --repo repo' to sign it\n", "\(added.stderr)")
        #expect(try run(["release", "publish", "--repo", "repo"]).stdout
            == "Published targets version 2, snapshot version 2, timestamp version 2 (1 target(s))\n")
        #expect(try run(["release", "publish", "--repo", "repo"]).stdout
            == "Nothing to publish: the signed targets are up to date (1 target(s))\n")
        #expect(try run(["release", "refresh", "--repo", "repo"]).stdout.hasPrefix("Signed timestamp version 3, valid until "))

        let home = ["--home", directory + "/home"]
        let configured = try run(["update", "configure", "--channel", "file://\(directory)/repo", "--trusted-root", "repo/metadata/1.root.json"] + home)
        #expect(configured.status == 0, "\(configured.stderr)")
        let check = try run(["update", "check", "--current-version", "0.1.0"] + home)
        #expect(check.status == 0, "\(check.stderr)")
        let lines = check.stdout.split(separator: "\n").map(String.init)
        #expect(lines.first == "Current version:  0.1.0")
        #expect(lines.contains("Newest version:   0.2.0 (critical)"))
        #expect(lines.contains("Download size:    4096 bytes (4 KiB), the full file"))
        #expect(lines.suffix(2) == ["Notes:", "  Faster checks."])
        let upToDate = try run(["update", "check", "--current-version", "0.2.0"] + home)
        #expect(upToDate.stdout == "autodev 0.2.0 is up to date (file://\(directory)/repo, linux-x86_64)\n")
        let json = try run(["update", "check", "--json", "--current-version", "0.1.0"] + home)
        let report = try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any]
        #expect(report?["upToDate"] as? Bool == false)
        #expect((report?["newest"] as? [String: Any])?["size"] as? Int == 4096)
        // A check as another version says what it found and records nothing (the record is what
        // this installation's own version is offered); a check as itself records it.
        #expect(!FileManager.default.fileExists(atPath: directory + "/home/channel/available"))
        #expect(!FileManager.default.fileExists(atPath: directory + "/home/channel/checked"))
        let own = try run(["update", "check"] + home)
        #expect(own.status == 0, "\(own.stderr)")
        #expect(try String(contentsOfFile: directory + "/home/channel/available", encoding: .utf8) == "0.2.0 critical\n")

        // The channel's timestamp replaced by garbage: exit 1 naming the cause, trusted metadata kept.
        let trusted = try Data(contentsOf: URL(fileURLWithPath: directory + "/home/channel/metadata/timestamp.json"))
        try Data("{}".utf8).write(to: URL(fileURLWithPath: directory + "/repo/metadata/timestamp.json"))
        let broken = try run(["update", "check"] + home)
        #expect(broken.status == 1)
        #expect(broken.stderr.hasPrefix("Error: Failed to check file://\(directory)/repo for updates: invalid metadata"), "\(broken.stderr)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: directory + "/home/channel/metadata/timestamp.json")) == trusted)

        let unconfigured = try run(["update", "check", "--home", directory + "/elsewhere"])
        #expect(unconfigured.status == 1)
        #expect(unconfigured.stderr.contains("No update channel is configured"))
    }

    @Test("release rotate: root rotated twice, then publish; an installation trusting root 1 that saw none of it checks successfully")
    func rotateRootTwice() throws {
        let harness = try Harness()
        defer { harness.cleanUp() }
        let directory = harness.root.path
        let run = { (arguments: [String]) in try harness.run(arguments, executable: Harness.binary, directory: directory) }
        #expect(try run(["release", "init", "--repo", "repo"]).status == 0)
        try Data(repeating: 7, count: 4096).write(to: URL(fileURLWithPath: directory + "/autodev"))
        #expect(try run(["release", "add", "--repo", "repo", "--version", "0.2.0", "--platform", "linux-x86_64", "autodev"]).status == 0)
        #expect(try run(["release", "publish", "--repo", "repo"]).status == 0)
        let home = ["--home", directory + "/home"]
        #expect(try run(["update", "configure", "--channel", "file://\(directory)/repo", "--trusted-root", "repo/metadata/1.root.json"] + home).status == 0)

        let first = try run(["release", "rotate", "--repo", "repo", "--role", "root"])
        #expect(first.stdout == "Rotated the root keys: metadata/2.root.json lists the new ones; run 'autodev release publish --repo repo' next\n", "\(first.stderr)")
        #expect(try run(["release", "rotate", "--repo", "repo", "--role", "root"]).stdout.hasPrefix("Rotated the root keys: metadata/3.root.json"))
        try Data(repeating: 8, count: 5000).write(to: URL(fileURLWithPath: directory + "/autodev"))
        #expect(try run(["release", "add", "--repo", "repo", "--version", "0.3.0", "--platform", "linux-x86_64", "autodev"]).status == 0)
        #expect(try run(["release", "publish", "--repo", "repo"]).stdout.hasPrefix("Published targets version 3"))

        let check = try run(["update", "check", "--current-version", "0.1.0"] + home)
        #expect(check.status == 0, "\(check.stderr)")
        #expect(check.stdout.contains("Newest version:   0.3.0"), "\(check.stdout)")
        let trusted = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: directory + "/home/channel/metadata/root.json"))) as? [String: Any]
        #expect((trusted?["signed"] as? [String: Any])?["version"] as? Int == 3)

        let badRole = try run(["release", "rotate", "--repo", "repo", "--role", "mirror"])
        #expect(badRole.status == 64)
        #expect(badRole.stderr.hasPrefix("Error: Invalid value 'mirror' for '--role': expected root, targets, snapshot or timestamp"), "\(badRole.stderr)")
    }
}

@Suite("update apply with the real binary")
struct UpdateApplyTests {
    @Test("downloads the offered release, verified, upgrades to it; then refuses an older one without --allow-downgrade")
    func applyThenRefuseDowngrade() throws {
        let harness = try Harness()
        defer { harness.cleanUp() }
        _ = try published(harness)
        let old = try harness.current()
        let tool = { (arguments: [String]) in try harness.run(arguments, executable: Harness.binary, directory: harness.root.path) }

        let applied = try harness.run(["update", "apply", "--yes"])
        #expect(applied.status == 0, "\(applied.stderr)")
        #expect(applied.stderr.contains("Verified autodev/0.2.0/linux-x86_64/candidate: length, SHA-256 and SHA-512 match the signed metadata"))
        #expect(applied.stdout.hasPrefix("Updated from 0.1.0"), "\(applied.stdout)")
        let new = try harness.current()
        #expect(new != old)
        #expect(try String(contentsOfFile: harness.home + "/channel/highest-accepted", encoding: .utf8) == "0.2.0\n")
        // The verified download became the stored version itself (moved, not copied): nothing of
        // it is left in the channel's staging directory.
        let staged = try FileManager.default.contentsOfDirectory(atPath: harness.home + "/channel/staging")
        #expect(staged.isEmpty, "\(staged)")

        let older = try harness.candidate("older", version: "0.1.5")
        #expect(try tool(["release", "add", "--repo", "repo", "--version", "0.1.5", "--platform", "linux-x86_64", older]).status == 0)
        #expect(try tool(["release", "publish", "--repo", "repo"]).status == 0)
        let refused = try harness.run(["update", "apply", "--yes", "--version", "0.1.5"])
        #expect(refused.status == 1)
        #expect(refused.stderr.contains("Refusing autodev 0.1.5: it is older than 0.2.0, the highest version this installation has accepted"), "\(refused.stderr)")
        #expect(try harness.current() == new)

        // Back on 0.1.0 with the floor file deleted: the journal still says 0.2.0 came from the
        // channel, so the floor is rebuilt from it instead of falling to the running version.
        let rollback = try harness.run(["self-upgrade", "rollback", "--yes"])
        #expect(rollback.status == 0, "\(rollback.stderr)")
        #expect(try harness.current() == old)
        try FileManager.default.removeItem(atPath: harness.home + "/channel/highest-accepted")
        let floorless = try harness.run(["update", "apply", "--yes", "--version", "0.1.5"])
        #expect(floorless.status == 1, "\(floorless.stderr)")
        #expect(floorless.stderr.contains("Rebuilt the downgrade floor"), "\(floorless.stderr)")
        #expect(floorless.stderr.contains("Refusing autodev 0.1.5: it is older than 0.2.0"), "\(floorless.stderr)")
        #expect(try String(contentsOfFile: harness.home + "/channel/highest-accepted", encoding: .utf8) == "0.2.0\n")
        #expect(try harness.current() == old)
    }

    @Test("""
        signed targets with a forged line and an escape sequence in their path and release date, no SHA-512, \
        lengths of 2^63-1, -1, 2^64 and 1e300: shown escaped, staged under the hash, refused with an error, never a trap
        """)
    func hostileSignedTargets() throws {
        let harness = try Harness()
        defer { harness.cleanUp() }
        _ = try published(harness)
        let repository = harness.root.path + "/repo"
        let signer = RepositorySigner(repository: repository)
        let published = try #require(try CanonicalJSON.parse(Array(try Data(contentsOf: URL(fileURLWithPath: repository + "/pending.json")))).objectValue)
        let artifact = try Data(contentsOf: URL(fileURLWithPath: try harness.candidate("forged", version: "0.3.0")))
        let sha256 = SHA256.hash(data: Array(artifact)).hex
        let name = "x\nCritical:         yes\u{1B}[2J"
        let directory = repository + "/targets/autodev/0.3.0/linux-x86_64"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try artifact.write(to: URL(fileURLWithPath: directory + "/" + sha256 + "." + name))
        func facts(_ version: String, released: String = "2026-01-01T00:00:00Z") -> CanonicalJSONValue {
            .object(["version": .string(version), "platform": .string("linux-x86_64"), "released": .string(released),
                     "critical": .bool(false), "rollout": .integer(100)])
        }
        var targets = published
        targets["autodev/0.3.0/linux-x86_64/" + name] = .object([
            "length": .integer(Int64(artifact.count)), "hashes": .object(["sha256": .string(sha256)]),
            "custom": facts("0.3.0", released: "2026-01-01T00:00:00Z\nCritical:         yes"),
        ])
        try signer.publish(targets)

        let check = try harness.run(["update", "check"])
        #expect(check.status == 0, "\(check.stderr)")
        let lines = check.stdout.split(separator: "\n").map(String.init)
        #expect(lines.filter { $0.hasPrefix("Critical:") } == ["Critical:         no"], "\(check.stdout)")
        #expect(!check.stdout.contains("\u{1B}"), "\(check.stdout)")
        #expect(lines.contains("Target:           autodev/0.3.0/linux-x86_64/x\\nCritical:         yes\\u{1B}[2J"), "\(check.stdout)")
        #expect(lines.contains("Released:         2026-01-01T00:00:00Z\\nCritical:         yes"), "\(check.stdout)")

        let fetched = try harness.run(["update", "apply", "--download-only"])
        #expect(fetched.status == 0, "\(fetched.stderr)")
        #expect(fetched.stdout == harness.home + "/channel/staging/" + sha256 + "\n", "\(fetched.stdout)")
        #expect(!fetched.stderr.contains("\u{1B}") && !fetched.stderr.contains("\nCritical"), "\(fetched.stderr)")
        // Only what the metadata listed is claimed: it listed no SHA-512.
        #expect(fetched.stderr.contains("\\u{1B}[2J: length and SHA-256 match the signed metadata"), "\(fetched.stderr)")

        // Lengths no artifact can have: refused by the check and by apply, exit 1, never a trap.
        let placeholder = "7777777777777"
        let cases: [(String, String)] = [
            ("9223372036854775807", "has a signed length of 9223372036854775807 bytes; an update must be 0 to 1099511627776 bytes (1 TiB)"),
            ("-1", "length must be at least 0, not -1"),
            // Numbers no signer can sign (the canonical form has none): written into the signed file.
            ("18446744073709551616", "integer 18446744073709551616 does not fit in 64 bits"),
            ("1e300", "canonical JSON has no form for the number 1e300"),
        ]
        for (length, message) in cases {
            var hostile = targets
            let signable = Int64(length)
            hostile["autodev/0.4.0/linux-x86_64/huge"] = .object([
                "length": .integer(signable ?? Int64(placeholder)!), "hashes": .object(["sha256": .string(sha256)]), "custom": facts("0.4.0"),
            ])
            try signer.publish(hostile, replacing: signable == nil ? ("\"length\":\(placeholder)", "\"length\":\(length)") : nil)
            for arguments in [["update", "check"], ["update", "apply", "--yes"]] {
                let result = try harness.run(arguments)
                #expect(result.status == 1, "\(length) \(arguments): exit \(result.status) \(result.stderr)")
                #expect(result.stderr.hasPrefix("Error: ") && result.stderr.contains(message), "\(length) \(arguments): \(result.stderr)")
            }
        }
    }

    @Test("an update whose restart fails is undone and raises no downgrade floor: the version never ran")
    func failedRestartRaisesNoFloor() throws {
        let harness = try Harness()
        defer { harness.cleanUp() }
        _ = try published(harness)
        let old = try harness.current()
        let failed = try harness.run(["update", "apply", "--yes"], environment: ["AUTODEV_FAILPOINT": "fail-before-exec"])
        #expect(failed.status == 1, "\(failed.stderr)")
        #expect(try harness.current() == old)
        #expect(!FileManager.default.fileExists(atPath: harness.home + "/channel/highest-accepted"))
        // With a floor already recorded, it is put back as it was.
        try "0.1.5\n".write(toFile: harness.home + "/channel/highest-accepted", atomically: true, encoding: .utf8)
        #expect(try harness.run(["update", "apply", "--yes"], environment: ["AUTODEV_FAILPOINT": "fail-before-exec"]).status == 1)
        #expect(try String(contentsOfFile: harness.home + "/channel/highest-accepted", encoding: .utf8) == "0.1.5\n")
        let applied = try harness.run(["update", "apply", "--yes"])
        #expect(applied.status == 0, "\(applied.stderr)")
        #expect(try String(contentsOfFile: harness.home + "/channel/highest-accepted", encoding: .utf8) == "0.2.0\n")
    }

    @Test("""
        choosing keeps its order: a check ignores upgrade settings it does not use, a damaged installation id stops \
        an apply by version before anything is fetched, a malformed newest release fails an apply (and is notified) \
        unless skipped
        """)
    func choosingOrder() throws {
        let harness = try Harness()
        defer { harness.cleanUp() }
        _ = try published(harness)
        // A setting the check never uses, invalid for upgrading: the check still works.
        let config = harness.home + "/config.json"
        let settings = try String(contentsOfFile: config, encoding: .utf8)
        try #"{"historyLimit": 1}"#.write(toFile: config, atomically: true, encoding: .utf8)
        let checked = try harness.run(["update", "check"])
        #expect(checked.status == 0 && checked.stdout.contains("Newest version:   0.2.0"), "\(checked.stdout)\(checked.stderr)")
        try settings.write(toFile: config, atomically: true, encoding: .utf8)

        // The rollout bucket's id is read before anything is fetched, by version too.
        let id = harness.home + "/channel/installation-id"
        try FileManager.default.removeItem(atPath: id)
        try FileManager.default.createDirectory(atPath: id, withIntermediateDirectories: false)
        let refused = try harness.run(["update", "apply", "--yes", "--version", "0.2.0", "--download-only"])
        #expect(refused.status == 1 && refused.stderr.contains("installation-id"), "\(refused.stderr)")
        #expect(((try? FileManager.default.contentsOfDirectory(atPath: harness.home + "/channel/staging")) ?? []).isEmpty)
        try FileManager.default.removeItem(atPath: id)
        #expect(try harness.run(["update", "apply", "--yes", "--version", "0.2.0", "--download-only"]).status == 0)
        #expect(FileManager.default.fileExists(atPath: id), "the installation id is created by an apply by version")

        // A newest release that lists a hash of an algorithm no client checks.
        let repository = harness.root.path + "/repo"
        let signer = RepositorySigner(repository: repository)
        var targets = try #require(try CanonicalJSON.parse(Array(try Data(contentsOf: URL(fileURLWithPath: repository + "/pending.json")))).objectValue)
        let artifact = try Data(contentsOf: URL(fileURLWithPath: try harness.candidate("malformed", version: "0.3.0")))
        let sha256 = SHA256.hash(data: Array(artifact)).hex
        let directory = repository + "/targets/autodev/0.3.0/linux-x86_64"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try artifact.write(to: URL(fileURLWithPath: directory + "/" + sha256 + ".malformed"))
        targets["autodev/0.3.0/linux-x86_64/malformed"] = .object([
            "length": .integer(Int64(artifact.count)),
            "hashes": .object(["sha256": .string(sha256), "sha384": .string(String(repeating: "ab", count: 48))]),
            "custom": .object(["version": .string("0.3.0"), "platform": .string("linux-x86_64"), "released": .string("2026-01-01T00:00:00Z"),
                               "critical": .bool(false), "rollout": .integer(100)]),
        ])
        try signer.publish(targets)
        let record = harness.root.path + "/events"
        let notify = try harness.script("notify", "{ printf '%s ' \"$1\"; cat; echo; } >> '\(record)'")
        #expect(try harness.run(["config", "set", "notifyCommand", notify]).status == 0)
        let old = try harness.current()
        let check = try harness.run(["update", "check"])
        #expect(check.status == 1 && check.stderr.contains("unsupported algorithm \"sha384\""), "\(check.stderr)")
        let apply = try harness.run(["update", "apply", "--yes"])
        #expect(apply.status == 1 && apply.stderr.contains("unsupported algorithm \"sha384\""), "\(apply.stderr)")
        #expect(((try? String(contentsOfFile: record, encoding: .utf8)) ?? "").hasPrefix("failed "), "the failure is notified")
        #expect(try harness.current() == old)
        #expect(try harness.run(["config", "set", "skippedVersions", "0.3.0"]).status == 0)
        let skipped = try harness.run(["update", "apply", "--yes"])
        #expect(skipped.status == 0 && skipped.stdout.contains("0.3.0 is available but skipped"), "\(skipped.stdout)\(skipped.stderr)")
        #expect(try harness.current() == old)
    }

    @Test("""
        publish refuses a damaged or edited pending.json (a ../ path, an invalid hash, a target without its artifact, \
        a published target dropped) and signs nothing
        """)
    func publishValidatesPending() throws {
        let harness = try Harness()
        defer { harness.cleanUp() }
        _ = try published(harness)
        let tool = { (arguments: [String]) in try harness.run(arguments, executable: Harness.binary, directory: harness.root.path) }
        let pendingPath = harness.root.path + "/repo/pending.json"
        let timestampPath = harness.root.path + "/repo/metadata/timestamp.json"
        let original = try Data(contentsOf: URL(fileURLWithPath: pendingPath))
        let timestamp = try Data(contentsOf: URL(fileURLWithPath: timestampPath))
        let pending = try #require(try JSONSerialization.jsonObject(with: original) as? [String: Any])
        let path = try #require(pending.keys.first)
        let entry = try #require(pending[path] as? [String: Any])
        var badHash = entry
        badHash["hashes"] = ["sha256": "zz", "sha512": (entry["hashes"] as? [String: Any])?["sha512"] ?? ""]
        let cases: [(String, [String: Any])] = [
            ("which is not <program>/<version>/<platform>/<file name>", pending.merging(["autodev/0.2.0/linux-x86_64/../../escape": entry]) { $1 }),
            ("which is not <program>/<version>/<platform>/<file name>", pending.merging(["../0.2.0/linux-x86_64/escape": entry]) { $1 }),
            ("which is not <program>/<version>/<platform>/<file name>", pending.merging([".hidden/0.2.0/linux-x86_64/x": entry]) { $1 }),
            ("does not list exactly a SHA-256", [path: badHash]),
            ("has no artifact at", pending.merging(["autodev/0.2.0/linux-x86_64/other": entry]) { $1 }),
            ("no longer lists \"\(path)\"", [:]),
        ]
        for (message, edited) in cases {
            try JSONSerialization.data(withJSONObject: edited).write(to: URL(fileURLWithPath: pendingPath))
            let result = try tool(["release", "publish", "--repo", "repo"])
            #expect(result.status == 1, "\(message): \(result.stdout)")
            #expect(result.stderr.contains(message) && result.stderr.contains("nothing was signed"), "\(result.stderr)")
            #expect(try Data(contentsOf: URL(fileURLWithPath: timestampPath)) == timestamp, "\(message): the repository changed")
        }
        try original.write(to: URL(fileURLWithPath: pendingPath))
        #expect(try tool(["release", "publish", "--repo", "repo"]).stdout.hasPrefix("Nothing to publish"))

        // A file name that would forge a line is refused by add already.
        let forged = harness.root.path + "/a\nCritical: yes"
        try Data("x".utf8).write(to: URL(fileURLWithPath: forged))
        let added = try tool(["release", "add", "--repo", "repo", "--version", "0.3.0", "--platform", "linux-x86_64", forged])
        #expect(added.status == 1 && added.stderr.contains("a\\nCritical: yes\" has no usable file name"), "\(added.stderr)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: pendingPath)) == original)
    }

    @Test("a signed release whose binary reports another version is refused at verification: the wrong software changes nothing")
    func wrongSoftware() throws {
        let harness = try Harness()
        defer { harness.cleanUp() }
        // Signed and listed as 0.2.0, but the binary is 0.1.0 (not stamped): a replayed or mislabelled artifact.
        _ = try published(harness, stamp: nil)
        let old = try harness.current()
        let before = try harness.snapshot()
        let refused = try harness.run(["update", "apply", "--yes"])
        #expect(refused.status == 1)
        #expect(refused.stderr.contains("it reports version 0.1.0, but it was offered as version 0.2.0"), "\(refused.stderr)")
        #expect(try harness.current() == old)
        #expect(!FileManager.default.fileExists(atPath: harness.home + "/channel/highest-accepted"))
        let after = try harness.snapshot()
        #expect(after.current == before.current && after.bin == before.bin && after.state == before.state && after.staging == before.staging)
        #expect(try harness.run(["--version"]).stdout == "0.1.0\n")
    }

    @Test("refuses before downloading when dpkg owns the running binary, naming the apt-get command")
    func refusePackageManaged() throws {
        let harness = try Harness()
        defer { harness.cleanUp() }
        _ = try published(harness)
        let old = try harness.current()
        let directory = harness.root.path
        // A dpkg that claims every path, first on PATH.
        let fakeBin = directory + "/fake-bin"
        try FileManager.default.createDirectory(atPath: fakeBin, withIntermediateDirectories: true)
        _ = FileManager.default.createFile(atPath: fakeBin + "/dpkg", contents: Data("#!/bin/sh\necho \"autodev: $2\"\n".utf8), attributes: [.posixPermissions: 0o755])
        let path = fakeBin + ":" + (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin")
        let refused = try harness.run(["update", "apply", "--yes"], environment: ["PATH": path])
        #expect(refused.status == 1)
        #expect(refused.stderr.hasPrefix("Error: Refusing to replace \""), "\(refused.stderr)")
        #expect(refused.stderr.contains("\": it belongs to the dpkg package autodev; upgrade it with 'apt-get install --only-upgrade autodev' instead"), "\(refused.stderr)")
        #expect(!refused.stderr.contains("Downloading"))
        #expect(try harness.current() == old)
        let staged = (try? FileManager.default.contentsOfDirectory(atPath: harness.home + "/channel/staging")) ?? []
        #expect(staged.isEmpty)
    }

    /// A home at 0.1.0 following a published repository that offers 0.2.0, a binary stamped
    /// `stamp` (nil: not stamped, so it says it is 0.1.0); the candidate's size.
    func published(_ harness: Harness, stamp: String? = "0.2.0") throws -> Int {
        _ = try harness.initialize()
        let directory = harness.root.path
        let tool = { (arguments: [String]) in try harness.run(arguments, executable: Harness.binary, directory: directory) }
        #expect(try tool(["release", "init", "--repo", "repo"]).status == 0)
        let candidate = try harness.candidate(version: stamp)
        #expect(try tool(["release", "add", "--repo", "repo", "--version", "0.2.0", "--platform", "linux-x86_64", candidate]).status == 0)
        #expect(try tool(["release", "publish", "--repo", "repo"]).status == 0)
        #expect(try tool(["update", "configure", "--channel", "file://\(directory)/repo", "--trusted-root", "repo/metadata/1.root.json",
                          "--home", harness.home]).status == 0)
        return try #require(try FileManager.default.attributesOfItem(atPath: candidate)[.size] as? Int)
    }

    @Test("--download-only: the verified file's path on standard output, the running version untouched; then 'apply' uses the same file")
    func downloadOnly() throws {
        let harness = try Harness()
        defer { harness.cleanUp() }
        let size = try published(harness)
        let old = try harness.current()
        let fetched = try harness.run(["update", "apply", "--download-only"])
        #expect(fetched.status == 0, "\(fetched.stderr)")
        let path = fetched.stdout.trimmingCharacters(in: .newlines)
        // Named by the signed SHA-256 alone, never by the target path.
        #expect(path.hasPrefix(harness.home + "/channel/staging/") && FileSystemName.isSHA256(URL(fileURLWithPath: path).lastPathComponent), "\(fetched.stdout)")
        #expect(try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int == size)
        #expect(fetched.stderr.contains("Verified autodev/0.2.0/linux-x86_64/candidate: length, SHA-256 and SHA-512 match the signed metadata"))
        #expect(try harness.current() == old)
        #expect(!FileManager.default.fileExists(atPath: harness.home + "/channel/highest-accepted"))

        let json = try harness.run(["update", "apply", "--download-only", "--json"])
        #expect(json.status == 0, "\(json.stderr)")
        let last = try #require(json.stdout.split(separator: "\n").last)
        let event = try #require(try JSONSerialization.jsonObject(with: Data(last.utf8)) as? [String: Any])
        #expect(event["event"] as? String == "verified" && event["version"] as? String == "0.2.0" && event["path"] as? String == path)
        #expect(try harness.current() == old)

        let applied = try harness.run(["update", "apply", "--yes"])
        #expect(applied.status == 0, "\(applied.stderr)")
        #expect(applied.stderr.contains("Upgrading \"\(harness.home)\" from \"\(path)\""), "\(applied.stderr)")
        #expect(try harness.current() != old)
    }

    @Test("--json: download events on standard output ending with a 'downloaded' event of the whole length")
    func jsonEvents() throws {
        let harness = try Harness()
        defer { harness.cleanUp() }
        let size = try published(harness)
        let applied = try harness.run(["update", "apply", "--yes", "--json"])
        #expect(applied.status == 0, "\(applied.stderr)")
        let events = applied.stdout.split(separator: "\n").filter { $0.hasPrefix("{\"bytes\":") }.compactMap {
            try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }
        let last = try #require(events.last)
        #expect(last["event"] as? String == "downloaded")
        #expect(last["bytes"] as? Int == size && last["total"] as? Int == size)
        #expect(last["rate"] is Int)
        #expect(events.dropLast().allSatisfy { $0["event"] as? String == "download" })
        #expect(!applied.stderr.contains("\r"))
    }

    @Test("on a pipe without --json no progress is written")
    func silentOnPipe() throws {
        let harness = try Harness()
        defer { harness.cleanUp() }
        _ = try published(harness)
        let applied = try harness.run(["update", "apply", "--yes"])
        #expect(applied.status == 0, "\(applied.stderr)")
        #expect(!applied.stderr.contains("\r") && !applied.stderr.contains("\u{1B}[K"), "\(applied.stderr)")
        #expect(!applied.stdout.contains("\"event\""))
        #expect(!applied.stderr.contains("B/s"), "\(applied.stderr)")
    }

    @Test("on a terminal one progress line rewritten with \\r and ended by a newline",
          .enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/script"), "needs script(1) from util-linux for a pseudo-terminal"))
    func terminalLine() throws {
        let harness = try Harness()
        defer { harness.cleanUp() }
        let size = try published(harness)
        let applied = try harness.run(["-qc", "'\(harness.entry)' update apply --yes", "/dev/null"], executable: "/usr/bin/script")
        #expect(applied.status == 0, "\(applied.stdout)")
        let total = DownloadMeterText.size(size)
        #expect(applied.stdout.contains("\r\(total) of \(total), "), "\(applied.stdout)")
        #expect(applied.stdout.contains("\u{1B}[K\r\n") || applied.stdout.contains("\u{1B}[K\n"), "\(applied.stdout)")
    }

    @Test("--json over a slow server: 'download' events at most one a second with growing bytes, then 'downloaded'",
          .enabled(if: StaticServer.available, "needs python3 for a throttled loopback server"))
    func jsonEventsPerSecond() throws {
        let harness = try Harness()
        defer { harness.cleanUp() }
        let size = try published(harness)
        let directory = harness.root.path
        // 64 kB every 20 ms (about 3 MB/s), so the download lasts seconds.
        let server = try StaticServer(serving: try harness.publicView(of: directory + "/repo"), chunkDelay: 0.02)
        defer { server.stop() }
        #expect(try harness.run(["update", "configure", "--channel", server.url, "--trusted-root", directory + "/repo/metadata/1.root.json",
                                 "--home", harness.home]).status == 0)

        let started = Date()
        let applied = try harness.run(["update", "apply", "--yes", "--json"])
        let elapsed = Date().timeIntervalSince(started)
        #expect(applied.status == 0, "\(applied.stderr)")
        let events = applied.stdout.split(separator: "\n").filter { $0.hasPrefix("{\"bytes\":") }.compactMap {
            try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }
        let progress = events.filter { $0["event"] as? String == "download" }
        #expect(progress.count >= 1, "\(applied.stdout)")
        #expect(Double(progress.count) <= elapsed, "\(progress.count) events in \(elapsed) s")
        let bytes = progress.compactMap { $0["bytes"] as? Int }
        #expect(bytes == bytes.sorted() && bytes.allSatisfy { $0 > 0 && $0 < size })
        #expect(progress.allSatisfy { $0["total"] as? Int == size && ($0["rate"] as? Int ?? 0) > 0 })
        #expect(events.last?["event"] as? String == "downloaded")
    }
}

@Suite("The agent checks for updates between proposals")
struct AgentUpdateTests {
    /// A home at 0.1.0 whose channel offers 0.3.0 (the binary under test stamped), and an empty
    /// git working copy with a package manifest for the agent to work in.
    func prepared(_ harness: Harness, critical: Bool) throws -> (patches: String, source: String) {
        _ = try harness.initialize()
        let directory = harness.root.path
        let tool = { (arguments: [String]) in try harness.run(arguments, executable: Harness.binary, directory: directory) }
        #expect(try tool(["release", "init", "--repo", "repo"]).status == 0)
        let added = try tool(["release", "add", "--repo", "repo", "--version", "0.3.0", "--platform", "linux-x86_64"]
                             + (critical ? ["--critical"] : []) + [try harness.candidate(version: "0.3.0")])
        #expect(added.status == 0, "\(added.stderr)")
        #expect(try tool(["release", "publish", "--repo", "repo"]).status == 0)
        #expect(try tool(["update", "configure", "--channel", "file://\(directory)/repo", "--trusted-root", "repo/metadata/1.root.json",
                          "--home", harness.home]).status == 0)
        let source = directory + "/source"
        try FileManager.default.createDirectory(atPath: source, withIntermediateDirectories: true)
        try "// swift-tools-version:6.0\n".write(toFile: source + "/Package.swift", atomically: true, encoding: .utf8)
        for arguments in [["init", "-q"], ["add", "."], ["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "start"]] {
            _ = try Harness.git(arguments, in: source)
        }
        let patches = directory + "/patches"
        try FileManager.default.createDirectory(atPath: patches, withIntermediateDirectories: true)
        return (patches, source)
    }

    @Test("manual: a newer release is reported once and shown by 'self-upgrade status'; nothing is installed")
    func reportsAvailable() throws {
        let harness = try Harness()
        defer { harness.cleanUp() }
        let (patches, source) = try prepared(harness, critical: false)
        let before = try harness.current()
        let run = try harness.run(["agent", "--patches", patches, "--source", source, "--json"])
        #expect(run.status == 0, "\(run.stderr)")
        let events = try run.stdout.split(separator: "\n").map { try harness.json(String($0)) }
        #expect(events.map { $0["event"] as? String } == ["update-available", "done"], "\(run.stdout)")
        #expect(events.first?["version"] as? String == "0.3.0")
        #expect(try harness.current() == before)
        let status = try harness.run(["self-upgrade", "status"])
        #expect(status.stdout.contains("Update:    update available: 0.3.0; run 'autodev update apply'"), "\(status.stdout)")
        let json = try harness.json(try harness.run(["self-upgrade", "status", "--json"]).stdout)
        #expect((json["updateAvailable"] as? [String: Any])?["version"] as? String == "0.3.0", "\(json)")
        #expect(json["current"] != nil)

        // The same facts as Prometheus metrics, read back by the reference parser.
        let metrics = try harness.run(["self-upgrade", "status", "--prometheus"])
        #expect(metrics.status == 0, "\(metrics.stderr)")
        let parser = harness.root.path + "/parse-metrics.py"
        try #"""
            import sys, prometheus_client.parser as parser
            for family in parser.text_string_to_metric_families(sys.stdin.read()):
                for sample in family.samples:
                    labels = ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items()) if k != "home")
                    print(f"{family.type} {sample.name} {labels} {sample.value:.17g}")
            """#.write(toFile: parser, atomically: true, encoding: .utf8)
        let parsed = try harness.run([parser], executable: "/usr/bin/python3", input: metrics.stdout)
        #expect(parsed.status == 0, "\(parsed.stderr)\n\(metrics.stdout)")
        let samples = parsed.stdout.split(separator: "\n").map(String.init)
        let running = try #require((json["current"] as? [String: Any])?["version"] as? String)
        #expect(samples.contains("gauge autodev_info id=\(before),version=\(running) 1"), "\(parsed.stdout)")
        #expect(samples.contains("gauge autodev_update_available critical=false,version=0.3.0 1"), "\(parsed.stdout)")
        #expect(samples.contains("counter autodev_transactions_total  \(json["transactions"] as? Int ?? -1)"), "\(parsed.stdout)")
        #expect(samples.contains("gauge autodev_transaction_open  0") && samples.contains("gauge autodev_integrity_problems  0"), "\(parsed.stdout)")
        let checked = samples.first { $0.hasPrefix("gauge autodev_update_last_check_timestamp_seconds  ") }.flatMap { Double($0.split(separator: " ").last!) }
        #expect(checked.map { abs($0 - Date().timeIntervalSince1970) < 600 } == true, "\(parsed.stdout)")

        // Whatever is planted where the last check's finding is kept, status neither follows it,
        // waits on it nor reads it whole: it shows no update and exits 0.
        for plant in ["zero", "fifo"] {
            let record = harness.home + "/channel/available"
            try? FileManager.default.removeItem(atPath: record)
            if plant == "zero" {
                try FileManager.default.createSymbolicLink(atPath: record, withDestinationPath: "/dev/zero")
            } else {
                #expect(mkfifo(record, 0o600) == 0)
            }
            let planted = try harness.run(["self-upgrade", "status"])
            #expect(planted.status == 0, "\(plant): \(planted.stderr)")
            #expect(!planted.stdout.contains("update available"), "\(plant): \(planted.stdout)")
        }

        // With no working copy, the agent says so (and shows its own usage).
        let noSource = try harness.run(["agent", "--patches", patches], directory: harness.root.path)
        #expect(noSource.status == 64)
        #expect(noSource.stderr.hasPrefix("Error: No working copy for the proposals: pass --source DIR"), "\(noSource.stderr)")
        #expect(noSource.stderr.contains("autodev agent"), "\(noSource.stderr)")

        let badPolicy = try harness.run(["agent", "--patches", patches, "--source", source, "--updates", "sometimes"])
        #expect(badPolicy.status == 64)
        #expect(badPolicy.stderr.hasPrefix("Error: The value 'sometimes' is invalid for '--updates <policy>'"), "\(badPolicy.stderr)")
    }

    @Test("critical: a critical release is installed between proposals; the loop goes on in the new version, same process")
    func installsCritical() throws {
        let harness = try Harness()
        defer { harness.cleanUp() }
        let (patches, source) = try prepared(harness, critical: true)
        let before = try harness.current()
        let run = try harness.run(["agent", "--patches", patches, "--source", source, "--updates", "critical", "--json"])
        #expect(run.status == 0, "\(run.stderr)")
        // The download's own progress events ('download', 'downloaded') come in between.
        let all = try run.stdout.split(separator: "\n").map { try harness.json(String($0)) }
        #expect(all.last { $0["event"] as? String == "downloaded" } != nil, "\(run.stdout)")
        let events = all.filter { !["download", "downloaded"].contains($0["event"] as? String) }
        #expect(events.map { $0["event"] as? String } == ["update-available", "update-installing", "done"], "\(run.stdout)\n\(run.stderr)")
        #expect(events.last?["version"] as? String == "0.3.0")
        #expect(Set(events.map { $0["pid"] as? Int }) == [Int(run.pid)])
        #expect(try harness.current() != before)
        #expect(try harness.run(["--version"]).stdout == "0.3.0\n")
        // Up to date now: status shows no update.
        #expect(!(try harness.run(["self-upgrade", "status"]).stdout.contains("update available")))
    }
}

/// Two versions of autodev released into one repository served on loopback, and an installation
/// of the older one updating to the newer and back.
enum ReleaseScenario {
    /// Publishes two builds of autodev into one repository with `autodev release`, serves it on
    /// loopback, installs the older, and updates it: `update check` offers the newer by the
    /// patch `release add` made from the older, `update apply` downloads the patch, rebuilds and
    /// verifies the newer and execs it in the same process, `rollback` returns.
    static func updateOverHTTP(older: String, olderVersion: String, newer: String, newerVersion: String) throws {
        let harness = try Harness()
        defer { harness.cleanUp() }
        let directory = harness.root.path
        let tool = { (arguments: [String]) in try harness.run(arguments, executable: older, directory: directory) }
        #expect(try tool(["release", "init", "--repo", "repo"]).status == 0)
        for (version, binary) in [(olderVersion, older), (newerVersion, newer)] {
            try FileManager.default.createDirectory(atPath: directory + "/" + version, withIntermediateDirectories: true)
            try FileManager.default.copyItem(atPath: binary, toPath: directory + "/" + version + "/autodev")
            let added = try tool(["release", "add", "--repo", "repo", "--version", version, "--platform", "linux-x86_64", version + "/autodev"])
            #expect(added.status == 0, "\(added.stderr)")
        }
        #expect(try tool(["release", "publish", "--repo", "repo"]).status == 0)
        let server = try StaticServer(serving: try harness.publicView(of: directory + "/repo"))
        defer { server.stop() }

        _ = try harness.initialize()
        let installed = try harness.current()
        #expect(try harness.run(["update", "configure", "--channel", server.url, "--trusted-root", directory + "/repo/metadata/1.root.json"]).status == 0)
        let check = try harness.run(["update", "check"])
        #expect(check.status == 0, "\(check.stderr)")
        #expect(check.stdout.hasPrefix("Current version:  \(olderVersion)\n"), "\(check.stdout)")
        #expect(check.stdout.contains("Newest version:   \(newerVersion)"), "\(check.stdout)")
        // 'release add' made a patch from the older release, which is the installed binary.
        let full = try FileManager.default.attributesOfItem(atPath: newer)[.size] as? Int ?? 0
        #expect(check.stdout.contains(", a patch from this version (the full file is \(full) bytes)"), "\(check.stdout)")

        let applied = try harness.run(["update", "apply", "--yes"])
        #expect(applied.status == 0, "\(applied.stderr)")
        #expect(applied.stderr.contains("Downloading a patch of "), "\(applied.stderr)")
        #expect(!applied.stderr.contains("downloading the full file"), "\(applied.stderr)")
        #expect(applied.stderr.contains("Verified autodev/\(newerVersion)/linux-x86_64/autodev: length, SHA-256 and SHA-512 match the signed metadata"), "\(applied.stderr)")
        #expect(try harness.run(["--version"]).stdout == newerVersion + "\n")
        // The new version confirmed itself in the process that ran 'update apply': exec, same PID.
        let commit = try #require(try harness.journalLines().last.map { try harness.json(String($0.drop { $0 != " " }.dropFirst())) })
        #expect(commit["kind"] as? String == "commit", "\(commit)")
        #expect(commit["pid"] as? Int == Int(applied.pid), "\(commit)")
        #expect(try harness.run(["update", "check"]).stdout.hasPrefix("autodev \(newerVersion) is up to date"))

        let rollback = try harness.run(["self-upgrade", "rollback", "--yes"])
        #expect(rollback.status == 0, "\(rollback.stderr)")
        #expect(try harness.current() == installed)
        #expect(try harness.run(["--version"]).stdout == olderVersion + "\n")
    }
}

@Suite("Two versions released and served over HTTP")
struct ReleaseOverHTTPTests {
    @Test("the older installed: check offers the newer, apply execs it in the same process, rollback returns",
          .enabled(if: StaticServer.available, "needs python3 for the loopback HTTP server"))
    func updateAndRollBack() throws {
        let harness = try Harness()
        defer { harness.cleanUp() }
        // A second build stands in for a newer release: the binary under test stamped as 0.3.0.
        try ReleaseScenario.updateOverHTTP(older: Harness.binary, olderVersion: "0.1.0",
                                           newer: try harness.candidate(version: "0.3.0"), newerVersion: "0.3.0")
    }
}

/// The size format of the progress line (`DownloadMeter.size`), restated for the end-to-end check.
enum DownloadMeterText {
    static func size(_ bytes: Int) -> String {
        if bytes < 1000 { return "\(bytes) B" }
        let tenths = bytes < 1_000_000 ? (bytes + 50) / 100 : (bytes + 50_000) / 100_000
        return "\(tenths / 10).\(tenths % 10) " + (bytes < 1_000_000 ? "kB" : "MB")
    }
}

/// Staging names in the tests.
enum FileSystemName {
    /// True for 64 lowercase hex digits.
    static func isSHA256(_ name: String) -> Bool { name.count == 64 && name.allSatisfy { "0123456789abcdef".contains($0) } }
}
