import Platform

/// Why a module operation failed. The description names the module, the action and the cause.
public struct ModuleError: Error, Sendable, CustomStringConvertible, Equatable {
    /// What kind of failure; callers branch on it.
    public enum Code: String, Sendable {
        case unknownModule, alreadyRunning, busy, spawn, io, workerFailed, incompatible, drainTimeout,
             corruptState, health, injected, journal, invalidName, untrusted, refused
    }

    public var code: Code
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }
}

/// The eight phases of a reload, in order; ``commit`` and ``rollback`` end it.
public enum ReloadPhase: String, Sendable, Codable, CaseIterable {
    case prepare, drain, snapshot, migrate, swap, restore, verify, commit, rollback

    /// The phases a reload runs before it ends in commit or rollback.
    public static let steps: [ReloadPhase] = [.prepare, .drain, .snapshot, .migrate, .swap, .restore, .verify]
}

/// How a module version is started: a program and its arguments (and extra environment).
public struct ModuleImage: Sendable, Equatable, Codable {
    /// The worker program.
    public var executable: String
    /// Its arguments (`module-worker counter@2` for the workers built into autodev).
    public var arguments: [String]
    /// Variables added to the worker's environment (fault injection in tests).
    public var environment: [String: String]

    public init(executable: String, arguments: [String] = [], environment: [String: String] = [:]) {
        self.executable = executable
        self.arguments = arguments
        self.environment = environment
    }

    /// `executable arguments…`, for the journal and messages.
    public var commandLine: String { ([executable] + arguments).joined(separator: " ") }
}

/// The outcome of a reload, with each phase's time.
public struct ReloadReport: Sendable, Codable, Equatable {
    public var module: String
    public var reload: String
    public var committed: Bool
    /// The phase that failed (for a rollback).
    public var failedPhase: ReloadPhase?
    public var reason: String?
    public var fromVersion: String
    public var toVersion: String
    public var fromSchema: Int
    public var toSchema: Int
    /// Milliseconds of each phase that ran, in order.
    public var phases: [PhaseTime]
    /// Messages that arrived during the reload (queued, then answered by the version in place).
    public var queued: Int
    /// Milliseconds from the request to committed (or rolled back).
    public var milliseconds: Double

    public struct PhaseTime: Sendable, Codable, Equatable {
        public var phase: ReloadPhase
        public var milliseconds: Double
    }
}
