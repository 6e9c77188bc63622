import Foundation
import Testing

/// Runs the built `autodev` binary against throwaway homes.
struct Harness {
    /// The binary under test: $AUTODEV_BINARY (scripts/test sets it to the static release build),
    /// else the debug build beside this test bundle.
    static let binary: String = {
        if let path = ProcessInfo.processInfo.environment["AUTODEV_BINARY"], !path.isEmpty { return path }
        let bundle = URL(fileURLWithPath: (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0])
        return bundle.deletingLastPathComponent().appendingPathComponent("autodev").path
    }()

    struct Result {
        var status: Int32
        var stdout: String
        var stderr: String
        var pid: Int32
    }

    let root: URL
    var home: String { root.appendingPathComponent("home").path }
    var entry: String { home + "/bin/autodev" }

    init() throws {
        root = FileManager.default.temporaryDirectory.appendingPathComponent("autodev-e2e-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
    }

    func cleanUp() { try? FileManager.default.removeItem(at: root) }

    /// A plain environment for runs: the home set, no markers or fail points inherited.
    func environment(_ extra: [String: String] = [:]) -> [String: String] {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        var environment = ["PATH": path, "HOME": root.path, "AUTODEV_HOME": home, "LANG": "C.UTF-8",
                           // The candidates the tests make exec the binary under test from its build
                           // directory: kept visible in sandboxes, which hide /tmp and HOME (a test hook).
                           "AUTODEV_TEST_VISIBLE": URL(fileURLWithPath: Self.binary).deletingLastPathComponent().path]
        environment.merge(extra) { $1 }
        return environment
    }

    /// Runs `executable` (the entry point by default) and waits.
    @discardableResult
    func run(_ arguments: [String], executable: String? = nil, environment extra: [String: String] = [:],
             input: String? = nil, directory: String? = nil, killAfter seconds: Double? = nil,
             signal: Int32 = SIGKILL) throws -> Result {
        let pipe = input.map { _ in Pipe() }
        let running = try start(arguments, executable: executable, environment: extra, directory: directory, input: pipe)
        if let input, let pipe {
            pipe.fileHandleForWriting.write(Data(input.utf8))
            try? pipe.fileHandleForWriting.close()
        }
        if let seconds {
            usleep(UInt32(seconds * 1_000_000))
            kill(running.pid, signal)
        }
        return running.finish()
    }

    /// Creates the home with the binary under test as its first version.
    func initialize() throws -> Result {
        let result = try run(["init", "--home", home], executable: Self.binary)
        #expect(result.status == 0, "init failed: \(result.stderr)")
        return result
    }

    /// A copy of the binary under test with `suffix` appended: same program, different content;
    /// with `version`, stamped to report that version (`release stamp`).
    func candidate(_ name: String = "candidate", suffix: String = UUID().uuidString, version: String? = nil) throws -> String {
        let path = root.appendingPathComponent(name).path
        try? FileManager.default.removeItem(atPath: path)
        try FileManager.default.copyItem(atPath: Self.binary, toPath: path)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        try handle.seekToEnd()
        try handle.write(contentsOf: Data(suffix.utf8))
        try handle.close()
        if let version {
            let stamped = try run(["release", "stamp", "--version", version, path], executable: Self.binary)
            #expect(stamped.status == 0, "release stamp failed: \(stamped.stderr)")
        }
        return path
    }

    /// A shell-script candidate.
    func script(_ name: String, _ body: String) throws -> String {
        let path = root.appendingPathComponent(name).path
        try ("#!/bin/sh\n" + body + "\n").write(toFile: path, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: path)
        return path
    }

    /// The full id `current` points at.
    func current() throws -> String {
        let target = try FileManager.default.destinationOfSymbolicLink(atPath: home + "/current")
        return String(target.dropFirst("versions/".count))
    }

    /// Everything a failed command must leave as it was.
    struct Snapshot: Equatable {
        var current: String
        var versions: [String]
        var state: [String: Data]
        var staging: [String]
        var bin: String
    }

    func snapshot() throws -> Snapshot {
        let manager = FileManager.default
        // The condition: the versions a command pruned are gone (their removal is left to a
        // process of its own, which may still be at work when the command has returned).
        let deadline = Date().addingTimeInterval(30)
        while ((try? manager.contentsOfDirectory(atPath: home + "/staging")) ?? []).contains(where: { $0.hasPrefix("prune-") }), Date() < deadline {
            usleep(5_000)
        }
        var state: [String: Data] = [:]
        for name in (try? manager.contentsOfDirectory(atPath: home + "/state")) ?? [] {
            state[name] = manager.contents(atPath: home + "/state/" + name)
        }
        return Snapshot(current: try current(),
                        versions: try manager.contentsOfDirectory(atPath: home + "/versions").sorted(),
                        state: state,
                        staging: try manager.contentsOfDirectory(atPath: home + "/staging").sorted(),
                        bin: try manager.destinationOfSymbolicLink(atPath: entry))
    }

    /// The journal's lines.
    func journalLines() throws -> [String] {
        try String(contentsOfFile: home + "/journal", encoding: .utf8).split(separator: "\n").map(String.init)
    }

    func json(_ text: String) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
    }
}

