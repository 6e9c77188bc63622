import CounterModule
import ExampleHandler
import FoundationEssentials
import Modules
import Platform
import SelfUpgrade
import SourceUpgrade
import Storage

/// The modules this program carries: each has a target of its own, a worker product that
/// `modules build` builds, and its versions built into autodev's hidden `module-worker` mode.
enum ModuleCatalog {
    struct Entry: Sendable {
        var name: String
        var product: String
        var versions: [String: any ReloadableModule.Type]
        var latest: String
    }

    static let entries: [Entry] = [
        Entry(name: "counter", product: "counter-module", versions: CounterModule.versions, latest: CounterModule.latest),
        Entry(name: "example-handler", product: "example-handler-module", versions: ExampleHandler.versions, latest: ExampleHandler.latest),
    ]

    static func entry(_ name: String, spec: CommandSpec) throws -> Entry {
        guard let entry = entries.first(where: { $0.name == name }) else {
            throw UsageError(message: "Unknown module '\(Output.escaped(name, keepingNewlines: false))' (modules: \(entries.map(\.name).joined(separator: ", ")))", spec: spec)
        }
        return entry
    }

    /// A version built into this binary, run as `autodev module-worker NAME@VERSION`.
    static func builtIn(_ name: String, version: String, environment: [String: String] = [:]) throws -> ModuleImage {
        ModuleImage(executable: try ProcessControl.executablePath(), arguments: ["module-worker", "\(name)@\(version)"], environment: environment)
    }
}

/// `autodev module-worker NAME@VERSION` (hidden): serve one built-in module version on descriptor 3.
enum ModuleWorkerCommand {
    static func run(_ arguments: ArraySlice<String>) -> Int32 {
        let spec = arguments.first ?? ""
        let parts = spec.split(separator: "@", maxSplits: 1).map(String.init)
        guard arguments.count == 1, parts.count == 2, let entry = ModuleCatalog.entries.first(where: { $0.name == parts[0] }),
              let module = entry.versions[parts[1]] else {
            Output.err("Error: module-worker takes NAME@VERSION of a built-in module version (\(ModuleCatalog.entries.flatMap { entry in entry.versions.keys.sorted().map { "\(entry.name)@\($0)" } }.joined(separator: ", ")))")
            return ExitCode.usage
        }
        return ModuleWorker.serve(module)
    }
}

enum ModuleCommands {
    static func directory(_ home: Home) -> String { home.root + "/modules" }

    /// The home, which must exist (modules are kept in `<home>/modules`).
    static func home(_ arguments: ParsedArguments) throws -> Home {
        let home = HomeLocator.locate(option: arguments.value("home"))
        guard home.isInitialized else { throw ModuleCommandError("No autodev home at \(Output.quoted(home.root)): run 'autodev init' first (or pass --home DIR)") }
        return home
    }

    static func name(_ arguments: ParsedArguments, spec: CommandSpec) throws -> ModuleCatalog.Entry {
        guard let name = arguments.positionals.first else { throw UsageError(message: "Missing expected argument '<name>'", spec: spec) }
        return try ModuleCatalog.entry(name, spec: spec)
    }

    // MARK: - build

    static func build(_ arguments: ParsedArguments) throws -> Int32 {
        let entry = try name(arguments, spec: CommandTree.modulesBuild)
        let home = try home(arguments)
        let source = FileSystem.absolute(arguments.value("source") ?? (FileSystem.isDirectory(home.workingCopy) ? home.workingCopy
            : HomeLocator.enclosingRepository(of: FileSystem.currentDirectory()) ?? FileSystem.currentDirectory()))
        let built = try buildAndStage(entry, source: source, home: home)
        if arguments.has("json") {
            try Output.json(BuildReport(module: entry.name, version: built.hello.version, protocolVersion: built.hello.protocolVersion,
                                        stateSchema: built.hello.stateSchema, path: built.path, sha256: built.digest, seconds: built.seconds))
        } else {
            Output.out("Built \(entry.name)@\(built.hello.version) (protocol \(built.hello.protocolVersion), state schema \(built.hello.stateSchema)) in \(Output.seconds(built.seconds))")
            Output.out("Stored as \(built.path)")
            Output.out("Load it with: autodev modules reload \(entry.name)")
        }
        return ExitCode.success
    }

