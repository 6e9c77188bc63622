#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import FoundationEssentials
import Handoff
import Platform
import SelfUpgrade

/// Runs one program from a home's current version and upgrades it by overlap.
///
/// Invariants:
/// - The listening sockets belong to the supervisor: they stay open, and queue connections,
///   whatever the program does (crash, exit 42, upgrade), so no connection is refused.
/// - At any instant one or two versions run: the serving one, and during an upgrade or rollback
///   the candidate beside it on the same listeners. `current` moves only after the candidate
///   said `READY=1` (from its own pid), and the old one is stopped only after that.
/// - A candidate that is not ready in time, or exits, is stopped; the transaction is journaled as
///   aborted and the old version goes on serving.
/// - A version that was never ready and ends is replaced by the last version that was
///   (journaled as a rollback); every other end (42 included) restarts it after a bounded
///   exponential backoff, so a program that exits at once, forever, never spins.
/// - Everything a program starts ends with it, and nothing any program started outlives the
///   supervisor, even killed with SIGKILL (``ProcessTrees``: a cgroup and its watcher; without
///   one, a subreaper, which cannot act once it is killed).
///
/// One thread runs everything (the event loop and the transactions, whose waits pump the same
/// loop), so the state needs no lock; the class is `@unchecked Sendable` only because the
/// transaction steps are `@Sendable` closures that call back into it on that same thread.
public final class Supervisor: @unchecked Sendable {
    struct Child {
        let pid: Int32
        let version: VersionID
        let started: UInt64
        var ready = false
        var readyAt: UInt64?
        /// Its cgroup, where everything it starts lives; nil under the subreaper.
        var leaf: ProcessTrees.Leaf?
    }

    let configuration: SupervisorConfiguration
    let upgrader: Upgrader
    let listeners: Listeners
    let signals: SignalPipe
    let notify: NotifySocket
    let control: ListeningSocket
    let lock: FileLock
    /// Where each program's process tree is contained, so that all of it ends with it.
    let trees: ProcessTrees
    /// The supervisor's own `NOTIFY_SOCKET` (systemd), if any.
    let systemd: String?
    let baseEnvironment: [String: String]

    var children: [Int32: Child] = [:]
    /// Children that ended and how, until someone who waits for them takes the entry.
    var ended: [Int32: TerminationStatus] = [:]
    var main: Int32?
    var confirmed: VersionID?
    var busy = false
    var crashes = 0
    var restartAt: UInt64?
    var restarts = 0
    var terminating: Int32?
    var killAt: UInt64?
    var lastStatus: TerminationStatus?
    /// The program ended itself with status 0 after it was ready: the supervisor stops too.
    var finished = false
    var systemdReady = false
    var connections: [Int32: (socket: Socket, input: [UInt8], since: UInt64)] = [:]
    /// Connections from another user: their request is read, then answered with a refusal.
    var refused: Set<Int32> = []
    /// While out of descriptors, the control socket is not polled until then (no busy loop).
    var controlPausedUntil: UInt64?
    /// How long a control connection may take to send its request.
    static let requestDeadline: UInt64 = 2_000_000_000

    // MARK: - API

