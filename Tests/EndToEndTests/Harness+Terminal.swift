import Foundation
import TestSupport
import Testing

/// A program run in a real pseudo-terminal (a private tmux server): keys sent as a person types
/// them, the screen read back as text.
final class TerminalSession {
    private let socket: String
    private let name = "autodev"

    static var available: Bool { FileManager.default.isExecutableFile(atPath: "/usr/bin/tmux") }

    /// Starts `arguments` (with `environment`) in a `columns`×`rows` terminal. When it ends, the
    /// pane shows the terminal's mode ("[mode icanon echo ]", from `stty -a`), then "[exit N]",
    /// and stays open. The pane's shell survives Ctrl-C and Ctrl-Z (traps, which the program does
    /// not inherit: it meets SIGINT and SIGTSTP as it would in any terminal).
    /// With `jobControl`, the shell runs the program as a job of its own (`set -m`), as an
    /// interactive shell does: Ctrl-Z stops it (the pane shows "[stopped]"), and Enter then
    /// continues it in the foreground (`fg`).
    init(_ arguments: [String], environment: [String: String], directory: String, columns: Int = 100, rows: Int = 30,
         jobControl: Bool = false) throws {
        socket = directory + "/tmux-\(UUID().uuidString.prefix(6))"
        let assignments = environment.sorted { $0.key < $1.key }.map { Self.quoted("\($0.key)=\($0.value)") }
        let resume = jobControl ? "while [ $status -eq 148 ]; do echo '[stopped]'; read _; fg >/dev/null; status=$?; done; " : ""
        let command = "trap : INT TSTP; \(jobControl ? "set -m; " : "")cd \(Self.quoted(directory)) && env -i \(assignments.joined(separator: " ")) \(arguments.map(Self.quoted).joined(separator: " ")); "
            + "status=$?; \(resume)echo \"[mode $(stty -a | tr ' ;' '\\n\\n' | grep -E '^-?(icanon|echo)$' | tr '\\n' ' ')]\"; echo \"[exit $status]\"; sleep 3600"
        try tmux(["new-session", "-d", "-s", name, "-x", "\(columns)", "-y", "\(rows)", "sh", "-c", command])
    }

    deinit { stop() }