    /// `swift build -c release --product <module>-module` in `source`, started once to check it
    /// runs the module, copied into the store, journaled as `built`.
    /// - Parameter confined: where the build and the probe run, and the cache the build writes,
    ///   for code not trusted yet (the agent's proposals); nil: as the caller, in the home's cache.
    static func buildAndStage(_ entry: ModuleCatalog.Entry, source: String, home: Home,
                              confined: (sandbox: Upgrader.ToolSandbox, cache: String)? = nil,
                              timeoutSeconds: Double? = nil) throws -> (path: String, digest: String, hello: Hello, seconds: Double) {
        let buildCache = confined?.cache ?? home.buildCache
        guard FileSystem.exists(source + "/Package.swift") else {
            throw ModuleCommandError("No Swift package at \(Output.quoted(source)) (no Package.swift): pass --source DIR")
        }
        let started = MonotonicClock.now()
        // With the flags and the warm cache of autodev's own release build: only what the module
        // adds is compiled, and the worker needs no Swift runtime installed, as autodev does not.
        try runSwift(["build", "-c", "release", "--static-swift-stdlib", "--product", entry.product, "--package-path", source,
                      "--scratch-path", buildCache],
                     log: home.logs + "/modules-build-\(entry.name).log", action: "build \(entry.name) in \(Output.quoted(source))",
                     sandbox: confined?.sandbox, cache: buildCache, timeoutSeconds: timeoutSeconds)
        var built = buildCache + "/release/" + entry.product
        var confine: ((Subprocess.Configuration) throws -> Subprocess.Configuration)?
        if let sandbox = confined?.sandbox {
            // What the confined build left is read only as a file inside the cache (a link it
            // planted leads nowhere else), and run confined, with nothing writable.
            let found = try SourceBuild.resolve(built, inside: buildCache)
            guard found.isInside else {
                throw ModuleCommandError("The build of \(entry.name) left \(Output.quoted(built)) leading to \(Output.quoted(found.path)), not a file inside \(Output.quoted(found.directory))")
            }
            let resolved = found.path
            built = resolved
            confine = { try sandbox.configure($0, writable: [], visible: [FileSystem.parent(of: resolved)]) }
        }
        let hello = try ModuleStore.probe(ModuleImage(executable: built), confine: confine)
        guard hello.name == entry.name else { throw ModuleCommandError("\(Output.quoted(built)) runs the module \(hello.name), not \(entry.name)") }
        let stored = try ModuleStore(directory: directory(home)).stage(built)
        let journal = try ModuleJournal(directory: directory(home))
        try journal.append(ModuleRecord(kind: .built, module: entry.name, to: ModuleImage(executable: stored.path),
                                        toVersion: "\(DisplayName.escaped(hello.name))@\(DisplayName.escaped(hello.version))", schema: hello.stateSchema))
        return (stored.path, stored.digest, hello, MonotonicClock.seconds(since: started))
    }

