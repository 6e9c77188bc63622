import Glibc
import Platform
import ReleaseChannel
import SelfUpgrade
import Supervisor

/// What the dashboard shows of an installation, read through the same library calls as
/// `self-upgrade status` and `history`, `modules list` and `supervise status`.
struct DashboardFacts {
    /// The release channel the home follows.
    struct Channel {
        var url: String
        /// When the last successful check ended (seconds since 1970).
        var lastCheck: Int?
        /// What it found newer than the current version.
        var available: UpdateChannel.AvailableUpdate?
    }

    var status: Upgrader.Status?
    /// When the current version became current: the journal's time of the transaction that made it so.
    var currentSince: Double?
    /// How it became current (adopt, upgrade, rollback…).
    var currentVia: String?
    /// The newest rows of the history, oldest first, and how many rows it has in all.
    var recent: [Upgrader.HistoryRow] = []
    var historyTotal = 0
    /// Nil when the home follows no channel; `channelProblem` says why one cannot be read.
    var channel: Channel?
    var channelProblem: String?
    var modules: [ModuleCommands.ListEntry] = []
    /// The supervisor's answer when the home is a supervised program's (it has a control socket).
    var supervised: ControlReply?
    var supervisedProblem: String?
    /// Why the store's status could not be read (the view keeps the last facts it had).
    var problem: String?

    /// Rows of the history the main view lists.
    static let recentRows = 5

    /// Reads everything again. The history is read only when the number of transactions or the
    /// current version changed (it reads the whole journal); modules and the supervisor only
    /// when `slow` (every few seconds).
    mutating func refresh(_ upgrader: Upgrader, home: Installation, slow: Bool) {
        do {
            let status = try upgrader.status()
            let changed = status.transactions != self.status?.transactions || status.current?.id != self.status?.current?.id
            self.status = status
            problem = nil
            if changed || recent.isEmpty {
                let (total, rows) = try upgrader.history(newest: Self.recentRows)
                recent = rows
                historyTotal = total
                let current = rows.last { $0.current }
                currentSince = current.flatMap { WallClock.seconds(iso8601: $0.since) }
                currentVia = current?.via
            }
        } catch {
            problem = "\(error)"
        }
        let running = status?.current?.version.flatMap(SemanticVersion.init) ?? SemanticVersion(autodevVersion)!
        if FileSystem.exists(home.directory + "/channel/config.json") {
            do {
                let loaded = try UpdateChannel.load(home: home.directory)
                channel = Channel(url: loaded.url, lastCheck: loaded.lastCheck, available: loaded.availableUpdate(newerThan: running))
                channelProblem = nil
            } catch {
                channel = nil
                channelProblem = "\(error)"
            }
        } else {
            channel = nil
            channelProblem = nil
        }
        guard slow else { return }
        modules = (try? ModuleCommands.entries(home)) ?? []
        if FileSystem.exists(SupervisorConfiguration.controlSocket(home: home.directory)) {
            do {
                supervised = try ControlClient.send("status", home: home.directory, timeout: 0.5)
                supervisedProblem = nil
            } catch {
                supervised = nil
                supervisedProblem = "\(error)"
            }
        } else {
            supervised = nil
            supervisedProblem = nil
        }
    }

    /// "45 s ago", "3 h 5 min ago"; "in the future (…)" for a time past this machine's clock.
    static func ago(_ seconds: Double) -> String {
        seconds < 0 ? "in the future (the clock moved back?)" : age(seconds) + " ago"
    }

    /// "45 s", "12 min", "3 h 5 min", "4 d 2 h": how long, to a person.
    static func age(_ seconds: Double) -> String {
        guard seconds.isFinite else { return "?" }
        if seconds < 0 { return "0 s" }
        if seconds < 1 { return "0 s" }
        let whole = Int(seconds)
        if whole < 60 { return "\(whole) s" }
        if whole < 3600 { return "\(whole / 60) min" }
        if whole < 172_800 { return "\(whole / 3600) h" + (whole % 3600 / 60 == 0 ? "" : " \(whole % 3600 / 60) min") }
        return "\(whole / 86_400) d" + (whole % 86_400 / 3600 == 0 ? "" : " \(whole % 86_400 / 3600) h")
    }
}
