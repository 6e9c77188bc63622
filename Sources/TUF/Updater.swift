#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Integrity
import Platform

/// A TUF client (specification 1.0, section 5): brings the trusted metadata in a local
/// directory up to date from a repository, finds targets through delegations, and downloads
/// them verified.
///
/// Invariants:
/// - The reference time is read once, when the updater is created; every expiry check uses it.
/// - Only verified metadata is trusted. Each file is stored, exactly as received, as soon as it
///   verifies; a failed step leaves everything stored before it in place.
/// - A delegated role is verified against the delegator that leads to it on the current search
///   path, every time it is reached, even when it was loaded before.
/// - Downloads are capped (root 512,000 B, timestamp 16,384 B, snapshot 2,000,000 B, targets
///   5,000,000 B unless snapshot or timestamp list a length, artifacts their listed length).
public struct Updater: Sendable {
    /// Size caps of metadata downloads, in bytes.
    enum Limit {
        static let root = 512_000
        static let timestamp = 16_384
        static let snapshot = 2_000_000
        static let targets = 5_000_000
        static let rootRotations = 32
        static let delegations = 32
        /// The most any metadata file may be, whatever length snapshot or timestamp list: 64 MiB.
        static let metadataMaximum = 64 << 20
        /// The most an artifact may be: `download(_:to:)` verifies it in memory before writing it.
        static let targetMaximum = 1 << 30
    }

    let store: LocalStore
    let metadataURL: String
    let targetBaseURL: String?
    let source: any MetadataSource
    /// Seconds since the epoch, read once.
    let now: Int64

    var root: Root?
    var timestamp: Timestamp?
    var snapshot: Snapshot?
    /// Targets roles loaded in this process, by name: reused (never fetched twice) but
    /// verified again against whichever delegator reaches them.
    var loadedTargets: [String: Targets] = [:]
    var refreshed = false

    // MARK: - API

    /// An updater for the metadata in `metadataDirectory` (which must hold a trusted `root.json`).
    /// - Parameters:
    ///   - metadataDirectory: where trusted metadata is read and written.
    ///   - metadataURL: the repository's metadata base URL.
    ///   - targetBaseURL: the repository's target base URL (needed only to download).
    ///   - stallTimeout: seconds a server may send nothing before a fetch fails (default 30).
    ///   - totalTimeout: seconds each fetch may take in all (nil: 120 s plus one second per
    ///     64 KiB the file may hold).
    public init(metadataDirectory: String, metadataURL: String, targetBaseURL: String? = nil, stallTimeout: Double = 30,
                totalTimeout: Double? = nil) {
        var source = TransportSource()
        source.options.stallTimeout = stallTimeout
        source.options.totalTimeout = totalTimeout
        self.init(metadataDirectory: metadataDirectory, metadataURL: metadataURL, targetBaseURL: targetBaseURL, source: source)
    }

    package init(metadataDirectory: String, metadataURL: String, targetBaseURL: String?, source: any MetadataSource) {
        store = LocalStore(directory: metadataDirectory)
        self.metadataURL = metadataURL.hasSuffix("/") ? metadataURL : metadataURL + "/"
        self.targetBaseURL = targetBaseURL.map { $0.hasSuffix("/") ? $0 : $0 + "/" }
        self.source = source
        now = Int64(time(nil))
    }

    /// Makes `rootBytes` the trusted root of `metadataDirectory` (no checks, no network):
    /// the first `refresh()` verifies it.
    /// - Throws: ``TUFError`` with code `storage`.
    public static func initialize(metadataDirectory: String, trustedRoot rootBytes: [UInt8]) throws(TUFError) {
        do {
            try FileSystem.createDirectory(metadataDirectory, intermediates: true)
        } catch {
            throw TUFError(.storage, "Failed to create the metadata directory: \(error)")
        }
        try LocalStore(directory: metadataDirectory).write(TopLevelRole.root, rootBytes)
    }

