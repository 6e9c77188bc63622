import FoundationEssentials
import Platform

extension ModuleHost {
    /// Replaces the module `name` by the version `image` runs, through the eight phases:
    /// prepare, drain, snapshot, migrate, swap, restore, verify, then commit or rollback.
    ///
    /// Each phase is journaled. Any failure of the new version (it does not start, announces
    /// another interface, crashes, hangs, fails its health check, restores a different state,
    /// fails a queued message) rolls the reload back: the old version is put back in place with
    /// its state (it never stopped), and the queued messages are replayed to it.
    ///
    /// A module that is not running because its version does not start is started on `image`
    /// instead (``replaceUnstarted(_:with:)``); one whose worker ended is started again first.
    /// - Parameters:
    ///   - name: the module.
    ///   - image: the new version.
    ///   - injectedFailure: for tests, fail at the end of this phase's work.
    /// - Returns: the report; `committed` is false after a rollback.
    /// - Throws: ``ModuleError`` only when nothing was started: `.unknownModule`, `.busy` (a
    ///   reload of this module is running), `.journal` (the begin record could not be written);
    ///   for a module that was not running, what ``replaceUnstarted(_:with:)`` throws.
    public func reload(_ name: String, to image: ModuleImage, injectingFailureAt injectedFailure: ReloadPhase? = nil) throws(ModuleError) -> ReloadReport {
        // A module whose version does not start (with the host, or again after its worker
        // ended) has no state to carry: the new version takes its place.
        func isUnstarted() -> Bool { !moduleNames.contains(name) && unstartedModules.contains { $0.name == name } }
        if isUnstarted() { return try replaceUnstarted(name, with: image) }
        let route = try route(name)
        // A version whose worker ended has no state left to hand over: start it again first.
        restartIfEnded(route, atMostOncePerSecond: false)
        if isUnstarted() { return try replaceUnstarted(name, with: image) }
        let report = try reload(route, to: image, injectingFailureAt: injectedFailure)
        // A rollback puts the old version back: if its worker ended meanwhile, start it again.
        if !report.committed { restartIfEnded(route, atMostOncePerSecond: false) }
        return report
    }

