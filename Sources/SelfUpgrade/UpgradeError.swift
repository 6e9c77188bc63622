import Platform

/// Why an upgrade, rollback or recovery did not happen. Each message names the path and action.
public enum UpgradeError: Error, Sendable, CustomStringConvertible {
    case notInitialized(home: String)
    case alreadyInitialized(home: String, current: String)
    case homeNotWritable(path: String, reason: String)
    case locked(path: String, holder: String?)
    case candidateMissing(path: String)
    case candidateIsDirectory(path: String)
    case candidateNotRegular(path: String)
    case candidateNotExecutable(path: String, mode: String)
    case insufficientSpace(path: String, needed: Int, available: UInt64)
    case differentFileSystems(staging: String, versions: String)
    case verificationFailed(binary: String, reason: String, log: String)
    case noPreviousVersion
    case alreadyCurrent(id: String)
    case restartLoop(count: Int, seconds: Double)
    case healthCheckFailed(reason: String)
    case invalidConfiguration(path: String, reason: String)
    case injectedFailure(point: String)
    case cancelled
    case sourceNotPackage(path: String, reason: String)
    case toolMissing(name: String)
    case toolFailed(command: String, status: String, problems: [String], log: String)
    case undoFailed(cause: String, failures: [String])
    case nothingToRepairFrom(home: String, damaged: [String])

    public var description: String {
        switch self {
        case .notInitialized(let home):
            "No installation at \"\(home)\": run 'autodev init' first (or pass --home DIR)"
        case .alreadyInitialized(let home, let current):
            "\"\(home)\" is already initialized (current version \(current))"
        case .homeNotWritable(let path, let reason):
            "The home \"\(path)\" is not writable: \(reason)"
        case .locked(let path, let holder):
            "Another transaction holds the lock \"\(path)\"" + (holder.map { " (process \($0))" } ?? "") + "; try again when it has finished"
        case .candidateMissing(let path):
            "The candidate \"\(path)\" does not exist"
        case .candidateIsDirectory(let path):
            "The candidate \"\(path)\" is a directory, not a program"
        case .candidateNotRegular(let path):
            "The candidate \"\(path)\" is not a regular file"
        case .candidateNotExecutable(let path, let mode):
            "The candidate \"\(path)\" is not executable (mode \(mode)); make it so with chmod +x"
        case .insufficientSpace(let path, let needed, let available):
            "Not enough free space in \"\(path)\": \(needed) bytes needed, \(available) available"
        case .differentFileSystems(let staging, let versions):
            "\"\(staging)\" and \"\(versions)\" are on different file systems, so the swap could not be atomic"
        case .verificationFailed(let binary, let reason, let log):
            "Verification of \"\(binary)\" failed: \(reason) (log: \(log))"
        case .noPreviousVersion:
            "There is no previous version to roll back to"
        case .alreadyCurrent(let id):
            "Version \(id) is already the current version"
        case .restartLoop(let count, let seconds):
            "Refusing to restart again: \(count) restarts in the last \(Int(seconds)) s (restart-loop guard)"
        case .healthCheckFailed(let reason):
            "The new version failed its health check after restart: \(reason)"
        case .invalidConfiguration(let path, let reason):
            "The configuration \"\(path)\" is invalid: \(reason)"
        case .injectedFailure(let point):
            "Injected failure at \(point) (AUTODEV_FAILPOINT)"
        case .cancelled:
            "Cancelled; nothing was changed"
        case .sourceNotPackage(let path, let reason):
            "The source \"\(path)\" is not a Swift package: \(reason)"
        case .toolMissing(let name):
            "'\(name)' was not found on PATH; a source upgrade needs the Swift toolchain"
        case .undoFailed(let cause, let failures):
            "The transaction failed (\(cause)) and undoing it failed too: " + failures.joined(separator: "; ")
        case .nothingToRepairFrom(let home, let damaged):
            "No intact version is stored in \"\(home)\" to rebuild the journal from" + (damaged.isEmpty ? "" : " (damaged: \(damaged.joined(separator: ", ")))")
        case .toolFailed(let command, let status, let problems, let log):
            "'\(command)' \(status)" + (problems.isEmpty ? "" : ":\n" + problems.map { "  " + $0 }.joined(separator: "\n"))
                + "\nFull log: \(log)"
        }
    }
}