    /// Runs swift with its output in `log`; a failure names the action and the log.
    /// Confined in `sandbox` (if any), it writes only `cache`.
    static func runSwift(_ arguments: [String], log: String, action: String, sandbox: Upgrader.ToolSandbox? = nil, cache: String = "",
                         timeoutSeconds: Double? = nil) throws {
        guard let swift = ProcessControl.findExecutable("swift") else { throw ModuleCommandError("Failed to \(action): no 'swift' on PATH") }
        let logs = FileSystem.parent(of: log)
        try FileSystem.createOwnDirectory(logs, below: FileSystem.parent(of: logs), mode: 0o755)
        // As a source upgrade runs its tools: none of autodev's own markers reach them (a test
        // run would otherwise see this process's home and fault injections); confined, only
        // what a toolchain and a test suite need.
        let environment = sandbox == nil ? ProcessControl.environment().filter { !$0.key.hasPrefix(autodevIdentity.environmentPrefix) }
            : SourceBuild.toolEnvironment(ProcessControl.environment(), programPrefix: autodevIdentity.environmentPrefix)
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
            throw ModuleCommandError("Failed to \(action): swift \(arguments.first ?? "") \(status)\(problems)\nFull log: \(log)")
        }
    }

    /// The agent's path for a proposal that changes only one module: build, test (in the warm
    /// test cache source upgrades use), and reload (in place when a host runs for the home, else
    /// for its next start).
    /// - Returns: what is now in force, for the agent's memory.
    /// The build, the probe and the tests run confined as a source upgrade's tools
    /// (``Upgrader/ToolSandbox``): the proposal is code not trusted yet.
    static func buildTestAndReload(_ module: String, source: String, home: Home, testFilter: String, upgrader: Upgrader,
                                   network: Bool, timeoutSeconds: Double?) throws -> String {
        guard let entry = ModuleCatalog.entries.first(where: { $0.name == module }) else { throw ModuleCommandError("Unknown module \(module)") }
        guard let swift = ProcessControl.findExecutable("swift") else { throw ModuleCommandError("Failed to build \(entry.name): no 'swift' on PATH") }
        // The confined caches and sandbox of a proposal's source upgrade.
        var build = SourceBuild(source: source, home: home)
        build.confine(network: network)
        guard let sandbox = try build.makeToolSandbox(swift: swift, upgrader: upgrader, log: home.logs) else {
            throw ModuleCommandError("Failed to confine the build of \(entry.name)")
        }
        defer { sandbox.remove() }
        let built = try buildAndStage(entry, source: source, home: home, confined: (sandbox, cache: build.scratch), timeoutSeconds: timeoutSeconds)
        try runSwift(["test", "--package-path", source, "--scratch-path", build.testScratch, "--filter", testFilter],
                     log: home.logs + "/modules-test-\(entry.name).log", action: "test \(entry.name) in \(Output.quoted(source))",
                     sandbox: sandbox, cache: build.testScratch, timeoutSeconds: timeoutSeconds)
        let image = ModuleImage(executable: built.path)
        let label = "\(entry.name)@\(built.hello.version)"
        if let answer = try ModuleHost.askRunningHost(in: directory(home), ControlRequest.reload(entry.name, to: image)) {
            guard let report = answer.report else { throw ModuleCommandError(answer.error ?? "The module host gave no answer") }
            guard report.committed else {
                throw ModuleCommandError("The reload of \(label) rolled back at \(report.failedPhase?.rawValue ?? "?"): \(report.reason ?? "")")
            }
            return "module \(label) hot reloaded in \(ModuleGates.milliseconds(report.milliseconds)) ms"
        }
        let journal = try ModuleJournal(directory: directory(home))
        let current = try journal.versions()[entry.name]
        try journal.append(ModuleRecord(kind: .current, module: entry.name, from: current?.to, to: image, fromVersion: current?.toVersion,
                                        toVersion: label, schema: built.hello.stateSchema, reason: "agent proposal with no host running"))
        return "module \(label) built and tested; the next start runs it (no host running)"
    }

    struct BuildReport: Codable {
        var module: String
        var version: String
        var protocolVersion: Int
        var stateSchema: Int
        var path: String
        var sha256: String
        var seconds: Double
    }

    // MARK: - reload and rollback (recorded for the next start)

    static func reload(_ arguments: ParsedArguments) throws -> Int32 {
        let entry = try name(arguments, spec: CommandTree.modulesReload)
        let home = try home(arguments)
        let modules = directory(home)
        let journal = try ModuleJournal(directory: modules)
        var image: ModuleImage
        if let version = arguments.value("builtin") {
            guard entry.versions[version] != nil else {
                throw UsageError(message: "The value '\(version)' is invalid for '--builtin <version>': \(entry.name) has \(entry.versions.keys.sorted().joined(separator: ", "))", spec: CommandTree.modulesReload)
            }
            guard arguments.value("from") == nil else { throw UsageError(message: "Give --from or --builtin, not both", spec: CommandTree.modulesReload) }
            image = try ModuleCatalog.builtIn(entry.name, version: version)
        } else if let from = arguments.value("from") {
            let path = FileSystem.absolute(from)
            guard FileSystem.exists(path), !FileSystem.isDirectory(path) else { throw ModuleCommandError("No module worker at \(Output.quoted(path))") }
            image = ModuleImage(executable: path)
        } else if let built = try journal.records().last(where: { $0.kind == .built && $0.module == entry.name })?.to {
            image = built
        } else {
            throw ModuleCommandError("No built version of \(entry.name): run 'autodev modules build \(entry.name)', or pass --from PATH or --builtin VERSION")
        }
        let hello = try ModuleStore.probe(image)
        guard hello.name == entry.name else {
            throw ModuleCommandError("\(Output.quoted(image.executable)) runs the module \(DisplayName.escaped(hello.name)), not \(entry.name)")
        }
        // A file this command copies into the store is removed again if the reload is refused.
        let store = ModuleStore(directory: modules)
        var staged: String?
        if arguments.value("from") != nil {
            let stored = try store.stage(image.executable)
            image = ModuleImage(executable: stored.path)
            if stored.created { staged = stored.path }
        }
        // A fault to inject in the new version (crash tests of a running host), passed on as
        // given: only in builds with the test hooks.
        #if AUTODEV_TEST_HOOKS
        if let fault = ProcessControl.environment(ModuleWorker.faultVariable), !fault.isEmpty {
            image.environment[ModuleWorker.faultVariable] = fault
        }
        #endif
        do {
            let status = try setVersion(entry, image: image, hello: hello, home: home, journal: journal, arguments)
            if status != ExitCode.success, let staged { store.unstage(staged) }
            return status
        } catch {
            if let staged { store.unstage(staged) }
            throw error
        }
    }

    /// Reloads in the host running for the home, or records the version for the next start.
    static func setVersion(_ entry: ModuleCatalog.Entry, image: ModuleImage, hello: Hello, home: Home, journal: ModuleJournal,
                           _ arguments: ParsedArguments) throws -> Int32 {
        // A host running for this home reloads in place.
        if let status = try reloadInRunningHost(directory(home), entry: entry, image: image, arguments) { return status }

        let current = try journal.versions()[entry.name]
        // A current version that cannot start is no interface to keep: it is replaced as it is.
        if let current, let currentImage = current.to, currentImage != image, let running = try? ModuleStore.probe(currentImage) {
            guard running.protocolVersion == hello.protocolVersion else {
                throw ModuleCommandError("Refused to reload \(entry.name): \(hello.name)@\(hello.version) speaks protocol \(hello.protocolVersion), the current version \(running.protocolVersion)")
            }
        }
        try journal.append(ModuleRecord(kind: .current, module: entry.name, from: current?.to, to: image, fromVersion: current?.toVersion,
                                        toVersion: "\(DisplayName.escaped(hello.name))@\(DisplayName.escaped(hello.version))", schema: hello.stateSchema,
                                        reason: "modules reload with no host running"))
        if arguments.has("json") {
            try Output.json(SetReport(module: entry.name, version: hello.version, stateSchema: hello.stateSchema, path: image.commandLine,
                                      hostRunning: false))
        } else {
            Output.out("\(entry.name): no host is running for \(home.root); \(DisplayName.escaped(hello.name))@\(DisplayName.escaped(hello.version)) (state schema \(hello.stateSchema)) is now the version the next start runs")
        }
        return ExitCode.success
    }

    /// Asks a host running for the home to reload; nil when none is running.
    static func reloadInRunningHost(_ modules: String, entry: ModuleCatalog.Entry, image: ModuleImage, _ arguments: ParsedArguments) throws -> Int32? {
        guard let answer = try ModuleHost.askRunningHost(in: modules, ControlRequest.reload(entry.name, to: image)) else { return nil }
        guard let report = answer.report else { throw ModuleCommandError(answer.error ?? "The module host gave no answer") }
        if arguments.has("json") {
            try Output.json(report)
            return report.committed ? ExitCode.success : ExitCode.failure
        }
        for phase in report.phases { Output.out("  ✓ \(phase.phase.rawValue) (\(ModuleGates.milliseconds(phase.milliseconds)) ms)") }
        if report.committed {
            Output.out("Reloaded \(entry.name): \(report.fromVersion) → \(report.toVersion) (state schema \(report.fromSchema) → \(report.toSchema)) in \(ModuleGates.milliseconds(report.milliseconds)) ms, \(report.queued) message(s) queued and answered")
        } else {
            Output.err("  ✗ \(report.failedPhase?.rawValue ?? "?")")
            Output.err("Error: \(Output.escaped(report.reason ?? "the reload failed"))")
            Output.err("Rolled back: \(entry.name) stays on \(report.fromVersion) (\(ModuleGates.milliseconds(report.milliseconds)) ms)")
        }
        return report.committed ? ExitCode.success : ExitCode.failure
    }

    // MARK: - serve

    /// Runs a host for the home: every module on its committed version (the counter on the
    /// latest built-in version when the journal names none), the control socket open, until
    /// SIGINT or SIGTERM.
    static func serve(_ arguments: ParsedArguments) throws -> Int32 {
        let home = try home(arguments)
        let modules = directory(home)
        Cancellation.install()
        // One host per home: the lock is taken before recovery, which a second host must not run.
        let hostLock = try ModuleHost.lockHost(modules)
        defer { hostLock.release() }
        var options = HostOptions()
        options.builtInImage = { name, version in
            guard let entry = ModuleCatalog.entries.first(where: { $0.name == name }), entry.versions[version] != nil else { return nil }
            return try? ModuleCatalog.builtIn(name, version: version)
        }
        options.workerEnded = { name, what in
            Output.err("autodev: \(Output.escaped(name, keepingNewlines: false)): \(Output.escaped(what, keepingNewlines: false))")
        }
        let host = try ModuleHost(directory: modules, options: options)
        defer { host.stop() }
        for note in host.recoveryNotes { Output.err("autodev: recovery: \(note)") }
        // The socket is bound (replacing a dead host's file: the lock says none is alive) before
        // any start record is written.
        try host.serveControl()
        defer { try? FileSystem.removeFile(ModuleHost.controlPath(modules)) }
        // Every module that can start does; one that cannot is reported and the others serve.
        var (started, failed) = try host.startCommitted()
        if started.isEmpty && failed.isEmpty {
            try host.start("counter", image: try ModuleCatalog.builtIn("counter", version: CounterModule.latest))
            started = ["counter"]
        }
        for failure in failed {
            let name = Output.escaped(failure.name, keepingNewlines: false)
            Output.err("autodev: \(name) did not start from \"\(Output.escaped(failure.executable ?? "?", keepingNewlines: false))\": \(Output.escaped(failure.reason, keepingNewlines: false))")
            Output.err("autodev: the others keep serving; run 'autodev modules rollback \(name)' to return \(name) to its version before, or reload another version of it")
        }
        if arguments.has("json") {
            var versions: [String: String] = [:]
            for name in started { versions[name] = DisplayName.escaped(try host.version(of: name).version) }
            try Output.jsonLine(ServeReport(pid: ProcessControl.id, control: ModuleHost.controlPath(modules), modules: versions))
        } else {
            let serving = try started.map { "\($0)@\(DisplayName.escaped(try host.version(of: $0).version))" }
            Output.out("pid \(ProcessControl.id): serving \(serving.isEmpty ? "no module" : serving.joined(separator: ", ")) for \(home.root)")
            Output.out("Reload with: autodev modules reload NAME --from PATH (or --builtin VERSION)")
        }
        while Cancellation.signal == 0 { ProcessControl.sleep(seconds: 0.1) }
        return ExitCode.success
    }

    static func rollback(_ arguments: ParsedArguments) throws -> Int32 {
        let entry = try name(arguments, spec: CommandTree.modulesRollback)
        let home = try home(arguments)
        let journal = try ModuleJournal(directory: directory(home))
        let history = try journal.records().filter { $0.module == entry.name && [.commit, .start, .current].contains($0.kind) && $0.to != nil }
        guard let current = history.last else { throw ModuleCommandError("The module \(entry.name) has no version yet in \(Output.quoted(journal.path))") }
        guard let previous = history.dropLast().last(where: { $0.to != current.to }), let image = previous.to else {
            throw ModuleCommandError("The module \(entry.name) has no earlier version to return to")
        }
        if let status = try reloadInRunningHost(directory(home), entry: entry, image: image, arguments) { return status }
        try journal.append(ModuleRecord(kind: .current, module: entry.name, from: current.to, to: image, fromVersion: current.toVersion,
                                        toVersion: previous.toVersion, schema: previous.schema, reason: "modules rollback"))
        if arguments.has("json") {
            try Output.json(SetReport(module: entry.name, version: previous.toVersion ?? "?", stateSchema: previous.schema ?? 0,
                                      path: image.executable, hostRunning: false))
        } else {
            Output.out("\(entry.name): rolled back \(current.toVersion ?? "?") → \(previous.toVersion ?? "?") (the version the next start runs)")
        }
        return ExitCode.success
    }

    struct ServeReport: Codable {
        var pid: Int32
        var control: String
        var modules: [String: String]
    }

    struct SetReport: Codable {
        var module: String
        var version: String
        var stateSchema: Int
        var path: String
        var hostRunning: Bool
    }

    // MARK: - list

    /// Each module's version, state schema and reload history, from the module journal (sorted
    /// by name; empty when the home has no module journal).
    static func entries(_ home: Home) throws -> [ListEntry] {
        let path = directory(home) + "/journal"
        let records = FileSystem.exists(path) ? try ModuleJournal(directory: directory(home)).records() : []
        var modules: [String: ListEntry] = [:]
        for record in records {
            var entry = modules[record.module] ?? ListEntry(module: record.module, history: [])
            switch record.kind {
            case .start, .commit, .current:
                entry.version = record.toVersion
                entry.stateSchema = record.schema
                entry.path = record.to?.commandLine
            case .built:
                entry.built = record.toVersion
            case .rollback:
                break
            case .begin, .phase:
                break
            }
            if [.commit, .rollback, .current, .start].contains(record.kind) {
                entry.history.append(.init(time: WallClock.iso8601(record.time), event: record.kind.rawValue, from: record.fromVersion,
                                           to: record.toVersion, phase: record.phase?.rawValue, milliseconds: record.milliseconds,
                                           reason: record.reason))
            }
            modules[record.module] = entry
        }
        return modules.values.sorted { $0.module < $1.module }
    }

    static func list(_ arguments: ParsedArguments) throws -> Int32 {
        let home = try home(arguments)
        let sorted = try entries(home)
        if arguments.has("json") {
            try Output.json(sorted)
            return ExitCode.success
        }
        if sorted.isEmpty {
            Output.out("No modules yet in \(directory(home)) (build one with 'autodev modules build counter')")
            return ExitCode.success
        }
        Output.out(Output.table(["MODULE", "VERSION", "SCHEMA", "RELOADS", "BUILT"], sorted.map {
            [DisplayName.escaped($0.module), DisplayName.escaped($0.version ?? "-"), $0.stateSchema.map(String.init) ?? "-",
             "\($0.history.filter { $0.event == "commit" }.count) committed, \($0.history.filter { $0.event == "rollback" }.count) rolled back",
             DisplayName.escaped($0.built ?? "-")]
        }))
        for entry in sorted where !entry.history.isEmpty {
            Output.out("\n\(DisplayName.escaped(entry.module)):")
            for item in entry.history.suffix(10) {
                var line = "  \(item.time)  \(item.event)  \(DisplayName.escaped(item.from ?? "-")) → \(DisplayName.escaped(item.to ?? "-"))"
                if let ms = item.milliseconds { line += "  \(ModuleGates.milliseconds(ms)) ms" }
                if let phase = item.phase, item.event == "rollback" { line += "  at \(phase)" }
                if let reason = item.reason { line += ": \(Output.escaped(reason, keepingNewlines: false))" }
                Output.out(line)
            }
        }
        return ExitCode.success
    }

    struct ListEntry: Codable {
        var module: String
        var version: String?
        var stateSchema: Int?
        var path: String?
        var built: String?
        var history: [HistoryItem]

        init(module: String, history: [HistoryItem]) {
            self.module = module
            self.history = history
        }
    }

    struct HistoryItem: Codable {
        var time: String
        var event: String
        var from: String?
        var to: String?
        var phase: String?
        var milliseconds: Double?
        var reason: String?
    }
}

/// A runtime failure of a modules command: `Error: <message>`, exit 1.
struct ModuleCommandError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
