#if canImport(Glibc)
import Glibc
#endif
import Integrity
import Platform

/// A release repository on disk: TUF metadata and target files that any static HTTP server can
/// serve, and the keys that sign them.
///
///     DIR/metadata/   1.root.json (the root users trust), N.root.json, N.targets.json,
///                     N.snapshot.json, timestamp.json (consistent snapshots)
///     DIR/targets/    <program>/<version>/<platform>/<sha256>.<file name>
///     DIR/keys/       <role>-<n>.ed25519: hex seeds, mode 0600 (to be moved offline in real use)
///     DIR/pending.json  the targets the next publish signs (JSON, unsigned)
///     DIR/.lock       held by add, publish and refresh: one writer at a time
///
/// Invariants:
/// - Every file is written durably (temporary file, fsync, rename, fsync of the directory).
/// - `timestamp.json` is written last: until it is, clients see the previous release, and the
///   files written before it have names (new versions, content hashes) that nothing lists yet.
///   A failed publish therefore leaves the repository as clients saw it.
public struct ReleaseRepository: Sendable {
    /// Lifetimes of the signed roles.
    public struct Expiry: Sendable {
        /// Days root, targets and snapshot stay valid (default 365).
        public var days: Int = 365
        /// Days a timestamp stays valid (default 7): `refresh` must run more often than this.
        public var timestampDays: Int = 7
        public init(days: Int = 365, timestampDays: Int = 7) {
            self.days = days
            self.timestampDays = timestampDays
        }
    }

    /// The repository directory.
    public let directory: String
    /// The first component of every target path.
    public let program: String

    public init(directory: String, program: String = "autodev") {
        self.directory = directory
        self.program = program
    }

    var metadataDirectory: String { directory + "/metadata" }
    var keyDirectory: String { directory + "/keys" }
    var pendingPath: String { directory + "/pending.json" }
    /// Held by add, publish and refresh (beside the served directories, never served).
    var lockPath: String { directory + "/.lock" }

    // MARK: - API

    /// Creates keys and version 1 of the four top-level roles (no targets).
    /// - Parameters:
    ///   - threshold: how many keys each role has and how many must sign (1–10).
    ///   - expiry: lifetimes of the roles.
    ///   - now: the signing time, seconds since the epoch.
    /// - Throws: ``ReleaseChannelError``: `invalidArgument` when the directory already holds a repository.
    public func create(threshold: Int = 1, expiry: Expiry = Expiry(), now: Int64) throws(ReleaseChannelError) {
        guard (1...10).contains(threshold) else { throw ReleaseChannelError(.invalidArgument, "The threshold must be 1 to 10, not \(threshold)") }
        guard (1...36_500).contains(expiry.days) else { throw ReleaseChannelError(.invalidArgument, "Expiry must be 1 to 36500 days, not \(expiry.days)") }
        guard !FileSystem.exists(metadataDirectory + "/1.root.json") else {
            throw ReleaseChannelError(.invalidArgument, "\"\(directory)\" already holds a release repository")
        }
        for path in [directory, metadataDirectory, directory + "/targets"] { try storage { () throws(SystemError) in try FileSystem.createDirectory(path, intermediates: true) } }
        try storage { () throws(SystemError) in try FileSystem.createDirectory(keyDirectory, mode: 0o700) }
        var keys = Keys()
        for role in Keys.roles {
            for index in 1...threshold {
                let key = Curve25519.Signing.PrivateKey()
                let path = keyDirectory + "/\(role)-\(index).ed25519"
                try storage { () throws(SystemError) in
                    try FileSystem.writeAtomically(path, Array((Hex.encode(key.rawRepresentation) + "\n").utf8), mode: 0o600)
                }
                keys.byRole[role, default: []].append(key)
            }
        }
        var root = common("root", version: 1, expires: now + Int64(expiry.days) * 86_400)
        var keyMembers: [String: CanonicalJSONValue] = [:]
        var roles: [String: CanonicalJSONValue] = [:]
        for role in Keys.roles {
            let ids = keys.byRole[role]!.map { key in
                let (id, json) = Keys.describe(key.publicKey)
                keyMembers[id] = json
                return CanonicalJSONValue.string(id)
            }
            roles[role] = .object(["keyids": .array(ids), "threshold": .integer(Int64(threshold))])
        }
        root["keys"] = .object(keyMembers)
        root["roles"] = .object(roles)
        root["consistent_snapshot"] = .bool(true)
        let rootBytes = try sign(.object(root), with: keys.byRole["root"]!)
        try writeMetadata("1.root.json", rootBytes)
        try writePending([:])
        try publishSigned(targets: [:], version: 1, keys: keys, expiry: expiry, now: now)
    }

