import Foundation
import Testing

@Suite("The embedding example")
struct ExampleDaemonTests {
    static let daemon = URL(fileURLWithPath: (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0])
        .deletingLastPathComponent().appendingPathComponent("ExampleDaemon").path

    @Test("a daemon upgrades itself mid-work: same PID, every item processed exactly once")
    func upgradeMidWork() throws {
        let harness = try Harness()
        defer { harness.cleanUp() }
        let home = harness.root.appendingPathComponent("daemon-home").path
        #expect(try harness.run(["init", "--home", home], executable: Self.daemon).status == 0)
        let candidate = harness.root.appendingPathComponent("daemon-v2").path
        try FileManager.default.copyItem(atPath: Self.daemon, toPath: candidate)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: candidate))
        try handle.seekToEnd()
        try handle.write(contentsOf: Data("v2".utf8))
        try handle.close()
        try candidate.write(toFile: home + "/upgrade-request", atomically: true, encoding: .utf8)

        let result = try harness.run(["run", "--home", home, "--items", "6"], executable: home + "/bin/example-daemon")
        #expect(result.status == 0, "\(result.stderr)")
        let lines = result.stdout.split(separator: "\n").map(String.init)
        let items = lines.filter { $0.contains(": item ") }
        #expect(items.map { $0.components(separatedBy: "item ")[1].components(separatedBy: " ")[0] } == ["1", "2", "3", "4", "5", "6"])
        #expect(Set(lines.map { $0.components(separatedBy: ":")[0] }) == ["pid \(result.pid)"])
        #expect(lines.contains { $0.contains("resumed after upgrade") && $0.hasSuffix("confirmed") })
        let versions = Set(items.map { $0.components(separatedBy: " by ")[1] })
        #expect(versions.count == 2, "the items were not processed by two versions: \(versions)")
    }
    @Test("""
        a daemon following a release channel notices a release published while it runs, installs it between two \
        items and goes on in it: same PID, every item once, the new version's progress from the old one's
        """)
    func followsChannel() throws {
        let harness = try Harness()
        defer { harness.cleanUp() }
        let directory = harness.root.path
        let home = directory + "/daemon-home"
        let tool = { (arguments: [String]) in try harness.run(arguments, executable: Harness.binary, directory: directory) }
        #expect(try harness.run(["init", "--home", home], executable: Self.daemon).status == 0)
        #expect(try tool(["release", "init", "--repo", "repo"]).status == 0)
        #expect(try tool(["update", "configure", "--channel", "file://\(directory)/repo", "--trusted-root", "repo/metadata/1.root.json",
                          "--home", home]).status == 0)
        let candidate = directory + "/example-daemon"
        try FileManager.default.copyItem(atPath: Self.daemon, toPath: candidate)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: candidate))
        try handle.seekToEnd()
        try handle.write(contentsOf: Data("1.1.0".utf8))
        try handle.close()
        #expect(try tool(["release", "stamp", "--version", "1.1.0", candidate]).status == 0)

        // Items until it is stopped; a check every 0.3 s.
        let daemon = try harness.start(["run", "--home", home, "--items", "1000000", "--item-ms", "20", "--check-interval", "0.3"],
                                       executable: home + "/bin/example-daemon")
        let output = { (try? String(contentsOf: daemon.out, encoding: .utf8)) ?? "" }
        var stopped = false
        defer { if !stopped { kill(daemon.pid, SIGKILL); _ = daemon.finish() } }
        #expect(harness.waitUntil(seconds: 30) { output().contains("version 1.0.0, following file://") }, "\(output())")
        // Published while it runs: the next check finds it.
        #expect(try tool(["release", "add", "--repo", "repo", "--program", "example-daemon", "--version", "1.1.0",
                          "--platform", "linux-x86_64", candidate]).status == 0)
        #expect(try tool(["release", "publish", "--repo", "repo"]).status == 0)
        let resumed = harness.waitUntil(seconds: 120) {
            let lines = output().split(separator: "\n")
            guard let index = lines.firstIndex(where: { $0.contains("resumed after upgrade") }) else { return false }
            return lines[index...].filter { $0.contains(": item ") }.count >= 3
        }
        // SIGKILL: this test's threads block SIGTERM, and a spawned child inherits the mask.
        kill(daemon.pid, SIGKILL)
        stopped = true
        let result = daemon.finish()
        #expect(resumed, "\(result.stdout)\n\(result.stderr)")

        let lines = result.stdout.split(separator: "\n").map(String.init)
        #expect(Set(lines.map { $0.components(separatedBy: ":")[0] }) == ["pid \(result.pid)"], "\(result.stdout)")
        let numbers = lines.filter { $0.contains(": item ") }.compactMap { Int($0.components(separatedBy: "item ")[1].components(separatedBy: " ")[0]) }
        #expect(numbers == Array(1...max(1, numbers.count)), "items repeated or skipped: \(numbers)")
        let available = try #require(lines.firstIndex { $0.hasSuffix("update available: 1.1.0") }, "\(result.stdout)")
        let verified = try #require(lines.firstIndex { $0.contains(": verified ") }, "\(result.stdout)")
        let resumption = try #require(lines.firstIndex { $0.contains("resumed after upgrade") }, "\(result.stdout)")
        #expect(available < verified && verified < resumption)
        #expect(lines[resumption].hasSuffix("confirmed"), "\(lines[resumption])")
        #expect(lines[resumption...].contains { $0.hasSuffix("version 1.1.0, following file://\(directory)/repo") }, "\(result.stdout)")
        let versions = Set(lines.filter { $0.contains(": item ") }.map { $0.components(separatedBy: " by ")[1] })
        #expect(versions.count == 2, "the items were not processed by two versions: \(versions)")
        #expect(try String(contentsOfFile: home + "/channel/highest-accepted", encoding: .utf8) == "1.1.0\n")
    }
}
