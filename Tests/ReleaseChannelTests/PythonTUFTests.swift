import Foundation
import Integrity
import ReleaseChannel
import Testing

/// The reference client, python-tuf's `tuf.ngclient.Updater`, downloads a target from a
/// repository `ReleaseRepository` wrote, and ours reads a repository made with python-tuf's
/// Metadata API: our metadata is plain TUF, not a dialect of our own.
@Suite("python-tuf and release repositories", .enabled(if: LoopbackServer.python != nil, "needs python3 to make a python-tuf virtual environment"))
struct PythonTUFTests {
    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path

    /// The Python of a virtual environment with python-tuf and pyca/cryptography (for signing):
    /// the conformance suite's, when `scripts/conformance` made one, else `.build/python-tuf/venv`,
    /// made here when missing: once per test process, however many tests ask at the same time
    /// (two making it at once would clear each other's).
    static func pythonWithTUF() throws -> String { try madePython.get() }

    private static let madePython = Result { try makePythonWithTUF() }

    private static func makePythonWithTUF() throws -> String {
        for candidate in [packageRoot + "/.build-conformance/venv/bin/python", packageRoot + "/.build/python-tuf/venv/bin/python"]
        where FileManager.default.isExecutableFile(atPath: candidate) {
            if try run(candidate, ["-c", "import tuf.ngclient, cryptography"]).status == 0 { return candidate }
        }
        let venv = packageRoot + "/.build/python-tuf/venv"
        let created = try run(LoopbackServer.python!, ["-m", "venv", "--clear", venv])
        guard created.status == 0 else { throw TestFailure("python3 -m venv failed: \(created.output)") }
        let installed = try run(venv + "/bin/python", ["-m", "pip", "install", "--quiet", "tuf==7.0.0", "cryptography"])
        guard installed.status == 0 else { throw TestFailure("pip install tuf==7.0.0 cryptography failed: \(installed.output)") }
        return venv + "/bin/python"
    }

    static func run(_ executable: String, _ arguments: [String]) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    static let client = """
    import inspect, sys
    from tuf.ngclient import Updater
    metadata_dir, url, target_dir, target = sys.argv[1:5]
    # python-tuf 6 and later take the trusted root as `bootstrap`; older ones read root.json.
    extra = {"bootstrap": None} if "bootstrap" in inspect.signature(Updater.__init__).parameters else {}
    updater = Updater(metadata_dir=metadata_dir, metadata_base_url=url + "/metadata/",
                      target_base_url=url + "/targets/", target_dir=target_dir, **extra)
    updater.refresh()
    info = updater.get_targetinfo(target)
    print(updater.download_target(info))
    print(info.custom["version"], info.custom["rollout"], info.length)
    """

    @Test("tuf.ngclient.Updater refreshes and downloads a target, hashes checked, after a second publish and a refresh")
    func downloads() throws {
        let python = try Self.pythonWithTUF()
        let directory = try temporaryDirectory("python-tuf")
        let repository = ReleaseRepository(directory: directory + "/repo")
        let now = Int64(Date().timeIntervalSince1970)
        try repository.create(threshold: 2, now: now)
        let bytes = Array((0..<100_000).map { UInt8(truncatingIfNeeded: $0 &* 7) })
        try writeFile(directory + "/autodev", bytes)
        let facts = ReleaseFacts(version: SemanticVersion("1.4.0-rc.1")!, platform: .linuxAArch64, released: "2026-11-22T00:00:00Z",
                                 critical: true, minimumVersion: SemanticVersion("1.0.0"), rollout: 25, notes: "Line one.\nLine two.")
        let path = try repository.add(file: directory + "/autodev", facts: facts)
        _ = try repository.publish(now: now)
        try writeFile(directory + "/other", [1, 2, 3])
        try repository.add(file: directory + "/other", facts: ReleaseFacts(version: SemanticVersion("1.5.0")!, platform: .linuxAArch64, released: "2026-11-22T00:00:00Z"))
        _ = try repository.publish(now: now)
        _ = try repository.refreshTimestamp(now: now)
        let server = try LoopbackServer(publishing: repository.directory)
        let metadata = directory + "/client/metadata", targets = directory + "/client/targets"
        try FileManager.default.createDirectory(atPath: metadata, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: targets, withIntermediateDirectories: true)
        try writeFile(metadata + "/root.json", try readFile(repository.directory + "/metadata/1.root.json"))
        let result = try Self.run(python, ["-c", Self.client, metadata, server.url, targets, path])
        #expect(result.status == 0, "\(result.output)")
        let lines = result.output.split(separator: "\n").map(String.init)
        try #require(lines.count == 2, "\(result.output)")
        #expect(try readFile(lines[0]) == bytes)
        #expect(lines[1] == "1.4.0-rc.1 25 100000")
    }

