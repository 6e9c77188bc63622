import FoundationEssentials
import Glibc
import Platform
import ReleaseChannel

/// A command the dashboard runs for a key (`update check`, `update apply`, `self-upgrade
/// rollback`): a child process in a session of its own, with no terminal (standard input
/// /dev/null, its output in two files under `<home>/logs` that the dashboard reads as they
/// grow), so the view stays live while it runs and nothing it prints reaches the screen but
/// through the view's escaping.
final class DashboardAction {
    enum Kind: String {
        case check, upgrade, rollback

        var title: String {
            switch self {
            case .check: "check"
            case .upgrade: "upgrade"
            case .rollback: "roll back"
            }
        }

        func arguments(home: String) -> [String] {
            switch self {
            case .check: ["update", "check", "--home", home]
            // --json: the download's progress as one event a second on standard output.
            case .upgrade: ["update", "apply", "--yes", "--json", "--home", home]
            case .rollback: ["self-upgrade", "rollback", "--yes", "--home", home]
            }
        }
    }

    /// How an ended action went.
    struct Outcome {
        var kind: Kind
        var status: TerminationStatus
        /// The lines it printed on standard output and standard error (the newest last).
        var output: [String]
        var errors: [String]
    }

    let kind: Kind
    /// The current version when it started.
    let currentBefore: String?
    private let child: Subprocess.Running
    private let outputPath: String
    private let errorPath: String
    private var output: LogTail
    private var errors: LogTail
    /// The last progress event of a download (`update apply --json`).
    private(set) var download: DownloadMeter.Reading?
    /// When it was asked to stop (SIGTERM to its process group), for the SIGKILL that follows.
    private var stopRequested: UInt64?

    /// Starts `kind` for `home` with `executable`.
    /// - Throws: when its output files cannot be made or it cannot be started.
    init(_ kind: Kind, executable: String, home: String, logs: String, currentBefore: String?) throws {
        self.kind = kind
        self.currentBefore = currentBefore
        try FileSystem.createOwnDirectory(logs, below: home)
        let stem = logs + "/dashboard-\(ProcessControl.id)-\(kind.rawValue)"
        let outputPath = stem + ".out"
        let errorPath = stem + ".err"
        self.outputPath = outputPath
        self.errorPath = errorPath
        // Made here, never through a link planted at the name, and read back as the child writes.
        for path in [outputPath, errorPath] {
            if FileSystem.exists(path) { try FileSystem.removeFile(path) }
            try FileDescriptor.open(path, [.writeOnly, .create, .exclusive, .noFollow], mode: 0o600).close()
        }
        let output = try LogTail(outputPath)
        let errors = try LogTail(errorPath)
        var configuration = Subprocess.Configuration(executable: executable, arguments: kind.arguments(home: home),
                                                     environment: ProcessControl.environment())
        configuration.outputPath = outputPath
        configuration.errorPath = errorPath
        do {
            child = try Subprocess.launch(configuration)
        } catch {
            output.close()
            errors.close()
            try? FileSystem.removeFile(outputPath)
            try? FileSystem.removeFile(errorPath)
            throw error
        }
        self.output = output
        self.errors = errors
    }

    /// Seconds since it started.
    var elapsed: Double { child.elapsed }

    /// The newest line it printed (standard error first: what it is doing), escaped.
    var lastLine: String? {
        errors.lines.last(where: { !$0.isEmpty }) ?? output.lines.last(where: { !$0.isEmpty && !$0.hasPrefix("{") })
    }

    /// Reads what it printed since the last call; returns how it ended once it has, and then
    /// removes its output files.
    func poll() -> Outcome? {
        output.read()
        errors.read()
        for line in output.lines.suffix(4).reversed() where line.hasPrefix("{\"") {
            if let event = try? JSONDecoder().decode(Event.self, from: Data(line.utf8)), event.event == "download" || event.event == "downloaded",
               let bytes = event.bytes, let total = event.total {
                download = DownloadMeter.Reading(bytes: bytes, total: total, rate: Double(event.rate ?? 0), secondsLeft: event.secondsLeft.map(Double.init))
                break
            }
        }
        if let requested = stopRequested, MonotonicClock.seconds(since: requested) > 2 { child.terminate() }
        let status: TerminationStatus?
        do {
            status = try child.poll()
        } catch {
            // A cancellation of the dashboard (SIGINT, SIGTERM): the child was killed with its group.
            status = .signaled(SIGKILL)
        }
        guard let status else { return nil }
        output.read()
        errors.read()
        output.close()
        errors.close()
        try? FileSystem.removeFile(outputPath)
        try? FileSystem.removeFile(errorPath)
        return Outcome(kind: kind, status: status, output: output.lines, errors: errors.lines)
    }

    /// Asks it to stop (SIGTERM to its process group: a download keeps what arrived, a
    /// transaction is undone); SIGKILL follows after two seconds.
    func stop() {
        guard stopRequested == nil, !child.isReaped else { return }
        stopRequested = MonotonicClock.now()
        _ = kill(-child.pid, SIGTERM)
    }

    /// Stops it and waits until it has ended (at most about two seconds).
    func stopAndWait() -> Outcome? {
        stop()
        while true {
            if let outcome = poll() { return outcome }
            usleep(20_000)
        }
    }

    /// One JSON event of `update apply --json`.
    private struct Event: Decodable {
        var event: String
        var bytes: Int?
        var total: Int?
        var rate: Int?
        var secondsLeft: Int?
    }
}

/// The lines of a file another process appends to, read as it grows; the newest 50 are kept
/// (and the line in progress), each at most 1,000 characters.
struct LogTail {
    private let descriptor: FileDescriptor
    private var pending: [UInt8] = []
    private(set) var lines: [String] = []

    init(_ path: String) throws {
        descriptor = try FileDescriptor.open(path, [.readOnly, .noFollow, .nonBlocking])
    }

    mutating func read() {
        var buffer = [UInt8](repeating: 0, count: 65_536)
        // Bounded: a child that writes without end is read a few MiB a tick at most.
        for _ in 0..<64 {
            let count = (try? buffer.withUnsafeMutableBytes { try descriptor.read(into: $0) }) ?? 0
            guard count > 0 else { break }
            for byte in buffer[..<count] {
                if byte == 10 {
                    append(pending)
                    pending.removeAll(keepingCapacity: true)
                } else if pending.count < 4000 {
                    pending.append(byte)
                }
            }
        }
    }

    /// The lines, and the one in progress.
    var all: [String] { pending.isEmpty ? lines : lines + [String(decoding: pending, as: UTF8.self)] }

    private mutating func append(_ bytes: [UInt8]) {
        // A carriage return rewrites a line in place: what follows the last one is what shows.
        let shown = bytes.split(separator: 13, omittingEmptySubsequences: true).last.map(Array.init) ?? []
        lines.append(String(String(decoding: shown, as: UTF8.self).prefix(1000)))
        if lines.count > 50 { lines.removeFirst(lines.count - 50) }
    }

    func close() { try? descriptor.close() }
}
