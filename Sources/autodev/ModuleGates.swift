import FoundationEssentials
import CounterModule
import Modules
import Platform

/// `autodev modules test-stateful-reload` and `test-concurrent-reload`: real worker processes
/// (versions built into this binary), messages flowing at a fixed rate the whole time, reloads
/// that change the state's schema; figures printed, exit 1 on any loss or mismatch.
enum ModuleGates {
    struct Report: Codable {
        var gate: String
        var modules: Int
        var reloads: Int
        var committed: Int
        var sent: Int
        var answered: Int
        var lost: Int
        var mismatched: Int
        var reloadMs: Percentiles
        var messageLatencyMs: Percentiles
        var duringReloadLatencyMs: Percentiles
        var outsideReloadLatencyMs: Percentiles
        var schemaChanges: Int
        var hostResidentKiB: [Int]
        var failures: [String]
        var passed: Bool
    }

    struct Percentiles: Codable {
        var p50: Double
        var p99: Double
        var max: Double

        init(_ values: [Double]) {
            let sorted = values.sorted()
            func at(_ fraction: Double) -> Double {
                sorted.isEmpty ? 0 : ModuleGates.rounded(sorted[min(sorted.count - 1, Int((fraction * Double(sorted.count - 1)).rounded()))])
            }
            p50 = at(0.5)
            p99 = at(0.99)
            max = ModuleGates.rounded(sorted.last ?? 0)
        }
    }

    static func rounded(_ value: Double) -> Double { (value * 1000).rounded() / 1000 }

    static func positiveInteger(_ given: GivenValue, default value: Int, maximum: Int, spec: CommandSpec) throws -> Int {
        guard let text = given.text else { return value }
        guard let number = Int(text), number >= 1, number <= maximum else {
            throw UsageError(message: "The value '\(text)' is invalid for '\(given.label)': give a whole number from 1 to \(maximum)", spec: spec)
        }
        return number
    }

    // MARK: - Gates

    static func stateful(_ arguments: ModulesStatefulGateCommand) throws -> Int32 {
        let spec = ModulesStatefulGateCommand.spec
        let reloads = try positiveInteger(arguments.$reloads, default: 50, maximum: 100_000, spec: spec)
        let rate = try positiveInteger(arguments.$rate, default: 2_000, maximum: 1_000_000, spec: spec)
        let report = try run(gate: "test-stateful-reload", modules: 1, senders: 4, rounds: reloads, rate: rate)
        return try emit(report, json: arguments.json)
    }

    static func concurrent(_ arguments: ModulesConcurrentGateCommand) throws -> Int32 {
        let spec = ModulesConcurrentGateCommand.spec
        let modules = try positiveInteger(arguments.$modules, default: 4, maximum: 64, spec: spec)
        let rounds = try positiveInteger(arguments.$rounds, default: 20, maximum: 100_000, spec: spec)
        let rate = try positiveInteger(arguments.$rate, default: 2_000, maximum: 1_000_000, spec: spec)
        let report = try run(gate: "test-concurrent-reload", modules: modules, senders: 2, rounds: rounds, rate: rate)
        return try emit(report, json: arguments.json)
    }

    private static func emit(_ report: Report, json: Bool) throws -> Int32 {
        if json {
            try Output.jsonLine(report)
        } else {
            Output.out("\(report.gate): \(report.modules) module(s), \(report.reloads) reloads (\(report.committed) committed, \(report.schemaChanges) with a schema migration)")
            Output.out("  messages: \(report.sent) sent, \(report.answered) answered, \(report.lost) lost, \(report.mismatched) mismatched")
            Output.out("  reload (request → committed): p50 \(DurationText.milliseconds(report.reloadMs.p50)) ms, p99 \(DurationText.milliseconds(report.reloadMs.p99)) ms, max \(DurationText.milliseconds(report.reloadMs.max)) ms")
            Output.out("  message latency: p50 \(DurationText.milliseconds(report.messageLatencyMs.p50)) ms, p99 \(DurationText.milliseconds(report.messageLatencyMs.p99)) ms; arriving during a reload: p99 \(DurationText.milliseconds(report.duringReloadLatencyMs.p99)) ms, outside: p99 \(DurationText.milliseconds(report.outsideReloadLatencyMs.p99)) ms")
            Output.out("  host resident memory: \(report.hostResidentKiB.first ?? 0) KiB before, \(report.hostResidentKiB.last ?? 0) KiB after")
            for failure in report.failures.prefix(10) { Output.err("  ✗ \(Output.escaped(failure, keepingNewlines: false))") }
            Output.out(report.passed ? "PASS" : "FAIL")
        }
        return report.passed ? ExitCode.success : ExitCode.failure
    }

