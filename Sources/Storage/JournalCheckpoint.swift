import FoundationEssentials
import Integrity

/// What the journal proves up to one record, in a form read in constant time: the first line of
/// an active journal whose older records were archived (``Journal/rotate(keeping:hook:)``).
///
/// On disk it is one line framed like a record (`<crc32 hex> <json>`), whose JSON is
/// `{"kind":"checkpoint","sequence":<last record covered>,"time":…,"v":1,"format":1,
/// "state":"<the state's JSON, as a string>","sha256":"<SHA-256 of that string>"}`. Its
/// `sequence` is never 1, so a release older than checkpoints, which requires a journal to start
/// at record 1 with the home's adoption, refuses such a journal ("it starts at record N, not 1")
/// instead of misreading it.
///
/// A checkpoint is believed only when its frame, digest, format and every value check out; one
/// that does not is set aside and the records it stands for are read from the archive instead.
/// It proves nothing the records it summarises did not: a user who can write the home can write
/// either.
package struct JournalCheckpoint: Sendable, Equatable {
    /// The checkpoint format this release writes and reads.
    package static let currentFormat = 1
    /// Largest number of history entries (or named versions) a checkpoint may hold.
    static let largestList = 100_000
    /// The most JSON values a checkpoint's state may hold: its eight lists at their largest (a
    /// history entry is seven values, a name or first transaction three, a digest one: 22 for
    /// one item of each), and its few other fields.
    static let largestStateValues = 24 * largestList

    /// One version in force, as the ledger tells it.
    package struct Entry: Codable, Sendable, Equatable {
        package var id: SHA256Digest
        package var version: String?
        package var since: Double
        /// `adopt`, `upgrade`, `rollback` or `repair`.
        package var via: String
        package var transaction: String?
        package var source: String?

        package init(id: SHA256Digest, version: String?, since: Double, via: String, transaction: String?, source: String?) {
            self.id = id
            self.version = version
            self.since = since
            self.via = via
            self.transaction = transaction
            self.source = source
        }
    }

    /// A version and a name.
    package struct Named: Codable, Sendable, Equatable {
        package var id: SHA256Digest
        package var name: String
        package init(id: SHA256Digest, name: String) {
            self.id = id
            self.name = name
        }
    }

    /// A version and the position (0-based, in journal order) of a transaction.
    package struct Position: Codable, Sendable, Equatable {
        package var id: SHA256Digest
        package var position: Int
        package init(id: SHA256Digest, position: Int) {
            self.id = id
            self.position = position
        }
    }

    /// A transaction with a log directory, and its position.
    package struct Logged: Codable, Sendable, Equatable {
        package var transaction: String
        package var position: Int
        package init(transaction: String, position: Int) {
            self.transaction = transaction
            self.position = position
        }
    }

    /// What the records up to ``through`` prove, restricted to what a command can still need.
    package struct State: Codable, Sendable, Equatable {
        /// The summarised journal started with record 1, an adoption.
        package var wellFormed: Bool
        /// How many transactions the summarised records began.
        package var transactions: Int
        /// The latest entry of each version still needed, in history order.
        package var history: [Entry]
        /// The version name each needed version was last given by an adoption or a step.
        package var versionNames: [Named]
        /// The version name the latest transaction to each needed version reported.
        package var transactionNames: [Named]
        package var pruned: [SHA256Digest]
        package var known: [SHA256Digest]
        package var namedByUnknown: [SHA256Digest]
        /// The first committed transaction that brought each needed version.
        package var firstBrought: [Position]
        /// Transactions that had a log directory when the checkpoint was written.
        package var logged: [Logged]

        package init(wellFormed: Bool, transactions: Int, history: [Entry], versionNames: [Named], transactionNames: [Named],
                     pruned: [SHA256Digest], known: [SHA256Digest], namedByUnknown: [SHA256Digest],
                     firstBrought: [Position], logged: [Logged]) {
            self.wellFormed = wellFormed
            self.transactions = transactions
            self.history = history
            self.versionNames = versionNames
            self.transactionNames = transactionNames
            self.pruned = pruned
            self.known = known
            self.namedByUnknown = namedByUnknown
            self.firstBrought = firstBrought
            self.logged = logged
        }
    }

    /// The last record the checkpoint stands for.
    package var through: Int
    package var time: Double
    package var format: Int
    package var state: State

    package init(through: Int, time: Double, state: State) {
        self.through = through
        self.time = time
        self.format = Self.currentFormat
        self.state = state
    }
}

// MARK: - Encoding

