import FoundationEssentials
import Integrity
import Platform
import Synchronization
import Storage

/// Who the program is: what its verification mode must report.
public struct ProgramIdentity: Sendable, Equatable {
    /// The program's name, also its file name in the store ("autodev").
    public var name: String
    /// Its version string ("0.1.0").
    public var version: String
    /// The upgrade protocol it speaks; a candidate must report the same.
    public var protocolVersion: Int
    /// The arguments that run its verification mode and print a ``SelfCheckReport`` as JSON.
    public var selfCheckArguments: [String]
    /// The arguments the verifier restarts it with when it rehearses the restart protocol: a run
    /// that calls ``Upgrader/start(handoff:)`` (which confirms the rehearsed transaction) and exits 0.
    /// The home is given in `<environmentPrefix>HOME`.
    public var restartProbeArguments: [String]
    /// The prefix of every environment variable the library reads or sets for this program:
    /// `<prefix>TX`, `<prefix>LOCK_FD`, `<prefix>UPGRADED_FROM`, `<prefix>RESTARTS` across a
    /// restart, `<prefix>HOME` and `<prefix>SANDBOX` in verification, and `<prefix>FAILPOINT` in
    /// crash tests (read only by builds compiled with `AUTODEV_TEST_HOOKS`: debug builds and the
    /// test suite's own release build; a shipped release ignores it). By default the name in capitals with `_` for anything not a letter or digit,
    /// then `_` ("AUTODEV_" for "autodev").
    public var environmentPrefix: String

    /// The version a release pipeline stamped into the running binary after the build
    /// (`autodev release stamp`); nil when it was never stamped. A program reports it in place of
    /// its compiled-in version: `ProgramIdentity(name: "tool", version: ProgramIdentity.stampedVersion ?? "1.0.0", ...)`.
    public static var stampedVersion: String? { VersionStamp.current }

    public init(name: String, version: String, protocolVersion: Int, selfCheckArguments: [String] = ["self-check", "--json"],
                restartProbeArguments: [String] = ["self-upgrade", "status", "--json"], environmentPrefix: String? = nil) {
        self.name = name
        self.version = version
        self.protocolVersion = protocolVersion
        self.selfCheckArguments = selfCheckArguments
        self.restartProbeArguments = restartProbeArguments
        self.environmentPrefix = environmentPrefix ?? String(name.uppercased().unicodeScalars.map {
            ("A"..."Z").contains($0) || ("0"..."9").contains($0) ? Character($0) : "_"
        }) + "_"
    }

    /// The environment variables of this program.
    public var markers: Markers { Markers(prefix: environmentPrefix) }
}

/// Settings of an installation, kept in `<home>/config.json`.
public struct UpgradeConfiguration: Codable, Sendable, Equatable {
    /// How many versions the store keeps (never pruned: current, previous, in use by a transaction).
    public var historyLimit = 5
    /// Wall-clock limit of a verification run, in seconds.
    public var verifyTimeoutSeconds = 30.0
    /// CPU seconds a verification run may use.
    public var verifyCPUSeconds: UInt64 = 60
    /// Address space a verification run may map, in bytes.
    public var verifyMemoryBytes: UInt64 = 4 << 30
    /// Largest file a verification run may write, in bytes.
    public var verifyFileSizeBytes: UInt64 = 256 << 20
    /// Starts of an unconfirmed new version before it is rolled back.
    public var maxConfirmAttempts = 3
    /// Restarts allowed within ``restartWindowSeconds`` before the loop guard refuses another.
    public var maxRestarts = 5
    public var restartWindowSeconds = 60.0
    /// Seconds an upgraded version has after its `exec` to confirm itself before the watchdog
    /// (``Upgrader/UpgradeOptions/watchdog``) kills it and brings the old version back.
    public var confirmDeadlineSeconds = 10.0
    /// Records the active journal may hold before it is archived and restarted from a
    /// checkpoint, after a commit (at least 4): reading it then costs the same at any history.
    public var journalCheckpointRecords = 64

    public init() {}

    /// The largest `config.json` read.
    package static let largestFileBytes = 1 << 20

