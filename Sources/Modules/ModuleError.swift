import Platform

/// Why a module operation failed. The description names the module, the action and the cause.
package struct ModuleError: Error, Sendable, CustomStringConvertible, Equatable {
    /// What kind of failure; callers branch on it.
    package enum Code: String, Sendable {
        case unknownModule, alreadyRunning, busy, spawn, io, workerFailed, incompatible, drainTimeout,
             corruptState, health, injected, journal, invalidName, untrusted, refused
    }

    package var code: Code
    package var message: String

    package init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    package var description: String { message }
}

/// The eight phases of a reload, in order; ``commit`` and ``rollback`` end it.
package enum ReloadPhase: String, Sendable, Codable, CaseIterable {
    case prepare, drain, snapshot, migrate, swap, restore, verify, commit, rollback

    /// The phases a reload runs before it ends in commit or rollback.
    package static let steps: [ReloadPhase] = [.prepare, .drain, .snapshot, .migrate, .swap, .restore, .verify]
}

/// How a module version is started: a program and its arguments (and extra environment).
package struct ModuleImage: Sendable, Equatable, Codable {
    /// The worker program.
    package var executable: String
    /// Its arguments (`module-worker counter@2` for the workers built into autodev).
    package var arguments: [String]
    /// Variables added to the worker's environment (fault injection in tests).
    package var environment: [String: String]

    package init(executable: String, arguments: [String] = [], environment: [String: String] = [:]) {
        self.executable = executable
        self.arguments = arguments
        self.environment = environment
    }

    /// `executable arguments…`, for the journal and messages.
    package var commandLine: String { ([executable] + arguments).joined(separator: " ") }
}

/// The outcome of a reload, with each phase's time.
package struct ReloadReport: Sendable, Codable, Equatable {
    package var module: String
    package var reload: String
    package var committed: Bool
    /// The phase that failed (for a rollback).
    package var failedPhase: ReloadPhase?
    package var reason: String?
    package var fromVersion: String
    package var toVersion: String
    package var fromSchema: Int
    package var toSchema: Int
    /// Milliseconds of each phase that ran, in order.
    package var phases: [PhaseTime]
    /// Messages that arrived during the reload (queued, then answered by the version in place).
    package var queued: Int
    /// Milliseconds from the request to committed (or rolled back).
    package var milliseconds: Double

    package struct PhaseTime: Sendable, Codable, Equatable {
        package var phase: ReloadPhase
        package var milliseconds: Double
    }
}
