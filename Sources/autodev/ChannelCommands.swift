import Integrity
import Platform
import ReleaseChannel
import SelfUpgrade
import SourceUpgrade

/// `autodev release init | add | publish | refresh` (a TUF release repository); the `update`
/// commands are in UpdateCommands.swift, and the helpers both use are here.
enum ChannelCommands {
    // MARK: - Publishing

    static func initialize(_ arguments: ReleaseInitCommand) throws -> Int32 {
        let repository = ReleaseRepository(directory: try required(arguments.$repo, ReleaseInitCommand.spec))
        let threshold = try integer(arguments.$threshold, ReleaseInitCommand.spec, range: 1...10) ?? 1
        let days = try integer(arguments.$expires, ReleaseInitCommand.spec, range: 1...36_500) ?? 365
        try repository.create(threshold: threshold, expiry: .init(days: days), now: now())
        let root = repository.directory + "/metadata/1.root.json"
        let fingerprint = try rootFingerprint(repository)
        if arguments.json {
            try Output.json(["repository": repository.directory, "trustedRoot": root, "rootSHA256": fingerprint, "keys": repository.directory + "/keys",
                             "threshold": "\(threshold)"])
        } else {
            Output.out("Created release repository \(Output.quoted(repository.directory)): root, targets, snapshot and timestamp version 1, \(threshold) key(s) each")
            Output.out("  Trusted root: \(Output.escaped(root, keepingNewlines: false)) (give it to 'autodev update configure --trusted-root')")
            Output.out("  Root fingerprint (sha256): \(fingerprint) (give it to the installer: get-autodev --root-sha256)")
            Output.out("  Keys: \(Output.escaped(repository.directory + "/keys", keepingNewlines: false)) (mode 0600; move the root and targets keys offline in real use)")
            Output.out("  Serve only metadata/ and targets/: keys/ and pending.json must never be published")
        }
        return ExitCode.success
    }

    static func add(_ arguments: ReleaseAddCommand) throws -> Int32 {
        let spec = ReleaseAddCommand.spec
        guard let file = arguments.file else { throw UsageError(message: "Missing expected argument '<file>'", spec: spec) }
        let program = arguments.program ?? "autodev"
        guard ReleaseRepository.isProgramName(program) else {
            throw UsageError(message: "The value '\(Output.escaped(program, keepingNewlines: false))' is invalid for '--program <name>': give 1 to 64 ASCII letters, digits, '-', '_' or '.', not starting with '.'", spec: spec)
        }
        let repository = ReleaseRepository(directory: try required(arguments.$repo, spec), program: program)
        let version = try semanticVersion(arguments.$version, spec, required: true)!
        let platformName = try required(arguments.$platform, spec)
        guard let platform = ReleasePlatform(rawValue: platformName) else {
            throw UsageError(message: "The value '\(platformName)' is invalid for '--platform <p>': give one of \(ReleasePlatform.allCases.map(\.rawValue).joined(separator: ", "))", spec: spec)
        }
        let minimum = try semanticVersion(arguments.$minVersion, spec, required: false)
        let rollout = try integer(arguments.$rollout, spec, range: 0...100) ?? 100
        var notes: String? = nil
        if let path = arguments.notes {
            let bytes = try FileSystem.readInputFile(path, maxBytes: InputLimit.notes, what: "release notes")
            guard let text = String(validating: bytes, as: UTF8.self) else { throw ReleaseChannelError(.invalidArgument, "The notes \(Output.quoted(path)) are not UTF-8 text") }
            notes = text.hasSuffix("\n") ? String(text.dropLast()) : text
        }
        let facts = ReleaseFacts(version: version, platform: platform, released: WallClock.iso8601(WallClock.now()),
                                 critical: arguments.critical, minimumVersion: minimum, rollout: rollout, notes: notes)
        let patches = try integer(arguments.$patches, spec, range: 0...100) ?? 3
        let path = try repository.add(file: file, facts: facts, patches: patches)
        if arguments.json {
            try Output.json(["target": path, "version": version.description, "platform": platform.rawValue])
        } else {
            Output.out("Added \(path); run 'autodev release publish --repo \(Output.shellQuoted(repository.directory))' to sign it")
        }
        return ExitCode.success
    }

