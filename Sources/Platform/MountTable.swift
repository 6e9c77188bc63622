#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The mount points of this process's mount namespace, from `/proc/self/mountinfo`.
public enum MountTable {
    /// Every mount point, parents before children (the kernel's order), unescaped.
    /// - Throws: ``SystemError`` "open" or "read" for `/proc/self/mountinfo`.
    public static func mountPoints() throws(SystemError) -> [String] {
        let text = String(decoding: try FileSystem.readFile("/proc/self/mountinfo"), as: UTF8.self)
        return text.split(separator: "\n").compactMap(mountPoint(ofLine:))
    }

    /// The mount point (fifth field) of one `mountinfo` line, with the kernel's octal escapes
    /// (`\040` space, `\011` tab, `\012` newline, `\134` backslash) undone; nil for a short line.
    public static func mountPoint<Line: StringProtocol>(ofLine line: Line) -> String? {
        let fields = line.split(separator: " ", omittingEmptySubsequences: false)
        guard fields.count > 4 else { return nil }
        return unescape(fields[4])
    }

    /// Undoes `\ooo` octal escapes.
    public static func unescape<Text: StringProtocol>(_ field: Text) -> String {
        let bytes = Array(field.utf8)
        var result: [UInt8] = []
        result.reserveCapacity(bytes.count)
        var index = 0
        while index < bytes.count {
            if bytes[index] == UInt8(ascii: "\\"), index + 3 < bytes.count {
                let digits = bytes[(index + 1)...(index + 3)]
                if digits.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "7") }) {
                    let value = digits.reduce(0) { $0 * 8 + Int($1 - UInt8(ascii: "0")) }
                    if value <= 255 {
                        result.append(UInt8(value))
                        index += 4
                        continue
                    }
                }
            }
            result.append(bytes[index])
            index += 1
        }
        return String(decoding: result, as: UTF8.self)
    }
}