    /// Prepares everything that can fail before the program starts: the home (adopting the
    /// program when it is new), the listeners, the notify and control sockets.
    /// - Throws: ``SupervisorError`` naming the path or address and the action.
    public init(_ configuration: SupervisorConfiguration) throws(SupervisorError) {
        self.configuration = configuration
        systemd = ProcessControl.environment("NOTIFY_SOCKET")
        ProcessControl.removeEnvironment("NOTIFY_SOCKET")
        let inherited: Listeners
        do { inherited = try Listeners.inherited() } catch { throw SupervisorError("\(error)") }
        // Listeners before the home: an address that cannot be bound changes nothing on disk.
        do { listeners = try inherited.opening(configuration.listen) } catch { throw SupervisorError("\(error)") }
        let home = configuration.home
        do {
            var upgrader = try Upgrader(homeDirectory: home, program: SupervisorConfiguration.identity,
                                        configuration: FileSystem.exists(home + "/config.json") ? nil : UpgradeConfiguration())
            upgrader.configuration.maxRestarts = Int.max
            if try upgrader.currentVersion() == nil {
                guard let program = ProcessControl.findExecutable(configuration.program), FileSystem.exists(program) else {
                    throw SupervisorError("Program \"\(configuration.program)\" not found (not a path to a file, nor a name in PATH)")
                }
                let id = try upgrader.adopt(executable: FileSystem.absolute(program))
                Self.log("adopted \"\(program)\" into \(home) as \(id.short)")
            }
            // Another program's home (autodev's own) is refused before its recovery could run.
            guard let current = try upgrader.currentVersion(), FileSystem.exists(upgrader.binaryPath(of: current)) else {
                throw SupervisorError("\"\(home)\" is not a supervised program's home (no versions/<id>/program under current)")
            }
            if case .fresh(let notes) = try upgrader.start() { notes.forEach { Self.log("recovery: \($0)") } }
            self.upgrader = upgrader
        } catch let error as SupervisorError {
            throw error
        } catch {
            throw SupervisorError("\(error)")
        }
        do {
            guard let lock = try FileLock.tryAcquire(home + "/supervise.lock") else {
                throw SupervisorError("Another supervisor runs on \"\(home)\" (it holds \"\(home)/supervise.lock\")")
            }
            self.lock = lock
            // Killed outright, the supervisor leaves nothing: its programs get SIGTERM (the
            // direct child also from PR_SET_PDEATHSIG), then SIGKILL after the stop timeout.
            trees = ProcessTrees.start(name: "supervise", graceSeconds: configuration.stopTimeoutSeconds)
        } catch let error as SupervisorError {
            throw error
        } catch {
            throw SupervisorError("\(error)")
        }
        do {
            signals = try SignalPipe.install([SIGCHLD, SIGTERM, SIGINT, SIGHUP])
            notify = try NotifySocket.bind("@autodev-supervise/\(ProcessControl.id)/\(UInt64.random(in: 0...UInt64.max))")
            control = try ListeningSocket.unix(path: SupervisorConfiguration.controlSocket(home: home))
        } catch { throw SupervisorError("\(error)") }
        // Passed as systemd passes them: blocking (the supervisor never accepts on them). The flag
        // belongs to the shared open file description, so a program that wants it sets it itself.
        do {
            for listener in listeners.all { try Descriptors.setNonBlocking(listener.descriptor, false, path: "listener \"\(listener.name)\"") }
        } catch { throw SupervisorError("\(error)") }
        ProcessControl.ignoreBrokenPipe()
        var environment = ProcessControl.environment()
        for name in ["LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES", "NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"] {
            environment.removeValue(forKey: name)
        }
        environment["NOTIFY_SOCKET"] = notify.address
        if !listeners.all.isEmpty {
            environment["LISTEN_FDS"] = String(listeners.all.count)
            environment["LISTEN_PID"] = ""
            environment["LISTEN_FDNAMES"] = listeners.all.map(\.name).joined(separator: ":")
        }
        baseEnvironment = environment
    }

    /// The listeners passed to the program, in order (`name address`).
    public var listenerDescriptions: [String] {
        listeners.all.map { "\($0.name) \($0.addressDescription)" }
    }

    /// Starts the program and supervises it; returns the exit status the supervisor should end
    /// with (the program's, after SIGTERM or SIGINT, or 0 when it exited 0 on its own).
    public func run() -> Int32 {
        sendSystemd("MAINPID=\(ProcessControl.id)\nSTATUS=starting")
        Self.log("pid \(ProcessControl.id) supervising \(configuration.program) on \(listenerDescriptions.isEmpty ? "no listener" : listenerDescriptions.joined(separator: ", ")); control \(SupervisorConfiguration.controlSocket(home: configuration.home))")
        if let reason = trees.fallbackReason {
            Self.log("process trees: the supervisor is their subreaper (\(reason)); what a program started is killed when it ends, but not if the supervisor is killed with SIGKILL")
        }
        startMain()
        while true {
            if let code = exitCode() {
                // Nothing the programs started outlives the supervisor.
                trees.endAll()
                return code
            }
            pumpOnce(until: nil)
        }
    }

    // MARK: - Internals: the loop

    /// One round: wait for a signal, a notification, a control request, or the next timer.
    func pumpOnce(until deadline: UInt64?) {
        let now = MonotonicClock.now()
        if let until = controlPausedUntil, now >= until { controlPausedUntil = nil }
        let requestDeadlines = connections.values.map { $0.since + Self.requestDeadline }
        var wake = ([deadline, restartAt, killAt, controlPausedUntil].compactMap { $0 } + requestDeadlines).min()
        if !busy, main == nil, restartAt == nil, terminating == nil, !finished { wake = now }
        let timeout = wake.map { Double($0 > now ? $0 - now : 0) / 1e9 }
        var watched: [(descriptor: Int32, events: Int16)] = [(signals.descriptor, Poller.readable), (notify.descriptor, Poller.readable),
                                                             (control.rawValue, controlPausedUntil == nil ? Poller.readable : 0)]
        let open = Array(connections.keys)
        watched += open.map { ($0, Poller.readable) }
        let events = Poller.wait(watched, timeout: timeout)
        if events[0] != 0 { handleSignals() }
        if events[1] != 0 { handleNotifications() }
        if events[2] != 0 { acceptControl() }
        for (index, fd) in open.enumerated() where events[3 + index] != 0 { readControl(fd) }
        timers()
    }

