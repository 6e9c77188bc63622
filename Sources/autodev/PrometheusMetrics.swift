import ReleaseChannel
import SelfUpgrade

/// An installation's facts in the Prometheus text exposition format (version 0.0.4), for
/// node_exporter's textfile collector or any scraper that reads a file.
enum PrometheusMetrics {
    /// The metrics of `status` and what the release channel last found; no trailing newline.
    static func status(_ status: Upgrader.Status, available: UpdateChannel.AvailableUpdate?, follows: Bool, lastCheck: Int?,
                       integrityProblems: Int) -> String {
        var lines: [String] = []
        func metric(_ name: String, _ type: String, _ help: String, _ samples: [(labels: [(String, String)], value: String)]) {
            lines.append("# HELP \(name) \(help)")
            lines.append("# TYPE \(name) \(type)")
            for sample in samples {
                let labels = sample.labels.isEmpty ? "" : "{" + sample.labels.map { "\($0.0)=\"\(labelValue($0.1))\"" }.joined(separator: ",") + "}"
                lines.append(name + labels + " " + sample.value)
            }
        }
        let home = ("home", status.home)
        if let current = status.current {
            metric("autodev_info", "gauge", "The version the installation runs (always 1; the facts are its labels).",
                   [([home, ("version", current.version ?? ""), ("id", current.id)], "1")])
        }
        metric("autodev_versions_stored", "gauge", "Versions kept in the store, to roll back to.", [([home], "\(status.versions.count)")])
        metric("autodev_versions_missing", "gauge", "Versions the journal names that are gone from the store.", [([home], "\(status.missing.count)")])
        metric("autodev_transactions_total", "counter", "Transactions journaled since the installation began (upgrades, rollbacks, repairs).",
               [([home], "\(status.transactions)")])
        metric("autodev_transaction_open", "gauge", "1 while a transaction is unfinished (in progress, or interrupted).",
               [([home], status.openTransaction == nil ? "0" : "1")])
        metric("autodev_warnings", "gauge", "Problems self-upgrade status reports.", [([home], "\(status.warnings.count)")])
        metric("autodev_integrity_problems", "gauge", "What the last integrity check (doctor --quiet) found.", [([home], "\(integrityProblems)")])
        if follows {
            metric("autodev_update_available", "gauge", "1 when the last check found a newer release for this installation.",
                   [([home] + (available.map { [("version", $0.version.description), ("critical", $0.critical ? "true" : "false")] } ?? []),
                     available == nil ? "0" : "1")])
            if let lastCheck {
                metric("autodev_update_last_check_timestamp_seconds", "gauge", "When the last successful update check ended.",
                       [([home], "\(lastCheck)")])
            }
        }
        return lines.joined(separator: "\n")
    }

    /// A label value as the format escapes it: backslash, double quote and line feed.
    static func labelValue(_ value: String) -> String {
        var escaped = ""
        for character in value.unicodeScalars {
            switch character {
            case "\\": escaped += "\\\\"
            case "\"": escaped += "\\\""
            case "\n": escaped += "\\n"
            default: escaped.unicodeScalars.append(character)
            }
        }
        return escaped
    }
}
