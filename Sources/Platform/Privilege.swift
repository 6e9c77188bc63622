#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Who this process runs as.
package enum Privilege {
    /// The effective user id.
    package static var userID: UInt32 { geteuid() }
    /// The effective group id.
    package static var groupID: UInt32 { getegid() }
    /// True when running as uid 0 (which does not by itself say which capabilities it holds).
    package static var isRoot: Bool { geteuid() == 0 }
}
