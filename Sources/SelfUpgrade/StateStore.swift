import FoundationEssentials
import Platform
import Storage

/// One step of a state schema's history: turns the encoding of schema `from` into `from + 1`.
public struct StateMigration: Sendable {
    public let from: Int
    public let transform: @Sendable (Data) throws -> Data

    public init(from: Int, transform: @escaping @Sendable (Data) throws -> Data) {
        self.from = from
        self.transform = transform
    }

    /// A migration written with the old and new types: decode `Old`, convert, encode `New`.
    public static func converting<Old: Decodable & Sendable, New: Encodable & Sendable>(
        from: Int, _ old: Old.Type, to new: New.Type, _ convert: @escaping @Sendable (Old) throws -> New
    ) -> StateMigration {
        StateMigration(from: from) { data in
            try StateStore<JSONValue>.encoder.encode(try convert(try JSONDecoder().decode(Old.self, from: data)))
        }
    }
}

/// Versioned, atomically written snapshots of a program's state.
///
/// A snapshot is one file, `<directory>/<name>.json`: a header line `{"schema":N,...}` and the
/// state's JSON. Loading an older schema runs the migrations in order; when a save changes the
/// schema, the older snapshot is kept as `<name>.v<N>.json`, so a version rolled back to can
/// still load the state in the schema it knows.
public struct StateStore<State: Codable & Sendable>: Sendable {
    public let directory: String
    public let name: String
    /// The schema this program writes.
    public let schema: Int
    public let migrations: [StateMigration]
    /// Reads the state of ``schema`` without `JSONDecoder` (whose first use in a process costs
    /// more than the rest of a rollback's reading); nil for a form it does not take, which the
    /// decoder then reads. It must agree with the decoder on everything it takes
    /// (``StrictJSONObject`` reads the fields).
    public var strictReader: (@Sendable ([UInt8]) -> State?)?

    public init(directory: String, name: String, schema: Int, migrations: [StateMigration] = []) {
        self.directory = directory
        self.name = name
        self.schema = schema
        self.migrations = migrations
    }

    /// The snapshot file.
    public var path: String { directory + "/" + name + ".json" }

    /// Loads and migrates the snapshot; nil when there is none.
    /// - Throws: ``UpgradeError`` `homeDamaged` when the file is damaged, newer than ``schema``
    ///   with no older copy kept, or has no migration path; `system` when it cannot be read.
    public func load() throws(UpgradeError) -> (state: State, foundSchema: Int, path: String)? {
        try UpgradeError.wrapping {
            guard let (found, body) = try Self.read(path) else { return nil }
            if found > schema {
                let older = directory + "/" + name + ".v\(schema).json"
                guard let (olderSchema, olderBody) = try Self.read(older) else {
                    throw StorageError.newerState(path: path, schema: found, supported: schema)
                }
                return (try decodeMigrating(olderBody, schema: olderSchema, path: older), olderSchema, older)
            }
            return (try decodeMigrating(body, schema: found, path: path), found, path)
        }
    }

    /// Writes the snapshot atomically (temporary file, fsync, rename, fsync of the directory).
    /// - Parameter durable: false leaves out the two fsyncs, for state that can be derived again
    ///   (counters the journal also records): a power cut may then lose the write, never tear it.
    ///   An older schema's copy kept beside it is always written durably.
    /// - Throws: ``UpgradeError`` `system` naming the file and the step that failed.
    public func save(_ state: State, durable: Bool = true) throws(UpgradeError) {
        // Encoded first: a state that cannot be encoded leaves the directory as it was.
        let encoded = try encode(state)
        try UpgradeError.wrapping {
            try FileSystem.createDirectory(directory, mode: 0o755, intermediates: true)
            if let bytes = try FileSystem.readOwnFile(path, maxBytes: Self.largestFileBytes, what: "a state snapshot"),
               let (found, _) = try? Self.split(bytes, path: path), found != schema {
                try FileSystem.writeAtomically(directory + "/" + name + ".v\(found).json", bytes)
            }
            try FileSystem.writeAtomically(path, encoded, mode: 0o644, owner: nil, durable: durable)
        }
    }

