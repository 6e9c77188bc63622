import Foundation
import Integrity
import Platform
import ReleaseChannel
import Testing
import TUF

/// What `ReleaseRepository` writes, read by our own TUF client over loopback HTTP.
@Suite("Publishing a release repository", .enabled(if: LoopbackServer.python != nil, "needs python3 for the loopback HTTP server"))
struct PublishingTests {
    let now = Int64(Date().timeIntervalSince1970)

    func facts(_ version: String, rollout: Int = 100, notes: String? = nil) -> ReleaseFacts {
        ReleaseFacts(version: SemanticVersion(version)!, platform: .linuxX86_64, released: "2026-11-22T00:00:00Z",
                     critical: version == "1.1.0", rollout: rollout, notes: notes)
    }

    /// A repository with one published artifact, served, and a client trusting its 1.root.json.
    func published(_ name: String) throws -> (ReleaseRepository, LoopbackServer, String, [UInt8]) {
        let directory = try temporaryDirectory(name)
        let repository = ReleaseRepository(directory: directory + "/repo")
        try repository.create(now: now)
        let artifact = directory + "/autodev"
        let bytes = Array((0..<300_000).map { UInt8(truncatingIfNeeded: $0 &* 31) })
        try writeFile(artifact, bytes)
        try repository.add(file: artifact, facts: facts("1.0.0", notes: "First.\nWith two lines."))
        _ = try repository.publish(now: now)
        return (repository, try LoopbackServer(publishing: repository.directory), directory, bytes)
    }

    @Test("init writes keys with mode 0600 and version 1 of the four roles; consistent snapshot names")
    func layout() throws {
        let (repository, _, _, bytes) = try published("layout")
        for name in try FileManager.default.contentsOfDirectory(atPath: repository.directory + "/keys") {
            let mode = try FileManager.default.attributesOfItem(atPath: repository.directory + "/keys/" + name)[.posixPermissions] as? Int
            #expect(mode == 0o600, "\(name)")
        }
        let metadata = Set(try FileManager.default.contentsOfDirectory(atPath: repository.directory + "/metadata"))
        #expect(metadata == ["1.root.json", "1.targets.json", "1.snapshot.json", "2.targets.json", "2.snapshot.json", "timestamp.json"])
        let sha256 = SHA256.hash(data: bytes).hex
        #expect(FileManager.default.fileExists(atPath: repository.directory + "/targets/autodev/1.0.0/linux-x86_64/\(sha256).autodev"))
    }

    @Test("TUF.Updater verifies what publish wrote and downloads the artifact, custom facts included")
    func clientReads() throws {
        let (_, server, directory, bytes) = try published("client")
        let metadata = directory + "/client/metadata"
        try Updater.initialize(metadataDirectory: metadata, trustedRoot: try readFile(directory + "/repo/metadata/1.root.json"))
        var updater = Updater(metadataDirectory: metadata, metadataURL: server.url + "/metadata/", targetBaseURL: server.url + "/targets/")
        let targets = try updater.topLevelTargets(withPrefix: "autodev/")
        try #require(targets.count == 1)
        #expect(targets[0].path == "autodev/1.0.0/linux-x86_64/autodev")
        #expect(targets[0].hashes["sha512"] == Hex.encode(SHA512.hash(data: bytes)))
        #expect(ReleaseFacts(json: targets[0].custom) == facts("1.0.0", notes: "First.\nWith two lines."))
        try FileManager.default.createDirectory(atPath: directory + "/client/targets", withIntermediateDirectories: true)
        let path = try updater.download(targets[0], to: directory + "/client/targets")
        #expect(try readFile(path) == bytes)
    }

    @Test("a channel sees each publish: new versions, timestamp refreshes, nothing re-signed when nothing changed")
    func republish() throws {
        let (repository, server, directory, _) = try published("republish")
        let channel = try UpdateChannel.configure(home: directory + "/home", url: server.url,
                                                  trustedRoot: try readFile(repository.directory + "/metadata/1.root.json"))
        #expect(try channel.offers(program: "autodev").map(\.facts.version.description) == ["1.0.0"])
        try writeFile(directory + "/next", [1, 2, 3])
        try repository.add(file: directory + "/next", facts: facts("1.1.0"))
        let publication = try repository.publish(now: now)
        #expect(publication.targetsVersion == 3 && publication.snapshotVersion == 3 && publication.timestampVersion == 3)
        #expect(try repository.publish(now: now).targetsVersion == nil)
        #expect(try repository.refreshTimestamp(now: now) == 4)
        let offers = try channel.offers(program: "autodev")
        #expect(offers.map(\.facts.version.description) == ["1.0.0", "1.1.0"])
        let chosen = UpdateSelection.choose(offers, current: SemanticVersion("1.0.0")!, platform: .linuxX86_64, installationID: try channel.installationID())
        #expect(chosen?.facts.critical == true)
        #expect(chosen?.length == 3)
    }

