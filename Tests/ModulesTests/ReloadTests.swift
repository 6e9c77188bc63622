import CounterModule
import Foundation
@testable import Modules
import Platform
import Testing
import TestSupport

@Suite("Hot reload of modules")
struct ReloadTests {
    @Test("a reload to a new schema migrates the state up, and back down")
    func migratesUpAndDown() throws {
        let fixture = try Fixture()
        let host = fixture.host
        try host.start("counter", image: Fixture.counter("1"))
        #expect(String(try host.send("counter", Array("add a 5".utf8))) == "a 5")
        let up = try host.reload("counter", to: Fixture.counter("2"))
        #expect(up.committed, "\(up.reason ?? "")")
        #expect(up.phases.map(\.phase) == ReloadPhase.steps)
        #expect((up.fromSchema, up.toSchema) == (1, 2))
        #expect(String(try host.send("counter", Array("add a 2".utf8))) == "a 7")
        #expect(try host.version(of: "counter").stateSchema == 2)
        let down = try host.reload("counter", to: Fixture.counter("1"))
        #expect(down.committed, "\(down.reason ?? "")")
        #expect(String(try host.send("counter", Array("get a".utf8))) == "a 7")
        #expect(try host.version(of: "counter").version == "1")
    }

    @Test("a committed worker that is killed starts again on its version: the message that found it gone fails, the next are answered; a reload then works")
    func killedWorkerStartsAgain() throws {
        let fixture = try Fixture()
        let host = fixture.host
        try host.start("counter", image: Fixture.counter("2"))
        #expect(String(try host.send("counter", Array("add a 5".utf8))) == "a 5")
        let first = try host.version(of: "counter").pid
        kill(first, SIGKILL)
        let found = #expect(throws: ModuleError.self) { try host.send("counter", Array("add a 1".utf8)) }
        #expect(found?.code == .io)
        // Started again, empty: the state ended with the worker.
        #expect(String(try host.send("counter", Array("add a 1".utf8))) == "a 1")
        let second = try host.version(of: "counter").pid
        #expect(second != first)
        let starts = try host.journal.records().filter { $0.module == "counter" && $0.kind == .start }
        #expect(starts.count == 2)
        #expect(starts.last?.reason?.hasPrefix("started again: the worker of counter@2 was killed by signal 9") == true, "\(starts.last?.reason ?? "")")

        // A reload of a module whose worker has ended starts it first, then reloads.
        kill(second, SIGKILL)
        try #require(Processes.waitUntilEnded(second), "the killed worker did not end")
        let report = try host.reload("counter", to: Fixture.counter("1"))
        #expect(report.committed, "\(report.reason ?? "")")
        #expect(String(try host.send("counter", Array("add b 2".utf8))) == "b 2")
        #expect(try host.version(of: "counter").version == "1")
    }

    @Test("a worker that ended and cannot start again (its stored file changed) becomes an unstarted module; a reload starts another version in its place")
    func endedWorkerThatCannotStartAgain() throws {
        let notices = Replies()
        var options = HostOptions()
        options.workerEnded = { name, what in notices.append(.success("\(name): \(what)")) }
        let fixture = try Fixture(options: options)
        let host = fixture.host
        let stored = try ModuleStore(directory: fixture.directory).stage(Fixture.counterWorker)
        try host.start("counter", image: ModuleImage(executable: stored.path))
        #expect(String(try host.send("counter", Array("add a 5".utf8))) == "a 5")
        try StartTests.tamper(stored.path)
        let pid = try host.version(of: "counter").pid
        kill(pid, SIGKILL)
        #expect(throws: ModuleError.self) { try host.send("counter", Array("add a 1".utf8)) }
        // Refused, not run: the module is out of service, said once, and a reload replaces it.
        let after = #expect(throws: ModuleError.self) { try host.send("counter", Array("add a 1".utf8)) }
        #expect(after?.code == .unknownModule)
        #expect(host.unstartedModules.map(\.name) == ["counter"])
        #expect(host.unstartedModules.first?.reason.contains("could not be started again") == true, "\(host.unstartedModules)")
        let said = notices.all.compactMap { try? $0.get() }
        #expect(said.count == 1 && said[0].hasPrefix("counter: could not be started again (its worker was killed by signal 9"), "\(said)")
        #expect(said.first?.contains("hashes to") == true, "\(said)")
        let report = try host.reload("counter", to: Fixture.counter("1"))
        #expect(report.committed, "\(report.reason ?? "")")
        #expect(String(try host.send("counter", Array("add b 2".utf8))) == "b 2")
    }

