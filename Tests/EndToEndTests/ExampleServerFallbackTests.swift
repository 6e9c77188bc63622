import Foundation
import Platform
import Testing

/// The watchdog's fallback: a new version that passes verification but fails once it has taken
/// over (crashes, exits 0 or hangs before `start()`) is replaced by the old one, on the same
/// listeners, without anyone's help.
@Suite("The serving example's fallback after exec", .serialized)
struct ExampleServerFallbackTests {
    static let deadline = 2.0

    @Test("a new version that misbehaves after exec is replaced by the old one within the deadline",
          arguments: ["crash", "exit", "hang"])
    func fallback(mode: String) throws {
        let harness = try Harness()
        defer { harness.cleanUp() }
        let home = harness.root.appendingPathComponent("server-home").path
        let running = try RunningServer(harness: harness, arguments: ["serve", "--home", home, "--listen", "127.0.0.1:0",
                                                                      "--confirm-deadline", String(Self.deadline)])
        var fallbackPID: Int32?
        defer {
            if let fallbackPID { kill(fallbackPID, SIGKILL) }
            running.stop()
        }
        let first = try running.waitForLine(containing: "serving on port")
        let port = try #require(Int(first.components(separatedBy: "serving on port ")[1].prefix { $0.isNumber }))
        let oldID = first.components(separatedBy: " ")[3]

        // The upgrade runs on its own thread; this one asks GET / on fresh connections meanwhile
        // and measures the longest time without an answer.
        let candidate = try harness.candidateServer(marker: "MISBEHAVE:\(mode)")
        let upgrade = UpgradeRun()
        Thread.detachNewThread { upgrade.finish(try? harness.spawn(["upgrade", "--home", home, "--from-binary", candidate])) }
        var longestGap = 0.0
        var last = MonotonicClock.now()
        var answers: [HTTPClient.Answer] = []
        let start = MonotonicClock.now()
        while upgrade.result == nil && MonotonicClock.seconds(since: start) < 120 {
            var client = HTTPClient(port: port)
            let answer: HTTPClient.Answer
            do {
                answer = try client.get(keepAlive: false)
            } catch let error as HTTPClient.Failure where error.description == "closed before answering" {
                // The old version's drain closes a connection it accepted before its request
                // arrived (never one with a request); the request is sent again, as a client would.
                client.socket?.close()
                continue
            }
            client.socket?.close()
            longestGap = max(longestGap, MonotonicClock.seconds(since: last))
            last = MonotonicClock.now()
            answers.append(answer)
        }
        let result = try #require(upgrade.result ?? nil, "the upgrade did not end within 120 s")
        #expect(result.status == 1, "\(result.stdout)")
        #expect(longestGap <= Self.deadline + 1, "no answer for \(longestGap) s")
        #expect(Set(answers.map(\.id)) == [oldID])

        // The old version serves again, from the watchdog's process, and says so.
        let restarted = try #require(try running.lines().filter { $0.contains("serving on port") }.last)
        #expect(restarted.contains("1.0.0 \(oldID) serving on port \(port) (inherited); start: none"), "\(restarted)")
        fallbackPID = Int32(restarted.dropFirst(4).prefix { $0.isNumber })
        #expect(fallbackPID != nil && fallbackPID != running.pid)

        // Nothing sent after it answers again is lost, and the count goes on.
        var client = HTTPClient(port: port)
        var counts: [Int] = []
        for _ in 0..<20 {
            let answer = try client.get()
            #expect(answer.id == oldID)
            counts.append(answer.count)
        }
        #expect(zip(counts, counts.dropFirst()).allSatisfy { $0 < $1 }, "\(counts)")

        // The journal: the upgrade was aborted by the old version's recovery.
        let journal = try String(contentsOfFile: home + "/journal", encoding: .utf8)
        let lastRecord = try #require(journal.split(separator: "\n").last { $0.contains("\"abort\"") || $0.contains("\"commit\"") })
        #expect(lastRecord.contains("abort") && lastRecord.contains("unconfirmed after restart"), "\(lastRecord)")
    }
}

/// The result of an upgrade run on another thread.
final class UpgradeRun: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Harness.Result??

    var result: Harness.Result?? { lock.withLock { value } }
    func finish(_ result: Harness.Result?) { lock.withLock { value = .some(result) } }
}

extension Harness {
    /// A copy of the built ExampleServer with `marker` appended: same program, another version id.
    func candidateServer(marker: String) throws -> String {
        let path = try candidateServer()
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        try handle.seekToEnd()
        try handle.write(contentsOf: Data("\n\(marker)\n".utf8))
        try handle.close()
        return path
    }
}
