import Platform

/// Text from outside (a patch's file name, a proposal's name, a rejection reason) made safe to
/// print: control characters are shown as escapes, so a name can never forge a line of its own
/// (a name holding "\nagent: x accepted") or move the cursor (ESC sequences).
public enum DisplayText {
    /// `name` on one line: newline, carriage return, tab, ESC and every other control character
    /// (C0, DEL, C1, and the Unicode line and paragraph separators) shown as escapes.
    /// - Parameter name: a name taken from a patch file or a proposal.
    /// - Returns: the name with `\n`, `\r`, `\t` or `\u{1B}`-style escapes in place of control characters.
    public static func name(_ name: String) -> String {
        escaped(name, keepingNewlines: false)
    }

    /// `message` with control characters shown as escapes except line breaks, for multi-line
    /// text such as a rejection reason printed under its own heading.
    /// - Parameter message: text taken from a tool's output or an error.
    /// - Returns: the message, its line breaks kept and every other control character escaped.
    public static func message(_ message: String) -> String {
        escaped(message, keepingNewlines: true)
    }

    // MARK: - Internals

    static func escaped(_ text: String, keepingNewlines: Bool) -> String {
        TerminalText.escaped(text, keepingNewlines: keepingNewlines)
    }
}