    /// The bytes ``save(_:)`` writes for `state`.
    /// - Throws: ``UpgradeError`` `system` naming the state file, with the encoder's error as its
    ///   underlying one, when `state` cannot be encoded (a NaN, say).
    public func encode(_ state: State) throws(UpgradeError) -> [UInt8] {
        let body: Data
        do {
            body = try Self.encoder.encode(state)
        } catch {
            throw UpgradeError(.system, "Cannot encode the state for \"\(path)\": \(error)", path: path, underlying: error)
        }
        return Array(#"{"schema":\#(schema)}"#.utf8) + [UInt8(ascii: "\n")] + Array(body) + [UInt8(ascii: "\n")]
    }

    /// Decodes state of schema `found` from its JSON, migrating it to ``schema``.
    /// - Throws: ``UpgradeError`` `homeDamaged` when there is no migration path, a migration
    ///   fails, or the result is not a `State`.
    public func decode(_ body: Data, schema found: Int, path: String) throws(UpgradeError) -> State {
        try UpgradeError.wrapping { try decodeMigrating(body, schema: found, path: path) }
    }

    /// ``decode(_:schema:path:)``, throwing ``StorageError``.
    func decodeMigrating(_ body: Data, schema found: Int, path: String) throws -> State {
        if found == schema, let strictReader, let state = strictReader(Array(body)) { return state }
        var data = body
        var current = found
        while current < schema {
            guard let migration = migrations.first(where: { $0.from == current }) else {
                throw StorageError.missingMigration(path: path, from: current)
            }
            do {
                data = try migration.transform(data)
            } catch {
                throw StorageError.corruptState(path: path, reason: "migration from schema \(current) failed: \(error)")
            }
            current += 1
        }
        do {
            return try JSONDecoder().decode(State.self, from: data)
        } catch {
            throw StorageError.corruptState(path: path, reason: "\(error)")
        }
    }

    /// The snapshot at `path` as generic JSON after migration to ``schema``, to compare with
    /// what the state type keeps of it; nil when there is none.
    package func migratedJSON(at path: String) throws -> JSONValue? {
        guard let (found, body) = try Self.read(path) else { return nil }
        return try StateStore<JSONValue>(directory: directory, name: name, schema: schema, migrations: migrations)
            .decodeMigrating(body, schema: found, path: path)
    }

    // MARK: - Internals

    static var encoder: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }

    /// The largest snapshot read: a state file past it is refused (naming it) rather than read
    /// into memory by every restart's health check.
    public static var largestFileBytes: Int { StateFile.largestBytes }

    /// Reads a snapshot file (never through a link, at most ``largestFileBytes``) and splits it
    /// into its schema and body.
    static func read(_ path: String) throws -> (Int, Data)? {
        try StateFile.read(path).map { ($0.schema, Data($0.body)) }
    }

    static func split(_ bytes: [UInt8], path: String) throws -> (Int, Data) {
        let (schema, body) = try StateFile.split(bytes, path: path)
        return (schema, Data(body))
    }
}

/// What every ``StateStore`` shares, outside the generic type (a program's fast path reads
/// its state file without making one).
public enum StateFile {
    /// The largest snapshot a store reads (``StateStore/largestFileBytes``).
    public static let largestBytes = 64 << 20

    /// Reads a snapshot file (never through a link, at most ``largestBytes``) and splits it into
    /// its schema and body; nil when there is none.
    /// - Throws: ``StorageError`` (no schema header) or ``SystemError``, naming the file.
    public static func read(_ path: String) throws -> (schema: Int, body: [UInt8])? {
        guard let bytes = try FileSystem.readOwnFile(path, maxBytes: largestBytes, what: "a state snapshot") else { return nil }
        return try split(bytes, path: path)
    }

