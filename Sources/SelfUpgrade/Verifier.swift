import FoundationEssentials
import Platform
import Storage

/// Runs a binary's verification mode in a sandbox, judges its report, then rehearses the restart
/// protocol with it.
///
/// The sandbox is a private directory on a tmpfs (``sandboxParent(for:)``) holding a fresh HOME
/// and TMPDIR (each a private tmpfs of the candidate's own mount namespace) and a scratch home for
/// the rehearsal; with `stateFrom`, a *copy* of the state in the home's staging area is the one
/// thing verification writes to the home. The candidate
/// runs in its own mount namespace where every mount is read-only but its HOME and TMPDIR (private
/// tmpfs mounts), the rehearsal's scratch home in the rehearsal run, and the state copy; in its own
/// pid namespace with a fresh `/proc`, in its own network namespace, with a minimal `/dev`, with
/// no capabilities (uid 0 included) and no way to gain any; not as root, all of it inside a user
/// namespace mapping the caller's own uid. **Invariant: the candidate can write nowhere but
/// those, cannot change mounts, and nothing it wrote is a path autodev follows.** Where the kernel refuses a piece, the piece is left out
/// and ``Result/isolation`` says so.
///
/// Two runs, each with rlimits, a wall-clock timeout and its process group killed afterwards:
/// 1. `selfCheckArguments`: the report on stdout must name the program and protocol, hold at
///    least one check, all passing, and (with `stateFrom`) a state round trip that was equal;
/// 2. the restart rehearsal (`Verifier+Rehearsal.swift`): the candidate is started from a scratch
///    store as a restarted process would be, and must exit 0 having journaled `commit` of the
///    rehearsed transaction. Skipped only for an upgrade that will not exec the new version.
package struct Verifier: Sendable {
    package var home: Home
    package var program: ProgramIdentity
    package var configuration: UpgradeConfiguration

    package init(home: Home, program: ProgramIdentity, configuration: UpgradeConfiguration) {
        self.home = home
        self.program = program
        self.configuration = configuration
    }

    package typealias Result = VerificationResult

    /// Output kept in the log directory per stream: the last MiB.
    package static let keptLogBytes = 1 << 20
    /// The largest report read from the candidate's standard output.
    package static let reportLimitBytes = 1 << 20

    /// Verifies `binary`; `logDirectory` receives the tail of its output (`verify.out`, `verify.err`).
    /// - Parameters:
    ///   - binary: the candidate, already in the store.
    ///   - logDirectory: where the kept output goes (created).
    ///   - stateFrom: a state directory to copy into the sandbox for the candidate to migrate.
    ///   - rehearseRestart: rehearse the restart protocol after the report (the default); only
    ///     an upgrade that will not exec the new version (`restart: false`) has no restart to prove.
    ///   - expectedVersion: the version the report must name (a release's listed version).
    ///   - gate: the self-check run is made, its sandbox included, but executes `binary` only
    ///     once this gate opens (`binary` may be written until then: the stage step copies the
    ///     candidate meanwhile); cancelled, it ends the verification.
    ///   - staged: waits until `binary` is hashed and returns it with its metadata (nil when it
    ///     never will be): the rehearsal is then made while the self-check runs
    ///     (``EarlyRehearsal``), where mounts are isolated.
    ///   - afterSelfCheck: called once the self-check run has ended, however it ended, before
    ///     anything else (with a rehearsal made meanwhile, after the report's judgement and the
    ///     start of that rehearsal): it may move the file (the stage step moves the candidate
    ///     into the store, having hashed it while the self-check ran from `binary`) and returns
    ///     where the file is now, for the rest of the verification. What it throws ends the
    ///     verification.
    ///   - passed: called with the result once the verification has passed, before its sandbox
    ///     is removed and its logs are kept (which its return waits for).
    ///   - stop: once true, a run of the candidate still going is killed (the verification
    ///     fails): the caller no longer wants its verdict.
    /// - Returns: the report and the isolation applied.
    /// - Throws: ``UpgradeError/verificationFailed(binary:reason:log:)`` for every way it can fail.
    package func verify(binary: String, logDirectory: String, stateFrom: String?, rehearseRestart: Bool = true, expectedVersion: String? = nil,
                        gate: Subprocess.ExecGate? = nil, staged: (@Sendable () -> BoundFile?)? = nil,
                        afterSelfCheck: (() throws -> String)? = nil, passed: ((Result) -> Void)? = nil,
                        stop: @escaping @Sendable () -> Bool = { false }) throws -> Result {
        var binary = binary
        try FileSystem.createOwnDirectory(logDirectory, below: home.root, mode: 0o755)
        let parent = Self.sandboxParent(for: home)
        let unique = "\(ProcessControl.id)-\(UInt32.random(in: 0...UInt32.max))"
        let sandbox = parent.path + "/sandbox-" + unique
        try FileSystem.createDirectory(sandbox, mode: 0o700)
        defer {
            try? FileSystem.removeTree(sandbox)
            // The home's own directory on the tmpfs goes too once empty (the lock keeps a second
            // verification of this home from being in it).
            if parent.isOnTmpfs { try? FileSystem.removeEmptyDirectory(parent.path) }
        }
        for directory in ["home", "tmp", "output"] { try FileSystem.createDirectory(sandbox + "/" + directory, mode: 0o700) }
        let outputs = SandboxOutputs(directory: sandbox + "/output")
        defer { keepLogs(outputs, in: logDirectory) }

        var arguments = program.selfCheckArguments
        var stateCopy: String?
        defer { if let stateCopy { try? FileSystem.removeTree(stateCopy) } }
        if let stateFrom {
            // The one thing verification writes to the home: a state can be large, a tmpfs is memory.
            let copy = home.staging + "/state-copy-" + unique
            stateCopy = copy
            // Regular files and directories only, walked without following any link (nothing
            // outside the state is copied, even a link swapped in meanwhile), within limits.
            do {
                try Self.withoutSync { _ = try FileSystem.copyTree(stateFrom, to: copy) }
            } catch let error as SystemError where error.errno == .noSuchFile && error.path == stateFrom {
                try FileSystem.createDirectory(copy, mode: 0o700)
            }
            arguments += ["--state-copy", copy]
        }
        var confinement = try Confinement(sandbox: sandbox, parent: parent, scratchBytes: configuration.verifyFileSizeBytes)
        // The caller's HOME, /tmp, /var/tmp and /run hidden (their Unix sockets above all) but for
        // the candidate's own directory and the staging area holding the state copy.
        let keptWritable = stateCopy.map { [$0] } ?? []
        confinement.hide(keeping: keptWritable, visible: [FileSystem.parent(of: binary), home.staging])
        let environment = [
            "HOME": sandbox + "/home",
            "TMPDIR": sandbox + "/tmp",
            program.markers.home: sandbox + "/home/no-home",
            program.markers.sandbox: "1",
            "PATH": "/usr/bin:/bin",
            "LANG": "C.UTF-8",
        ]
        var run = Subprocess.Configuration(executable: binary, arguments: arguments, environment: environment)
        run.workingDirectory = sandbox + "/tmp"
        run.outputPath = outputs.selfCheckOut
        run.errorPath = outputs.selfCheckErr
        run.execGate = gate
        let start = MonotonicClock.now()
        let selfCheck = try confinement.launch(limited(run), writing: stateCopy.map { Confinement.WritableArea(role: Self.stateCopyRole, path: $0) },
                                               binary: binary, log: logDirectory)
        // The rehearsal is made meanwhile where the file can be bound where it is now.
        let early = rehearseRestart && confinement.bindsFiles ? staged.flatMap {
            EarlyRehearsal.begin(self, binary: binary, staged: $0, sandbox: sandbox, environment: environment, outputs: outputs,
                                 confinement: confinement, log: logDirectory, stop: stop)
        } : nil
        // Before the sandbox is removed, and before the logs are kept.
        defer { early?.abandon() }
        let status = try selfCheck.wait(stoppingWhen: stop)
        if let early, status.isSuccess {
            let report = try finishEarly(early, binary: binary, sandbox: sandbox, outputs: outputs, stateFrom: stateFrom,
                                         expectedVersion: expectedVersion, confinement: &confinement, keptWritable: keptWritable,
                                         environment: environment, log: logDirectory, afterSelfCheck: afterSelfCheck, stop: stop)
            let result = Result(report: report, isolation: confinement.isolation(stateCopy: stateFrom != nil),
                                seconds: MonotonicClock.seconds(since: start), log: logDirectory)
            passed?(result)
            return result
        }
        early?.abandon()
        if let moved = try afterSelfCheck?(), moved != binary {
            binary = moved
            // The rehearsal binds the file from where it is now.
            confinement.hide(keeping: keptWritable, visible: [FileSystem.parent(of: binary), home.staging])
        }
        guard status.isSuccess else {
            let tail = lastLines(of: outputs.selfCheckErr)
            throw UpgradeError.verificationFailed(binary: binary, reason: "its verification run \(status)" + (tail.isEmpty ? "" : ": \(tail)")
                                                  + fullFileSystemNote(sandbox: sandbox), log: logDirectory)
        }
        let report = try judgeSelfCheck(outputs, binary: binary, checkedState: stateFrom != nil, expectedVersion: expectedVersion, log: logDirectory)
        if rehearseRestart {
            try self.rehearseRestart(binary: binary, sandbox: sandbox, environment: environment, outputs: outputs,
                                     confinement: &confinement, log: logDirectory, stop: stop)
        }
        let seconds = MonotonicClock.seconds(since: start)
        let result = Result(report: report, isolation: confinement.isolation(stateCopy: stateFrom != nil), seconds: seconds, log: logDirectory)
        passed?(result)
        return result
    }

    /// The report of the self-check that exited 0, judged.
    /// - Throws: ``UpgradeError/verificationFailed(binary:reason:log:)``.
    private func judgeSelfCheck(_ outputs: SandboxOutputs, binary: String, checkedState: Bool, expectedVersion: String?, log: String) throws -> SelfCheckReport {
        let report = try readReport(outputs.selfCheckOut, binary: binary, log: log)
        try judge(report, binary: binary, checkedState: checkedState, log: log)
        if let expectedVersion, report.version != expectedVersion {
            throw UpgradeError.verificationFailed(binary: binary, reason: "it reports version \(report.version), but it was offered as version \(expectedVersion): this is not the software that was released under that version", log: log)
        }
        return report
    }

    /// After a self-check that exited 0, with `early` made meanwhile: judges the report, lets
    /// the rehearsal run, hands over (only now is the file moved: its bind is made), and judges
    /// the rehearsal; one that could not be made early is made now, as without it.
    private func finishEarly(_ early: EarlyRehearsal, binary: String, sandbox: String, outputs: SandboxOutputs, stateFrom: String?,
                             expectedVersion: String?, confinement: inout Confinement, keptWritable: [String], environment: [String: String],
                             log: String, afterSelfCheck: (() throws -> String)?, stop: () -> Bool) throws -> SelfCheckReport {
        var binary = binary
        let report: SelfCheckReport
        do {
            report = try judgeSelfCheck(outputs, binary: binary, checkedState: stateFrom != nil, expectedVersion: expectedVersion, log: log)
        } catch {
            // Refused: the rehearsal never runs, and the refusal names the file where it is now.
            early.abandon()
            let moved = try afterSelfCheck?() ?? binary
            _ = try judgeSelfCheck(outputs, binary: moved, checkedState: stateFrom != nil, expectedVersion: expectedVersion, log: log)
            throw error
        }
        early.release()
        early.waitUntilRunning()
        if let moved = try afterSelfCheck?(), moved != binary {
            binary = moved
            // A rehearsal made now binds the file from where it is now.
            confinement.hide(keeping: keptWritable, visible: [FileSystem.parent(of: binary), home.staging])
        }
        switch early.finish() {
        case .ran(let status, let rehearsal, let used):
            confinement.adopt(used)
            try judgeRehearsal(rehearsal, status: status, binary: binary, sandbox: sandbox, outputs: outputs, log: log)
        case .unavailable(let error):
            if let cancelled = error as? Subprocess.Cancelled { throw cancelled }
            try rehearseRestart(binary: binary, sandbox: sandbox, environment: environment, outputs: outputs, confinement: &confinement,
                                log: log, stop: stop)
        }
        return report
    }

    // MARK: - Internals

    /// What is left free below which a file system counts as full.
    static let nearlyFullBytes: UInt64 = 1 << 20

    /// For a failed run: a note naming the file system it could write to (the sandbox's, the
    /// home's) that is full now, since a disk that filled up fails a good candidate too; empty
    /// when neither is.
    func fullFileSystemNote(sandbox: String) -> String {
        for directory in [sandbox, home.staging] {
            guard let free = try? FileSystem.availableBytes(in: directory), free < Self.nearlyFullBytes else { continue }
            return " (\(ByteCount.text(Int(free))) is free on the file system of \(directory) now: it may have filled up, which fails a good candidate too)"
        }
        return ""
    }

    /// `run` with the configured rlimits and timeout.
    func limited(_ run: Subprocess.Configuration) -> Subprocess.Configuration {
        var run = run
        run.timeoutSeconds = configuration.verifyTimeoutSeconds
        run.limits = [.cpuSeconds(configuration.verifyCPUSeconds), .addressSpace(bytes: configuration.verifyMemoryBytes),
                      .fileSize(bytes: configuration.verifyFileSizeBytes), .openFiles(256), .processes(4096)]
        return run
    }

    /// The report on the candidate's standard output, if it is one and not too large.
    private func readReport(_ path: String, binary: String, log: String) throws -> SelfCheckReport {
        let size = (try? FileSystem.status(path, followLinks: false).size) ?? 0
        guard size <= Self.reportLimitBytes else {
            throw UpgradeError.verificationFailed(binary: binary, reason: "its verification run printed \(size) bytes, more than the \(Self.reportLimitBytes) bytes a self-check report may take", log: log)
        }
        let stdout = ((try? FileSystem.readOwnFile(path, maxBytes: Self.reportLimitBytes)) ?? nil) ?? []
        guard let report = try? JSONDecoder().decode(SelfCheckReport.self, from: Data(stdout)) else {
            throw UpgradeError.verificationFailed(binary: binary, reason: "its verification run did not print a self-check report", log: log)
        }
        return report
    }

    /// Rejects a report that proves nothing or says something failed.
    private func judge(_ report: SelfCheckReport, binary: String, checkedState: Bool, log: String) throws {
        guard report.program == program.name else {
            throw UpgradeError.verificationFailed(binary: binary, reason: "it reports being '\(TerminalText.escaped(report.program, limit: 100))', not '\(program.name)'", log: log)
        }
        // The version is shown, journaled and written into the store's metadata: text from code
        // not trusted yet, so it must be a version string, not a way to move a cursor or forge a line.
        guard Self.isVersionString(report.version) else {
            throw UpgradeError.verificationFailed(binary: binary, reason: "it reports a version that is not a version string (1 to 64 printable ASCII characters, no spaces): '\(TerminalText.escaped(report.version, limit: 100))'", log: log)
        }
        guard report.protocolVersion == program.protocolVersion else {
            throw UpgradeError.verificationFailed(binary: binary, reason: "it speaks upgrade protocol \(report.protocolVersion), this version speaks \(program.protocolVersion)", log: log)
        }
        guard !report.checks.isEmpty else {
            throw UpgradeError.verificationFailed(binary: binary, reason: "its self-check report has no checks: it proves nothing", log: log)
        }
        if let failed = report.checks.first(where: { !$0.passed }) {
            throw UpgradeError.verificationFailed(binary: binary, reason: "its check '\(TerminalText.escaped(failed.name, limit: 100))' failed: \(TerminalText.escaped(failed.detail, limit: 500))", log: log)
        }
        if checkedState {
            guard let state = report.state else {
                throw UpgradeError.verificationFailed(binary: binary, reason: "it did not check the state copy", log: log)
            }
            if let error = state.error {
                throw UpgradeError.verificationFailed(binary: binary, reason: "it could not read the state: \(TerminalText.escaped(error, limit: 500))", log: log)
            }
            guard state.roundTripEqual else {
                throw UpgradeError.verificationFailed(binary: binary, reason: "the state changed in its round trip at: \(TerminalText.escaped(state.differences.joined(separator: ", "), limit: 500))", log: log)
            }
        }
    }

    /// 1 to 64 printable ASCII characters with no space ("1.2.3", "2.0.0-rc.1+build.5").
    static func isVersionString(_ text: String) -> Bool {
        let bytes = Array(text.utf8)
        return (1...64).contains(bytes.count) && bytes.allSatisfy { (0x21...0x7E).contains($0) }
    }

    func lastLines(of path: String) -> String {
        let text = String(decoding: SandboxOutputs.tail(of: [path], limit: 600).bytes, as: UTF8.self)
        return TerminalText.escaped(text.split(separator: "\n").suffix(3).joined(separator: " / "), limit: 600)
    }
}

/// What a verification run established.
public struct VerificationResult: Sendable, Codable, Equatable {
    /// The candidate's self-check report.
    public var report: SelfCheckReport
    /// Isolation actually applied, and what could not be, e.g. ["process group",
    /// "network namespace (no network)", "no user namespace (unshare-user: …)"].
    public var isolation: [String]
    public var seconds: Double
    /// The directory holding the run's (bounded) output.
    public var log: String
}
