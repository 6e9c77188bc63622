import Foundation
import TestSupport
import Testing

/// `update apply` against a release repository and a server that misbehave, one way at a time:
/// each fails closed (exit 1, the cause named, the running version and the trusted metadata
/// unchanged, nothing staged but a resumable `.partial`); then the cut download resumes.
@Suite("update apply fails closed", .enabled(if: StaticServer.available, "needs python3 for the loopback HTTP server"))
struct UpdateFailsClosedTests {
    final class Scenario {
        let harness: Harness
        let repository: String
        let faults: String
        let server: StaticServer
        let installed: String

        init(_ harness: Harness) throws {
            self.harness = harness
            let directory = harness.root.path
            repository = directory + "/repo"
            faults = directory + "/faults.json"
            _ = try harness.initialize()
            installed = try harness.current()
            #expect(try Scenario.tool(harness, ["release", "init", "--repo", "repo", "--threshold", "2"]).status == 0)
            let added = try Scenario.tool(harness, ["release", "add", "--repo", "repo", "--version", "0.2.0", "--platform", "linux-x86_64",
                                                    try harness.candidate(version: "0.2.0")])
            #expect(added.status == 0, "\(added.stderr)")
            #expect(try Scenario.tool(harness, ["release", "publish", "--repo", "repo"]).status == 0)
            server = try StaticServer(serving: try harness.publicView(of: repository), faults: faults)
            #expect(try harness.run(["update", "configure", "--channel", server.url, "--trusted-root", repository + "/metadata/1.root.json"]).status == 0)
            #expect(try harness.run(["update", "check"]).status == 0)
        }

        static func tool(_ harness: Harness, _ arguments: [String]) throws -> Harness.Result {
            try harness.run(arguments, executable: Harness.binary, directory: harness.root.path)
        }

        func setFault(_ mode: String?) throws {
            try (mode.map { "{\"mode\": \"\($0)\"}" } ?? "{}").write(toFile: faults, atomically: true, encoding: .utf8)
        }

        /// The trusted metadata's files and bytes.
        func trusted() throws -> [String: Data] {
            let directory = harness.home + "/channel/metadata"
            var files: [String: Data] = [:]
            for name in try FileManager.default.contentsOfDirectory(atPath: directory) {
                files[name] = FileManager.default.contents(atPath: directory + "/" + name)
            }
            return files
        }

        /// Runs `update apply` and checks that it failed closed with `cause` in its message.
        func expectFailsClosed(_ cause: String, arguments: [String] = [], environment: [String: String] = [:], executable: String? = nil,
                               sourceLocation: SourceLocation = #_sourceLocation) throws {
            let metadata = try trusted()
            // With `executable`, `arguments` are the whole command line (a wrapper such as faketime).
            let result = try harness.run(executable == nil ? ["update", "apply", "--yes"] + arguments : arguments,
                                         executable: executable, environment: environment)
            #expect(result.status == 1, "\(cause): \(result.stdout)\(result.stderr)", sourceLocation: sourceLocation)
            #expect(result.stderr.contains(cause), "\(result.stderr)", sourceLocation: sourceLocation)
            #expect(try harness.current() == installed, sourceLocation: sourceLocation)
            #expect(try trusted() == metadata, "the trusted metadata changed (\(cause))", sourceLocation: sourceLocation)
            let staged = (try? FileManager.default.contentsOfDirectory(atPath: harness.home + "/channel/staging")) ?? []
            #expect(staged.allSatisfy { $0.hasSuffix(".partial") }, "\(staged)", sourceLocation: sourceLocation)
        }

        /// The one stored target file of 0.2.0 in the repository.
        func targetFile() throws -> String {
            let directory = repository + "/targets/autodev/0.2.0/linux-x86_64"
            return directory + "/" + (try #require(try FileManager.default.contentsOfDirectory(atPath: directory).first))
        }

        func stop() { server.stop() }
    }

