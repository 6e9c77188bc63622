import CPlatform
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The system calls that change files, gathered so tests can replace them.
///
/// Code in this package calls through ``SystemCalls/current``; a test wraps the code under test
/// in ``SystemCalls/withFaults(_:_:)`` (or `$current.withValue`) to inject ENOSPC, EXDEV, EACCES,
/// ETXTBSY and friends exactly where a real disk or kernel would produce them.
public struct SystemCalls: Sendable {
    public var open: @Sendable (_ path: UnsafePointer<CChar>, _ flags: Int32, _ mode: mode_t) -> Int32
    public var read: @Sendable (_ fd: Int32, _ buffer: UnsafeMutableRawPointer?, _ count: Int) -> Int
    public var write: @Sendable (_ fd: Int32, _ buffer: UnsafeRawPointer?, _ count: Int) -> Int
    public var fsync: @Sendable (_ fd: Int32) -> Int32
    public var close: @Sendable (_ fd: Int32) -> Int32
    public var rename: @Sendable (_ from: UnsafePointer<CChar>, _ to: UnsafePointer<CChar>) -> Int32
    public var unlink: @Sendable (_ path: UnsafePointer<CChar>) -> Int32
    public var rmdir: @Sendable (_ path: UnsafePointer<CChar>) -> Int32
    public var mkdir: @Sendable (_ path: UnsafePointer<CChar>, _ mode: mode_t) -> Int32
    public var symlink: @Sendable (_ target: UnsafePointer<CChar>, _ path: UnsafePointer<CChar>) -> Int32
    /// `renameat2(RENAME_EXCHANGE)`: the two names swap their files atomically.
    public var exchange: @Sendable (_ first: UnsafePointer<CChar>, _ second: UnsafePointer<CChar>) -> Int32
    /// `renameat2(RENAME_NOREPLACE)`: a rename that fails with EEXIST where the new name is taken.
    public var renameWithoutReplacing: @Sendable (_ from: UnsafePointer<CChar>, _ to: UnsafePointer<CChar>) -> Int32
    public var fstatvfs: @Sendable (_ fd: Int32, _ result: UnsafeMutablePointer<statvfs>) -> Int32
    /// `copy_file_range` from the input's offset to the output's, each advanced.
    public var copyFileRange: @Sendable (_ input: Int32, _ output: Int32, _ count: Int) -> Int

    /// The kernel's calls.
    public static let live = SystemCalls(
        open: { Glibc.open($0, $1, $2) },
        read: { Glibc.read($0, $1, $2) },
        write: { Glibc.write($0, $1, $2) },
        fsync: { Glibc.fsync($0) },
        close: { Glibc.close($0) },
        rename: { Glibc.rename($0, $1) },
        unlink: { Glibc.unlink($0) },
        rmdir: { Glibc.rmdir($0) },
        mkdir: { Glibc.mkdir($0, $1) },
        symlink: { Glibc.symlink($0, $1) },
        exchange: { ad_rename2($0, $1, AD_RENAME_EXCHANGE) },
        renameWithoutReplacing: { ad_rename2($0, $1, AD_RENAME_NOREPLACE) },
        fstatvfs: { Glibc.fstatvfs($0, $1) },
        copyFileRange: { ad_copy_file_range($0, $1, UInt($2)) }
    )

    /// The calls in force for the current task (``live`` unless a test replaced them).
    @TaskLocal public static var current: SystemCalls = .live

    /// Runs `body` with the calls changed by `change`.
    public static func withFaults<Result>(
        _ change: (inout SystemCalls) -> Void, _ body: () throws -> Result
    ) rethrows -> Result {
        var calls = current
        change(&calls)
        return try $current.withValue(calls, operation: body)
    }

    /// A call that fails with `error` (sets errno, returns -1).
    public static func failing(_ error: Errno) -> Int32 {
        Glibc.errno = error.rawValue
        return -1
    }
}
