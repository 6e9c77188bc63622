import Foundation
import TestSupport
import Testing

extension Harness {
    /// A command started in the background (`start`), to be signalled and then finished.
    final class Running {
        let process: Process
        let out: URL
        let err: URL
        var pid: Int32 { process.processIdentifier }

        init(process: Process, out: URL, err: URL) {
            self.process = process
            self.out = out
            self.err = err
        }

        /// Waits for the exit and returns what the command printed.
        func finish() -> Result {
            process.waitUntilExit()
            defer {
                try? FileManager.default.removeItem(at: out)
                try? FileManager.default.removeItem(at: err)
            }
            return Result(status: process.terminationStatus, stdout: (try? String(contentsOf: out, encoding: .utf8)) ?? "",
                          stderr: (try? String(contentsOf: err, encoding: .utf8)) ?? "", pid: process.processIdentifier)
        }
    }

    /// Starts `arguments` with the entry point (or `executable`) and returns at once; standard
    /// input is `input`, else /dev/null.
    func start(_ arguments: [String], executable: String? = nil, environment extra: [String: String] = [:],
               directory: String? = nil, input: Pipe? = nil) throws -> Running {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable ?? entry)
        process.arguments = arguments
        process.environment = environment(extra)
        if let directory { process.currentDirectoryURL = URL(fileURLWithPath: directory) }
        let out = root.appendingPathComponent("out-\(UUID().uuidString.prefix(6))")
        let err = root.appendingPathComponent("err-\(UUID().uuidString.prefix(6))")
        FileManager.default.createFile(atPath: out.path, contents: nil)
        FileManager.default.createFile(atPath: err.path, contents: nil)
        process.standardOutput = try FileHandle(forWritingTo: out)
        process.standardError = try FileHandle(forWritingTo: err)
        if let input { process.standardInput = input } else { process.standardInput = FileHandle.nullDevice }
        try process.run()
        return Running(process: process, out: out, err: err)
    }

    /// Polls `condition` every 10 ms until it holds; false when it still does not after `seconds`.
    func waitUntil(seconds: Double, _ condition: () -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if condition() { return true }
            usleep(10_000)
        }
        return condition()
    }

    /// Runs `arguments` and kills the command if it has not ended after `seconds` (a hang is a
    /// failure of the test, not a test that never ends).
    func runBounded(_ arguments: [String], executable: String? = nil, seconds: Double = 20) throws -> (Result, ended: Bool) {
        let running = try start(arguments, executable: executable)
        let ended = Processes.waitUntilEnded(running.pid, seconds: seconds)
        if !ended { kill(running.pid, SIGKILL) }
        return (running.finish(), ended)
    }
}