    @Test("""
        404, 500, a stalled server, more bytes than listed, an altered artifact, a signature by an unknown key, fewer signatures than the threshold, \
        a replayed timestamp, expired metadata, another platform: each fails closed; a cut download is resumed with Range and verified
        """)
    func failsClosedThenResumes() throws {
        let harness = try Harness()
        defer { harness.cleanUp() }
        let scenario = try Scenario(harness)
        defer { scenario.stop() }
        let repository = scenario.repository
        let metadata = repository + "/metadata"

        // A usage error comes first, even where no channel is configured.
        let unconfigured = try harness.run(["update", "check", "--stall-timeout", "x", "--home", harness.root.path + "/nowhere"])
        #expect(unconfigured.status == 64, "\(unconfigured.stderr)")
        for bad in ["0", "nan", "-1", "1e9"] {
            let refused = try harness.run(["update", "apply", "--yes", "--stall-timeout", bad])
            #expect(refused.status == 64, "\(bad): \(refused.stderr)")
            #expect(refused.stderr.hasPrefix("Error: The value '\(bad)' is invalid for '--stall-timeout <seconds>'"), "\(refused.stderr)")
        }
        try scenario.setFault("404")
        try scenario.expectFailsClosed("404 Not Found\nNothing was installed; run 'autodev update apply' again to retry")
        try scenario.setFault("500")
        try scenario.expectFailsClosed("500 Internal Server Error")
        try scenario.setFault("stall")
        try scenario.expectFailsClosed("nothing received from 127.0.0.1:\(scenario.server.port) for 1 s", arguments: ["--stall-timeout", "1"])
        try scenario.setFault("oversize:4096")
        try scenario.expectFailsClosed("bytes announced, more than the cap of")
        try scenario.setFault(nil)

        // The artifact altered after signing (one byte in the middle).
        let target = try scenario.targetFile()
        let original = try Data(contentsOf: URL(fileURLWithPath: target))
        var altered = original
        altered[altered.count / 2] ^= 0xFF
        try altered.write(to: URL(fileURLWithPath: target))
        try scenario.expectFailsClosed("the signed metadata lists")
        try original.write(to: URL(fileURLWithPath: target))

        // The timestamp signed by a key the root does not list.
        let timestamp = try Data(contentsOf: URL(fileURLWithPath: metadata + "/timestamp.json"))
        #expect(try Scenario.tool(harness, ["release", "init", "--repo", "other"]).status == 0)
        try Data(contentsOf: URL(fileURLWithPath: harness.root.path + "/other/metadata/timestamp.json"))
            .write(to: URL(fileURLWithPath: metadata + "/timestamp.json"))
        try scenario.expectFailsClosed("timestamp version 1 has 0 valid signature(s) of the 2 required")
        // One of the two signatures the threshold asks for.
        var document = try #require(try JSONSerialization.jsonObject(with: timestamp) as? [String: Any])
        document["signatures"] = Array((document["signatures"] as? [Any] ?? []).prefix(1))
        try JSONSerialization.data(withJSONObject: document).write(to: URL(fileURLWithPath: metadata + "/timestamp.json"))
        try scenario.expectFailsClosed("threshold not met: timestamp version 2 has 1 valid signature(s) of the 2 required")
        try timestamp.write(to: URL(fileURLWithPath: metadata + "/timestamp.json"))

        // A replayed timestamp: the client saw a newer one.
        #expect(try Scenario.tool(harness, ["release", "refresh", "--repo", "repo"]).status == 0)
        #expect(try harness.run(["update", "check"]).status == 0)
        let newer = try Data(contentsOf: URL(fileURLWithPath: metadata + "/timestamp.json"))
        try timestamp.write(to: URL(fileURLWithPath: metadata + "/timestamp.json"))
        try scenario.expectFailsClosed("is older than trusted version 3")
        try newer.write(to: URL(fileURLWithPath: metadata + "/timestamp.json"))

        // Expired metadata: the same repository two years on (faketime shifts the clock of the run).
        if let faketime = ["/usr/bin/faketime", "/usr/local/bin/faketime"].first(where: FileManager.default.isExecutableFile(atPath:)) {
            try scenario.expectFailsClosed("expired: root version 1 has expired", arguments: ["-f", "+730d", harness.entry, "update", "apply", "--yes"], executable: faketime)
        } else {
            Issue.record("faketime is missing (Debian: apt-get install faketime); scripts/test installs it")
        }

        // Another platform's release is not taken.
        let other = try harness.candidate("aarch64", version: "0.5.0")
        #expect(try Scenario.tool(harness, ["release", "add", "--repo", "repo", "--version", "0.5.0", "--platform", "linux-aarch64", other]).status == 0)
        #expect(try Scenario.tool(harness, ["release", "publish", "--repo", "repo"]).status == 0)
        #expect(try harness.run(["update", "check"]).status == 0)
        try scenario.expectFailsClosed("offers no autodev 0.5.0 for linux-x86_64", arguments: ["--version", "0.5.0"])

        // The connection cut after 1 MiB: the bytes are kept, and the next apply asks for the rest.
        try scenario.setFault("cut:1048576")
        try scenario.expectFailsClosed("bytes missing\nNothing was installed; run 'autodev update apply' again to retry (the download resumes from the ")
        let partials = try FileManager.default.contentsOfDirectory(atPath: harness.home + "/channel/staging").filter { $0.hasSuffix(".partial") }
        #expect(partials.count == 1)
        let kept = try #require(try FileManager.default.attributesOfItem(atPath: harness.home + "/channel/staging/" + partials[0])[.size] as? Int)
        #expect(kept >= 1_048_576, "\(kept) bytes kept")
        try scenario.setFault(nil)
        let resumed = try harness.run(["update", "apply", "--yes"])
        #expect(resumed.status == 0, "\(resumed.stderr)")
        #expect(try harness.run(["--version"]).stdout == "0.2.0\n")
        let requests = try String(contentsOfFile: scenario.faults + ".requests", encoding: .utf8).split(separator: "\n")
        #expect(requests.last?.hasSuffix(" bytes=\(kept)-") == true, "\(requests)")
    }