    @Test("a reload that rolls back to an old worker that ended meanwhile starts it again")
    func rollbackToEndedWorker() throws {
        let target = Target()
        var options = HostOptions()
        // The old worker is killed just before its snapshot is taken.
        options.phaseStarted = { _, phase in
            guard phase == .snapshot, let pid = target.pid else { return }
            kill(pid, SIGKILL)
            _ = Processes.waitUntilEnded(pid)
        }
        let fixture = try Fixture(options: options)
        let host = fixture.host
        try host.start("counter", image: Fixture.counter("2"))
        let old = try host.version(of: "counter").pid
        target.pid = old
        let report = try host.reload("counter", to: Fixture.counter("1"))
        #expect(!report.committed && report.failedPhase == .snapshot, "\(report)")
        target.pid = nil
        #expect(String(try host.send("counter", Array("add c 3".utf8))) == "c 3")
        #expect(try host.version(of: "counter").pid != old)
        #expect(try host.version(of: "counter").version == "2")
    }

    /// The pid a test hook kills.
    final class Target: @unchecked Sendable {
        private let lock = NSLock()
        private var value: Int32?
        var pid: Int32? {
            get { lock.withLock { value } }
            set { lock.withLock { value = newValue } }
        }
    }

    @Test("the migration is a pure function with a lossless round trip 1 → 2 → 1")
    func migrationRoundTrip() throws {
        let state = Array("a=3\nb=-2\n".utf8)
        let up = try CounterV2.migrate(state, from: 1, to: 2)
        #expect(String(up) == "a\t3\t0\nb\t-2\t0\n")
        #expect(try CounterV1.migrate(up, from: 2, to: 1) == state)
        #expect(throws: (any Error).self) { try CounterV2.migrate(state, from: 1, to: 3) }
    }

    @Test("a failure injected at each phase rolls back with the old state and every message answered", arguments: ReloadPhase.steps)
    func injectedFailure(at phase: ReloadPhase) throws {
        let queued = 8
        let senders = Senders()
        var options = HostOptions()
        options.phaseStarted = { name, started in
            // Messages that arrive while the module drains wait in its queue.
            guard started == (phase == .prepare ? .drain : phase), started != .prepare else { return }
            senders.start(Fixture.startSenders(senders.host!, module: name, key: "k", count: queued))
            Fixture.waitUntilQueued(senders.host!, module: name, count: queued)
        }
        let fixture = try Fixture(options: options)
        let host = fixture.host
        senders.host = host
        try host.start("counter", image: Fixture.counter("1"))
        _ = try host.send("counter", Array("add k 100".utf8))
        let report = try host.reload("counter", to: Fixture.counter("2"), injectingFailureAt: phase)
        #expect(!report.committed)
        #expect(report.failedPhase == phase)
        #expect(report.reason?.contains("injected") == true)
        let replies = senders.wait()
        if phase != .prepare {
            #expect(replies.count == queued)
            // Answered by the old version, each exactly once: totals 101...108 in some order.
            let totals = replies.compactMap { try? $0.get() }.sorted()
            #expect(totals == (101...(100 + queued)).map { "k \($0)" })
        }
        #expect(try host.version(of: "counter").version == "1")
        #expect(String(try host.send("counter", Array("get k".utf8))) == "k \(phase == .prepare ? 100 : 100 + queued)")
        let kinds = try host.journal.records().map(\.kind)
        #expect(kinds.last == .rollback)
    }