    /// Updates root (one version at a time), timestamp, snapshot and top-level targets (5.3–5.6).
    /// - Throws: ``TUFError``; metadata verified before the failure stays trusted and stored.
    public mutating func refresh() throws(TUFError) {
        refreshed = false
        timestamp = nil
        snapshot = nil
        loadedTargets = [:]
        try loadTrustedRoot()
        try updateRoot()
        try updateTimestamp()
        try updateSnapshot()
        let root = self.root!
        _ = try loadTargets(TopLevelRole.targets, keys: root.keys, roleKeys: root.roles[TopLevelRole.targets]!)
        refreshed = true
    }

    // MARK: - Internals

    /// 5.2: the local root, which must be signed by a threshold of its own root keys.
    mutating func loadTrustedRoot() throws(TUFError) {
        guard let bytes = store.read(TopLevelRole.root) else {
            throw TUFError(.storage, "No trusted root: \(store.path(TopLevelRole.root)) cannot be read")
        }
        let metadata = try SignedMetadata(bytes: bytes, role: "trusted root", type: TopLevelRole.root)
        let trusted = try Root(metadata)
        try trusted.verify(metadata, as: TopLevelRole.root)
        root = trusted
    }

    /// 5.3: each next root version must be signed by a threshold of the current root's root
    /// keys and of its own; at most 32 versions per refresh; the final root must not be expired.
    ///
    /// The newest verified root is stored once the walk ends, whether it ends at the last version,
    /// at the limit or at a version that fails: one durable write instead of one per version
    /// (a crash in the walk leaves the root it started from, and the next refresh walks again).
    mutating func updateRoot() throws(TUFError) {
        var current = root!
        var verified: [UInt8]?
        do throws(TUFError) {
            try walkRoots(from: &current, verified: &verified)
        } catch {
            if let verified { try store.write(TopLevelRole.root, verified) }
            throw error
        }
        if let verified { try store.write(TopLevelRole.root, verified) }
        guard !current.metadata.isExpired(at: now) else {
            throw TUFError(.expired, "root version \(current.version) has expired")
        }
    }

    private mutating func walkRoots(from current: inout Root, verified: inout [UInt8]?) throws(TUFError) {
        // Range-checked: a root at version 2⁶³−1 has no next version to look for (no overflow).
        guard current.version < Int64.max - Int64(Limit.rootRotations) else { return }
        let first = current.version + 1
        for next in first..<(first + Int64(Limit.rootRotations)) {
            let url = metadataURL + "\(next).root.json"
            let bytes: [UInt8]
            do {
                bytes = try source.fetch(url, maxBytes: Limit.root)
            } catch where error.notFound {
                break
            } catch {
                throw TUFError(error.timedOut ? .timedOut : .download, "Failed to download root version \(next) from \(url): \(error.message)")
            }
            let metadata = try SignedMetadata(bytes: bytes, role: "root", type: TopLevelRole.root)
            try current.verify(metadata, as: TopLevelRole.root)
            let candidate = try Root(metadata)
            try candidate.verify(metadata, as: TopLevelRole.root)
            guard metadata.version == next else {
                throw TUFError(.badVersion, "\(url) holds root version \(metadata.version), expected \(next)")
            }
            verified = bytes
            current = candidate
            root = candidate
        }
    }

    /// 5.4: the timestamp. A stored one that still verifies is the baseline for rollback checks
    /// (an expired one too); one that no longer verifies (rotated keys) is ignored.
    mutating func updateTimestamp() throws(TUFError) {
        let root = self.root!
        if let bytes = store.read(TopLevelRole.timestamp),
           let metadata = try? SignedMetadata(bytes: bytes, role: "timestamp", type: TopLevelRole.timestamp),
           (try? root.verify(metadata, as: TopLevelRole.timestamp)) != nil,
           let local = try? Timestamp(metadata) {
            timestamp = local
        }
        let url = metadataURL + "timestamp.json"
        let bytes = try download(url, maxBytes: Limit.timestamp, what: "timestamp")
        let metadata = try SignedMetadata(bytes: bytes, role: "timestamp", type: TopLevelRole.timestamp)
        try root.verify(metadata, as: TopLevelRole.timestamp)
        let candidate = try Timestamp(metadata)
        if let trusted = timestamp {
            let old = trusted.metadata.version
            guard metadata.version >= old else {
                throw TUFError(.badVersion, "timestamp version \(metadata.version) from \(url) is older than trusted version \(old)")
            }
            if metadata.version == old { return } // unchanged: keep what is trusted
            guard candidate.snapshot.version >= trusted.snapshot.version else {
                throw TUFError(.badVersion, "timestamp version \(metadata.version) lists snapshot version \(candidate.snapshot.version), older than trusted \(trusted.snapshot.version)")
            }
        }
        timestamp = candidate
        guard !metadata.isExpired(at: now) else {
            throw TUFError(.expired, "timestamp version \(metadata.version) from \(url) has expired")
        }
        try store.write(TopLevelRole.timestamp, bytes)
    }

