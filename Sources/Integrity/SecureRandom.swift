import CIntegrity
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Bytes from the kernel's random source (`getrandom`, blocking until the pool is seeded).
public enum SecureRandom {
    /// `count` random bytes.
    public static func bytes(_ count: Int) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        var filled = 0
        while filled < count {
            let got = bytes.withUnsafeMutableBytes { ad_getrandom($0.baseAddress! + filled, count - filled) }
            if got > 0 {
                filled += got
            } else if errno != EINTR {
                fatalError("getrandom failed: \(String(cString: strerror(errno)))")
            }
        }
        return bytes
    }
}