    @Test("a version with another protocol version is refused at prepare")
    func incompatibleRefused() throws {
        let fixture = try Fixture()
        let host = fixture.host
        try host.start("counter", image: Fixture.counter("1"))
        let report = try host.reload("counter", to: Fixture.counter("2", fault: "incompatible@prepare"))
        #expect(!report.committed)
        #expect(report.failedPhase == .prepare)
        #expect(report.reason?.contains("speaks protocol 1001") == true)
        #expect(report.phases.isEmpty)
        #expect(String(try host.send("counter", Array("add x 1".utf8))) == "x 1")
    }

    @Test("a new version that crashes during verify is rolled back; the host keeps serving")
    func crashDuringVerify() throws {
        try expectRollback(fault: "crash@verify", phase: .verify)
    }

    @Test("a new version that hangs during drain is rolled back after the timeout")
    func hangDuringDrain() throws {
        var options = HostOptions()
        options.phaseTimeout = 0.5
        try expectRollback(fault: "hang@drain", phase: .drain, options: options)
    }

    @Test("a new version that corrupts its state during restore is rolled back")
    func corruptDuringRestore() throws {
        try expectRollback(fault: "corrupt@restore", phase: .restore, reason: "restored a different state")
    }

    @Test("a crash at any phase is rolled back", arguments: ["prepare", "drain", "snapshot", "migrate", "swap", "restore"])
    func crashAtPhase(_ phase: String) throws {
        try expectRollback(fault: "crash@\(phase)", phase: ReloadPhase(rawValue: phase)!)
    }

