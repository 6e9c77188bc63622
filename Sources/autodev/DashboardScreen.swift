import Platform
import ReleaseChannel
import SelfUpgrade

/// The dashboard's frames: whole screens composed in memory as lines, each cut to the width so
/// nothing wraps; text from outside (versions, URLs, sources, module names, a child's output,
/// errors) shown escaped, so it cannot move the cursor or forge a line.
enum DashboardScreen {
    /// What the person is looking at.
    struct View {
        enum Mode: Equatable {
            case main
            /// "Roll back to …? y/n" in the status line.
            case confirmRollback
            /// The whole history, a page at a time.
            case history
        }
        var mode: Mode = .main
        /// The status line: the last action's result, an error, a question.
        var message = ""
        var historyRows: [Upgrader.HistoryRow] = []
        var historyOffset = 0
    }

    /// An action in progress, as the view shows it.
    struct Activity {
        var title: String
        var line: String?
        var download: DownloadMeter.Reading?
        var seconds: Double
    }

    static let keys = "u upgrade  r roll back  c check now  h history  q quit"
    static let historyKeys = "↑/k ↓/j space/b scroll; any other key or q returns"

    /// Exactly `rows` lines of at most `columns` columns each.
    static func frame(_ facts: DashboardFacts, view: View, activity: Activity?, home: String,
                      rows: Int, columns: Int, now: Double) -> [String] {
        guard rows > 0 else { return [] }
        var top: [String]
        var bottom: [String]
        switch view.mode {
        case .history:
            (top, bottom) = history(view, rows: rows)
        case .main, .confirmRollback:
            top = main(facts, activity: activity, home: home, now: now)
            bottom = [view.message, keys]
        }
        // The status and the keys stay at the bottom; what does not fit above them is cut.
        if rows <= bottom.count {
            bottom = Array(bottom.suffix(rows))
            top = []
        }
        let room = rows - bottom.count
        top = Array(top.prefix(room))
        let lines = top + Array(repeating: "", count: room - top.count) + bottom
        return lines.map { TerminalText.fitted($0, columns: columns) }
    }

    /// The bytes that draw `lines`: each line written at its row from the first column, erased
    /// to the end when it is shorter than the width (no clear of the whole screen, so no flicker).
    static func output(_ lines: [String], columns: Int) -> String {
        var text = ""
        for (index, line) in lines.enumerated() {
            text += "\u{1B}[\(index + 1);1H" + line
            if TerminalText.width(line) < columns { text += "\u{1B}[K" }
        }
        return text
    }

    // MARK: - Internals

    static func main(_ facts: DashboardFacts, activity: Activity?, home: String, now: Double) -> [String] {
        var lines = ["autodev dashboard  " + name(home) + "  " + clock(now)]
        if let problem = facts.problem { lines.append("Error:     " + name(problem)) }
        if let status = facts.status {
            var current = "Current:   " + (status.current.map(version) ?? "none")
            if let since = facts.currentSince {
                current += ", current since \(WallClock.iso8601(since)) (\(DashboardFacts.ago(now - since))"
                    + (facts.currentVia.map { ", by its " + name($0) } ?? "") + ")"
            }
            lines.append(current)
            lines.append("Previous:  " + (status.previous.map(version) ?? "none"))
            if let open = status.openTransaction {
                lines.append("Journal:   \(name(open.id)) not finished (in progress, or interrupted)")
            }
            for warning in status.warnings { lines.append("Warning:   " + name(warning)) }
        }
        lines += channel(facts, activity: activity, now: now)
        if let status = facts.status {
            let kept = status.versions.map { summary in
                summary.short + " " + name(summary.version ?? "?")
                    + (summary.current ? " (current)" : summary.id == status.previous?.id ? " (previous)" : "")
            }
            lines.append("Kept:      \(status.versions.count) of at most \(status.historyLimit): " + kept.joined(separator: ", "))
        }
        if !facts.recent.isEmpty {
            lines.append("")
            lines.append("Last transactions (\(facts.recent.count) of \(facts.historyTotal)):")
            let first = facts.historyTotal - facts.recent.count
            lines += table(facts.recent, first: first).map { "  " + $0 }
        }
        if !facts.modules.isEmpty {
            lines.append("")
            lines.append("Modules:")
            for module in facts.modules {
                let commits = module.history.filter { $0.event == "commit" }.count
                let rollbacks = module.history.filter { $0.event == "rollback" }.count
                lines.append("  \(name(module.module)) \(name(module.version ?? "-")), schema \(module.stateSchema.map(String.init) ?? "-"), "
                             + "\(commits) reload(s) committed, \(rollbacks) rolled back")
            }
        }
        if let reply = facts.supervised {
            lines.append("")
            lines.append("Supervised: " + name(reply.message))
        } else if let problem = facts.supervisedProblem {
            lines.append("")
            lines.append("Supervised: " + name(problem))
        }
        return lines
    }