extension Harness {
    /// Starts the entry point with `arguments`, SIGKILLs it after `seconds` (the PID is still
    /// ours: we reap it ourselves, so it cannot have been reused), and waits.
    /// - Returns: the wait status.
    func runKilled(_ arguments: [String], after seconds: Double, environment extra: [String: String] = [:]) throws -> Int32 {
        var pid: pid_t = 0
        let argv = ([entry] + arguments).map { strdup($0) } + [nil]
        let envp = environment(extra).map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { (argv + envp).forEach { free($0) } }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        for fd in [Int32(0), 1, 2] { posix_spawn_file_actions_addopen(&actions, fd, "/dev/null", fd == 0 ? O_RDONLY : O_WRONLY, 0) }
        let result = posix_spawn(&pid, entry, &actions, nil, argv, envp)
        try #require(result == 0, "posix_spawn failed: \(result)")
        usleep(UInt32(seconds * 1_000_000))
        kill(pid, SIGKILL)
        var status: Int32 = 0
        while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
        return status
    }

    /// What every start after a crash must find: no open transaction, `current` one of
    /// `allowed` and runnable, staging empty, the state readable.
    func expectRecovered(to allowed: Set<String>, _ comment: Comment) throws -> String {
        // Reading commands leave an interrupted transaction alone; repair finishes it.
        let repair = try run(["self-upgrade", "repair"])
        #expect(repair.status == 0, "\(comment): \(repair.stderr)")
        let status = try run(["self-upgrade", "status", "--json"])
        #expect(status.status == 0, "\(comment): \(status.stderr)")
        let report = try json(status.stdout)
        #expect(report["openTransaction"] == nil, "\(comment): transaction left open")
        let current = try current()
        #expect(allowed.contains(current), "\(comment): current is \(current.prefix(12))")
        // A pruned version's directory is freed by a process of its own, once the command that
        // handed it over has exited: the condition is its end.
        let deadline = Date().addingTimeInterval(30)
        while ((try? FileManager.default.contentsOfDirectory(atPath: home + "/staging")) ?? []).contains(where: { $0.hasPrefix("prune-") }),
              Date() < deadline {
            usleep(2_000)
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: home + "/staging").isEmpty, "\(comment): staging not empty")
        let version = try run(["--version"], executable: home + "/current/autodev")
        #expect(version.status == 0 && version.stdout == "0.1.0\n", "\(comment): current does not run")
        if let state = FileManager.default.contents(atPath: home + "/state/autodev.json") {
            let text = String(decoding: state, as: UTF8.self)
            let parts = text.split(separator: "\n")
            #expect(parts.count == 2 && parts[0].contains("\"schema\":2"), "\(comment): state damaged")
            #expect((try? JSONSerialization.jsonObject(with: Data(parts[1].utf8))) != nil, "\(comment): state damaged")
        }
        #expect(try journalLines().allSatisfy { $0.count > 9 }, "\(comment): journal damaged")
        return current
    }
}
