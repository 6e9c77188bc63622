import Dispatch
import FoundationEssentials
import Platform

/// Timeouts and the environment of a host's workers.
public struct HostOptions: Sendable {
    /// Seconds a worker has to answer a message before it counts as hung.
    public var messageTimeout = 10.0
    /// Seconds a worker has to answer each reload request (phase notice, snapshot, restore...).
    public var phaseTimeout = 5.0
    /// Seconds the drain waits for the messages in flight on the old version.
    public var drainTimeout = 5.0
    /// Seconds a new worker has to say hello.
    public var startTimeout = 10.0
    /// Also fsync the begin and phase records. By default only commit and rollback records are
    /// fsync'd (the commit's fsync makes every record before it durable too); the others are
    /// written at once, so they survive the host's death, and losing them to a power cut leaves
    /// the journal at the version the module was on.
    public var syncEveryPhase = false
    /// The workers' environment (each image adds its own variables).
    public var environment: [String: String] = ["PATH": ProcessControl.environment("PATH") ?? "/usr/bin:/bin", "LANG": "C.UTF-8"]
    /// Where the workers' standard error goes (nil: /dev/null).
    public var errorLog: String?
    /// Called by a reload as each phase starts (for drain: once new messages queue), with the
    /// module's name; tests use it to send messages at a chosen phase.
    public var phaseStarted: (@Sendable (String, ReloadPhase) -> Void)?
    /// The image of a version built into the host's own program (module name, version), for
    /// control requests that name a built-in version; nil: the host has none.
    public var builtInImage: (@Sendable (String, String) -> ModuleImage?)?
    /// Called when a committed worker that ended was started again, or could not be, with the
    /// module's name and what happened ("started again: …", "could not be started again: …");
    /// nil: nobody is told but the journal.
    public var workerEnded: (@Sendable (String, String) -> Void)?

    public init() {}
}

/// Runs modules as worker processes, routes messages to them, and reloads them in place.
///
/// Invariants (each is tested in `ModulesTests`):
/// 1. A message is answered exactly once, by the version in place when it is answered; one that
///    arrives during a reload waits in the module's queue and is answered by the new version if
///    the reload commits, else by the old one. Nothing is lost either way.
/// 2. The old version keeps running, with its state, until the commit record is durable; a
///    rollback needs no state transfer.
/// 3. A new version that crashes, hangs (every request is bounded by a timeout) or fails a check
///    at any phase is killed and rolled back; the host and the other modules keep serving.
/// 4. Replies the new version gives during verify are held until the commit: if it then rolls
///    back, the old version answers those messages from its own state, so no effect is half-applied.
/// 5. Reloads of different modules share nothing but the journal's append lock; two reloads of
///    one module are refused (`busy`), never interleaved.
/// 6. The journal alone tells each module's committed version: a host that died mid-reload
///    comes back on it (``ModuleJournal/recover()`` closes the reload as rolled back).
/// 7. What runs is vouched for: the control socket (0600, its own user and root only) runs a
///    file of the module store or a version built into the host's program, never a command
///    line from the wire; a stored file is hashed before every start; a worker announcing
///    another module is refused.
/// 8. A module that cannot start does not stop the others: ``startCommitted()`` reports it,
///    and a reload may start another version in its place.
/// 9. A committed worker that ends outside a reload (a crash, a kill, a hang stopped by a
///    timeout), or that a rolled-back reload finds ended, is started again on the same version:
///    the message that found it gone fails, the next ones are answered. Its state ended with it,
///    so the new worker starts empty, and a `start` record says why. One that cannot be started
///    again (its stored file changed, say) becomes an unstarted module (8). A reload of a module
///    whose worker ended starts it first, then reloads.
public final class ModuleHost: @unchecked Sendable {
    /// The host's directory (`<home>/modules`): its journal, logs.
    public let directory: String
    public let journal: ModuleJournal
    public let options: HostOptions
    /// What recovery found when the host was created (unfinished reloads it rolled back).
    public let recoveryNotes: [String]

