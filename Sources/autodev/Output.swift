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

    /// A path quoted for a POSIX shell when it needs it.
    static func shellQuoted(_ text: String) -> String {
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
