import Platform
import Storage

extension Verifier {
    /// A restart rehearsal made while the self-check runs, so that neither its scratch home nor
    /// its sandbox costs time after it: once the copy the self-check runs from is hashed
    /// (`staged`), a thread of its own makes the scratch home with that file bound into its
    /// store (the file where it is, not yet moved into the store), and the rehearsal's process
    /// and sandbox, which waits at a gate (``Subprocess/ExecGate``). The verification opens the
    /// gate (``release()``) only once the self-check's report has passed, and the file is moved
    /// into the store only once the rehearsal runs (``waitUntilRunning()``: its mounts, the bind
    /// of the file included, are made by then). Whatever ends the verification before stops it
    /// (``abandon()``): a process at the gate ends without executing anything. The file bound
    /// must still have the identity recorded when it was hashed, checked on the descriptor that
    /// is bound and again on it once the gate has opened: one put in its place, or changed in
    /// place, since, is never rehearsed.
    ///
    /// It needs mount isolation (the bind): a confinement without it never begins one, and one
    /// whose mounts the kernel refuses ends without running. Whatever keeps it from running
    /// (``finish()`` is ``Outcome/unavailable(_:)``) leaves the rehearsal to be made after the
    /// self-check, as without one. ``abandon()`` is its end in every case: it releases the
    /// scratch home's lock, held until the rehearsal has been judged.
    final class EarlyRehearsal: @unchecked Sendable {
        /// How it ended.
        enum Outcome {
            /// It ran, and ended so; `confinement` is the one it ran under.
            case ran(TerminationStatus, PreparedRehearsal, Confinement)
            /// It did not run: why.
            case unavailable(any Error)
        }

        private let gate: Subprocess.ExecGate
        private let thread = ThreadGroup()
        // Everything below is guarded by `lock`.
        private let lock = ConditionLock()
        /// Its process runs, or never will.
        private var settled = false
        private var stopped = false
        private var outcome: Outcome?
        /// The lock of the rehearsal it made, until ``abandon()`` releases it.
        private var held: FileLock?

        private init() throws(SystemError) {
            gate = try Subprocess.ExecGate()
        }

        /// Begins making the rehearsal of `binary` on a thread of its own.
        /// - Parameters:
        ///   - staged: waits until `binary` is hashed, and returns it with its metadata (nil when
        ///     it never will be: nothing is made).
        ///   - confinement: the self-check's, once that run has started.
        /// - Returns: nil when the gate's pipe cannot be made (nothing is started).
        static func begin(_ verifier: Verifier, binary: String, staged: @escaping @Sendable () -> BoundFile?, sandbox: String,
                          environment: [String: String], outputs: SandboxOutputs, confinement: Confinement, log: String,
                          stop: @escaping @Sendable () -> Bool) -> EarlyRehearsal? {
            guard let rehearsal = try? EarlyRehearsal() else { return nil }
            // The thread uses this task's system calls (faults injected by tests included).
            let calls = SystemCalls.current
            rehearsal.thread.start {
                let outcome = SystemCalls.$current.withValue(calls) {
                    rehearsal.make(verifier, binary: binary, staged: staged, sandbox: sandbox, environment: environment, outputs: outputs,
                                   confinement: confinement, log: log, stop: stop)
                }
                rehearsal.lock.withLock {
                    rehearsal.outcome = outcome
                    rehearsal.settled = true
                    rehearsal.lock.broadcast()
                }
            }
            return rehearsal
        }

        private func make(_ verifier: Verifier, binary: String, staged: () -> BoundFile?, sandbox: String, environment: [String: String],
                          outputs: SandboxOutputs, confinement: Confinement, log: String, stop: () -> Bool) -> Outcome {
            guard let file = staged() else { return .unavailable(Abandoned()) }
            if isStopped { return .unavailable(Abandoned()) }
            let rehearsal: PreparedRehearsal
            do {
                rehearsal = try verifier.prepareRehearsal(binary: binary, bound: file, sandbox: sandbox, environment: environment,
                                                          outputs: outputs, log: log)
            } catch {
                return .unavailable(error)
            }
            lock.withLock { held = rehearsal.lock }
            var confinement = confinement
            // Without its mounts, the file would not be bound: it does not run at all.
            confinement.essential.insert(.mounts)
            var run = verifier.limited(rehearsal.run)
            run.execGate = gate
            do {
                let child = try confinement.launch(run, writing: rehearsal.area, binary: binary, log: log)
                lock.withLock {
                    settled = true
                    lock.broadcast()
                }
                let status = try child.wait(stoppingWhen: { isStopped || stop() })
                return .ran(status, rehearsal, confinement)
            } catch {
                return .unavailable(error)
            }
        }

        private var isStopped: Bool { lock.withLock { stopped } }

        /// The self-check passed: the rehearsal may run.
        func release() { gate.open() }

        /// Waits until its process runs (its sandbox made), or until it is known it never will.
        func waitUntilRunning() {
            lock.withLock { _ = lock.wait(until: UInt64.max) { settled } }
        }

        /// Waits for it to end.
        func finish() -> Outcome {
            thread.wait()
            return lock.withLock { outcome! }
        }

        /// Stops it unless it has ended (a process at the gate ends there, one running is
        /// killed), waits for its thread to end and releases the lock of the rehearsal it made.
        /// Called again, it does nothing.
        func abandon() {
            lock.withLock { stopped = true }
            gate.cancel()
            thread.wait()
            let lockHeld = lock.withLock {
                defer { held = nil }
                return held
            }
            lockHeld?.release()
        }

        /// Why a rehearsal was not made.
        struct Abandoned: Error, CustomStringConvertible {
            var description: String { "the rehearsal was not made while the self-check ran" }
        }
    }
}
