import CPlatform
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

extension Subprocess {
    /// Lets a child be made, its confinement and sandbox included, before its program's file is
    /// complete: the child waits at the gate right before it executes the program, and the
    /// caller opens the gate once the file is written (``open()``), or cancels the run
    /// (``cancel()``: the launch then fails at step "gate"). Set it as ``Configuration/execGate``.
    ///
    /// A launch with a gate returns only once the program runs (or failed to): open or cancel it
    /// from another thread. Whichever comes first counts; the gate cancels itself when it is
    /// released unopened. Both ends stay open as long as the gate lives (a launch may retry).
    public final class ExecGate: @unchecked Sendable {
        /// The read end the child waits on (close-on-exec).
        let readEnd: Int32
        /// The write end, the caller's alone (close-on-exec; the child closes its copy at once,
        /// with every descriptor it was not given).
        let writeEnd: Int32
        // `settled` is guarded by `lock`.
        private let lock = ConditionLock()
        private var settled = false

        /// How many children may read the word: a launch retried (a piece of confinement the
        /// kernel refused, a file still busy) makes a child again, which reads the gate again.
        static let readers = 64

        /// - Throws: ``SystemError`` "create pipe".
        public init() throws(SystemError) {
            var ends: [Int32] = [-1, -1]
            try systemCall("create pipe", path: "exec gate") { ad_pipe_cloexec(&ends) }
            readEnd = ends[0]
            writeEnd = ends[1]
        }

        deinit {
            cancel()
            Descriptors.close(writeEnd)
            Descriptors.close(readEnd)
        }

        /// The program's file is complete: the child (and any retry of it) may execute it.
        public func open() { settle("1") }

        /// The run must not start: a child at the gate ends before executing anything.
        public func cancel() { settle("0") }

        /// Writes the word each child reads, once for every child there may be (far below what
        /// a pipe holds: the write never blocks).
        private func settle(_ word: Character) {
            lock.withLock {
                guard !settled else { return }
                settled = true
                var words = [UInt8](repeating: word.asciiValue!, count: Self.readers)
                _ = write(writeEnd, &words, words.count)
            }
        }
    }
}
