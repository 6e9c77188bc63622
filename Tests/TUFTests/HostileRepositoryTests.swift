import Foundation
import Integrity
import Testing
import TUF

/// Repositories that try to exhaust, mislead or escape the client, served over loopback HTTP.
/// Each test checks that the client fails, that the trusted metadata is what it was (or what
/// the specification allows it to have verified before the failure), and that nothing partial
/// is left in the target directory.
@Suite("Hostile repositories", .enabled(if: RepositoryServer.python != nil, "needs python3 for the loopback repository server"))
struct HostileRepositoryTests {
    /// A client that has refreshed once against a valid repository.
    private func refreshedFixture(_ name: String, targets: [String: (length: Int, content: [UInt8])] = [:]) throws -> ClientFixture {
        let fixture = try ClientFixture(name)
        try fixture.repository.publishInitial(targets: targets)
        try fixture.initialize()
        var updater = fixture.updater()
        try updater.refresh()
        return fixture
    }

    private func replaceTimestamp(_ fixture: ClientFixture, marker: String) throws {
        try FileManager.default.removeItem(atPath: fixture.repository.directory + "/metadata/timestamp.json")
        try fixture.repository.write("metadata/timestamp.json." + marker, [])
    }

    @Test("a timestamp served endlessly is cut off at its 16,384-byte cap")
    func endlessTimestamp() throws {
        let fixture = try refreshedFixture("endless")
        let before = fixture.trustedMetadata
        try replaceTimestamp(fixture, marker: "endless")
        var updater = fixture.updater()
        let error = #expect(throws: TUFError.self) { try updater.refresh() }
        #expect(error?.code == .download)
        #expect(error?.message.contains("timestamp") == true)
        #expect(fixture.trustedMetadata == before)
        #expect(fixture.targets.isEmpty)
    }

    @Test("a redirect loop fails the download and changes nothing")
    func redirectLoop() throws {
        let fixture = try refreshedFixture("redirect-loop")
        let before = fixture.trustedMetadata
        try replaceTimestamp(fixture, marker: "redirect-loop")
        var updater = fixture.updater()
        let error = #expect(throws: TUFError.self) { try updater.refresh() }
        #expect(error?.code == .download)
        #expect(fixture.repository.requests.filter { $0.hasSuffix("timestamp.json") }.count > 2)
        #expect(fixture.trustedMetadata == before)
        #expect(fixture.targets.isEmpty)
    }

    @Test("a target one byte longer than listed is refused and nothing is written")
    func targetTooLong() throws {
        let content = Array("ten bytes!".utf8)
        let fixture = try refreshedFixture("long-target", targets: ["app.bin": (content.count, content)])
        try fixture.repository.write("targets/app.bin", content + [0x0A])
        let before = fixture.trustedMetadata
        var updater = fixture.updater()
        let info = try updater.targetInfo("app.bin")
        #expect(info.length == 10)
        let error = #expect(throws: TUFError.self) { try updater.download(info, to: fixture.targetDirectory) }
        #expect(error?.code == .download)
        #expect(fixture.targets.isEmpty)
        #expect(fixture.trustedMetadata == before)

        // The same bytes served at the right length download, and a second request reads the cache.
        try fixture.repository.write("targets/app.bin", content)
        let path = try updater.download(info, to: fixture.targetDirectory)
        #expect(FileManager.default.contents(atPath: path) == Data(content))
        let fetched = fixture.repository.requests.filter { $0.hasSuffix("targets/app.bin") }.count
        try updater.download(info, to: fixture.targetDirectory)
        #expect(fixture.repository.requests.filter { $0.hasSuffix("targets/app.bin") }.count == fetched)
    }