    /// Pumps the loop until `condition` holds or `deadline` passes. - Returns: whether it holds.
    func wait(until deadline: UInt64, for condition: () -> Bool) -> Bool {
        while !condition() {
            if MonotonicClock.now() >= deadline { return false }
            pumpOnce(until: deadline)
        }
        return true
    }

    func timers() {
        let now = MonotonicClock.now()
        // A control connection that has not sent its request in time is closed: idle clients
        // cannot hold the supervisor's descriptors.
        for (fd, connection) in connections where now >= connection.since + Self.requestDeadline {
            connections.removeValue(forKey: fd)
            refused.remove(fd)
            connection.socket.close()
        }
        if let at = killAt, now >= at {
            killAt = nil
            for pid in children.keys {
                Self.log("pid \(pid) did not exit within \(configuration.stopTimeoutSeconds) s of SIG\(terminating == SIGINT ? "INT" : "TERM"): SIGKILL")
                ChildProcess.signalGroup(pid, SIGKILL)
                ChildProcess.signal(pid, SIGKILL)
            }
        }
        guard !busy, terminating == nil, main == nil, !finished else { return }
        if let at = restartAt, now < at { return }
        restartAt = nil
        startMain()
    }

    func exitCode() -> Int32? {
        guard !busy else { return nil }
        if terminating != nil, main == nil, children.isEmpty {
            sendSystemd("STOPPING=1")
            return Self.code(lastStatus ?? .exited(0))
        }
        if terminating == nil, main == nil, finished {
            sendSystemd("STOPPING=1")
            Self.log("the program exited with status 0: stopping")
            return 0
        }
        return nil
    }

    // MARK: - Internals: children

    func startMain() {
        do {
            guard let version = try upgrader.currentVersion() else { throw SupervisorError("no current version in \"\(configuration.home)\"") }
            let pid = try spawn(version)
            main = pid
            lastStatus = nil
            Self.log("started \(version.short) as pid \(pid)")
        } catch {
            Self.log("could not start the program: \(error)")
            scheduleRestart()
        }
    }

    func spawn(_ version: VersionID) throws -> Int32 {
        // What runs is what was stored: its bytes still match its id.
        try upgrader.verifyStored(version)
        let path = upgrader.binaryPath(of: version)
        let arguments = [configuration.program] + configuration.arguments
        let descriptors = listeners.all.map(\.descriptor)
        var leaf = trees.makeLeaf()
        var launched = Result { () throws(Subprocess.LaunchError) -> Int32 in
            try ChildProcess.spawn(path, arguments: arguments, environment: baseEnvironment, listeners: descriptors, cgroup: leaf)
        }
        if case .failure(let error) = launched, error.step == "cgroup" {
            // The cgroup exists but a process cannot join it (its parent distributes controllers,
            // a policy): contain trees as their subreaper from now on.
            trees.end(leaf, root: nil)
            leaf = nil
            trees.fallBack(because: "a program could not join its cgroup: \(error.errno)")
            Self.log("process trees: a program could not join its cgroup (\(error.errno)); the supervisor is their subreaper from now on")
            launched = Result { () throws(Subprocess.LaunchError) -> Int32 in
                try ChildProcess.spawn(path, arguments: arguments, environment: baseEnvironment, listeners: descriptors)
            }
        }
        let pid = try launched.get()
        children[pid] = Child(pid: pid, version: version, started: MonotonicClock.now(), leaf: leaf)
        if configuration.readiness == .started { markReady(pid) }
        return pid
    }

    /// Schedules the next start after a backoff: 0.1 s after the first end in a row, doubling up
    /// to ``SupervisorConfiguration/maxBackoffSeconds``.
    func scheduleRestart(because reason: String? = nil) {
        crashes += 1
        let delay = min(0.1 * Double(1 << min(crashes - 1, 20)), configuration.maxBackoffSeconds)
        restartAt = MonotonicClock.now() + UInt64(delay * 1e9)
        Self.log((reason.map { $0 + "; " } ?? "") + "restarting in \(delay) s (\(reason == nil ? "crash" : "end") \(crashes) in a row)")
    }

    func handleSignals() {
        for signal in signals.take() {
            switch signal {
            case SIGCHLD:
                while let (pid, status) = ChildProcess.reapAny() { ended(pid, status) }
            case SIGTERM, SIGINT:
                if terminating == nil { sendSystemd("STOPPING=1") }
                terminating = signal
                restartAt = nil
                for pid in children.keys { ChildProcess.signal(pid, signal) }
                if killAt == nil, !children.isEmpty {
                    killAt = MonotonicClock.now() + UInt64(configuration.stopTimeoutSeconds * 1e9)
                }
            case SIGHUP:
                if let main { ChildProcess.signal(main, SIGHUP) }
            default: break
            }
        }
    }

