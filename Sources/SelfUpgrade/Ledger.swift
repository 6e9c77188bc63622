import Integrity
import Storage

/// Everything the journal says, folded into transactions and a history of versions.
/// Invariant 4: the journal alone explains every version change; this type is the only reader.
public struct Ledger: Sendable {
    /// One transaction as the journal tells it.
    public struct Transaction: Sendable, Equatable, Codable {
        public enum Outcome: String, Sendable, Codable { case open, committed, aborted }
        public var id: String
        public var operation: JournalRecord.Operation
        public var from: SHA256Digest?
        public var to: SHA256Digest?
        public var version: String?
        public var source: String?
        public var steps: [String]
        public var attempts: Int
        public var outcome: Outcome
        public var reason: String?
        public var began: Double
        public var ended: Double?

        /// The swap was journaled: `current` may name `to`.
        public var hasSwapped: Bool { steps.contains("swap") }
    }

    /// One version in force, in order.
    public struct Entry: Sendable, Equatable, Codable {
        public var id: SHA256Digest
        public var version: String?
        public var since: Double
        /// "adopt", "upgrade" or "rollback".
        public var via: String
        public var transaction: String?
        public var source: String?
    }

    public private(set) var transactions: [Transaction] = []
    public private(set) var history: [Entry] = []
    public private(set) var pruned: Set<SHA256Digest> = []

    public init(_ journal: Journal) {
        var index: [String: Int] = [:]
        var versionNames: [SHA256Digest: String] = [:]
        for record in journal.records {
            switch record.kind {
            case .adopt:
                if let id = record.to {
                    if let version = record.version { versionNames[id] = version }
                    history.append(Entry(id: id, version: record.version, since: record.time, via: "adopt", transaction: nil, source: record.source))
                }
            case .begin:
                guard let id = record.transaction, let operation = record.operation else { continue }
                index[id] = transactions.count
                transactions.append(Transaction(id: id, operation: operation, from: record.from, to: record.to,
                                                version: record.version, source: record.source, steps: [], attempts: 0,
                                                outcome: .open, reason: nil, began: record.time, ended: nil))
            case .step:
                guard let id = record.transaction, let position = index[id] else { continue }
                transactions[position].steps.append(record.step ?? "?")
                if let to = record.to { transactions[position].to = to }
                if let version = record.version {
                    transactions[position].version = version
                    if let to = transactions[position].to { versionNames[to] = version }
                }
            case .attempt:
                guard let id = record.transaction, let position = index[id] else { continue }
                transactions[position].attempts = record.attempt ?? transactions[position].attempts + 1
            case .commit:
                guard let id = record.transaction, let position = index[id] else { continue }
                transactions[position].outcome = .committed
                transactions[position].ended = record.time
                let transaction = transactions[position]
                if let to = transaction.to, transaction.operation != .dryRun {
                    history.append(Entry(id: to, version: versionNames[to] ?? transaction.version, since: record.time,
                                         via: transaction.operation.rawValue, transaction: id, source: transaction.source))
                }
            case .abort:
                guard let id = record.transaction, let position = index[id] else { continue }
                transactions[position].outcome = .aborted
                transactions[position].reason = record.reason
                transactions[position].ended = record.time
            case .prune:
                if let id = record.to { pruned.insert(id) }
            }
        }
        for position in history.indices where history[position].version == nil {
            history[position].version = versionNames[history[position].id]
        }
    }

    /// The transaction neither committed nor aborted, if any (at most one: the lock sees to it).
    public var openTransaction: Transaction? { transactions.last { $0.outcome == .open } }

    /// The version the journal says is current.
    public var current: SHA256Digest? { history.last?.id }

    /// The version before the current one in history (the default rollback target).
    public var previous: SHA256Digest? {
        guard let current else { return nil }
        return history.last { $0.id != current }?.id
    }

    /// The transaction with this id.
    public func transaction(_ id: String) -> Transaction? { transactions.last { $0.id == id } }

    /// Every version id the journal names.
    public var knownVersions: Set<SHA256Digest> {
        Set(history.map(\.id)).union(transactions.compactMap(\.to)).union(transactions.compactMap(\.from))
    }

    /// The version string last reported for an id.
    public func versionName(of id: SHA256Digest) -> String? {
        history.last { $0.id == id }?.version ?? transactions.last { $0.to == id && $0.version != nil }?.version
    }

    /// Versions the store must keep: current, previous, those of an open transaction, and the
    /// most recent distinct ones of history up to `limit`.
    public func retained(limit: Int) -> Set<SHA256Digest> {
        var keep = Set<SHA256Digest>()
        if let current { keep.insert(current) }
        if let previous { keep.insert(previous) }
        if let open = openTransaction {
            if let from = open.from { keep.insert(from) }
            if let to = open.to { keep.insert(to) }
        }
        var recent: [SHA256Digest] = []
        for entry in history.reversed() where !recent.contains(entry.id) {
            recent.append(entry.id)
            if recent.count == limit { break }
        }
        return keep.union(recent)
    }
}
