import Platform
import ReleaseChannel
import SelfUpgrade

/// An installation following a release channel: the whole update, decided and guarded in one
/// place, so that a command line, an agent, a background checker and any embedding daemon get
/// the same protection.
///
/// ``check(version:)`` refreshes the channel's signed metadata and decides: up to date, or the
/// release to install (the newest one the platform, the rollout bucket and the minimum version
/// allow, not skipped by a person; or an explicit version). ``install(_:options:)`` installs a
/// release with every guard, in this order; nothing is downloaded and nothing but the floor's
/// record (rebuilt from the journal when it is missing) is written before they pass:
///
/// 1. the release is one for this program and platform, from a running version at least its
///    minimum, and its own metadata (length, hashes) is sound;
/// 2. the downgrade floor: a release older than the highest version this installation ever
///    accepted from the channel (rebuilt from the journal when its file is missing) is refused
///    (``Refusal/belowFloor(version:floor:)``) unless ``InstallOptions/allowDowngrade``;
/// 3. a binary a package manager owns is refused (it is upgraded through that package manager);
/// 4. the home must be writable and have room for the download and the new version;
/// 5. the host confirms (``InstallOptions/confirm``);
/// 6. the download: a signed patch from the running binary when the channel has one, else the
///    full file; capped, resumed, verified against the signed length and hashes;
/// 7. the upgrade transaction, whose candidate must report the release's version and have its
///    signed SHA-256 (the wrong software is refused however well it was signed);
/// 8. the release's version is recorded as accepted (the new floor) before the restart, or after
///    the commit without one.
///
/// Errors: ``Refusal`` for a decision against the release, `ReleaseChannelError` for the
/// channel, the guards and the download, `UpgradeError` for the transaction.
public struct ChannelUpdate {
    /// The channel followed.
    public var channel: UpdateChannel
    /// The installation's upgrader.
    public let upgrader: Upgrader
    /// The version running now.
    public var current: SemanticVersion
    /// Versions a person chose not to install; one is not offered unless it is critical.
    public var skippedVersions: Set<String>
    /// The binary running now: the base a patch applies to, and the file the package-manager
    /// guard asks about (nil: no patch, no package-manager check).
    public var executable: String?
    /// How the package-manager guard sees the system.
    public var probe: UpdateGuards.Probe

    /// - Parameters:
    ///   - channel: the channel (``UpdateChannel/load(home:)``).
    ///   - upgrader: the installation's upgrader.
    ///   - current: the version running now (the program's own version by default).
    ///   - skippedVersions: versions a person chose not to install.
    ///   - executable: the running binary (this process's by default).
    ///   - probe: how the package-manager guard sees the system.
    public init(channel: UpdateChannel, upgrader: Upgrader, current: SemanticVersion? = nil, skippedVersions: Set<String> = [],
                executable: String? = ChannelUpdate.runningExecutable, probe: UpdateGuards.Probe = .system) throws(ReleaseChannelError) {
        guard ReleaseRepository.isProgramName(upgrader.program.name) else {
            throw ReleaseChannelError(.invalidArgument, "The program name \"\(upgrader.program.name)\" cannot name releases: a channel lists 1 to 64 ASCII letters, digits, '-', '_' or '.', not starting with '.'")
        }
        guard let version = current ?? SemanticVersion(upgrader.program.version) else {
            throw ReleaseChannelError(.invalidArgument, "\(upgrader.program.name)'s version \"\(upgrader.program.version)\" is not a semantic version: pass the running version")
        }
        self.channel = channel
        self.upgrader = upgrader
        self.current = version
        self.skippedVersions = skippedVersions
        self.executable = executable
        self.probe = probe
    }

    /// The binary this process runs (nil when /proc cannot say).
    public static var runningExecutable: String? { try? ProcessControl.executablePath() }

    // MARK: - Deciding

    /// A decision against a release; nothing was downloaded or changed.
    public enum Refusal: Error, Sendable, Equatable, CustomStringConvertible {
        /// The channel offers no such version for this platform.
        case notOffered(version: SemanticVersion, platform: ReleasePlatform)
        /// The release can only be installed from `minimum` or later.
        case requiresNewer(version: SemanticVersion, minimum: SemanticVersion, current: SemanticVersion)
        /// The release is older than the highest version this installation accepted.
        case belowFloor(version: SemanticVersion, floor: SemanticVersion)

        public var description: String {
            switch self {
            case .notOffered(let version, let platform):
                "The channel offers no version \(version) for \(platform.rawValue)"
            case .requiresNewer(let version, let minimum, let current):
                "Version \(version) requires updating from \(minimum) or later; this is \(current)"
            case .belowFloor(let version, let floor):
                "Refusing version \(version): it is older than \(floor), the highest version this installation has accepted"
            }
        }
    }

