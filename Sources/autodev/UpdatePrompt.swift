import Platform
import ReleaseChannel
import SelfUpgrade

/// The *update available* view of `autodev update` on a terminal, and the decision it asks for:
/// install now, later, or skip this version.
///
/// Everything that came from the channel (version text, dates, release notes) is escaped before
/// it reaches the terminal, and each line is cut or wrapped to the terminal's width.
enum UpdatePrompt {
    enum Decision: Equatable {
        case now
        case later
        case skip
    }

    /// A decision that ends `update` without installing: said, and the exit is 0.
    struct Declined: Error {
        var message: String
    }

    /// Shows the view for `offer` on standard error and waits for a key on standard input.
    /// - Parameter downloadSize: what an apply would download (a patch, or the full file).
    /// - Throws: ``UpgradeError/cancelled`` when SIGINT or SIGTERM arrives while it waits.
    static func ask(_ offer: ReleaseOffer, current: SemanticVersion, downloadSize: Int, isPatch: Bool) throws -> Decision {
        let width = min(max(Terminal.size(of: 2)?.columns ?? 80, 40), 100)
        for line in view(offer, current: current, downloadSize: downloadSize, isPatch: isPatch, width: width, now: WallClock.now()) {
            Output.err(line)
        }
        let critical = offer.facts.critical
        let question = critical ? "Install now? [Y]es, [l]ater (a critical release cannot be skipped) "
            : "Install now? [Y]es, [l]ater, [s]kip this version "
        Output.err(question, terminator: false)
        // Stopped with Ctrl-Z and brought back with fg, it asks again on a line of its own.
        try Terminal.enterCharacterMode(0, keepSignals: true, resume: "\n" + question)
        defer { Terminal.leaveCharacterMode() }
        while true {
            // Every key of a burst (typed ahead, pasted, held down) in order: the first that
            // decides, decides.
            guard let keys = Terminal.readKeys(0, seconds: 3600) else {
                // The terminal hung up: nobody can answer, so nothing is installed.
                Output.err("")
                throw UpgradeError.cancelled
            }
            if keys.isEmpty, Cancellation.signal != 0 {
                Output.err("")
                throw UpgradeError.cancelled
            }
            for key in keys {
                switch key {
                case .character("y"), .character("Y"), .enter:
                    Output.err("yes")
                    return .now
                case .character("l"), .character("L"), .character("n"), .character("N"), .escape:
                    Output.err("later")
                    return .later
                case .character("s"), .character("S"):
                    if critical {
                        Output.err("")
                        Output.err("autodev \(offer.facts.version) is a critical release: it cannot be skipped. ", terminator: false)
                        Output.err(question, terminator: false)
                        continue
                    }
                    Output.err("skip")
                    return .skip
                case .interrupt:
                    Output.err("")
                    throw UpgradeError.cancelled
                default:
                    continue
                }
            }
        }
    }

    /// The lines of the view, each at most `width` columns.
    static func view(_ offer: ReleaseOffer, current: SemanticVersion, downloadSize: Int, isPatch: Bool, width: Int, now: Double) -> [String] {
        let facts = offer.facts
        let inner = width - 4
        var body: [String] = []
        body.append("autodev \(facts.version) is available (you have \(current))" + (facts.critical ? ": CRITICAL" : ""))
        let released = Output.escaped(facts.released, keepingNewlines: false)
        body.append("Released " + released + (WallClock.seconds(iso8601: facts.released).map { " (" + age(now - $0) + ")" } ?? ""))
        body.append("Download: " + ByteCount.text(downloadSize) + (isPatch ? " (a patch from this version; the full file is \(ByteCount.text(offer.length)))" : ""))
        if let notes = facts.notes, !notes.isEmpty {
            body.append("")
            body.append("What's new:")
            var lines: [String] = []
            for line in notes.split(separator: "\n", omittingEmptySubsequences: false) {
                lines += wrap(Output.escaped(String(line), keepingNewlines: false), width: inner - 2).map { "  " + $0 }
            }
            let shown = 20
            body += lines.prefix(shown)
            if lines.count > shown { body.append("  … and \(lines.count - shown) more lines ('autodev update check' shows them all)") }
        }
        let title = " Update available "
        var out = ["┌─" + title + String(repeating: "─", count: max(0, width - 3 - title.count)) + "┐"]
        for line in body {
            for piece in wrap(line, width: inner) {
                out.append("│ " + piece + String(repeating: " ", count: max(0, inner - TerminalText.width(piece))) + " │")
            }
        }
        out.append("└" + String(repeating: "─", count: width - 2) + "┘")
        return out
    }

    /// "2 days ago", "5 hours ago", "just now"; "in the future" for a clock behind the publisher's.
    static func age(_ seconds: Double) -> String {
        guard seconds >= 0 else { return "in the future by this machine's clock" }
        let minutes = Int(seconds / 60), hours = minutes / 60, days = hours / 24
        func plural(_ count: Int, _ unit: String) -> String { "\(count) \(unit)\(count == 1 ? "" : "s") ago" }
        if days > 0 { return plural(days, "day") }
        if hours > 0 { return plural(hours, "hour") }
        if minutes > 0 { return plural(minutes, "minute") }
        return "just now"
    }

    /// `text` broken at spaces into lines of at most `width` columns (``TerminalText/width(_:)``:
    /// a wide character takes two); a longer word is cut.
    static func wrap(_ text: String, width: Int) -> [String] {
        guard width > 0 else { return [] }
        guard TerminalText.width(text) > width else { return [text] }
        var lines: [String] = []
        var line = ""
        for piece in text.split(separator: " ", omittingEmptySubsequences: false) {
            var word = String(piece)
            while TerminalText.width(word) > width {
                if !line.isEmpty { lines.append(line); line = "" }
                var head = TerminalText.fitted(word, columns: width)
                // A character wider than the whole line still goes, alone, so the loop ends.
                if head.isEmpty { head = String(word.prefix(1)) }
                lines.append(head)
                word = String(word.unicodeScalars.dropFirst(head.unicodeScalars.count))
            }
            if line.isEmpty {
                line = word
            } else if TerminalText.width(line) + 1 + TerminalText.width(word) <= width {
                line += " " + word
            } else {
                lines.append(line)
                line = word
            }
        }
        if !line.isEmpty || lines.isEmpty { lines.append(line) }
        return lines
    }
}
