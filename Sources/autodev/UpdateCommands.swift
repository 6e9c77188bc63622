import ChannelUpdate
import Platform
import ReleaseChannel
import SelfUpgrade

/// `autodev update configure | check | apply` and `autodev update` alone: the channel this
/// installation follows. The decision and its guards are `ChannelUpdate`'s; this parses, asks
/// and renders.
/// What 'update check' and 'update apply' read from their command line; 'update' alone hands
/// its own options on (the ones it does not have are nil).
struct UpdateRequest: HomeCommand {
    var home: String?
    var json: Bool
    var yes = false
    var stallTimeout: GivenValue
    var timeout: GivenValue
    var currentVersion: GivenValue? = nil
    var version: GivenValue? = nil
    var allowDowngrade = false
    var downloadOnly = false

    init(_ command: UpdateCheckCommand) {
        (home, json, stallTimeout, timeout, currentVersion) = (command.home, command.json, command.$stallTimeout, command.$timeout, command.$currentVersion)
    }

    init(_ command: UpdateApplyCommand) {
        (home, json, yes, stallTimeout, timeout) = (command.home, command.json, command.yes, command.$stallTimeout, command.$timeout)
        (version, allowDowngrade, downloadOnly) = (command.$version, command.allowDowngrade, command.downloadOnly)
    }

    init(_ command: UpdateCommand) {
        (home, json, stallTimeout, timeout) = (command.home, command.json, command.$stallTimeout, command.$timeout)
    }
}

extension ChannelCommands {
    // MARK: - Update channel

    static func configure(_ arguments: UpdateConfigureCommand) throws -> Int32 {
        let spec = UpdateConfigureCommand.spec
        let url = try required(arguments.$channel, spec)
        let rootPath = try required(arguments.$trustedRoot, spec)
        let home = HomeLocator.locate(option: arguments.home).directory
        let root = try FileSystem.readInputFile(rootPath, maxBytes: InputLimit.trustedRoot, what: "a trusted root")
        let channel = try UpdateChannel.configure(home: home, url: url, trustedRoot: root)
        Output.out("Following \(Output.escaped(channel.url, keepingNewlines: false)) with the trusted root from \(Output.quoted(rootPath))")
        return ExitCode.success
    }

    static func check(_ arguments: UpdateRequest) throws -> Int32 {
        let current = try arguments.currentVersion.flatMap { try semanticVersion($0, UpdateCheckCommand.spec, required: false) }
            ?? SemanticVersion(autodevVersion)!
        let stall = try stallTimeout(arguments.stallTimeout, UpdateCheckCommand.spec)
        let total = try totalTimeout(arguments.timeout, UpdateCheckCommand.spec)
        let home = HomeLocator.locate(option: arguments.home).directory
        var channel = try UpdateChannel.load(home: home)
        channel.stallTimeout = stall
        channel.totalTimeout = total
        let settings = try UpdateSettings.load(homeDirectory: home)
        // A check needs no upgrade settings: the upgrader is given the defaults, so a config.json
        // this version cannot use for upgrading does not stop it.
        let upgrader = try Upgrader(homeDirectory: home, program: autodevIdentity, configuration: UpgradeConfiguration())
        let update = try ChannelUpdate(channel: channel, upgrader: upgrader, current: current, skippedVersions: Set(settings.skippedVersions))
        let platform = ReleasePlatform.current
        let (chosen, offer): (ReleaseOffer?, ReleaseOffer?) = switch try update.check() {
        case .upToDate(let skipped): (nil, skipped)
        case .available(let offer): (offer, offer)
        }
        // What an apply would refuse (a length past 1 TiB, a malformed hash) is refused here too.
        try offer?.validate()
        // Remembered for 'self-upgrade status', unless the check was about another version than this one;
        // a newly offered version is told to the notification command once.
        if arguments.currentVersion?.text == nil {
            let before = channel.availableUpdate(newerThan: current)
            try channel.recordAvailable(chosen)
            if let chosen, before?.version != chosen.facts.version {
                UpdateNotifier(homeDirectory: home, program: autodevIdentity, settings: settings)
                    .send(.updateAvailable, version: chosen.facts.version.description, critical: chosen.facts.critical)
            }
        }
        if arguments.json {
            try Output.json(CheckReport(current: current.description, platform: platform.rawValue, channel: channel.url,
                                        upToDate: chosen == nil, newest: chosen.map(CheckReport.Release.init),
                                        skipped: chosen == nil ? offer?.facts.version.description : nil))
            return ExitCode.success
        }
        guard let chosen else {
            Output.out(upToDate(current, channel, skipped: offer))
            return ExitCode.success
        }
        let facts = chosen.facts
        Output.out("Current version:  \(current)")
        Output.out("Newest version:   \(facts.version)\(facts.critical ? " (critical)" : "")")
        Output.out("Released:         \(Output.escaped(facts.released, keepingNewlines: false))")
        let patch = update.patch(for: chosen)
        let size = patch?.length ?? chosen.length
        Output.out("Download size:    \(size) bytes" + (size >= 1024 ? " (\(ByteCount.text(size)))" : "")
                   + (patch != nil ? ", a patch from this version (the full file is \(chosen.length) bytes)" : ", the full file"))
        Output.out("Critical:         \(facts.critical ? "yes" : "no")")
        Output.out("Target:           \(chosen.shownPath)")
        if let notes = facts.notes {
            Output.out("Notes:")
            for line in notes.split(separator: "\n", omittingEmptySubsequences: false) { Output.out("  " + Output.escaped(String(line), keepingNewlines: false)) }
        }
        return ExitCode.success
    }

