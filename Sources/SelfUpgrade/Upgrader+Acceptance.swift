import Platform
import Storage

extension Upgrader {
    /// A verified candidate, as an acceptance judgement (``UpgradeOptions/acceptance``) sees it:
    /// stored, verified, not swapped in yet.
    public struct Candidate: Sendable {
        /// The stored copy: the file that will run if it is accepted.
        public var binary: String
        /// Its identifier.
        public var id: VersionID
        /// The version its self-check reported.
        public var version: String
        /// The version it would replace, if any.
        public var current: VersionID?
        /// The replaced version's stored file, if any.
        public var currentBinary: String?
        /// The transaction's log directory (the judgement's own output can go there).
        public var logDirectory: String

        /// A candidate; see the properties.
        public init(binary: String, id: VersionID, version: String, current: VersionID?, currentBinary: String?, logDirectory: String) {
            self.binary = binary
            self.id = id
            self.version = version
            self.current = current
            self.currentBinary = currentBinary
            self.logDirectory = logDirectory
        }
    }

    /// What a command run confined by ``runConfined(_:environment:timeoutSeconds:outputLimit:logDirectory:name:)`` did.
    public struct ConfinedRun: Sendable {
        /// How it ended ("exited with status 0", "was killed by SIGKILL (timed out after 5 s)").
        public var status: String
        /// Whether it exited with status 0 in time.
        public var succeeded: Bool
        /// Its standard output, whole: nil when it printed more than the limit.
        public var output: [UInt8]?
        /// The last lines of its standard error, escaped for a terminal.
        public var errorTail: String
        /// Wall-clock seconds.
        public var seconds: Double
        /// The isolation applied, as for a verification (``VerificationResult/isolation``).
        public var isolation: [String]
    }

    /// Runs `arguments` (an absolute executable path first) confined as a candidate's
    /// verification runs: a private HOME and TMPDIR that end with it, every mount read-only, no
    /// network, its own pid namespace, no capabilities, the verification's rlimits, and
    /// `timeoutSeconds` of wall-clock time. It fails closed: where the kernel refuses the mount,
    /// pid, user (or, for root, the capability lock) or network isolation, or the hiding of the
    /// caller's directories, nothing runs and ``UpgradeError`` says what was refused. For code
    /// not trusted yet that must judge a candidate (a fitness evaluation): nothing it does
    /// outlives it or reaches the home, and what it prints is all it can report.
    /// - Parameters:
    ///   - arguments: the command: an absolute path to an executable, then its arguments.
    ///   - environment: its environment, on top of HOME, TMPDIR, PATH and LANG.
    ///   - timeoutSeconds: the wall-clock limit; it is killed (with everything it started) after it.
    ///   - outputLimit: the most bytes of standard output kept; more makes ``ConfinedRun/output`` nil.
    ///   - logDirectory: where the tail of its output is kept (`<name>.out`, `<name>.err`).
    ///   - name: the log files' name.
    ///   - writableDirectory: one directory it may change in place (a working copy): its growth
    ///     is capped as a verification's state copy is; nil for none.
    ///   - readOnlyInside: paths inside `writableDirectory` it may not change (its `.git`).
    ///   - visible: directories it reads (its data). The caller's HOME, /tmp, /var/tmp and /run
    ///     are hidden from it (their Unix sockets above all) but for these, its writable
    ///     directory, the executable's own directory and the directories of the tools on PATH.
    ///   - network: leave the network reachable (a proposer that calls a model's API).
    ///   - memoryBytes: its address-space limit; nil for the verification's
    ///     (``UpgradeConfiguration/verifyMemoryBytes``). Its CPU time is limited to eight times
    ///     `timeoutSeconds` (or the verification's limit if that is more): the wall clock is the limit.
    /// - Throws: ``UpgradeError`` when it cannot be started at all.
    public func runConfined(_ arguments: [String], environment: [String: String], timeoutSeconds: Double, outputLimit: Int,
                            logDirectory: String, name: String, writableDirectory: String? = nil, readOnlyInside: [String] = [],
                            visible: [String] = [], network: Bool = false, memoryBytes: UInt64? = nil) throws(UpgradeError) -> ConfinedRun {
        try UpgradeError.wrapping {
            try verifier.runConfined(arguments, environment: environment, timeoutSeconds: timeoutSeconds, outputLimit: outputLimit,
                                     logDirectory: logDirectory, name: name, writableDirectory: writableDirectory,
                                     readOnlyInside: readOnlyInside, visible: visible, network: network, memoryBytes: memoryBytes)
        }
    }
}

