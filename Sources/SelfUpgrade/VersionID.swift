import Integrity
import Storage

/// A version's id: the SHA-256 of its binary, as 64 lowercase hex digits.
///
/// The store is content-addressed, so an id names exactly one sequence of bytes, and what is
/// executed is the file whose hash is its name.
public struct VersionID: Hashable, Sendable, Codable, CustomStringConvertible {
    package let digest: SHA256Digest

    package init(_ digest: SHA256Digest) { self.digest = digest }

    /// Parses 64 hex digits (any case).
    /// - Returns: nil for anything else (a prefix is not an id: resolve it first).
    public init?(hex: String) {
        guard let digest = SHA256Digest(hex: hex.lowercased()) else { return nil }
        self.digest = digest
    }

    /// The 64 lowercase hex digits.
    public var hex: String { digest.hex }
    /// The abbreviated form shown to people (12 hex digits).
    public var short: String { digest.short }
    public var description: String { hex }

    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let id = VersionID(hex: text) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "'\(text)' is not a version id"))
        }
        self = id
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(hex)
    }
}

/// What a transaction does.
public enum TransactionOperation: String, Sendable, Codable {
    case upgrade
    case rollback
    case dryRun = "dry-run"
    /// Written by a newer release.
    case other

    package init(_ operation: Operation) {
        self = TransactionOperation(rawValue: operation.rawValue) ?? .other
    }
}

/// One transaction as the journal tells it.
public struct TransactionSummary: Sendable, Codable, Equatable {
    public enum Outcome: String, Sendable, Codable { case open, committed, aborted }
    public var id: String
    public var operation: TransactionOperation
    public var from: VersionID?
    public var to: VersionID?
    public var version: String?
    public var source: String?
    public var steps: [String]
    public var attempts: Int
    public var outcome: Outcome
    public var reason: String?
    public var began: Double
    public var ended: Double?

    package init(_ transaction: Ledger.Transaction) {
        id = transaction.id
        operation = TransactionOperation(transaction.operation)
        from = transaction.from.map(VersionID.init)
        to = transaction.to.map(VersionID.init)
        version = transaction.version
        source = transaction.source?.encoded
        steps = transaction.steps.map(\.rawValue)
        attempts = transaction.attempts
        outcome = Outcome(rawValue: transaction.outcome.rawValue) ?? .open
        reason = transaction.reason
        began = transaction.began
        ended = transaction.ended
    }
}
