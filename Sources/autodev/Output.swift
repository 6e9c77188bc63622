import Agent
import FoundationEssentials
import Platform

/// Writes to standard output and standard error.
enum Output {
    static func out(_ text: String) {
        FileHandleWriter.write(text + "\n", to: 1)
    }

    static func err(_ text: String, terminator: Bool = true) {
        FileHandleWriter.write(text + (terminator ? "\n" : ""), to: 2)
    }

    /// Pretty, key-sorted JSON of `value` on standard output.
    static func json<Value: Encodable>(_ value: Value) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        out(String(decoding: try encoder.encode(value), as: UTF8.self))
    }

    /// Compact, key-sorted JSON of `value` on one line of standard output.
    static func jsonLine<Value: Encodable>(_ value: Value) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        out(String(decoding: try encoder.encode(value), as: UTF8.self))
    }

    /// Left-aligned columns.
    static func table(_ header: [String], _ rows: [[String]]) -> String {
        let all = [header] + rows
        let widths = header.indices.map { column in all.map { $0[column].count }.max() ?? 0 }
        return all.map { row in
            row.enumerated().map { column, cell in
                column == row.count - 1 ? cell : cell + String(repeating: " ", count: widths[column] - cell.count)
            }.joined(separator: "  ")
        }.joined(separator: "\n")
    }

    /// `text` with control characters shown as escapes (the Agent module's ``DisplayText``), so
    /// that a name taken from a patch, a proposal or an error can never forge a line of its own
    /// or move the cursor.
    /// - Parameter keepingNewlines: leave line breaks (multi-line messages of our own).
    static func escaped(_ text: String, keepingNewlines: Bool = true) -> String {
        keepingNewlines ? DisplayText.message(text) : DisplayText.name(text)
    }

    /// `text` (a path, a name from outside) in double quotes on one line: a line break or an
    /// escape sequence in it is shown as an escape, so it cannot forge a line of a message.
    static func quoted(_ text: String) -> String {
        "\"" + DisplayText.name(text) + "\""
    }

    /// A path quoted for a POSIX shell when it needs it. One with control characters (an escape
    /// sequence in a directory's name) is written in `$'…'` quoting with each such byte as `\xNN`:
    /// pasted, it names the same path, and shown, it moves no cursor and sets no title.
    static func shellQuoted(_ text: String) -> String {
        if text.unicodeScalars.contains(where: { $0.value < 0x20 || (0x7F...0x9F).contains($0.value) }) {
            var quoted = "$'"
            for scalar in text.unicodeScalars {
                switch scalar.value {
                case 0x27: quoted += "\\'"
                case 0x5C: quoted += "\\\\"
                case ..<0x20, 0x7F...0x9F:
                    for byte in String(scalar).utf8 { quoted += "\\x" + (byte < 16 ? "0" : "") + String(byte, radix: 16) }
                default: quoted.unicodeScalars.append(scalar)
                }
            }
            return quoted + "'"
        }
        let plain = text.unicodeScalars.allSatisfy { $0.properties.isAlphabetic && $0.isASCII || "0123456789/._-+=:@%".unicodeScalars.contains($0) }
        return plain && !text.isEmpty ? text : "'" + text.split(separator: "'", omittingEmptySubsequences: false).joined(separator: "'\\''") + "'"
    }

    static func seconds(_ value: Double) -> String {
        value < 1 ? "\(Int((value * 1000).rounded())) ms" : String(Int((value * 10).rounded()) / 10) + "." + String(Int((value * 10).rounded()) % 10) + " s"
    }
}

enum FileHandleWriter {
    static func write(_ text: String, to descriptor: Int32) {
        let fd = FileDescriptor(rawValue: descriptor, path: descriptor == 1 ? "standard output" : "standard error")
        try? fd.writeAll(Array(text.utf8))
    }
}
