import Agent
import CounterModule
import ExampleHandler
import FoundationEssentials
import Modules
import Platform
import SelfUpgrade
import SourceUpgrade

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
    static func directory(_ home: Installation) -> String { home.directory + "/modules" }

    /// The home, which must exist (modules are kept in `<home>/modules`).
    static func home(_ option: String?) throws -> Installation {
        let home = HomeLocator.locate(option: option)
        guard home.isInitialized else { throw ModuleCommandError("No autodev home at \(Output.quoted(home.directory)): run 'autodev init' first (or pass --home DIR)") }
        return home
    }

    static func name(_ name: String?, spec: CommandSpec) throws -> ModuleCatalog.Entry {
        guard let name else { throw UsageError(message: "Missing expected argument '<name>'", spec: spec) }
        return try ModuleCatalog.entry(name, spec: spec)
    }

    // MARK: - build

    static func build(_ arguments: ModulesBuildCommand) throws -> Int32 {
        let entry = try name(arguments.name, spec: ModulesBuildCommand.spec)
        let home = try home(arguments.home)
        let source = FileSystem.absolute(arguments.source ?? (FileSystem.isDirectory(home.workingCopy) ? home.workingCopy
            : HomeLocator.enclosingRepository(of: FileSystem.currentDirectory()) ?? FileSystem.currentDirectory()))
        let built = try ModuleBuilder(installation: home, environmentPrefix: autodevIdentity.environmentPrefix)
            .build(module: entry.name, product: entry.product, source: source)
        if arguments.json {
            try Output.json(BuildReport(module: entry.name, version: built.version, protocolVersion: built.protocolVersion,
                                        stateSchema: built.stateSchema, path: built.path, sha256: built.sha256, seconds: built.seconds))
        } else {
            Output.out("Built \(entry.name)@\(built.version) (protocol \(built.protocolVersion), state schema \(built.stateSchema)) in \(Output.seconds(built.seconds))")
            Output.out("Stored as \(built.path)")
            Output.out("Load it with: autodev modules reload \(entry.name)")
        }
        return ExitCode.success
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

    static func reload(_ arguments: ModulesReloadCommand) throws -> Int32 {
        let entry = try name(arguments.name, spec: ModulesReloadCommand.spec)
        let home = try home(arguments.home)
        let modules = directory(home)
        let journal = try ModuleJournal(directory: modules)
        var image: ModuleImage
        if let version = arguments.builtin {
            guard entry.versions[version] != nil else {
                throw UsageError(message: "The value '\(version)' is invalid for '--builtin <version>': \(entry.name) has \(entry.versions.keys.sorted().joined(separator: ", "))", spec: ModulesReloadCommand.spec)
            }
            guard arguments.from == nil else { throw UsageError(message: "Give --from or --builtin, not both", spec: ModulesReloadCommand.spec) }
            image = try ModuleCatalog.builtIn(entry.name, version: version)
        } else if let from = arguments.from {
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
        if arguments.from != nil {
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
            let status = try setVersion(entry, image: image, hello: hello, home: home, journal: journal, json: arguments.json)
            if status != ExitCode.success, let staged { store.unstage(staged) }
            return status
        } catch {
            if let staged { store.unstage(staged) }
            throw error
        }
    }

    /// Reloads in the host running for the home, or records the version for the next start.
    static func setVersion(_ entry: ModuleCatalog.Entry, image: ModuleImage, hello: Hello, home: Installation, journal: ModuleJournal,
                           json: Bool) throws -> Int32 {
        // A host running for this home reloads in place.
        if let status = try reloadInRunningHost(directory(home), entry: entry, image: image, json: json) { return status }

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
        if json {
            try Output.json(SetReport(module: entry.name, version: hello.version, stateSchema: hello.stateSchema, path: image.commandLine,
                                      hostRunning: false))
        } else {
            Output.out("\(entry.name): no host is running for \(home.directory); \(DisplayName.escaped(hello.name))@\(DisplayName.escaped(hello.version)) (state schema \(hello.stateSchema)) is now the version the next start runs")
        }
        return ExitCode.success
    }

    /// Asks a host running for the home to reload; nil when none is running.
    static func reloadInRunningHost(_ modules: String, entry: ModuleCatalog.Entry, image: ModuleImage, json: Bool) throws -> Int32? {
        guard let answer = try ModuleHost.askRunningHost(in: modules, ControlRequest.reload(entry.name, to: image)) else { return nil }
        guard let report = answer.report else { throw ModuleCommandError(answer.error ?? "The module host gave no answer") }
        if json {
            try Output.json(report)
            return report.committed ? ExitCode.success : ExitCode.failure
        }
        for phase in report.phases { Output.out("  ✓ \(phase.phase.rawValue) (\(DurationText.milliseconds(phase.milliseconds)) ms)") }
        if report.committed {
            Output.out("Reloaded \(entry.name): \(report.fromVersion) → \(report.toVersion) (state schema \(report.fromSchema) → \(report.toSchema)) in \(DurationText.milliseconds(report.milliseconds)) ms, \(report.queued) message(s) queued and answered")
        } else {
            Output.err("  ✗ \(report.failedPhase?.rawValue ?? "?")")
            Output.err("Error: \(Output.escaped(report.reason ?? "the reload failed"))")
            Output.err("Rolled back: \(entry.name) stays on \(report.fromVersion) (\(DurationText.milliseconds(report.milliseconds)) ms)")
        }
        return report.committed ? ExitCode.success : ExitCode.failure
    }

    // MARK: - serve

    /// Runs a host for the home: every module on its committed version (the counter on the
    /// latest built-in version when the journal names none), the control socket open, until
    /// SIGINT or SIGTERM.
    static func serve(_ arguments: ModulesServeCommand) throws -> Int32 {
        let home = try home(arguments.home)
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
        if arguments.json {
            var versions: [String: String] = [:]
            for name in started { versions[name] = DisplayName.escaped(try host.version(of: name).version) }
            try Output.jsonLine(ServeReport(pid: ProcessControl.id, control: ModuleHost.controlPath(modules), modules: versions))
        } else {
            let serving = try started.map { "\($0)@\(DisplayName.escaped(try host.version(of: $0).version))" }
            Output.out("pid \(ProcessControl.id): serving \(serving.isEmpty ? "no module" : serving.joined(separator: ", ")) for \(home.directory)")
            Output.out("Reload with: autodev modules reload NAME --from PATH (or --builtin VERSION)")
        }
        while Cancellation.signal == 0 { ProcessControl.sleep(seconds: 0.1) }
        return ExitCode.success
    }

    static func rollback(_ arguments: ModulesRollbackCommand) throws -> Int32 {
        let entry = try name(arguments.name, spec: ModulesRollbackCommand.spec)
        let home = try home(arguments.home)
        let journal = try ModuleJournal(directory: directory(home))
        let history = try journal.records().filter { $0.module == entry.name && [.commit, .start, .current].contains($0.kind) && $0.to != nil }
        guard let current = history.last else { throw ModuleCommandError("The module \(entry.name) has no version yet in \(Output.quoted(journal.path))") }
        guard let previous = history.dropLast().last(where: { $0.to != current.to }), let image = previous.to else {
            throw ModuleCommandError("The module \(entry.name) has no earlier version to return to")
        }
        if let status = try reloadInRunningHost(directory(home), entry: entry, image: image, json: arguments.json) { return status }
        try journal.append(ModuleRecord(kind: .current, module: entry.name, from: current.to, to: image, fromVersion: current.toVersion,
                                        toVersion: previous.toVersion, schema: previous.schema, reason: "modules rollback"))
        if arguments.json {
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
    static func entries(_ home: Installation) throws -> [ListEntry] {
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

    static func list(_ arguments: ModulesListCommand) throws -> Int32 {
        let home = try home(arguments.home)
        let sorted = try entries(home)
        if arguments.json {
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
                if let ms = item.milliseconds { line += "  \(DurationText.milliseconds(ms)) ms" }
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
