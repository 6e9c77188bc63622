/// A version as Semantic Versioning 2.0.0 defines it: `MAJOR.MINOR.PATCH[-PRERELEASE][+BUILD]`,
/// ordered as its section 11 says (pre-releases before the release, build metadata ignored).
public struct SemanticVersion: Sendable, Hashable, Comparable, CustomStringConvertible {
    public let major: UInt64
    public let minor: UInt64
    public let patch: UInt64
    /// The dot-separated pre-release identifiers (empty for a release).
    public let preRelease: [String]
    /// The dot-separated build identifiers (not part of the order).
    public let build: [String]

    // MARK: - API

    /// Parses `text`; nil when it is not a semantic version (a leading "v" is not accepted).
    public init?(_ text: String) {
        var rest = Substring(text)
        var build: [String] = []
        if let plus = rest.firstIndex(of: "+") {
            guard let identifiers = Self.identifiers(rest[rest.index(after: plus)...], numericRule: false) else { return nil }
            build = identifiers
            rest = rest[..<plus]
        }
        var preRelease: [String] = []
        if let dash = rest.firstIndex(of: "-") {
            guard let identifiers = Self.identifiers(rest[rest.index(after: dash)...], numericRule: true) else { return nil }
            preRelease = identifiers
            rest = rest[..<dash]
        }
        let core = rest.split(separator: ".", omittingEmptySubsequences: false)
        guard core.count == 3, let major = Self.number(core[0]), let minor = Self.number(core[1]), let patch = Self.number(core[2]) else { return nil }
        self.major = major
        self.minor = minor
        self.patch = patch
        self.preRelease = preRelease
        self.build = build
    }

    public var isPreRelease: Bool { !preRelease.isEmpty }

    public var description: String {
        "\(major).\(minor).\(patch)" + (preRelease.isEmpty ? "" : "-" + preRelease.joined(separator: "."))
            + (build.isEmpty ? "" : "+" + build.joined(separator: "."))
    }

    /// Precedence (build metadata does not count).
    public static func < (lhs: SemanticVersion, rhs: SemanticVersion) -> Bool {
        if (lhs.major, lhs.minor, lhs.patch) != (rhs.major, rhs.minor, rhs.patch) {
            return (lhs.major, lhs.minor, lhs.patch) < (rhs.major, rhs.minor, rhs.patch)
        }
        switch (lhs.preRelease.isEmpty, rhs.preRelease.isEmpty) {
        case (true, _): return false
        case (false, true): return true
        case (false, false): break
        }
        for (left, right) in zip(lhs.preRelease, rhs.preRelease) where left != right {
            switch (UInt64(left), UInt64(right)) {
            case let (l?, r?): return l < r
            case (.some, nil): return true
            case (nil, .some): return false
            case (nil, nil): return Array(left.utf8).lexicographicallyPrecedes(Array(right.utf8))
            }
        }
        return lhs.preRelease.count < rhs.preRelease.count
    }

    /// Equal precedence: build metadata is ignored, so `1.0.0+a == 1.0.0+b`.
    public static func == (lhs: SemanticVersion, rhs: SemanticVersion) -> Bool {
        (lhs.major, lhs.minor, lhs.patch) == (rhs.major, rhs.minor, rhs.patch) && lhs.preRelease == rhs.preRelease
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(major); hasher.combine(minor); hasher.combine(patch); hasher.combine(preRelease)
    }

    // MARK: - Internals

    /// A numeric identifier: digits, no leading zero.
    private static func number(_ text: Substring) -> UInt64? {
        guard !text.isEmpty, text.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }), text == "0" || text.first != "0" else { return nil }
        return UInt64(text)
    }

    /// Non-empty identifiers of `[0-9A-Za-z-]`; with `numericRule`, numeric ones without leading zeros.
    private static func identifiers(_ text: Substring, numericRule: Bool) -> [String]? {
        var result: [String] = []
        for part in text.split(separator: ".", omittingEmptySubsequences: false) {
            guard !part.isEmpty, part.utf8.allSatisfy({ ($0 >= 48 && $0 <= 57) || ($0 | 0x20 >= 97 && $0 | 0x20 <= 122) || $0 == 45 }) else { return nil }
            if numericRule, part.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }), number(part) == nil { return nil }
            result.append(String(part))
        }
        return result
    }
}