    private func expectRollback(fault: String, phase: ReloadPhase, reason: String? = nil, options: HostOptions = HostOptions()) throws {
        let fixture = try Fixture(options: options)
        let host = fixture.host
        try host.start("counter", image: Fixture.counter("1"))
        _ = try host.send("counter", Array("add a 41".utf8))
        let report = try host.reload("counter", to: Fixture.counter("2", fault: fault))
        #expect(!report.committed)
        #expect(report.failedPhase == phase, "\(report.reason ?? "")")
        if let reason { #expect(report.reason?.contains(reason) == true, "\(report.reason ?? "")") }
        #expect(try host.version(of: "counter").version == "1")
        #expect(String(try host.send("counter", Array("add a 1".utf8))) == "a 42")
        // And the next reload, of a sound version, commits.
        let again = try host.reload("counter", to: Fixture.counter("2"))
        #expect(again.committed, "\(again.reason ?? "")")
        #expect(String(try host.send("counter", Array("get a".utf8))) == "a 42")
    }

    @Test("a second reload of the same module while one runs is refused as busy")
    func busy() throws {
        let inner = InnerResult()
        var options = HostOptions()
        options.phaseStarted = { name, phase in
            guard phase == .snapshot else { return }
            inner.set(Result { () throws(ModuleError) in try inner.host!.reload(name, to: Fixture.counter("2")) })
        }
        let fixture = try Fixture(options: options)
        inner.host = fixture.host
        try fixture.host.start("counter", image: Fixture.counter("1"))
        let report = try fixture.host.reload("counter", to: Fixture.counter("2"))
        #expect(report.committed)
        #expect(throws: ModuleError.self) { try inner.value!.get() }
        if case .failure(let error)? = inner.value { #expect(error.code == .busy) }
    }

    @Test("concurrent reloads of different modules under load do not interfere and lose nothing")
    func concurrentReloads() throws {
        let fixture = try Fixture()
        let host = fixture.host
        let names = ["c1", "c2", "c3"]
        for name in names { try host.start(name, image: Fixture.counter("1"), module: "counter") }
        let load = names.map { Fixture.startSenders(host, module: $0, key: "k", count: 20) }
        let group = DispatchGroup()
        let reports = ReportBox()
        for name in names {
            group.enter()
            Thread.detachNewThread {
                for version in ["2", "1", "2"] {
                    reports.append(Result { () throws(ModuleError) in try host.reload(name, to: Fixture.counter(version)) })
                }
                group.leave()
            }
        }
        group.wait()
        for (group, _) in load { group.wait() }
        for report in reports.all { #expect((try? report.get().committed) == true) }
        for (name, (_, replies)) in zip(names, load) {
            #expect(replies.all.count == 20)
            #expect(replies.all.compactMap { try? $0.get() }.sorted() == (1...20).map { "k \($0)" }.sorted())
            #expect(String(try host.send(name, Array("get k".utf8))) == "k 20")
            #expect(try host.version(of: name).version == "2")
        }
    }

    @Test("a host that died mid-reload comes back on the last committed version")
    func recovery() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("autodev-modules-\(UUID().uuidString.prefix(8))").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let journal = try ModuleJournal(directory: directory)
        let v1 = Fixture.counter("1"), v2 = Fixture.counter("2")
        try journal.append(ModuleRecord(kind: .start, module: "counter", to: v1, toVersion: "counter@1"))
        try journal.append(ModuleRecord(kind: .begin, module: "counter", reload: "r1", from: v1, to: v2, fromVersion: "counter@1"))
        try journal.append(ModuleRecord(kind: .phase, module: "counter", reload: "r1", phase: .swap))
        let host = try ModuleHost(directory: directory)
        defer { host.stop() }
        #expect(host.recoveryNotes.count == 1)
        #expect(try host.journal.records().last?.kind == .rollback)
        #expect(try host.startCommitted().started == ["counter"])
        #expect(try host.version(of: "counter").version == "1")
        // Recovery runs once: a second host finds nothing unfinished.
        #expect(try ModuleHost(directory: directory).recoveryNotes.isEmpty)
    }

    @Test("1,000 reloads in a row under load: nothing lost; the host's resident memory is reported")
    func thousandReloads() throws {
        let fixture = try Fixture()
        let host = fixture.host
        try host.start("counter", image: Fixture.counter("1"))
        let stop = StopFlag()
        let sent = Counter(), answered = Counter()
        let sender = DispatchGroup()
        sender.enter()
        Thread.detachNewThread {
            while !stop.isSet {
                sent.increment()
                if (try? host.send("counter", Array("add k 1".utf8))) != nil { answered.increment() }
            }
            sender.leave()
        }
        let before = ResidentMemory.kibibytes() ?? 0
        var committed = 0
        for index in 0..<1_000 {
            let report = try host.reload("counter", to: Fixture.counter(index % 2 == 0 ? "2" : "1"))
            if report.committed { committed += 1 }
        }
        let after = ResidentMemory.kibibytes() ?? 0
        stop.set()
        sender.wait()
        print("1000 reloads: \(committed) committed; host RSS \(before) KiB before, \(after) KiB after; \(sent.value) messages sent, \(answered.value) answered")
        #expect(committed == 1_000)
        #expect(sent.value == answered.value)
        #expect(String(try host.send("counter", Array("get k".utf8))) == "k \(answered.value)")
    }
}

final class Senders: @unchecked Sendable {
    var host: ModuleHost?
    private var running: [(DispatchGroup, Replies)] = []
    private let lock = NSLock()
    func start(_ senders: (DispatchGroup, Replies)) { lock.withLock { running.append(senders) } }
    func wait() -> [Result<String, ModuleError>] {
        let all = lock.withLock { running }
        return all.flatMap { group, replies in
            group.wait()
            return replies.all
        }
    }
}

final class InnerResult: @unchecked Sendable {
    var host: ModuleHost?
    private(set) var value: Result<ReloadReport, ModuleError>?
    func set(_ value: Result<ReloadReport, ModuleError>) { self.value = value }
}

final class ReportBox: @unchecked Sendable {
    private let lock = NSLock()
    private var items: [Result<ReloadReport, ModuleError>] = []
    func append(_ item: Result<ReloadReport, ModuleError>) { lock.withLock { items.append(item) } }
    var all: [Result<ReloadReport, ModuleError>] { lock.withLock { items } }
}

final class StopFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var flag = false
    var isSet: Bool { lock.withLock { flag } }
    func set() { lock.withLock { flag = true } }
}

final class Counter: @unchecked Sendable {
    private let lock = NSLock()
    private var count = 0
    var value: Int { lock.withLock { count } }
    func increment() { lock.withLock { count += 1 } }
}
