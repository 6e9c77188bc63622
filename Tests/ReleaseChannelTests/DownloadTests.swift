import Foundation
import Integrity
import ReleaseChannel
import Testing

/// `UpdateChannel.download`: resumption from `.partial` files and verification before the final name.
@Suite("Downloading a release")
struct DownloadTests {
    let now = Int64(Date().timeIntervalSince1970)

    /// A published repository read through file:// (which honours offsets), and its channel.
    func channel(_ name: String) throws -> (UpdateChannel, ReleaseOffer, [UInt8], String) {
        let directory = try temporaryDirectory(name)
        let repository = ReleaseRepository(directory: directory + "/repo")
        try repository.create(now: now)
        let bytes = Array((0..<200_000).map { UInt8(truncatingIfNeeded: $0 &* 13 &+ 5) })
        try writeFile(directory + "/autodev", bytes)
        try repository.add(file: directory + "/autodev", facts: ReleaseFacts(version: SemanticVersion("2.0.0")!, platform: .linuxX86_64, released: "2026-11-22T00:00:00Z"))
        _ = try repository.publish(now: now)
        let channel = try UpdateChannel.configure(home: directory + "/home", url: "file://" + repository.directory,
                                                  trustedRoot: try readFile(repository.directory + "/metadata/1.root.json"))
        let offer = try #require(try channel.offers(program: "autodev").first)
        return (channel, offer, bytes, directory + "/home/channel/staging")
    }

    @Test("resumes from a .partial file: only the rest is fetched, the whole file verified, the partial gone")
    func resumes() throws {
        let (channel, offer, bytes, staging) = try channel("resume")
        let final = staging + "/" + SHA256.hash(data: bytes).hex
        try FileManager.default.createDirectory(atPath: staging, withIntermediateDirectories: true)
        try writeFile(final + ".partial", Array(bytes.prefix(150_000)))
        var firstProgress: Int? = nil
        let path = try channel.download(offer, into: staging) { received, _ in firstProgress = firstProgress ?? received }
        #expect(path == final)
        #expect(try readFile(path) == bytes)
        #expect(!FileManager.default.fileExists(atPath: final + ".partial"))
        // The first bytes reported were counted from the offset: the prefix was not fetched again.
        #expect((firstProgress ?? 0) > 150_000)
        #expect((try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int) == 0o755)
    }

    @Test("a .partial file that does not match the signed hashes is removed and the download fails; the next one succeeds")
    func corruptPartial() throws {
        let (channel, offer, bytes, staging) = try channel("corrupt")
        let final = staging + "/" + SHA256.hash(data: bytes).hex
        try FileManager.default.createDirectory(atPath: staging, withIntermediateDirectories: true)
        try writeFile(final + ".partial", [UInt8](repeating: 0, count: 1000))
        let error = try #require(throws: ReleaseChannelError.self) { try channel.download(offer, into: staging) }
        #expect(error.code == .channel)
        #expect(error.message.contains("sha256"), "\(error.message)")
        #expect(!FileManager.default.fileExists(atPath: final + ".partial"))
        #expect(!FileManager.default.fileExists(atPath: final))
        #expect(try readFile(try channel.download(offer, into: staging)) == bytes)
    }

    @Test("a hard link planted as the .partial file is removed, not appended to: the file it links to is unchanged")
    func plantedHardLink() throws {
        let (channel, offer, bytes, staging) = try channel("hardlink")
        let final = staging + "/" + SHA256.hash(data: bytes).hex
        try FileManager.default.createDirectory(atPath: staging, withIntermediateDirectories: true)
        let victim = staging + "/../../victim"
        try writeFile(victim, Array(bytes.prefix(1000)))
        #expect(link(victim, final + ".partial") == 0)
        let path = try channel.download(offer, into: staging)
        #expect(path == final)
        #expect(try readFile(path) == bytes)
        #expect(try readFile(victim) == Array(bytes.prefix(1000)))
    }

    @Test("a channel URL with an escape sequence, a line break or a space is refused at configure, not stored to be printed later")
    func configureRefusesUnprintableURL() throws {
        let directory = try temporaryDirectory("bad-url")
        let repository = ReleaseRepository(directory: directory + "/repo")
        try repository.create(now: now)
        let root = try readFile(repository.directory + "/metadata/1.root.json")
        for url in ["http://x/\u{1B}[2J", "http://x/a\nCritical: yes", "http://x/a b", "file:///é"] {
            let error = try #require(throws: ReleaseChannelError.self) { try UpdateChannel.configure(home: directory + "/home", url: url, trustedRoot: root) }
            #expect(error.code == .invalidArgument && !error.message.contains("\u{1B}") && !error.message.contains("\n"), "\(error.message)")
        }
        #expect(!FileManager.default.fileExists(atPath: directory + "/home/channel/config.json"))
    }

    @Test("the highest accepted version only goes up")
    func highestAccepted() throws {
        let (channel, _, _, _) = try channel("accepted")
        #expect(try channel.highestAccepted() == nil)
        try channel.recordAccepted(SemanticVersion("1.2.0")!)
        try channel.recordAccepted(SemanticVersion("1.1.0")!)
        #expect(try channel.highestAccepted() == SemanticVersion("1.2.0"))
        try channel.recordAccepted(SemanticVersion("1.3.0-rc.1")!)
        #expect(try channel.highestAccepted() == SemanticVersion("1.3.0-rc.1"))
    }
}