    private let lock = ConditionLock()
    /// Guarded by `lock`.
    private var routes: [String: Route] = [:]
    private var reloadCount = 0
    /// Modules the journal names that could not be started (guarded by `lock`): a reload may
    /// start them on another version.
    private var unstarted: [String: StartFailure] = [:]

    /// A host for the modules of `directory`; runs recovery on its journal.
    /// - Throws: ``ModuleError`` `.journal`.
    public init(directory: String, options: HostOptions = HostOptions()) throws(ModuleError) {
        self.directory = directory
        self.options = options
        journal = try ModuleJournal(directory: directory)
        recoveryNotes = try journal.recover()
    }

    // MARK: - API

    /// Starts a module under `name` on `image` and journals it.
    ///
    /// A file of the module store is started only if its content still hashes to the digest it
    /// is stored under.
    /// - Parameters:
    ///   - module: the module the worker must announce in its hello (default: `name`; another
    ///     for several instances of one module under names of their own).
    /// - Returns: what the worker announced.
    /// - Throws: ``ModuleError`` `.alreadyRunning`, `.invalidName`, `.untrusted`, `.spawn`
    ///   (also when the worker announces another module), `.journal`.
    @discardableResult
    public func start(_ name: String, image: ModuleImage, module: String? = nil) throws(ModuleError) -> Hello {
        guard Self.isValidName(name) else { throw ModuleError(.invalidName, "Invalid module name \"\(DisplayName.escaped(name))\": use letters, digits, '-' and '_'") }
        guard lock.withLock({ routes[name] == nil }) else { throw ModuleError(.alreadyRunning, "The module \(name) is already running") }
        try checkStored(image)
        let worker = try WorkerProcess.spawn(image, environment: options.environment, errorLog: options.errorLog, timeout: options.startTimeout)
        do throws(ModuleError) {
            let expected = module ?? name
            guard worker.hello.name == expected else {
                throw ModuleError(.spawn, "Refused to start \(name): \"\(image.commandLine)\" runs the module \(DisplayName.escaped(worker.hello.name)), not \(expected)")
            }
            try worker.health(timeout: options.phaseTimeout)
            try journal.append(ModuleRecord(kind: .start, module: name, to: image, toVersion: worker.label, schema: worker.hello.stateSchema))
        } catch {
            worker.stop()
            throw error
        }
        let added = lock.withLock { () -> Bool in
            guard routes[name] == nil else { return false }
            routes[name] = Route(name: name, worker: worker)
            unstarted[name] = nil
            return true
        }
        if !added {
            worker.stop()
            throw ModuleError(.alreadyRunning, "The module \(name) is already running")
        }
        return worker.hello
    }

    /// A module the journal names that the host could not start.
    public struct StartFailure: Sendable, Equatable {
        /// The module's name as the journal gives it.
        public var name: String
        /// The program it was to run.
        public var executable: String?
        /// Why it did not start.
        public var reason: String
    }

    /// Starts every module the journal names on its committed version: one that cannot start
    /// (an invalid name, a missing or changed file, a worker that fails) is reported and the
    /// others still start.
    /// - Returns: the names started, and the modules that could not be.
    /// - Throws: ``ModuleError`` `.journal` when the journal cannot be read.
    public func startCommitted() throws(ModuleError) -> (started: [String], failed: [StartFailure]) {
        var started: [String] = []
        var failed: [StartFailure] = []
        for (name, record) in try journal.versions().sorted(by: { $0.key < $1.key }) {
            guard let image = record.to else { continue }
            do throws(ModuleError) {
                try start(name, image: image)
                started.append(name)
            } catch {
                let failure = StartFailure(name: name, executable: image.executable, reason: error.description)
                failed.append(failure)
                if Self.isValidName(name) { lock.withLock { unstarted[name] = failure } }
            }
        }
        return (started, failed)
    }

    /// The modules the journal names that could not be started and have not been since.
    public var unstartedModules: [StartFailure] { lock.withLock { unstarted.values.sorted { $0.name < $1.name } } }