    @Test("a FIFO or a link to /dev/zero where the cached copy would be is neither waited on nor read: the target is downloaded again",
          arguments: ["fifo", "link to /dev/zero", "hard link", "another user's", "group-writable"])
    func plantedCache(planted: String) throws {
        let content = Array("ten bytes!".utf8)
        let fixture = try refreshedFixture("planted-" + String(planted.filter(\.isLetter)),
                                           targets: ["app.bin": (content.count, content)])
        try fixture.repository.write("targets/app.bin", content)
        var updater = fixture.updater()
        let info = try updater.targetInfo("app.bin")
        try FileManager.default.createDirectory(atPath: fixture.targetDirectory, withIntermediateDirectories: true)
        let cached = fixture.targetDirectory + "/app.bin"
        switch planted {
        case "fifo":
            #expect(mkfifo(cached, 0o600) == 0)
        case "link to /dev/zero":
            try FileManager.default.createSymbolicLink(atPath: cached, withDestinationPath: "/dev/zero")
        default:
            // The right bytes, but in a file someone else could change after it verified.
            try Data(content).write(to: URL(fileURLWithPath: cached))
            switch planted {
            case "hard link": #expect(link(cached, fixture.targetDirectory + "/../elsewhere") == 0)
            case "group-writable": #expect(chmod(cached, 0o664) == 0)
            default: #expect(chown(cached, 65534, 65534) == 0)
            }
        }
        let path = try updater.download(info, to: fixture.targetDirectory)
        #expect(FileManager.default.contents(atPath: path) == Data(content))
        #expect(fixture.repository.requests.contains { $0.hasSuffix("targets/app.bin") })
        // What is kept now is this user's own file, of one name.
        let kept = try FileManager.default.attributesOfItem(atPath: path)
        #expect(kept[.ownerAccountID] as? Int == Int(geteuid()) && kept[.referenceCount] as? Int == 1)
    }

    @Test("a target listed with 2^63-1 bytes is refused before any request, not fetched into memory")
    func hugeTargetLength() throws {
        let content = Array("ten bytes!".utf8)
        let fixture = try refreshedFixture("huge-target", targets: ["app.bin": (Int.max, content)])
        var updater = fixture.updater()
        let info = try updater.targetInfo("app.bin")
        #expect(info.length == Int.max)
        let error = #expect(throws: TUFError.self) { try updater.download(info, to: fixture.targetDirectory) }
        #expect(error?.message == "Target app.bin is listed with a length of 9223372036854775807 bytes; this client downloads targets of 0 to 1073741824 bytes")
        #expect(!fixture.repository.requests.contains { $0.hasSuffix("targets/app.bin") })
        #expect(fixture.targets.isEmpty)
    }

    @Test("a trusted root at version 2^63-1 refreshes without overflowing the rotation walk")
    func rootAtMaximumVersion() throws {
        let fixture = try ClientFixture("root-max")
        let repository = fixture.repository
        try repository.publishRoot(version: 1, repository.rootSigned(version: Int.max), signedBy: [repository.signers["root"]!])
        try repository.publishTargets("targets", TestRepository.targetsSigned(version: 1), signer: repository.signers["targets"]!)
        try repository.publishSnapshot(version: 1, roles: ["targets": 1])
        try repository.publishTimestamp(version: 1, snapshotVersion: 1)
        try fixture.initialize()
        var updater = fixture.updater()
        try updater.refresh()
        #expect(!repository.requests.contains { $0.hasSuffix(".root.json") }, "\(repository.requests)")
    }

    @Test("one key listed under two ids counts once toward a threshold of 2")
    func keyUnderTwoIDs() throws {
        let fixture = try ClientFixture("two-ids")
        let repository = fixture.repository
        let snapshotSigner = repository.signers["snapshot"]!
        let alias = String(repeating: "ab", count: 32)
        let root = repository.rootSigned(version: 1, roleKeyIDs: ["snapshot": [snapshotSigner.id, alias]],
                                         thresholds: ["snapshot": 2], extraKeys: [alias: snapshotSigner])
        try repository.publishRoot(version: 1, root, signedBy: [repository.signers["root"]!])
        try repository.publishTargets("targets", TestRepository.targetsSigned(version: 1), signer: repository.signers["targets"]!)
        try repository.publishSnapshot(version: 1, roles: ["targets": 1], signedBy: [(snapshotSigner.id, snapshotSigner), (alias, snapshotSigner)])
        try repository.publishTimestamp(version: 1, snapshotVersion: 1)
        try fixture.initialize()
        var updater = fixture.updater()
        let error = #expect(throws: TUFError.self) { try updater.refresh() }
        #expect(error?.code == .unsigned)
        #expect(error?.message.contains("snapshot") == true)
        #expect(fixture.trustedMetadata.keys.sorted() == ["root.json", "timestamp.json"])
        #expect(fixture.targets.isEmpty)
    }

