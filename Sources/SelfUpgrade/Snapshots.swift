import FoundationEssentials
import Integrity
import Platform
import Storage

/// The configuration and state of a home as they were when a transaction began: what a
/// rollback with ``Upgrader/UpgradeOptions/restoresState`` puts back, and what the doctor
/// restores a damaged file from.
public struct StateSnapshot: Sendable, Codable, Equatable {
    /// Its name in `<home>/snapshots` (`<sequence>-<transaction>`).
    public var name: String
    /// Its place in the order snapshots were taken (1, 2, …).
    public var sequence: Int
    /// The transaction that took it.
    public var transaction: String
    /// The version that was running with this state (the transaction's `from`).
    public var version: VersionID?
    /// When it was taken (seconds since 1970).
    public var time: Double
    /// The files it holds: path relative to the home → SHA-256 of the content.
    public var files: [String: String]
    /// The snapshot its transaction restored (a rollback with
    /// ``Upgrader/UpgradeOptions/restoresState``); this one is put back if that transaction is undone.
    public var restored: String?
}

/// Snapshots of configuration and state, content-addressed under `<home>/snapshots`:
///
///     <home>/snapshots/objects/<sha256>          a file's content, stored once however many snapshots hold it
///     <home>/snapshots/<sequence>-<tx>.json     which content each file had: {"format":1, "files":{…}, …}
///
/// A snapshot holds `config.json`, `state/*.json`, `channel/config.json` and the channel's
/// trusted `root.json` (each a regular file of at most 16 MiB). Taking one reads and hashes
/// those small files; when they and the running version are what the newest snapshot holds,
/// nothing is written. Otherwise only content not stored yet is written, and the manifest,
/// each under a temporary name renamed into place with no fsync: every reader checks an
/// object against its name and a manifest by parsing it, so a crash can lose the newest
/// snapshot but never pass off a torn one, and the rollback path gains no flush.
///
/// The newest ``keep`` snapshots are kept, and always the newest of the version current and of
/// the previous one (what a rollback with `restoresState` needs); others are removed with the
/// content no kept snapshot names, in batches: once twice ``keep`` manifests are there.
package struct SnapshotStore: Sendable {
    package let home: Home
    /// How many of the newest snapshots are kept besides those current and previous need.
    package static let keep = 5
    /// The largest file a snapshot holds.
    static let maximumFileBytes = 16 << 20

    package init(home: Home) { self.home = home }

    package var directory: String { home.root + "/snapshots" }
    var objects: String { directory + "/objects" }

    // MARK: - Taking

    /// Snapshots the configuration and state as they are now, with the running `version`.
    /// - Parameters:
    ///   - retaining: versions whose newest snapshot is never pruned (current, previous).
    ///   - restoring: the snapshot the transaction is about to restore: this one is then always
    ///     written (even when nothing changed), so that an undo of the transaction finds it.
    /// - Returns: the snapshot that holds the current state: the new one, or, when nothing
    ///   changed since the newest snapshot of `version` (one of the newest two), that one (then
    ///   nothing was written).
    /// - Throws: ``SystemError`` or ``StorageError`` when the snapshot directory is not a real
    ///   directory or cannot be written.
    @discardableResult
    package func take(version: SHA256Digest?, transaction: String, retaining: Set<SHA256Digest>, restoring: String? = nil) throws -> StateSnapshot {
        var files: [String: String] = [:]
        var contents: [String: [UInt8]] = [:]
        for path in capturedPaths() {
            guard let bytes = Self.readSmall(home.root + "/" + path) else { continue }
            let digest = SHA256.hash(data: bytes).hex
            files[path] = digest
            contents[digest] = bytes
        }
        // Only the newest two manifests are read here: the others are read when pruning is due.
        // Nothing is written when the newest snapshot of `version` among them holds these files:
        // rollbacks back and forth between two versions leave the state as it was, so the
        // snapshot each would write is already there.
        let names = manifestNames()
        var recent: [StateSnapshot] = []
        for name in names.reversed() where recent.count < 2 {
            if let snapshot = read(name) { recent.append(snapshot) }
        }
        let newest = recent.first
        if restoring == nil, let same = recent.first(where: { $0.version?.digest == version }), same.files == files { return same }
        try ownDirectory(directory)
        try ownDirectory(objects)
        for (digest, bytes) in contents where try FileSystem.statusIfPresent(objects + "/" + digest, followLinks: false) == nil {
            try FileSystem.replaceWithoutSync(objects + "/" + digest, bytes, mode: 0o600)
        }
        let sequence = (newest?.sequence ?? 0) + 1
        // A foreign manifest numbered at the end of the range: what would follow it could not be
        // read back (nor ordered by its name), so nothing is written past it.
        guard sequence <= Self.largestSequence else {
            throw StorageError.corruptState(path: directory + "/" + (newest?.name ?? "") + ".json",
                                            reason: "it has the largest sequence a snapshot may have (\(Self.largestSequence)), so no snapshot can follow it; move it aside")
        }
        let name = String(Self.fileName(sequence: sequence, transaction: transaction).dropLast(5))
        let snapshot = StateSnapshot(name: name, sequence: sequence, transaction: transaction, version: version.map(VersionID.init),
                                     time: WallClock.now(), files: files, restored: restoring)
        let manifest = Manifest(format: 1, sequence: sequence, transaction: transaction, version: version?.hex, time: snapshot.time, files: files,
                                restored: restoring)
        try FileSystem.replaceWithoutSync(directory + "/" + name + ".json", try manifest.json.serialized() + [10], mode: 0o600)
        // Pruned in batches (when twice as many as kept are there), so most snapshots read no
        // other manifest.
        if names.count + 1 > 2 * Self.keep { prune(list(), retaining: retaining) }
        return snapshot
    }

    /// The files a snapshot holds that exist now, relative to the home.
    func capturedPaths() -> [String] {
        let state = ((try? FileSystem.contentsOfDirectory(home.state)) ?? []).filter { !$0.hasPrefix(".") && $0.hasSuffix(".json") }
        return ["config.json", "channel/config.json", "channel/metadata/root.json"] + state.map { "state/" + $0 }
    }

    /// A regular file's bytes, read without following a link or blocking; nil when absent, not
    /// a regular file, or larger than ``maximumFileBytes``.
    static func readSmall(_ path: String) -> [UInt8]? {
        guard let bytes = try? FileSystem.readOwnFile(path, maxBytes: maximumFileBytes + 1), bytes.count <= maximumFileBytes else { return nil }
        return bytes
    }

    // MARK: - Reading

    /// Every readable snapshot, oldest first (a torn or foreign manifest is skipped).
    package func list() -> [StateSnapshot] {
        manifestNames().compactMap(read).sorted { $0.sequence < $1.sequence }
    }

    /// The largest sequence a snapshot may have: eight digits, so that names sort as sequences.
    static let largestSequence = 99_999_999

    /// A transaction's id as the engine makes them (`tx-…`, `doctor-…`): ASCII letters, digits
    /// and `-`, `_`, `.`, not starting with `.`: a name shown and compared byte for byte.
    static func isTransactionName(_ name: String) -> Bool {
        !name.isEmpty && name.utf8.count <= 200 && !name.hasPrefix(".")
            && name.utf8.allSatisfy { $0 < 0x80 && (Character(Unicode.Scalar($0)).isLetter || Character(Unicode.Scalar($0)).isNumber || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: ".")) }
    }

    /// A manifest's file name: the sequence, zero-padded to eight digits, the transaction, `.json`.
    static func fileName(sequence: Int, transaction: String) -> String {
        let number = String(sequence)
        return String(repeating: "0", count: max(0, 8 - number.count)) + number + "-" + transaction + ".json"
    }

    /// The manifests' file names, in the order they were taken (the sequence leads the name).
    private func manifestNames() -> [String] {
        guard (try? FileSystem.statusIfPresent(directory, followLinks: false))?.kind == .directory,
              let names = try? FileSystem.contentsOfDirectory(directory) else { return [] }
        return names.filter { $0.hasSuffix(".json") && !$0.hasPrefix(".") }.sorted()
    }

    /// One manifest, or nil when it is torn, foreign or not a regular file.
    private func read(_ name: String) -> StateSnapshot? {
        guard let bytes = try? FileSystem.readOwnFile(directory + "/" + name, maxBytes: 1 << 20),
              let manifest = Manifest(parsing: bytes) ?? (try? JSONDecoder().decode(Manifest.self, from: Data(bytes))),
              manifest.format == 1,
              // The decoder's reading (an older or newer writer's form) is held to the strict
              // parser's range, and the name must be the one `take` gives it: a planted manifest
              // numbered near Int.max, below 0 or out of its name's order is foreign.
              (0...Self.largestSequence).contains(manifest.sequence), Self.isTransactionName(manifest.transaction),
              name == Self.fileName(sequence: manifest.sequence, transaction: manifest.transaction)
        else { return nil }
        let version = manifest.version.flatMap(SHA256Digest.init(hex:)).map(VersionID.init)
        return StateSnapshot(name: String(name.dropLast(5)), sequence: manifest.sequence, transaction: manifest.transaction,
                             version: version, time: manifest.time, files: manifest.files, restored: manifest.restored)
    }

    /// The newest snapshot taken while `version` was running.
    package func newest(for version: SHA256Digest) -> StateSnapshot? {
        list().last { $0.version?.digest == version }
    }

    /// The content a snapshot holds for `path` (relative to the home), checked against its
    /// hash; nil when it holds none or the stored content is damaged.
    package func contents(of path: String, in snapshot: StateSnapshot) -> [UInt8]? {
        guard let digest = snapshot.files[path], SHA256Digest(hex: digest) != nil,
              let bytes = Self.readSmall(objects + "/" + digest), SHA256.hash(data: bytes).hex == digest else { return nil }
        return bytes
    }

    // MARK: - Restoring

    /// Writes every file the snapshot holds back in place (each atomically and durably, never
    /// through a link: the file is replaced by a rename). Files it does not hold are left.
    /// - Returns: the paths restored, relative to the home.
    /// - Throws: ``StorageError/corruptState(path:reason:)`` naming a file whose stored content is
    ///   damaged (nothing is written then), or ``SystemError``.
    @discardableResult
    package func restore(_ snapshot: StateSnapshot) throws -> [String] {
        var restored: [(String, [UInt8])] = []
        for path in snapshot.files.keys.sorted() {
            guard let bytes = contents(of: path, in: snapshot) else {
                throw StorageError.corruptState(path: objects + "/" + (snapshot.files[path] ?? ""), reason: "the content snapshot \(snapshot.name) holds for \(path) is damaged")
            }
            restored.append((path, bytes))
        }
        for (path, bytes) in restored {
            let target = home.root + "/" + path
            try ownDirectory(FileSystem.parent(of: target))
            try FileSystem.writeAtomically(target, bytes, mode: 0o644)
        }
        return restored.map(\.0)
    }

    /// Undoes a restore: when `transaction` restored a snapshot, the configuration and state
    /// it replaced (the snapshot it took first) are written back. Best effort: a transaction
    /// being undone must not fail on it (the snapshots stay for `rollback --restore-state`).
    package func undoRestore(of transaction: String) {
        guard let taken = list().last(where: { $0.transaction == transaction && $0.restored != nil }) else { return }
        _ = try? restore(taken)
    }

    // MARK: - Internals

    package struct Manifest: Codable, Equatable {
        var format: Int
        var sequence: Int
        var transaction: String
        var version: String?
        var time: Double
        var files: [String: String]
        var restored: String?

        /// The manifest as JSON (the keys of its `Codable` form; an absent optional left out).
        package var json: JSONValue {
            var fields: [String: JSONValue] = ["format": .number(Double(format)), "sequence": .number(Double(sequence)),
                                               "transaction": .string(transaction), "time": .number(time),
                                               "files": .object(files.mapValues(JSONValue.string))]
            fields["version"] = version.map(JSONValue.string)
            fields["restored"] = restored.map(JSONValue.string)
            return .object(fields)
        }

        /// Reads what ``json`` writes with the strict parser; nil for anything else (the decoder
        /// then reads it, or it is skipped).
        package init?(parsing bytes: [UInt8]) {
            guard let value = try? JSONValue(parsing: bytes, maxDepth: 4), case .object(let fields) = value,
                  case .object(let named)? = fields["files"] else { return nil }
            let reader = FieldReader(fields: fields)
            var files: [String: String] = [:]
            for (path, digest) in named {
                guard case .string(let text) = digest else { return nil }
                files[path] = text
            }
            // Each optional read on its own: `try?` would flatten an absent one into a failure.
            let format: Int, sequence: Int, transaction: String, time: Double, version: String?, restored: String?
            do throws(JournalFieldError) {
                format = try reader.integer("format", in: 0...1_000_000)
                sequence = try reader.integer("sequence", in: 0...Int(Int32.max))
                transaction = try reader.string("transaction")
                time = try reader.number("time", in: -1e300...1e300)
                version = try reader.optionalString("version")
                restored = try reader.optionalString("restored")
            } catch {
                return nil
            }
            self.init(format: format, sequence: sequence, transaction: transaction, version: version, time: time, files: files, restored: restored)
        }

        package init(format: Int, sequence: Int, transaction: String, version: String?, time: Double, files: [String: String], restored: String?) {
            self.format = format
            self.sequence = sequence
            self.transaction = transaction
            self.version = version
            self.time = time
            self.files = files
            self.restored = restored
        }
    }

    /// Removes snapshots beyond the newest ``keep`` that no retained version needs, then the
    /// content no kept snapshot names. Best effort: what cannot be removed stays.
    private func prune(_ snapshots: [StateSnapshot], retaining: Set<SHA256Digest>) {
        var kept = Set(snapshots.suffix(Self.keep).map(\.name))
        for version in retaining {
            if let newest = snapshots.last(where: { $0.version?.digest == version }) { kept.insert(newest.name) }
        }
        for snapshot in snapshots where !kept.contains(snapshot.name) {
            try? FileSystem.removeFile(directory + "/" + snapshot.name + ".json")
        }
        guard snapshots.count > kept.count else { return }
        let named = Set(snapshots.filter { kept.contains($0.name) }.flatMap(\.files.values))
        for object in (try? FileSystem.contentsOfDirectory(objects)) ?? [] where !named.contains(object) && !object.hasPrefix(".") {
            try? FileSystem.removeFile(objects + "/" + object)
        }
    }

    /// Makes `path` a directory if it is missing, and refuses one that is a link or not a directory.
    private func ownDirectory(_ path: String) throws {
        if try FileSystem.statusIfPresent(path, followLinks: false) == nil {
            try FileSystem.createDirectory(path, mode: 0o700)
        }
        guard try FileSystem.status(path, followLinks: false).kind == .directory else {
            throw StorageError.notADirectory(path: path)
        }
    }
}

extension Upgrader {
    /// The snapshots of configuration and state the home keeps, oldest first.
    public func snapshots() -> [StateSnapshot] {
        SnapshotStore(home: home).list()
    }
}
