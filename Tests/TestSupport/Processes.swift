import Foundation

/// The processes of this machine, as tests see them through `/proc`.
public enum Processes {
    /// Runs `executable` with `arguments` to its end (mount(8) and umount(8) for a test's
    /// scratch mounts, and the like).
    /// - Returns: its exit status.
    public static func run(_ executable: String, _ arguments: [String]) throws -> Int32 {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        try process.run()
        process.waitUntilExit()
        return process.terminationStatus
    }

    /// The pids of live processes whose command line contains `text` (a zombie's is empty).
    public static func commandLineContaining(_ text: String) -> [Int32] {
        ((try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []).compactMap { entry in
            guard let pid = Int32(entry), let bytes = FileManager.default.contents(atPath: "/proc/\(entry)/cmdline") else { return nil }
            let commandLine = String(decoding: bytes.map { $0 == 0 ? 0x20 : $0 }, as: UTF8.self)
            return commandLine.contains(text) ? pid : nil
        }
    }

    /// The live processes' pids with their parent's and their session's (`/proc/<pid>/stat`).
    public static func all() -> [(pid: Int32, parent: Int32, session: Int32)] {
        ((try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []).compactMap { entry in
            guard let pid = Int32(entry), let stat = try? String(contentsOfFile: "/proc/\(entry)/stat", encoding: .utf8),
                  let close = stat.lastIndex(of: ")") else { return nil }
            // After the name: state, parent, process group, session.
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            guard fields.count > 3, let parent = Int32(fields[1]), let session = Int32(fields[3]) else { return nil }
            return (pid, parent, session)
        }
    }

    /// What the process `pid` is blocked in (`/proc/<pid>/wchan`), empty when it runs.
    public static func waitChannel(_ pid: Int32) -> String {
        (try? String(contentsOfFile: "/proc/\(pid)/wchan", encoding: .utf8)) ?? ""
    }

    /// Waits until the process `pid` has ended: a zombie its parent has not reaped yet, or gone.
    /// - Returns: false when it still runs after `seconds`.
    public static func waitUntilEnded(_ pid: Int32, seconds: Double = 10) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8), let name = stat.lastIndex(of: ")"),
                  let state = stat[name...].dropFirst(2).first else { return true }
            if state == "Z" || state == "X" { return true }
            usleep(1_000)
        }
        return false
    }

    /// Waits until the process `pid` is stopped (SIGSTOP): state `T`.
    /// - Returns: false when it is not stopped after `seconds`, or has ended.
    public static func waitUntilStopped(_ pid: Int32, seconds: Double = 10) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8), let name = stat.lastIndex(of: ")"),
                  let state = stat[name...].dropFirst(2).first else { return false }
            if state == "T" { return true }
            if state == "Z" || state == "X" { return false }
            usleep(1_000)
        }
        return false
    }

    /// Waits until no live process has `text` in its command line, for at most `seconds`
    /// (killed processes take a moment to leave `/proc`). Returns the ones still there.
    public static func waitUntilGone(commandLineContaining text: String, seconds: Double = 5) -> [Int32] {
        let deadline = Date().addingTimeInterval(seconds)
        var survivors = commandLineContaining(text)
        while !survivors.isEmpty, Date() < deadline {
            usleep(20_000)
            survivors = commandLineContaining(text)
        }
        return survivors
    }
}
