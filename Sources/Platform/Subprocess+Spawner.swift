#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

extension Subprocess {
    /// ``launch(_:)`` from a thread that lives as long as the process.
    ///
    /// A child is started with `PR_SET_PDEATHSIG`, which the kernel fires when the *thread* that
    /// forked it exits, not the process: a child started from a short-lived thread would be
    /// killed with that thread. Long-running children started from any thread (module workers)
    /// go through this one thread instead, and die only with the process.
    /// - Throws: what ``launch(_:)`` throws.
    public static func launchDetachedFromThread(_ configuration: Configuration) throws -> Running {
        try SpawnThread.shared.perform { try launch(configuration) }
    }
}

/// A few threads, started at first use and never ended, that run the jobs given to them.
private final class SpawnThread: @unchecked Sendable {
    // `jobs` is guarded by `lock`.
    static let shared = SpawnThread()
    private let lock = ConditionLock()
    private var jobs: [() -> Void] = []

    /// Threads that take jobs: concurrent reloads of different modules start their workers in parallel.
    private static let width = 4

    private init() {
        for _ in 0..<Self.width {
            var thread = pthread_t()
            let context = Unmanaged.passRetained(self).toOpaque()
            pthread_create(&thread, nil, { context in
                Unmanaged<SpawnThread>.fromOpaque(context!).takeUnretainedValue().loop()
                return nil
            }, context)
            pthread_detach(thread)
        }
    }

    private func loop() {
        while true {
            let job = lock.withLock { () -> () -> Void in
                _ = lock.wait(until: UInt64.max) { !jobs.isEmpty }
                return jobs.removeFirst()
            }
            job()
        }
    }

    func perform<Value>(_ body: @escaping () throws -> Value) throws -> Value {
        let done = ConditionLock()
        nonisolated(unsafe) var result: Result<Value, any Error>?
        lock.withLock {
            jobs.append {
                let outcome = Result { try body() }
                done.withLock {
                    result = outcome
                    done.broadcast()
                }
            }
            lock.broadcast()
        }
        return try done.withLock { () -> Result<Value, any Error> in
            _ = done.wait(until: UInt64.max) { result != nil }
            return result!
        }.get()
    }
}

/// Threads started for work that blocks (senders, concurrent reloads), and waited for together.
public final class ThreadGroup: @unchecked Sendable {
    // `running` is guarded by `lock`.
    private let lock = ConditionLock()
    private var running = 0

    public init() {}

    /// Starts `body` on a new thread.
    public func start(_ body: @escaping @Sendable () -> Void) {
        lock.withLock { running += 1 }
        let job = Job { [self] in
            body()
            lock.withLock {
                running -= 1
                lock.broadcast()
            }
        }
        var thread = pthread_t()
        pthread_create(&thread, nil, { context in
            Unmanaged<Job>.fromOpaque(context!).takeRetainedValue().body()
            return nil
        }, Unmanaged.passRetained(job).toOpaque())
        pthread_detach(thread)
    }

    /// Waits until every thread started has finished.
    public func wait() {
        lock.withLock { _ = lock.wait(until: UInt64.max) { running == 0 } }
    }

    /// Runs `body` for each item on a thread of its own, all released at the same moment.
    /// - Returns: the results, in the items' order.
    public static func collect<Item: Sendable, Value>(_ items: [Item], _ body: @escaping @Sendable (Item) -> Value) -> [Value] {
        let group = ThreadGroup()
        let results = ResultSlots<Value>(count: items.count)
        let gate = ConditionLock()
        nonisolated(unsafe) var open = false
        for (index, item) in items.enumerated() {
            group.start {
                gate.withLock { _ = gate.wait(until: UInt64.max) { open } }
                results.set(index, body(item))
            }
        }
        gate.withLock {
            open = true
            gate.broadcast()
        }
        group.wait()
        return results.values
    }

    private final class Job {
        let body: () -> Void
        init(_ body: @escaping () -> Void) { self.body = body }
    }
}

private final class ResultSlots<Value>: @unchecked Sendable {
    // `slots` is guarded by `lock`.
    private let lock = ConditionLock()
    private var slots: [Value?]
    init(count: Int) { slots = Array(repeating: nil, count: count) }
    func set(_ index: Int, _ value: Value) { lock.withLock { slots[index] = value } }
    var values: [Value] { lock.withLock { slots.map { $0! } } }
}