    @Test("a root that rotates 33 times is followed for 32 versions per refresh, no further")
    func thirtyThreeRotations() throws {
        let fixture = try ClientFixture("rotations")
        var repository = fixture.repository
        try repository.publishInitial()
        var previous = repository.signers["root"]!
        for version in 2...34 {
            let next = TestRepository.Signer()
            repository.signers["root"] = next
            // The last version also rotates the timestamp key; the timestamp is signed with the new one.
            if version == 34 { repository.signers["timestamp"] = TestRepository.Signer() }
            try repository.publishRoot(version: version, repository.rootSigned(version: version), signedBy: [previous, next])
            previous = next
        }
        try repository.publishTimestamp(version: 1, snapshotVersion: 1)
        let rootBefore = try Data(contentsOf: URL(fileURLWithPath: repository.directory + "/metadata/1.root.json"))
        try Updater.initialize(metadataDirectory: fixture.metadataDirectory, trustedRoot: Array(rootBefore))
        var updater = fixture.updater()
        let error = #expect(throws: TUFError.self) { try updater.refresh() }
        #expect(error?.code == .unsigned)
        #expect(try fixture.trustedVersion("root.json") == 33)
        let rootRequests = repository.requests.filter { $0.hasSuffix(".root.json") }
        #expect(rootRequests.count == 32)
        #expect(!rootRequests.contains { $0.hasSuffix("/34.root.json") })
        #expect(fixture.trustedMetadata.keys.sorted() == ["root.json"])
        #expect(fixture.targets.isEmpty)
    }

    @Test("a delegation cycle ends the search; each role is fetched once")
    func delegationCycle() throws {
        let fixture = try ClientFixture("cycle")
        let repository = fixture.repository
        let a = TestRepository.Signer(), b = TestRepository.Signer()
        try repository.publishRoot(version: 1, repository.rootSigned(version: 1), signedBy: [repository.signers["root"]!])
        try repository.publishTargets("targets", TestRepository.targetsSigned(version: 1, delegations: [("A", a)]), signer: repository.signers["targets"]!)
        try repository.publishTargets("A", TestRepository.targetsSigned(version: 1, delegations: [("B", b)]), signer: a)
        try repository.publishTargets("B", TestRepository.targetsSigned(version: 1, delegations: [("A", a)]), signer: b)
        try repository.publishSnapshot(version: 1, roles: ["targets": 1, "A": 1, "B": 1])
        try repository.publishTimestamp(version: 1, snapshotVersion: 1)
        try fixture.initialize()
        var updater = fixture.updater()
        let error = #expect(throws: TUFError.self) { try updater.targetInfo("missing") }
        #expect(error?.code == .targetNotFound)
        let delegated = repository.requests.filter { $0.hasSuffix("/A.json") || $0.hasSuffix("/B.json") }
        #expect(delegated == ["cycle/metadata/A.json", "cycle/metadata/B.json"])
        #expect(fixture.targets.isEmpty)
    }

    @Test("a role named ../escape is stored inside the metadata directory under an encoded name")
    func roleNameEscape() throws {
        let fixture = try ClientFixture("escape")
        let repository = fixture.repository
        let delegate = TestRepository.Signer()
        try repository.publishRoot(version: 1, repository.rootSigned(version: 1), signedBy: [repository.signers["root"]!])
        try repository.publishTargets("targets", TestRepository.targetsSigned(version: 1, delegations: [("../escape", delegate)]), signer: repository.signers["targets"]!)
        try repository.publishTargets("../escape", TestRepository.targetsSigned(version: 1), signer: delegate)
        try repository.publishSnapshot(version: 1, roles: ["targets": 1, "../escape": 1])
        try repository.publishTimestamp(version: 1, snapshotVersion: 1)
        try fixture.initialize()
        var updater = fixture.updater()
        let error = #expect(throws: TUFError.self) { try updater.targetInfo("missing") }
        #expect(error?.code == .targetNotFound)
        #expect(repository.requests.contains("escape/metadata/..%2Fescape.json"))
        #expect(fixture.trustedMetadata.keys.sorted() == ["..%2Fescape.json", "root.json", "snapshot.json", "targets.json", "timestamp.json"])
        let parent = (fixture.metadataDirectory as NSString).deletingLastPathComponent
        #expect(!FileManager.default.fileExists(atPath: parent + "/escape.json"))
        #expect(fixture.targets.isEmpty)
    }
}
