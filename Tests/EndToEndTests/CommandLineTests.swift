import Foundation
import Testing

@Suite("Command-line conventions")
struct CommandLineTests {
    @Test("--version prints the version alone")
    func version() throws {
        let harness = try Harness()
        defer { harness.cleanUp() }
        let result = try harness.run(["--version"], executable: Harness.binary)
        #expect(result.status == 0)
        #expect(result.stdout == "0.1.0\n")
    }

    @Test("help is on stdout with exit 0, in every spelling", arguments: [
        ["--help"], ["-h"], ["help"], ["help", "self-upgrade"], ["self-upgrade", "--help"],
        ["help", "self-upgrade", "rollback"], ["self-upgrade", "rollback", "-h"], ["init", "--help"],
        ["tuf", "--help"], ["help", "tuf", "download"], ["tuf", "--metadata-dir", "m", "refresh", "--help"],
    ])
    func help(arguments: [String]) throws {
        let harness = try Harness()
        defer { harness.cleanUp() }
        let result = try harness.run(arguments, executable: Harness.binary)
        #expect(result.status == 0)
        #expect(result.stdout.hasPrefix("OVERVIEW: "))
        #expect(result.stdout.contains("USAGE: autodev"))
        #expect(result.stderr.isEmpty)
    }

    @Test("""
        a command with subcommands asked for help first prints it whatever follows; tuf's --help names the command word \
        wherever the options are, and its usage errors name tuf
        """, arguments: [
            (["release", "--help", "--bogus"], "release"), (["update", "-h", "--bogus"], "update"),
            (["config", "--help", "--bogus"], "config"), (["modules", "-h", "--json"], "modules"),
            (["tuf", "--target-name", "x", "init", "--help"], "tuf-init"), (["tuf", "init", "--help", "--target-dir", "x"], "tuf-init"),
            (["tuf", "--metadata-dir", "m", "refresh", "-h"], "tuf-refresh"),
        ])
    func helpFirst(arguments: [String], kept: String) throws {
        let harness = try Harness()
        defer { harness.cleanUp() }
        let result = try harness.run(arguments, executable: Harness.binary)
        let directory = EmbeddingExampleTests.root.appendingPathComponent("Tests/EndToEndTests/Help").path
        #expect(result.status == 0 && result.stderr.isEmpty, "\(arguments): \(result.stderr)")
        #expect(result.stdout == (try String(contentsOfFile: directory + "/" + kept + ".txt", encoding: .utf8)), "\(arguments)")
    }

    @Test("bad command lines found by a probe of the typed parser: each a usage error naming the command it was given to, nothing created",
          arguments: [
            (["tuf", "init", "--bogus"], "Error: Unknown option '--bogus'\nUsage: autodev tuf [<options>] <command> ...\n"),
            (["tuf", "init", "--metadata-dir"], "Error: Missing value for '--metadata-dir <dir>'\nUsage: autodev tuf [<options>] <command> ...\n"),
            (["tuf", "--target-dir", "t", "init", "root.json"], "Error: Unknown option '--target-dir'\nUsage: autodev tuf init [<options>] <root>\n"),
            (["release", "speed", "--seconds", "1e300"], "Error: The value '1e300' is invalid for '--seconds <seconds>': give a number of seconds above 0 and at most 3600\n"),
            (["release", "speed", "--seconds", "nan"], "Error: The value 'nan' is invalid for '--seconds <seconds>'"),
            (["release", "speed", "--seconds", "0"], "Error: The value '0' is invalid for '--seconds <seconds>'"),
            (["release", "speed", "--seconds", "abc"], "Error: The value 'abc' is invalid for '--seconds <seconds>'"),
            (["supervise", "--home", "h"] + Array(repeating: ["--listen", "127.0.0.1:0"], count: 257).flatMap { $0 } + ["--", "/bin/true"],
             "Error: 257 listeners given: at most 256\n"),
            (["agent", "--patches", "p", "--fitness-runs", "3"], "Error: '--fitness-runs' needs '--fitness <PATH>' (or fitnessCommand in config.json)\n"),
          ])
    func probedUsageErrors(arguments: [String], stderrPrefix: String) throws {
        let harness = try Harness()
        defer { harness.cleanUp() }
        let result = try harness.run(arguments, executable: Harness.binary, directory: harness.root.path)
        #expect(result.status == 64, "\(arguments.prefix(6)): \(result.stderr)")
        #expect(result.stdout.isEmpty)
        #expect(result.stderr.hasPrefix(stderrPrefix), "\(arguments.prefix(6)): \(result.stderr)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: harness.root.path).isEmpty)
    }