extension JournalCheckpoint.State {
    /// The state as a JSON value: the keys its `Codable` form has (a version id as its hex), an
    /// absent optional left out.
    package var json: JSONValue {
        func digests(_ ids: [SHA256Digest]) -> JSONValue { .array(ids.map { .string($0.hex) }) }
        func named(_ list: [JournalCheckpoint.Named]) -> JSONValue { .array(list.map { .object(["id": .string($0.id.hex), "name": .string($0.name)]) }) }
        return .object([
            "wellFormed": .bool(wellFormed),
            "transactions": .number(Double(transactions)),
            "history": .array(history.map { entry in
                var fields: [String: JSONValue] = ["id": .string(entry.id.hex), "since": .number(entry.since), "via": .string(entry.via)]
                fields["version"] = entry.version.map(JSONValue.string)
                fields["transaction"] = entry.transaction.map(JSONValue.string)
                fields["source"] = entry.source.map(JSONValue.string)
                return .object(fields)
            }),
            "versionNames": named(versionNames),
            "transactionNames": named(transactionNames),
            "pruned": digests(pruned),
            "known": digests(known),
            "namedByUnknown": digests(namedByUnknown),
            "firstBrought": .array(firstBrought.map { .object(["id": .string($0.id.hex), "position": .number(Double($0.position))]) }),
            "logged": .array(logged.map { .object(["transaction": .string($0.transaction), "position": .number(Double($0.position))]) }),
        ])
    }

    /// Reads the state from its JSON value; ranges are checked by the checkpoint's reader.
    package init(json: JSONValue) throws(JournalFieldError) {
        let limit = JournalCheckpoint.largestList
        let reader = try FieldReader(json, what: "the state")
        func entries<T>(_ name: String, _ read: (FieldReader) throws(JournalFieldError) -> T) throws(JournalFieldError) -> [T] {
            try reader.array(name, limit: limit) { (item: JSONValue) throws(JournalFieldError) -> T in try read(try FieldReader(item, what: "an item of '\(name)'")) }
        }
        func digests(_ name: String) throws(JournalFieldError) -> [SHA256Digest] {
            try reader.array(name, limit: limit) { (item: JSONValue) throws(JournalFieldError) -> SHA256Digest in try FieldReader.digest(item, in: name) }
        }
        let position = 0...JournalRecord.largestSequence
        self.init(
            wellFormed: try reader.bool("wellFormed"),
            transactions: try reader.integer("transactions", in: position),
            history: try entries("history") { (entry: FieldReader) throws(JournalFieldError) in
                JournalCheckpoint.Entry(id: try entry.digest("id"), version: try entry.optionalString("version"),
                                        since: try entry.number("since", in: -Double.greatestFiniteMagnitude...Double.greatestFiniteMagnitude),
                                        via: try entry.string("via"), transaction: try entry.optionalString("transaction"),
                                        source: try entry.optionalString("source"))
            },
            versionNames: try entries("versionNames") { (item: FieldReader) throws(JournalFieldError) in
                JournalCheckpoint.Named(id: try item.digest("id"), name: try item.string("name"))
            },
            transactionNames: try entries("transactionNames") { (item: FieldReader) throws(JournalFieldError) in
                JournalCheckpoint.Named(id: try item.digest("id"), name: try item.string("name"))
            },
            pruned: try digests("pruned"), known: try digests("known"), namedByUnknown: try digests("namedByUnknown"),
            firstBrought: try entries("firstBrought") { (item: FieldReader) throws(JournalFieldError) in
                JournalCheckpoint.Position(id: try item.digest("id"), position: try item.integer("position", in: position))
            },
            logged: try entries("logged") { (item: FieldReader) throws(JournalFieldError) in
                JournalCheckpoint.Logged(transaction: try item.string("transaction"), position: try item.integer("position", in: position))
            })
    }
}

extension JournalCheckpoint {
    /// The checkpoint's line, newline included.
    package func line() throws -> [UInt8] {
        let stateText = String(decoding: try state.json.serialized(), as: UTF8.self)
        let json = try JSONValue.object([
            "kind": .string("checkpoint"), "sequence": .number(Double(through)), "time": .number(time),
            "v": .number(Double(JournalRecord.currentFormat)), "format": .number(Double(format)),
            "state": .string(stateText), "sha256": .string(SHA256.hash(data: Array(stateText.utf8)).hex),
        ]).serialized()
        let checksum = String(CRC32.checksum(json), radix: 16)
        return Array((String(repeating: "0", count: 8 - checksum.count) + checksum + " ").utf8) + json + [UInt8(ascii: "\n")]
    }