    /// Reads `<home>/config.json`, or the defaults when it is absent.
    package static func load(from home: Home) throws -> UpgradeConfiguration {
        guard let bytes = try FileSystem.readOwnFile(home.configuration, maxBytes: largestFileBytes + 1) else { return UpgradeConfiguration() }
        guard bytes.count <= largestFileBytes else {
            throw UpgradeError.invalidConfiguration(path: home.configuration, reason: "it is larger than \(largestFileBytes) bytes")
        }
        if let configuration = UpgradeConfiguration(parsing: bytes) { return configuration }
        do {
            return try JSONDecoder().decode(UpgradeConfiguration.self, from: Data(bytes))
        } catch let error as DecodingError {
            throw UpgradeError.invalidConfiguration(path: home.configuration, reason: Self.explain(error))
        } catch {
            throw UpgradeError.invalidConfiguration(path: home.configuration, reason: "\(error)")
        }
    }

    /// A decoding error in words: the field and what is wrong with it.
    /// `Settings` as `<homeDirectory>/config.json` holds them; nil when there is no file.
    /// - Throws: ``UpgradeError`` naming the key and the rule when a value is refused, or the
    ///   file is larger than ``largestFileBytes``.
    static func decodeSettings<Settings: Decodable>(homeDirectory: String) throws(UpgradeError) -> Settings? {
        let path = homeDirectory + "/config.json"
        return try UpgradeError.wrapping {
            guard let bytes = try FileSystem.readOwnFile(path, maxBytes: largestFileBytes + 1) else { return nil }
            guard bytes.count <= largestFileBytes else {
                throw UpgradeError.invalidConfiguration(path: path, reason: "it is larger than \(largestFileBytes) bytes")
            }
            do {
                return try JSONDecoder().decode(Settings.self, from: Data(bytes))
            } catch let error as DecodingError {
                throw UpgradeError.invalidConfiguration(path: path, reason: explain(error))
            }
        }
    }

