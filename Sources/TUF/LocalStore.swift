import Platform

/// The trusted metadata on disk: one file per role, `<percent-encoded role>.json`, holding the
/// bytes exactly as received. Every write is durable (temporary file, fsync, rename, fsync of
/// the directory), so a crash leaves the old or the new file, never a mix.
struct LocalStore: Sendable {
    let directory: String

    /// The file name of `role`: percent-encoded so that no role name ("../x", "a/b", "")
    /// can leave the directory or collide with another role's file.
    static func fileName(_ role: String) -> String { PercentEncoding.encode(role) + ".json" }

    func path(_ role: String) -> String { directory + "/" + Self.fileName(role) }

    /// The stored bytes of `role`, or nil when there are none (or they cannot be read). Only a
    /// regular file is read, without following a link or blocking on a FIFO planted there, and
    /// at most the largest metadata accepted.
    func read(_ role: String) -> [UInt8]? {
        guard let bytes = try? FileSystem.readOwnFile(path(role), maxBytes: Updater.Limit.metadataMaximum + 1),
              bytes.count <= Updater.Limit.metadataMaximum else { return nil }
        return bytes
    }

    /// Replaces the stored bytes of `role`.
    /// - Throws: ``TUFError/Code/storage`` naming the file.
    func write(_ role: String, _ bytes: [UInt8]) throws(TUFError) {
        do {
            try FileSystem.writeAtomically(path(role), bytes)
        } catch {
            throw TUFError(.storage, "Failed to store \(role) metadata: \(error)")
        }
    }
}

/// Percent-encoding as Python's `urllib.parse.quote(s, safe="")`: everything but ASCII letters,
/// digits and `_.-~` becomes `%XX` of its UTF-8 bytes, including "/", "?", "#" and "%".
enum PercentEncoding {
    static func encode(_ text: String, keeping extra: Set<UInt8> = []) -> String {
        let hex = Array("0123456789ABCDEF".utf8)
        var output: [UInt8] = []
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                 UInt8(ascii: "_"), UInt8(ascii: "."), UInt8(ascii: "-"), UInt8(ascii: "~"):
                output.append(byte)
            default:
                if extra.contains(byte) {
                    output.append(byte)
                } else {
                    output += [UInt8(ascii: "%"), hex[Int(byte >> 4)], hex[Int(byte & 0xF)]]
                }
            }
        }
        return String(decoding: output, as: UTF8.self)
    }
}
