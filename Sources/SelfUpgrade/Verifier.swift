import FoundationEssentials
import Platform
import Storage

/// Runs a binary's verification mode in a sandbox and judges its report.
///
/// The sandbox: a private directory under the home's staging area holding a fresh HOME, TMPDIR
/// and (with `stateFrom`) a *copy* of the state — never the live home; a minimal environment;
/// a new network namespace when the kernel allows it; rlimits on CPU time, address space, file
/// size and processes; a wall-clock timeout; the whole process group killed afterwards.
public struct Verifier: Sendable {
    public var home: Home
    public var program: ProgramIdentity
    public var configuration: UpgradeConfiguration

    public init(home: Home, program: ProgramIdentity, configuration: UpgradeConfiguration) {
        self.home = home
        self.program = program
        self.configuration = configuration
    }

    /// What a verification run established.
    public struct Result: Sendable, Codable, Equatable {
        public var report: SelfCheckReport
        /// Isolation actually applied, e.g. ["process group", "private HOME", "network namespace", "rlimits"].
        public var isolation: [String]
        public var seconds: Double
        public var log: String
    }

    /// Verifies `binary`; `logDirectory` receives its output.
    /// - Parameter stateFrom: a state directory to copy into the sandbox for the candidate to migrate.
    /// - Throws: ``UpgradeError/verificationFailed(binary:reason:log:)`` for every way it can fail.
    public func verify(binary: String, logDirectory: String, stateFrom: String?) throws -> Result {
        try FileSystem.createDirectory(logDirectory, mode: 0o755, intermediates: true)
        let sandbox = home.staging + "/sandbox-\(ProcessControl.id)-\(UInt32.random(in: 0...UInt32.max))"
        try FileSystem.createDirectory(sandbox, mode: 0o700)
        defer { try? FileSystem.removeTree(sandbox) }
        for directory in ["home", "tmp"] { try FileSystem.createDirectory(sandbox + "/" + directory, mode: 0o700) }

        var arguments = program.selfCheckArguments
        if let stateFrom {
            let copy = sandbox + "/state"
            try copyDirectory(stateFrom, to: copy)
            arguments += ["--state-copy", copy]
        }
        let output = logDirectory + "/verify.out"
        let errors = logDirectory + "/verify.err"
        var run = Subprocess.Configuration(executable: binary, arguments: arguments, environment: [
            "HOME": sandbox + "/home",
            "TMPDIR": sandbox + "/tmp",
            "AUTODEV_HOME": sandbox + "/home/no-home",
            "AUTODEV_SANDBOX": "1",
            "PATH": "/usr/bin:/bin",
            "LANG": "C.UTF-8",
        ])
        run.workingDirectory = sandbox + "/tmp"
        run.outputPath = output
        run.errorPath = errors
        run.timeoutSeconds = configuration.verifyTimeoutSeconds
        run.limits = [.cpuSeconds(configuration.verifyCPUSeconds), .addressSpace(bytes: configuration.verifyMemoryBytes),
                      .fileSize(bytes: configuration.verifyFileSizeBytes), .openFiles(256), .processes(4096)]
        var isolation = ["process group", "private HOME and TMPDIR", "state copy", "rlimits (cpu, memory, file size, files, processes)", "timeout"]
        let start = MonotonicClock.now()
        let status = try runIsolated(run, binary: binary, logDirectory: logDirectory, protecting: sandbox, isolation: &isolation)
        let seconds = MonotonicClock.seconds(since: start)
        guard status.isSuccess else {
            let tail = lastLines(of: errors)
            throw UpgradeError.verificationFailed(binary: binary, reason: "its verification run \(status)" + (tail.isEmpty ? "" : ": \(tail)"), log: logDirectory)
        }
        let stdout = (try? FileSystem.readFile(output)) ?? []
        guard let report = try? JSONDecoder().decode(SelfCheckReport.self, from: Data(stdout)) else {
            throw UpgradeError.verificationFailed(binary: binary, reason: "its verification run did not print a self-check report", log: logDirectory)
        }
        guard report.program == program.name else {
            throw UpgradeError.verificationFailed(binary: binary, reason: "it reports being '\(report.program)', not '\(program.name)'", log: logDirectory)
        }
        guard report.protocolVersion == program.protocolVersion else {
            throw UpgradeError.verificationFailed(binary: binary, reason: "it speaks upgrade protocol \(report.protocolVersion), this version speaks \(program.protocolVersion)", log: logDirectory)
        }
        if let failed = report.checks.first(where: { !$0.passed }) {
            throw UpgradeError.verificationFailed(binary: binary, reason: "its check '\(failed.name)' failed: \(failed.detail)", log: logDirectory)
        }
        if stateFrom != nil {
            guard let state = report.state else {
                throw UpgradeError.verificationFailed(binary: binary, reason: "it did not check the state copy", log: logDirectory)
            }
            if let error = state.error {
                throw UpgradeError.verificationFailed(binary: binary, reason: "it could not read the state: \(error)", log: logDirectory)
            }
            guard state.roundTripEqual else {
                throw UpgradeError.verificationFailed(binary: binary, reason: "the state changed in its round trip at: \(state.differences.joined(separator: ", "))", log: logDirectory)
            }
        }
        return Result(report: report, isolation: isolation, seconds: seconds, log: logDirectory)
    }