    /// What an update would do now.
    public enum Decision: Sendable {
        /// Nothing to install; `skipped` is the newest release when a person chose to skip it.
        case upToDate(skipped: ReleaseOffer?)
        /// This release is to be installed.
        case available(ReleaseOffer)
    }

    /// Refreshes the channel and decides what to install. Nothing changes in the home but the
    /// channel's trusted metadata (refreshed) and, the first time, its installation id.
    ///
    /// The release's own metadata (its length and hashes) is judged by ``install(_:options:)``,
    /// not here: a release a person skipped is not judged at all. `ReleaseOffer.validate()`
    /// judges it in advance.
    /// - Parameter wanted: a version asked for by name (nil: the newest that applies). A named
    ///   version is offered even when skipped, but still only for this platform and from its
    ///   minimum version on.
    /// - Throws: ``Refusal`` for a named version the channel does not offer or that needs a newer
    ///   running version; `ReleaseChannelError` when the channel cannot be refreshed or its
    ///   installation id cannot be read.
    public func check(version wanted: SemanticVersion? = nil) throws -> Decision {
        // The rollout bucket's id first: a damaged one is refused before anything is fetched.
        let installation = try channel.installationID()
        let offers = try channel.offers(program: upgrader.program.name)
        let platform = ReleasePlatform.current
        if let wanted {
            guard let offer = offers.first(where: { $0.facts.version == wanted && $0.facts.platform == platform }) else {
                throw Refusal.notOffered(version: wanted, platform: platform)
            }
            if let minimum = offer.facts.minimumVersion, current < minimum {
                throw Refusal.requiresNewer(version: wanted, minimum: minimum, current: current)
            }
            return .available(offer)
        }
        let offer = UpdateSelection.choose(offers, current: current, platform: platform, installationID: installation)
        guard let offer, !isSkipped(offer) else { return .upToDate(skipped: offer) }
        return .available(offer)
    }

    /// The offer is one a person chose to skip (a critical release never is).
    public func isSkipped(_ offer: ReleaseOffer) -> Bool {
        !offer.facts.critical && skippedVersions.contains(offer.facts.version.description)
    }

    /// The bytes of `offer`'s download kept in staging from an interrupted try (a regular
    /// `<sha256>.partial`; 0 when there is none): what the next install resumes from.
    public func keptBytes(of offer: ReleaseOffer) -> Int {
        stagedSize(offer.hashes["sha256"].map { $0.lowercased() + ".partial" })
    }

    /// The size of `offer`'s verified download in staging (`<sha256>`), 0 when there is none.
    func stagedBytes(of offer: ReleaseOffer) -> Int {
        stagedSize(offer.hashes["sha256"]?.lowercased())
    }

    private func stagedSize(_ name: String?) -> Int {
        guard let name, let status = try? FileSystem.statusIfPresent(channel.stagingDirectory + "/" + name, followLinks: false) else { return 0 }
        return status.kind == .regular ? status.size : 0
    }

    /// The patch an install of `offer` would download instead of the full file (nil: the full file).
    public func patch(for offer: ReleaseOffer) -> PatchOffer? {
        executable.flatMap { UpdateChannel.patch(for: offer, base: $0) }
    }

    /// The highest version this installation accepted from the channel: the channel's record,
    /// or the journal's when that is higher or the record is missing (the journal keeps every
    /// version installed and the file it came from), so deleting the record never lowers it.
    /// - Parameter rebuilt: called when the record was rebuilt from the journal.
    public func downgradeFloor(rebuilt: (SemanticVersion) -> Void = { _ in }) throws -> SemanticVersion? {
        let recorded = try channel.highestAccepted()
        let installed = try upgrader.history().compactMap { row -> SemanticVersion? in
            guard let source = row.source, Self.cameFromChannel(source), let text = row.version else { return nil }
            return SemanticVersion(text)
        }.max()
        guard let installed else { return recorded }
        if recorded.map({ $0 < installed }) ?? true {
            try channel.recordAccepted(installed)
            rebuilt(installed)
        }
        return max(recorded ?? installed, installed)
    }

    /// True when a journal's `source` names a file verified in a channel's staging directory:
    /// `…/channel/staging/<sha256>`. Matched on that shape, never on this home's path, so a home
    /// copied elsewhere or reached through a link keeps its floor.
    public static func cameFromChannel(_ source: String) -> Bool {
        let parts = source.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count >= 3, parts[parts.count - 3].hasSuffix("channel"), parts[parts.count - 2] == "staging" else { return false }
        let name = parts[parts.count - 1]
        return name.count == 64 && name.allSatisfy { "0123456789abcdef".contains($0) }
    }

