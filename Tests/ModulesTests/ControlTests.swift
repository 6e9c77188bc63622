import Foundation
@testable import Modules
import Platform
import Testing

/// The control socket: who may use it and what it runs.
@Suite("Module host control socket")
struct ControlTests {
    @Test("the control socket is made 0600, not what the umask gives")
    func socketMode() throws {
        let fixture = try Fixture.controlled()
        let status = try FileSystem.status(ModuleHost.controlPath(fixture.directory), followLinks: false)
        #expect(status.mode == 0o600, "mode \(String(status.mode, radix: 8))")
    }

    @Test("only the host's own user and root may use it")
    func peers() {
        #expect(ModuleHost.acceptsPeer(user: Privilege.userID))
        #expect(ModuleHost.acceptsPeer(user: 0))
        #expect(!ModuleHost.acceptsPeer(user: Privilege.userID &+ 1 == 0 ? 2 : Privilege.userID &+ 1))
        #expect(!ModuleHost.acceptsPeer(user: nil))
    }

    /// Root with CAP_SETUID and CAP_SETGID in effect (uid 0 in a sandbox holds none), setpriv and python3.
    static let canSwitchUser = getuid() == 0 && holdsSetIDCapabilities() && FileManager.default.isExecutableFile(atPath: "/usr/bin/setpriv")
        && FileManager.default.isExecutableFile(atPath: "/usr/bin/python3")

