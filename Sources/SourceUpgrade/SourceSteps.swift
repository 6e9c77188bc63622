import Platform
import SelfUpgrade
import Storage

/// The test run the build step starts and the test step waits for. A reference, because the two
/// steps are values that share it (and the abort action that stops it); only the transaction's
/// own thread touches it, one step after the other.
final class SourceRun: @unchecked Sendable {
    let build: SourceBuild
    var testRun: Subprocess.Running?
    /// Where the tools run when ``SourceBuild/isolation`` confines them.
    var sandbox: Upgrader.ToolSandbox?

    init(build: SourceBuild) { self.build = build }

    /// Stops the test run's group, then every tool still working on the home's caches, and
    /// removes their sandbox.
    func stopTools(of home: Home) {
        testRun?.terminate()
        SourceBuild.stopTools(of: home)
        removeSandbox()
    }

    func removeSandbox() {
        sandbox?.remove()
        sandbox = nil
    }
}

/// Starts `swift test` and `swift build -c release` side by side (each with its own warm
/// scratch directory, output in the transaction's logs), and waits for the build.
struct BuildStep: TransactionStep {
    let name = StepName.build
    let run: SourceRun

    func run(_ context: inout TransactionContext) throws -> StepOutcome {
        let build = run.build
        guard let swift = ProcessControl.findExecutable("swift") else { throw UpgradeError.toolMissing(name: "swift") }
        try FileSystem.createOwnDirectory(context.logDirectory, below: context.upgrader.home.root, mode: 0o755)
        let environment = SourceBuild.toolEnvironment(ProcessControl.environment(), programPrefix: context.upgrader.program.environmentPrefix)
        let logDirectory = context.logDirectory
        let home = context.home
        let shared = run
        context.abortActions.append { shared.stopTools(of: home) }
        var detail: String?
        if let sandbox = try build.makeToolSandbox(swift: swift, upgrader: context.upgrader, log: logDirectory) {
            run.sandbox = sandbox
            detail = "confined: " + sandbox.isolation.joined(separator: "; ")
        }
        let sandbox = run.sandbox
        // Confined, each tool writes its own cache only: once the build has ended (and with it
        // everything it started, its pid namespace gone), nothing confined can change its output.
        func configuration(_ arguments: [String], log: String, cache: String) throws -> Subprocess.Configuration {
            var configuration = Subprocess.Configuration(executable: swift, arguments: arguments, environment: environment)
            configuration.workingDirectory = build.source
            configuration.outputPath = logDirectory + "/" + log
            configuration.errorPath = configuration.outputPath
            configuration.timeoutSeconds = build.timeoutSeconds
            guard let sandbox else { return configuration }
            // Confined, no file it writes (its log included) grows past the limit.
            configuration.limits = [.fileSize(bytes: SourceBuild.confinedFileSizeLimit)]
            return try sandbox.configure(configuration, writable: [cache])
        }
        run.testRun = try Subprocess.launch(configuration(build.testArguments, log: "test.log", cache: build.testScratch))
        let log = logDirectory + "/build.log"
        let status = try wait(for: try Subprocess.launch(configuration(build.buildArguments, log: "build.log", cache: build.scratch)),
                              log: log, context: context)
        guard status.isSuccess else {
            throw UpgradeError.toolFailed(command: "swift " + build.buildArguments.joined(separator: " "), status: status.description,
                                          problems: ToolLog.firstProblems(in: log), log: log)
        }
        guard FileSystem.exists(build.candidate) else {
            throw UpgradeError.toolFailed(command: "swift build", status: "produced no \(build.candidate)", problems: [], log: log)
        }
        let candidate = try build.resolvedCandidate()
        // The same source gives the same bytes whatever the clone's path (ReproducibleBinary): a
        // change that does not reach the binary is then known as the running version at staging.
        try ReproducibleBinary.normalize(file: candidate)
        context.candidate = candidate
        return StepOutcome(detail: detail)
    }

    func undo(_ context: TransactionContext) throws {
        run.stopTools(of: context.home)
    }
}

/// Waits for the `swift test` run the build step started.
struct TestStep: TransactionStep {
    let name = StepName.test
    let run: SourceRun

    func run(_ context: inout TransactionContext) throws -> StepOutcome {
        let build = run.build
        let log = context.logDirectory + "/test.log"
        guard let testRun = run.testRun else { throw UpgradeError.toolFailed(command: "swift test", status: "was not started", problems: [], log: log) }
        let status = try wait(for: testRun, log: log, context: context)
        run.removeSandbox()
        guard status.isSuccess else {
            throw UpgradeError.toolFailed(command: "swift " + build.testArguments.joined(separator: " "), status: status.description,
                                          problems: ToolLog.firstProblems(in: log), log: log)
        }
        context.testSummary = ToolLog.testSummary(in: log)
        return StepOutcome()
    }
}

/// Polls a tool until it ends, reporting progress (elapsed time and its last line) each second.
private func wait(for process: Subprocess.Running, log: String, context: TransactionContext) throws -> TerminationStatus {
    var reported = 0.0
    while true {
        if let status = try process.poll() { return status }
        if process.elapsed - reported >= 1 {
            reported = process.elapsed
            context.upgrader.progress(.working(step: log.hasSuffix("test.log") ? "test" : "build", seconds: reported,
                                                detail: ToolLog.lastLine(of: log)))
        }
        process.pause()
    }
}

extension Upgrader {
    /// Upgrades from source: build (`swift build -c release`) and test (`swift test`) side by
    /// side, then the same preflight → stage → verify → swap → restart → confirm.
    /// - Throws: ``UpgradeError`` `.toolFailed` naming the first compiler errors or test
    ///   failures; nothing is changed.
    public func upgrade(fromSource build: SourceBuild, options: UpgradeOptions = UpgradeOptions()) throws(UpgradeError) -> Outcome {
        try UpgradeError.wrapping {
            try SourceBuild.validate(build.source)
            let run = SourceRun(build: build)
            return try transact(operation: options.dryRun ? .dryRun : .upgrade, source: .source(directory: build.source), options: options) { context in
                context.verifyState = options.verifyState
                context.rehearseRestart = options.restart
                context.expectedVersion = options.expectedVersion
                return [PreflightStep(), BuildStep(run: run), TestStep(run: run), StageStep(beginsVerification: true), VerifyStep()]
            }
        }
    }
}
