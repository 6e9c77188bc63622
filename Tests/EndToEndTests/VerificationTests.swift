import Foundation
import Testing

@Suite("Verification proves something: a report with checks, a rehearsed restart, bounded logs")
struct VerificationTests {
    /// Runs an upgrade expected to be rejected and checks the message and that the home is as it was.
    func expectRejected(_ harness: Harness, _ candidate: String, dryRun: Bool = false, message: String) throws {
        let before = try harness.snapshot()
        let journal = try harness.journalLines()
        let result = try harness.run(["self-upgrade", "--from-binary", candidate] + (dryRun ? ["--dry-run"] : []))
        #expect(result.status == 1, "exit \(result.status): \(result.stderr)")
        #expect(result.stderr.contains(message), "stderr was: \(result.stderr)")
        #expect(try harness.snapshot() == before, "the home changed")
        let after = try harness.journalLines()
        #expect(Array(after.prefix(journal.count)) == journal)
        #expect(after.last?.contains("\"kind\":\"abort\"") == true, "\(after.last ?? "")")
    }

    @Test("a report with no checks is rejected")
    func emptyChecks() throws {
        let harness = try Harness()
        defer { harness.cleanUp() }
        _ = try harness.initialize()
        let empty = try harness.script("empty", #"echo '{"program":"autodev","version":"9.9.9","protocolVersion":1,"checks":[]}'"#)
        try expectRejected(harness, empty, message: "its self-check report has no checks")
    }

    @Test("a report whose version is not a version string (escape sequences, a line break) is rejected, shown escaped")
    func versionWithControlCharacters() throws {
        let harness = try Harness()
        defer { harness.cleanUp() }
        _ = try harness.initialize()
        for (name, version) in [("escape", #"9.9.9\u001b[2J"#), ("newline", #"9.9.9\nCritical: yes"#), ("space", "9.9 9"), ("empty", "")] {
            let script = try harness.script("version-\(name)", """
            printf '%s\\n' '{"program":"autodev","version":"\(version)","protocolVersion":1,"checks":[{"name":"ok","passed":true,"detail":"ok"}]}'
            """)
            try expectRejected(harness, script, message: "it reports a version that is not a version string")
            let result = try harness.run(["self-upgrade", "--from-binary", script, "--dry-run"])
            #expect(!result.stderr.contains("\u{1B}") && !result.stderr.contains("\nCritical"), "\(name): \(result.stderr.debugDescription)")
        }
    }

    @Test("a six-line script printing one passing check is not swapped in: it does not confirm a restart")
    func sixLineScript() throws {
        let harness = try Harness()
        defer { harness.cleanUp() }
        _ = try harness.initialize()
        let script = try harness.script("six-lines", """
        # Looks like autodev to a verifier that only reads the report.
        case "$1" in
          *) printf '%s\\n' '{"program":"autodev","version":"9.9.9","protocolVersion":1,"checks":[{"name":"ok","passed":true,"detail":"ok"}]}' ;;
        esac
        exit 0
        """)
        try expectRejected(harness, script, message: "did not confirm the rehearsed restart: it exited 0 without journaling commit")
        #expect(try harness.run(["self-upgrade", "status", "--json"]).status == 0)
    }

    @Test("a candidate with a good report that fails the restart or never journals commit is rejected")
    func failedRehearsal() throws {
        let harness = try Harness()
        defer { harness.cleanUp() }
        _ = try harness.initialize()
        // The rehearsed restart is the run that carries AUTODEV_TX.
        let failing = try harness.execScript("exits-4", probe: #"[ -n "$AUTODEV_TX" ] && exit 4"#)
        try expectRejected(harness, failing, message: "did not confirm the rehearsed restart: 'self-upgrade status --json' exited with status 4")
        let silent = try harness.execScript("no-commit", probe: #"[ -n "$AUTODEV_TX" ] && exit 0"#)
        try expectRejected(harness, silent, dryRun: true, message: "did not confirm the rehearsed restart: it exited 0 without journaling commit")
    }

    @Test("the rehearsal's home is made while the self-check runs, and its run waits for the report's judgement")
    func rehearsalMadeDuringSelfCheck() throws {
        let harness = try Harness()
        defer { harness.cleanUp() }
        _ = try harness.initialize()
        // The self-check (no AUTODEV_TX) waits until the rehearsal's scratch home appears in its
        // sandbox (the parent of its TMPDIR), for up to 30 s, and says whether it did.
        let waits = try harness.execScript("waits-for-rehearsal", probe: #"""
        if [ -z "$AUTODEV_TX" ]; then
          i=0
          while [ $i -lt 3000 ] && ! ls -d "$(dirname "$TMPDIR")"/rehearsal-* >/dev/null 2>&1; do i=$((i+1)); sleep 0.01; done
          if ls -d "$(dirname "$TMPDIR")"/rehearsal-* >/dev/null 2>&1; then echo "rehearsal made during the self-check"; else echo "no rehearsal during the self-check"; fi
        else
          echo "rehearsal ran"
        fi
        """#)
        let result = try harness.run(["self-upgrade", "--from-binary", waits, "--dry-run"])
        #expect(result.status == 0, "\(result.stderr)")
        let passed = try #require(try harness.logDirectories().last)
        let log = try String(contentsOfFile: passed + "/verify.err", encoding: .utf8)
        #expect(log.contains("rehearsal made during the self-check"), "\(log.suffix(2000))")
        #expect(log.contains("rehearsal ran"), "\(log.suffix(2000))")

        // A self-check that fails, or whose report is refused, never lets the rehearsal made
        // meanwhile run; the refusal names the stored copy, as without it.
        let waitForRehearsal = #"""
        if [ -n "$AUTODEV_TX" ]; then echo "rehearsal ran" >&2; exit 0; fi
        i=0
        while [ $i -lt 3000 ] && ! ls -d "$(dirname "$TMPDIR")"/rehearsal-* >/dev/null 2>&1; do i=$((i+1)); sleep 0.01; done
        """#
        let failing = try harness.script("fails-after-rehearsal-is-made", waitForRehearsal + "\nexit 3")
        try expectRejected(harness, failing, message: "its verification run exited with status 3")
        let refused = try harness.script("refused-after-rehearsal-is-made", waitForRehearsal + """

        echo '{"program":"autodev","version":"9.0.0","protocolVersion":99,"checks":[]}'
        """)
        try expectRejected(harness, refused, message: "it speaks upgrade protocol 99")
        try expectRejected(harness, refused, message: "(run as its stored copy \"\(harness.home)/versions/")
        let refusals = try harness.logDirectories().filter { $0 != passed }
        #expect(refusals.count == 3)
        for directory in refusals {
            let err = (try? String(contentsOfFile: directory + "/verify.err", encoding: .utf8)) ?? ""
            #expect(!err.contains("rehearsal ran"), "\(directory): \(err.suffix(2000))")
        }
    }

    @Test("a copy swapped out after its hash and back before its move is never what the rehearsal runs")
    func swappedOutAndBack() throws {
        let harness = try Harness()
        defer { harness.cleanUp() }
        _ = try harness.initialize()
        let before = try harness.current()
        // The candidate fails its rehearsal; its self-check waits until the swap is undone.
        let refusing = try harness.execScript("refuses-its-rehearsal", probe: #"""
        if [ -n "$AUTODEV_TX" ]; then echo "the candidate's rehearsal refuses"; exit 1; fi
        i=0
        while [ $i -lt 3000 ] && [ ! -e "$(dirname "$0")/../swapped-back" ]; do i=$((i+1)); sleep 0.01; done
        """#)
        let other = try harness.execScript("passes-its-rehearsal", probe: #"[ -n "$AUTODEV_TX" ] && echo "another file's rehearsal ran""#)
        let staging = harness.home + "/staging"
        let kept = harness.home + "/kept-aside"
        let placed = harness.home + "/other"
        try FileManager.default.copyItem(atPath: other, toPath: placed)
        let swapped = ThreadOutcome<String?> {
            // Once the copy is hashed (its metadata written beside it): the file aside, another
            // in its place until the rehearsal's home exists, then the copy back.
            let deadline = Date().addingTimeInterval(30)
            guard let staged = harness.hashedStagingDirectory(before: deadline) else { return "the copy was never hashed" }
            guard link(staged + "/autodev", kept) == 0, rename(placed, staged + "/autodev") == 0 else { return "swap: errno \(errno)" }
            harness.waitForRehearsalHome(before: deadline)
            guard rename(kept, staged + "/autodev") == 0 else { return "swap back: errno \(errno)" }
            FileManager.default.createFile(atPath: staging + "/swapped-back", contents: Data())
            return nil
        }
        let result = try harness.run(["self-upgrade", "--from-binary", refusing, "--yes"])
        #expect(swapped.wait() == nil)
        #expect(result.status == 1, "\(result.stderr)")
        // Put back under its name, it is still not the file hashed (its inode changed with its names).
        #expect(result.stderr.contains("changed after it was hashed"), "\(result.stderr)")
        #expect(try harness.current() == before)
        let log = (try? String(contentsOfFile: try #require(try harness.logDirectories().last) + "/verify.err", encoding: .utf8)) ?? ""
        #expect(!log.contains("another file's rehearsal ran"), "\(log.suffix(2000))")
    }

    @Test("a copy rewritten in place after its hash and written back before its move is refused, and its rehearsal never runs it")
    func rewrittenInPlaceAndBack() throws {
        let harness = try Harness()
        defer { harness.cleanUp() }
        _ = try harness.initialize()
        let before = try harness.current()
        let wait = #"""
        i=0
        while [ $i -lt 3000 ] && [ ! -e "$(dirname "$0")/../written-back" ]; do i=$((i+1)); sleep 0.01; done
        """#
        // Two candidates of one length: the offered one refuses its rehearsal, the other passes it.
        let refusing = try harness.execScript("refusing", probe: #"if [ -n "$AUTODEV_TX" ]; then echo "REHEARSAL-R"; exit 1; fi"# + "\n" + wait)
        let other = try harness.execScript("other", probe: #"if [ -n "$AUTODEV_TX" ]; then echo "REHEARSAL-X"; exit 0; fi"# + "\n" + wait)
        let original = try Data(contentsOf: URL(fileURLWithPath: refusing))
        let replacement = try Data(contentsOf: URL(fileURLWithPath: other))
        #expect(original.count == replacement.count)
        let staging = harness.home + "/staging"
        let rewritten = ThreadOutcome<String?> {
            func overwrite(_ path: String, with bytes: Data) -> Bool {
                _ = chmod(path, 0o755)
                let fd = open(path, O_WRONLY)
                guard fd >= 0 else { return false }
                defer { close(fd); _ = chmod(path, 0o555) }
                return bytes.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) } == bytes.count
            }
            let deadline = Date().addingTimeInterval(30)
            guard let staged = harness.hashedStagingDirectory(before: deadline) else { return "the copy was never hashed" }
            guard overwrite(staged + "/autodev", with: replacement) else { return "rewrite: errno \(errno)" }
            harness.waitForRehearsalHome(before: deadline)
            guard overwrite(staged + "/autodev", with: original) else { return "write back: errno \(errno)" }
            FileManager.default.createFile(atPath: staging + "/written-back", contents: Data())
            return nil
        }
        let result = try harness.run(["self-upgrade", "--from-binary", refusing, "--yes"])
        #expect(rewritten.wait() == nil)
        #expect(result.status == 1, "\(result.stderr)")
        #expect(result.stderr.contains("changed after it was hashed"), "\(result.stderr)")
        #expect(try harness.current() == before)
        let log = (try? String(contentsOfFile: try #require(try harness.logDirectories().last) + "/verify.err", encoding: .utf8)) ?? ""
        #expect(!log.contains("REHEARSAL-X"), "\(log.suffix(2000))")
    }

    @Test("an abort after the stage step kills a rehearsal still running rather than waiting for its timeout")
    func abortKillsRunningRehearsal() throws {
        let harness = try Harness()
        defer { harness.cleanUp() }
        _ = try harness.initialize()
        let before = try harness.current()
        let hanging = try harness.execScript("rehearsal-hangs", probe: #"[ -n "$AUTODEV_TX" ] && sleep 600"#)
        let start = Date()
        let result = try harness.run(["self-upgrade", "--from-binary", hanging, "--yes", "--timeout", "300"],
                                     environment: ["AUTODEV_FAILPOINT": "fail-after-stage"])
        #expect(result.status == 1, "\(result.stderr)")
        #expect(result.stderr.contains("after-stage"), "\(result.stderr)")
        // Its timeout is 300 s: the abort did not wait for it.
        #expect(Date().timeIntervalSince(start) < 120)
        #expect(try harness.current() == before)
        #expect(harness.verificationSandboxes().isEmpty)
    }

    @Test("the real binary passes the rehearsal: its restart from the scratch store commits")
    func realBinaryPasses() throws {
        let harness = try Harness()
        defer { harness.cleanUp() }
        _ = try harness.initialize()
        let result = try harness.run(["self-upgrade", "--from-binary", try harness.candidate(), "--dry-run"])
        #expect(result.status == 0, "\(result.stderr)")
        let log = try String(contentsOfFile: try #require(try harness.logDirectories().last) + "/verify.out", encoding: .utf8)
        #expect(log.contains("\"result\" : \"confirmed\""), "\(log.suffix(2000))")
        #expect(log.contains("\"pid\" : 1"), "the restarted candidate is not pid 1 of its namespace: \(log.suffix(2000))")
    }

    @Test("a candidate flooding stdout and stderr leaves at most the last MiB of each, after a note")
    func floodedLogs() throws {
        let harness = try Harness()
        defer { harness.cleanUp() }
        _ = try harness.initialize()
        let flood = try harness.execScript("flood", probe: "head -c 52428800 /dev/zero | tr '\\0' o; head -c 52428800 /dev/zero | tr '\\0' e >&2",
                                           redirect: "")
        try expectRejected(harness, flood, dryRun: true, message: "more than the 1048576 bytes a self-check report may take")
        let logs = try #require(try harness.logDirectories().last)
        for (name, fill) in [("verify.out", UInt8(ascii: "o")), ("verify.err", UInt8(ascii: "e"))] {
            let data = try Data(contentsOf: URL(fileURLWithPath: logs + "/" + name))
            let newline = try #require(data.firstIndex(of: 10), "\(name) has no note line")
            let note = String(decoding: data[..<newline], as: UTF8.self)
            #expect(note.hasPrefix("[autodev: ") && note.contains("earlier bytes left out"), "\(name): \(note.prefix(200))")
            let kept = data[(newline + 1)...]
            #expect(kept.count <= 1 << 20, "\(name) keeps \(kept.count) bytes")
            #expect(kept.count > 1 << 19 && kept.contains(fill), "\(name) lost the output's end")
        }
    }
}

extension Harness {
    /// The staging directory of a transaction whose copy is hashed (its metadata written beside
    /// it), looked for until `deadline`.
    func hashedStagingDirectory(before deadline: Date) -> String? {
        let staging = home + "/staging"
        while Date() < deadline {
            let hashed = ((try? FileManager.default.contentsOfDirectory(atPath: staging)) ?? [])
                .filter { $0.hasPrefix("tx-") }.map { staging + "/" + $0 }
                .first { FileManager.default.fileExists(atPath: $0 + "/meta.json") }
            if let hashed { return hashed }
            usleep(200)
        }
        return nil
    }

    /// Returns once a verification sandbox of this home holds a rehearsal's home, or at `deadline`.
    func waitForRehearsalHome(before deadline: Date) {
        while Date() < deadline,
              verificationSandboxes().allSatisfy({ ((try? FileManager.default.contentsOfDirectory(atPath: $0)) ?? []).allSatisfy { !$0.hasPrefix("rehearsal-") } }) {
            usleep(200)
        }
    }
}

/// What a body run on a thread of its own returned, once it has.
private final class ThreadOutcome<Value: Sendable>: @unchecked Sendable {
    private let condition = NSCondition()
    // Guarded by `condition`.
    private var value: Value?

    init(_ body: @escaping @Sendable () -> Value) {
        Thread.detachNewThread { [self] in
            let result = body()
            condition.lock()
            value = result
            condition.broadcast()
            condition.unlock()
        }
    }

    func wait() -> Value {
        condition.lock()
        defer { condition.unlock() }
        while value == nil { condition.wait() }
        return value!
    }
}