    static func explain(_ error: DecodingError) -> String {
        func field(_ path: [any CodingKey]) -> String {
            path.isEmpty ? "the document" : "'" + path.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".") + "'"
        }
        switch error {
        case .typeMismatch(let type, let context):
            let expected = type == String.self ? "a string" : type == Bool.self ? "true or false"
                : type == Int.self ? "a whole number" : type == UInt64.self ? "a whole number, not negative"
                : "\(type)".hasPrefix("Dictionary") ? "a JSON object" : "\(type)".hasPrefix("Array") ? "a JSON array" : "a number (\(type))"
            return "\(field(context.codingPath)) must be \(expected)"
        case .valueNotFound(_, let context):
            return "\(field(context.codingPath)) must not be null"
        case .keyNotFound(let key, let context):
            return "\(field(context.codingPath + [key])) is missing"
        case .dataCorrupted(let context):
            if context.codingPath.isEmpty { return "it is not valid JSON, or a number in it is out of range" }
            return "\(field(context.codingPath)) \(context.debugDescription)"
        @unknown default:
            return "\(error)"
        }
    }

    /// Writes `<home>/config.json` atomically.
    package func save(to home: Home) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
        try FileSystem.writeAtomically(home.configuration, Array(try encoder.encode(self)) + [10])
    }

    private enum CodingKeys: String, CodingKey {
        case historyLimit, verifyTimeoutSeconds, verifyCPUSeconds, verifyMemoryBytes, verifyFileSizeBytes, maxConfirmAttempts,
             maxRestarts, restartWindowSeconds, confirmDeadlineSeconds, journalCheckpointRecords
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let defaults = UpgradeConfiguration()
        historyLimit = try container.decodeIfPresent(Int.self, forKey: .historyLimit) ?? defaults.historyLimit
        verifyTimeoutSeconds = try container.decodeIfPresent(Double.self, forKey: .verifyTimeoutSeconds) ?? defaults.verifyTimeoutSeconds
        verifyCPUSeconds = try container.decodeIfPresent(UInt64.self, forKey: .verifyCPUSeconds) ?? defaults.verifyCPUSeconds
        verifyMemoryBytes = try container.decodeIfPresent(UInt64.self, forKey: .verifyMemoryBytes) ?? defaults.verifyMemoryBytes
        verifyFileSizeBytes = try container.decodeIfPresent(UInt64.self, forKey: .verifyFileSizeBytes) ?? defaults.verifyFileSizeBytes
        maxConfirmAttempts = try container.decodeIfPresent(Int.self, forKey: .maxConfirmAttempts) ?? defaults.maxConfirmAttempts
        maxRestarts = try container.decodeIfPresent(Int.self, forKey: .maxRestarts) ?? defaults.maxRestarts
        restartWindowSeconds = try container.decodeIfPresent(Double.self, forKey: .restartWindowSeconds) ?? defaults.restartWindowSeconds
        confirmDeadlineSeconds = try container.decodeIfPresent(Double.self, forKey: .confirmDeadlineSeconds) ?? defaults.confirmDeadlineSeconds
        journalCheckpointRecords = try container.decodeIfPresent(Int.self, forKey: .journalCheckpointRecords) ?? defaults.journalCheckpointRecords
        if let (key, reason) = problem {
            throw DecodingError.dataCorruptedError(forKey: key, in: container, debugDescription: reason)
        }
    }

    /// The first value out of its range, with what its range is; nil when all are in range.
    private var problem: (CodingKeys, String)? {
        if !(4...1_000_000).contains(journalCheckpointRecords) { return (.journalCheckpointRecords, "must be from 4 to 1000000") }
        if !(confirmDeadlineSeconds > 0 && confirmDeadlineSeconds <= 86_400) { return (.confirmDeadlineSeconds, "must be above 0 and at most 86400") }
        if historyLimit < 2 { return (.historyLimit, "must be at least 2") }
        if !(verifyTimeoutSeconds >= 1 && verifyTimeoutSeconds <= 86_400) { return (.verifyTimeoutSeconds, "must be from 1 to 86400") }
        if !(1...86_400).contains(verifyCPUSeconds) { return (.verifyCPUSeconds, "must be from 1 to 86400") }
        if !(64 << 20 ... 1 << 40).contains(verifyMemoryBytes) { return (.verifyMemoryBytes, "must be from 67108864 (64 MiB) to 1099511627776 (1 TiB)") }
        if !(1 << 20 ... 64 << 30).contains(verifyFileSizeBytes) { return (.verifyFileSizeBytes, "must be from 1048576 (1 MiB) to 68719476736 (64 GiB)") }
        if !(1...100).contains(maxConfirmAttempts) { return (.maxConfirmAttempts, "must be from 1 to 100") }
        // No upper bound: a supervisor's home turns the guard off with the largest value there is.
        if maxRestarts < 1 { return (.maxRestarts, "must be at least 1") }
        if !(restartWindowSeconds >= 1 && restartWindowSeconds <= 604_800) { return (.restartWindowSeconds, "must be from 1 to 604800 (a week)") }
        if historyLimit > 100_000 { return (.historyLimit, "must be at most 100000") }
        return nil
    }

    /// Reads config.json with the strict parser when every setting in it has the type it
    /// should and is in range (the usual case, and the one a rollback's start meets); nil
    /// otherwise, and the decoder then reads it and says what is wrong. Unknown keys are skipped.
    package init?(parsing bytes: [UInt8]) {
        guard let value = try? CanonicalJSON.parse(bytes, maxDepth: 16), let fields = value.objectValue else { return nil }
        // A null is an absent value, as `decodeIfPresent` takes it.
        func whole(_ key: CodingKeys) -> Int64?? {
            guard let value = fields[key.stringValue], value != .null else { return .some(nil) }
            guard let number = value.integerValue else { return nil }
            return .some(number)
        }
        func number(_ key: CodingKeys) -> Double?? {
            switch fields[key.stringValue] {
            case nil, .null?: return .some(nil)
            case .integer(let number)?: return .some(Double(number))
            case .number(let text)?: return Double(text).flatMap { $0.isFinite ? .some($0) : nil }
            default: return nil
            }
        }
        self.init()
        guard let historyLimit = whole(.historyLimit), let verifyTimeoutSeconds = number(.verifyTimeoutSeconds),
              let verifyCPUSeconds = whole(.verifyCPUSeconds), let verifyMemoryBytes = whole(.verifyMemoryBytes),
              let verifyFileSizeBytes = whole(.verifyFileSizeBytes), let maxConfirmAttempts = whole(.maxConfirmAttempts),
              let maxRestarts = whole(.maxRestarts), let restartWindowSeconds = number(.restartWindowSeconds),
              let confirmDeadlineSeconds = number(.confirmDeadlineSeconds), let journalCheckpointRecords = whole(.journalCheckpointRecords) else { return nil }
        for unsigned in [verifyCPUSeconds, verifyMemoryBytes, verifyFileSizeBytes] where (unsigned ?? 0) < 0 { return nil }
        if let historyLimit { self.historyLimit = Int(historyLimit) }
        if let verifyTimeoutSeconds { self.verifyTimeoutSeconds = verifyTimeoutSeconds }
        if let verifyCPUSeconds { self.verifyCPUSeconds = UInt64(verifyCPUSeconds) }
        if let verifyMemoryBytes { self.verifyMemoryBytes = UInt64(verifyMemoryBytes) }
        if let verifyFileSizeBytes { self.verifyFileSizeBytes = UInt64(verifyFileSizeBytes) }
        if let maxConfirmAttempts { self.maxConfirmAttempts = Int(maxConfirmAttempts) }
        if let maxRestarts { self.maxRestarts = Int(maxRestarts) }
        if let restartWindowSeconds { self.restartWindowSeconds = restartWindowSeconds }
        if let confirmDeadlineSeconds { self.confirmDeadlineSeconds = confirmDeadlineSeconds }
        if let journalCheckpointRecords { self.journalCheckpointRecords = Int(journalCheckpointRecords) }
        guard problem == nil else { return nil }
    }
}

