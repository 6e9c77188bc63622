#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The process's descriptor table: duplicating, renumbering and close-on-exec flags, and the
/// arrangement an `exec` hands to the next program image.
public enum Descriptors {
    // MARK: - API

    /// `fcntl(F_DUPFD[_CLOEXEC])`: a copy of `descriptor` at the lowest free number ≥ `minimum`.
    /// - Throws: ``SystemError`` "duplicate".
    public static func duplicate(_ descriptor: Int32, atLeast minimum: Int32, closeOnExec: Bool) throws(SystemError) -> Int32 {
        try systemCall("duplicate", path: "descriptor \(descriptor)") {
            fcntl(descriptor, closeOnExec ? F_DUPFD_CLOEXEC : F_DUPFD, minimum)
        }
    }

    /// `dup2`: `target` becomes a copy of `descriptor` (whatever it was is closed), close-on-exec clear.
    /// - Throws: ``SystemError`` "duplicate".
    public static func duplicate(_ descriptor: Int32, onto target: Int32) throws(SystemError) {
        try systemCall("duplicate", path: "descriptor \(descriptor)", destination: "descriptor \(target)") { dup2(descriptor, target) }
    }

    /// The descriptor's flags (`F_GETFD`); nil when it is not open.
    public static func flags(_ descriptor: Int32) -> Int32? {
        let flags = fcntl(descriptor, F_GETFD)
        return flags < 0 ? nil : flags
    }

    /// Sets or clears close-on-exec.
    /// - Throws: ``SystemError`` "set flags of".
    public static func setCloseOnExec(_ descriptor: Int32, _ enabled: Bool, path: String? = nil) throws(SystemError) {
        let name = path ?? "descriptor \(descriptor)"
        let flags = try systemCall("get flags of", path: name) { fcntl(descriptor, F_GETFD) }
        let updated = enabled ? flags | FD_CLOEXEC : flags & ~FD_CLOEXEC
        if updated != flags { try systemCall("set flags of", path: name) { fcntl(descriptor, F_SETFD, updated) } }
    }

    /// Sets or clears `O_NONBLOCK` (a flag of the open file description: every process sharing
    /// it sees the change).
    /// - Throws: ``SystemError`` "set flags of".
    public static func setNonBlocking(_ descriptor: Int32, _ enabled: Bool, path: String? = nil) throws(SystemError) {
        let name = path ?? "descriptor \(descriptor)"
        let flags = try systemCall("get flags of", path: name) { fcntl(descriptor, F_GETFL) }
        let updated = enabled ? flags | O_NONBLOCK : flags & ~O_NONBLOCK
        if updated != flags { try systemCall("set flags of", path: name) { fcntl(descriptor, F_SETFL, updated) } }
    }

    /// Closes a descriptor. Never retried on EINTR.
    public static func close(_ descriptor: Int32) { _ = Glibc.close(descriptor) }

    /// The open descriptors of this process (`/proc/self/fd`), ascending.
    public static func open() -> [Int32] {
        guard let directory = opendir("/proc/self/fd") else { return [] }
        defer { closedir(directory) }
        let own = dirfd(directory)
        var result: [Int32] = []
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            if let fd = Int32(name), fd != own { result.append(fd) }
        }
        return result.sorted()
    }

    /// Prepares the table for an `exec` that passes `sources` as `first`, `first + 1`, … and
    /// `keep` under their own numbers, and nothing else besides standard input, output and error.
    ///
    /// Each source is copied to its number with close-on-exec cleared; whatever held that number
    /// is first copied aside (close-on-exec), and every other descriptor above 2 not in `keep`
    /// gets close-on-exec. ``Arrangement/undo()`` restores the table exactly, for an `exec` that
    /// failed. A `keep` descriptor must lie at or above `first + sources.count`.
    /// - Throws: ``SystemError`` "duplicate" or "set flags of"; the table is restored first.
    public static func arrange(_ sources: [Int32], from first: Int32 = 3, keep: [Int32] = []) throws(SystemError) -> Arrangement {
        let top = first + Int32(sources.count)
        var arrangement = Arrangement()
        do throws(SystemError) {
            for descriptor in open() where descriptor >= top && !keep.contains(descriptor) {
                guard let flags = flags(descriptor), flags & FD_CLOEXEC == 0 else { continue }
                try setCloseOnExec(descriptor, true)
                arrangement.marked.append(descriptor)
            }
            var copies: [Int32] = []
            defer { copies.forEach(close) }
            for source in sources { copies.append(try duplicate(source, atLeast: top, closeOnExec: true)) }
            for (offset, copy) in copies.enumerated() {
                let target = first + Int32(offset)
                if let flags = flags(target) {
                    arrangement.displaced.append((target, try duplicate(target, atLeast: top, closeOnExec: true), flags))
                } else {
                    arrangement.displaced.append((target, nil, 0))
                }
                try duplicate(copy, onto: target)
            }
        } catch {
            arrangement.undo()
            throw error
        }
        return arrangement
    }

    /// What ``arrange(_:from:keep:)`` changed, to put back.
    public struct Arrangement {
        /// Numbers overwritten, with a copy of what was there (nil: it was free) and its flags.
        var displaced: [(target: Int32, saved: Int32?, flags: Int32)] = []
        /// Descriptors given close-on-exec.
        var marked: [Int32] = []

        /// Restores every number and flag as it was before the arrangement.
        public func undo() {
            for (target, saved, flags) in displaced.reversed() {
                if let saved {
                    _ = dup2(saved, target)
                    _ = fcntl(target, F_SETFD, flags)
                    Glibc.close(saved)
                } else {
                    Glibc.close(target)
                }
            }
            for descriptor in marked { _ = fcntl(descriptor, F_SETFD, (flags(descriptor) ?? 0) & ~FD_CLOEXEC) }
        }
    }
}
