import Platform
import Storage

/// Why an upgrade, rollback, repair or recovery did not happen.
///
/// A ``code`` to branch on (new codes can be added without breaking a `switch` over them, as
/// swift-subprocess does), a message that names the path and the action, and the underlying
/// error when there is one. Everything the library throws from its public methods is this type.
public struct UpgradeError: Error, Sendable, CustomStringConvertible {
    /// What went wrong, by kind.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        let name: String
        init(_ name: String) { self.name = name }
        public var description: String { name }

        /// The home has no installation.
        public static let notInitialized = Code("not-initialized")
        /// The home already has an installation.
        public static let alreadyInitialized = Code("already-initialized")
        /// The home (or a file in it) cannot be written.
        public static let homeNotWritable = Code("home-not-writable")
        /// Another transaction holds the home's lock.
        public static let locked = Code("locked")
        /// The candidate is missing, not a regular file, or not executable.
        public static let invalidCandidate = Code("invalid-candidate")
        /// Not enough free space for the candidate and its logs.
        public static let insufficientSpace = Code("insufficient-space")
        /// Staging and the store are on different file systems.
        public static let differentFileSystems = Code("different-file-systems")
        /// The candidate failed its sandboxed verification.
        public static let verificationFailed = Code("verification-failed")
        /// There is no version to roll back to.
        public static let noPreviousVersion = Code("no-previous-version")
        /// No stored or known version has the id prefix asked for, more than one has, or the
        /// prefix is not 7 to 64 hex digits.
        public static let unknownVersion = Code("unknown-version")
        /// The target is already the current version.
        public static let alreadyCurrent = Code("already-current")
        /// The restart-loop guard refused another restart.
        public static let restartLoop = Code("restart-loop")
        /// The new version failed its health check after restart.
        public static let healthCheckFailed = Code("health-check-failed")
        /// The home's configuration cannot be read.
        public static let invalidConfiguration = Code("invalid-configuration")
        /// A crash-test hook fired.
        public static let injectedFailure = Code("injected-failure")
        /// The user cancelled.
        public static let cancelled = Code("cancelled")
        /// The host's acceptance judgement (``Upgrader/UpgradeOptions/acceptance``) refused the
        /// verified candidate; ``UpgradeError/underlying`` is what it threw.
        public static let notAccepted = Code("not-accepted")
        /// The source to build is not a Swift package.
        public static let sourceNotPackage = Code("source-not-package")
        /// A tool the upgrade needs is missing.
        public static let toolMissing = Code("tool-missing")
        /// A build or test tool failed.
        public static let toolFailed = Code("tool-failed")
        /// Undoing a failed transaction failed too.
        public static let undoFailed = Code("undo-failed")
        /// The journal cannot be used until it is repaired.
        public static let journalDamaged = Code("journal-damaged")
        /// A stored version is missing or its bytes no longer match its id.
        public static let versionDamaged = Code("version-damaged")
        /// The home's files are not as the library left them (a planted link, a state file it
        /// cannot read).
        public static let homeDamaged = Code("home-damaged")
        /// No snapshot of configuration and state was kept for the version asked for.
        public static let noSnapshot = Code("no-snapshot")
        /// A system call failed.
        public static let system = Code("system")
    }

    public var code: Code
    /// The whole message, naming the path and the action.
    public var message: String
    /// The file or directory it is about, when there is one.
    public var path: String?
    /// The error this one wraps.
    public var underlying: (any Error & Sendable)?

    public init(_ code: Code, _ message: String, path: String? = nil, underlying: (any Error & Sendable)? = nil) {
        self.code = code
        self.message = message
        self.path = path
        self.underlying = underlying
    }

    public var description: String { message }

    /// `error` as an ``UpgradeError``: itself when it is one, else wrapped with a code by kind.
    package init(wrapping error: any Error) {
        switch error {
        case let error as UpgradeError:
            self = error
        case let error as StorageError:
            switch error {
            case .corruptJournal(let path, _, _), .unusableJournal(let path, _):
                self.init(.journalDamaged, error.description, path: path, underlying: error)
            case .missingVersion(_, let path), .damagedVersion(_, let path, _), .unsafeVersion(_, let path, _):
                self.init(.versionDamaged, error.description, path: path, underlying: error)
            case .unexpectedLink(let path, _), .notADirectory(let path), .corruptState(let path, _), .newerState(let path, _, _),
                 .missingMigration(let path, _), .incompleteArchive(let path, _, _), .unusableArchive(let path, _):
                self.init(.homeDamaged, error.description, path: path, underlying: error)
            case .ambiguousVersion, .unknownVersion, .invalidVersionPrefix:
                self.init(.unknownVersion, error.description, underlying: error)
            }
        case let error as SystemError:
            self.init(.system, error.description, path: error.path, underlying: error)
        case let error as Subprocess.Cancelled:
            self.init(.cancelled, "Cancelled by signal \(error.signal); nothing was changed", underlying: error)
        default:
            self.init(.system, "\(error)")
        }
    }

    /// Runs `body`, turning whatever it throws into an ``UpgradeError``.
    package static func wrapping<Result>(_ body: () throws -> Result) throws(UpgradeError) -> Result {
        do {
            return try body()
        } catch {
            throw UpgradeError(wrapping: error)
        }
    }
}