    /// 5.5: the snapshot timestamp lists. A stored one that verifies and is the listed version
    /// is used as is; otherwise the new one must match timestamp's length and hashes and must not
    /// roll back any targets role the stored one lists.
    mutating func updateSnapshot() throws(TUFError) {
        let root = self.root!
        let timestamp = self.timestamp!
        guard !timestamp.metadata.isExpired(at: now) else {
            throw TUFError(.expired, "timestamp version \(timestamp.metadata.version) has expired")
        }
        snapshot = nil
        if let bytes = store.read(TopLevelRole.snapshot),
           let metadata = try? SignedMetadata(bytes: bytes, role: "snapshot", type: TopLevelRole.snapshot),
           (try? root.verify(metadata, as: TopLevelRole.snapshot)) != nil,
           let local = try? Snapshot(metadata) {
            snapshot = local
            if (try? checkFinalSnapshot()) != nil { return }
        }
        let listed = timestamp.snapshot
        let url = metadataURL + (root.consistentSnapshot ? "\(listed.version).snapshot.json" : "snapshot.json")
        let bytes = try download(url, maxBytes: listed.length ?? Limit.snapshot, what: "snapshot")
        try listed.verify(bytes, what: "snapshot from \(url)")
        let metadata = try SignedMetadata(bytes: bytes, role: "snapshot", type: TopLevelRole.snapshot)
        try root.verify(metadata, as: TopLevelRole.snapshot)
        let candidate = try Snapshot(metadata)
        if let trusted = snapshot {
            for (name, info) in trusted.meta {
                guard let newInfo = candidate.meta[name] else {
                    throw TUFError(.badVersion, "snapshot version \(metadata.version) from \(url) no longer lists \(name)")
                }
                guard newInfo.version >= info.version else {
                    throw TUFError(.badVersion, "snapshot version \(metadata.version) from \(url) rolls \(name) back from version \(info.version) to \(newInfo.version)")
                }
            }
        }
        snapshot = candidate
        try checkFinalSnapshot()
        try store.write(TopLevelRole.snapshot, bytes)
    }

    /// The trusted snapshot is unexpired and the version timestamp lists.
    func checkFinalSnapshot() throws(TUFError) {
        let snapshot = self.snapshot!
        guard !snapshot.metadata.isExpired(at: now) else {
            throw TUFError(.expired, "snapshot version \(snapshot.metadata.version) has expired")
        }
        let listed = timestamp!.snapshot.version
        guard snapshot.metadata.version == listed else {
            throw TUFError(.badVersion, "snapshot version \(snapshot.metadata.version) is not version \(listed) that timestamp lists")
        }
    }

    /// One capped download, failures named with what was fetched.
    func download(_ url: String, maxBytes: Int, what: String) throws(TUFError) -> [UInt8] {
        // A signed length is range-checked before it becomes a cap (and a deadline).
        guard (0...Limit.metadataMaximum).contains(maxBytes) else {
            throw TUFError(.invalidMetadata, "\(what) is listed with a length of \(maxBytes) bytes; metadata may be 0 to \(Limit.metadataMaximum) bytes")
        }
        do {
            return try source.fetch(url, maxBytes: maxBytes)
        } catch {
            throw TUFError(error.timedOut ? .timedOut : .download, "Failed to download \(what) from \(url): \(error.message)")
        }
    }
}