    static func stamp(_ arguments: ReleaseStampCommand) throws -> Int32 {
        let spec = ReleaseStampCommand.spec
        guard let file = arguments.file else { throw UsageError(message: "Missing expected argument '<file>'", spec: spec) }
        let version = try semanticVersion(arguments.$version, spec, required: true)!
        do {
            try VersionStamp.write(version.description, into: file)
        } catch let failure as VersionStamp.Failure {
            throw ReleaseChannelError(.invalidArgument, failure.description)
        }
        if arguments.json {
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

    static func normalize(_ arguments: ReleaseNormalizeCommand) throws -> Int32 {
        guard let file = arguments.file else { throw UsageError(message: "Missing expected argument '<file>'", spec: ReleaseNormalizeCommand.spec) }
        let path = FileSystem.absolute(file)
        try FileSystem.checkOutputPath(path)
        let changed = try ReproducibleBinary.normalize(file: path)
        let digest = try SHA256.hash(file: path).hex
        if arguments.json {
            try Output.json(NormalizeReport(file: path, sha256: digest, changed: changed))
        } else {
            Output.out((changed ? "Normalised " : "Already normalised: ") + "\(Output.quoted(path)), SHA-256 \(digest)")
        }
        return ExitCode.success
    }

    static func publish(_ arguments: ReleasePublishCommand) throws -> Int32 {
        let repository = ReleaseRepository(directory: try required(arguments.$repo, ReleasePublishCommand.spec))
        let days = try integer(arguments.$expires, ReleasePublishCommand.spec, range: 1...36_500) ?? 365
        let result = try repository.publish(expiry: .init(days: days), now: now())
        if arguments.json {
            try Output.json(PublishReport(targetsVersion: result.targetsVersion, snapshotVersion: result.snapshotVersion,
                                          timestampVersion: result.timestampVersion, targets: result.targetCount))
        } else if let targets = result.targetsVersion, let snapshot = result.snapshotVersion, let timestamp = result.timestampVersion {
            Output.out("Published targets version \(targets), snapshot version \(snapshot), timestamp version \(timestamp) (\(result.targetCount) target(s))")
        } else {
            Output.out("Nothing to publish: the signed targets are up to date (\(result.targetCount) target(s))")
        }
        return ExitCode.success
    }

    static func rotate(_ arguments: ReleaseRotateCommand) throws -> Int32 {
        let spec = ReleaseRotateCommand.spec
        let repository = ReleaseRepository(directory: try required(arguments.$repo, spec))
        let role = try required(arguments.$role, spec)
        guard ["root", "targets", "snapshot", "timestamp"].contains(role) else {
            throw UsageError(message: "Invalid value '\(role)' for '--role': expected root, targets, snapshot or timestamp", spec: spec)
        }
        let days = try integer(arguments.$expires, spec, range: 1...36_500) ?? 365
        let version = try repository.rotate(role: role, expiry: .init(days: days), now: now())
        if arguments.json {
            try Output.json(["role": role, "rootVersion": "\(version)"])
        } else {
            Output.out("Rotated the \(role) keys: metadata/\(version).root.json lists the new ones; run 'autodev release publish --repo \(Output.shellQuoted(repository.directory))' next")
        }
        return ExitCode.success
    }

    static func refresh(_ arguments: ReleaseRefreshCommand) throws -> Int32 {
        let repository = ReleaseRepository(directory: try required(arguments.$repo, ReleaseRefreshCommand.spec))
        let expiry = ReleaseRepository.Expiry()
        let start = now()
        let version = try repository.refreshTimestamp(expiry: expiry, now: start)
        let expires = WallClock.iso8601(Double(start + Int64(expiry.timestampDays) * 86_400))
        if arguments.json {
            try Output.json(["timestampVersion": "\(version)", "expires": expires])
        } else {
            Output.out("Signed timestamp version \(version), valid until \(expires)")
        }
        return ExitCode.success
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

    static func required(_ given: GivenValue, _ spec: CommandSpec) throws -> String {
        guard let value = given.text else { throw UsageError(message: "Missing option '--\(given.option.name)'", spec: spec) }
        return value
    }

    static func integer(_ given: GivenValue, _ spec: CommandSpec, range: ClosedRange<Int>) throws -> Int? {
        guard let text = given.text else { return nil }
        guard let value = Int(text), range.contains(value) else {
            throw UsageError(message: "The value '\(text)' is invalid for '\(given.label)': give an integer from \(range.lowerBound) to \(range.upperBound)", spec: spec)
        }
        return value
    }

    /// `--timeout SECONDS`: the total deadline of each fetch (nil: derived from its length).
    static func totalTimeout(_ given: GivenValue, _ spec: CommandSpec) throws -> Double? {
        guard let text = given.text else { return nil }
        guard let seconds = Double(text), seconds.isFinite, seconds > 0, seconds <= 604_800 else {
            throw UsageError(message: "The value '\(text)' is invalid for '\(given.label)': give a number of seconds above 0 and at most 604800 (a week)", spec: spec)
        }
        return seconds
    }

    static func stallTimeout(_ given: GivenValue, _ spec: CommandSpec) throws -> Double {
        guard let text = given.text else { return 30 }
        guard let seconds = Double(text), seconds.isFinite, seconds > 0, seconds <= 3600 else {
            throw UsageError(message: "The value '\(text)' is invalid for '\(given.label)': give a number of seconds above 0 and at most 3600", spec: spec)
        }
        return seconds
    }

    static func semanticVersion(_ given: GivenValue, _ spec: CommandSpec, required isRequired: Bool) throws -> SemanticVersion? {
        guard let text = given.text else {
            if isRequired { throw UsageError(message: "Missing option '--\(given.option.name)'", spec: spec) }
            return nil
        }
        guard let version = SemanticVersion(text) else {
            throw UsageError(message: "The value '\(text)' is invalid for '\(given.label)': give a semantic version such as 1.4.0 or 2.0.0-rc.1", spec: spec)
        }
        return version
    }
}