    // MARK: - Installing

    /// What ``install(_:options:)`` reports as it goes, in this order.
    public enum Event {
        /// The downgrade floor's record was missing or lower than the journal says, and was rebuilt.
        case floorRebuilt(SemanticVersion, file: String)
        /// The guards passed and the host confirmed: the download starts.
        case downloading(ReleaseOffer)
        /// A patch from the running binary is downloaded instead of the full file.
        case patch(PatchOffer)
        /// A line worth telling: why a patch was given up for the full file, or why the floor's
        /// record could not be put back or raised (the journal still holds what was installed).
        case notice(String)
        /// Bytes received so far of `total` (the patch's length when a patch is downloaded).
        case progress(bytes: Int, total: Int)
        /// The download arrived and matches the signed metadata.
        case verified(path: String)
        /// The upgrade transaction starts from the verified file.
        case upgrading(path: String)
    }

    /// How to install.
    public struct InstallOptions {
        /// Install a release below the downgrade floor.
        public var allowDowngrade = false
        /// Stop once the file is verified in staging (no package-manager check, no upgrade).
        public var downloadOnly = false
        /// Exec the new version after the swap (it confirms itself); without it the transaction
        /// commits after the swap and the new version runs from the next start.
        public var restart = true
        /// Asked once every guard has passed, before anything is downloaded: true when a person
        /// confirmed (an explicit upgrade, never refused by the restart-loop guard), false for the
        /// program's own decision; throw to stop there. Not asked with ``downloadOnly``.
        public var confirm: (ReleaseOffer) throws -> Bool = { _ in false }
        /// Called after the acceptance is recorded and just before the exec (save state here).
        public var beforeRestart: @Sendable () throws -> Void = {}
        /// Progress and decisions, as they happen.
        public var events: (Event) -> Void = { _ in }
        /// Listening sockets and environment the new version inherits (`Upgrader.UpgradeOptions.handoff`).
        public var handoff = RestartHandoff()
        /// Fork a watchdog that brings this version back if the new one does not confirm in time
        /// (`Upgrader.UpgradeOptions.watchdog`; nil: on when `handoff` passes descriptors).
        public var watchdog: Bool? = nil
        public init() {}
    }

    /// What an install that returned did.
    public enum Installed: Sendable {
        /// ``InstallOptions/downloadOnly``: the verified file in staging.
        case downloaded(path: String)
        /// The upgrade committed without a restart (``InstallOptions/restart`` off).
        case upgraded(Upgrader.Outcome)
    }

