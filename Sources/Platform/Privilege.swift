#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Who this process runs as.
public enum Privilege {
    /// The effective user id.
    public static var userID: UInt32 { geteuid() }
    /// The effective group id.
    public static var groupID: UInt32 { getegid() }
    /// True when running as uid 0 (which does not by itself say which capabilities it holds).
    public static var isRoot: Bool { geteuid() == 0 }

    /// The effective user's home directory in the password database (nil when it has no entry).
    public static var homeDirectory: String? {
        var entry = passwd()
        var result: UnsafeMutablePointer<passwd>?
        var buffer = [CChar](repeating: 0, count: 16_384)
        guard getpwuid_r(geteuid(), &entry, &buffer, buffer.count, &result) == 0, result != nil, let directory = entry.pw_dir else { return nil }
        return String(cString: directory)
    }
}
