import FoundationEssentials
import Platform

/// The update policy a person chose, kept in `<home>/config.json` beside ``UpgradeConfiguration``:
/// how often to check, what to install without asking, which versions not to offer again, and
/// the command that is told what happened.
///
/// Read with ``load(homeDirectory:)``; changed one key at a time through ``ConfigurationFile``,
/// which validates a change against these rules before writing anything.
public struct UpdateSettings: Sendable, Equatable, Codable {
    /// Which offered releases are installed without being asked.
    public enum Policy: String, Sendable, Codable, CaseIterable {
        /// None: a person decides (the prompt, the dashboard, `update apply`).
        case manual
        /// Only releases marked critical.
        case critical
        /// Every offered release.
        case all
    }

    /// Seconds between background checks (60 to 604800; default 1800).
    public var checkIntervalSeconds: Double = 1800
    /// What is installed without being asked (default manual).
    public var policy: Policy = .manual
    /// Minutes the host must have been idle before an allowed update is installed (0: as soon as
    /// it is idle at all; at most 10080, a week).
    public var autoUpgradeOnIdleMinutes = 0
    /// Versions a person chose to skip: not offered again until a newer one exists. A critical
    /// release is offered all the same.
    public var skippedVersions: [String] = []
    /// The notification command: an absolute path, run with the event's name as its argument and
    /// the event as JSON on standard input (nil: none).
    public var notifyCommand: String?
    /// Seconds the notification command may run before it is killed (1 to 300; default 10).
    public var notifyTimeoutSeconds: Double = 10

    public init() {}

    /// The keys in `config.json`.
    public enum CodingKeys: String, CodingKey, CaseIterable {
        case checkIntervalSeconds = "updateCheckIntervalSeconds"
        case policy = "updatePolicy"
        case autoUpgradeOnIdleMinutes
        case skippedVersions
        case notifyCommand
        case notifyTimeoutSeconds
    }

    /// Reads the settings from `<homeDirectory>/config.json`; the defaults when there is no file.
    /// - Throws: ``UpgradeError`` naming the key and the rule when a value is refused.
    public static func load(homeDirectory: String) throws(UpgradeError) -> UpdateSettings {
        try UpgradeConfiguration.decodeSettings(homeDirectory: homeDirectory) ?? UpdateSettings()
    }

    /// A version name a skip list may hold: 1 to 64 of letters, digits, `.`, `-` and `+`.
    public static func isVersionName(_ text: String) -> Bool {
        !text.isEmpty && text.utf8.count <= 64
            && text.utf8.allSatisfy { (0x30...0x39).contains($0) || (0x41...0x5A).contains($0) || (0x61...0x7A).contains($0) || $0 == 0x2E || $0 == 0x2D || $0 == 0x2B }
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let defaults = UpdateSettings()
        checkIntervalSeconds = try container.decodeIfPresent(Double.self, forKey: .checkIntervalSeconds) ?? defaults.checkIntervalSeconds
        guard (60...604_800).contains(checkIntervalSeconds) else {
            throw DecodingError.dataCorruptedError(forKey: .checkIntervalSeconds, in: container, debugDescription: "must be from 60 to 604800 (a week)")
        }
        let policyName = try container.decodeIfPresent(String.self, forKey: .policy) ?? defaults.policy.rawValue
        guard let policy = Policy(rawValue: policyName) else {
            throw DecodingError.dataCorruptedError(forKey: .policy, in: container, debugDescription: "must be manual, critical or all")
        }
        self.policy = policy
        autoUpgradeOnIdleMinutes = try container.decodeIfPresent(Int.self, forKey: .autoUpgradeOnIdleMinutes) ?? defaults.autoUpgradeOnIdleMinutes
        guard (0...10_080).contains(autoUpgradeOnIdleMinutes) else {
            throw DecodingError.dataCorruptedError(forKey: .autoUpgradeOnIdleMinutes, in: container, debugDescription: "must be from 0 to 10080 (a week)")
        }
        skippedVersions = try container.decodeIfPresent([String].self, forKey: .skippedVersions) ?? []
        guard skippedVersions.count <= 1000, skippedVersions.allSatisfy(Self.isVersionName) else {
            throw DecodingError.dataCorruptedError(forKey: .skippedVersions, in: container,
                                                   debugDescription: "must be at most 1000 versions, each 1 to 64 letters, digits, '.', '-' or '+'")
        }
        notifyCommand = try container.decodeIfPresent(String.self, forKey: .notifyCommand)
        if let command = notifyCommand {
            guard command.hasPrefix("/"), command.utf8.count <= 4096, !command.utf8.contains(0) else {
                throw DecodingError.dataCorruptedError(forKey: .notifyCommand, in: container, debugDescription: "must be an absolute path to an executable")
            }
        }
        notifyTimeoutSeconds = try container.decodeIfPresent(Double.self, forKey: .notifyTimeoutSeconds) ?? defaults.notifyTimeoutSeconds
        guard (1...300).contains(notifyTimeoutSeconds) else {
            throw DecodingError.dataCorruptedError(forKey: .notifyTimeoutSeconds, in: container, debugDescription: "must be from 1 to 300")
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(checkIntervalSeconds, forKey: .checkIntervalSeconds)
        try container.encode(policy.rawValue, forKey: .policy)
        try container.encode(autoUpgradeOnIdleMinutes, forKey: .autoUpgradeOnIdleMinutes)
        try container.encode(skippedVersions, forKey: .skippedVersions)
        try container.encodeIfPresent(notifyCommand, forKey: .notifyCommand)
        try container.encode(notifyTimeoutSeconds, forKey: .notifyTimeoutSeconds)
    }
}