    private func reload(_ route: Route, to image: ModuleImage, injectingFailureAt injectedFailure: ReloadPhase?) throws(ModuleError) -> ReloadReport {
        let start = MonotonicClock.now()
        let name = route.name
        let old: WorkerProcess = try route.lock.withLock { () throws(ModuleError) -> WorkerProcess in
            guard !route.reloading else { throw ModuleError(.busy, "A reload of the module \(name) is already running") }
            route.reloading = true
            return route.active
        }
        defer { route.lock.withLock { route.reloading = false } }
        let id = nextReloadID(name)
        var report = ReloadReport(module: name, reload: id, committed: false, fromVersion: old.label, toVersion: image.commandLine,
                                  fromSchema: old.hello.stateSchema, toSchema: old.hello.stateSchema, phases: [], queued: 0, milliseconds: 0)
        // Only the commit must be durable before it takes effect: a begin or phase record lost
        // with the power leaves the journal at the old version, which is where the module is.
        try journal.append(ModuleRecord(kind: .begin, module: name, reload: id, from: old.image, to: image, fromVersion: old.label, schema: old.hello.stateSchema),
                           sync: options.syncEveryPhase)

        var candidate: WorkerProcess?
        var held: [(message: Pending, reply: [UInt8])] = []
        var batch: [Pending] = []
        var phase = ReloadPhase.prepare
        var phaseStart = MonotonicClock.now()
        let timeout = options.phaseTimeout
        let syncPhases = options.syncEveryPhase
        let observe = options.phaseStarted

        func finish(_ done: ReloadPhase) throws(ModuleError) {
            if injectedFailure == done { throw ModuleError(.injected, "Failure injected at the \(done.rawValue) phase of reloading \(name)") }
            let milliseconds = Double(MonotonicClock.now() - phaseStart) / 1e6
            report.phases.append(.init(phase: done, milliseconds: milliseconds))
            try journal.append(ModuleRecord(kind: .phase, module: name, reload: id, phase: done, milliseconds: milliseconds), sync: syncPhases)
            phaseStart = MonotonicClock.now()
        }

        do throws(ModuleError) {
            // Prepare: start the new version, check its interface, its self-check.
            observe?(name, .prepare)
            try checkStored(image)
            let new = try WorkerProcess.spawn(image, environment: options.environment, errorLog: options.errorLog, timeout: options.startTimeout)
            candidate = new
            report.toVersion = new.label
            report.toSchema = new.hello.stateSchema
            guard new.hello.name == old.hello.name else {
                throw ModuleError(.incompatible, "Refused to reload \(name): \(image.commandLine) runs the module \(DisplayName.escaped(new.hello.name)), not \(DisplayName.escaped(old.hello.name))")
            }
            guard new.hello.protocolVersion == old.hello.protocolVersion else {
                throw ModuleError(.incompatible, "Refused to reload \(name): \(new.label) speaks protocol \(new.hello.protocolVersion), \(old.label) speaks \(old.hello.protocolVersion)")
            }
            try new.notice(.prepare, timeout: timeout)
            try new.health(timeout: timeout)
            try finish(.prepare)

            // Drain: new messages queue; wait for those in flight on the old version.
            phase = .drain
            route.lock.withLock { route.draining = true }
            observe?(name, .drain)
            try new.notice(.drain, timeout: timeout)
            let deadline = MonotonicClock.now() + UInt64(options.drainTimeout * 1e9)
            let drained = route.lock.withLock { route.lock.wait(until: deadline) { route.inFlight == 0 } }
            guard drained else {
                throw ModuleError(.drainTimeout, "The messages in flight on \(old.label) did not finish within \(options.drainTimeout) s")
            }
            try finish(.drain)

            // Snapshot: the old version's state (it keeps it: a rollback needs no transfer).
            phase = .snapshot
            observe?(name, .snapshot)
            try new.notice(.snapshot, timeout: timeout)
            let snapshot = try old.snapshot(timeout: timeout)
            try finish(.snapshot)

            // Migrate: the pure function of whichever side knows both schemas.
            phase = .migrate
            observe?(name, .migrate)
            try new.notice(.migrate, timeout: timeout)
            let target = new.hello.stateSchema
            var state = snapshot.state
            if snapshot.schema < target {
                state = try new.migrate(state, from: snapshot.schema, to: target, timeout: timeout)
            } else if snapshot.schema > target {
                state = try old.migrate(state, from: snapshot.schema, to: target, timeout: timeout)
            }
            try finish(.migrate)

            // Swap: the route names the new version (messages still queue until the commit).
            phase = .swap
            observe?(name, .swap)
            try new.notice(.swap, timeout: timeout)
            route.lock.withLock { route.active = new }
            try finish(.swap)

            // Restore: the state into the new version, read back to prove it took it whole.
            phase = .restore
            observe?(name, .restore)
            try new.notice(.restore, timeout: timeout)
            try new.restore(state, schema: target, timeout: timeout)
            let readBack = try new.snapshot(timeout: timeout)
            guard readBack.schema == target, readBack.state == state else {
                throw ModuleError(.corruptState, "\(new.label) restored a different state than it was given (\(readBack.state.count) bytes in schema \(readBack.schema), given \(state.count) in schema \(target))")
            }
            try finish(.restore)

            // Verify: health, then the queued messages answered (replies held until the commit).
            phase = .verify
            observe?(name, .verify)
            try new.notice(.verify, timeout: timeout)
            try new.health(timeout: timeout)
            while true {
                batch = route.lock.withLock {
                    defer { route.queue.removeAll() }
                    return route.queue
                }
                if batch.isEmpty { break }
                while let message = batch.first {
                    held.append((message, try new.message(message.message, timeout: options.messageTimeout)))
                    batch.removeFirst()
                }
            }
            // The last arrivals and the commit under the route's lock, so no message slips between.
            route.lock.lock()
            do throws(ModuleError) {
                while let message = route.queue.first {
                    held.append((message, try new.message(message.message, timeout: options.messageTimeout)))
                    route.queue.removeFirst()
                }
                try finish(.verify)
                phase = .commit
                try journal.append(ModuleRecord(kind: .commit, module: name, reload: id, from: old.image, to: image,
                                                fromVersion: old.label, toVersion: new.label, schema: target,
                                                milliseconds: Double(MonotonicClock.now() - start) / 1e6))
                route.draining = false
                route.lock.unlock()
            } catch {
                route.lock.unlock()
                throw error
            }
        } catch {
            report.failedPhase = phase
            report.reason = error.description
            rollBack(route, to: old, candidate: candidate, replaying: held.map(\.message) + batch)
            report.queued = held.count + batch.count
            report.milliseconds = Double(MonotonicClock.now() - start) / 1e6
            do {
                try journal.append(ModuleRecord(kind: .rollback, module: name, reload: id, phase: phase, from: old.image, to: image,
                                                fromVersion: old.label, toVersion: report.toVersion, schema: old.hello.stateSchema,
                                                milliseconds: report.milliseconds, reason: error.description))
            } catch {
                report.reason = (report.reason ?? "") + "; and the rollback record could not be written: \(error)"
            }
            return report
        }
        report.committed = true
        report.queued = held.count
        report.milliseconds = Double(MonotonicClock.now() - start) / 1e6
        for (message, reply) in held { message.finish(.success(reply)) }
        old.stop()
        return report
    }

    /// Puts `old` back in place, kills the candidate, and answers every message the reload held
    /// or queued with the old version, in arrival order; then lets messages through again.
    private func rollBack(_ route: Route, to old: WorkerProcess, candidate: WorkerProcess?, replaying earlier: [Pending]) {
        candidate?.stop()
        var replay: [Pending] = route.lock.withLock {
            route.active = old
            defer { route.queue.removeAll() }
            return earlier + route.queue
        }
        while true {
            for message in replay {
                do {
                    message.finish(.success(try old.message(message.message, timeout: options.messageTimeout)))
                } catch {
                    message.finish(.failure(error))
                }
            }
            let done = route.lock.withLock { () -> Bool in
                if route.queue.isEmpty {
                    route.draining = false
                    return true
                }
                replay = route.queue
                route.queue.removeAll()
                return false
            }
            if done { return }
        }
    }
}