    /// Ends the terminal and everything in it: SIGKILL for the program, the pane's shell and the
    /// server when they are still there a moment after kill-server (a server started from a
    /// process that blocks signals may not honour it).
    func stop() {
        let server = (try? tmux(["display-message", "-p", "-t", name, "#{pid}"])).flatMap { Int32($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
        let shell = (try? tmux(["display-message", "-p", "-t", name, "#{pane_pid}"])).flatMap { Int32($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
        let program = programPID()
        _ = try? tmux(["kill-server"])
        for pid in [program, shell, server].compactMap({ $0 }) where pid > 1 {
            if !Processes.waitUntilEnded(pid, seconds: 1) { kill(pid, SIGKILL) }
        }
    }

    /// The program's pid while it runs: the child of the pane's shell (`env` execs into it).
    func programPID() -> Int32? {
        guard let shell = (try? tmux(["display-message", "-p", "-t", name, "#{pane_pid}"]))?.trimmingCharacters(in: .whitespacesAndNewlines),
              let children = try? String(contentsOfFile: "/proc/\(shell)/task/\(shell)/children", encoding: .utf8) else { return nil }
        return children.split(separator: " ").first.flatMap { Int32($0) }
    }

    /// The pane's title as the program set it (with an OSC sequence, say).
    func title() throws -> String { try tmux(["display-message", "-p", "-t", name, "#{pane_title}"]) }

    /// One of tmux's format variables for the pane (`alternate_on`, `pane_tty`), trimmed.
    func format(_ variable: String) throws -> String {
        try tmux(["display-message", "-p", "-t", name, "#{\(variable)}"]).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// The terminal's line editing and echo as `stty` reports them now ("icanon echo", "-icanon -echo").
    func lineMode() throws -> String {
        let tty = try format("pane_tty")
        let output = Pipe()
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/stty")
        process.arguments = ["-F", tty, "-a"]
        process.standardOutput = output
        try process.run()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        return text.split(whereSeparator: { $0 == " " || $0 == ";" || $0 == "\n" })
            .filter { ["icanon", "-icanon", "echo", "-echo"].contains($0) }.joined(separator: " ")
    }

    func resize(columns: Int, rows: Int) throws {
        try tmux(["resize-window", "-t", name, "-x", "\(columns)", "-y", "\(rows)"])
    }

    /// The visible rows now, one string a row (trailing blanks dropped, as tmux prints them).
    func rows() -> [String] {
        let text = (try? tmux(["capture-pane", "-p", "-t", name])) ?? ""
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        if lines.last == "" { lines.removeLast() }
        return lines
    }

    /// Polls the visible rows until `condition` holds (every 50 ms, up to `seconds`): the rows
    /// then, or nil.
    @discardableResult
    func waitForRows(seconds: Double = 20, _ condition: ([String]) -> Bool) -> [String]? {
        let deadline = Date().addingTimeInterval(seconds)
        repeat {
            let lines = rows()
            if condition(lines) { return lines }
            usleep(50_000)
        } while Date() < deadline
        return nil
    }

    /// Waits until some visible row contains `text`.
    @discardableResult
    func waitForRow(containing text: String, seconds: Double = 20) -> [String]? {
        waitForRows(seconds: seconds) { $0.contains { $0.contains(text) } }
    }

    /// Whether the pane, once the program ended, showed the terminal back in canonical mode with
    /// echo (the "[mode …]" line).
    func modeRestored() throws -> Bool { try screen().contains("[mode icanon echo ]") }

    /// Types `text` as it is (no key names).
    func type(_ text: String) throws { try tmux(["send-keys", "-t", name, "-l", text]) }

    /// Types `keys` (tmux key names: "Enter", "Escape", "C-c", or literal text).
    func send(_ keys: String...) throws { try tmux(["send-keys", "-t", name] + keys) }

    /// The pane's text now, trailing blanks removed.
    func screen() throws -> String { try tmux(["capture-pane", "-p", "-J", "-t", name, "-S", "-200"]) }

    /// Polls the screen until `text` shows (every 50 ms, up to `seconds`); the screen as it last was.
    @discardableResult
    func waitFor(_ text: String, seconds: Double = 30) throws -> (found: Bool, screen: String) {
        let deadline = Date().addingTimeInterval(seconds)
        var last = ""
        repeat {
            last = try screen()
            if last.contains(text) { return (true, last) }
            usleep(50_000)
        } while Date() < deadline
        return (false, last)
    }

    /// The exit status the pane shows once the program has ended.
    func exitStatus(seconds: Double = 60) throws -> Int? {
        let (found, screen) = try waitFor("[exit ", seconds: seconds)
        guard found, let range = screen.range(of: "[exit ") else { return nil }
        return Int(screen[range.upperBound...].prefix(while: \.isNumber))
    }

    @discardableResult
    private func tmux(_ arguments: [String]) throws -> String {
        // posix_spawn and waitpid, output to a file: the server tmux forks keeps what it inherits
        // open for as long as it runs, and Foundation's Process did not see the client end.
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("tmux-output-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        // Nothing else of the test's: the server would hold, say, a loopback server's input open.
        for name in (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? [] {
            if let descriptor = Int32(name), descriptor > 2 { posix_spawn_file_actions_addclose(&actions, descriptor) }
        }
        let argv = ["/usr/bin/tmux", "-S", socket, "-f", "/dev/null"] + arguments
        var pointers = argv.map { strdup($0) } + [nil]
        defer { pointers.forEach { free($0) } }
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, "/usr/bin/tmux", &actions, nil, &pointers, environ)
        guard spawned == 0 else { throw TerminalError(message: "tmux could not start: errno \(spawned)") }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
        let text = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
        if status != 0 && arguments.first != "kill-server" {
            throw TerminalError(message: "tmux \(arguments.first ?? "") failed: \(text)")
        }
        return text
    }

    private static func quoted(_ text: String) -> String { "'" + text.replacingOccurrences(of: "'", with: "'\\''") + "'" }

    struct TerminalError: Error, CustomStringConvertible {
        var message: String
        var description: String { message }
    }
}
