import ChannelUpdate
import Foundation
import ReleaseChannel
import SelfUpgrade
import Testing

/// The update an embedder gets from the public products alone (public declarations only, as a
/// program outside this package sees them): a home adopted with the library, a release
/// repository on disk published with the library, followed through a file:// channel.
@Suite(.serialized)
struct ChannelUpdateTests {
    /// The program under update: autodev's own release binary ($AUTODEV_BINARY, else the build
    /// beside this test bundle), which reports 0.1.0 unless stamped.
    static let binary: String = {
        if let path = ProcessInfo.processInfo.environment["AUTODEV_BINARY"], !path.isEmpty { return path }
        let bundle = URL(fileURLWithPath: (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0])
        return bundle.deletingLastPathComponent().appendingPathComponent("autodev").path
    }()
    static let program = ProgramIdentity(name: "autodev", version: "0.1.0", protocolVersion: 1)
    static let now = Int64(Date().timeIntervalSince1970)

    /// A home at 0.1.0 following a repository that offers 0.2.0 (a binary stamped `stamp`; nil:
    /// not stamped, so it reports 0.1.0).
    struct Installation {
        let root: String
        let upgrader: Upgrader
        let update: ChannelUpdate
        let adopted: VersionID
        var home: String { root + "/home" }
        var staging: String { update.channel.stagingDirectory }

        init(stamp: String?, probe: UpdateGuards.Probe = .system, executable: String? = nil) throws {
            root = FileManager.default.temporaryDirectory.appendingPathComponent("autodev-channel-update-\(UUID().uuidString.prefix(8))").path
            try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
            upgrader = try Upgrader(homeDirectory: root + "/home", program: ChannelUpdateTests.program)
            adopted = try upgrader.adopt(executable: ChannelUpdateTests.binary)

            let candidate = root + "/candidate"
            try FileManager.default.copyItem(atPath: ChannelUpdateTests.binary, toPath: candidate)
            let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: candidate))
            try handle.seekToEnd()
            try handle.write(contentsOf: Data("another build".utf8))
            try handle.close()
            if let stamp { try ChannelUpdateTests.tool(["release", "stamp", "--version", stamp, candidate]) }