    /// Whether CapEff in /proc/self/status has CAP_SETGID (6) and CAP_SETUID (7).
    static func holdsSetIDCapabilities() -> Bool {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix("CapEff:") }),
              let mask = UInt64(line.dropFirst("CapEff:".count).trimmingCharacters(in: .whitespaces), radix: 16) else { return false }
        return mask & 0xC0 == 0xC0
    }

    @Test("a peer of another user is refused by its SO_PEERCRED uid, even through a socket opened to all",
          .enabled(if: canSwitchUser, "needs root, setpriv and python3 to connect as another user"))
    func otherUserRefused() throws {
        let fixture = try Fixture.controlled()
        let path = ModuleHost.controlPath(fixture.directory)
        #expect(chmod(path, 0o666) == 0)
        let script = """
        import json, socket, struct, sys
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(sys.argv[1])
        payload = json.dumps({"operation": "list"}).encode()
        s.sendall(struct.pack(">I", len(payload) + 1) + bytes([2]) + payload)
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk: break
            data += chunk
        sys.stdout.write(data[5:].decode())
        """
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/setpriv")
        process.arguments = ["--reuid=65534", "--regid=65534", "--clear-groups", "/usr/bin/python3", "-c", script, path]
        process.environment = [:]
        let output = Pipe()
        process.standardOutput = output
        let errors = fixture.directory + "/client.err"
        _ = FileManager.default.createFile(atPath: errors, contents: nil)
        process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: errors))
        try process.run()
        let answer = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(answer.contains("serves only its own user and root"), "\(answer)\((try? String(contentsOfFile: errors, encoding: .utf8)) ?? "")")
        #expect(!answer.contains("\"modules\""), "\(answer)")
    }

    @Test("a reload to an executable, arguments or environment of the caller's choosing is refused, and nothing runs")
    func refusesArbitraryImages() throws {
        let fixture = try Fixture.controlled()
        let marker = fixture.directory + "/ran"
        let requests = [
            ControlRequest(operation: "reload", module: "counter", image: ModuleImage(executable: "/bin/sh", arguments: ["-c", "touch \(marker)"])),
            ControlRequest(operation: "reload", module: "counter", image: Fixture.counter("2")),
            ControlRequest(operation: "reload", module: "counter", image: ModuleImage(executable: Fixture.counterWorker, environment: ["LD_PRELOAD": "/x.so"])),
            ControlRequest(operation: "reload", module: "counter", builtin: "2"),
            ControlRequest(operation: "reload", module: "counter", image: ModuleImage(executable: "/bin/true")),
        ]
        for request in requests {
            let answer = try #require(try ModuleHost.askRunningHost(in: fixture.directory, request))
            #expect(answer.report == nil)
            #expect(answer.error?.hasPrefix("Refused to r") == true, "\(answer.error ?? "")")
        }
        #expect(!FileManager.default.fileExists(atPath: marker))
        #expect(try fixture.host.version(of: "counter").version == "1")
    }

    @Test("a stored version is run once its digest checks; a changed stored file is refused")
    func storedImages() throws {
        let fixture = try Fixture.controlled()
        let stored = try ModuleStore(directory: fixture.directory).stage(Fixture.counterWorker)
        let answer = try #require(try ModuleHost.askRunningHost(in: fixture.directory, .reload("counter", to: ModuleImage(executable: stored.path))))
        #expect(answer.report?.committed == true, "\(answer.error ?? answer.report?.reason ?? "")")
        #expect(try fixture.host.version(of: "counter").version == "2")

        // The same program with a byte appended (put in place by rename: the stored file is running)
        // no longer matches its digest.
        let changed = fixture.directory + "/changed"
        try Data(try Data(contentsOf: URL(fileURLWithPath: stored.path)) + [0]).write(to: URL(fileURLWithPath: changed))
        #expect(rename(changed, stored.path) == 0)
        let refused = try #require(try ModuleHost.askRunningHost(in: fixture.directory, .reload("counter", to: ModuleImage(executable: stored.path))))
        #expect(refused.error?.contains("hashes to") == true, "\(refused.error ?? "")")
    }

    @Test("a built-in version is run as the host's own program says")
    func builtInVersions() throws {
        var options = HostOptions()
        options.builtInImage = { name, version in name == "counter" ? Fixture.counter(version) : nil }
        let fixture = try Fixture.controlled(options: options)
        let request = ControlRequest.reload("counter", to: ModuleImage(executable: "/elsewhere/autodev", arguments: ["module-worker", "counter@2"]))
        #expect(request.builtin == "2" && request.image == nil)
        let answer = try #require(try ModuleHost.askRunningHost(in: fixture.directory, request))
        #expect(answer.report?.committed == true, "\(answer.error ?? answer.report?.reason ?? "")")
        let bad = try #require(try ModuleHost.askRunningHost(in: fixture.directory, ControlRequest(operation: "reload", module: "counter", builtin: "--help")))
        #expect(bad.error?.hasPrefix("Refused to reload counter: invalid built-in version") == true, "\(bad.error ?? "")")
    }

    @Test("a client refuses a control socket that is a symbolic link")
    func symlinkedSocket() throws {
        let fixture = try Fixture.controlled()
        let other = fixture.directory + "/other"
        try FileManager.default.createDirectory(atPath: other, withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: ModuleHost.controlPath(other), withDestinationPath: ModuleHost.controlPath(fixture.directory))
        #expect(throws: ModuleError.self) { try ModuleHost.askRunningHost(in: other, ControlRequest(operation: "list")) }
        #expect(try ModuleHost.askRunningHost(in: fixture.directory, ControlRequest(operation: "list"))?.modules?["counter"] != nil)
    }

    @Test("an answer with out-of-range numbers is refused with a clear error", arguments: ["1e308", "-1", "1e300"])
    func outOfRangeAnswer(_ milliseconds: String) throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("autodev-control-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let listener = try ListeningSocket.unix(path: ModuleHost.controlPath(directory))
        defer { listener.close() }
        let report = "{\"report\":{\"module\":\"counter\",\"reload\":\"r\",\"committed\":true,\"fromVersion\":\"a\",\"toVersion\":\"b\",\"fromSchema\":1,\"toSchema\":1,\"phases\":[],\"queued\":0,\"milliseconds\":\(milliseconds)}}"
        let server = Thread {
            while !listener.waitForConnection() {}
            guard let fd = try? listener.accept() else { return }
            let connection = Socket(adopting: fd, endpoint: "fake host")
            let channel = FrameChannel(connection)
            _ = try? channel.receive(timeout: 10)
            try? channel.send(Frame(.reply, Array(report.utf8)), timeout: 10)
            connection.close()
        }
        server.start()
        do {
            _ = try ModuleHost.askRunningHost(in: directory, .reload("counter", to: ModuleImage(executable: "/x")))
            Issue.record("the answer was taken")
        } catch {
            #expect(error.message.contains("gave an invalid answer to reload: milliseconds"), "\(error)")
        }
    }

    @Test("a control socket another host listens on is refused, not taken")
    func liveControlSocket() throws {
        let fixture = try Fixture.controlled()
        let second = try ModuleHost(directory: fixture.directory, options: HostOptions())
        let error = #expect(throws: ModuleError.self) { try second.serveControl() }
        #expect(error?.description.contains("another process listens on it") == true, "\(String(describing: error))")
        // The first host still answers.
        #expect(try ModuleHost.askRunningHost(in: fixture.directory, ControlRequest(operation: "list")) != nil)
    }
}