    @Test("""
        hostile answers: a redirect loop, no response at all, a body shorter than the artifact announced as whole, \
        a Range answered from another byte: each fails closed; a Range ignored starts over and succeeds
        """)
    func hostileAnswers() throws {
        let harness = try Harness()
        defer { harness.cleanUp() }
        let scenario = try Scenario(harness)
        defer { scenario.stop() }
        let staging = harness.home + "/channel/staging"
        try scenario.setFault("redirect-loop")
        try scenario.expectFailsClosed("redirect loop:")
        try scenario.setFault("stall-head")
        try scenario.expectFailsClosed("nothing received from 127.0.0.1:\(scenario.server.port) for 1 s", arguments: ["--stall-timeout", "1"])
        // A complete-looking body that is not the signed artifact: refused, and not kept.
        try scenario.setFault("lie-short:1000")
        try scenario.expectFailsClosed("is 1000 bytes, the signed metadata lists")
        #expect(((try? FileManager.default.contentsOfDirectory(atPath: staging)) ?? []).isEmpty)
        // A resumption answered from byte 0: refused before a byte is appended.
        try scenario.setFault("cut:1048576")
        try scenario.expectFailsClosed("bytes missing")
        let partial = try #require(try FileManager.default.contentsOfDirectory(atPath: staging).first)
        let kept = try #require(try FileManager.default.attributesOfItem(atPath: staging + "/" + partial)[.size] as? Int)
        try scenario.setFault("range-wrong")
        try scenario.expectFailsClosed("Content-Range starts at 0, asked for \(kept)")
        #expect(try FileManager.default.attributesOfItem(atPath: staging + "/" + partial)[.size] as? Int == kept)
        // A server that ignores Range: the download starts over and verifies.
        try scenario.setFault("range-ignored")
        let applied = try harness.run(["update", "apply", "--yes"])
        #expect(applied.status == 0, "\(applied.stderr)")
        #expect(try harness.run(["--version"]).stdout == "0.2.0\n")
    }