    @Test("self-check makes its scratch directory with a name nobody can guess, only in a TMPDIR that exists, and leaves nothing")
    func selfCheckScratch() throws {
        let harness = try Harness()
        defer { harness.cleanUp() }
        let temporary = harness.root.appendingPathComponent("tmp").path
        try FileManager.default.createDirectory(atPath: temporary, withIntermediateDirectories: true)
        let passed = try harness.run(["self-check"], executable: Harness.binary, environment: ["TMPDIR": temporary])
        #expect(passed.status == 0, "\(passed.stdout)\(passed.stderr)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: temporary).isEmpty)
        let missing = harness.root.appendingPathComponent("missing/deeper").path
        let refused = try harness.run(["self-check"], executable: Harness.binary, environment: ["TMPDIR": missing])
        #expect(refused.status == 1)
        #expect(refused.stderr.contains("missing/deeper/autodev-self-check-"), "\(refused.stderr)")
        #expect(!FileManager.default.fileExists(atPath: harness.root.appendingPathComponent("missing").path))
    }

    @Test("paths named in release init's and tuf init's reports are shown escaped, and status still starts with 'Home:'")
    func escapedReports() throws {
        let harness = try Harness()
        defer { harness.cleanUp() }
        let hostile = "repo\u{1B}]0;pwned\u{07}"
        let created = try harness.run(["release", "init", "--repo", hostile], executable: Harness.binary, directory: harness.root.path)
        #expect(created.status == 0, "\(created.stderr)")
        #expect(!created.stdout.contains("\u{1B}") && !created.stdout.contains("\u{07}"), "\(created.stdout)")
        #expect(created.stdout.contains("Keys: "))
        let trusted = try harness.run(["tuf", "--metadata-dir", "meta\u{1B}[2J", "init", hostile + "/metadata/1.root.json"],
                                      executable: Harness.binary, directory: harness.root.path)
        #expect(trusted.status == 0, "\(trusted.stderr)")
        #expect(trusted.stderr.hasPrefix("tuf: trusted root stored in meta") && !trusted.stderr.contains("\u{1B}"), "\(trusted.stderr)")
        let oddHome = harness.root.appendingPathComponent("home\u{1B}[31m").path
        let initialized = try harness.run(["init", "--home", oddHome], executable: Harness.binary)
        #expect(initialized.status == 0 && !initialized.stdout.contains("\u{1B}"), "\(initialized.stdout)")
        // The export line it prints, pasted into a shell, still names that directory.
        let export = try #require(initialized.stdout.split(separator: "\n").first { $0.hasPrefix("  export PATH=") })
        let shell = Process()
        shell.executableURL = URL(fileURLWithPath: "/bin/bash")
        shell.arguments = ["-c", String(export) + "; printf %s \"${PATH%%:*}\""]
        let output = Pipe()
        shell.standardOutput = output
        try shell.run()
        let printed = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        shell.waitUntilExit()
        #expect(printed == oddHome + "/bin", "\(export) gave \(printed)")
        _ = try harness.initialize()
        let status = try harness.run(["self-upgrade", "status"])
        #expect(status.stdout.hasPrefix("Home:      " + harness.home + "\n"), "\(status.stdout)")
    }

