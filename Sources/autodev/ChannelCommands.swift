import Integrity
import Platform
import ReleaseChannel
import SelfUpgrade
import SourceUpgrade

/// `autodev release init | add | publish | refresh` (a TUF release repository) and
/// `autodev update configure | check` (the channel an installation follows).
enum ChannelCommands {
    // MARK: - Publishing

    static func initialize(_ arguments: ParsedArguments) throws -> Int32 {
        let repository = ReleaseRepository(directory: try required("repo", arguments, CommandTree.releaseInit))
        let threshold = try integer("threshold", arguments, CommandTree.releaseInit, range: 1...10) ?? 1
        let days = try integer("expires", arguments, CommandTree.releaseInit, range: 1...36_500) ?? 365
        try repository.create(threshold: threshold, expiry: .init(days: days), now: now())
        let root = repository.directory + "/metadata/1.root.json"
        let fingerprint = try rootFingerprint(repository)
        if arguments.has("json") {
            try Output.json(["repository": repository.directory, "trustedRoot": root, "rootSHA256": fingerprint, "keys": repository.directory + "/keys",
                             "threshold": "\(threshold)"])
        } else {
            Output.out("Created release repository \(Output.quoted(repository.directory)): root, targets, snapshot and timestamp version 1, \(threshold) key(s) each")
            Output.out("  Trusted root: \(root) (give it to 'autodev update configure --trusted-root')")
            Output.out("  Root fingerprint (sha256): \(fingerprint) (give it to the installer: get-autodev --root-sha256)")
            Output.out("  Keys: \(repository.directory)/keys (mode 0600; move the root and targets keys offline in real use)")
            Output.out("  Serve only metadata/ and targets/: keys/ and pending.json must never be published")
        }
        return ExitCode.success
    }

    static func add(_ arguments: ParsedArguments) throws -> Int32 {
        let spec = CommandTree.releaseAdd
        guard let file = arguments.positionals.first else { throw UsageError(message: "Missing expected argument '<file>'", spec: spec) }
        let repository = ReleaseRepository(directory: try required("repo", arguments, spec))
        let version = try semanticVersion("version", arguments, spec, required: true)!
        let platformName = try required("platform", arguments, spec)
        guard let platform = ReleasePlatform(rawValue: platformName) else {
            throw UsageError(message: "The value '\(platformName)' is invalid for '--platform <p>': give one of \(ReleasePlatform.allCases.map(\.rawValue).joined(separator: ", "))", spec: spec)
        }
        let minimum = try semanticVersion("min-version", arguments, spec, required: false)
        let rollout = try integer("rollout", arguments, spec, range: 0...100) ?? 100
        var notes: String? = nil
        if let path = arguments.value("notes") {
            let bytes = try FileSystem.readInputFile(path, maxBytes: InputLimit.notes, what: "release notes")
            guard let text = String(validating: bytes, as: UTF8.self) else { throw ReleaseChannelError(.invalidArgument, "The notes \(Output.quoted(path)) are not UTF-8 text") }
            notes = text.hasSuffix("\n") ? String(text.dropLast()) : text
        }
        let facts = ReleaseFacts(version: version, platform: platform, released: WallClock.iso8601(WallClock.now()),
                                 critical: arguments.has("critical"), minimumVersion: minimum, rollout: rollout, notes: notes)
        let patches = try integer("patches", arguments, spec, range: 0...100) ?? 3
        let path = try repository.add(file: file, facts: facts, patches: patches)
        if arguments.has("json") {
            try Output.json(["target": path, "version": version.description, "platform": platform.rawValue])
        } else {
            Output.out("Added \(path); run 'autodev release publish --repo \(Output.shellQuoted(repository.directory))' to sign it")
        }
        return ExitCode.success
    }

