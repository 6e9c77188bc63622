import FoundationEssentials
import Platform

/// The agent's fitness gate and probation as a person set them, in `<home>/config.json` beside
/// ``UpgradeConfiguration`` and ``UpdateSettings``; `autodev agent`'s options win over them.
///
/// Read with ``load(homeDirectory:)``; changed one key at a time through ``ConfigurationFile``,
/// which validates a change against these rules before writing anything.
public struct AgentSettings: Sendable, Equatable, Codable {
    /// The fitness command: an absolute path to an executable outside the working copy (nil: no gate).
    public var fitnessCommand: String?
    /// A directory the fitness command reads, pinned with it (an absolute path; nil: none).
    public var fitnessData: String?
    /// Runs per binary (1 to 100; default 3).
    public var fitnessRuns = 3
    /// How much worse than the parent's median a score's median may be, in percent (0 to 100; default 2).
    public var fitnessMarginPercent = 2.0
    /// Wall-clock seconds each fitness run may take (1 to 86400; default 600).
    public var fitnessTimeoutSeconds = 600.0
    /// Passing samples an accepted version needs on probation (0 to 1000, 0: none; default 5).
    public var probationRuns = 5
    /// Seconds an accepted version stays on probation at least (0 to 31536000; default 0).
    public var probationSeconds = 0.0

    public init() {}

    /// The keys in `config.json`.
    public enum CodingKeys: String, CodingKey, CaseIterable {
        case fitnessCommand, fitnessData, fitnessRuns, fitnessMarginPercent, fitnessTimeoutSeconds, probationRuns, probationSeconds
    }

    /// Reads the settings from `<homeDirectory>/config.json`; the defaults when there is no file.
    /// - Throws: ``UpgradeError`` naming the key and the rule when a value is refused.
    public static func load(homeDirectory: String) throws(UpgradeError) -> AgentSettings {
        try UpgradeConfiguration.decodeSettings(homeDirectory: homeDirectory) ?? AgentSettings()
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let defaults = AgentSettings()
        func path(_ key: CodingKeys) throws -> String? {
            guard let text = try container.decodeIfPresent(String.self, forKey: key) else { return nil }
            guard text.hasPrefix("/"), text.utf8.count <= 4096, !text.utf8.contains(0) else {
                throw DecodingError.dataCorruptedError(forKey: key, in: container, debugDescription: "must be an absolute path")
            }
            return text
        }
        func value<Value: Decodable & Comparable>(_ key: CodingKeys, _ fallback: Value, _ range: ClosedRange<Value>, _ rule: String) throws -> Value {
            let value = try container.decodeIfPresent(Value.self, forKey: key) ?? fallback
            guard range.contains(value) else { throw DecodingError.dataCorruptedError(forKey: key, in: container, debugDescription: rule) }
            return value
        }
        fitnessCommand = try path(.fitnessCommand)
        fitnessData = try path(.fitnessData)
        fitnessRuns = try value(.fitnessRuns, defaults.fitnessRuns, 1...100, "must be from 1 to 100")
        fitnessMarginPercent = try value(.fitnessMarginPercent, defaults.fitnessMarginPercent, 0...100, "must be from 0 to 100")
        fitnessTimeoutSeconds = try value(.fitnessTimeoutSeconds, defaults.fitnessTimeoutSeconds, 1...86_400, "must be from 1 to 86400")
        probationRuns = try value(.probationRuns, defaults.probationRuns, 0...1000, "must be from 0 to 1000")
        probationSeconds = try value(.probationSeconds, defaults.probationSeconds, 0...31_536_000, "must be from 0 to 31536000")
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encodeIfPresent(fitnessCommand, forKey: .fitnessCommand)
        try container.encodeIfPresent(fitnessData, forKey: .fitnessData)
        try container.encode(fitnessRuns, forKey: .fitnessRuns)
        try container.encode(fitnessMarginPercent, forKey: .fitnessMarginPercent)
        try container.encode(fitnessTimeoutSeconds, forKey: .fitnessTimeoutSeconds)
        try container.encode(probationRuns, forKey: .probationRuns)
        try container.encode(probationSeconds, forKey: .probationSeconds)
    }
}
