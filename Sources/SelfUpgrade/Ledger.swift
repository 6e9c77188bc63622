import Integrity
import Storage
import Synchronization

/// Everything the journal says, folded into transactions and a history of versions.
/// Invariant 4: the journal alone explains every version change; this type is the only reader.
package struct Ledger: Sendable {
    /// One transaction as the journal tells it.
    package struct Transaction: Sendable, Equatable {
        package enum Outcome: String, Sendable, Codable { case open, committed, aborted }
        package var id: String
        package var operation: Operation
        package var from: SHA256Digest?
        package var to: SHA256Digest?
        package var version: String?
        package var source: CandidateSource?
        package var steps: [StepName]
        package var attempts: Int
        package var outcome: Outcome
        package var reason: String?
        package var began: Double
        package var ended: Double?
        /// The process that journaled the latest record of this transaction.
        package var lastWriter: Int32?

        /// The swap was journaled: `current` may name `to`.
        package var hasSwapped: Bool { steps.contains(.swap) }
    }

    /// How a version became current.
    package enum Via: String, Sendable, Codable {
        case adopt, upgrade, rollback, repair
    }

    /// One version in force, in order.
    package struct Entry: Sendable, Equatable {
        package var id: SHA256Digest
        package var version: String?
        package var since: Double
        package var via: Via
        package var transaction: String?
        package var source: String?
    }

    package private(set) var transactions: [Transaction] = []
    package private(set) var history: [Entry] = []
    /// Versions whose removal was journaled and that no later record names again.
    package private(set) var pruned: Set<SHA256Digest> = []
    /// Versions named by records of kinds this release does not know: never pruned.
    package private(set) var namedByUnknownRecords: Set<SHA256Digest> = []
    /// Every version any record names.
    package private(set) var knownVersions: Set<SHA256Digest> = []
    /// The journal starts with record 1, an `adopt`: only then can it prove a version unreferenced.
    package let isWellFormed: Bool
    /// Transactions the journal's checkpoint stands for (``transactions`` holds those after it).
    package private(set) var transactionsBeforeCheckpoint = 0
    /// Every transaction the journal has begun, those before its checkpoint included.
    package var transactionCount: Int { transactionsBeforeCheckpoint + transactions.count }
    /// The version name each version was last given by an adoption or a step.
    private var versionNames: [SHA256Digest: String] = [:]
    /// From the checkpoint: the name the latest transaction to each version reported.
    private var checkpointTransactionNames: [SHA256Digest: String] = [:]
    /// From the checkpoint: the first committed transaction that brought each version.
    private var checkpointFirstBrought: [SHA256Digest: Int] = [:]
    /// From the checkpoint: transactions that had a log directory.
    private var checkpointLogged: [JournalCheckpoint.Logged] = []

    /// Folds the journal: its checkpoint, if it has one, then its records. The fold of the last
    /// journal folded in this process is reused while that journal's content is unchanged (a
    /// command folds the same journal several times: to check it explains `current`, to
    /// recover, to act).
    package init(_ journal: Journal) {
        if let last = Self.lastFolded.withLock({ $0 }), last.content == journal.content {
            self = last.ledger
            return
        }
        self.init(folding: journal)
        // A fold of the whole archive (history) is not kept: memory stays flat whatever the history.
        guard journal.records.count <= Self.largestKept else { return }
        let folded = self
        Self.lastFolded.withLock { $0 = (journal.content, folded) }
    }

    /// The most records a kept fold may come from: far more than an active file holds.
    private static let largestKept = 4_096
    /// The last fold, with the content it came from. A Mutex: an embedder (and the tests) may
    /// fold journals on any thread.
    private static let lastFolded = Mutex<(content: UInt64, ledger: Ledger)?>(nil)

    private init(folding journal: Journal) {
        if let state = journal.checkpoint?.state {
            isWellFormed = state.wellFormed
            transactionsBeforeCheckpoint = state.transactions
            history = state.history.map {
                Entry(id: $0.id, version: $0.version, since: $0.since, via: Via(rawValue: $0.via) ?? .adopt,
                      transaction: $0.transaction, source: $0.source)
            }
            versionNames = Dictionary(state.versionNames.map { ($0.id, $0.name) }, uniquingKeysWith: { $1 })
            checkpointTransactionNames = Dictionary(state.transactionNames.map { ($0.id, $0.name) }, uniquingKeysWith: { $1 })
            checkpointFirstBrought = Dictionary(state.firstBrought.map { ($0.id, $0.position) }, uniquingKeysWith: min)
            checkpointLogged = state.logged
            pruned = Set(state.pruned)
            knownVersions = Set(state.known)
            namedByUnknownRecords = Set(state.namedByUnknown)
        } else {
            isWellFormed = journal.records.first.map { record in
                if case .adopt = record.event { return record.sequence == 1 } else { return false }
            } ?? false
        }
        var index: [String: Int] = [:]
        for record in journal.records {
            let named = record.event.versions
            knownVersions.formUnion(named)
            if case .prune = record.event {} else { pruned.subtract(named) }
            if let id = record.event.transaction, let position = index[id] { transactions[position].lastWriter = record.pid }
            switch record.event {
            case .adopt(let id, let name, let source, let repairedFrom):
                if let name { versionNames[id] = name }
                history.append(Entry(id: id, version: name, since: record.time, via: repairedFrom == nil ? .adopt : .repair,
                                     transaction: nil, source: source))
            case .begin(let id, let operation, let from, let target, let source):
                index[id] = transactions.count
                transactions.append(Transaction(id: id, operation: operation, from: from, to: target, version: nil, source: source,
                                                steps: [], attempts: 0, outcome: .open, reason: nil, began: record.time,
                                                ended: nil, lastWriter: record.pid))
            case .step(let id, let step, let to, let version, _):
                guard let position = index[id] else { continue }
                transactions[position].steps.append(step)
                if let to { transactions[position].to = to }
                if let version {
                    transactions[position].version = version
                    if let to = transactions[position].to { versionNames[to] = version }
                }
            case .attempt(let id, let number):
                guard let position = index[id] else { continue }
                transactions[position].attempts = number
            case .commit(let id, let to):
                guard let position = index[id] else { continue }
                transactions[position].outcome = .committed
                transactions[position].ended = record.time
                if let to, transactions[position].to == nil { transactions[position].to = to }
                let transaction = transactions[position]
                if let to = transaction.to, transaction.operation != .dryRun {
                    history.append(Entry(id: to, version: versionNames[to] ?? transaction.version, since: record.time,
                                         via: transaction.operation == .rollback ? .rollback : .upgrade,
                                         transaction: id, source: transaction.source?.encoded))
                }
            case .abort(let id, let reason):
                guard let position = index[id] else { continue }
                transactions[position].outcome = .aborted
                transactions[position].reason = reason
                transactions[position].ended = record.time
            case .prune(let id):
                pruned.insert(id)
            case .unknown(_, let ids):
                namedByUnknownRecords.formUnion(ids)
            }
        }
        for position in history.indices where history[position].version == nil {
            history[position].version = versionNames[history[position].id]
        }
    }

    /// The transaction neither committed nor aborted, if any (at most one: the lock sees to it).
    package var openTransaction: Transaction? { transactions.last { $0.outcome == .open } }

    /// The version the journal says is current.
    package var current: SHA256Digest? { history.last?.id }

    /// The version before the current one in history (the default rollback target).
    package var previous: SHA256Digest? {
        guard let current else { return nil }
        return history.last { $0.id != current }?.id
    }

    /// True when the journal explains `current` pointing at `linked`: the version it says is
    /// current, the `from` or `to` of its unfinished transaction (a reader without the lock sees
    /// a rollback between its flip and its commit), or the target of its last transaction,
    /// aborted before its undo put `current` back.
    package func explainsLink(to linked: SHA256Digest) -> Bool {
        if linked == current || inFlight(linked) { return true }
        let last = transactions.last
        return openTransaction == nil && last?.outcome == .aborted && last?.to == linked
    }

    /// True when `linked` is the `from` or `to` of the unfinished transaction.
    package func inFlight(_ linked: SHA256Digest?) -> Bool {
        guard let linked, let open = openTransaction else { return false }
        return open.from == linked || open.to == linked
    }

    /// The transaction with this id.
    package func transaction(_ id: String) -> Transaction? { transactions.last { $0.id == id } }

    /// The version string last reported for an id.
    package func versionName(of id: SHA256Digest) -> String? {
        history.last { $0.id == id }?.version ?? transactions.last { $0.to == id && $0.version != nil }?.version
            ?? checkpointTransactionNames[id]
    }

    /// The transactions whose logs explain nothing that remains: those that began before the
    /// oldest transaction that brought a version still `stored`.
    package func transactionsBeforeOldestKept(stored: Set<SHA256Digest>) -> [String] {
        var oldest = stored.compactMap { checkpointFirstBrought[$0] }.min()
        if let index = transactions.firstIndex(where: { $0.outcome == .committed && $0.to.map(stored.contains) == true }) {
            oldest = min(oldest ?? .max, transactionsBeforeCheckpoint + index)
        }
        guard let oldest else { return [] }
        return checkpointLogged.filter { $0.position < oldest }.map(\.transaction)
            + transactions.prefix(max(0, oldest - transactionsBeforeCheckpoint)).map(\.id)
    }

    /// What this ledger proves, restricted to what a command can still need, for a checkpoint:
    /// the latest history entry of every version stored, retained (up to `recent` distinct
    /// versions) or named by a record of an unknown kind, with their names, prune marks and the
    /// transactions that brought them; the transactions in `logged` (those with a log directory).
    /// Only for a ledger with no open transaction.
    package func checkpointState(stored: Set<SHA256Digest>, recent: Int, logged: Set<String>) -> JournalCheckpoint.State {
        let needed = stored.union(retained(limit: recent)).union(namedByUnknownRecords)
        var latest: [SHA256Digest: Int] = [:]
        for (position, entry) in history.enumerated() where needed.contains(entry.id) { latest[entry.id] = position }
        let entries = latest.values.sorted().map { history[$0] }.map {
            JournalCheckpoint.Entry(id: $0.id, version: $0.version, since: $0.since, via: $0.via.rawValue, transaction: $0.transaction, source: $0.source)
        }
        let ordered = needed.sorted { $0.hex < $1.hex }
        var firstBrought: [JournalCheckpoint.Position] = []
        for id in ordered {
            if let position = checkpointFirstBrought[id] {
                firstBrought.append(.init(id: id, position: position))
            } else if let index = transactions.firstIndex(where: { $0.outcome == .committed && $0.to == id }) {
                firstBrought.append(.init(id: id, position: transactionsBeforeCheckpoint + index))
            }
        }
        let transactionNames = ordered.compactMap { id in
            (transactions.last { $0.to == id && $0.version != nil }?.version ?? checkpointTransactionNames[id]).map { JournalCheckpoint.Named(id: id, name: $0) }
        }
        return JournalCheckpoint.State(
            wellFormed: isWellFormed, transactions: transactionCount, history: entries,
            versionNames: ordered.compactMap { id in versionNames[id].map { .init(id: id, name: $0) } },
            transactionNames: transactionNames,
            pruned: ordered.filter(pruned.contains), known: ordered.filter(knownVersions.contains),
            namedByUnknown: namedByUnknownRecords.sorted { $0.hex < $1.hex }, firstBrought: firstBrought,
            logged: checkpointLogged.filter { logged.contains($0.transaction) }
                + transactions.enumerated().filter { logged.contains($0.element.id) }.map {
                    .init(transaction: $0.element.id, position: transactionsBeforeCheckpoint + $0.offset)
                })
    }

    /// Versions the store must keep: current, previous, those of an open transaction, those named
    /// by records this release cannot read, and the most recent distinct ones of history up to `limit`.
    package func retained(limit: Int) -> Set<SHA256Digest> {
        var keep = namedByUnknownRecords
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

    /// The stored versions pruning may remove: only from a well-formed journal, only versions it
    /// names, never one it must retain nor the one the `current` link points at.
    package func prunable(stored: [SHA256Digest], linked: SHA256Digest?, limit: Int) -> [SHA256Digest] {
        guard isWellFormed else { return [] }
        let keep = retained(limit: limit)
        return stored.filter { knownVersions.contains($0) && !keep.contains($0) && $0 != linked }
    }
}