    static func stamp(_ arguments: ParsedArguments) throws -> Int32 {
        let spec = CommandTree.releaseStamp
        guard let file = arguments.positionals.first else { throw UsageError(message: "Missing expected argument '<file>'", spec: spec) }
        let version = try semanticVersion("version", arguments, spec, required: true)!
        do {
            try VersionStamp.write(version.description, into: file)
        } catch let failure as VersionStamp.Failure {
            throw ReleaseChannelError(.invalidArgument, failure.description)
        }
        if arguments.has("json") {
            try Output.json(["file": file, "version": version.description])
        } else {
            Output.out("Stamped \(Output.quoted(file)) with version \(version): it now reports \(version)")
        }
        return ExitCode.success
    }

    /// What `release normalize --json` prints.
    struct NormalizeReport: Encodable {
        let file: String
        let sha256: String
        let changed: Bool
    }

    static func normalize(_ arguments: ParsedArguments) throws -> Int32 {
        guard let file = arguments.positionals.first else { throw UsageError(message: "Missing expected argument '<file>'", spec: CommandTree.releaseNormalize) }
        let path = FileSystem.absolute(file)
        try FileSystem.checkOutputPath(path)
        let changed = try ReproducibleBinary.normalize(file: path)
        let digest = try SHA256.hash(file: path).hex
        if arguments.has("json") {
            try Output.json(NormalizeReport(file: path, sha256: digest, changed: changed))
        } else {
            Output.out((changed ? "Normalised " : "Already normalised: ") + "\(Output.quoted(path)), SHA-256 \(digest)")
        }
        return ExitCode.success
    }

    static func publish(_ arguments: ParsedArguments) throws -> Int32 {
        let repository = ReleaseRepository(directory: try required("repo", arguments, CommandTree.releasePublish))
        let days = try integer("expires", arguments, CommandTree.releasePublish, range: 1...36_500) ?? 365
        let result = try repository.publish(expiry: .init(days: days), now: now())
        if arguments.has("json") {
            try Output.json(PublishReport(targetsVersion: result.targetsVersion, snapshotVersion: result.snapshotVersion,
                                          timestampVersion: result.timestampVersion, targets: result.targetCount))
        } else if let targets = result.targetsVersion, let snapshot = result.snapshotVersion, let timestamp = result.timestampVersion {
            Output.out("Published targets version \(targets), snapshot version \(snapshot), timestamp version \(timestamp) (\(result.targetCount) target(s))")
        } else {
            Output.out("Nothing to publish: the signed targets are up to date (\(result.targetCount) target(s))")
        }
        return ExitCode.success
    }

    static func rotate(_ arguments: ParsedArguments) throws -> Int32 {
        let spec = CommandTree.releaseRotate
        let repository = ReleaseRepository(directory: try required("repo", arguments, spec))
        let role = try required("role", arguments, spec)
        guard ["root", "targets", "snapshot", "timestamp"].contains(role) else {
            throw UsageError(message: "Invalid value '\(role)' for '--role': expected root, targets, snapshot or timestamp", spec: spec)
        }
        let days = try integer("expires", arguments, spec, range: 1...36_500) ?? 365
        let version = try repository.rotate(role: role, expiry: .init(days: days), now: now())
        if arguments.has("json") {
            try Output.json(["role": role, "rootVersion": "\(version)"])
        } else {
            Output.out("Rotated the \(role) keys: metadata/\(version).root.json lists the new ones; run 'autodev release publish --repo \(Output.shellQuoted(repository.directory))' next")
        }
        return ExitCode.success
    }

    static func refresh(_ arguments: ParsedArguments) throws -> Int32 {
        let repository = ReleaseRepository(directory: try required("repo", arguments, CommandTree.releaseRefresh))
        let expiry = ReleaseRepository.Expiry()
        let start = now()
        let version = try repository.refreshTimestamp(expiry: expiry, now: start)
        let expires = WallClock.iso8601(Double(start + Int64(expiry.timestampDays) * 86_400))
        if arguments.has("json") {
            try Output.json(["timestampVersion": "\(version)", "expires": expires])
        } else {
            Output.out("Signed timestamp version \(version), valid until \(expires)")
        }
        return ExitCode.success
    }