    static func apply(_ arguments: UpdateRequest) throws -> Int32 {
        let spec = UpdateApplyCommand.spec
        let wanted = try arguments.version.flatMap { try semanticVersion($0, spec, required: false) }
        let stall = try stallTimeout(arguments.stallTimeout, spec)
        let total = try totalTimeout(arguments.timeout, spec)
        // After the swap this same command line runs in the new version, which finishes here.
        let (session, code) = try Session.begin(arguments)
        guard let session else { return code }
        let current = SemanticVersion(autodevVersion)!
        var channel = try UpdateChannel.load(home: session.home.directory)
        channel.stallTimeout = stall
        channel.totalTimeout = total
        // SIGINT and SIGTERM end the refresh and the download within a second (what arrived is
        // kept for the next apply), and are honoured by the upgrade until the swap.
        Cancellation.install()
        let settings = wanted == nil ? try UpdateSettings.load(homeDirectory: session.home.directory) : nil
        let update = try ChannelUpdate(channel: channel, upgrader: session.upgrader, current: current,
                                       skippedVersions: Set(settings?.skippedVersions ?? []))
        let chosen: ReleaseOffer
        do {
            switch try update.check(version: wanted) {
            case .upToDate(let skipped):
                Output.out(upToDate(current, channel, skipped: skipped))
                return ExitCode.success
            case .available(let offer):
                chosen = offer
            }
        } catch let refusal as ChannelUpdate.Refusal {
            throw rendered(refusal, channel: channel)
        }
        let json = arguments.json
        let interactive = !json && !arguments.yes && !arguments.downloadOnly
            && ProcessControl.standardInputIsTerminal && ProcessControl.standardErrorIsTerminal
        let notifier = UpdateNotifier(homeDirectory: session.home.directory, program: autodevIdentity)
        do {
            try install(chosen, with: update, session: session, allowDowngrade: arguments.allowDowngrade, json: json,
                        downloadOnly: arguments.downloadOnly, escapeCancels: interactive) { question in
                guard interactive else { return try session.confirm(question, yes: arguments.yes) }
                return try decide(chosen, current: current, home: session.home.directory)
            }
        } catch let declined as UpdatePrompt.Declined {
            Output.out(declined.message)
            return ExitCode.success
        } catch {
            let cancelled = (error as? UpgradeError)?.code == .cancelled || (error as? ReleaseChannelError)?.code == .cancelled
            if !cancelled {
                notifier.send(.failed, version: chosen.facts.version.description, message: "\(error)")
            }
            throw error
        }
        // A real upgrade continues in the new version and does not return here.
        return ExitCode.success
    }

    /// `autodev update` alone: on a terminal, the *update available* view and its decision
    /// (now, later, skip this version), then `apply`; elsewhere (a pipe, --json) what `check`
    /// says, with no prompt and no escape sequences.
    static func update(_ arguments: UpdateCommand) throws -> Int32 {
        let interactive = !arguments.json && ProcessControl.standardInputIsTerminal && ProcessControl.standardErrorIsTerminal
        guard interactive else { return try check(UpdateRequest(arguments)) }
        return try apply(UpdateRequest(arguments))
    }

