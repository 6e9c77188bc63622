import FoundationEssentials
import Platform

/// Tells the person's notification command what happened to an installation: an update is
/// available, one was applied, a version was rolled back, an update failed, a stored version is
/// damaged.
///
/// The command (``UpdateSettings/notifyCommand``, an absolute path) runs with the event's name as
/// its only argument and the event as one JSON object on standard input, in its own session, with
/// no terminal. It is bounded: at ``UpdateSettings/notifyTimeoutSeconds`` it is killed with its
/// whole process group. Nothing it does changes the outcome of what is reported: every failure
/// (it cannot start, exits non-zero, times out) is one line in `<home>/logs/notify.log`, and its
/// own output goes to `<home>/logs/notify-output.log` (the last run's).
public struct UpdateNotifier: Sendable {
    /// What happened.
    public enum Event: String, Sendable, Codable, CaseIterable {
        case updateAvailable = "update-available"
        case applied
        case rolledBack = "rolled-back"
        case failed
        case integrityProblem = "integrity-problem"
    }

    /// One event as the command reads it on standard input.
    public struct Message: Sendable, Codable, Equatable {
        public var event: Event
        /// The program's name ("autodev").
        public var program: String
        /// The installation's home.
        public var home: String
        /// When it happened (ISO 8601, UTC).
        public var time: String
        /// The version running when it happened.
        public var currentVersion: String?
        /// The version the event is about (offered, applied, returned to).
        public var version: String?
        /// The version before (applied, rolled back).
        public var fromVersion: String?
        /// The release is marked critical (update available).
        public var critical: Bool?
        /// What a person should read (why it failed, what is damaged).
        public var message: String?

        public init(event: Event, program: String, home: String, currentVersion: String? = nil, version: String? = nil,
                    fromVersion: String? = nil, critical: Bool? = nil, message: String? = nil) {
            self.event = event
            self.program = program
            self.home = home
            time = WallClock.iso8601(WallClock.now())
            self.currentVersion = currentVersion
            self.version = version
            self.fromVersion = fromVersion
            self.critical = critical
            self.message = message
        }
    }

    /// How a notification ended.
    public enum Outcome: Sendable, Equatable {
        /// No command is configured.
        case notConfigured
        /// The command exited 0.
        case delivered
        /// It did not: why, as logged.
        case failed(String)
    }

    /// The installation's home.
    public let homeDirectory: String
    /// The program whose events these are.
    public let program: ProgramIdentity
    /// The settings naming the command and its bound.
    public let settings: UpdateSettings

    /// A notifier for `program`'s home at `homeDirectory` with `settings` (by default, its
    /// config.json's; a config.json that cannot be read means no notifications, never a failed command).
    public init(homeDirectory: String, program: ProgramIdentity, settings: UpdateSettings? = nil) {
        self.homeDirectory = homeDirectory
        self.program = program
        self.settings = settings ?? (try? UpdateSettings.load(homeDirectory: homeDirectory)) ?? UpdateSettings()
    }

    /// Whether `<homeDirectory>/config.json` may name a notification command, read without
    /// decoding the file (a command's hot path, a rollback's, asks this first): true when the key
    /// is there as it is usually written, or when the file has a `\u` escape that could spell it
    /// (the caller then decodes the file to know).
    public static func isConfigured(homeDirectory: String) -> Bool {
        guard let bytes = try? FileSystem.readOwnFile(homeDirectory + "/config.json", maxBytes: UpgradeConfiguration.largestFileBytes) else { return false }
        return contains(bytes, Array("\"notifyCommand\"".utf8)) || contains(bytes, Array("\\u".utf8))
    }

    private static func contains(_ bytes: [UInt8], _ needle: [UInt8]) -> Bool {
        guard bytes.count >= needle.count else { return false }
        return (0...(bytes.count - needle.count)).contains { bytes[$0..<$0 + needle.count].elementsEqual(needle) }
    }

    /// Sends `event` about this program (see ``send(_:)-(Message)``).
    @discardableResult
    public func send(_ event: Event, version: String? = nil, fromVersion: String? = nil, critical: Bool? = nil, message: String? = nil) -> Outcome {
        send(Message(event: event, program: program.name, home: homeDirectory, currentVersion: program.version, version: version,
                     fromVersion: fromVersion, critical: critical, message: message))
    }

    /// Runs the notification command for `message` and waits for it, at most the configured
    /// bound. Never throws: a failure is logged and returned.
    @discardableResult
    public func send(_ message: Message) -> Outcome {
        guard let command = settings.notifyCommand else { return .notConfigured }
        let logs = homeDirectory + "/logs"
        let failure: String
        do {
            try FileSystem.createOwnDirectory(logs, below: homeDirectory, mode: 0o700)
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            let input = logs + "/notify-event.json"
            try FileSystem.writeAtomically(input, Array(try encoder.encode(message)) + [10], mode: 0o600, owner: nil, durable: false)
            var configuration = Subprocess.Configuration(executable: command, arguments: [message.event.rawValue],
                                                         environment: environment())
            configuration.inputPath = input
            configuration.outputPath = logs + "/notify-output.log"
            configuration.errorPath = configuration.outputPath
            configuration.timeoutSeconds = settings.notifyTimeoutSeconds
            configuration.workingDirectory = homeDirectory
            let status = try Self.runContained(configuration)
            if status.isSuccess {
                log("\(message.event.rawValue): delivered")
                return .delivered
            }
            failure = "\(TerminalText.escaped(command, limit: 200)) \(status)"
        } catch {
            failure = "\(TerminalText.escaped(command, limit: 200)): \(error)"
        }
        log("\(message.event.rawValue): not delivered: \(failure)")
        return .failed(failure)
    }

    /// The notification commands' process trees, one cgroup (and one watcher) per process
    /// that sends notifications, made at the first.
    private static let trees = ProcessTrees.start(name: "notify")

    /// Runs the command in a process tree of its own (a cgroup leaf, or this process as
    /// subreaper), ended whole when the command ends or is killed at its bound: a daemon it
    /// started with `setsid` does not outlive it.
    private static func runContained(_ configuration: Subprocess.Configuration) throws -> TerminationStatus {
        var configuration = configuration
        let before = Set(ProcessTrees.descendants(of: ProcessControl.id))
        configuration.cgroup = trees.makeLeaf()
        defer {
            trees.end(configuration.cgroup, root: nil)
            trees.killOrphans(keeping: before)
        }
        do {
            return try Subprocess.run(configuration)
        } catch let error as Subprocess.LaunchError where error.step == "cgroup" {
            trees.end(configuration.cgroup, root: nil)
            trees.fallBack(because: "the notification command could not join its cgroup: \(error.errno)")
            configuration.cgroup = nil
            return try Subprocess.run(configuration)
        }
    }

    /// Appends one line to `<home>/logs/notify.log` (never through a link; best effort).
    private func log(_ line: String) {
        let path = homeDirectory + "/logs/notify.log"
        guard (try? FileSystem.createOwnDirectory(homeDirectory + "/logs", below: homeDirectory, mode: 0o700)) != nil,
              let descriptor = try? FileDescriptor.openOwned(path, [.writeOnly, .create, .append], mode: 0o600) else { return }
        defer { try? descriptor.close() }
        try? descriptor.writeAll(Array("\(WallClock.iso8601(WallClock.now())) \(TerminalText.escaped(line, limit: 2000))\n".utf8))
    }

    /// The environment without the variables that carry a transaction across an exec.
    private func environment() -> [String: String] {
        ProcessControl.environment().filter { !$0.key.hasPrefix(program.environmentPrefix) }
    }
}
