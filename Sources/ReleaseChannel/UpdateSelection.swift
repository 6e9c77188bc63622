import Integrity

/// One artifact a channel offers: where it is and what its release says about it.
public struct ReleaseOffer: Sendable, Equatable {
    /// The target path.
    public var path: String
    /// Its exact length in bytes.
    public var length: Int
    /// Hex digests by algorithm.
    public var hashes: [String: String]
    /// What the release repository signed about it.
    public var facts: ReleaseFacts

    /// - Parameters: the fields, as listed.
    public init(path: String, length: Int, hashes: [String: String], facts: ReleaseFacts) {
        self.path = path
        self.length = length
        self.hashes = hashes
        self.facts = facts
    }
}

/// Which release, if any, an installation should move to.
///
/// An offer applies when it is for this platform, newer than the running version, the running
/// version is at least its `min_version`, and the installation's rollout bucket is below its
/// rollout percentage. Of those, the newest wins. Pre-releases are ordered as semantic
/// versioning says, and are offered only to an installation running a pre-release.
public enum UpdateSelection {
    // MARK: - API

    /// The installation's rollout bucket, 0–99: the first 8 bytes of SHA-256 of its id, big-endian, modulo 100.
    /// The same id always falls in the same bucket, so a staged rollout reaches the same installations every time.
    public static func bucket(installationID: String) -> Int {
        let digest = SHA256.hash(data: Array(installationID.utf8)).bytes
        let value = digest.prefix(8).reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        return Int(value % 100)
    }

    /// The newest offer that applies to an installation running `current` on `platform`.
    /// - Parameters:
    ///   - offers: what the channel lists.
    ///   - current: the running version.
    ///   - platform: the running platform.
    ///   - installationID: the installation's stable id (see ``bucket(installationID:)``).
    /// - Returns: the chosen offer, or nil when the installation is up to date.
    public static func choose(_ offers: [ReleaseOffer], current: SemanticVersion, platform: ReleasePlatform,
                              installationID: String) -> ReleaseOffer? {
        let bucket = bucket(installationID: installationID)
        return offers.filter { offer in
            let facts = offer.facts
            return facts.platform == platform && facts.version > current
                && (!facts.version.isPreRelease || current.isPreRelease)
                && facts.minimumVersion.map { current >= $0 } ?? true
                && bucket < facts.rollout
        }.max { $0.facts.version < $1.facts.version }
    }
}
