/// Text a worker announces (its module name, its version), made safe to print: control
/// characters shown as escapes (so it can never forge a line of its own or move the cursor)
/// and the length capped.
package enum DisplayName {
    /// The most characters of announced text printed; the rest is cut and marked with "…".
    package static let limit = 64

    /// `text` on one line, control characters (C0, DEL, C1, the Unicode line and paragraph
    /// separators) as `\n`, `\r`, `\t` or `\u{1B}`-style escapes, at most ``limit`` characters.
    package static func escaped(_ text: String) -> String {
        var result = ""
        var count = 0
        for scalar in text.unicodeScalars {
            if count >= limit {
                result += "…"
                break
            }
            count += 1
            switch scalar {
            case "\n": result += "\\n"
            case "\r": result += "\\r"
            case "\t": result += "\\t"
            case _ where scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value) || scalar.value == 0x2028 || scalar.value == 0x2029:
                result += "\\u{" + String(scalar.value, radix: 16, uppercase: true) + "}"
            default: result.unicodeScalars.append(scalar)
            }
        }
        return result
    }
}
