import Foundation
import ReleaseChannel
import Testing

/// `ReleaseRepository.rotate`: new keys in a new root version that clients trusting an older root walk to.
@Suite("Rotating a role's keys")
struct RotationTests {
    let now = Int64(Date().timeIntervalSince1970)

    func repository(_ name: String) throws -> (ReleaseRepository, String) {
        let directory = try temporaryDirectory(name)
        let repository = ReleaseRepository(directory: directory + "/repo")
        try repository.create(now: now)
        try writeFile(directory + "/autodev", Array("version one".utf8))
        try repository.add(file: directory + "/autodev", facts: ReleaseFacts(version: SemanticVersion("1.0.0")!, platform: .linuxX86_64, released: "2026-11-22T00:00:00Z"))
        _ = try repository.publish(now: now)
        return (repository, directory)
    }

    @Test("rotate root twice then publish: an installation that trusts root 1 and saw none of it walks to root 3 and sees the new release")
    func rootTwice() throws {
        let (repository, directory) = try repository("rotate-root")
        let firstRoot = try readFile(repository.directory + "/metadata/1.root.json")
        let channel = try UpdateChannel.configure(home: directory + "/home", url: "file://" + repository.directory, trustedRoot: firstRoot)
        #expect(try channel.offers(program: "autodev").map(\.facts.version.description) == ["1.0.0"])

        #expect(try repository.rotate(role: "root", now: now) == 2)
        #expect(try repository.rotate(role: "root", now: now) == 3)
        try writeFile(directory + "/autodev", Array("version two".utf8))
        try repository.add(file: directory + "/autodev", facts: ReleaseFacts(version: SemanticVersion("2.0.0")!, platform: .linuxX86_64, released: "2026-11-22T01:00:00Z"))
        _ = try repository.publish(now: now)

        #expect(Set(try channel.offers(program: "autodev").map(\.facts.version.description)) == ["1.0.0", "2.0.0"])
        // Root 2 is signed by root 1's key and its own; the retired keys are kept aside.
        let second = try JSONSerialization.jsonObject(with: Data(try readFile(repository.directory + "/metadata/2.root.json"))) as? [String: Any]
        #expect((second?["signatures"] as? [Any])?.count == 2)
        let retired = try FileManager.default.contentsOfDirectory(atPath: repository.directory + "/keys/retired").sorted()
        #expect(retired == ["1-root-1.ed25519", "2-root-2.ed25519"])
    }

    @Test("rotating the timestamp key: the next publish signs again with nothing new, and clients verify it")
    func timestamp() throws {
        let (repository, directory) = try repository("rotate-timestamp")
        let channel = try UpdateChannel.configure(home: directory + "/home", url: "file://" + repository.directory,
                                                  trustedRoot: try readFile(repository.directory + "/metadata/1.root.json"))
        #expect(try repository.rotate(role: "timestamp", now: now) == 2)
        let publication = try repository.publish(now: now)
        #expect(publication.timestampVersion != nil)
        #expect(try channel.offers(program: "autodev").map(\.facts.version.description) == ["1.0.0"])
        #expect(try repository.publish(now: now).timestampVersion == nil)
    }

    @Test("an unknown role is refused")
    func unknownRole() throws {
        let (repository, _) = try repository("rotate-unknown")
        let error = try #require(throws: ReleaseChannelError.self) { try repository.rotate(role: "mirror", now: now) }
        #expect(error.code == .invalidArgument)
        #expect(error.message == "Unknown role \"mirror\": expected one of root, targets, snapshot, timestamp")
    }
}