    /// `python_tuf_release.py`: a release repository written with python-tuf's Metadata API.
    static let releaseScript = URL(fileURLWithPath: #filePath).deletingLastPathComponent().path + "/python_tuf_release.py"

    /// Makes a repository with `python_tuf_release.py` holding `bytes` as autodev 9.1.0 for
    /// linux-x86_64, serves it, and configures a channel that trusts its version 1 root.
    func pythonMadeChannel(_ name: String, bytes: [UInt8], alter: Bool) throws -> (UpdateChannel, LoopbackServer, String) {
        let python = try Self.pythonWithTUF()
        let directory = try temporaryDirectory(name)
        try writeFile(directory + "/autodev", bytes)
        let made = try Self.run(python, [Self.releaseScript, directory + "/repo", directory + "/autodev", "9.1.0", "linux-x86_64"] + (alter ? ["--alter"] : []))
        try #require(made.status == 0, "\(made.output)")
        #expect(made.output == "autodev/9.1.0/linux-x86_64/autodev\n")
        let server = try LoopbackServer(serving: directory + "/repo")
        let channel = try UpdateChannel.configure(home: directory + "/home", url: server.url,
                                                  trustedRoot: try readFile(directory + "/repo/metadata/1.root.json"))
        return (channel, server, directory + "/home/channel/staging")
    }

    static let expectedFacts = ReleaseFacts(version: SemanticVersion("9.1.0")!, platform: .linuxX86_64, released: "2026-11-22T12:00:00Z",
                                            critical: true, minimumVersion: SemanticVersion("0.1.0"), rollout: 100, notes: "Made with python-tuf.")

    @Test("a repository made with python-tuf's Metadata API (Ed25519, consistent snapshots): UpdateChannel offers the release with its facts, downloads and verifies it")
    func readsPythonMadeRepository() throws {
        let bytes = Array((0..<300_000).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) })
        let (channel, server, staging) = try pythonMadeChannel("python-made", bytes: bytes, alter: false)
        let offers = try channel.offers(program: "autodev")
        try #require(offers.count == 1, "\(offers)")
        let offer = offers[0]
        #expect(offer.path == "autodev/9.1.0/linux-x86_64/autodev")
        #expect(offer.length == bytes.count)
        #expect(offer.facts == Self.expectedFacts)
        #expect(offer.hashes["sha256"] == SHA256.hash(data: bytes).hex)
        #expect(offer.hashes["sha512"] == Hex.encode(SHA512.hash(data: bytes)))
        let path = try channel.download(offer, into: staging)
        #expect(path == staging + "/" + SHA256.hash(data: bytes).hex)
        #expect(try readFile(path) == bytes)
        withExtendedLifetime(server) {}
    }

    @Test("the artifact of a python-tuf repository altered after signing: the download fails closed, nothing kept in staging")
    func alteredArtifactFailsClosed() throws {
        let bytes = Array((0..<300_000).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) })
        let (channel, server, staging) = try pythonMadeChannel("python-altered", bytes: bytes, alter: true)
        let offer = try #require(try channel.offers(program: "autodev").first)
        #expect(offer.facts == Self.expectedFacts)
        let error = try #require(throws: ReleaseChannelError.self) { try channel.download(offer, into: staging) }
        #expect(error.code == .channel)
        #expect(error.message.contains("sha256") && error.message.contains(offer.hashes["sha256"]!), "\(error.message)")
        #expect((try? FileManager.default.contentsOfDirectory(atPath: staging)) ?? [] == [])
        withExtendedLifetime(server) {}
    }
}
