import Foundation

/// The processes of this machine, as tests see them through `/proc`.
public enum Processes {
    /// The pids of live processes whose command line contains `text` (a zombie's is empty).
    public static func commandLineContaining(_ text: String) -> [Int32] {
        ((try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []).compactMap { entry in
            guard let pid = Int32(entry), let bytes = FileManager.default.contents(atPath: "/proc/\(entry)/cmdline") else { return nil }
            let commandLine = String(decoding: bytes.map { $0 == 0 ? 0x20 : $0 }, as: UTF8.self)
            return commandLine.contains(text) ? pid : nil
        }
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
