/// Text from outside the program (a file name, a name a worker announces, a tool's message)
/// made safe to print: control characters shown as escapes, so the text can never forge a line
/// of its own or move the cursor (ESC sequences).
package enum TerminalText {
    /// `text` with control characters (C0, DEL, C1, the Unicode line and paragraph separators)
    /// and the bidirectional controls (U+200E, U+200F, U+202A–U+202E, U+2066–U+2069, which can
    /// make a line read in another order than it was written) as `\n`, `\r`, `\t` or
    /// `\u{1B}`-style escapes.
    /// - Parameters:
    ///   - keepingNewlines: print line breaks as they are (multi-line messages).
    ///   - limit: the most characters printed; the rest is cut and marked with "…".
    package static func escaped(_ text: String, keepingNewlines: Bool = false, limit: Int? = nil) -> String {
        var result = ""
        var count = 0
        for scalar in text.unicodeScalars {
            if let limit, count >= limit {
                result += "…"
                break
            }
            count += 1
            switch scalar {
            case "\n" where keepingNewlines: result.append("\n")
            case "\n": result += "\\n"
            case "\r": result += "\\r"
            case "\t": result += "\\t"
            case _ where scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value) || isFormatting(scalar.value):
                result += "\\u{" + String(scalar.value, radix: 16, uppercase: true) + "}"
            default: result.unicodeScalars.append(scalar)
            }
        }
        return result
    }

    /// Line and paragraph separators and the bidirectional controls.
    static func isFormatting(_ value: UInt32) -> Bool {
        value == 0x2028 || value == 0x2029 || value == 0x200E || value == 0x200F
            || (0x202A...0x202E).contains(value) || (0x2066...0x2069).contains(value)
    }
}
