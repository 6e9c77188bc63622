import Glibc
import Platform
import SelfUpgrade

/// `autodev dashboard`: a live full-screen view of an installation, with keys for its actions.
///
/// The terminal is in character mode on the alternate screen with the cursor hidden, from the
/// first frame until the process ends or execs; every way out restores it: `q`, SIGINT and
/// SIGTERM (routed to the loop, which restores and exits 130 or 143), and a fatal signal or a
/// crash (``Terminal/enterCharacterMode(_:keepSignals:leave:)`` restores before the process ends).
/// Actions run as children without a terminal (``DashboardAction``): the view stays live, `q`
/// stops them, and however they end (a crash, SIGKILL) the dashboard goes on and says so.
extension DashboardCommand {
    /// Alternate screen, cursor hidden, no automatic wrap (a line cut too long is clipped, never wrapped).
    static let enter = "\u{1B}[?1049h\u{1B}[?25l\u{1B}[?7l\u{1B}[H\u{1B}[2J"
    static let leave = "\u{1B}[?7h\u{1B}[?25h\u{1B}[?1049l"

    static func run(_ arguments: DashboardCommand) throws -> Int32 {
        // Refused before anything is drawn: a pipe or a file would get escape sequences.
        for (descriptor, name) in [(Int32(0), "standard input"), (1, "standard output")] where !Terminal.isTerminal(descriptor) {
            throw UsageError(message: "The dashboard needs a terminal, and \(name) is not one ('autodev self-upgrade status' and 'history' print the same facts, with --json for scripts)", spec: DashboardCommand.spec)
        }
        let (session, code) = try Session.begin(arguments, readOnly: true)
        guard let session else { return code }
        var loop = Loop(session: session)
        return try loop.run()
    }

    struct Loop {
        let session: Session
        var facts = DashboardFacts()
        var view = DashboardScreen.View()
        var action: DashboardAction?
        var lastRefresh: UInt64?
        var lastSlowRefresh: UInt64?
        var lastFrame: [String] = []
        var lastSize = (rows: 0, columns: 0)

        init(session: Session) { self.session = session }

        mutating func run() throws -> Int32 {
            // SIGINT and SIGTERM are noted (Cancellation.signal), never the end of the process
            // with the terminal left in character mode; SIGWINCH ends a wait for a key at once.
            Cancellation.install()
            Terminal.watchResizes()
            try Terminal.enterCharacterMode(0, keepSignals: true, leave: DashboardCommand.leave, resume: DashboardCommand.enter)
            FileHandleWriter.write(DashboardCommand.enter, to: 1)
            while true {
                if Cancellation.signal != 0 { return finish(exitCode: 128 + Cancellation.signal) }
                let resized = Terminal.takeResize()
                pollAction()
                refreshIfDue()
                draw(force: resized)
                // Woken by a key, a resize or a signal; else every quarter second while an
                // action runs (its progress), every second otherwise.
                guard let keys = Terminal.readKeys(0, seconds: action == nil ? 1 : 0.25) else {
                    // The terminal is gone (a hangup whose signal did not end us): nothing can be
                    // shown or typed any more.
                    return finish(exitCode: ExitCode.failure)
                }
                for key in keys {
                    if let code = handle(key) { return finish(exitCode: code) }
                }
                // A burst of keys (one held down) is handled whole, then drawn once.
                if !keys.isEmpty { lastRefresh = nil }
            }
        }

        /// Stops a running action, restores the terminal, and returns `exitCode`.
        mutating func finish(exitCode: Int32) -> Int32 {
            if let action { _ = action.stopAndWait() }
            action = nil
            Terminal.leaveCharacterMode()
            return exitCode
        }

        mutating func refreshIfDue() {
            if let last = lastRefresh, MonotonicClock.seconds(since: last) < 1 { return }
            let slow = lastSlowRefresh.map { MonotonicClock.seconds(since: $0) >= 5 } ?? true
            facts.refresh(session.upgrader, home: session.home, slow: slow)
            lastRefresh = MonotonicClock.now()
            if slow { lastSlowRefresh = lastRefresh }
        }

        mutating func draw(force: Bool) {
            let size = Terminal.size(of: 1) ?? (rows: 24, columns: 80)
            let activity = action.map {
                DashboardScreen.Activity(title: $0.kind.title, line: $0.lastLine, download: $0.download, seconds: $0.elapsed)
            }
            let lines = DashboardScreen.frame(facts, view: view, activity: activity, home: session.home.directory,
                                              rows: size.rows, columns: size.columns, now: WallClock.now())
            let sizeChanged = size.rows != lastSize.rows || size.columns != lastSize.columns
            guard force || sizeChanged || lines != lastFrame else { return }
            // After a resize the terminal may have moved or kept old text anywhere: clear once.
            let prefix = force || sizeChanged ? "\u{1B}[H\u{1B}[2J" : ""
            FileHandleWriter.write(prefix + DashboardScreen.output(lines, columns: size.columns), to: 1)
            lastFrame = lines
            lastSize = size
        }

        // MARK: - Keys

