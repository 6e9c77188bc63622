import FoundationEssentials
import Integrity

/// What a transaction does. Values written by a newer release are kept as they are.
package struct Operation: RawRepresentable, Hashable, Sendable, Codable, CustomStringConvertible {
    package var rawValue: String
    package init(rawValue: String) { self.rawValue = rawValue }

    package static let upgrade = Operation(rawValue: "upgrade")
    package static let rollback = Operation(rawValue: "rollback")
    package static let dryRun = Operation(rawValue: "dry-run")

    package var description: String { rawValue }
}

/// The name of a transaction step. Names written by a newer release are kept as they are.
package struct StepName: RawRepresentable, Hashable, Sendable, Codable, CustomStringConvertible {
    package var rawValue: String
    package init(rawValue: String) { self.rawValue = rawValue }

    package static let preflight = StepName(rawValue: "preflight")
    package static let build = StepName(rawValue: "build")
    package static let test = StepName(rawValue: "test")
    package static let stage = StepName(rawValue: "stage")
    package static let check = StepName(rawValue: "check")
    package static let verify = StepName(rawValue: "verify")
    package static let evaluate = StepName(rawValue: "evaluate")
    package static let swap = StepName(rawValue: "swap")

    package var description: String { rawValue }
}

/// Where a candidate came from, journaled as `<kind>:<location>`.
package enum CandidateSource: Hashable, Sendable, CustomStringConvertible {
    /// A prebuilt binary file.
    case binary(path: String)
    /// A Swift package built from source.
    case source(directory: String)
    /// The binary a home was created with.
    case adopted(path: String)
    /// Bytes streamed into the store as they arrived (a download), named by where they came from.
    case stream(name: String)
    /// A kind this release does not know (written by a newer one), or free text.
    case other(String)

    package init(encoded: String) {
        if let path = encoded.dropPrefix("binary:") { self = .binary(path: path) }
        else if let directory = encoded.dropPrefix("source:") { self = .source(directory: directory) }
        else if let path = encoded.dropPrefix("adopted:") { self = .adopted(path: path) }
        else if let name = encoded.dropPrefix("stream:") { self = .stream(name: name) }
        else { self = .other(encoded) }
    }

    package var encoded: String {
        switch self {
        case .binary(let path): "binary:" + path
        case .source(let directory): "source:" + directory
        case .adopted(let path): "adopted:" + path
        case .stream(let name): "stream:" + name
        case .other(let text): text
        }
    }

    package var description: String { encoded }

    package var isSourceBuild: Bool { if case .source = self { true } else { false } }
}

extension String {
    fileprivate func dropPrefix(_ prefix: String) -> String? {
        hasPrefix(prefix) ? String(dropFirst(prefix.count)) : nil
    }
}

/// What one journal record says: each kind with exactly its fields.
package enum JournalEvent: Sendable, Equatable {
    /// The home got a version without a transaction: its first one, or one found on disk by repair
    /// (`repairedFrom` names the damaged journal kept beside the new one).
    case adopt(version: SHA256Digest, name: String?, source: String?, repairedFrom: String?)
    /// A transaction started.
    case begin(transaction: String, operation: Operation, from: SHA256Digest?, target: SHA256Digest?, source: CandidateSource?)
    /// A step of a transaction finished, with what it learned; `detail` is its account in a line
    /// (an acceptance judgement's numbers), written as `reason`.
    case step(transaction: String, step: StepName, to: SHA256Digest?, version: String?, detail: String? = nil)
    /// A start found the transaction unconfirmed and tried again.
    case attempt(transaction: String, number: Int)
    /// The transaction is done and confirmed.
    case commit(transaction: String, to: SHA256Digest?)
    /// The transaction was undone.
    case abort(transaction: String, reason: String)
    /// A version is being removed from the store (journaled before it leaves `versions/`).
    case prune(version: SHA256Digest)
    /// A kind written by a newer release: skipped, but every version id it names is kept from pruning.
    case unknown(kind: String, versions: [SHA256Digest])

    /// The transaction a record belongs to.
    package var transaction: String? {
        switch self {
        case .begin(let id, _, _, _, _), .step(let id, _, _, _, _), .attempt(let id, _), .commit(let id, _), .abort(let id, _): id
        case .adopt, .prune, .unknown: nil
        }
    }

    /// Every version id the record names.
    package var versions: [SHA256Digest] {
        switch self {
        case .adopt(let id, _, _, _), .prune(let id): [id]
        case .begin(_, _, let from, let target, _): [from, target].compactMap { $0 }
        case .step(_, _, let to, _, _), .commit(_, let to): [to].compactMap { $0 }
        case .attempt, .abort: []
        case .unknown(_, let ids): ids
        }
    }
}

/// One line of the journal: sequence, time, writer and format around an event.
///
/// On disk a record is one JSON object with the fields of every release so far (`kind`,
/// `transaction`, `operation`, `step`, `from`, `to`, `version`, `source`, `reason`, `attempt`,
/// `pid`) plus `v`, the record format. Readers ignore fields they do not know, skip kinds they do
/// not know, and treat values out of range as corruption.
package struct JournalRecord: Sendable, Equatable {
    /// The record format this release writes.
    package static let currentFormat = 1

    package var sequence: Int
    package var time: Double
    package var pid: Int32?
    package var format: Int
    package var event: JournalEvent

    /// A record to append: sequence, time and pid are set by ``Journal/append(_:)``.
    package init(_ event: JournalEvent) {
        self.sequence = 0
        self.time = 0
        self.pid = nil
        self.format = Self.currentFormat
        self.event = event
    }

    package init(sequence: Int, time: Double, pid: Int32?, format: Int, event: JournalEvent) {
        self.sequence = sequence
        self.time = time
        self.pid = pid
        self.format = format
        self.event = event
    }
}