    func ended(_ pid: Int32, _ status: TerminationStatus) {
        guard let child = children.removeValue(forKey: pid) else { return }
        // Everything it started ends with it: its cgroup, or the orphans it left to the subreaper.
        trees.end(child.leaf, root: nil)
        trees.killOrphans(keeping: Set(children.keys))
        if pid != main { ended[pid] = status }  // someone waits for it (a candidate, an old version)
        if children.isEmpty { killAt = nil }
        guard pid == main else { return }
        main = nil
        lastStatus = status
        Self.log("pid \(pid) (\(child.version.short)) \(status)")
        if terminating != nil || busy { return }
        restarts += 1
        // A version that never said it was ready has not proved itself, however it ended (a
        // crash, 0, 42): back to the last version that did.
        var rolledBack = false
        if !child.ready, let confirmed, confirmed != child.version {
            do {
                let outcome = try upgrader.rollback(to: confirmed, options: Self.noRestart)
                Self.log("\(child.version.short) ended (\(status)) before it was ready: rolled back to \(confirmed.short) (\(outcome.transaction))")
                rolledBack = true
            } catch {
                Self.log("\(child.version.short) ended (\(status)) before it was ready, and the rollback to \(confirmed.short) failed: \(error)")
            }
        }
        if status == .exited(0), !rolledBack {
            restarts -= 1
            finished = true
            return
        }
        // Every other end starts the program again after a backoff, whatever the status (42
        // included, ready or not): a program that exits at once, forever, starts at most about
        // once per maxBackoffSeconds, never in a loop. Only a run that stayed ready for a healthy
        // period starts the count again.
        if child.ready, MonotonicClock.seconds(since: child.readyAt ?? child.started) >= Self.healthySeconds { crashes = 0 }
        if status == .exited(42), !rolledBack {
            scheduleRestart(because: "exit status 42: restarting into the current version")
        } else {
            scheduleRestart()
        }
    }

    /// How long a version must stay ready for its end to count as the first in a row again.
    static let healthySeconds = 10.0

    static var noRestart: Upgrader.UpgradeOptions {
        var options = Upgrader.UpgradeOptions()
        options.restart = false
        return options
    }

    func handleNotifications() {
        while let message = notify.receive() {
            guard children[message.sender] != nil else {
                Self.log("ignored a notification from pid \(message.sender), not a supervised process")
                continue
            }
            if message.fields["READY"] == "1" { markReady(message.sender) }
        }
    }

    func markReady(_ pid: Int32) {
        guard var child = children[pid], !child.ready else { return }
        child.ready = true
        child.readyAt = MonotonicClock.now()
        children[pid] = child
        guard pid == main else { return }
        confirmed = child.version
        if !busy {
            sendSystemd("READY=1\nSTATUS=serving \(child.version.short) (pid \(pid))")
        }
    }

    /// SIGTERM, wait for the drain, SIGKILL at the deadline. - Returns: how it ended and the seconds it took.
    func stop(_ pid: Int32) -> (TerminationStatus?, Double) {
        guard children[pid] != nil else { return (ended.removeValue(forKey: pid), 0) }
        let start = MonotonicClock.now()
        ChildProcess.signal(pid, SIGTERM)
        let deadline = start + UInt64(configuration.stopTimeoutSeconds * 1e9)
        if !wait(until: deadline, for: { ended[pid] != nil }) {
            Self.log("pid \(pid) did not exit within \(configuration.stopTimeoutSeconds) s of SIGTERM: SIGKILL")
            ChildProcess.signalGroup(pid, SIGKILL)
            ChildProcess.signal(pid, SIGKILL)
            _ = wait(until: MonotonicClock.now() + 5_000_000_000, for: { ended[pid] != nil })
        }
        return (ended.removeValue(forKey: pid), MonotonicClock.seconds(since: start))
    }

    // MARK: - Internals: systemd

    func sendSystemd(_ text: String) {
        guard let systemd else { return }
        do { try NotifySocket.send(text, to: systemd) } catch { Self.log("sd_notify: \(error)") }
    }

    /// One line of the supervisor's log on standard error. The line quotes outside text (program
    /// and home paths, listener names, a program's status words): it is escaped here, once, so
    /// nothing in it moves the cursor or starts a line of its own.
    static func log(_ line: String) {
        try? FileDescriptor(rawValue: 2, path: "standard error").writeAll(Array("autodev supervise: \(TerminalText.escaped(line))\n".utf8))
    }

    static func code(_ status: TerminationStatus) -> Int32 {
        switch status {
        case .exited(let code): code
        case .signaled(let signal): 128 + signal
        case .timedOut, .exceededWriteQuota, .fileSystemFull: 1
        }
    }
}