    /// Asks a person at the terminal about `offer`; a skip is remembered in config.json.
    /// - Returns: true for "now" (an explicit upgrade); throws ``UpdatePrompt/Declined`` otherwise.
    private static func decide(_ offer: ReleaseOffer, current: SemanticVersion, home: String) throws -> Bool {
        let patch = (try? ProcessControl.executablePath()).flatMap { UpdateChannel.patch(for: offer, base: $0) }
        switch try UpdatePrompt.ask(offer, current: current, downloadSize: patch?.length ?? offer.length, isPatch: patch != nil) {
        case .now:
            return true
        case .later:
            throw UpdatePrompt.Declined(message: "Not installed; 'autodev update' offers autodev \(offer.facts.version) again")
        case .skip:
            try ConfigurationFile(homeDirectory: home).skip(offer.facts.version.description)
            throw UpdatePrompt.Declined(message: "Skipped autodev \(offer.facts.version): it is not offered again until a newer version is published ('autodev config unset skippedVersions' undoes this)")
        }
    }

    /// "autodev V is up to date (…)", saying so when the newest release was skipped.
    static func upToDate(_ current: SemanticVersion, _ channel: UpdateChannel, skipped: ReleaseOffer?) -> String {
        let place = "(\(Output.escaped(channel.url, keepingNewlines: false)), \(ReleasePlatform.current.rawValue))"
        guard let skipped else { return "autodev \(current) is up to date \(place)" }
        return "autodev \(current): \(skipped.facts.version) is available but skipped (config skippedVersions) \(place)"
    }

