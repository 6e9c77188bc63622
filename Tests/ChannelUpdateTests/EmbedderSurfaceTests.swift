import Foundation
import SelfUpgrade
import Testing

/// What the executable uses besides the update, as an embedder reaches it through the public
/// products: the installation's layout, a state store's strict reader, the storage smoke checks
/// of a verification mode.
struct EmbedderSurfaceTests {
    struct Scratch {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("autodev-surface-\(UUID().uuidString.prefix(8))").path
        init() throws { try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true) }
        func cleanUp() { try? FileManager.default.removeItem(atPath: root) }
    }

    @Test("an installation names its paths, is initialized once a version is adopted, and reads current; current planted elsewhere is an error")
    func installation() throws {
        let scratch = try Scratch()
        defer { scratch.cleanUp() }
        let installation = Installation(directory: scratch.root + "/home", program: ChannelUpdateTests.program)
        #expect(installation.directory == scratch.root + "/home")
        #expect(installation.entryPoint == scratch.root + "/home/bin/autodev")
        #expect(installation.stateDirectory == scratch.root + "/home/state")
        #expect(installation.workingCopy == scratch.root + "/home/source")
        #expect(!installation.isInitialized)
        #expect(try installation.currentVersion() == nil)

        let upgrader = try Upgrader(installation, program: ChannelUpdateTests.program)
        #expect(upgrader.installation == installation)
        let adopted = try upgrader.adopt(executable: ChannelUpdateTests.binary)
        #expect(installation.isInitialized)
        #expect(try installation.currentVersion() == adopted)

        // `current` is the library's: a link to anything but a stored version is refused, by name
        // (the store's directory in upper case too: no such directory, no program to run).
        try FileManager.default.removeItem(atPath: scratch.root + "/home/current")
        try FileManager.default.createSymbolicLink(atPath: scratch.root + "/home/current", withDestinationPath: "versions/" + adopted.hex.uppercased())
        #expect {
            try installation.currentVersion()
        } throws: { error in
            (error as? UpgradeError)?.code == .homeDamaged
        }
        try FileManager.default.removeItem(atPath: scratch.root + "/home/current")
        try FileManager.default.createSymbolicLink(atPath: scratch.root + "/home/current", withDestinationPath: "/etc")
        #expect {
            try installation.currentVersion()
        } throws: { error in
            (error as? UpgradeError)?.code == .homeDamaged && (error as? UpgradeError)?.path == scratch.root + "/home/current"
        }
    }

    @Test("the settings are read and written through the installation, and a damaged config.json is refused by name")
    func configuration() throws {
        let scratch = try Scratch()
        defer { scratch.cleanUp() }
        let installation = Installation(directory: scratch.root, program: ChannelUpdateTests.program)
        #expect(try UpgradeConfiguration.load(from: installation) == UpgradeConfiguration())
        var configuration = UpgradeConfiguration()
        configuration.historyLimit = 7
        try configuration.save(to: installation)
        #expect(try UpgradeConfiguration.load(from: installation).historyLimit == 7)
        try Data("{\"historyLimit\": \"seven\"}".utf8).write(to: URL(fileURLWithPath: scratch.root + "/config.json"))
        #expect {
            try UpgradeConfiguration.load(from: installation)
        } throws: { error in
            (error as? UpgradeError)?.code == .invalidConfiguration && (error as? UpgradeError)?.path == scratch.root + "/config.json"
        }
    }

    struct Sample: Codable, Sendable, Equatable {
        var count: Int
        var name: String?
    }

    static func strictStore(_ directory: String) -> StateStore<Sample> {
        var store = StateStore<Sample>(directory: directory, name: "sample", schema: 1)
        store.strictReader = { bytes in
            guard let object = StrictJSONObject(parsing: bytes), let count = object.integer("count", in: 0...1_000),
                  let name = object.optionalString("name") else { return nil }
            return Sample(count: count, name: name)
        }
        return store
    }

    @Test("a strict reader written with StrictJSONObject agrees with the decoder; what it does not take is left to the decoder",
          arguments: [
            ("{\"count\": 3, \"name\": \"x\"}", Sample(count: 3, name: "x")),
            ("{\"count\": 3, \"name\": null}", Sample(count: 3, name: nil)),
            ("{\"count\": 3}", Sample(count: 3, name: nil)),
            ("{\"count\": 3.0, \"other\": [1, {\"deep\": true}]}", Sample(count: 3, name: nil)),
          ])
    func strictReader(text: String, expected: Sample) throws {
        let scratch = try Scratch()
        defer { scratch.cleanUp() }
        let bytes = Array(text.utf8)
        #expect(StrictJSONObject(parsing: bytes) != nil)
        let object = try #require(StrictJSONObject(parsing: bytes))
        #expect(object.integer("count", in: 0...1_000) == expected.count)
        #expect(try JSONDecoder().decode(Sample.self, from: Data(bytes)) == expected)
        // The store's own check: its strict reader and the decoder read the saved file alike.
        try Self.strictStore(scratch.root).save(expected)
        let check = SelfCheckReport.checkState(Self.strictStore(scratch.root))
        #expect(check.error == nil && check.roundTripEqual)
    }

    @Test("StrictJSONObject: integers beyond what a double holds exactly are left to the decoder, even in a range up to Int.max; nesting is bounded")
    func strictLargeIntegers() throws {
        for text in ["9223372036854775807", "9223372036854775808", "9007199254740993", "1e300", "-9223372036854775809"] {
            let object = try #require(StrictJSONObject(parsing: Array("{\"n\": \(text)}".utf8)))
            #expect(object.integer("n", in: Int.min...Int.max) == nil, "\(text)")
        }
        let exact = try #require(StrictJSONObject(parsing: Array("{\"n\": 9007199254740991, \"m\": -0}".utf8)))
        #expect(exact.integer("n", in: 0...Int.max) == 9_007_199_254_740_991)
        #expect(exact.integer("m", in: 0...1) == 0)
        let deep = String(repeating: "{\"a\":", count: 100_000) + "1" + String(repeating: "}", count: 100_000)
        #expect(StrictJSONObject(parsing: Array(deep.utf8), maxDepth: .max) == nil)
    }

    @Test("a state file past the cap is refused, naming it, before it is read")
    func stateCap() throws {
        let scratch = try Scratch()
        defer { scratch.cleanUp() }
        let store = Self.strictStore(scratch.root)
        try store.save(Sample(count: 1, name: nil))
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: store.path))
        try handle.truncate(atOffset: UInt64(StateStore<Sample>.largestFileBytes + 1))
        try handle.close()
        #expect {
            try store.load()
        } throws: { error in
            (error as? UpgradeError)?.description.contains(store.path) == true && "\(error)".contains("larger than")
        }
    }

    @Test("StrictJSONObject answers nil for what is not exactly asked for")
    func strictRefusals() throws {
        let object = try #require(StrictJSONObject(parsing: Array("{\"n\": 2.5, \"big\": 2000, \"s\": 7, \"o\": {\"k\": 1}, \"t\": \"x\"}".utf8)))
        #expect(object.integer("n", in: 0...10) == nil)        // not whole
        #expect(object.integer("big", in: 0...1_000) == nil)   // out of range
        #expect(object.integer("missing", in: 0...10) == nil)
        #expect(object.integer("t", in: 0...10) == nil)        // not a number
        #expect(object.optionalString("s") == nil)             // not a string
        #expect(object.optionalString("missing") == .some(nil))
        #expect(object.optionalString("t") == .some("x"))
        #expect(object.object("o")?.integer("k", in: 0...1) == 1)
        #expect(object.object("t") == nil)
        for text in ["[1]", "{\"a\": 1", "{\"a\": 1, \"a\": 2}", "", "null"] {
            #expect(StrictJSONObject(parsing: Array(text.utf8)) == nil, "\(text)")
        }
    }

    @Test("the storage smoke checks of a verification mode pass in a scratch directory and name what they did")
    func storageChecks() throws {
        let scratch = try Scratch()
        defer { scratch.cleanUp() }
        let checks = SelfCheckReport.storageChecks(scratch: scratch.root, executable: ChannelUpdateTests.binary)
        #expect(checks.map(\.name) == ["journal", "store"])
        #expect(checks.allSatisfy { $0.passed }, "\(checks)")
        // An executable that is not there fails the store check, with the reason, and nothing else.
        let other = try Scratch()
        defer { other.cleanUp() }
        let failed = SelfCheckReport.storageChecks(scratch: other.root, executable: other.root + "/missing")
        #expect(failed.map(\.passed) == [true, false])
        #expect(failed.last?.detail.contains(other.root + "/missing") == true, "\(failed)")
        // A scratch that is a link, or not empty, is refused without writing anything through it.
        let target = try Scratch()
        defer { target.cleanUp() }
        try FileManager.default.createSymbolicLink(atPath: other.root + "/link", withDestinationPath: target.root)
        let throughLink = SelfCheckReport.storageChecks(scratch: other.root + "/link", executable: ChannelUpdateTests.binary)
        #expect(throughLink.allSatisfy { !$0.passed && $0.detail.contains("is not an empty directory") }, "\(throughLink)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: target.root).isEmpty)
        let notEmpty = SelfCheckReport.storageChecks(scratch: other.root, executable: ChannelUpdateTests.binary)
        #expect(notEmpty.allSatisfy { !$0.passed }, "\(notEmpty)")
    }
}
