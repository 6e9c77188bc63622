import CPlatform
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The controlling terminal, for the views a person uses: a prompt that reads single keys, a
/// full-screen dashboard.
///
/// ``enterCharacterMode(_:keepSignals:leave:)`` and ``leaveCharacterMode()`` bracket every
/// change of mode: the mode before is remembered, and a fatal signal (a crash, SIGHUP, SIGQUIT)
/// restores it before the process ends, so no way out leaves the shell without echo.
public enum Terminal {
    /// A key as read: one byte, or an escape sequence (an arrow key sends three).
    public enum Key: Equatable, Sendable {
        case character(Character)
        case escape
        case enter
        case interrupt
        case other([UInt8])
    }

    /// Rows and columns of the terminal at `descriptor` (nil when it is not a terminal).
    public static func size(of descriptor: Int32 = 1) -> (rows: Int, columns: Int)? {
        var rows: Int32 = 0
        var columns: Int32 = 0
        guard ad_terminal_size(descriptor, &rows, &columns) == 0, rows > 0, columns > 0 else { return nil }
        return (Int(rows), Int(columns))
    }

    /// `descriptor` is a terminal.
    public static func isTerminal(_ descriptor: Int32) -> Bool { isatty(descriptor) == 1 }

    /// Keys are delivered as typed, without echo; with `keepSignals`, Ctrl-C still sends SIGINT
    /// and Ctrl-Z stops the program with the terminal restored first (the shell gets it back as
    /// it was); when the program continues, character mode is set again, `resume` is written and
    /// a resize is recorded (``takeResize()``) so the view is drawn again.
    /// `leave` is written when the mode is restored (on every path, a fatal signal's included).
    /// - Throws: ``SystemError`` when `descriptor` is not a terminal or its mode cannot be set.
    public static func enterCharacterMode(_ descriptor: Int32 = 0, keepSignals: Bool, leave: String = "", resume: String = "") throws(SystemError) {
        guard ad_terminal_enter(descriptor, keepSignals ? 1 : 0, leave, resume) == 0 else {
            throw SystemError("set the mode of the terminal on descriptor", path: "\(descriptor)", errno: .current)
        }
    }

    /// Restores the mode ``enterCharacterMode(_:keepSignals:leave:)`` changed (nothing when it was not changed).
    public static func leaveCharacterMode() { ad_terminal_leave() }

    /// Waits up to `seconds` for keys on `descriptor` and returns every key that arrived
    /// together (a key held down, or typed ahead, sends several in one read). Empty when none
    /// came in time or a signal interrupted the wait; nil at the end of input (the terminal hung
    /// up, or it cannot be read): the caller stops reading instead of waking at once forever.
    public static func readKeys(_ descriptor: Int32 = 0, seconds: Double) -> [Key]? {
        guard wait(descriptor, seconds: seconds) else { return [] }
        var bytes = [UInt8](repeating: 0, count: 256)
        let count = Glibc.read(descriptor, &bytes, bytes.count)
        if count < 0 && (errno == EINTR || errno == EAGAIN) { return [] }
        guard count > 0 else { return nil }
        return keys(in: Array(bytes[0..<count]))
    }

    /// The keys `bytes` hold, in order: each printable byte, control byte or UTF-8 character is
    /// one key, and an escape sequence (ESC [ … final byte, ESC O x) is one key.
    public static func keys(in bytes: [UInt8]) -> [Key] {
        var keys: [Key] = []
        var index = 0
        while index < bytes.count {
            var end = index + 1
            if bytes[index] == 0x1B, end < bytes.count {
                if bytes[end] == UInt8(ascii: "[") {
                    end += 1
                    while end < bytes.count, !(0x40...0x7E).contains(bytes[end]) { end += 1 }
                    end = min(end + 1, bytes.count)
                } else if bytes[end] == UInt8(ascii: "O") {
                    end = min(end + 2, bytes.count)
                }
            } else if bytes[index] >= 0xC0 {
                // A UTF-8 character: its continuation bytes belong to it.
                while end < bytes.count, bytes[end] & 0xC0 == 0x80, end - index < 4 { end += 1 }
            }
            keys.append(key(Array(bytes[index..<end])))
            index = end
        }
        return keys
    }

    /// Records a resize of the terminal (SIGWINCH) for ``takeResize()``; a wait for a key in
    /// progress ends at once.
    public static func watchResizes() { ad_terminal_watch_resize() }

    /// True when the terminal was resized since the last call.
    public static func takeResize() -> Bool { ad_terminal_take_resize() != 0 }

    /// The key `bytes` stand for.
    public static func key(_ bytes: [UInt8]) -> Key {
        switch bytes {
        case [0x1B]: return .escape
        case [0x0D], [0x0A]: return .enter
        case [0x03]: return .interrupt
        default:
            if bytes.count == 1, bytes[0] >= 0x20, bytes[0] < 0x7F { return .character(Character(Unicode.Scalar(bytes[0]))) }
            return .other(bytes)
        }
    }

    /// True when `descriptor` has something to read within `seconds`.
    private static func wait(_ descriptor: Int32, seconds: Double) -> Bool {
        var entry = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
        let milliseconds = Int32(max(0, min(seconds, 86_400)) * 1000)
        return poll(&entry, 1, milliseconds) == 1 && entry.revents & Int16(POLLIN | POLLHUP | POLLERR | POLLNVAL) != 0
    }
}

/// Watches standard input for Esc while long work runs (a download), and turns it into a
/// request to cancel (``Cancellation/request()``), as Ctrl-C would be. The terminal is in
/// character mode (signals kept) while it watches, and restored by ``stop()``.
public final class EscapeWatcher: @unchecked Sendable {
    // `stopping` is guarded by `lock`.
    private let lock = ConditionLock()
    private var stopping = false
    private let threads = ThreadGroup()

    /// Starts watching descriptor 0; nil when it is not a terminal or its mode cannot be set.
    public init?() {
        guard Terminal.isTerminal(0), (try? Terminal.enterCharacterMode(0, keepSignals: true)) != nil else { return nil }
        threads.start { [self] in
            while !lock.withLock({ stopping }) {
                // At the end of input (the terminal hung up) there is nothing more to watch.
                guard let keys = Terminal.readKeys(0, seconds: 0.1) else { return }
                if keys.contains(.escape) { Cancellation.request() }
            }
        }
    }

    /// Stops watching and restores the terminal's mode.
    public func stop() {
        lock.withLock { stopping = true }
        threads.wait()
        Terminal.leaveCharacterMode()
    }
}