// MARK: - Encoding

extension JournalRecord {
    /// The record's JSON object (keys sorted, slashes unescaped).
    package func encoded() throws -> [UInt8] {
        var fields: [String: JSONValue] = [
            "sequence": .number(Double(sequence)), "time": .number(time), "v": .number(Double(format)),
        ]
        if let pid { fields["pid"] = .number(Double(pid)) }
        func hex(_ id: SHA256Digest?) -> JSONValue? { id.map { .string($0.hex) } }
        switch event {
        case .adopt(let version, let name, let source, let repairedFrom):
            fields["kind"] = .string("adopt")
            fields["to"] = hex(version)
            fields["version"] = name.map(JSONValue.string)
            fields["source"] = source.map(JSONValue.string)
            fields["repairedFrom"] = repairedFrom.map(JSONValue.string)
        case .begin(let transaction, let operation, let from, let target, let source):
            fields["kind"] = .string("begin")
            fields["transaction"] = .string(transaction)
            fields["operation"] = .string(operation.rawValue)
            fields["from"] = hex(from)
            fields["to"] = hex(target)
            fields["source"] = source.map { .string($0.encoded) }
        case .step(let transaction, let step, let to, let version, let detail):
            fields["kind"] = .string("step")
            fields["transaction"] = .string(transaction)
            fields["step"] = .string(step.rawValue)
            fields["to"] = hex(to)
            fields["version"] = version.map(JSONValue.string)
            fields["reason"] = detail.map(JSONValue.string)
        case .attempt(let transaction, let number):
            fields["kind"] = .string("attempt")
            fields["transaction"] = .string(transaction)
            fields["attempt"] = .number(Double(number))
        case .commit(let transaction, let to):
            fields["kind"] = .string("commit")
            fields["transaction"] = .string(transaction)
            fields["to"] = hex(to)
        case .abort(let transaction, let reason):
            fields["kind"] = .string("abort")
            fields["transaction"] = .string(transaction)
            fields["reason"] = .string(reason)
        case .prune(let version):
            fields["kind"] = .string("prune")
            fields["to"] = hex(version)
        case .unknown(let kind, _):
            throw JournalFieldError("a record of kind '\(kind)' is only kept, never written")
        }
        return try JSONValue.object(fields).serialized()
    }
}

// MARK: - Decoding

/// Why a record's fields are not acceptable.
package struct JournalFieldError: Error, CustomStringConvertible {
    package var description: String
    package init(_ description: String) { self.description = description }
}

extension JournalRecord {
    /// Latest time accepted (the year 3000): later ones are corruption, not a clock.
    static let latestTime = 32_503_680_000.0
    /// Largest sequence number accepted: 2⁵³ − 1, the last whole number a JSON double holds
    /// exactly (2⁵³ + 1 reads as 2⁵³, so 2⁵³ itself cannot be told from a larger one).
    package static let largestSequence = (1 << 53) - 1

    /// Reads a record from its JSON object, checking every value's type and range.
    package init(json value: JSONValue) throws(JournalFieldError) {
        guard case .object(let fields) = value else { throw JournalFieldError("not a JSON object") }
        let reader = FieldReader(fields: fields)
        sequence = try reader.integer("sequence", in: 1...Self.largestSequence)
        time = try reader.number("time", in: 0...Self.latestTime)
        pid = try reader.optionalInteger("pid", in: 0...Int(Int32.max)).map { Int32($0) }
        format = try reader.optionalInteger("v", in: 1...1_000_000) ?? 1
        let kind = try reader.string("kind")
        switch kind {
        case "adopt":
            event = .adopt(version: try reader.digest("to"), name: try reader.optionalString("version"),
                           source: try reader.optionalString("source"), repairedFrom: try reader.optionalString("repairedFrom"))
        case "begin":
            event = .begin(transaction: try reader.transaction(), operation: Operation(rawValue: try reader.string("operation")),
                           from: try reader.optionalDigest("from"), target: try reader.optionalDigest("to"),
                           source: try reader.optionalString("source").map(CandidateSource.init(encoded:)))
        case "step":
            event = .step(transaction: try reader.transaction(), step: StepName(rawValue: try reader.string("step")),
                          to: try reader.optionalDigest("to"), version: try reader.optionalString("version"),
                          detail: try reader.optionalString("reason"))
        case "attempt":
            event = .attempt(transaction: try reader.transaction(), number: try reader.integer("attempt", in: 0...1_000_000))
        case "commit":
            event = .commit(transaction: try reader.transaction(), to: try reader.optionalDigest("to"))
        case "abort":
            event = .abort(transaction: try reader.transaction(), reason: try reader.optionalString("reason") ?? "")
        case "prune":
            event = .prune(version: try reader.digest("to"))
        case "checkpoint":
            throw JournalFieldError("a checkpoint can only be a journal's first line")
        default:
            event = .unknown(kind: kind, versions: Self.digests(in: value))
        }
    }

    /// Every string in `value` that is a version id (64 hex digits).
    private static func digests(in value: JSONValue) -> [SHA256Digest] {
        switch value {
        case .string(let text): return text.count == 64 ? SHA256Digest(hex: text).map { [$0] } ?? [] : []
        case .array(let items): return items.flatMap(digests(in:))
        case .object(let fields): return fields.keys.sorted().flatMap { digests(in: fields[$0]!) }
        default: return []
        }
    }
}