    @Test("""
        nothing else can open a download while it arrives, and the install then hashes it once; \
        a process that had the kept part open before the download resumed, and wrote into it, has the install refused at the stage step, not installed under the signed hash; \
        after a rollback, the same release installs again from the store
        """)
    func writtenWhileArriving() throws {
        let harness = try Harness()
        defer { harness.cleanUp() }
        let scenario = try Scenario(harness)
        defer { scenario.stop() }
        let staging = harness.home + "/channel/staging"
        func partial(atLeast bytes: Int) -> String? {
            var found: String?
            let arrived = harness.waitUntil(seconds: 30) {
                found = ((try? FileManager.default.contentsOfDirectory(atPath: staging)) ?? []).first { $0.hasSuffix(".partial") }.map { staging + "/" + $0 }
                return found.map { ((try? FileManager.default.attributesOfItem(atPath: $0)[.size] as? Int) ?? 0) >= bytes } ?? false
            }
            return arrived ? found : nil
        }

        // While it arrives, another process cannot open it (it would wait until the download ends).
        try scenario.setFault("pause:1048576")
        let first = try harness.start(["update", "apply", "--yes"])
        let kept = try #require(partial(atLeast: 1_048_576), "the first MiB never arrived")
        let descriptor = open(kept, O_RDONLY | O_NONBLOCK)
        let error = errno
        if descriptor >= 0 { close(descriptor) }
        #expect(descriptor == -1 && error == EWOULDBLOCK, "the download could be opened while it arrived (errno \(error))")
        // SIGINT keeps what arrived for the next apply.
        kill(first.pid, SIGINT)
        #expect(first.finish().status == 1)

        // Another process of this user's holds the kept part open when the next apply resumes it.
        let handle = try #require(FileHandle(forWritingAtPath: kept))
        defer { try? handle.close() }
        let running = try harness.start(["update", "apply", "--yes"])
        // The condition: the resumed download has read what was kept and appended the next MiB.
        #expect(partial(atLeast: 2 * 1_048_576) != nil, "the second MiB never arrived")
        // It writes into what had arrived (the hash as it arrives never sees it).
        try handle.seek(toOffset: 4096)
        try handle.write(contentsOf: Data("written by someone else while the download arrived".utf8))
        try scenario.setFault(nil)
        let result = running.finish()
        #expect(result.status == 1, "\(result.stderr)")
        #expect(result.stderr.contains("Verified autodev/0.2.0/linux-x86_64/"), "\(result.stderr)")
        // The store reads it back, but not while another process can still write it.
        #expect(result.stderr.contains("could not be proven to hold the verified bytes: another process has it open for writing")
                && result.stderr.contains("nothing was installed"), "\(result.stderr)")
        #expect(try harness.current() == scenario.installed)
        #expect(try harness.run(["--version"]).stdout != "0.2.0\n")

        // Closed: the next apply finds the kept file does not match and downloads it again;
        // nobody else opens that one, and it is installed, hashed once, as it was written.
        try handle.close()
        let applied = try harness.run(["update", "apply", "--yes"])
        #expect(applied.status == 0, "\(applied.stderr)")
        #expect(try harness.run(["--version"]).stdout == "0.2.0\n")
        let stage = try harness.journalLines().map { try harness.json(String($0.drop { $0 != " " }.dropFirst())) }
            .last { $0["kind"] as? String == "step" && $0["step"] as? String == "stage" }
        #expect(stage?["reason"] as? String == "hashed once, as it was written", "\(String(describing: stage))")

        // After a rollback, the same release is installed again: it is in the store already.
        let rolledBack = try harness.run(["self-upgrade", "rollback", "--yes"])
        #expect(rolledBack.status == 0, "\(rolledBack.stderr)")
        #expect(try harness.run(["--version"]).stdout != "0.2.0\n")
        let again = try harness.run(["update", "apply", "--yes"])
        #expect(again.status == 0, "\(again.stderr)")
        #expect(try harness.run(["--version"]).stdout == "0.2.0\n")
    }

    @Test("a server dripping bytes under the stall timeout fails at the total deadline (--timeout), naming how to raise it")
    func totalDeadline() throws {
        let harness = try Harness()
        defer { harness.cleanUp() }
        let scenario = try Scenario(harness)
        defer { scenario.stop() }
        for bad in ["0", "-1", "nan", "1e300"] {
            let refused = try harness.run(["update", "apply", "--yes", "--timeout", bad])
            #expect(refused.status == 64 && refused.stderr.hasPrefix("Error: The value '\(bad)' is invalid for '--timeout <seconds>'"), "\(refused.stderr)")
        }
        try scenario.setFault("drip")
        try scenario.expectFailsClosed("not complete within the total timeout of 2 s; to wait longer, pass --timeout SECONDS", arguments: ["--timeout", "2"])

        // A check whose metadata stalls names both flags too, and a deadline under 0.05 s is not "0 s".
        try #"{"mode": "stall", "metadata": true}"#.write(toFile: scenario.faults, atomically: true, encoding: .utf8)
        let stalled = try harness.run(["update", "check", "--stall-timeout", "1"])
        #expect(stalled.status == 1)
        #expect(stalled.stderr.contains("for 1 s; to wait longer, pass --timeout SECONDS (each metadata fetch, now 120 s plus one second per 64 KiB of the file) or --stall-timeout SECONDS (silence, now 1 s)"), "\(stalled.stderr)")
        let short = try harness.run(["update", "check", "--timeout", "0.01"])
        #expect(short.status == 1)
        #expect(short.stderr.contains("not complete within the total timeout of 0.01 s; to wait longer, pass --timeout SECONDS (each metadata fetch, now 0.01 s)"), "\(short.stderr)")
    }

