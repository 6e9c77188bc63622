import Modules
import Platform
import SelfUpgrade
import SourceUpgrade

/// The route a change to one reloadable module takes: `swift build` of its worker product,
/// one start of the result to read its name, protocol and state schema, a copy into the
/// installation's module store, then (for a proposal) its tests and a reload, in place when a
/// host runs for the installation, else for the next start. `autodev modules build` and the
/// agent's module-only proposals both take it.
public struct ModuleBuilder: Sendable {
    /// A module worker built and stored.
    public struct Built: Sendable, Equatable {
        /// The stored worker (`<home>/modules/store/<sha256>/…`).
        public var path: String
        public var sha256: String
        /// What the worker said when it was started once.
        public var name: String
        public var version: String
        public var protocolVersion: Int
        public var stateSchema: Int
        public var seconds: Double
    }

    /// A step of the route that failed: what was done, and where its tool's output is.
    public struct Failure: Error, CustomStringConvertible, Sendable {
        public var description: String
        init(_ description: String) { self.description = description }
    }

    public let installation: Installation
    /// The program's marker prefix (``ProgramIdentity/environmentPrefix``): no variable with it
    /// reaches the tools, as in a source upgrade.
    public let environmentPrefix: String

    public init(installation: Installation, environmentPrefix: String) {
        self.installation = installation
        self.environmentPrefix = environmentPrefix
    }

    /// `<home>/modules`: the module store, journal and control socket.
    public var modulesDirectory: String { installation.directory + "/modules" }

    /// Builds `product` (the worker of module `module`) in `source` with the installation's warm
    /// release cache, checks that it runs that module, stores it and journals it as built.
    public func build(module: String, product: String, source: String) throws(Failure) -> Built {
        try Self.checkNames(module: module, product: product)
        return try build(module: module, product: product, source: source, swift: try Self.swift(for: module), confined: nil, timeoutSeconds: nil)
    }

    /// The agent's route for a proposal that changes only one module: build, test (in the warm
    /// test cache source upgrades use), and reload (in place when a host runs for the home, else
    /// for its next start). The build, the probe and the tests run confined as a source upgrade's
    /// tools (``Upgrader/ToolSandbox``): the proposal is code not trusted yet.
    /// - Returns: what is now in force, for the agent's memory.
    public func buildTestAndReload(module: String, product: String, source: String, testFilter: String, upgrader: Upgrader,
                                   network: Bool, timeoutSeconds: Double?) throws(Failure) -> String {
        try Self.checkNames(module: module, product: product)
        let swift = try Self.swift(for: module)
        // The confined caches and sandbox of a proposal's source upgrade.
        var sourceBuild = SourceBuild(source: source, installation: installation)
        sourceBuild.confine(network: network)
        let sandbox: Upgrader.ToolSandbox
        do {
            guard let made = try sourceBuild.makeToolSandbox(swift: swift, upgrader: upgrader, log: installation.logs) else {
                throw Failure("Failed to confine the build of \(module)")
            }
            sandbox = made
        } catch let failure as Failure {
            throw failure
        } catch {
            throw Failure("Failed to confine the build of \(module): \(error)")
        }
        defer { sandbox.remove() }
        let built = try build(module: module, product: product, source: source, swift: swift, confined: (sandbox, cache: sourceBuild.scratch),
                              timeoutSeconds: timeoutSeconds)
        try runSwift(swift, ["test", "--package-path", source, "--scratch-path", sourceBuild.testScratch, "--filter", testFilter],
                     log: installation.logs + "/modules-test-\(module).log", action: "test \(module) in \(Self.quoted(source))",
                     sandbox: sandbox, cache: sourceBuild.testScratch, timeoutSeconds: timeoutSeconds)
        let image = ModuleImage(executable: built.path)
        let label = "\(module)@\(built.version)"
        do {
            if let answer = try ModuleHost.askRunningHost(in: modulesDirectory, ControlRequest.reload(module, to: image)) {
                guard let report = answer.report else { throw Failure(answer.error ?? "The module host gave no answer") }
                guard report.committed else {
                    throw Failure("The reload of \(label) rolled back at \(report.failedPhase?.rawValue ?? "?"): \(report.reason ?? "")")
                }
                return "module \(label) hot reloaded in \(DurationText.milliseconds(report.milliseconds)) ms"
            }
            let journal = try ModuleJournal(directory: modulesDirectory)
            let current = try journal.versions()[module]
            try journal.append(ModuleRecord(kind: .current, module: module, from: current?.to, to: image, fromVersion: current?.toVersion,
                                            toVersion: label, schema: built.stateSchema, reason: "agent proposal with no host running"))
        } catch let failure as Failure {
            throw failure
        } catch {
            throw Failure("\(error)")
        }
        return "module \(label) built and tested; the next start runs it (no host running)"
    }

