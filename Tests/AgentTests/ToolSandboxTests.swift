import Foundation
import Platform
import SelfUpgrade
import SourceUpgrade
import Storage
import Testing

/// The confinement a proposal's `swift build` and `swift test` run in, tried with a shell and
/// Python doing what a hostile manifest or test would.
@Suite("The build tools' sandbox")
struct ToolSandboxTests {
    /// A fixture, its home's upgrader, and a cache directory in the home for the tools to write.
    static func setUp() throws -> (Fixture, Upgrader, String) {
        let fixture = try Fixture()
        let upgrader = try Upgrader(home: fixture.home, program: ProgramIdentity(name: "autodev", version: "1.0.0", protocolVersion: 1))
        let cache = fixture.home.root + "/build"
        try FileManager.default.createDirectory(atPath: cache, withIntermediateDirectories: true)
        return (fixture, upgrader, cache)
    }

    @Test("a proposal's tools write only the caches, keep the caller's HOME out of sight, reach only their own loopback and make terminals of their own")
    func confined() throws {
        let (fixture, upgrader, cache) = try Self.setUp()
        defer { fixture.cleanUp() }
        let secret = fixture.root + "/secret"
        try "not for the tools\n".write(toFile: secret, atomically: true, encoding: .utf8)
        let otherCache = fixture.home.root + "/build-test"
        try FileManager.default.createDirectory(atPath: otherCache, withIntermediateDirectories: true)
        // A Unix socket of the caller's, where a session bus or an agent would be: beside the
        // fixture in the temporary directory, which is hidden but for the package and the caches.
        let socketPath = fixture.root + "/session.sock"
        let listener = try ListeningSocket.unix(path: socketPath)
        defer { listener.close() }
        let sandbox = try upgrader.makeToolSandbox(writable: [cache, otherCache], visible: [fixture.source], network: false, log: fixture.home.logs)
        defer { sandbox.remove() }
        #expect(sandbox.isolation.contains("network namespace (its own loopback only)"), "\(sandbox.isolation)")
        #expect(sandbox.isolation.contains("writable, each only by the tool given it: \(cache), \(otherCache)"), "\(sandbox.isolation)")
        let python = try #require(ProcessControl.findExecutable("python3"), "python3 is needed")
        let script = """
            import os, socket, pty
            def attempt(name, action):
                try:
                    action()
                    print(name, "yes")
                except Exception as error:
                    print(name, "no", type(error).__name__)
            def write(path):
                with open(path, "w") as f: f.write("x")
            attempt("cache", lambda: write("\(cache)/made-by-the-tool"))
            attempt("home-root", lambda: write("\(fixture.home.root)/planted"))
            attempt("other-cache", lambda: write("\(otherCache)/planted"))
            attempt("working-copy", lambda: write("\(fixture.source)/planted"))
            attempt("outside", lambda: write("\(fixture.root)/planted"))
            attempt("own-home", lambda: write(os.environ["HOME"] + "/cache"))
            attempt("own-tmp", lambda: write(os.environ["TMPDIR"] + "/scratch"))
            print("home-is-private", os.environ["HOME"] != "\(NSHomeDirectory())")
            def loopback():
                server = socket.socket(); server.bind(("127.0.0.1", 0)); server.listen(1)
                client = socket.create_connection(server.getsockname(), timeout=5)
                peer, _ = server.accept(); client.sendall(b"ping"); assert peer.recv(4) == b"ping"
            attempt("loopback", loopback)
            attempt("outside-network", lambda: socket.create_connection(("192.0.2.1", 80), timeout=5))
            attempt("own-terminal", lambda: pty.openpty())
            attempt("read-package", lambda: open("\(fixture.source)/a.txt").read())
            attempt("read-beside", lambda: open("\(fixture.root)/secret").read())
            def unix():
                client = socket.socket(socket.AF_UNIX); client.connect("\(socketPath)")
            attempt("caller-socket", unix)
            attempt("host-terminal", lambda: open("/dev/tty", "r+b", buffering=0))
            """
        let output = cache + "/report"
        var run = Subprocess.Configuration(executable: python, arguments: ["-c", script], environment: ["PATH": "/usr/bin:/bin", "HOME": NSHomeDirectory()])
        run.outputPath = output
        run.errorPath = cache + "/errors"
        run.workingDirectory = fixture.source
        run.timeoutSeconds = 60
        let status = try Subprocess.run(try sandbox.configure(run, writable: [cache]))
        let report = try String(contentsOfFile: output, encoding: .utf8)
        #expect(status.isSuccess, "\(status): \(report) \((try? String(contentsOfFile: cache + "/errors", encoding: .utf8)) ?? "")")
        let lines = Set(report.split(separator: "\n").map { $0.split(separator: " ").prefix(2).joined(separator: " ") })
        for expected in ["cache yes", "home-root no", "other-cache no", "working-copy no", "outside no", "own-home yes", "own-tmp yes", "home-is-private True",
                         "loopback yes", "outside-network no", "own-terminal yes", "host-terminal no",
                         "read-package yes", "read-beside no", "caller-socket no"] {
            #expect(lines.contains(expected), "\(expected) not in:\n\(report)")
        }
        for planted in [fixture.home.root + "/planted", otherCache + "/planted", fixture.source + "/planted", fixture.root + "/planted"] {
            #expect(!FileManager.default.fileExists(atPath: planted), "\(planted)")
        }
        #expect(FileManager.default.fileExists(atPath: cache + "/made-by-the-tool"))
    }

