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
    package static func launchDetachedFromThread(_ configuration: Configuration) throws -> Running {
        try SpawnThread.shared.perform { try launch(configuration) }
    }
}

/// One thread, started at first use and never ended, that runs the jobs given to it in order.
private final class SpawnThread: @unchecked Sendable {
    // `jobs` is guarded by `lock`.
    static let shared = SpawnThread()
    private let lock = ConditionLock()
    private var jobs: [() -> Void] = []

    private init() {
        var thread = pthread_t()
        let context = Unmanaged.passRetained(self).toOpaque()
        pthread_create(&thread, nil, { context in
            Unmanaged<SpawnThread>.fromOpaque(context!).takeUnretainedValue().loop()
            return nil
        }, context)
        pthread_detach(thread)
    }

    private func loop() -> Never {
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