    /// True when a line's JSON claims to be a checkpoint (whether or not it is a sound one): its
    /// top-level object has `"kind":"checkpoint"`. The same text inside a string or a nested
    /// object (a field a later release added to a record) is no claim.
    static func claims(_ json: ArraySlice<UInt8>) -> Bool {
        let marker = Array(#""kind":"checkpoint""#.utf8)
        guard json.count >= marker.count else { return false }
        var depth = 0
        var inString = false
        var escaped = false
        var index = json.startIndex
        while index < json.endIndex {
            let byte = json[index]
            if inString {
                if escaped { escaped = false } else if byte == UInt8(ascii: "\\") { escaped = true } else if byte == UInt8(ascii: "\"") { inString = false }
            } else if byte == UInt8(ascii: "\"") {
                // A key of the top-level object that starts the marker.
                if depth == 1, index + marker.count <= json.endIndex, json[index..<index + marker.count].elementsEqual(marker) { return true }
                inString = true
            } else if byte == UInt8(ascii: "{") || byte == UInt8(ascii: "[") {
                depth += 1
            } else if byte == UInt8(ascii: "}") || byte == UInt8(ascii: "]") {
                depth -= 1
            }
            index += 1
        }
        return false
    }

    /// Reads a checkpoint from its line's JSON (checksum already checked), checking its digest,
    /// its format and every value.
    /// - Throws: ``JournalFieldError`` saying what is wrong.
    package init(json: ArraySlice<UInt8>) throws(JournalFieldError) {
        let reader: FieldReader
        do {
            reader = try FieldReader(try JSONValue(parsing: json, maxValues: Journal.largestRecordValues), what: "the checkpoint")
        } catch let error as CanonicalJSONError {
            throw JournalFieldError("not a checkpoint: \(error)")
        } catch {
            throw error as! JournalFieldError
        }
        guard try reader.string("kind") == "checkpoint" else { throw JournalFieldError("not a checkpoint") }
        let format = try reader.integer("format", in: 0...1_000_000)
        guard format == Self.currentFormat else {
            throw JournalFieldError("checkpoint format \(format) is not format \(Self.currentFormat), the one this release reads")
        }
        let recordFormat = try reader.integer("v", in: 1...1_000_000)
        guard recordFormat == JournalRecord.currentFormat else {
            throw JournalFieldError("its record format \(recordFormat) is not format \(JournalRecord.currentFormat), the one this release reads")
        }
        let sequence = try reader.integer("sequence", in: 2...JournalRecord.largestSequence)
        let time = try reader.number("time", in: 0...JournalRecord.latestTime)
        let stateText = try reader.string("state")
        guard SHA256.hash(data: Array(stateText.utf8)).hex == (try reader.string("sha256")) else { throw JournalFieldError("its digest does not match its state") }
        let state: State
        do {
            state = try State(json: try JSONValue(parsing: Array(stateText.utf8), maxDepth: 8, maxValues: Self.largestStateValues))
        } catch let error as CanonicalJSONError {
            throw JournalFieldError("its state cannot be read: \(error)")
        } catch {
            throw JournalFieldError("its state cannot be read: \(error)")
        }
        try Self.check(state, through: sequence)
        self.through = sequence
        self.time = time
        self.format = format
        self.state = state
    }

    /// Every value in range and consistent: a checkpoint edited by hand is refused, not believed.
    private static func check(_ state: State, through: Int) throws(JournalFieldError) {
        let vias: Set<String> = ["adopt", "upgrade", "rollback", "repair"]
        guard state.wellFormed else { throw JournalFieldError("it summarises a journal that does not start with the adoption") }
        guard (0...through).contains(state.transactions) else { throw JournalFieldError("'transactions' is out of range") }
        guard !state.history.isEmpty else { throw JournalFieldError("its history is empty") }
        for list in [state.history.count, state.versionNames.count, state.transactionNames.count, state.pruned.count, state.known.count,
                     state.namedByUnknown.count, state.firstBrought.count, state.logged.count] where list > largestList {
            throw JournalFieldError("a list holds \(list) items")
        }
        var seen = Set<SHA256Digest>()
        for entry in state.history {
            guard vias.contains(entry.via) else { throw JournalFieldError("a history entry came via '\(entry.via)'") }
            guard entry.since.isFinite, (0...JournalRecord.latestTime).contains(entry.since) else {
                throw JournalFieldError("a history entry's time is out of range")
            }
            guard seen.insert(entry.id).inserted else { throw JournalFieldError("version \(entry.id.short) appears twice in its history") }
            if let transaction = entry.transaction { try checkTransaction(transaction) }
        }
        for position in state.firstBrought.map(\.position) + state.logged.map(\.position) where !(0..<state.transactions).contains(position) {
            throw JournalFieldError("a transaction position is out of range (\(position))")
        }
        for logged in state.logged { try checkTransaction(logged.transaction) }
    }

    private static func checkTransaction(_ id: String) throws(JournalFieldError) {
        guard FieldReader.isTransactionID(id) else { throw JournalFieldError("'\(id)' is not a transaction id") }
    }
}
