import CPlatform
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A version written into a built binary after the build, like a linker's `-X` stamping: a
/// release pipeline builds once and stamps the version it publishes, without recompiling.
///
/// The binary carries a marker in its data section followed by room for the version
/// (`ad_version_stamp_area` in CPlatform). ``current`` reads it from the running image;
/// ``write(_:into:)`` finds the one marker in a file and writes the version after it.
/// Invariant: a file is stamped only when it holds the marker exactly once, and only through an
/// atomic replace, so a failed stamp leaves the file as it was.
public enum VersionStamp {
    /// The longest version a stamp holds, in bytes (one NUL always follows it).
    public static let capacity = Int(AD_VERSION_STAMP_CAPACITY) - 1

    /// The marker's bytes, read from this image's own stamp area (the marker has no other copy in
    /// the binary, so a search for it finds the stamp area only).
    public static var marker: [UInt8] {
        let area = UnsafeRawPointer(ad_version_stamp()!)
        return Array(UnsafeRawBufferPointer(start: area, count: Int(AD_VERSION_STAMP_MARKER_LENGTH)))
    }

    /// The version stamped into the running binary; nil when it was never stamped.
    public static var current: String? {
        let area = UnsafeRawPointer(ad_version_stamp()!) + Int(AD_VERSION_STAMP_MARKER_LENGTH)
        let bytes = UnsafeRawBufferPointer(start: area, count: capacity).prefix { $0 != 0 }
        return bytes.isEmpty ? nil : String(decoding: bytes, as: UTF8.self)
    }

    /// Why a file cannot be stamped.
    public struct Failure: Error, Sendable, CustomStringConvertible {
        public var description: String
    }

    /// Writes `version` into the stamp area of the binary at `path`, replacing it atomically:
    /// owner, group and permissions kept but for setuid and setgid, which a new binary does not
    /// inherit (nor file capabilities). A symbolic link or a file with several names is refused.
    /// - Throws: ``Failure`` when the version is empty, too long or not printable ASCII, or the
    ///   file holds no marker or more than one; ``SystemError`` when it cannot be read or replaced.
    public static func write(_ version: String, into path: String) throws -> Void {
        let text = Array(version.utf8)
        guard !text.isEmpty, text.count <= capacity, text.allSatisfy({ (0x21...0x7E).contains($0) }) else {
            throw Failure(description: "Cannot stamp \"\(path)\" with version '\(version)': a version is 1 to \(capacity) printable ASCII characters without spaces")
        }
        let status = try FileSystem.status(path, followLinks: false)
        if status.kind == .symbolicLink {
            let target = (try? FileSystem.destinationOfSymbolicLink(path)) ?? "?"
            throw Failure(description: "Cannot stamp \"\(path)\": it is a symbolic link (to \"\(target)\"); stamp the file it points to")
        }
        guard status.kind == .regular else { throw Failure(description: "Cannot stamp \"\(path)\": it is not a regular file") }
        guard status.linkCount == 1 else {
            throw Failure(description: "Cannot stamp \"\(path)\": it has \(status.linkCount) names (hard links), and a stamp replaces the file, so the others would keep the old content; stamp a copy")
        }
        var bytes = try FileSystem.readInputFile(path, maxBytes: 1 << 30, what: "a binary to stamp")
        let found = offsets(of: marker, in: bytes)
        guard found.count == 1, let start = found.first.map({ $0 + marker.count }) else {
            throw Failure(description: found.isEmpty
                ? "Cannot stamp \"\(path)\": it has no version stamp area (not a program built with this library)"
                : "Cannot stamp \"\(path)\": it has \(found.count) version stamp markers, and only one may be written")
        }
        guard start + capacity + 1 <= bytes.count else {
            throw Failure(description: "Cannot stamp \"\(path)\": the file ends inside its version stamp area (truncated)")
        }
        for index in 0...capacity { bytes[start + index] = index < text.count ? text[index] : 0 }
        // The same owner, group and permissions; setuid and setgid are not carried over to
        // what is a new binary (set them again on purpose), nor are file capabilities.
        try FileSystem.writeAtomically(path, bytes, mode: status.mode & 0o1777 & ~mode_t(0o6000), owner: (status.owner, status.group))
    }

    /// The version stamped into the binary at `path`; nil when it has a stamp area with nothing in it.
    /// - Throws: ``Failure`` when it has no stamp area or several.
    public static func read(from path: String) throws -> String? {
        let bytes = try FileSystem.readInputFile(path, maxBytes: 1 << 30, what: "a binary")
        let found = offsets(of: marker, in: bytes)
        guard found.count == 1, let start = found.first.map({ $0 + marker.count }) else {
            throw Failure(description: "\"\(path)\" has \(found.isEmpty ? "no" : "\(found.count)") version stamp area\(found.count > 1 ? "s" : "")")
        }
        let version = bytes[start..<min(bytes.count, start + capacity)].prefix { $0 != 0 }
        return version.isEmpty ? nil : String(decoding: version, as: UTF8.self)
    }

    /// Every offset where `needle` starts in `haystack`.
    static func offsets(of needle: [UInt8], in haystack: [UInt8]) -> [Int] {
        guard let first = needle.first, haystack.count >= needle.count else { return [] }
        var result: [Int] = []
        haystack.withUnsafeBufferPointer { hay in
            needle.withUnsafeBufferPointer { pin in
                var index = 0
                let last = hay.count - pin.count
                while index <= last {
                    if hay[index] == first, memcmp(hay.baseAddress! + index, pin.baseAddress!, pin.count) == 0 { result.append(index) }
                    index += 1
                }
            }
        }
        return result
    }
}
