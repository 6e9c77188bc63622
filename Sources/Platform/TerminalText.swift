/// Text from outside the program (a file name, a name a worker announces, a tool's message)
/// made safe to print: control characters shown as escapes, so the text can never forge a line
/// of its own or move the cursor (ESC sequences).
public enum TerminalText {
    /// `text` with control characters (C0, DEL, C1, the Unicode line and paragraph separators)
    /// and the bidirectional controls (U+200E, U+200F, U+202A–U+202E, U+2066–U+2069, which can
    /// make a line read in another order than it was written) as `\n`, `\r`, `\t` or
    /// `\u{1B}`-style escapes.
    /// - Parameters:
    ///   - keepingNewlines: print line breaks as they are (multi-line messages).
    ///   - limit: the most characters printed; the rest is cut and marked with "…".
    public static func escaped(_ text: String, keepingNewlines: Bool = false, limit: Int? = nil) -> String {
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

    /// The columns `text` takes on a terminal: wide (East Asian, emoji) characters two,
    /// combining marks and zero-width characters none, every other character one. Meant for
    /// text already escaped (no control characters).
    public static func width(_ text: String) -> Int {
        text.unicodeScalars.reduce(0) { $0 + width(of: $1) }
    }

    /// `text` cut to at most `columns` columns, so that a line never wraps.
    public static func fitted(_ text: String, columns: Int) -> String {
        guard columns > 0 else { return "" }
        var result = ""
        var used = 0
        for scalar in text.unicodeScalars {
            let next = width(of: scalar)
            if used + next > columns { break }
            used += next
            result.unicodeScalars.append(scalar)
        }
        return result
    }

    static func width(of scalar: Unicode.Scalar) -> Int {
        let value = scalar.value
        if value < 0x20 || (0x7F...0x9F).contains(value) { return 0 }
        if value < 0x300 { return 1 }
        // Combining marks (of any script), format characters and variation selectors take none.
        switch scalar.properties.generalCategory {
        case .nonspacingMark, .enclosingMark, .format: return 0
        default: break
        }
        if (0x1160...0x11FF).contains(value) || (0xFE00...0xFE0F).contains(value) || (0xE0100...0xE01EF).contains(value) { return 0 }
        // Emoji shown as pictures (Emoji_Presentation), as terminals draw them: two columns.
        if value >= 0x2300, scalar.properties.isEmojiPresentation { return 2 }
        if (0x1100...0x115F).contains(value) || (0x2E80...0x303E).contains(value) || (0x3041...0x33FF).contains(value)
            || (0x3400...0x4DBF).contains(value) || (0x4E00...0x9FFF).contains(value) || (0xA000...0xA4CF).contains(value)
            || (0xAC00...0xD7A3).contains(value) || (0xF900...0xFAFF).contains(value) || (0xFE30...0xFE4F).contains(value)
            || (0xFF00...0xFF60).contains(value) || (0xFFE0...0xFFE6).contains(value) || (0x1F300...0x1F64F).contains(value)
            || (0x1F900...0x1F9FF).contains(value) || (0x20000...0x3FFFD).contains(value) { return 2 }
        return 1
    }
}