/// The environment variables of one program (``ProgramIdentity/environmentPrefix``).
public struct Markers: Sendable {
    let prefix: String
    /// The transaction being resumed.
    public var transaction: String { prefix + "TX" }
    /// The version that exec'd this process.
    public var upgradedFrom: String { prefix + "UPGRADED_FROM" }
    /// The inherited descriptor holding the home's lock.
    public var lockDescriptor: String { prefix + "LOCK_FD" }
    /// `count:first-epoch` of recent restarts, for the loop guard.
    public var restarts: String { prefix + "RESTARTS" }
    /// The home a program is told to use.
    public var home: String { prefix + "HOME" }
    /// Set in a verification run.
    public var sandbox: String { prefix + "SANDBOX" }
    /// Crash-test hooks.
    public var failPoint: String { prefix + "FAILPOINT" }
    /// `<descriptor>:<pid>`: the write end of the watchdog's confirmation pipe, and the watchdog.
    public var confirmDescriptor: String { prefix + "CONFIRM_FD" }

    /// The markers that belong to one restart (removed once it is handled).
    public var perRestart: [String] { [transaction, upgradedFrom, lockDescriptor, confirmDescriptor] }
}

/// Crash-test hooks: `<PREFIX>FAILPOINT=kill-after-swap,fail-before-verify` makes the process
/// SIGKILL itself at those moments, or makes that point throw; `stop-<point>` stops it (SIGSTOP)
/// the first time it gets there, for a test to change the home meanwhile. Compiled only with
/// `AUTODEV_TEST_HOOKS` (debug builds, and the release build `scripts/test` makes for the crash
/// tests): a shipped release has no hook that an inherited environment could trigger.
package enum FailPoint {
    #if AUTODEV_TEST_HOOKS
    private static let stopped = Mutex<Set<String>>([])

    package static func hit(_ point: String, _ program: ProgramIdentity) throws {
        guard let spec = ProcessControl.environment(program.markers.failPoint) else { return }
        for item in spec.split(separator: ",") {
            if item == "kill-\(point)" { ProcessControl.killSelf() }
            if item == "fail-\(point)" { throw UpgradeError.injectedFailure(point: point) }
            if item == "stop-\(point)", stopped.withLock({ $0.insert(point).inserted }) { ProcessControl.stopSelf() }
        }
    }
    #else
    @inline(__always)
    package static func hit(_ point: String, _ program: ProgramIdentity) throws {}
    #endif
}