    // MARK: - Update channel

    static func configure(_ arguments: ParsedArguments) throws -> Int32 {
        let spec = CommandTree.updateConfigure
        let url = try required("channel", arguments, spec)
        let rootPath = try required("trusted-root", arguments, spec)
        let home = HomeLocator.locate(option: arguments.value("home")).root
        let root = try FileSystem.readInputFile(rootPath, maxBytes: InputLimit.trustedRoot, what: "a trusted root")
        let channel = try UpdateChannel.configure(home: home, url: url, trustedRoot: root)
        Output.out("Following \(Output.escaped(channel.url, keepingNewlines: false)) with the trusted root from \(Output.quoted(rootPath))")
        return ExitCode.success
    }

    static func check(_ arguments: ParsedArguments) throws -> Int32 {
        let current = try semanticVersion("current-version", arguments, CommandTree.updateCheck, required: false)
            ?? SemanticVersion(autodevVersion)!
        let stall = try stallTimeout(arguments, CommandTree.updateCheck)
        let total = try totalTimeout(arguments, CommandTree.updateCheck)
        let home = HomeLocator.locate(option: arguments.value("home")).root
        var channel = try UpdateChannel.load(home: home)
        channel.stallTimeout = stall
        channel.totalTimeout = total
        let installation = try channel.installationID()
        let offers = try channel.offers(program: autodevIdentity.name)
        let platform = ReleasePlatform.current
        let offer = UpdateSelection.choose(offers, current: current, platform: platform, installationID: installation)
        // What an apply would refuse (a length past 1 TiB, a malformed hash) is refused here too.
        try offer?.validate()
        let settings = try UpdateSettings.load(homeDirectory: home)
        let chosen = offer.flatMap { isSkipped($0, settings) ? nil : $0 }
        // Remembered for 'self-upgrade status', unless the check was about another version than this one;
        // a newly offered version is told to the notification command once.
        if !arguments.has("current-version") {
            let before = channel.availableUpdate(newerThan: current)
            try channel.recordAvailable(chosen)
            if let chosen, before?.version != chosen.facts.version {
                UpdateNotifier(homeDirectory: home, program: autodevIdentity, settings: settings)
                    .send(.updateAvailable, version: chosen.facts.version.description, critical: chosen.facts.critical)
            }
        }
        if arguments.has("json") {
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
        let patch = (try? ProcessControl.executablePath()).flatMap { UpdateChannel.patch(for: chosen, base: $0) }
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

    static func apply(_ arguments: ParsedArguments) throws -> Int32 {
        let spec = CommandTree.updateApply
        let wanted = try semanticVersion("version", arguments, spec, required: false)
        let stall = try stallTimeout(arguments, spec)
        let total = try totalTimeout(arguments, spec)
        // After the swap this same command line runs in the new version, which finishes here.
        let (session, code) = try Session.begin(arguments)
        guard let session else { return code }
        let current = SemanticVersion(autodevVersion)!
        var channel = try UpdateChannel.load(home: session.home.root)
        channel.stallTimeout = stall
        channel.totalTimeout = total
        // SIGINT and SIGTERM end the refresh and the download within a second (what arrived is
        // kept for the next apply), and are honoured by the upgrade until the swap.
        Cancellation.install()
        let installation = try channel.installationID()
        let offers = try channel.offers(program: autodevIdentity.name)
        let platform = ReleasePlatform.current
        let chosen: ReleaseOffer
        if let wanted {
            guard let offer = offers.first(where: { $0.facts.version == wanted && $0.facts.platform == platform }) else {
                throw ReleaseChannelError(.channel, "\(Output.escaped(channel.url, keepingNewlines: false)) offers no autodev \(wanted) for \(platform.rawValue)")
            }
            if let minimum = offer.facts.minimumVersion, current < minimum {
                throw ReleaseChannelError(.channel, "autodev \(wanted) requires updating from \(minimum) or later; this is \(current)")
            }
            chosen = offer
        } else {
            let settings = try UpdateSettings.load(homeDirectory: session.home.root)
            let offer = UpdateSelection.choose(offers, current: current, platform: platform, installationID: installation)
            guard let offer, !isSkipped(offer, settings) else {
                Output.out(upToDate(current, channel, skipped: offer))
                return ExitCode.success
            }
            chosen = offer
        }
        let json = arguments.has("json")
        let interactive = !json && !arguments.has("yes") && !arguments.has("download-only")
            && ProcessControl.standardInputIsTerminal && ProcessControl.standardErrorIsTerminal
        let notifier = UpdateNotifier(homeDirectory: session.home.root, program: autodevIdentity)
        do {
            try install(chosen, from: channel, session: session, allowDowngrade: arguments.has("allow-downgrade"), json: json,
                        downloadOnly: arguments.has("download-only"), escapeCancels: interactive) { question in
                guard interactive else { return try session.confirm(question, arguments) }
                return try decide(chosen, current: current, home: session.home.root)
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
    static func update(_ arguments: ParsedArguments) throws -> Int32 {
        let interactive = !arguments.has("json") && ProcessControl.standardInputIsTerminal && ProcessControl.standardErrorIsTerminal
        guard interactive else { return try check(arguments) }
        return try apply(arguments)
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

    /// The offer is a version a person chose to skip (a critical release never is).
    static func isSkipped(_ offer: ReleaseOffer, _ settings: UpdateSettings) -> Bool {
        !offer.facts.critical && settings.skippedVersions.contains(offer.facts.version.description)
    }

    /// "autodev V is up to date (…)", saying so when the newest release was skipped.
    static func upToDate(_ current: SemanticVersion, _ channel: UpdateChannel, skipped: ReleaseOffer?) -> String {
        let place = "(\(Output.escaped(channel.url, keepingNewlines: false)), \(ReleasePlatform.current.rawValue))"
        guard let skipped else { return "autodev \(current) is up to date \(place)" }
        return "autodev \(current): \(skipped.facts.version) is available but skipped (config skippedVersions) \(place)"
    }

    /// Downloads `chosen` (verified against the signed metadata) and upgrades to it: the
    /// candidate must report the release's version, and the new version is exec'd.
    /// - Parameters:
    ///   - confirm: asked before anything is downloaded, with the question to put; true when a
    ///     person confirmed at a terminal (an explicit upgrade, never refused by the loop guard).
    /// - Parameters:
    ///   - downloadOnly: stop once the file is verified in staging, and print its path.
    ///   - escapeCancels: Esc at the terminal cancels the download as Ctrl-C does.
    static func install(_ chosen: ReleaseOffer, from channel: UpdateChannel, session: Session, allowDowngrade: Bool, json: Bool,
                        downloadOnly: Bool = false, escapeCancels: Bool = false, confirm: (String) throws -> Bool) throws {
        let current = SemanticVersion(autodevVersion)!
        let version = chosen.facts.version
        try chosen.validate()
        let floor = max(try downgradeFloor(channel, session: session) ?? current, current)
        if version < floor && !allowDowngrade {
            throw ReleaseChannelError(.invalidArgument, "Refusing autodev \(version): it is older than \(floor), the highest version this installation has accepted (pass --allow-downgrade to install it anyway)")
        }
        // Nothing is downloaded or swapped when a package manager owns this binary or the home cannot take it.
        // A download alone replaces nothing, so only the home's guards apply to it.
        if !downloadOnly, let executable = try? ProcessControl.executablePath() {
            try UpdateGuards.checkNotPackageManaged(executable)
        }
        // What is already in staging (the verified file, or a partial download to resume) needs no room again.
        let sha256 = chosen.hashes["sha256"]!.lowercased()
        let staging = channel.stagingDirectory
        let stagedBytes = { (name: String) in
            (try? FileSystem.statusIfPresent(staging + "/" + name, followLinks: false)).flatMap { $0 }.map { $0.kind == .regular ? $0.size : 0 } ?? 0
        }
        let alreadyStaged = stagedBytes(sha256) == chosen.length ? chosen.length : stagedBytes(sha256 + ".partial")
        let stored = (try? session.upgrader.status())?.versions.filter(\.present).count
        try UpdateGuards.checkHome(session.home.root, staging: staging, downloadLength: chosen.length, alreadyStaged: alreadyStaged,
                                   storedVersions: stored)
        var confirmed = false
        if !downloadOnly {
            confirmed = try confirm("Install autodev \(version) (\(chosen.length) bytes) from \(Output.quoted(channel.url)) in place of \(current)?")
        }
        Cancellation.install()
        Output.err("Downloading autodev \(version) (\(chosen.length) bytes) from \(Output.quoted(channel.url))")
        let path: String
        do {
            let watcher = escapeCancels ? EscapeWatcher() : nil
            defer { watcher?.stop() }
            if watcher != nil { Output.err("(Esc or Ctrl-C cancels; what arrived is kept for the next try)") }
            path = try downloadShowingProgress(channel, chosen, json: json)
        } catch let error as ReleaseChannelError where error.code == .channel {
            // Said only what is true: a retry resumes only when bytes were kept, and one that
            // cannot succeed (the published file does not match its signature) is not suggested.
            let kept = stagedBytes(sha256 + ".partial")
            let next = if error.message.contains("cannot be installed as published") {
                ""
            } else if kept > 0 {
                "; run 'autodev update apply' again to retry (the download resumes from the \(kept) bytes kept)"
            } else {
                "; run 'autodev update apply' again to retry"
            }
            throw ReleaseChannelError(error.code, error.message + "\nNothing was installed" + next)
        } catch let error as ReleaseChannelError where error.code == .cancelled {
            throw ReleaseChannelError(error.code, error.message + "\nNothing was installed")
        }
        Output.err((escapeCancels ? "  ✓ " : "") + "Verified \(chosen.shownPath): \(chosen.checkedDescription) match the signed metadata")
        if downloadOnly {
            if json {
                try Output.jsonLine(VerifiedEvent(event: "verified", version: version.description, path: path))
            } else {
                Output.out(path)
            }
            return
        }
        var options = Upgrader.UpgradeOptions()
        options.explicit = confirmed
        options.expectedVersion = version.description
        let stateDirectory = session.home.state
        options.beforeRestart = {
            try channel.recordAccepted(version)
            try AutodevState.update(in: stateDirectory) { $0.pendingTransaction = "upgrade" }
        }
        // The store must receive exactly the verified bytes: the stage step hashes what it copies
        // and refuses anything but the signed SHA-256 (a file swapped after verification).
        options.expectedID = VersionID(hex: sha256)
        Output.err("Upgrading \(session.home.root) from \(Output.quoted(path))")
        do {
            _ = try session.upgrader.upgrade(fromBinary: path, options: options)
        } catch {
            // A signal during verification or the swap undoes the transaction; the download stays.
            guard error.code == .cancelled else { throw error }
            throw UpgradeError(error.code, error.message + "; the verified download is kept in \(Output.quoted(path)) for the next 'autodev update apply'")
        }
    }

    // MARK: - Internals

    /// One progress event of `update apply --json`.
    struct DownloadEvent: Encodable {
        var event: String
        var bytes: Int
        var total: Int
        var rate: Int
        var secondsLeft: Int?
    }

    /// Why a patch was given up for the full file (`update apply --json`).
    struct NoticeEvent: Encodable {
        var event: String
        var message: String
    }

    /// The last line of `update apply --download-only --json`: the verified file.
    struct VerifiedEvent: Encodable {
        var event: String
        var version: String
        var path: String
    }

    /// Downloads `offer` showing progress: with `json`, one event a second on standard output
    /// and a final `downloaded` event; else on a terminal one line on standard error rewritten
    /// with a carriage return at most ten times a second; else (a pipe, a file) nothing.
    static func downloadShowingProgress(_ channel: UpdateChannel, _ offer: ReleaseOffer, json: Bool) throws -> String {
        let terminal = !json && ProcessControl.standardErrorIsTerminal
        var meter = DownloadMeter(interval: json ? 1 : 0.1)
        let started = MonotonicClock.now()
        let show = { (reading: DownloadMeter.Reading, event: String) in
            if json {
                try? Output.jsonLine(DownloadEvent(event: event, bytes: reading.bytes, total: reading.total, rate: DownloadMeter.whole(reading.rate),
                                                   secondsLeft: reading.secondsLeft.map { DownloadMeter.whole($0.rounded(.up)) }))
            } else if terminal {
                // Erase to the end of the line, so a shorter line leaves nothing of the longer one.
                Output.err("\r" + DownloadMeter.line(reading) + "\u{1B}[K", terminator: false)
            }
        }
        // The final rate counts up to the last bytes received, not the verification after them.
        var finished: Double?
        let base = try? ProcessControl.executablePath()
        if let base, let patch = UpdateChannel.patch(for: offer, base: base), !json {
            Output.err("Downloading a patch of \(patch.length) bytes from this version instead of the full \(offer.length) bytes")
        }
        let notice: (String) -> Void = { line in
            if json {
                _ = try? Output.jsonLine(NoticeEvent(event: "notice", message: line))
            } else {
                Output.err(line)
            }
        }
        let progress = { (bytes: Int, total: Int) in
            let now = MonotonicClock.seconds(since: started)
            finished = now
            if let reading = meter.record(bytes: bytes, total: total, now: now) { show(reading, "download") }
        }
        let staging = channel.directory + "/staging"
        let path = try base.map { try channel.download(offer, into: staging, base: $0, notice: notice, progress: progress) }
            ?? channel.download(offer, into: staging, progress: progress)
        let final = meter.reading(bytes: offer.length, total: offer.length, now: finished ?? MonotonicClock.seconds(since: started))
        if json || terminal {
            show(final, "downloaded")
            if terminal { Output.err("") }
        }
        return path
    }

    struct PublishReport: Encodable {
        var targetsVersion: Int64?
        var snapshotVersion: Int64?
        var timestampVersion: Int64?
        var targets: Int
    }

    struct CheckReport: Encodable {
        struct Release: Encodable {
            var version: String
            var released: String
            var critical: Bool
            var size: Int
            var target: String
            var notes: String?
            var minVersion: String?
            var rollout: Int
            /// What an apply would download: the patch for this binary when there is one.
            var downloadSize: Int
            var patch: String?
            init(_ offer: ReleaseOffer) {
                let patch = (try? ProcessControl.executablePath()).flatMap { UpdateChannel.patch(for: offer, base: $0) }
                downloadSize = patch?.length ?? offer.length
                self.patch = patch?.path
                version = offer.facts.version.description
                released = offer.facts.released
                critical = offer.facts.critical
                size = offer.length
                target = offer.path
                notes = offer.facts.notes
                minVersion = offer.facts.minimumVersion?.description
                rollout = offer.facts.rollout
            }
        }
        var current: String
        var platform: String
        var channel: String
        var upToDate: Bool
        var newest: Release?
        /// The newest release applies but a person chose to skip it (config skippedVersions).
        var skipped: String?
    }

    static func now() -> Int64 { Int64(WallClock.now()) }

    /// The SHA-256 (hex) of `metadata/1.root.json`: what an installer pins the channel's root to.
    static func rootFingerprint(_ repository: ReleaseRepository) throws -> String {
        let path = repository.directory + "/metadata/1.root.json"
        return SHA256.hash(data: try FileSystem.readInputFile(path, maxBytes: InputLimit.trustedRoot, what: "the trusted root")).hex
    }

    static func required(_ name: String, _ arguments: ParsedArguments, _ spec: CommandSpec) throws -> String {
        guard let value = arguments.value(name) else { throw UsageError(message: "Missing option '--\(name)'", spec: spec) }
        return value
    }

    static func integer(_ name: String, _ arguments: ParsedArguments, _ spec: CommandSpec, range: ClosedRange<Int>) throws -> Int? {
        guard let text = arguments.value(name) else { return nil }
        guard let value = Int(text), range.contains(value) else {
            let label = spec.options.first { $0.name == name }?.value?.lowercased() ?? "value"
            throw UsageError(message: "The value '\(text)' is invalid for '--\(name) <\(label)>': give an integer from \(range.lowerBound) to \(range.upperBound)", spec: spec)
        }
        return value
    }

    /// The downgrade floor: the highest version the channel file records, rebuilt from the
    /// journal when that file is missing. The journal keeps every version installed (with the
    /// version it reported and the file it came from); the ones that came from this channel's
    /// staging directory were accepted from the channel. Deleting `highest-accepted` therefore
    /// cannot lower the floor: a missing file is never "no floor" while the journal says otherwise.
    static func downgradeFloor(_ channel: UpdateChannel, session: Session) throws -> SemanticVersion? {
        let recorded = try channel.highestAccepted()
        let installed = try session.upgrader.history().compactMap { row -> SemanticVersion? in
            guard let source = row.source, cameFromChannel(source), let text = row.version else { return nil }
            return SemanticVersion(text)
        }.max()
        guard let installed else { return recorded }
        if recorded.map({ $0 < installed }) ?? true {
            try channel.recordAccepted(installed)
            Output.err("Rebuilt the downgrade floor \(Output.quoted(channel.directory + "/highest-accepted")) from the journal: \(installed) was installed from the channel")
        }
        return max(recorded ?? installed, installed)
    }

    /// True when a journal's `source` names a file verified in a channel's staging directory:
    /// `…/channel/staging/<sha256>`. Matched on that shape, never on this home's path, so a home
    /// copied elsewhere or reached through a link keeps its floor.
    static func cameFromChannel(_ source: String) -> Bool {
        let parts = source.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count >= 3, parts[parts.count - 3].hasSuffix("channel"), parts[parts.count - 2] == "staging" else { return false }
        let name = parts[parts.count - 1]
        return name.count == 64 && name.allSatisfy { "0123456789abcdef".contains($0) }
    }

    /// `--timeout SECONDS`: the total deadline of each fetch (nil: derived from its length).
    static func totalTimeout(_ arguments: ParsedArguments, _ spec: CommandSpec) throws -> Double? {
        guard let text = arguments.value("timeout") else { return nil }
        guard let seconds = Double(text), seconds.isFinite, seconds > 0, seconds <= 604_800 else {
            throw UsageError(message: "The value '\(text)' is invalid for '--timeout <seconds>': give a number of seconds above 0 and at most 604800 (a week)", spec: spec)
        }
        return seconds
    }

    static func stallTimeout(_ arguments: ParsedArguments, _ spec: CommandSpec) throws -> Double {
        guard let text = arguments.value("stall-timeout") else { return 30 }
        guard let seconds = Double(text), seconds.isFinite, seconds > 0, seconds <= 3600 else {
            throw UsageError(message: "The value '\(text)' is invalid for '--stall-timeout <seconds>': give a number of seconds above 0 and at most 3600", spec: spec)
        }
        return seconds
    }

    static func semanticVersion(_ name: String, _ arguments: ParsedArguments, _ spec: CommandSpec, required isRequired: Bool) throws -> SemanticVersion? {
        guard let text = arguments.value(name) else {
            if isRequired { throw UsageError(message: "Missing option '--\(name)'", spec: spec) }
            return nil
        }
        guard let version = SemanticVersion(text) else {
            throw UsageError(message: "The value '\(text)' is invalid for '--\(name) <v>': give a semantic version such as 1.4.0 or 2.0.0-rc.1", spec: spec)
        }
        return version
    }
}
