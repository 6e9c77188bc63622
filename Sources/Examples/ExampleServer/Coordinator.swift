import Foundation

/// What the serving loop (main thread) and an upgrade (its own thread, so that serving goes on
/// during verification) share. A condition guards it: both threads read and write it.
final class Coordinator: @unchecked Sendable {
    enum Phase: Sendable, Equatable {
        /// Accepting and serving.
        case serving
        /// The upgrade is about to exec: stop accepting, finish in-flight requests.
        case drainRequested
        /// Drained; the loop waits for the exec (or for ``serving`` again if it failed).
        case drained(served: Int)
    }

    private let condition = NSCondition()
    private var phase = Phase.serving
    private var replies: [String] = []
    private var busy = false
    private var terminating = false
    /// The write end of the loop's wake-up pipe.
    let wake: Int32

    init(wake: Int32) { self.wake = wake }

    /// Claims the right to run an upgrade or rollback; false when one is running.
    func claim() -> Bool {
        condition.lock()
        defer { condition.unlock() }
        if busy { return false }
        busy = true
        return true
    }

    /// Called on the upgrade's thread right before exec: asks the loop to drain and waits for it.
    /// - Returns: the requests served, to save; nil when the loop did not drain within `seconds`.
    func drain(within seconds: Double) -> Int? {
        condition.lock()
        defer { condition.unlock() }
        phase = .drainRequested
        poke()
        let deadline = Date(timeIntervalSinceNow: seconds)
        while true {
            if case .drained(let served) = phase { return served }
            if !condition.wait(until: deadline) { return nil }
        }
    }

    /// Called on the upgrade's thread when it ended without exec: serving resumes, `reply` goes
    /// to the control client.
    func finish(reply: String) {
        condition.lock()
        phase = .serving
        replies.append(reply)
        busy = false
        condition.broadcast()
        condition.unlock()
        poke()
    }

    /// The loop's view: the phase, replies to send, and whether SIGTERM asked it to stop.
    func take() -> (Phase, [String], Bool) {
        condition.lock()
        defer { condition.unlock() }
        let result = (phase, replies, terminating)
        replies = []
        return result
    }

    /// Asks the loop to save and exit (SIGTERM).
    func terminate() {
        condition.lock()
        terminating = true
        condition.unlock()
        poke()
    }

    /// The loop reports it has drained, then blocks until the exec replaces the process or
    /// serving resumes.
    func drainedAndWait(served: Int) {
        condition.lock()
        defer { condition.unlock() }
        phase = .drained(served: served)
        condition.broadcast()
        while case .drained = phase { condition.wait() }
    }

    private func poke() {
        var byte: UInt8 = 1
        _ = write(wake, &byte, 1)
    }
}