    /// Linux 6.12 or later: Landlock's abstract-socket scope (ABI 6).
    static let kernelScopesAbstractSockets: Bool = {
        var name = utsname()
        uname(&name)
        let release = withUnsafeBytes(of: &name.release) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        let parts = release.split(separator: ".").prefix(2).compactMap { Int($0.prefix { $0.isNumber }) }
        return parts.count == 2 && (parts[0], parts[1]) >= (6, 12)
    }()

    @Test("with the network allowed, an abstract Unix socket of the caller's (an X server's, a bus's) is still out of reach",
          .enabled(if: kernelScopesAbstractSockets, "needs Linux 6.12 (Landlock ABI 6)"))
    func abstractSocketWithNetwork() throws {
        let (fixture, upgrader, cache) = try Self.setUp()
        defer { fixture.cleanUp() }
        // An abstract socket (a name starting with NUL) in this network namespace.
        let name = "autodev-test-\(UUID().uuidString)"
        let listener = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(listener) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = [0] + Array(name.utf8)
        withUnsafeMutableBytes(of: &address.sun_path) { buffer in for (index, byte) in bytes.enumerated() { buffer[index] = byte } }
        let length = socklen_t(MemoryLayout<sa_family_t>.size + bytes.count)
        let bound = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, length) } }
        try #require(bound == 0 && listen(listener, 4) == 0)
        let sandbox = try upgrader.makeToolSandbox(writable: [cache], network: true, log: fixture.home.logs)
        defer { sandbox.remove() }
        #expect(sandbox.isolation.contains("abstract Unix sockets made outside it out of reach (Landlock scope)"), "\(sandbox.isolation)")
        let python = try #require(ProcessControl.findExecutable("python3"), "python3 is needed")
        let script = """
            import socket
            s = socket.socket(socket.AF_UNIX)
            try:
                s.connect("\\0\(name)")
                print("reached")
            except OSError as error:
                print("refused", error.errno)
            """
        var run = Subprocess.Configuration(executable: python, arguments: ["-c", script], environment: ["PATH": "/usr/bin:/bin"])
        run.outputPath = cache + "/report"
        run.errorPath = cache + "/errors"
        run.timeoutSeconds = 60
        let status = try Subprocess.run(try sandbox.configure(run, writable: [cache]))
        let report = try String(contentsOfFile: cache + "/report", encoding: .utf8)
        #expect(status.isSuccess && report.hasPrefix("refused"), "\(status): \(report) \((try? String(contentsOfFile: cache + "/errors", encoding: .utf8)) ?? "")")
    }

    @Test("a confined build has caches of its own, apart from the caller's")
    func confinedCaches() throws {
        let fixture = try Fixture()
        defer { fixture.cleanUp() }
        var build = SourceBuild(source: fixture.source, home: fixture.home)
        #expect(build.scratch == fixture.home.root + "/build" && build.testScratch == fixture.home.root + "/build-test")
        build.confine(network: false)
        #expect(build.isolation == .confined(network: false))
        #expect(build.scratch == fixture.home.confinedBuildCache && build.testScratch == fixture.home.confinedTestBuildCache)
        #expect(build.candidate == fixture.home.root + "/build-confined/release/" + build.product)
        // Once: confining again changes nothing.
        build.confine(network: true)
        #expect(build.isolation == .confined(network: false) && build.scratch == fixture.home.root + "/build-confined")
    }

    @Test("the built binary is read only where it is a file inside the cache: a link the confined build planted leads nowhere else")
    func candidateInsideTheCache() throws {
        let fixture = try Fixture()
        defer { fixture.cleanUp() }
        let build = SourceBuild(source: fixture.source, home: fixture.home)
        let manager = FileManager.default
        let outside = fixture.root + "/elsewhere"
        try manager.createDirectory(atPath: outside, withIntermediateDirectories: true)
        try "a secret\n".write(toFile: outside + "/autodev", atomically: true, encoding: .utf8)
        // SwiftPM's own layout: release is a link to the triple's directory, inside the cache.
        try manager.createDirectory(atPath: build.scratch + "/x86_64-unknown-linux-gnu/release", withIntermediateDirectories: true)
        try "ELF\n".write(toFile: build.scratch + "/x86_64-unknown-linux-gnu/release/autodev", atomically: true, encoding: .utf8)
        try manager.createSymbolicLink(atPath: build.scratch + "/release", withDestinationPath: "x86_64-unknown-linux-gnu/release")
        #expect(try build.resolvedCandidate() == (try FileSystem.realPath(build.scratch)) + "/x86_64-unknown-linux-gnu/release/autodev")
        // The directory a link out of the cache.
        try manager.removeItem(atPath: build.scratch + "/release")
        try manager.createSymbolicLink(atPath: build.scratch + "/release", withDestinationPath: outside)
        #expect(throws: UpgradeError.self) { try build.resolvedCandidate() }
        // The binary a link out of the cache.
        try manager.removeItem(atPath: build.scratch + "/release")
        try manager.createDirectory(atPath: build.scratch + "/release", withIntermediateDirectories: true)
        try manager.createSymbolicLink(atPath: build.candidate, withDestinationPath: outside + "/autodev")
        let error = try #require(throws: UpgradeError.self) { try build.resolvedCandidate() }
        #expect("\(error)".contains("not a file inside"), "\(error)")
        // Not a file.
        try manager.removeItem(atPath: build.candidate)
        try manager.createDirectory(atPath: build.candidate, withIntermediateDirectories: true)
        #expect(throws: UpgradeError.self) { try build.resolvedCandidate() }
    }
}