    @Test("a publish that fails before the timestamp leaves the repository as clients saw it")
    func failedPublish() throws {
        let (repository, server, directory, _) = try published("failed")
        let timestamp = try readFile(repository.directory + "/metadata/timestamp.json")
        // A directory where the next snapshot must go makes its write fail.
        try FileManager.default.createDirectory(atPath: repository.directory + "/metadata/3.snapshot.json", withIntermediateDirectories: false)
        try writeFile(directory + "/next", [9])
        try repository.add(file: directory + "/next", facts: facts("2.0.0"))
        #expect(throws: ReleaseChannelError.self) { try repository.publish(now: now) }
        #expect(try readFile(repository.directory + "/metadata/timestamp.json") == timestamp)
        let channel = try UpdateChannel.configure(home: directory + "/home", url: server.url,
                                                  trustedRoot: try readFile(repository.directory + "/metadata/1.root.json"))
        #expect(try channel.offers(program: "autodev").map(\.facts.version.description) == ["1.0.0"])
        // Once the obstacle is gone, the same publish succeeds.
        try FileManager.default.removeItem(atPath: repository.directory + "/metadata/3.snapshot.json")
        #expect(try repository.publish(now: now).targetsVersion == 3)
        #expect(try channel.offers(program: "autodev").map(\.facts.version.description) == ["1.0.0", "2.0.0"])
    }

    @Test("a channel that does not verify fails naming the cause, the trusted metadata unchanged")
    func tamperedChannel() throws {
        let (repository, server, directory, _) = try published("tampered")
        let channel = try UpdateChannel.configure(home: directory + "/home", url: server.url,
                                                  trustedRoot: try readFile(repository.directory + "/metadata/1.root.json"))
        _ = try channel.offers(program: "autodev")
        let trusted = contents(channel.directory + "/metadata")
        try writeFile(directory + "/next", [7])
        try repository.add(file: directory + "/next", facts: facts("3.0.0"))
        _ = try repository.publish(now: now)
        // Change a byte of the signed targets: snapshot's hash no longer matches.
        var targets = try readFile(repository.directory + "/metadata/3.targets.json")
        let index = targets.firstIndex(of: UInt8(ascii: "3"))!
        targets[index] = UInt8(ascii: "4")
        try writeFile(repository.directory + "/metadata/3.targets.json", targets)
        let error = try #require(throws: ReleaseChannelError.self) { try channel.offers(program: "autodev") }
        #expect(error.code == .channel)
        #expect(error.message.contains("targets metadata from \(server.url)/metadata/3.targets.json"), "\(error.message)")
        #expect(contents(channel.directory + "/metadata") == trusted)
    }

    @Test("rejects a second init, a missing repository and an unknown key directory state")
    func refusals() throws {
        let (repository, _, directory, _) = try published("refusals")
        #expect(throws: ReleaseChannelError.self) { try repository.create(now: now) }
        let missing = ReleaseRepository(directory: directory + "/none")
        let error = try #require(throws: ReleaseChannelError.self) { try missing.publish(now: now) }
        #expect(error.code == .invalidRepository)
        try FileManager.default.removeItem(atPath: repository.directory + "/keys/timestamp-1.ed25519")
        let noKey = try #require(throws: ReleaseChannelError.self) { try repository.refreshTimestamp(now: now) }
        #expect(noKey.message.contains("timestamp"))
    }

    @Test("one writer at a time: a publish while the repository's lock is held fails at once, and succeeds after")
    func locked() throws {
        let (repository, _, directory, _) = try published("locked")
        try writeFile(directory + "/next", [5])
        try repository.add(file: directory + "/next", facts: facts("1.2.0"))
        let held = try #require(try FileLock.tryAcquire(repository.directory + "/.lock"))
        let error = try #require(throws: ReleaseChannelError.self) { try repository.publish(now: now) }
        #expect(error.message.hasPrefix("Another process is using the release repository"), "\(error.message)")
        held.release()
        #expect(try repository.publish(now: now).targetsVersion == 3)
    }
}
