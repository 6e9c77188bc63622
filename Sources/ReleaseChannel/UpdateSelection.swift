import Integrity
import Platform

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
    /// Signed patches that rebuild it from earlier releases (empty when the repository has none).
    public var patches: [PatchOffer]

    /// - Parameters: the fields, as listed.
    public init(path: String, length: Int, hashes: [String: String], facts: ReleaseFacts, patches: [PatchOffer] = []) {
        self.path = path
        self.length = length
        self.hashes = hashes
        self.facts = facts
        self.patches = patches
    }

    /// The largest artifact an update accepts: 1 TiB. Lengths are range-checked against it
    /// before any arithmetic (free space, deadlines), so a signed length of 2⁶³−1 is an error,
    /// never an overflow.
    public static let maximumLength = 1 << 40

    /// The target path as it may be shown: control characters escaped, so a signed path holding
    /// a line break or an escape sequence cannot forge a line or clear the screen.
    public var shownPath: String { TerminalText.escaped(path, limit: 200) }

    /// Checks what an update relies on before anything is downloaded: a length from 0 to
    /// ``maximumLength``, a SHA-256 of 64 hex digits, a SHA-512 (when listed) of 128, and no
    /// other algorithm.
    /// - Throws: ``ReleaseChannelError`` `channel` naming the target and the value.
    public func validate() throws(ReleaseChannelError) {
        guard (0...Self.maximumLength).contains(length) else {
            throw ReleaseChannelError(.channel, "Target \(shownPath) has a signed length of \(length) bytes; an update must be 0 to \(Self.maximumLength) bytes (1 TiB)")
        }
        guard let sha256 = hashes["sha256"], sha256.count == 64, Hex.isHexDigits(sha256) else {
            throw ReleaseChannelError(.channel, "Target \(shownPath) lists no valid SHA-256 (64 hex digits)")
        }
        if let sha512 = hashes["sha512"], sha512.count != 128 || !Hex.isHexDigits(sha512) {
            throw ReleaseChannelError(.channel, "Target \(shownPath) lists a SHA-512 that is not 128 hex digits")
        }
        if let algorithm = hashes.keys.sorted().first(where: { !TargetDigest.algorithms.contains($0) }) {
            throw ReleaseChannelError(.channel, "Target \(shownPath) lists a hash of unsupported algorithm \"\(TerminalText.escaped(algorithm, limit: 40))\"")
        }
    }

    /// What a verified download was checked against, in words: "length, SHA-256 and SHA-512"
    /// or "length and SHA-256" (only the hashes the signed metadata lists).
    public var checkedDescription: String {
        hashes["sha512"] == nil ? "length and SHA-256" : "length, SHA-256 and SHA-512"
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