    /// Starts `name`, which could not start on its committed version, on `image` instead: what a
    /// reload does for a module whose current version does not run.
    /// - Returns: a report of the start (committed, no phases).
    /// - Throws: ``ModuleError`` `.unknownModule` when `name` is neither running nor unstarted.
    public func replaceUnstarted(_ name: String, with image: ModuleImage) throws(ModuleError) -> ReloadReport {
        let begin = MonotonicClock.now()
        guard let failure = lock.withLock({ unstarted[name] }) else { throw ModuleError(.unknownModule, "No module named \(name) is running") }
        let hello = try start(name, image: image)
        return ReloadReport(module: name, reload: nextReloadID(name), committed: true, fromVersion: "none (\(failure.executable ?? "?") did not start)",
                            toVersion: "\(DisplayName.escaped(hello.name))@\(DisplayName.escaped(hello.version))", fromSchema: hello.stateSchema, toSchema: hello.stateSchema,
                            phases: [], queued: 0, milliseconds: Double(MonotonicClock.now() - begin) / 1e6)
    }

    /// Refuses a file of the module store whose content no longer matches its digest.
    func checkStored(_ image: ModuleImage) throws(ModuleError) {
        let store = ModuleStore(directory: directory)
        let resolvedStore = (try? FileSystem.realPath(store.store)) ?? store.store
        let resolved = (try? FileSystem.realPath(image.executable)) ?? image.executable
        guard image.executable.hasPrefix(store.store + "/") || resolved.hasPrefix(resolvedStore + "/") else { return }
        _ = try store.verify(image.executable)
    }

    /// Sends `message` to the module `name` and returns its reply.
    ///
    /// During a reload the message waits in the module's queue; it is answered when the reload
    /// commits (by the new version) or rolls back (by the old one).
    /// - Throws: ``ModuleError`` `.unknownModule`, `.workerFailed` (the module refused the
    ///   message), `.io` (its worker died or hung).
    public func send(_ name: String, _ message: [UInt8]) throws(ModuleError) -> [UInt8] {
        let route = try route(name)
        route.lock.lock()
        if route.draining {
            let pending = Pending(message)
            route.queue.append(pending)
            route.lock.unlock()
            return try pending.wait().get()
        }
        let worker = route.active
        route.inFlight += 1
        route.lock.unlock()
        defer {
            route.lock.withLock {
                route.inFlight -= 1
                if route.inFlight == 0 { route.lock.broadcast() }
            }
        }
        do {
            return try worker.message(message, timeout: options.messageTimeout)
        } catch {
            if error.code == .io { restartIfEnded(route, atMostOncePerSecond: true) }
            throw error
        }
    }

    /// Starts the worker of `route` again on the image it ran when it has ended outside a
    /// reload; the new one starts with an empty state, and its `start` record says why.
    /// - Parameter atMostOncePerSecond: skip it when the last restart was less than a second
    ///   ago, so a version that crashes on every message does not cost a process per message.
    func restartIfEnded(_ route: Route, atMostOncePerSecond: Bool) {
        guard let ended = route.lock.withLock({ route.reloading ? nil : route.active }), let how = ended.ending else { return }
        route.lock.lock()
        defer { route.lock.unlock() }
        // Another sender restarted it already, or a reload began since.
        guard route.active === ended, !route.reloading else { return }
        if atMostOncePerSecond, let last = route.restartedAt, MonotonicClock.seconds(since: last) < 1 { return }
        route.restartedAt = MonotonicClock.now()
        let reason = "started again: the worker of \(ended.label) \(how); the state it held is lost"
        do throws(ModuleError) {
            try checkStored(ended.image)
            let worker = try WorkerProcess.spawn(ended.image, environment: options.environment, errorLog: options.errorLog, timeout: options.startTimeout)
            do throws(ModuleError) {
                guard worker.hello.name == ended.hello.name else {
                    throw ModuleError(.spawn, "\(ended.image.commandLine) now runs the module \(DisplayName.escaped(worker.hello.name))")
                }
                try journal.append(ModuleRecord(kind: .start, module: route.name, to: ended.image, toVersion: worker.label, schema: worker.hello.stateSchema,
                                                reason: reason))
            } catch {
                worker.stop()
                throw error
            }
            route.active = worker
            ended.stop()
            options.workerEnded?(route.name, reason)
        } catch {
            // As a module that did not start with the host: a reload may start another version.
            let failure = StartFailure(name: route.name, executable: ended.image.executable,
                                       reason: "its worker \(how), and it could not be started again: \(error)")
            lock.withLock {
                if routes[route.name] === route { routes[route.name] = nil }
                unstarted[route.name] = failure
            }
            ended.stop()
            options.workerEnded?(route.name, "could not be started again (its worker \(how)): \(error); reload another version of it")
        }
    }