    /// - Parameter confined: where the build and the probe run, and the cache the build writes,
    ///   for code not trusted yet (the agent's proposals); nil: as the caller, in the home's cache.
    private func build(module: String, product: String, source: String, swift: String, confined: (sandbox: Upgrader.ToolSandbox, cache: String)?,
                       timeoutSeconds: Double?) throws(Failure) -> Built {
        let buildCache = confined?.cache ?? installation.buildCache
        guard FileSystem.exists(source + "/Package.swift") else {
            throw Failure("No Swift package at \(Self.quoted(source)) (no Package.swift): pass --source DIR")
        }
        let started = MonotonicClock.now()
        // With the flags and the warm cache of the program's own release build: only what the
        // module adds is compiled, and the worker needs no Swift runtime installed.
        try runSwift(swift, ["build", "-c", "release", "--static-swift-stdlib", "--disable-local-rpath", "--product", product, "--package-path", source,
                      "--scratch-path", buildCache],
                     log: installation.logs + "/modules-build-\(module).log", action: "build \(module) in \(Self.quoted(source))",
                     sandbox: confined?.sandbox, cache: buildCache, timeoutSeconds: timeoutSeconds)
        do {
            var built = buildCache + "/release/" + product
            var confine: ((Subprocess.Configuration) throws -> Subprocess.Configuration)?
            if let sandbox = confined?.sandbox {
                // What the confined build left is read only as a file inside the cache (a link it
                // planted leads nowhere else), and run confined, with nothing writable.
                let found = try SourceBuild.resolve(built, inside: buildCache)
                guard found.isInside else {
                    throw Failure("The build of \(module) left \(Self.quoted(built)) leading to \(Self.quoted(found.path)), not a file inside \(Self.quoted(found.directory))")
                }
                let resolved = found.path
                built = resolved
                confine = { try sandbox.configure($0, writable: [], visible: [FileSystem.parent(of: resolved)]) }
            }
            let hello = try ModuleStore.probe(ModuleImage(executable: built), confine: confine)
            guard hello.name == module else { throw Failure("\(Self.quoted(built)) runs the module \(hello.name), not \(module)") }
            let stored = try ModuleStore(directory: modulesDirectory).stage(built)
            let journal = try ModuleJournal(directory: modulesDirectory)
            try journal.append(ModuleRecord(kind: .built, module: module, to: ModuleImage(executable: stored.path),
                                            toVersion: "\(DisplayName.escaped(hello.name))@\(DisplayName.escaped(hello.version))", schema: hello.stateSchema))
            return Built(path: stored.path, sha256: stored.digest, name: hello.name, version: hello.version, protocolVersion: hello.protocolVersion,
                         stateSchema: hello.stateSchema, seconds: MonotonicClock.seconds(since: started))
        } catch let failure as Failure {
            throw failure
        } catch {
            throw Failure("\(error)")
        }
    }

    /// The `swift` on PATH that builds `module`.
    static func swift(for module: String) throws(Failure) -> String {
        guard let swift = ProcessControl.findExecutable("swift") else { throw Failure("Failed to build \(module): no 'swift' on PATH") }
        return swift
    }

    /// Runs `swift` with its output in `log`; a failure names the action and the log.
    /// Confined in `sandbox` (if any), it writes only `cache`.
    private func runSwift(_ swift: String, _ arguments: [String], log: String, action: String, sandbox: Upgrader.ToolSandbox?, cache: String,
                          timeoutSeconds: Double?) throws(Failure) {
        do {
            let logs = FileSystem.parent(of: log)
            try FileSystem.createOwnDirectory(logs, below: FileSystem.parent(of: logs), mode: 0o755)
            // As a source upgrade runs its tools: none of the program's own markers reach them (a
            // test run would otherwise see this process's home and fault injections); confined,
            // only what a toolchain and a test suite need.
            let environment = sandbox == nil ? ProcessControl.environment().filter { !$0.key.hasPrefix(environmentPrefix) }
                : SourceBuild.toolEnvironment(ProcessControl.environment(), programPrefix: environmentPrefix)
            var configuration = Subprocess.Configuration(executable: swift, arguments: arguments, environment: environment)
            configuration.outputPath = log
            configuration.errorPath = log
            if let sandbox {
                // As a confined source upgrade's tools: the agent's limits.
                configuration.timeoutSeconds = timeoutSeconds
                configuration.limits = [.fileSize(bytes: SourceBuild.confinedFileSizeLimit)]
                configuration = try sandbox.configure(configuration, writable: [cache])
            }
            let status = try Subprocess.run(configuration)
            guard status.isSuccess else {
                // The compiler errors or failed tests that explain it, as a source upgrade reports them.
                let problems = ToolLog.firstProblems(in: log).map { "\n  " + $0 }.joined()
                throw Failure("Failed to \(action): swift \(arguments.first ?? "") \(status)\(problems)\nFull log: \(log)")
            }
        } catch let failure as Failure {
            throw failure
        } catch {
            throw Failure("Failed to \(action): \(error)")
        }
    }

    /// A module's and a product's name become file names (logs) and a `--product` argument:
    /// 1 to 64 ASCII letters, digits, '-' and '_', not starting with '-'.
    static func checkNames(module: String, product: String) throws(Failure) {
        for (what, name) in [("module", module), ("product", product)] {
            let allowed = name.utf8.allSatisfy { (0x30...0x39).contains($0) || (0x41...0x5A).contains($0) || (0x61...0x7A).contains($0) || $0 == 0x2D || $0 == 0x5F }
            guard allowed, (1...64).contains(name.utf8.count), !name.hasPrefix("-") else {
                throw Failure("\(quoted(name)) is not a \(what) name: give 1 to 64 ASCII letters, digits, '-' or '_', not starting with '-'")
            }
        }
    }

    static func quoted(_ text: String) -> String { "\"" + DisplayText.name(text) + "\"" }
}