extension Verifier {
    /// See ``Upgrader/runConfined(_:environment:timeoutSeconds:outputLimit:logDirectory:name:)``.
    func runConfined(_ arguments: [String], environment extra: [String: String], timeoutSeconds: Double, outputLimit: Int,
                     logDirectory: String, name: String, writableDirectory: String? = nil, readOnlyInside: [String] = [],
                     visible: [String] = [], network: Bool = false, memoryBytes: UInt64? = nil) throws -> Upgrader.ConfinedRun {
        guard let executable = arguments.first, executable.hasPrefix("/") else {
            throw UpgradeError.candidateMissing(path: arguments.first ?? "")
        }
        try FileSystem.createOwnDirectory(logDirectory, below: home.root, mode: 0o755)
        let parent = Self.sandboxParent(for: home)
        let sandbox = parent.path + "/sandbox-\(ProcessControl.id)-\(UInt32.random(in: 0...UInt32.max))"
        try FileSystem.createDirectory(sandbox, mode: 0o700)
        defer {
            try? FileSystem.removeTree(sandbox)
            if parent.isOnTmpfs { try? FileSystem.removeEmptyDirectory(parent.path) }
        }
        for directory in ["home", "tmp", "output"] { try FileSystem.createDirectory(sandbox + "/" + directory, mode: 0o700) }
        let outputPath = sandbox + "/output/" + name + ".out", errorPath = sandbox + "/output/" + name + ".err"
        defer {
            for (path, kept) in [(outputPath, name + ".out"), (errorPath, name + ".err")] {
                let tail = SandboxOutputs.tail(of: [path], limit: Self.keptLogBytes).bytes
                try? FileSystem.writeAtomically(logDirectory + "/" + kept, tail, mode: 0o600)
            }
        }
        var environment = extra
        environment["HOME"] = sandbox + "/home"
        environment["TMPDIR"] = sandbox + "/tmp"
        environment["PATH"] = environment["PATH"] ?? "/usr/bin:/bin"
        environment["LANG"] = environment["LANG"] ?? "C.UTF-8"
        environment[program.markers.sandbox] = "1"
        var run = limited(Subprocess.Configuration(executable: executable, arguments: Array(arguments.dropFirst()), environment: environment))
        run.timeoutSeconds = timeoutSeconds
        let cpuSeconds = max(configuration.verifyCPUSeconds, UInt64(min(timeoutSeconds, 1e9).rounded(.up)) * 8)
        run.limits = [.cpuSeconds(cpuSeconds), .addressSpace(bytes: memoryBytes ?? configuration.verifyMemoryBytes),
                      .fileSize(bytes: configuration.verifyFileSizeBytes), .openFiles(1024), .processes(4096)]
        run.workingDirectory = writableDirectory ?? sandbox + "/tmp"
        run.outputPath = outputPath
        run.errorPath = errorPath
        var confinement = try Confinement(sandbox: sandbox, parent: parent, scratchBytes: configuration.verifyFileSizeBytes)
        confinement.allowsNetwork = network
        confinement.hide(keeping: writableDirectory.map { [$0] } ?? [], visible: visible + [FileSystem.parent(of: executable)])
        // Fails closed: what runs here is code not trusted yet.
        confinement.essential = confinement.untrustedEssentials
        let area = writableDirectory.map { Confinement.WritableArea(role: "the directory it may change", path: $0, inPlace: true, readOnlyInside: readOnlyInside) }
        let start = MonotonicClock.now()
        let status = try confinement.run(run, writing: area, binary: executable, log: logDirectory)
        let seconds = MonotonicClock.seconds(since: start)
        let size = (try? FileSystem.status(outputPath, followLinks: false).size) ?? 0
        let output = size > outputLimit ? nil : ((try? FileSystem.readOwnFile(outputPath, maxBytes: outputLimit)) ?? nil) ?? []
        return Upgrader.ConfinedRun(status: "\(status)", succeeded: status.isSuccess, output: output, errorTail: lastLines(of: errorPath),
                                    seconds: seconds, isolation: confinement.isolation(stateCopy: false)
                                        + (writableDirectory.map { ["\($0) writable in place" + (readOnlyInside.isEmpty ? "" : " but for " + readOnlyInside.joined(separator: ", "))] } ?? []))
    }
}

/// Runs the host's acceptance judgement (``Upgrader/UpgradeOptions/acceptance``) on the verified
/// candidate, right before the swap; its account is journaled with the step, its refusal is the
/// transaction's abort reason.
struct EvaluateStep: TransactionStep {
    let name = StepName.evaluate
    let judge: @Sendable (Upgrader.Candidate) throws -> String

    func run(_ context: inout TransactionContext) throws -> StepOutcome {
        let target = context.target!
        // The same bytes as the running version: there is nothing to judge, and nothing will change.
        guard target != context.from else { return StepOutcome() }
        let candidate = Upgrader.Candidate(
            binary: context.home.binary(target), id: VersionID(target), version: context.verification?.report.version ?? "",
            current: context.from.map(VersionID.init), currentBinary: context.from.map { context.home.binary($0) },
            logDirectory: context.logDirectory)
        do {
            return StepOutcome(detail: try judge(candidate))
        } catch let error as Subprocess.Cancelled {
            throw error
        } catch {
            throw UpgradeError(.notAccepted, "Not accepted: \(error)", underlying: error)
        }
    }
}
