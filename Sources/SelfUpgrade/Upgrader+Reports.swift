import Integrity
import Platform
import Storage

extension Upgrader {
    /// One version as reports show it.
    public struct VersionSummary: Sendable, Codable, Equatable {
        public var id: String
        public var short: String
        public var version: String?
        public var present: Bool
        public var current: Bool
        public var size: Int?
    }

    /// The state of the installation.
    public struct Status: Sendable, Codable, Equatable {
        public var home: String
        public var entryPoint: String
        public var current: VersionSummary?
        public var previous: VersionSummary?
        public var openTransaction: TransactionSummary?
        public var versions: [VersionSummary]
        /// Versions the journal names that are gone from the store (deleted by hand?).
        public var missing: [String]
        public var transactions: Int
        public var historyLimit: Int
        /// Problems a person should know of.
        public var warnings: [String]
    }

    /// Reads the home's status (derived from the journal and the store; changes nothing).
    public func status() throws(UpgradeError) -> Status {
        try UpgradeError.wrapping {
            guard home.isInitialized else { throw UpgradeError.notInitialized(home: home.root) }
            return try status(ledger: Ledger(try readJournal()))
        }
    }

    /// The status as `ledger` tells it (with the store and `current` as they are).
    package func status(ledger: Ledger) throws -> Status {
        do {
            let linked = try home.currentVersion()
            let stored = Set(try store.list())
            func summary(_ id: SHA256Digest) -> VersionSummary {
                VersionSummary(id: id.hex, short: id.short, version: ledger.versionName(of: id) ?? store.metadata(id)?.version,
                               present: stored.contains(id) && store.contains(id), current: id == linked,
                               size: store.metadata(id)?.size)
            }
            let order = ledger.history.reversed().map(\.id) + stored.sorted { $0.hex < $1.hex }
            var seen = Set<SHA256Digest>()
            let versions = order.filter { stored.contains($0) && seen.insert($0).inserted }.map(summary)
            let missing = ledger.retained(limit: configuration.historyLimit).subtracting(stored).subtracting(ledger.pruned)
            var warnings: [String] = []
            // A transaction in flight explains a link to its `from` or `to` (a rollback between
            // its flip and its commit, seen by a status that takes no lock): not a disagreement.
            let inFlight = linked != ledger.current && ledger.inFlight(linked)
            if linked != ledger.current && !inFlight {
                warnings.append("\(home.current) points at \(linked?.short ?? "nothing") but the journal says \(ledger.current?.short ?? "nothing")")
            }
            for id in missing.sorted(by: { $0.hex < $1.hex }) {
                warnings.append("version \(id.short) is in the history but missing from the store (\(home.binary(id)))")
            }
            return Status(home: home.root, entryPoint: home.entryPoint, current: linked.map(summary),
                          // In flight, the version the link left is the one to go back to.
                          previous: (inFlight ? ledger.current : ledger.previous).map(summary), openTransaction: ledger.openTransaction.map(TransactionSummary.init),
                          versions: versions, missing: missing.map(\.hex).sorted(), transactions: ledger.transactionCount,
                          historyLimit: configuration.historyLimit, warnings: warnings)
        }
    }

    /// One row of the history.
    public struct HistoryRow: Sendable, Codable, Equatable {
        public var id: String
        public var short: String
        public var version: String?
        public var since: String
        public var via: String
        public var transaction: String?
        public var source: String?
        public var present: Bool
        public var current: Bool
    }

    /// The versions that have been current, oldest first, derived from the journal alone.
    public func history() throws(UpgradeError) -> [HistoryRow] {
        try history(newest: nil).rows
    }

    /// The newest `limit` rows of the history (all when nil), oldest first, and how many rows
    /// the whole history has. The whole journal is read: its archived segments (`journal.d`)
    /// as well as the active file, so the cost grows with the history (no other command reads them).
    public func history(newest limit: Int?) throws(UpgradeError) -> (total: Int, rows: [HistoryRow]) {
        try UpgradeError.wrapping {
            guard home.isInitialized else { throw UpgradeError.notInitialized(home: home.root) }
            let active = try readJournal()
            let whole = active.checkpoint == nil ? active : try Journal(path: home.journal, replayingArchive: true)
            let ledger = Ledger(whole)
            let current = ledger.history.indices.last
            let first = limit.map { max(0, ledger.history.count - $0) } ?? 0
            let rows = ledger.history[first...].enumerated().map { offset, entry in
                HistoryRow(id: entry.id.hex, short: entry.id.short, version: entry.version, since: WallClock.iso8601(entry.since),
                           via: entry.via.rawValue, transaction: entry.transaction, source: entry.source,
                           present: store.contains(entry.id), current: first + offset == current)
            }
            return (ledger.history.count, rows)
        }
    }
}