    // MARK: - Internals

    /// The namespaces asked for, dropped one by one (and said so) where the kernel refuses them.
    private func runIsolated(_ base: Subprocess.Configuration, binary: String, logDirectory: String, protecting sandbox: String,
                             isolation: inout [String]) throws -> TerminationStatus {
        var readOnly = [home.root]
        if let realHome = ProcessControl.environment("HOME"), realHome != "/", FileSystem.isDirectory(realHome) { readOnly.append(realHome) }
        var wanted: Set<String> = ["network", "processes", "mounts"]
        while true {
            var run = base
            run.isolateNetwork = wanted.contains("network")
            run.isolateProcesses = wanted.contains("processes")
            if wanted.contains("mounts") {
                run.readOnlyPaths = readOnly
                run.writablePaths = [sandbox]
            }
            do {
                let status = try Subprocess.run(run)
                if run.isolateNetwork { isolation.append("network namespace (no network)") }
                if run.isolateProcesses { isolation.append("pid namespace (everything it starts dies with it)") }
                if wanted.contains("mounts") { isolation.append("read-only live home and HOME") }
                return status
            } catch let error as Subprocess.LaunchError {
                let feature: String? = switch error.step {
                case "unshare-network": "network"
                case "unshare-pid", "fork": "processes"
                case "unshare-mount", "mount": "mounts"
                default: nil
                }
                guard let feature, wanted.remove(feature) != nil else {
                    throw UpgradeError.verificationFailed(binary: binary, reason: error.description, log: logDirectory)
                }
                isolation.append("no \(feature) isolation (\(error.step): \(error.errno))")
            }
        }
    }

    private func copyDirectory(_ source: String, to destination: String) throws {
        try FileSystem.createDirectory(destination, mode: 0o700)
        guard FileSystem.isDirectory(source) else { return }
        for name in try FileSystem.contentsOfDirectory(source) where !name.hasPrefix(".") {
            let from = source + "/" + name
            if FileSystem.isDirectory(from) {
                try copyDirectory(from, to: destination + "/" + name)
            } else {
                try FileSystem.copyFile(from, to: destination + "/" + name, mode: 0o600)
            }
        }
    }

    private func lastLines(of path: String) -> String {
        guard let bytes = try? FileSystem.readFile(path) else { return "" }
        let text = String(decoding: bytes.suffix(600), as: UTF8.self)
        return text.split(separator: "\n").suffix(3).joined(separator: " / ")
    }
}