    /// Installs `offer` with every guard (see the type's documentation). With a restart this
    /// returns only by throwing: the new version runs in this process and its
    /// `Upgrader.start` confirms the transaction.
    /// - Throws: ``Refusal/belowFloor(version:floor:)``; `ReleaseChannelError` for the release's
    ///   metadata, the guards and the download (code `channel`, or `cancelled` for a signal: what
    ///   arrived is kept for the next try); `UpgradeError` for the transaction (everything it did
    ///   is undone), or what `confirm` throws.
    public func install(_ offer: ReleaseOffer, options: InstallOptions = InstallOptions()) throws -> Installed {
        let version = offer.facts.version
        // An offer made by hand, or by a check of another installation, is held to what a check
        // of this one allows.
        guard offer.path.hasPrefix(upgrader.program.name + "/"), offer.facts.platform == .current else {
            throw Refusal.notOffered(version: version, platform: .current)
        }
        if let minimum = offer.facts.minimumVersion, current < minimum {
            throw Refusal.requiresNewer(version: version, minimum: minimum, current: current)
        }
        try offer.validate()
        let floor = max(try downgradeFloor { options.events(.floorRebuilt($0, file: channel.directory + "/highest-accepted")) } ?? current, current)
        if version < floor && !options.allowDowngrade {
            throw Refusal.belowFloor(version: version, floor: floor)
        }
        // A download alone replaces nothing, so only the home's guards apply to it.
        if !options.downloadOnly, let executable {
            try UpdateGuards.checkNotPackageManaged(executable, probe: probe)
        }
        // What is already in staging (the verified file, or a partial download to resume) needs no room again.
        let sha256 = offer.hashes["sha256"]!.lowercased()
        let staging = channel.stagingDirectory
        let alreadyStaged = stagedBytes(of: offer) == offer.length ? offer.length : keptBytes(of: offer)
        let stored = (try? upgrader.status())?.versions.filter(\.present).count
        try UpdateGuards.checkHome(upgrader.homeDirectory, staging: staging, downloadLength: offer.length, alreadyStaged: alreadyStaged,
                                   storedVersions: stored)
        var confirmed = false
        if !options.downloadOnly { confirmed = try options.confirm(offer) }

        options.events(.downloading(offer))
        let progress = { (bytes: Int, total: Int) in options.events(.progress(bytes: bytes, total: total)) }
        if let executable, let patch = UpdateChannel.patch(for: offer, base: executable) { options.events(.patch(patch)) }
        let download = try channel.verifiedDownload(offer, into: staging, base: executable, notice: { options.events(.notice($0)) }, progress: progress)
        defer { download.close() }
        let path = download.path
        options.events(.verified(path: path))
        if options.downloadOnly { return .downloaded(path: path) }

        var upgrade = Upgrader.UpgradeOptions()
        upgrade.explicit = confirmed
        upgrade.restart = options.restart
        upgrade.expectedVersion = version.description
        // The store must receive exactly the verified bytes: the download hashed them as it wrote
        // them into a directory of this user's, under a write lease taken before the first byte,
        // and the store moves that file in as it is (no second copy); while the lease is unbroken
        // (nothing else opened the file), it is not hashed again. Otherwise the store hashes what
        // it moved, or copies and hashes it, and refuses anything but the signed SHA-256.
        let verified = VersionID(hex: sha256)!
        upgrade.expectedID = verified
        upgrade.handoff = options.handoff
        upgrade.watchdog = options.watchdog
        // The acceptance is recorded before the exec (the new version may fail to start, and the
        // floor must hold then too) and taken back when the upgrade fails after it: a version
        // that never ran raises no floor.
        // The previous record is read there too, under the home's lock, so that what is put back
        // is what was there just before this install raised it.
        let followed = channel
        let beforeRestart = options.beforeRestart
        let recorded = Recorded()
        upgrade.beforeRestart = {
            recorded.previous = try followed.highestAccepted()
            try followed.recordAccepted(version)
            recorded.happened = true
            try beforeRestart()
        }
        options.events(.upgrading(path: path))
        let outcome: Upgrader.Outcome
        do {
            outcome = try upgrader.upgrade(fromVerifiedBinary: path, sha256: verified, lease: download.lease, options: upgrade)
        } catch {
            if recorded.happened {
                do {
                    try channel.withdrawAccepted(version, restoring: recorded.previous)
                } catch {
                    options.events(.notice("The downgrade floor stays at \(version), which did not start: \(error)"))
                }
            }
            throw error
        }
        // Committed without a restart: the record follows; if it cannot be written the journal,
        // which holds the install, rebuilds it at the next install.
        if !options.restart && !outcome.dryRun {
            do {
                try channel.recordAccepted(version)
            } catch {
                options.events(.notice("Installed \(version), but the downgrade floor was not raised: \(error)"))
            }
        }
        return .upgraded(outcome)
    }

    /// Whether `beforeRestart` recorded the acceptance. Set and read on the calling thread
    /// (the upgrade runs `beforeRestart` synchronously), hence unchecked.
    private final class Recorded: @unchecked Sendable {
        var happened = false
        var previous: SemanticVersion?
    }
}

extension BackgroundChecker {
    /// A checker that follows `update`'s channel: each check that falls due is
    /// ``ChannelUpdate/check(version:)`` (the newest release that applies and is not skipped,
    /// recorded as available for status reports), and an offer `policy` allows is installed
    /// with ``ChannelUpdate/install(_:options:)`` and every guard, at the first tick at which
    /// `isIdle` says so. With `options.restart` (the default) a successful install does not
    /// return: the new version runs in this process.
    /// - Parameters:
    ///   - update: the installation and its channel.
    ///   - timing: interval, jitter and the longest backoff.
    ///   - policy: which offers are installed without asking.
    ///   - start: the first check is due at this time (the clock the host passes to `tick`).
    ///   - options: how offers are installed (events, the state to save before the restart).
    ///   - isIdle: whether the host can be upgraded now.
    ///   - notify: called once per newly offered version, and once per problem `integrity` finds.
    ///   - integrity: a bounded integrity check run at every tick (nil: none).
    public init(following update: ChannelUpdate, timing: Timing = Timing(), policy: Policy, start: Double,
                options: ChannelUpdate.InstallOptions = ChannelUpdate.InstallOptions(),
                isIdle: @escaping () -> Bool, notify: @escaping (Notice) -> Void, integrity: ((Double) -> [String])? = nil) {
        self.init(timing: timing, policy: policy, start: start,
                  check: {
                      let offer: ReleaseOffer? = if case .available(let offer) = try update.check() { offer } else { nil }
                      try update.channel.recordAvailable(offer)
                      return offer
                  },
                  isIdle: isIdle, notify: notify,
                  apply: { offer in _ = try update.install(offer, options: options) },
                  integrity: integrity)
    }
}