    @Test("SIGINT and SIGTERM end a download within a second, keep the partial file for the next apply, and say so", arguments: [SIGINT, SIGTERM])
    func signalEndsDownload(_ signal: Int32) throws {
        let harness = try Harness()
        defer { harness.cleanUp() }
        let scenario = try Scenario(harness)
        defer { scenario.stop() }
        try scenario.setFault("drip")
        let staging = harness.home + "/channel/staging"
        let running = try harness.start(["update", "apply", "--yes"])
        // The condition, not a guess at a delay: the first bytes are in the partial file.
        let started = harness.waitUntil(seconds: 30) {
            ((try? FileManager.default.contentsOfDirectory(atPath: staging)) ?? []).contains { name in
                name.hasSuffix(".partial") && ((try? FileManager.default.attributesOfItem(atPath: staging + "/" + name)[.size] as? Int) ?? 0) > 0
            }
        }
        #expect(started, "the download never started")
        kill(running.pid, signal)
        let ended = Processes.waitUntilEnded(running.pid, seconds: 3)
        #expect(ended, "still downloading 3 s after the signal")
        if !ended { kill(running.pid, SIGKILL) }
        let result = running.finish()
        #expect(result.status == 1, "\(result.stderr)")
        let name = signal == SIGINT ? "SIGINT" : "SIGTERM"
        #expect(result.stderr.contains("was cancelled by \(name);") && result.stderr.contains("the next 'autodev update apply' resumes from there"), "\(result.stderr)")
        #expect(try harness.current() == scenario.installed)
        let partials = try FileManager.default.contentsOfDirectory(atPath: staging).filter { $0.hasSuffix(".partial") }
        #expect(partials.count == 1)
        try scenario.setFault(nil)
        let resumed = try harness.run(["update", "apply", "--yes"])
        #expect(resumed.status == 0, "\(resumed.stderr)")
    }
}