    static func channel(_ facts: DashboardFacts, activity: Activity?, now: Double) -> [String] {
        var lines: [String] = []
        if let channel = facts.channel {
            lines.append("Channel:   " + name(channel.url))
            let checked = channel.lastCheck.map { "last check \(WallClock.iso8601(Double($0))) (\(DashboardFacts.ago(now - Double($0))))" }
                ?? "never checked"
            lines.append("  \(checked); next check: none scheduled here (c checks now)")
            if let available = channel.available {
                lines.append("  Update:  update available: \(name(available.version.description))" + (available.critical ? " (critical)" : "") + "; u installs it")
            } else if channel.lastCheck != nil {
                lines.append("  Update:  none (up to date at the last check)")
            }
        } else if let problem = facts.channelProblem {
            lines.append("Channel:   " + name(problem))
        } else {
            lines.append("Channel:   none followed ('autodev update configure' sets one)")
        }
        if let activity {
            var line = "  Running: \(activity.title) (\(DashboardFacts.age(activity.seconds)))"
            if let text = activity.line { line += ": " + name(text) }
            lines.append(line)
            if let reading = activity.download {
                let percent = reading.total > 0 ? " (\(Int(Double(reading.bytes) / Double(reading.total) * 100)) %)" : ""
                lines.append("  Downloading: " + DownloadMeter.line(reading) + percent)
            }
        }
        return lines
    }

    static func history(_ view: View, rows: Int) -> (top: [String], bottom: [String]) {
        let all = table(view.historyRows, first: 0)
        let header = all.first ?? ""
        let body = Array(all.dropFirst())
        let page = max(1, rows - 4)
        let offset = min(max(0, view.historyOffset), max(0, body.count - page))
        let shown = body.dropFirst(offset).prefix(page)
        let range = body.isEmpty ? "no rows" : "rows \(offset + 1)-\(offset + shown.count) of \(body.count)"
        return (["History (\(range)):", header] + shown, [view.message, historyKeys])
    }

    /// The rows as `self-upgrade history` prints them.
    static func table(_ rows: [Upgrader.HistoryRow], first: Int) -> [String] {
        Output.table(["#", "ID", "VERSION", "SINCE", "VIA", "SOURCE"], rows.enumerated().map { index, row in
            ["\(first + index + 1)", row.short + (row.current ? " *" : row.present ? "" : " (missing)"), name(row.version ?? "?"),
             row.since, name(row.via), name(row.source ?? "")]
        }).split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
    }

    static func version(_ summary: Upgrader.VersionSummary) -> String {
        "\(name(summary.version ?? "?")) (\(summary.short))"
    }

    static func name(_ text: String) -> String { Output.escaped(text, keepingNewlines: false) }

    static func clock(_ now: Double) -> String {
        let text = WallClock.iso8601(now)
        return text.count == 20 ? String(text.dropFirst(11)) : text
    }
}