    @Test("""
        every command's whole help text is the one kept in Tests/EndToEndTests/Help, and every kept one is a command's \
        (a change to what a command says or accepts is made on purpose)
        """)
    func wholeHelpTexts() throws {
        let directory = EmbeddingExampleTests.root.appendingPathComponent("Tests/EndToEndTests/Help").path
        let harness = try Harness()
        defer { harness.cleanUp() }
        var commands: [String] = []
        func walk(_ path: [String]) throws {
            let result = try harness.run(["help"] + path, executable: Harness.binary)
            #expect(result.status == 0 && result.stderr.isEmpty, "help \(path): \(result.stderr)")
            let name = path.isEmpty ? "autodev" : path.joined(separator: "-")
            commands.append(name)
            let kept = try? String(contentsOfFile: directory + "/" + name + ".txt", encoding: .utf8)
            #expect(result.stdout == kept, "autodev help \(path.joined(separator: " ")) differs from Help/\(name).txt:\n\(result.stdout)")
            guard let start = result.stdout.range(of: "\nSUBCOMMANDS:\n") else { return }
            let section = String(result.stdout[start.upperBound...]).components(separatedBy: "\n\n")[0]
            for line in section.split(separator: "\n") {
                let word = line.split(separator: " ").first.map(String.init) ?? ""
                if !word.isEmpty && !word.hasPrefix("-") && word != "See" { try walk(path + [word]) }
            }
        }
        try walk([])
        let kept = try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.hasSuffix(".txt") }.map { String($0.dropLast(4)) }
        #expect(Set(kept) == Set(commands), "kept but no such command: \(Set(kept).subtracting(commands)); no kept text: \(Set(commands).subtracting(kept))")
        #expect(commands.count == Set(commands).count && commands.count > 50)
    }

    @Test("tuf: a runtime failure is 'Error: …' on stderr with exit 1 (the conformance protocol)")
    func tufFailure() throws {
        let harness = try Harness()
        defer { harness.cleanUp() }
        let result = try harness.run(["tuf", "--metadata-url", "http://127.0.0.1:1/", "--metadata-dir", "no-such-dir", "refresh"],
                                     executable: Harness.binary)
        #expect(result.status == 1)
        #expect(result.stdout.isEmpty)
        #expect(result.stderr.hasPrefix("Error: No trusted root: no-such-dir/root.json cannot be read"), "stderr was: \(result.stderr)")
    }

    @Test("rollback help lists its options")
    func rollbackHelp() throws {
        let harness = try Harness()
        defer { harness.cleanUp() }
        let result = try harness.run(["help", "self-upgrade", "rollback"], executable: Harness.binary)
        #expect(result.stdout.contains("--to <id>"))
        #expect(result.stdout.contains("--test"))
        #expect(result.stdout.contains("-y, --yes"))
    }

    @Test("usage errors go to stderr with exit 64", arguments: [
        (["--foo"], "Error: Unknown option '--foo'"),
        (["frobnicate"], "Error: Unknown command 'frobnicate'"),
        (["self-upgrade", "--from-binary"], "Error: Missing value for '--from-binary <path>'"),
        (["self-upgrade", "--bogus"], "Error: Unknown option '--bogus'"),
        (["self-upgrade", "rollback", "--to"], "Error: Missing value for '--to <id>'"),
        (["self-upgrade", "--from-binary", "a", "--source", "b"], "Error: Pass either --from-binary or --source, not both"),
        (["self-upgrade", "status", "--prometheus", "--json"], "Error: Pass either --prometheus or --json, not both"),
        (["init", "--keep", "1"], "Error: The value '1' is invalid for '--keep <n>'"),
        (["self-upgrade", "status", "extra"], "Error: Unexpected argument 'extra'"),
        (["digest"], "Error: Missing expected argument '<file> ...'"),
        (["tuf", "frobnicate"], "Error: Unknown command 'tuf frobnicate'"),
        (["tuf", "--metadata-dir", "m", "refresh"], "Error: Missing option '--metadata-url'"),
        (["tuf", "--metadata-dir", "m", "--target-dir", "t", "refresh"], "Error: Unknown option '--target-dir'"),
        (["tuf", "--metadata-dir", "m", "init"], "Error: Missing argument '<root>'"),
        // What was typed is quoted escaped: an escape sequence or line break in it does nothing.
        (["supervise", "--home", "h", "--listen", "we\u{1B}[31mird\nForged=/tmp/s.sock", "--", "/bin/true"],
         "Error: The value 'we\\u{1B}[31mird\\nForged=/tmp/s.sock' is invalid for '--listen <address>'"),
    ])
    func usageErrors(arguments: [String], message: String) throws {
        let harness = try Harness()
        defer { harness.cleanUp() }
        let result = try harness.run(arguments, executable: Harness.binary)
        #expect(result.status == 64)
        #expect(result.stdout.isEmpty)
        #expect(result.stderr.hasPrefix(message), "stderr was: \(result.stderr)")
        #expect(result.stderr.contains("Usage: autodev"))
        #expect(result.stderr.contains("--help' for more information."))
    }

    @Test("a command needing a home says how to create one, before doing anything", arguments: [
        ["self-upgrade", "status"], ["self-upgrade"], ["self-upgrade", "--dry-run"], ["agent", "--once", "--patches", "/"], ["agent", "status"],
        ["config", "set", "historyLimit", "3"], ["config", "unset", "historyLimit"],
    ])
    func notInitialized(arguments: [String]) throws {
        let harness = try Harness()
        defer { harness.cleanUp() }
        let result = try harness.run(arguments, executable: Harness.binary)
        #expect(result.status == 1)
        #expect(result.stderr.hasPrefix("Error: No installation at \"\(harness.home)\"\n  Run 'autodev init' first"), "\(result.stderr)")
        #expect(!FileManager.default.fileExists(atPath: harness.home))
    }

    @Test("digest prints sha256sum's format, which sha256sum -c accepts")
    func digest() throws {
        let harness = try Harness()
        defer { harness.cleanUp() }
        let file = harness.root.appendingPathComponent("data").path
        try Data("hello\n".utf8).write(to: URL(fileURLWithPath: file))
        let result = try harness.run(["digest", file], executable: Harness.binary)
        #expect(result.stdout == "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03  \(file)\n")
        let sums = harness.root.appendingPathComponent("SUMS").path
        try result.stdout.write(toFile: sums, atomically: true, encoding: .utf8)
        let check = try harness.run(["-c", sums], executable: "/usr/bin/sha256sum")
        #expect(check.status == 0, "\(check.stdout)\(check.stderr)")
    }
}
