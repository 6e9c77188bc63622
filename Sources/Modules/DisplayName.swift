import Platform

/// Text a worker announces (its module name, its version), made safe to print: control
/// characters shown as escapes (so it can never forge a line of its own or move the cursor)
/// and the length capped.
public enum DisplayName {
    /// The most characters of announced text printed; the rest is cut and marked with "…".
    public static let limit = 64

    /// `text` on one line, control characters (C0, DEL, C1, the Unicode line and paragraph
    /// separators) as `\n`, `\r`, `\t` or `\u{1B}`-style escapes, at most ``limit`` characters.
    public static func escaped(_ text: String) -> String {
        TerminalText.escaped(text, limit: limit)
    }

    /// `text` on one line with control characters as escapes, whatever its length (a message).
    public static func line(_ text: String) -> String {
        TerminalText.escaped(text)
    }
}
