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
}