@Suite("update apply and the files planted in its channel directory")
struct UpdatePlantedFilesTests {
    @Test("""
        a link, hard link, FIFO or directory planted as the partial download is removed, never written through or waited on; \
        a FIFO among the trusted metadata and a hard link as the lock are refused; \
        a damaged or FIFO downgrade floor is an error, not a missing floor
        """)
    func plantedFiles() throws {
        let harness = try Harness()
        defer { harness.cleanUp() }
        _ = try harness.initialize()
        let directory = harness.root.path
        let tool = { (arguments: [String]) in try harness.run(arguments, executable: Harness.binary, directory: directory) }
        #expect(try tool(["release", "init", "--repo", "repo"]).status == 0)
        let candidate = try harness.candidate(version: "0.2.0")
        #expect(try tool(["release", "add", "--repo", "repo", "--version", "0.2.0", "--platform", "linux-x86_64", candidate]).status == 0)
        #expect(try tool(["release", "publish", "--repo", "repo"]).status == 0)
        #expect(try harness.run(["update", "configure", "--channel", "file://\(directory)/repo", "--trusted-root", "repo/metadata/1.root.json"],
                                directory: directory).status == 0)
        let sha256 = try #require(try harness.run(["digest", candidate], executable: Harness.binary).stdout.split(separator: " ").first)
        let staging = harness.home + "/channel/staging"
        try FileManager.default.createDirectory(atPath: staging, withIntermediateDirectories: true)
        let partial = staging + "/\(sha256).partial"
        let victim = directory + "/victim"
        try "victim line\n".write(toFile: victim, atomically: true, encoding: .utf8)

        for plant in ["link", "hard link", "fifo", "directory"] {
            switch plant {
            case "link": try FileManager.default.createSymbolicLink(atPath: partial, withDestinationPath: victim)
            case "hard link": #expect(link(victim, partial) == 0)
            case "fifo": #expect(mkfifo(partial, 0o600) == 0)
            default: try FileManager.default.createDirectory(atPath: partial, withIntermediateDirectories: false)
            }
            let fetched = try harness.run(["update", "apply", "--download-only"])
            #expect(fetched.status == 0, "\(plant): \(fetched.stderr)")
            #expect(fetched.stdout == staging + "/\(sha256)\n", "\(plant): \(fetched.stdout)")
            #expect(try String(contentsOfFile: victim, encoding: .utf8) == "victim line\n", "\(plant): the planted file's target was written")
            try FileManager.default.removeItem(atPath: staging + "/\(sha256)")
        }

        // A FIFO planted among the trusted metadata is refused, not waited on; a hard link planted
        // as the channel's lock is refused, and the file it links to keeps its content.
        #expect(try harness.run(["update", "check"]).status == 0)
        let timestamp = harness.home + "/channel/metadata/timestamp.json"
        let saved = try Data(contentsOf: URL(fileURLWithPath: timestamp))
        try FileManager.default.removeItem(atPath: timestamp)
        #expect(mkfifo(timestamp, 0o600) == 0)
        let (fifoCheck, fifoEnded) = try harness.runBounded(["update", "check"])
        #expect(fifoEnded, "update check waited on a FIFO planted as timestamp.json")
        #expect(fifoCheck.status == 1 && fifoCheck.stderr.contains("it is not a regular file"), "\(fifoCheck.stderr)")
        try FileManager.default.removeItem(atPath: timestamp)
        try saved.write(to: URL(fileURLWithPath: timestamp))
        let lock = harness.home + "/channel/lock"
        try? FileManager.default.removeItem(atPath: lock)
        #expect(link(victim, lock) == 0)
        let linked = try harness.run(["update", "check"])
        #expect(linked.status == 1, "\(linked.stderr)")
        #expect(linked.stderr.hasPrefix("Error: Failed to lock \"\(lock)\": it has 2 links"), "\(linked.stderr)")
        #expect(try String(contentsOfFile: victim, encoding: .utf8) == "victim line\n")
        try FileManager.default.removeItem(atPath: lock)

        // A config.json that is there but is not a file is named as such, not taken for "no channel".
        let config = harness.home + "/channel/config.json"
        let savedConfig = try Data(contentsOf: URL(fileURLWithPath: config))
        try FileManager.default.removeItem(atPath: config)
        #expect(mkfifo(config, 0o600) == 0)
        let (configCheck, configEnded) = try harness.runBounded(["update", "check"])
        #expect(configEnded && configCheck.status == 1, "\(configCheck.stderr)")
        #expect(configCheck.stderr.hasPrefix("Error: Failed to read \"\(config)\": it is not a regular file; run 'autodev update configure' again"), "\(configCheck.stderr)")
        try FileManager.default.removeItem(atPath: config)
        try savedConfig.write(to: URL(fileURLWithPath: config))
        // Nor is an installation id that is there but unreadable replaced by a new one (a new
        // rollout bucket) without a word.
        let id = harness.home + "/channel/installation-id"
        let savedID = try Data(contentsOf: URL(fileURLWithPath: id))
        try FileManager.default.removeItem(atPath: id)
        #expect(mkfifo(id, 0o600) == 0)
        let idCheck = try harness.run(["update", "check"])
        #expect(idCheck.status == 1 && idCheck.stderr.contains("remove it to make a new installation id"), "\(idCheck.stderr)")
        try FileManager.default.removeItem(atPath: id)
        try savedID.write(to: URL(fileURLWithPath: id))

        let floor = harness.home + "/channel/highest-accepted"
        try Data([0xFF, 0xFE] + Array("garbage 9.9.9\n".utf8)).write(to: URL(fileURLWithPath: floor))
        let garbage = try harness.run(["update", "apply", "--yes"])
        #expect(garbage.status == 1)
        #expect(garbage.stderr.contains("The downgrade floor \"\(floor)\" holds no version"), "\(garbage.stderr)")
        try FileManager.default.removeItem(atPath: floor)
        #expect(mkfifo(floor, 0o600) == 0)
        let fifo = try harness.run(["update", "apply", "--yes"])
        #expect(fifo.status == 1)
        #expect(fifo.stderr.contains("The downgrade floor \"\(floor)\" cannot be read"), "\(fifo.stderr)")
        #expect(try harness.run(["--version"]).stdout == "0.1.0\n")
    }
}