    /// What the version in place of `name` announced.
    public func version(of name: String) throws(ModuleError) -> Hello {
        let route = try route(name)
        return route.lock.withLock { route.active.hello }
    }

    /// The image in place for `name`.
    public func image(of name: String) throws(ModuleError) -> ModuleImage {
        let route = try route(name)
        return route.lock.withLock { route.active.image }
    }

    /// Messages waiting in the module's queue (during a reload).
    public func queueLength(of name: String) throws(ModuleError) -> Int {
        let route = try route(name)
        return route.lock.withLock { route.queue.count }
    }

    /// The resident memory of the module's worker, in KiB.
    public func workerResidentKiB(of name: String) throws(ModuleError) -> Int? {
        let route = try route(name)
        return route.lock.withLock { route.active }.residentKiB
    }

    /// The names of the running modules.
    public var moduleNames: [String] { lock.withLock { routes.keys.sorted() } }

    /// Stops every worker. Messages sent afterwards fail with `.unknownModule`.
    public func stop() {
        let all = lock.withLock { () -> [Route] in
            defer { routes = [:] }
            return Array(routes.values)
        }
        for route in all { route.lock.withLock { route.active }.stop() }
    }

    // MARK: - Internals

    func route(_ name: String) throws(ModuleError) -> Route {
        guard let route = lock.withLock({ routes[name] }) else { throw ModuleError(.unknownModule, "No module named \(name) is running") }
        return route
    }

    func nextReloadID(_ name: String) -> String {
        let count = lock.withLock { () -> Int in
            reloadCount += 1
            return reloadCount
        }
        return "\(name)-\(ProcessControl.id)-\(Int(WallClock.now() * 1000))-\(count)"
    }

    public static func isValidName(_ name: String) -> Bool {
        !name.isEmpty && name.count <= 64 && name.unicodeScalars.allSatisfy { $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || $0 == "-" || $0 == "_") }
    }
}

/// One module's routing: the version in place, what is in flight on it, and the queue that
/// holds messages while a reload drains it.
final class Route: @unchecked Sendable {
    // Every field is guarded by `lock`.
    let name: String
    let lock = ConditionLock()
    var active: WorkerProcess
    var draining = false
    var inFlight = 0
    var queue: [Pending] = []
    var reloading = false
    /// When the host last started a worker again after one ended (``ModuleHost/restartIfEnded``).
    var restartedAt: UInt64?

    init(name: String, worker: WorkerProcess) {
        self.name = name
        self.active = worker
    }
}

/// A message waiting in a queue; its sender blocks until a version answers it.
final class Pending: @unchecked Sendable {
    // `result` is written once, before `semaphore` is signalled, and read after the wait.
    let message: [UInt8]
    private let semaphore = DispatchSemaphore(value: 0)
    private var result: Result<[UInt8], ModuleError>?

    init(_ message: [UInt8]) { self.message = message }

    func finish(_ result: Result<[UInt8], ModuleError>) {
        self.result = result
        semaphore.signal()
    }

    func wait() -> Result<[UInt8], ModuleError> {
        semaphore.wait()
        return result!
    }
}
