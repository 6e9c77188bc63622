import Platform
import Storage

/// A verification the stage step begins on the staged copy, so that hashing the copy takes no
/// time of its own: it is hashed while the candidate's self-check runs from it, and moved into
/// the store once that run has ended
/// (``Verifier/verify(binary:logDirectory:stateFrom:rehearseRestart:expectedVersion:gate:staged:afterSelfCheck:passed:stop:)``);
/// the verify step takes its verdict (``finish()``) while its clean-up goes on (``join()``).
///
/// The verification runs on a thread of its own, begun before the copy is made: it makes the
/// self-check's process and sandbox meanwhile, which waits at a gate (``Subprocess/ExecGate``)
/// for the copy (``copyDone()``) before it executes the candidate. When its self-check run has
/// ended, it waits for the stage step's hand-over (``afterSelfCheck(_:)``): where the file is
/// then, or why the verification must end. The rest of it (the report's judgement, the rehearsed
/// restart) uses the stored file, but for a rehearsal made while the self-check runs
/// (``copyHashed(_:)``), which binds the copy where it is (the hand-over waits until that
/// rehearsal runs). Nothing moves the file while the self-check runs from it (a script's
/// interpreter, or a program reading its own file, opens it by its path). Every abort kills a
/// run of the candidate still going and waits for the verification to end first
/// (``abandon(because:)``), before any step is undone.
final class VerificationInFlight: @unchecked Sendable {
    /// Where the self-check's process waits for the copy (opened by ``copyDone()``, cancelled
    /// by an abort before it).
    private let gate: Subprocess.ExecGate
    // Everything below is guarded by `lock`.
    private let lock = ConditionLock()
    /// The self-check run has ended; the verification waits for the hand-over.
    private var selfCheckEnded = false
    /// What the stage step handed over: where the file is now, or why the verification must end.
    private var handedOver: Result<String, any Error>?
    /// The copy, once hashed (for the rehearsal made while the self-check runs).
    private var hashedFile: Verifier.BoundFile?
    private var outcome: Result<Verifier.Result, any Error>?
    /// What the verification passed with, before its clean-up (the sandbox's removal, the logs).
    private var passedResult: Verifier.Result?
    /// The transaction ended before the verification: a run of the candidate still going is killed.
    private var abandoned = false
    private let thread = ThreadGroup()
    /// The staged copy the self-check runs from.
    let binary: String

    /// Why a verification was stopped before the verify step.
    struct Abandoned: Error, CustomStringConvertible {
        var description: String { "the transaction ended before its verification" }
    }

    private init(binary: String) throws(SystemError) {
        self.binary = binary
        gate = try Subprocess.ExecGate()
    }

    /// Starts verifying `binary` on a thread of its own.
    /// - Throws: ``SystemError`` when the gate's pipe cannot be made (nothing is started).
    static func begin(_ verifier: Verifier, binary: String, logDirectory: String, stateFrom: String?, rehearseRestart: Bool,
                      expectedVersion: String?) throws(SystemError) -> VerificationInFlight {
        let flight = try VerificationInFlight(binary: binary)
        // The thread uses this task's system calls (faults injected by tests included).
        let calls = SystemCalls.current
        flight.thread.start {
            let outcome = Result { () throws -> Verifier.Result in
                try SystemCalls.$current.withValue(calls) {
                    try verifier.verify(binary: binary, logDirectory: logDirectory, stateFrom: stateFrom, rehearseRestart: rehearseRestart,
                                        expectedVersion: expectedVersion, gate: flight.gate, staged: { flight.waitForHash() },
                                        afterSelfCheck: { try flight.waitForHandOver() },
                                        passed: { result in
                                            flight.lock.withLock {
                                                flight.passedResult = result
                                                flight.lock.broadcast()
                                            }
                                        },
                                        stop: { flight.isAbandoned })
                }
            }
            flight.lock.withLock {
                flight.outcome = outcome
                flight.lock.broadcast()
            }
        }
        return flight
    }

    /// Whether ``abandon(because:)`` was called.
    private var isAbandoned: Bool { lock.withLock { abandoned } }

    /// The stage step's copy is complete (and closed): the self-check may start.
    func copyDone() { gate.open() }

    /// The copy is hashed: `hashed` is where it is and what the store will record of it.
    func copyHashed(_ hashed: VersionStore.Hashed) {
        lock.withLock {
            hashedFile = Verifier.BoundFile(path: hashed.stagedPath, metadata: hashed.metadata)
            lock.broadcast()
        }
    }

    /// Waits until the copy is hashed, and returns it; nil once the verification is ending
    /// without it.
    private func waitForHash() -> Verifier.BoundFile? {
        lock.withLock {
            _ = lock.wait(until: UInt64.max) { hashedFile != nil || handedOver != nil }
            return hashedFile
        }
    }

    /// On the verification's thread, once the self-check run has ended: tells the stage step,
    /// then waits for what it hands over.
    private func waitForHandOver() throws -> String {
        try lock.withLock {
            selfCheckEnded = true
            lock.broadcast()
            _ = lock.wait(until: UInt64.max) { handedOver != nil }
            return try handedOver!.get()
        }
    }

    /// Waits until the self-check run has ended (or the whole verification has: its error is
    /// then the verify step's), then runs `work` and hands over the file's new path, or
    /// `work`'s error, which ends the verification and is rethrown here.
    func afterSelfCheck<Value>(_ work: () throws -> (value: Value, path: String)) throws -> Value {
        lock.withLock { _ = lock.wait(until: UInt64.max) { selfCheckEnded || outcome != nil } }
        do {
            let done = try work()
            hand(.success(done.path))
            return done.value
        } catch {
            abandon(because: error)
            throw error
        }
    }

    private func hand(_ result: Result<String, any Error>) {
        lock.withLock {
            if handedOver == nil { handedOver = result }
            lock.broadcast()
        }
    }

    /// Waits for the verification's verdict: its result once it has passed (its sandbox may
    /// still be being removed and its logs kept meanwhile: ``join()`` waits for that), or what
    /// it threw once it has ended.
    /// - Throws: what it threw.
    func finish() throws -> Verifier.Result {
        try lock.withLock {
            _ = lock.wait(until: UInt64.max) { passedResult != nil || outcome != nil }
            if let passedResult { return passedResult }
            return try outcome!.get()
        }
    }

    /// Waits until nothing of the verification runs any more (its clean-up included).
    func join() {
        thread.wait()
    }

    /// Ends the verification before its self-check (the copy failed) or at its hand-over (unless
    /// it was handed over already), and waits for it to end: nothing of it runs once this
    /// returns. A run of the candidate still going (its self-check, its rehearsal) is killed.
    func abandon(because error: any Error = Abandoned()) {
        lock.withLock { abandoned = true }
        // A self-check not started yet never starts (once the copy is done, this does nothing).
        gate.cancel()
        hand(.failure(error))
        thread.wait()
    }
}