    /// Splits a snapshot file's bytes into the schema its first line names (`{"schema":N}`, N
    /// a whole number from 0 to 2³¹ − 1) and the body after it.
    /// - Throws: ``StorageError/corruptState(path:reason:)`` saying what is wrong with the first
    ///   line: "it is empty", or "no schema header: …", or the schema that is out of range.
    package static func split(_ bytes: [UInt8], path: String) throws(StorageError) -> (schema: Int, body: [UInt8]) {
        guard let newline = bytes.firstIndex(of: UInt8(ascii: "\n")) else {
            throw .corruptState(path: path, reason: bytes.isEmpty ? "it is empty" : "no schema header: its first line does not end")
        }
        let line = bytes[..<newline]
        let schemaRange = 0...Int(Int32.max)
        // The header as this library writes it, read without the decoder; another form by it.
        let named: Double
        if let value = try? JSONValue(parsing: line, maxDepth: 2) {
            guard case .object(let fields) = value else {
                throw .corruptState(path: path, reason: "no schema header: its first line is not a JSON object")
            }
            guard let schema = fields["schema"] else {
                throw .corruptState(path: path, reason: "no schema header: its first line has no \"schema\" field")
            }
            guard case .number(let number) = schema else {
                throw .corruptState(path: path, reason: "its schema header's \"schema\" is not a number")
            }
            named = number
        } else if let header = try? JSONDecoder().decode(Header.self, from: Data(line)) {
            named = Double(header.schema)
        } else {
            throw .corruptState(path: path, reason: "no schema header: its first line is not JSON")
        }
        guard named.isFinite, let schema = Int(exactly: named), schemaRange.contains(schema) else {
            // Beyond 10¹⁵ a double no longer says which number the file wrote: not quoted.
            guard named.isFinite, named.magnitude < 1e15 else {
                throw .corruptState(path: path, reason: "its schema header names a schema out of range (0 to \(schemaRange.upperBound))")
            }
            let shown = named.rounded() == named ? String(Int64(named)) : "\(named)"
            throw .corruptState(path: path, reason: "its schema header names schema \(shown), not a whole number from 0 to \(schemaRange.upperBound)")
        }
        return (schema, Array(bytes[(newline + 1)...]))
    }

    private struct Header: Decodable { var schema: Int }
}

/// A JSON object read strictly, for a ``StateStore/strictReader``: typed access to its fields,
/// nil wherever a field is not exactly what is asked for (the reader then returns nil and the
/// decoder reads the file, with its own errors).
public struct StrictJSONObject: Sendable {
    private let fields: FieldReader

    /// Parses `bytes` as one JSON object, nested at most `maxDepth` deep (at most 64); nil for
    /// anything else.
    public init?(parsing bytes: [UInt8], maxDepth: Int = 8) {
        guard let value = try? JSONValue(parsing: bytes, maxDepth: min(max(maxDepth, 1), 64)), case .object(let fields) = value else { return nil }
        self.fields = FieldReader(fields: fields)
    }

    private init(fields: [String: JSONValue]) { self.fields = FieldReader(fields: fields) }

    /// The object in field `name`; nil when it is missing or not an object.
    public func object(_ name: String) -> StrictJSONObject? {
        guard case .object(let nested)? = fields.fields[name] else { return nil }
        return StrictJSONObject(fields: nested)
    }

    /// The whole number in field `name`, within `range`; nil when it is missing, not a number,
    /// not whole, out of range, or beyond ±(2⁵³ − 1), where a double (as JSON numbers are read)
    /// no longer holds every whole number and `JSONDecoder` may read another value.
    public func integer(_ name: String, in range: ClosedRange<Int>) -> Int? {
        guard case .number(let number)? = fields.fields[name], number.isFinite, number.magnitude <= 9_007_199_254_740_991,
              let value = Int(exactly: number), range.contains(value) else { return nil }
        return value
    }

    /// The text in field `name`: `.some(nil)` when the field is missing or null, nil when it is
    /// something other than a string.
    public func optionalString(_ name: String) -> String?? {
        do { return .some(try fields.optionalString(name)) } catch { return nil }
    }
}