// MARK: - The errors the library raises

extension UpgradeError {
    public static func notInitialized(home: String) -> UpgradeError {
        UpgradeError(.notInitialized, "No installation at \"\(home)\"", path: home)
    }
    package static func alreadyInitialized(home: String, current: String) -> UpgradeError {
        UpgradeError(.alreadyInitialized, "\"\(home)\" is already initialized (current version \(current))", path: home)
    }
    package static func homeNotWritable(path: String, reason: String) -> UpgradeError {
        UpgradeError(.homeNotWritable, "The home \"\(path)\" is not writable: \(reason)", path: path)
    }
    package static func locked(path: String, holder: String?) -> UpgradeError {
        UpgradeError(.locked, "Another transaction holds the lock \"\(path)\"" + (holder.map { " (process \($0))" } ?? "") + "; try again when it has finished", path: path)
    }
    package static func candidateMissing(path: String) -> UpgradeError {
        UpgradeError(.invalidCandidate, "The candidate \"\(path)\" does not exist", path: path)
    }
    package static func candidateIsDirectory(path: String) -> UpgradeError {
        UpgradeError(.invalidCandidate, "The candidate \"\(path)\" is a directory, not a program", path: path)
    }
    package static func candidateNotRegular(path: String) -> UpgradeError {
        UpgradeError(.invalidCandidate, "The candidate \"\(path)\" is not a regular file", path: path)
    }
    package static func candidateNotExecutable(path: String, mode: String) -> UpgradeError {
        UpgradeError(.invalidCandidate, "The candidate \"\(path)\" is not executable (mode \(mode)); make it so with chmod +x", path: path)
    }
    package static func candidateTooLarge(path: String, size: Int, maximum: Int) -> UpgradeError {
        UpgradeError(.invalidCandidate, "The candidate \"\(path)\" is \(ByteCount.text(size)) (\(size) bytes); a candidate may be at most \(ByteCount.text(maximum)) (\(maximum) bytes)", path: path)
    }
    package static func candidateChanged(path: String, staged: String, expected: String) -> UpgradeError {
        UpgradeError(.invalidCandidate, "The candidate \"\(TerminalText.escaped(path))\" changed after it was verified: its bytes hash to \(staged), not to the verified \(expected); nothing was installed", path: path)
    }
    package static func candidateHeldOpen(path: String, reason: String) -> UpgradeError {
        UpgradeError(.invalidCandidate, "The candidate \"\(TerminalText.escaped(path))\" could not be proven to hold the verified bytes: \(reason), and could change them unseen; nothing was installed (close it, then try again)", path: path)
    }
    package static func stagedCopyHeldOpen(path: String, candidate: String, reason: String) -> UpgradeError {
        UpgradeError(.invalidCandidate, "The copy \"\(path)\" of the candidate \"\(TerminalText.escaped(candidate))\" could not be hashed: \(reason), which could change its bytes unseen; nothing was installed (stop the process that has the copy open, then try again)", path: path)
    }
    package static func insufficientSpace(path: String, needed: Int, available: UInt64) -> UpgradeError {
        UpgradeError(.insufficientSpace, "Not enough free space in \"\(path)\": \(needed) bytes needed, \(available) available", path: path)
    }
    package static func differentFileSystems(staging: String, versions: String) -> UpgradeError {
        UpgradeError(.differentFileSystems, "\"\(staging)\" and \"\(versions)\" are on different file systems, so the swap could not be atomic", path: staging)
    }
    package static func verificationFailed(binary: String, reason: String, log: String) -> UpgradeError {
        UpgradeError(.verificationFailed, "Verification of \"\(binary)\" failed: \(reason) (log: \(log))", path: binary)
    }
    /// This verification failure naming the file the user offered first, then the stored copy that ran.
    /// - Parameter staged: where the candidate's copy ran from before it was stored (the stage
    ///   step's ``VerificationInFlight``), if elsewhere.
    package func naming(candidate: String, storedAs stored: String, stagedAs staged: String? = nil) -> UpgradeError {
        guard code == .verificationFailed else { return self }
        // The path the user gave is outside text: a line break in it forges no line of its own.
        let named = "Verification of \"\(TerminalText.escaped(candidate))\""
        let copies: [(path: String?, name: String)] = [(stored, "its stored copy"), (staged, "its copy")]
        for (path, copy) in copies {
            guard let path, path != candidate, message.hasPrefix("Verification of \"\(path)\"") else { continue }
            var renamed = self
            renamed.message = named + " (run as \(copy) \"\(path)\")" + message.dropFirst("Verification of \"\(path)\"".count)
            return renamed
        }
        return self
    }
    package static var noPreviousVersion: UpgradeError {
        UpgradeError(.noPreviousVersion, "There is no previous version to roll back to")
    }
    package static func prunedVersion(id: String, limit: Int) -> UpgradeError {
        UpgradeError(.unknownVersion, "Version \(id) was pruned: the store keeps the last \(limit) versions (historyLimit in the home's config.json), and it is no longer stored")
    }
    package static func neverCurrent(id: String) -> UpgradeError {
        UpgradeError(.unknownVersion, "Version \(id) was never the current version here: it was stored by an upgrade that did not finish, which may not have verified it; upgrade to it instead (self-upgrade --from-binary <file>), which verifies it first")
    }
    package static func alreadyCurrent(id: String) -> UpgradeError {
        UpgradeError(.alreadyCurrent, "Version \(id) is already the current version")
    }
    package static func restartLoop(count: Int, seconds: Double) -> UpgradeError {
        UpgradeError(.restartLoop, "Refusing to restart again: \(count) restarts in the last \(Int(seconds)) s (restart-loop guard; an upgrade confirmed at a terminal is never refused; the limit is maxRestarts and restartWindowSeconds in the home's config.json)")
    }
    public static func healthCheckFailed(reason: String) -> UpgradeError {
        UpgradeError(.healthCheckFailed, "The new version failed its health check after restart: \(reason)")
    }
    package static func invalidConfiguration(path: String, reason: String) -> UpgradeError {
        UpgradeError(.invalidConfiguration, "The configuration \"\(path)\" is invalid: \(reason)", path: path)
    }
    package static func injectedFailure(point: String) -> UpgradeError {
        UpgradeError(.injectedFailure, "Injected failure at \(point) (a crash-test hook)")
    }
    public static var cancelled: UpgradeError { UpgradeError(.cancelled, "Cancelled; nothing was changed") }
    package static func sourceNotPackage(path: String, reason: String) -> UpgradeError {
        UpgradeError(.sourceNotPackage, "The source \"\(path)\" is not a Swift package: \(reason)", path: path)
    }
    package static func toolMissing(name: String) -> UpgradeError {
        UpgradeError(.toolMissing, "'\(name)' was not found on PATH; a source upgrade needs the Swift toolchain")
    }
    package static func toolFailed(command: String, status: String, problems: [String], log: String) -> UpgradeError {
        UpgradeError(.toolFailed, "'\(command)' \(status)" + (problems.isEmpty ? "" : ":\n" + problems.map { "  " + $0 }.joined(separator: "\n"))
                     + "\nFull log: \(log)", path: log)
    }
    package static func undoFailed(cause: String, failures: [String]) -> UpgradeError {
        UpgradeError(.undoFailed, "The transaction failed (\(cause)) and undoing it failed too: " + failures.joined(separator: "; "))
    }
    package static func noSnapshot(version: String, directory: String) -> UpgradeError {
        UpgradeError(.noSnapshot, "No snapshot of the configuration and state taken while version \(version) was running is kept in \"\(directory)\"; nothing was changed (roll back without restoring state, or pick a version 'self-upgrade snapshots' lists)", path: directory)
    }
    package static func nothingToRepairFrom(home: String, damaged: [String]) -> UpgradeError {
        UpgradeError(.versionDamaged, "No intact version is stored in \"\(home)\" to rebuild the journal from"
                     + (damaged.isEmpty ? "" : " (damaged: \(damaged.joined(separator: ", ")))"), path: home)
    }
}