    /// Copies `file` into the repository as the target of `facts` and adds it to what the next
    /// ``publish(expiry:now:)`` signs (an artifact already there for the same path is replaced),
    /// with a patch to it from each of the `patches` newest earlier releases of the same program and platform
    /// that the repository holds (a patch no smaller than the file is left out).
    /// - Returns: the target path.
    /// - Throws: ``ReleaseChannelError`` naming the file.
    @discardableResult
    public func add(file: String, facts: ReleaseFacts, patches: Int = 3) throws(ReleaseChannelError) -> String {
        guard Self.isProgramName(program) else {
            throw ReleaseChannelError(.invalidArgument, "The program name \"\(TerminalText.escaped(program, limit: 80))\" cannot name releases: give 1 to 64 ASCII letters, digits, '-', '_' or '.', not starting with '.'")
        }
        _ = try currentRoot()
        return try withExclusiveLock(lockPath, what: "the release repository \"\(directory)\"") { () throws(ReleaseChannelError) in
            try addLocked(file: file, facts: facts, patches: patches)
        }
    }

    func addLocked(file: String, facts: ReleaseFacts, patches: Int = 3) throws(ReleaseChannelError) -> String {
        let bytes = try storage { () throws(SystemError) in try FileSystem.readInputFile(file, maxBytes: Self.maximumArtifact, what: "a release artifact") }
        let name = FileSystem.baseName(of: file)
        guard !name.isEmpty, name != ".", name != "..", !name.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F || $0 == "\\" }) else {
            throw ReleaseChannelError(.invalidArgument, "\"\(TerminalText.escaped(file))\" has no usable file name (empty, \".\", \"..\", or with a control character or backslash); copy it to a plain name first")
        }
        let path = facts.targetPath(program: program, fileName: name)
        let sha256 = SHA256.hash(data: bytes).hex
        let targetDirectory = directory + "/targets/" + FileSystem.parent(of: path)
        let stored = targetDirectory + "/" + sha256 + "." + name
        try storage { () throws(SystemError) in try FileSystem.createDirectory(targetDirectory, intermediates: true) }
        try storage { () throws(SystemError) in try FileSystem.writeAtomically(stored, bytes) }
        var pending = try readPending()
        pending[path] = .object([
            "length": .integer(Int64(bytes.count)),
            "hashes": .object(["sha256": .string(sha256), "sha512": .string(Hex.encode(SHA512.hash(data: bytes)))]),
            "custom": facts.json,
        ])
        try addPatches(to: &pending, result: bytes, path: path, facts: facts, count: patches)
        try writePending(pending)
        return path
    }

    /// What ``publish(expiry:now:)`` did.
    public struct Publication: Sendable, Equatable {
        /// The new versions of targets, snapshot and timestamp (nil when nothing had changed).
        public var targetsVersion: Int64?
        public var snapshotVersion: Int64?
        public var timestampVersion: Int64?
        /// The number of targets listed.
        public var targetCount: Int
    }

    /// Signs the pending targets as the next targets version, then snapshot and timestamp.
    /// Nothing is signed when the pending targets are what is published.
    /// - Throws: ``ReleaseChannelError``; the repository is left as clients saw it.
    public func publish(expiry: Expiry = Expiry(), now: Int64) throws(ReleaseChannelError) -> Publication {
        _ = try currentRoot()
        return try withExclusiveLock(lockPath, what: "the release repository \"\(directory)\"") { () throws(ReleaseChannelError) in
            try publishLocked(expiry: expiry, now: now)
        }
    }

    func publishLocked(expiry: Expiry, now: Int64) throws(ReleaseChannelError) -> Publication {
        let keys = try loadKeys()
        let state = try publishedState()
        let pending = try readPending()
        try validatePending(pending, published: state.targets)
        // After `rotate`, metadata signed by retired keys is signed again even with nothing new.
        let root = try currentRoot()
        var current = true
        for (name, role) in [("\(state.targetsVersion).targets.json", "targets"), ("\(state.snapshotVersion).snapshot.json", "snapshot"),
                             ("timestamp.json", "timestamp")] where current {
            current = try signedByListedKey(name, role: role, root: root)
        }
        guard pending != state.targets || !current else {
            return Publication(targetsVersion: nil, snapshotVersion: nil, timestampVersion: nil, targetCount: pending.count)
        }
        let versions = try publishSigned(targets: pending, version: state.targetsVersion + 1, snapshotVersion: state.snapshotVersion + 1,
                                         timestampVersion: state.timestampVersion + 1, keys: keys, expiry: expiry, now: now)
        return Publication(targetsVersion: versions.0, snapshotVersion: versions.1, timestampVersion: versions.2, targetCount: pending.count)
    }

    /// Signs the next timestamp version (same snapshot) with a new expiry: what a cron job runs.
    /// - Returns: the new timestamp version.
    public func refreshTimestamp(expiry: Expiry = Expiry(), now: Int64) throws(ReleaseChannelError) -> Int64 {
        _ = try currentRoot()
        return try withExclusiveLock(lockPath, what: "the release repository \"\(directory)\"") { () throws(ReleaseChannelError) in
            try refreshLocked(expiry: expiry, now: now)
        }
    }

    func refreshLocked(expiry: Expiry, now: Int64) throws(ReleaseChannelError) -> Int64 {
        let keys = try loadKeys()
        let timestamp = try readSigned("timestamp.json")
        guard let version = timestamp["version"]?.integerValue, let meta = timestamp["meta"] else {
            throw ReleaseChannelError(.invalidRepository, "\(metadataDirectory)/timestamp.json lacks version or meta")
        }
        try Self.checkVersion(version, of: "timestamp.json", in: metadataDirectory)
        var signed = common("timestamp", version: version + 1, expires: now + Int64(expiry.timestampDays) * 86_400)
        signed["meta"] = meta
        try writeMetadata("timestamp.json", try sign(.object(signed), with: keys.byRole["timestamp"]!))
        return version + 1
    }

    // MARK: - Internals

    struct Keys {
        static let roles = ["root", "targets", "snapshot", "timestamp"]
        var byRole: [String: [Curve25519.Signing.PrivateKey]] = [:]

        /// The key id (SHA-256 of the key's canonical JSON, as python-tuf computes it) and the key.
        static func describe(_ key: Curve25519.Signing.PublicKey) -> (String, CanonicalJSONValue) {
            let json = CanonicalJSONValue.object(["keytype": .string("ed25519"), "scheme": .string("ed25519"),
                                                  "keyval": .object(["public": .string(Hex.encode(key.rawRepresentation))])])
            return (SHA256.hash(data: try! CanonicalJSON.encode(json)).hex, json)
        }
    }

    struct PublishedState {
        var targets: [String: CanonicalJSONValue]
        var targetsVersion: Int64
        var snapshotVersion: Int64
        var timestampVersion: Int64
    }

    /// Runs `body`, a file operation; its ``SystemError`` already names the action and the path,
    /// so it becomes the message as is (never "Failed to read … Failed to open …").
    func storage<T>(_ body: () throws(SystemError) -> T) throws(ReleaseChannelError) -> T {
        do {
            return try body()
        } catch {
            throw ReleaseChannelError(.storage, "\(error)")
        }
    }

    /// Refuses a metadata version outside 1 to 2⁵³ (the next one is computed from it, and every
    /// JSON reader keeps integers up to 2⁵³ exact): an error, never an overflow.
    static func checkVersion(_ version: Int64, of name: String, in directory: String) throws(ReleaseChannelError) {
        guard (1...(Int64(1) << 53)).contains(version) else {
            throw ReleaseChannelError(.invalidRepository, "\"\(directory)/\(name)\" has version \(version); a version must be from 1 to 2^53")
        }
    }

    /// The largest artifact `add` reads (it is held in memory to hash and copy): 1 GiB.
    public static let maximumArtifact = 1 << 30

    /// True for a program name that can be a target path's first directory: 1 to 64 ASCII
    /// letters, digits, '-', '_' or '.', not starting with '.' (so never `..`, a `/`, a line break).
    public static func isProgramName(_ name: String) -> Bool {
        guard (1...64).contains(name.utf8.count), name.first != "." else { return false }
        return name.utf8.allSatisfy { byte in
            (0x30...0x39).contains(byte) || (0x41...0x5A).contains(byte) || (0x61...0x7A).contains(byte) || byte == 0x2D || byte == 0x5F || byte == 0x2E
        }
    }
    /// The largest repository file read (metadata, `pending.json`): 64 MiB.
    static let maximumMetadata = 64 << 20

    func currentRoot() throws(ReleaseChannelError) -> CanonicalJSONValue {
        guard FileSystem.exists(metadataDirectory + "/1.root.json") else {
            throw ReleaseChannelError(.invalidRepository, "\"\(directory)\" is not a release repository (no metadata/1.root.json); run 'autodev release init' first")
        }
        return try readSigned("\(currentRootVersion()).root.json")
    }

    func loadKeys() throws(ReleaseChannelError) -> Keys {
        let root = try currentRoot()
        let names = (try? FileSystem.contentsOfDirectory(keyDirectory)) ?? []
        var keys = Keys()
        for name in names.sorted() where name.hasSuffix(".ed25519") {
            guard let role = Keys.roles.first(where: { name.hasPrefix($0 + "-") }) else { continue }
            let path = keyDirectory + "/" + name
            let text = String(decoding: try storage { () throws(SystemError) in try FileSystem.readInputFile(path, maxBytes: 4096, what: "a key file") }, as: UTF8.self)
            guard let seed = Hex.decode(text.trimmingWhitespace()), let key = try? Curve25519.Signing.PrivateKey(rawRepresentation: seed) else {
                throw ReleaseChannelError(.invalidRepository, "\"\(path)\" is not an Ed25519 key file")
            }
            // Only the keys the current root lists for the role sign (not retired or unused ones).
            let listed = root["roles"]?[role]?["keyids"]?.arrayValue?.compactMap(\.stringValue) ?? []
            guard listed.contains(Keys.describe(key.publicKey).0) else { continue }
            keys.byRole[role, default: []].append(key)
        }
        for role in Keys.roles {
            let threshold = root["roles"]?[role]?["threshold"]?.integerValue ?? 1
            guard (keys.byRole[role]?.count ?? 0) >= Int(threshold) else {
                throw ReleaseChannelError(.invalidRepository, "\(keyDirectory) holds \(keys.byRole[role]?.count ?? 0) \(role) key(s), \(threshold) must sign")
            }
        }
        return keys
    }

    /// Whether `metadata/<name>` carries a signature by a key `root` lists for `role`.
    func signedByListedKey(_ name: String, role: String, root: CanonicalJSONValue) throws(ReleaseChannelError) -> Bool {
        let path = metadataDirectory + "/" + name
        let bytes = try storage { () throws(SystemError) in try FileSystem.readInputFile(path, maxBytes: Self.maximumMetadata, what: "repository metadata") }
        let listed = Set(root["roles"]?[role]?["keyids"]?.arrayValue?.compactMap(\.stringValue) ?? [])
        let signers = (try? CanonicalJSON.parse(bytes))?["signatures"]?.arrayValue?.compactMap { $0["keyid"]?.stringValue } ?? []
        return signers.contains(where: listed.contains)
    }

    /// The `signed` object of `metadata/<name>`.
    func readSigned(_ name: String) throws(ReleaseChannelError) -> CanonicalJSONValue {
        let path = metadataDirectory + "/" + name
        let bytes = try storage { () throws(SystemError) in try FileSystem.readInputFile(path, maxBytes: Self.maximumMetadata, what: "repository metadata") }
        guard let signed = (try? CanonicalJSON.parse(bytes))?["signed"], signed.objectValue != nil else {
            throw ReleaseChannelError(.invalidRepository, "\"\(path)\" is not TUF metadata")
        }
        return signed
    }

    func publishedState() throws(ReleaseChannelError) -> PublishedState {
        let timestamp = try readSigned("timestamp.json")
        guard let timestampVersion = timestamp["version"]?.integerValue,
              let snapshotVersion = timestamp["meta"]?["snapshot.json"]?["version"]?.integerValue else {
            throw ReleaseChannelError(.invalidRepository, "\(metadataDirectory)/timestamp.json lacks its versions")
        }
        let snapshot = try readSigned("\(snapshotVersion).snapshot.json")
        guard let targetsVersion = snapshot["meta"]?["targets.json"]?["version"]?.integerValue else {
            throw ReleaseChannelError(.invalidRepository, "\(metadataDirectory)/\(snapshotVersion).snapshot.json lacks the targets version")
        }
        for (version, name) in [(timestampVersion, "timestamp.json"), (snapshotVersion, "\(snapshotVersion).snapshot.json"),
                                (targetsVersion, "\(targetsVersion).targets.json")] {
            try Self.checkVersion(version, of: name, in: metadataDirectory)
        }
        let targets = try readSigned("\(targetsVersion).targets.json")
        return PublishedState(targets: targets["targets"]?.objectValue ?? [:], targetsVersion: targetsVersion,
                              snapshotVersion: snapshotVersion, timestampVersion: timestampVersion)
    }

    func readPending() throws(ReleaseChannelError) -> [String: CanonicalJSONValue] {
        // Never through a link: what is signed is the file in this repository, not one elsewhere.
        let read = try storage { () throws(SystemError) in try FileSystem.readOwnFile(pendingPath, maxBytes: Self.maximumMetadata + 1) }
        guard let bytes = read else {
            throw ReleaseChannelError(.invalidRepository, "\"\(pendingPath)\" is missing; is \"\(directory)\" a release repository ('autodev release init')?")
        }
        guard bytes.count <= Self.maximumMetadata else {
            throw ReleaseChannelError(.invalidRepository, "\"\(pendingPath)\" is larger than \(ByteCount.text(Self.maximumMetadata)), the most pending.json may be")
        }
        guard let pending = (try? CanonicalJSON.parse(bytes))?.objectValue else {
            throw ReleaseChannelError(.invalidRepository, "\"\(pendingPath)\" is not a JSON object")
        }
        return pending
    }

    func writePending(_ targets: [String: CanonicalJSONValue]) throws(ReleaseChannelError) {
        let bytes = JSONText.encode(.object(targets))
        try storage { () throws(SystemError) in try FileSystem.writeAtomically(pendingPath, bytes) }
    }

    func writeMetadata(_ name: String, _ bytes: [UInt8]) throws(ReleaseChannelError) {
        let path = metadataDirectory + "/" + name
        try storage { () throws(SystemError) in try FileSystem.writeAtomically(path, bytes) }
    }

    func common(_ type: String, version: Int64, expires: Int64) -> [String: CanonicalJSONValue] {
        ["_type": .string(type), "spec_version": .string("1.0.31"), "version": .integer(version),
         "expires": .string(WallClock.iso8601(Double(expires)))]
    }

    /// The envelope of `signed`, signed over its canonical form by each of `keys`.
    func sign(_ signed: CanonicalJSONValue, with keys: [Curve25519.Signing.PrivateKey]) throws(ReleaseChannelError) -> [UInt8] {
        guard let message = try? CanonicalJSON.encode(signed) else { throw ReleaseChannelError(.invalidArgument, "Metadata with a non-integer number cannot be signed") }
        var signatures: [CanonicalJSONValue] = []
        for key in keys {
            guard let signature = try? key.signature(for: message) else { throw ReleaseChannelError(.invalidRepository, "An Ed25519 key failed to sign") }
            signatures.append(.object(["keyid": .string(Keys.describe(key.publicKey).0), "sig": .string(Hex.encode(signature))]))
        }
        return JSONText.encode(.object(["signed": signed, "signatures": .array(signatures)]))
    }

    static func meta(_ version: Int64, _ bytes: [UInt8]) -> CanonicalJSONValue {
        .object(["version": .integer(version), "length": .integer(Int64(bytes.count)),
                 "hashes": .object(["sha256": .string(SHA256.hash(data: bytes).hex)])])
    }

    /// Writes targets, snapshot, then timestamp (the commit point).
    @discardableResult
    func publishSigned(targets: [String: CanonicalJSONValue], version: Int64, snapshotVersion: Int64? = nil, timestampVersion: Int64? = nil,
                       keys: Keys, expiry: Expiry, now: Int64) throws(ReleaseChannelError) -> (Int64, Int64, Int64) {
        let expires = now + Int64(expiry.days) * 86_400
        var targetsSigned = common("targets", version: version, expires: expires)
        targetsSigned["targets"] = .object(targets)
        let targetsBytes = try sign(.object(targetsSigned), with: keys.byRole["targets"]!)
        let snapshotVersion = snapshotVersion ?? version
        var snapshotSigned = common("snapshot", version: snapshotVersion, expires: expires)
        snapshotSigned["meta"] = .object(["targets.json": Self.meta(version, targetsBytes)])
        let snapshotBytes = try sign(.object(snapshotSigned), with: keys.byRole["snapshot"]!)
        let timestampVersion = timestampVersion ?? version
        var timestampSigned = common("timestamp", version: timestampVersion, expires: now + Int64(expiry.timestampDays) * 86_400)
        timestampSigned["meta"] = .object(["snapshot.json": Self.meta(snapshotVersion, snapshotBytes)])
        let timestampBytes = try sign(.object(timestampSigned), with: keys.byRole["timestamp"]!)
        try writeMetadata("\(version).targets.json", targetsBytes)
        try writeMetadata("\(snapshotVersion).snapshot.json", snapshotBytes)
        try writeMetadata("timestamp.json", timestampBytes)
        return (version, snapshotVersion, timestampVersion)
    }
}

extension String {
    func trimmingWhitespace() -> String {
        var scalars = Substring(self)
        while let first = scalars.first, first.isWhitespace { scalars.removeFirst() }
        while let last = scalars.last, last.isWhitespace { scalars.removeLast() }
        return String(scalars)
    }
}
