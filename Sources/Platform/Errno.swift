#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A POSIX error number, with its `strerror` text.
package struct Errno: Error, Hashable, Sendable, CustomStringConvertible {
    /// The raw `errno` value.
    package let rawValue: Int32

    /// Wraps a raw value.
    package init(rawValue: Int32) { self.rawValue = rawValue }

    /// The calling thread's current `errno`.
    package static var current: Errno { Errno(rawValue: errno) }

    package static let interrupted = Errno(rawValue: EINTR)
    package static let noSuchFile = Errno(rawValue: ENOENT)
    package static let fileExists = Errno(rawValue: EEXIST)
    package static let noSpace = Errno(rawValue: ENOSPC)
    package static let permissionDenied = Errno(rawValue: EACCES)
    package static let notPermitted = Errno(rawValue: EPERM)
    package static let crossDevice = Errno(rawValue: EXDEV)
    package static let textBusy = Errno(rawValue: ETXTBSY)
    package static let wouldBlock = Errno(rawValue: EWOULDBLOCK)
    package static let isDirectory = Errno(rawValue: EISDIR)
    package static let notDirectory = Errno(rawValue: ENOTDIR)
    package static let execFormat = Errno(rawValue: ENOEXEC)
    package static let notEmpty = Errno(rawValue: ENOTEMPTY)
    package static let readOnlyFileSystem = Errno(rawValue: EROFS)
    package static let noChild = Errno(rawValue: ECHILD)
    package static let tooManyLinks = Errno(rawValue: ELOOP)
    package static let invalidArgument = Errno(rawValue: EINVAL)

    /// The system's text for this error, e.g. "No space left on device".
    package var description: String { String(cString: strerror(rawValue)) }
}

/// A failed system call: what was being done, to which path, and why.
///
/// Its description reads `Failed to rename "a" to "b": Permission denied`.
package struct SystemError: Error, Sendable, CustomStringConvertible, Equatable {
    /// The action, as a verb phrase: "open", "rename", "write to".
    package var action: String
    /// The path acted on.
    package var path: String
    /// The second path of a two-path action (rename, symlink).
    package var destination: String?
    /// The underlying error.
    package var errno: Errno
    /// Said instead of the errno text when the call succeeded but what it found is refused.
    package var detail: String?

    package init(_ action: String, path: String, destination: String? = nil, errno: Errno, detail: String? = nil) {
        self.action = action
        self.path = path
        self.destination = destination
        self.errno = errno
        self.detail = detail
    }

    package var description: String {
        // A path comes from outside: a line break in it must not start a line of its own.
        var text = "Failed to \(action) \"\(TerminalText.escaped(path))\""
        if let destination { text += " to \"\(TerminalText.escaped(destination))\"" }
        if let detail { return text + ": \(detail)" }
        if errno == .tooManyLinks { return text + ": it is a symbolic link, and links are not followed there" }
        return text + ": \(errno)"
    }
}

/// Runs a call that returns -1 and sets errno on failure, retrying when interrupted.
///
/// - Throws: ``SystemError`` naming `action` and `path`.
@discardableResult
@inline(__always)
func systemCall<Result: BinaryInteger>(
    _ action: @autoclosure () -> String, path: @autoclosure () -> String, destination: String? = nil,
    retryOnInterrupt: Bool = true, _ body: () -> Result
) throws(SystemError) -> Result {
    while true {
        let result = body()
        if result != -1 { return result }
        let error = Errno.current
        if retryOnInterrupt && error == .interrupted { continue }
        throw SystemError(action(), path: path(), destination: destination, errno: error)
    }
}
