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
}
