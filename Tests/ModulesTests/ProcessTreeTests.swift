import Foundation
@testable import Modules
import Platform
import Testing
import TestSupport

/// What a worker starts ends with it.
@Suite("Module workers' process trees")
struct ProcessTreeTests {
    /// Whether this machine has a cgroup v2 hierarchy this user can create cgroups in.
    static let cgroups = Cgroups.writable

    @Test("a daemon a worker started (setsid, its parent gone) ends when the worker is stopped",
          .enabled(if: cgroups && AUTODEV_PROCESS_TREES == nil, "needs a writable cgroup v2 hierarchy"))
    func daemonEndsWithWorker() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("autodev-tree-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let pidFile = directory + "/daemon.pid"
        // The worker leaves a daemon behind (a new session, its parent exited at once), then
        // becomes the counter worker.
        let script = directory + "/worker"
        try """
            #!/bin/sh
            ( setsid sh -c 'echo $$ > \(pidFile).tmp && mv \(pidFile).tmp \(pidFile) && exec sleep 1000' </dev/null >/dev/null 2>&1 & )
            exec \(Fixture.counterWorker) "$@"
            """.write(toFile: script, atomically: true, encoding: .utf8)
        chmod(script, 0o755)
        let worker = try WorkerProcess.spawn(ModuleImage(executable: script, arguments: ["1"]), environment: [:], errorLog: nil, timeout: 30)
        let daemon = try Self.waitForPID(in: pidFile)
        #expect(Self.runs(daemon))
        worker.stop()
        try Self.waitUntilGone(daemon)
    }

    static let AUTODEV_PROCESS_TREES = ProcessInfo.processInfo.environment["AUTODEV_PROCESS_TREES"]

    static func waitForPID(in path: String) throws -> Int32 {
        let start = MonotonicClock.now()
        while true {
            if let text = try? String(contentsOfFile: path, encoding: .utf8), let pid = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)) { return pid }
            guard MonotonicClock.seconds(since: start) < 30 else { throw ModuleError(.io, "no pid in \(path) within 30 s") }
            ProcessControl.sleep(seconds: 0.01)
        }
    }

    /// Whether `pid` runs (exists and is not a zombie).
    static func runs(_ pid: Int32) -> Bool {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8) else { return false }
        return stat.split(separator: ")").last?.split(separator: " ").first != "Z"
    }

    /// Waits (up to 30 s) until `pid` has exited (gone, or a zombie its new parent has not reaped yet).
    static func waitUntilGone(_ pid: Int32) throws {
        let start = MonotonicClock.now()
        while runs(pid) {
            guard MonotonicClock.seconds(since: start) < 30 else {
                kill(pid, SIGKILL)
                throw ModuleError(.io, "pid \(pid) still runs 30 s after its worker was stopped")
            }
            ProcessControl.sleep(seconds: 0.01)
        }
    }
}
