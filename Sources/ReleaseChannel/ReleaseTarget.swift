import Integrity

/// The platforms a release artifact is built for.
public enum ReleasePlatform: String, Sendable, CaseIterable {
    case linuxX86_64 = "linux-x86_64"
    case linuxAArch64 = "linux-aarch64"
    case darwinX86_64 = "darwin-x86_64"
    case darwinArm64 = "darwin-arm64"
    case windowsX86_64 = "windows-x86_64"

    /// The platform this program was built for.
    public static var current: ReleasePlatform {
        #if os(Linux) && arch(x86_64)
        return .linuxX86_64
        #elseif os(Linux) && arch(arm64)
        return .linuxAArch64
        #elseif os(macOS) && arch(x86_64)
        return .darwinX86_64
        #elseif os(macOS) && arch(arm64)
        return .darwinArm64
        #else
        return .windowsX86_64
        #endif
    }
}

/// The facts a release repository signs about one artifact, in its target's `custom` member:
/// `{"version", "platform", "released", "critical", "min_version"?, "rollout", "notes"?}`.
public struct ReleaseFacts: Sendable, Equatable {
    /// The release's version.
    public var version: SemanticVersion
    /// The platform the artifact runs on.
    public var platform: ReleasePlatform
    /// When it was added, `YYYY-MM-DDTHH:MM:SSZ`.
    public var released: String
    /// Whether users should install it without delay.
    public var critical: Bool
    /// The oldest running version that may update to it directly (nil: any).
    public var minimumVersion: SemanticVersion?
    /// The percentage (0–100) of installations it is offered to.
    public var rollout: Int
    /// Release notes (nil: none).
    public var notes: String?

    /// - Parameters: the fields, as listed.
    public init(version: SemanticVersion, platform: ReleasePlatform, released: String, critical: Bool = false,
                minimumVersion: SemanticVersion? = nil, rollout: Int = 100, notes: String? = nil) {
        self.version = version
        self.platform = platform
        self.released = released
        self.critical = critical
        self.minimumVersion = minimumVersion
        self.rollout = rollout
        self.notes = notes
    }

    /// The `custom` member.
    public var json: CanonicalJSONValue {
        var members: [String: CanonicalJSONValue] = [
            "version": .string(version.description), "platform": .string(platform.rawValue), "released": .string(released),
            "critical": .bool(critical), "rollout": .integer(Int64(rollout)),
        ]
        if let minimumVersion { members["min_version"] = .string(minimumVersion.description) }
        if let notes { members["notes"] = .string(notes) }
        return .object(members)
    }

    /// Reads a `custom` member; nil when it is not one a release repository writes.
    public init?(json: CanonicalJSONValue?) {
        guard let members = json?.objectValue,
              let version = members["version"]?.stringValue.flatMap(SemanticVersion.init),
              let platform = members["platform"]?.stringValue.flatMap(ReleasePlatform.init(rawValue:)),
              let released = members["released"]?.stringValue else { return nil }
        var minimum: SemanticVersion? = nil
        if let text = members["min_version"] {
            guard let parsed = text.stringValue.flatMap(SemanticVersion.init) else { return nil }
            minimum = parsed
        }
        let rollout = members["rollout"].map { $0.integerValue.map(Int.init) ?? -1 } ?? 100
        guard (0...100).contains(rollout) else { return nil }
        self.init(version: version, platform: platform, released: released, critical: members["critical"]?.boolValue ?? false,
                  minimumVersion: minimum, rollout: rollout, notes: members["notes"]?.stringValue)
    }

    /// The target path of `fileName`: `<program>/<version>/<platform>/<file name>`.
    public func targetPath(program: String, fileName: String) -> String {
        "\(program)/\(version)/\(platform.rawValue)/\(fileName)"
    }
}