            let repository = ReleaseRepository(directory: root + "/repo")
            try repository.create(now: ChannelUpdateTests.now)
            _ = try repository.add(file: candidate, facts: ReleaseFacts(version: SemanticVersion("0.2.0")!, platform: .current,
                                                                        released: "2026-01-01T00:00:00Z"))
            _ = try repository.publish(now: ChannelUpdateTests.now)
            let trusted = try Data(contentsOf: URL(fileURLWithPath: repository.directory + "/metadata/1.root.json"))
            let channel = try UpdateChannel.configure(home: root + "/home", url: "file://" + repository.directory, trustedRoot: Array(trusted))
            update = try ChannelUpdate(channel: channel, upgrader: upgrader, executable: executable, probe: probe)
        }

        func cleanUp() { try? FileManager.default.removeItem(atPath: root) }

        /// The offer `check` decides on; fails the test when it decides otherwise.
        func offer() throws -> ReleaseOffer {
            guard case .available(let offer) = try update.check() else { throw Failure("0.2.0 is not offered") }
            return offer
        }

        func staged() -> [String] { (try? FileManager.default.contentsOfDirectory(atPath: staging)) ?? [] }
    }

    struct Failure: Error, CustomStringConvertible {
        let description: String
        init(_ description: String) { self.description = description }
    }

    static func tool(_ arguments: [String]) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = arguments
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { throw Failure("autodev \(arguments.joined(separator: " ")) exited \(process.terminationStatus)") }
    }

    static var installing: ChannelUpdate.InstallOptions {
        var options = ChannelUpdate.InstallOptions()
        options.restart = false
        return options
    }

    @Test("a good release is checked, downloaded, installed and recorded as the new floor; then nothing newer is offered")
    func installs() throws {
        let installation = try Installation(stamp: "0.2.0")
        defer { installation.cleanUp() }
        let offer = try installation.offer()
        #expect(offer.facts.version == SemanticVersion("0.2.0"))
        var events: [String] = []
        var options = Self.installing
        options.events = { event in
            switch event {
            case .downloading: events.append("downloading")
            case .verified: events.append("verified")
            case .upgrading: events.append("upgrading")
            case .floorRebuilt, .patch, .notice, .progress: break
            }
        }
        guard case .upgraded(let outcome) = try installation.update.install(offer, options: options) else {
            throw Failure("the install did not upgrade")
        }
        #expect(events == ["downloading", "verified", "upgrading"])
        #expect(outcome.version == "0.2.0")
        #expect(try installation.upgrader.currentVersion() == outcome.to)
        #expect(outcome.to != installation.adopted)
        #expect(try installation.update.channel.highestAccepted() == SemanticVersion("0.2.0"))

        var updated = installation.update
        updated.current = SemanticVersion("0.2.0")!
        guard case .upToDate(skipped: nil) = try updated.check() else { throw Failure("0.2.0 still offered to 0.2.0") }

        // Back to the first version by the prefix a person would type; an unknown prefix is refused.
        let upgrader = installation.upgrader
        #expect(try upgrader.resolveVersion(prefix: String(installation.adopted.hex.prefix(12))) == installation.adopted)
        let unknown = try #require(["000000000000", "111111111111", "222222222222"].first { prefix in
            ![installation.adopted, outcome.to].contains { $0.hex.hasPrefix(prefix) }
        })
        let refused = try #require(throws: UpgradeError.self) { try upgrader.resolveVersion(prefix: unknown) }
        #expect(refused.code == .unknownVersion, "\(refused)")
        var back = Upgrader.UpgradeOptions()
        back.restart = false
        let rolledBack = try upgrader.rollback(to: upgrader.resolveVersion(prefix: String(installation.adopted.hex.prefix(7))), options: back)
        #expect(rolledBack.to == installation.adopted)
        #expect(try upgrader.currentVersion() == installation.adopted)
    }

    @Test("a release below the downgrade floor is refused before anything is downloaded")
    func belowFloor() throws {
        let installation = try Installation(stamp: "0.2.0")
        defer { installation.cleanUp() }
        let offer = try installation.offer()
        try installation.update.channel.recordAccepted(SemanticVersion("0.3.0")!)
        #expect(throws: ChannelUpdate.Refusal.belowFloor(version: SemanticVersion("0.2.0")!, floor: SemanticVersion("0.3.0")!)) {
            try installation.update.install(offer, options: Self.installing)
        }
        #expect(try installation.upgrader.currentVersion() == installation.adopted)
        #expect(installation.staged().isEmpty)

        var allowed = Self.installing
        allowed.allowDowngrade = true
        guard case .upgraded(let outcome) = try installation.update.install(offer, options: allowed) else { throw Failure("no upgrade") }
        #expect(outcome.version == "0.2.0")
    }

    @Test("a binary a package manager owns is refused before anything is downloaded, naming its package")
    func packageManaged() throws {
        // dpkg -S names a package for every path asked about, as it does for a file it installed.
        let dpkg = UpdateGuards.Probe(run: { tool, arguments in tool == "dpkg" ? "autodev: \(arguments.last ?? "")\n" : nil })
        let installation = try Installation(stamp: "0.2.0", probe: dpkg, executable: Self.binary)
        defer { installation.cleanUp() }
        let offer = try installation.offer()
        let error = try #require(throws: ReleaseChannelError.self) { try installation.update.install(offer, options: Self.installing) }
        #expect(error.code == .packageManaged)
        #expect(error.message.contains("dpkg package autodev"), "\(error.message)")
        #expect(try installation.upgrader.currentVersion() == installation.adopted)
        #expect(installation.staged().isEmpty)
    }

    @Test("a signed release whose binary reports another version is refused at verification, and not recorded")
    func wrongVersion() throws {
        let installation = try Installation(stamp: nil)
        defer { installation.cleanUp() }
        let offer = try installation.offer()
        let error = try #require(throws: UpgradeError.self) { try installation.update.install(offer, options: Self.installing) }
        #expect("\(error)".contains("it reports version 0.1.0, but it was offered as version 0.2.0"), "\(error)")
        #expect(try installation.upgrader.currentVersion() == installation.adopted)
        #expect(try installation.update.channel.highestAccepted() == nil)
    }

    @Test("""
        install holds an offer made by hand to what a check allows (this program, this platform, the minimum version), \
        and a program name no channel can list is refused at once
        """)
    func offersByHand() throws {
        let installation = try Installation(stamp: "0.2.0")
        defer { installation.cleanUp() }
        let offer = try installation.offer()
        var other = offer
        other.path = "otherprogram/0.2.0/" + ReleasePlatform.current.rawValue + "/candidate"
        #expect(throws: ChannelUpdate.Refusal.notOffered(version: SemanticVersion("0.2.0")!, platform: .current)) {
            try installation.update.install(other, options: Self.installing)
        }
        var elsewhere = offer
        elsewhere.facts.platform = ReleasePlatform.current == .linuxAArch64 ? .linuxX86_64 : .linuxAArch64
        #expect(throws: ChannelUpdate.Refusal.notOffered(version: SemanticVersion("0.2.0")!, platform: .current)) {
            try installation.update.install(elsewhere, options: Self.installing)
        }
        var later = offer
        later.facts.minimumVersion = SemanticVersion("0.1.5")
        #expect(throws: ChannelUpdate.Refusal.requiresNewer(version: SemanticVersion("0.2.0")!, minimum: SemanticVersion("0.1.5")!,
                                                            current: SemanticVersion("0.1.0")!)) {
            try installation.update.install(later, options: Self.installing)
        }
        #expect(installation.staged().isEmpty)
        #expect(try installation.upgrader.currentVersion() == installation.adopted)

        let spaced = try Upgrader(homeDirectory: installation.root + "/spaced",
                                  program: ProgramIdentity(name: "my app", version: "1.0.0", protocolVersion: 1))
        let error = try #require(throws: ReleaseChannelError.self) { try ChannelUpdate(channel: installation.update.channel, upgrader: spaced) }
        #expect(error.code == .invalidArgument && error.message.contains("\"my app\""), "\(error)")
    }

    @Test("a skipped release is not offered unless asked for by version; a version the channel lacks is refused")
    func skippedAndNamed() throws {
        let installation = try Installation(stamp: "0.2.0")
        defer { installation.cleanUp() }
        var update = installation.update
        update.skippedVersions = ["0.2.0"]
        guard case .upToDate(skipped: let skipped?) = try update.check(), skipped.facts.version == SemanticVersion("0.2.0") else {
            throw Failure("a skipped release was offered")
        }
        guard case .available = try update.check(version: SemanticVersion("0.2.0")) else { throw Failure("0.2.0 by name not offered") }
        #expect(throws: ChannelUpdate.Refusal.notOffered(version: SemanticVersion("0.4.0")!, platform: .current)) {
            try update.check(version: SemanticVersion("0.4.0"))
        }
    }
}
