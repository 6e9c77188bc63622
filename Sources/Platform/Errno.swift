#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A POSIX error number, with its `strerror` text.
public struct Errno: Error, Hashable, Sendable, CustomStringConvertible {
    /// The raw `errno` value.
    public let rawValue: Int32

    /// Wraps a raw value.
    public init(rawValue: Int32) { self.rawValue = rawValue }

    /// The calling thread's current `errno`.
    public static var current: Errno { Errno(rawValue: errno) }

    public static let interrupted = Errno(rawValue: EINTR)
    public static let noSuchFile = Errno(rawValue: ENOENT)
    public static let fileExists = Errno(rawValue: EEXIST)
    public static let noSpace = Errno(rawValue: ENOSPC)
    public static let permissionDenied = Errno(rawValue: EACCES)
    public static let notPermitted = Errno(rawValue: EPERM)
    public static let crossDevice = Errno(rawValue: EXDEV)
    public static let textBusy = Errno(rawValue: ETXTBSY)
    public static let wouldBlock = Errno(rawValue: EWOULDBLOCK)
    public static let isDirectory = Errno(rawValue: EISDIR)
    public static let notDirectory = Errno(rawValue: ENOTDIR)
    public static let execFormat = Errno(rawValue: ENOEXEC)
    public static let notEmpty = Errno(rawValue: ENOTEMPTY)
    public static let readOnlyFileSystem = Errno(rawValue: EROFS)
    public static let noChild = Errno(rawValue: ECHILD)
    public static let tooManyLinks = Errno(rawValue: ELOOP)
    public static let invalidArgument = Errno(rawValue: EINVAL)
    public static let notImplemented = Errno(rawValue: ENOSYS)

    /// The system's text for this error, e.g. "No space left on device".
    public var description: String { String(cString: strerror(rawValue)) }
}

/// A failed system call: what was being done, to which path, and why.
///
/// Its description reads `Failed to rename "a" to "b": Permission denied`.
public struct SystemError: Error, Sendable, CustomStringConvertible, Equatable {
    /// The action, as a verb phrase: "open", "rename", "write to".
    public var action: String
    /// The path acted on.
    public var path: String
    /// The second path of a two-path action (rename, symlink).
    public var destination: String?
    /// The underlying error.
    public var errno: Errno
    /// Said instead of the errno text when the call succeeded but what it found is refused.
    public var detail: String?

    public init(_ action: String, path: String, destination: String? = nil, errno: Errno, detail: String? = nil) {
        self.action = action
        self.path = path
        self.destination = destination
        self.errno = errno
        self.detail = detail
    }

    public var description: String {
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