    /// `modules` counters, each reloaded `rounds` times (all at the same moment), alternating
    /// versions 2 and 1 so that every reload migrates the state (1 → 2 up, 2 → 1 down), while
    /// `senders` threads per module send `add KEY 1` at `rate` messages a second in all and
    /// check each reply against their own count.
    private static func run(gate: String, modules: Int, senders: Int, rounds: Int, rate: Int) throws -> Report {
        let directory = try temporaryDirectory()
        defer { try? FileSystem.removeTree(directory) }
        let host = try ModuleHost(directory: directory)
        defer { host.stop() }
        let names = (1...modules).map { modules == 1 ? "counter" : "counter-\($0)" }
        for name in names { try host.start(name, image: try ModuleCatalog.builtIn("counter", version: "1"), module: "counter") }
        let before = ResidentMemory.kibibytes() ?? 0

        let state = GateState()
        let interval = Double(modules * senders) / Double(rate)
        let group = ThreadGroup()
        for name in names {
            for sender in 0..<senders {
                let key = "s\(sender)"
                group.start {
                    var count = 0
                    var next = MonotonicClock.now()
                    while !state.stopping {
                        let during = state.reloading
                        let start = MonotonicClock.now()
                        state.sent()
                        do {
                            let reply = String(decoding: try host.send(name, Array("add \(key) 1".utf8)), as: UTF8.self)
                            count += 1
                            state.answered(latency: Double(MonotonicClock.now() - start) / 1e6, during: during,
                                           mismatch: reply == "\(key) \(count)" ? nil : "\(name): expected '\(key) \(count)', got '\(reply)'")
                        } catch {
                            state.failed("\(name): \(error)")
                        }
                        next += UInt64(interval * 1e9)
                        let now = MonotonicClock.now()
                        if next > now { ProcessControl.sleep(seconds: Double(next - now) / 1e9) } else { next = now }
                    }
                    state.finalCount(name: name, key: key, count: count)
                }
            }
        }
        // Let the senders get going before the first reload.
        while state.sentCount < modules * senders { ProcessControl.yieldProcessor() }

        var reloadTimes: [Double] = []
        var committed = 0
        var schemaChanges = 0
        for round in 0..<rounds {
            let version = round % 2 == 0 ? "2" : "1"
            let image = try ModuleCatalog.builtIn("counter", version: version)
            state.setReloading(true)
            let reports = ThreadGroup.collect(names) { name in
                Result { () throws(ModuleError) in try host.reload(name, to: image) }
            }
            state.setReloading(false)
            for case let (name, result) in zip(names, reports) {
                switch result {
                case .success(let report):
                    reloadTimes.append(report.milliseconds)
                    if report.committed { committed += 1 } else { state.failed("\(name): reload rolled back at \(report.failedPhase?.rawValue ?? "?"): \(report.reason ?? "")") }
                    if report.fromSchema != report.toSchema { schemaChanges += 1 }
                case .failure(let error):
                    state.failed("\(name): \(error)")
                }
            }
        }
        state.stop()
        group.wait()
        let after = ResidentMemory.kibibytes() ?? 0

        // Every key's total in the module must be what its sender counted.
        for (name, key, count) in state.finalCounts {
            do {
                let reply = String(decoding: try host.send(name, Array("get \(key)".utf8)), as: UTF8.self)
                if reply != "\(key) \(count)" { state.mismatch("\(name): final state '\(reply)', expected '\(key) \(count)'") }
            } catch {
                state.failed("\(name): \(error)")
            }
        }
        let figures = state.figures
        let lost = figures.sent - figures.answered
        return Report(gate: gate, modules: modules, reloads: rounds * modules, committed: committed, sent: figures.sent,
                      answered: figures.answered, lost: lost, mismatched: figures.mismatched,
                      reloadMs: Percentiles(reloadTimes), messageLatencyMs: Percentiles(figures.latencies),
                      duringReloadLatencyMs: Percentiles(figures.duringLatencies),
                      outsideReloadLatencyMs: Percentiles(figures.outsideLatencies), schemaChanges: schemaChanges,
                      hostResidentKiB: [before, after], failures: figures.failures,
                      passed: lost == 0 && figures.mismatched == 0 && committed == rounds * modules && figures.failures.isEmpty)
    }