    /// Installs `chosen` with `update` (every guard, the download, the upgrade: see
    /// ``ChannelUpdate``) and says what happens: the download's progress (with `json`, one event
    /// a second on standard output and a final `downloaded` event; else on a terminal one line on
    /// standard error rewritten with a carriage return at most ten times a second; else nothing),
    /// then the verification and the upgrade. The new version is exec'd.
    /// - Parameters:
    ///   - confirm: asked before anything is downloaded, with the question to put; true when a
    ///     person confirmed at a terminal (an explicit upgrade, never refused by the loop guard).
    ///   - downloadOnly: stop once the file is verified in staging, and print its path.
    ///   - escapeCancels: Esc at the terminal cancels the download as Ctrl-C does.
    static func install(_ chosen: ReleaseOffer, with update: ChannelUpdate, session: Session, allowDowngrade: Bool, json: Bool,
                        downloadOnly: Bool = false, escapeCancels: Bool = false, confirm: @escaping (String) throws -> Bool) throws {
        let version = chosen.facts.version
        let channel = update.channel
        let terminal = !json && ProcessControl.standardErrorIsTerminal
        var meter = DownloadMeter(interval: json ? 1 : 0.1)
        var started = MonotonicClock.now()
        // The final rate counts up to the last bytes received, not the verification after them.
        var finished: Double?
        var watcher: EscapeWatcher?
        defer { watcher?.stop() }
        var downloading = false
        var verified: String?
        let show = { (reading: DownloadMeter.Reading, event: String) in
            if json {
                try? Output.jsonLine(DownloadEvent(event: event, bytes: reading.bytes, total: reading.total, rate: DownloadMeter.whole(reading.rate),
                                                   secondsLeft: reading.secondsLeft.map { DownloadMeter.whole($0.rounded(.up)) }))
            } else if terminal {
                // Erase to the end of the line, so a shorter line leaves nothing of the longer one.
                Output.err("\r" + DownloadMeter.line(reading) + "\u{1B}[K", terminator: false)
            }
        }
        var options = ChannelUpdate.InstallOptions()
        options.allowDowngrade = allowDowngrade
        options.downloadOnly = downloadOnly
        options.confirm = { _ in
            try confirm("Install autodev \(version) (\(chosen.length) bytes) from \(Output.quoted(channel.url)) in place of \(update.current)?")
        }
        let stateDirectory = session.home.stateDirectory
        // The journal is the durable record of the transaction: this marker is not fsync'd.
        options.beforeRestart = { try AutodevState.update(in: stateDirectory, durable: false) { $0.pendingTransaction = "upgrade" } }
        options.events = { event in
            switch event {
            case .floorRebuilt(let installed, let file):
                Output.err("Rebuilt the downgrade floor \(Output.quoted(file)) from the journal: \(installed) was installed from the channel")
            case .downloading:
                Cancellation.install()
                Output.err("Downloading autodev \(version) (\(chosen.length) bytes) from \(Output.quoted(channel.url))")
                watcher = escapeCancels ? EscapeWatcher() : nil
                if watcher != nil { Output.err("(Esc or Ctrl-C cancels; what arrived is kept for the next try)") }
                started = MonotonicClock.now()
                downloading = true
            case .patch(let patch):
                if !json { Output.err("Downloading a patch of \(patch.length) bytes from this version instead of the full \(chosen.length) bytes") }
            case .notice(let line):
                if json {
                    _ = try? Output.jsonLine(NoticeEvent(event: "notice", message: line))
                } else {
                    Output.err(line)
                }
            case .progress(let bytes, let total):
                let now = MonotonicClock.seconds(since: started)
                finished = now
                if let reading = meter.record(bytes: bytes, total: total, now: now) { show(reading, "download") }
            case .verified(let path):
                downloading = false
                let final = meter.reading(bytes: chosen.length, total: chosen.length, now: finished ?? MonotonicClock.seconds(since: started))
                if json || terminal {
                    show(final, "downloaded")
                    if terminal { Output.err("") }
                }
                watcher?.stop()
                watcher = nil
                Output.err((escapeCancels ? "  ✓ " : "") + "Verified \(chosen.shownPath): \(chosen.checkedDescription) match the signed metadata")
                verified = path
            case .upgrading(let path):
                Output.err("Upgrading \(Output.quoted(session.home.directory)) from \(Output.quoted(path))")
            }
        }
        do {
            if case .downloaded(let path) = try update.install(chosen, options: options) {
                if json {
                    try Output.jsonLine(VerifiedEvent(event: "verified", version: version.description, path: path))
                } else {
                    Output.out(path)
                }
            }
        } catch let refusal as ChannelUpdate.Refusal {
            throw rendered(refusal, channel: channel)
        } catch let error as ReleaseChannelError where downloading && error.code == .channel {
            // Said only what is true: a retry resumes only when bytes were kept, and one that
            // cannot succeed (the published file does not match its signature) is not suggested.
            let kept = update.keptBytes(of: chosen)
            let next = if error.message.contains("cannot be installed as published") {
                ""
            } else if kept > 0 {
                "; run 'autodev update apply' again to retry (the download resumes from the \(kept) bytes kept)"
            } else {
                "; run 'autodev update apply' again to retry"
            }
            throw ReleaseChannelError(error.code, error.message + "\nNothing was installed" + next)
        } catch let error as ReleaseChannelError where downloading && error.code == .cancelled {
            throw ReleaseChannelError(error.code, error.message + "\nNothing was installed")
        } catch let error as UpgradeError where error.code == .cancelled && verified != nil {
            // A signal during verification or the swap undoes the transaction, which puts the
            // download back; said only when it is there.
            let kept = (try? FileSystem.status(verified!, followLinks: false))?.kind == .regular
            throw UpgradeError(error.code, error.message + (kept ? "; the verified download is kept in \(Output.quoted(verified!)) for the next 'autodev update apply'"
                                                                 : "; the verified download could not be kept, and the next 'autodev update apply' downloads it again"))
        }
    }

    /// A refusal of the update, as the command line says it (with the option that overrides it).
    static func rendered(_ refusal: ChannelUpdate.Refusal, channel: UpdateChannel) -> ReleaseChannelError {
        switch refusal {
        case .notOffered(let version, let platform):
            ReleaseChannelError(.channel, "\(Output.escaped(channel.url, keepingNewlines: false)) offers no autodev \(version) for \(platform.rawValue)")
        case .requiresNewer(let version, let minimum, let current):
            ReleaseChannelError(.channel, "autodev \(version) requires updating from \(minimum) or later; this is \(current)")
        case .belowFloor(let version, let floor):
            ReleaseChannelError(.invalidArgument, "Refusing autodev \(version): it is older than \(floor), the highest version this installation has accepted (pass --allow-downgrade to install it anyway)")
        }
    }
}