        /// Handles `key`; returns the exit code when the dashboard ends.
        mutating func handle(_ key: Terminal.Key) -> Int32? {
            switch view.mode {
            case .history:
                scrollHistory(key)
                return nil
            case .confirmRollback:
                view.mode = .main
                if key == .character("y") || key == .character("Y") {
                    start(.rollback)
                } else {
                    view.message = "Roll back cancelled."
                }
                return nil
            case .main:
                break
            }
            switch key {
            case .character("q"), .character("Q"):
                return ExitCode.success
            case .character("u"):
                start(.upgrade)
            case .character("c"):
                start(.check)
            case .character("r"):
                guard action == nil else { return busy() }
                guard let previous = facts.status?.previous else {
                    view.message = "Nothing to roll back to: the journal names no previous version."
                    return nil
                }
                view.mode = .confirmRollback
                view.message = "Roll back to \(DashboardScreen.version(previous))? y/n"
            case .character("h"):
                do {
                    view.historyRows = try session.upgrader.history(newest: nil).rows
                    view.historyOffset = max(0, view.historyRows.count - 1)
                    view.mode = .history
                    view.message = ""
                } catch {
                    view.message = "History: " + DashboardScreen.name("\(error)")
                }
            default:
                break  // unknown keys do nothing
            }
            return nil
        }

        mutating func busy() -> Int32? {
            if let action { view.message = "Busy: \(action.kind.title) is running (q stops it and quits)." }
            return nil
        }

        mutating func scrollHistory(_ key: Terminal.Key) {
            let page = max(1, (Terminal.size(of: 1)?.rows ?? 24) - 4)
            let last = max(0, view.historyRows.count - page)
            // Starts at the newest page; the offset is kept within the rows.
            view.historyOffset = min(max(0, view.historyOffset), last)
            switch key {
            case .character("j"), .other([0x1B, 0x5B, 0x42]): view.historyOffset = min(last, view.historyOffset + 1)
            case .character("k"), .other([0x1B, 0x5B, 0x41]): view.historyOffset = max(0, view.historyOffset - 1)
            case .character(" "), .other([0x1B, 0x5B, 0x36, 0x7E]): view.historyOffset = min(last, view.historyOffset + page)
            case .character("b"), .other([0x1B, 0x5B, 0x35, 0x7E]): view.historyOffset = max(0, view.historyOffset - page)
            default:
                view.mode = .main
                view.historyRows = []
            }
        }

        // MARK: - Actions

        mutating func start(_ kind: DashboardAction.Kind) {
            guard action == nil else {
                _ = busy()
                return
            }
            // The home's own entry point runs the action, as 'autodev' on PATH would; this
            // program when the entry point is missing.
            let entry = session.home.entryPoint
            let executable = access(entry, X_OK) == 0 ? entry : ((try? ProcessControl.executablePath()) ?? entry)
            do {
                action = try DashboardAction(kind, executable: executable, home: session.home.directory, logs: session.home.logs,
                                             currentBefore: (try? session.home.currentVersion())?.hex)
                view.message = "\(kind.title.prefix(1).uppercased() + kind.title.dropFirst()) started."
            } catch {
                view.message = "Could not start \(kind.title): " + DashboardScreen.name("\(error)")
            }
        }

        mutating func pollAction() {
            guard let running = action, let outcome = running.poll() else { return }
            action = nil
            lastRefresh = nil
            let last = (outcome.errors.last { !$0.isEmpty } ?? outcome.output.last { !$0.isEmpty && !$0.hasPrefix("{") })
                .map { ": " + DashboardScreen.name($0) } ?? ""
            guard outcome.status.isSuccess else {
                view.message = "\(outcome.kind.title.prefix(1).uppercased() + outcome.kind.title.dropFirst()) failed (it \(outcome.status))" + last
                return
            }
            switch outcome.kind {
            case .check:
                let first = outcome.output.first { !$0.isEmpty }
                let newest = outcome.output.first { $0.hasPrefix("Newest version:") }
                    .map { "update available: " + $0.dropFirst("Newest version:".count).drop { $0 == " " } }
                view.message = "Checked: " + DashboardScreen.name(newest ?? first ?? "done")
            case .upgrade, .rollback:
                let now = (try? session.home.currentVersion())?.hex
                guard now != running.currentBefore else {
                    view.message = "\(outcome.kind == .upgrade ? "Upgrade" : "Roll back"): nothing changed" + last
                    return
                }
                continueInCurrentVersion(outcome: outcome)
            }
        }

        /// Re-executes the home's current version with the same command line: the dashboard goes
        /// on in the version the action installed. When that cannot be done, says so and stays.
        mutating func continueInCurrentVersion(outcome: DashboardAction.Outcome) {
            Terminal.leaveCharacterMode()
            let arguments = CommandLine.arguments
            do {
                try ProcessControl.exec(session.home.entryPoint, arguments: arguments, environment: ProcessControl.environment())
            } catch {
                try? Terminal.enterCharacterMode(0, keepSignals: true, leave: DashboardCommand.leave, resume: DashboardCommand.enter)
                FileHandleWriter.write(DashboardCommand.enter, to: 1)
                lastFrame = []
                view.message = "\(outcome.kind.title) done, but the new version could not be started here: " + DashboardScreen.name("\(error)")
            }
        }
    }
}