    /// `modules measure-routing` (hidden, for scripts/bench): the cost of one message routed
    /// through the host to a worker against a direct call of the same module in this process.
    static func routing(_ arguments: ModulesMeasureRoutingCommand) throws -> Int32 {
        let count = try positiveInteger(arguments.$messages, default: 20_000, maximum: 10_000_000, spec: ModulesMeasureRoutingCommand.spec)
        let directory = try temporaryDirectory()
        defer { try? FileSystem.removeTree(directory) }
        let host = try ModuleHost(directory: directory)
        defer { host.stop() }
        try host.start("counter", image: try ModuleCatalog.builtIn("counter", version: "1"))
        let message = Array("add k 1".utf8)
        for _ in 0..<1_000 { _ = try host.send("counter", message) }
        var start = MonotonicClock.now()
        for _ in 0..<count { _ = try host.send("counter", message) }
        let routed = Double(MonotonicClock.now() - start) / Double(count) / 1_000
        var module = CounterV1()
        for _ in 0..<1_000 { _ = try module.handle(message) }
        start = MonotonicClock.now()
        for _ in 0..<count { _ = try module.handle(message) }
        let direct = Double(MonotonicClock.now() - start) / Double(count) / 1_000
        try Output.jsonLine(["messages": Double(count), "routedMicroseconds": rounded(routed), "directMicroseconds": rounded(direct)])
        return ExitCode.success
    }

    private static func temporaryDirectory() throws -> String {
        let base = ProcessControl.environment("TMPDIR").flatMap { $0.isEmpty ? nil : $0 } ?? "/tmp"
        return try FileSystem.createUniqueDirectory(in: base, prefix: "autodev-modules-gate-")
    }
}

/// What the gate's threads count, under one lock.
final class GateState: @unchecked Sendable {
    // Every field is guarded by `lock`.
    private let lock = ConditionLock()
    private var isStopping = false
    private var isReloading = false
    private var sentTotal = 0
    private var answeredTotal = 0
    private var mismatches = 0
    private var latencies: [Double] = []
    private var duringLatencies: [Double] = []
    private var outsideLatencies: [Double] = []
    private var failures: [String] = []
    private var counts: [(String, String, Int)] = []

    var stopping: Bool { lock.withLock { isStopping } }
    var reloading: Bool { lock.withLock { isReloading } }
    var sentCount: Int { lock.withLock { sentTotal } }
    func stop() { lock.withLock { isStopping = true } }
    func setReloading(_ value: Bool) { lock.withLock { isReloading = value } }
    func sent() { lock.withLock { sentTotal += 1 } }
    func failed(_ text: String) { lock.withLock { failures.append(text) } }
    func mismatch(_ text: String) { lock.withLock { mismatches += 1; failures.append(text) } }
    func finalCount(name: String, key: String, count: Int) { lock.withLock { counts.append((name, key, count)) } }
    var finalCounts: [(String, String, Int)] { lock.withLock { counts } }

    func answered(latency: Double, during: Bool, mismatch: String?) {
        lock.withLock {
            answeredTotal += 1
            latencies.append(latency)
            if during { duringLatencies.append(latency) } else { outsideLatencies.append(latency) }
            if let mismatch {
                mismatches += 1
                failures.append(mismatch)
            }
        }
    }

    var figures: (sent: Int, answered: Int, mismatched: Int, latencies: [Double], duringLatencies: [Double], outsideLatencies: [Double], failures: [String]) {
        lock.withLock { (sentTotal, answeredTotal, mismatches, latencies, duringLatencies, outsideLatencies, failures) }
    }
}
