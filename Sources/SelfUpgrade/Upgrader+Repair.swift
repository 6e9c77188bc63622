import Integrity
import Platform
import Storage

extension Upgrader {
    // MARK: - Reading the journal

    /// The home's journal, refused unless it can explain the store and `current`: a regular file
    /// (never a link), readable, starting with record 1, an `adopt` (or with a sound checkpoint
    /// of such a journal's older records, else with those records read from its archive), not empty while versions
    /// exist, and naming the version `current` points at as its current one (or as the `from` or
    /// `to` of its unfinished transaction, or as the target of its last transaction, aborted
    /// before its undo put `current` back). A journal cut at a record boundary loses the newest
    /// transactions and so names an older version: it is refused, never believed, so no command
    /// moves `current` back to that older version. A missing `current` is not a disagreement
    /// (recovery restores it from the journal).
    /// - Throws: ``StorageError/corruptJournal(path:line:reason:)`` or
    ///   ``StorageError/unusableJournal(path:reason:)``; the repair command is the way out.
    package func readJournal() throws -> Journal {
        // A rollback that commits and moves `current` between the journal's read and the link's
        // (a reader without the lock: status, history, doctor) is read again before it is damage.
        var attempt = 1
        while true {
            let journal = try readJournalFile()
            guard let reason = try unexplainedCurrent(by: journal) else { return journal }
            if attempt == Journal.readAttempts { throw StorageError.unusableJournal(path: home.journal, reason: reason) }
            attempt += 1
        }
    }

    /// The journal, refused when damaged, empty while versions are stored, or not starting with
    /// an adoption (behind no checkpoint).
    private func readJournalFile() throws -> Journal {
        let path = home.journal
        let journal: Journal
        do {
            journal = try Journal(path: path)
        } catch let error as SystemError {
            throw StorageError.unusableJournal(path: path, reason: error.detail ?? (error.errno == .tooManyLinks ? "it is a symbolic link" : "\(error.errno)"))
        }
        if journal.checkpoint == nil {
            guard let first = journal.records.first else {
                if FileSystem.exists(path) || home.hasStoredVersions {
                    let stored = (try? store.list().count) ?? 0
                    throw StorageError.unusableJournal(path: path, reason: FileSystem.exists(path)
                        ? "it holds no record, but \(stored) version(s) are stored" : "it is missing, but \(stored) version(s) are stored")
                }
                return journal
            }
            guard case .adopt = first.event else {
                throw StorageError.corruptJournal(path: path, line: 1, reason: "the first record is not the home's adoption")
            }
        }
        return journal
    }

    /// Why `journal` does not explain the version `current` points at, or nil when it does.
    /// - Throws: ``StorageError/unusableJournal(path:reason:)`` when `current` is not a link to a
    ///   version in the store.
    private func unexplainedCurrent(by journal: Journal) throws -> String? {
        let path = home.journal
        let linked: SHA256Digest?
        do {
            linked = try home.currentVersion()
        } catch {
            throw StorageError.unusableJournal(path: path, reason: "it cannot explain \(home.current), which is not a link to a version in the store (\(error))")
        }
        // A link to a version the store does not hold is like a missing one: recovery restores
        // it from the journal.
        if let linked, store.contains(linked) {
            let ledger = Ledger(journal)
            guard ledger.explainsLink(to: linked) else {
                let named = ledger.current.map { "version \($0.short)" } ?? "no version"
                return "it does not explain \(home.current): that link names version \(linked.short), but the journal ends at \(named) (its newest records may be missing)"
            }
        }
        return nil
    }

    // MARK: - Repair

    /// `journal.damaged-<time>`, or the name an interrupted repair already gave the same file
    /// (a second link to it), or a free name with a counter.
    private func keptName() throws -> String {
        let base = home.journal + ".damaged-" + WallClock.iso8601(WallClock.now()).filter { $0.isNumber || $0 == "T" }
        let journal = try FileSystem.statusIfPresent(home.journal, followLinks: false)
        for index in 1...1000 {
            let name = index == 1 ? base : base + "-\(index)"
            guard let existing = try FileSystem.statusIfPresent(name, followLinks: false) else { return name }
            if let journal, existing.inode == journal.inode, existing.device == journal.device { return name }
        }
        throw UpgradeError.homeNotWritable(path: home.root, reason: "no free name for the damaged journal beside \(base)")
    }

    /// `<path>.damaged-<time>`, or that name with a counter where something already has it (an
    /// earlier repair's within the same second): what is set aside never replaces what was.
    /// - Throws: ``UpgradeError/homeNotWritable(path:reason:)`` when 1,000 names are taken.
    private func freeAsideName(_ path: String) throws -> String {
        let base = path + ".damaged-" + WallClock.iso8601(WallClock.now()).filter { $0.isNumber || $0 == "T" }
        for index in 1...1000 {
            let name = index == 1 ? base : base + "-\(index)"
            if try FileSystem.statusIfPresent(name, followLinks: false) == nil { return name }
        }
        throw UpgradeError.homeNotWritable(path: home.root, reason: "no free name to set \(path) aside beside \(base)")
    }

    /// Moves `path` aside to ``freeAsideName(_:)``'s name, never over what took that name
    /// meanwhile (another free name is looked for then).
    /// - Returns: where it went.
    private func moveAside(_ path: String) throws -> String {
        for _ in 1...10 {
            let aside = try freeAsideName(path)
            switch Result(catching: { () throws(SystemError) in try FileSystem.renameWithoutReplacing(path, to: aside) }) {
            case .success: return aside
            case .failure(let error) where error.errno == .fileExists: continue
            case .failure(let error): throw error
            }
        }
        throw UpgradeError.homeNotWritable(path: home.root, reason: "the names to set \(path) aside were taken as fast as they were found")
    }

    /// What ``repair()`` did.
    public struct RepairReport: Sendable, Codable, Equatable {
        /// False when the journal was sound and nothing was changed.
        public var repaired: Bool
        /// Why the journal was refused, when it was.
        public var problem: String?
        /// Where the damaged journal was kept.
        public var keptAs: String?
        /// The versions adopted into the new journal, oldest first, the current one last.
        public var adopted: [VersionID]
        public var current: VersionID?
        /// Stored versions whose bytes no longer match their id (kept, but not adopted).
        public var damaged: [VersionID]
        /// The version `current` named before the repair (nil: none, or not a link into the store).
        public var currentBefore: VersionID?
        /// Where something that was at `current` but was not a link was moved.
        public var currentKeptAs: String?
    }

    /// Rebuilds a journal that cannot be used from what is on disk: each stored version whose
    /// bytes match its id is adopted (oldest first by its metadata, the one `current` points at
    /// last), nothing is deleted, and the damaged file is kept beside the new one as
    /// `journal.damaged-<time>`. A sound journal is left as it is.
    ///
    /// Crash safety: the new journal is written and fsync'd under a temporary name, the old one
    /// is hard-linked aside, then the new one is renamed over it; a kill at any point leaves
    /// either the old journal (run the repair again) or the new one.
    /// - Throws: ``UpgradeError`` when the home is locked or cannot be written.
    public func repair() throws(UpgradeError) -> RepairReport {
        try UpgradeError.wrapping {
            guard home.isInitialized else { throw UpgradeError.notInitialized(home: home.root) }
            let lock = try acquireLock()
            defer { lock.release() }
            // A tail that is not a regular file of the journal's owner with one name is moved
            // aside whole; the journal is judged without it.
            let tail = Journal.tailPath(of: home.journal)
            var tailKeptAs: String?
            let tailProblem = Journal.tailProblem(of: home.journal)
            if tailProblem != nil {
                let aside = try moveAside(tail)
                try FileSystem.syncDirectory(home.root)
                tailKeptAs = aside
            }
            let problem: String
            do {
                let journal = try readJournal()
                // Sound, but no change could be appended to it: rebuilt like a damaged one.
                if let problem = journal.appendProblem { throw StorageError.unusableJournal(path: home.journal, reason: problem) }
                // A tail missing (a home older than it, or moved aside above) or malformed names
                // the journal's last record again.
                if Journal.durableSequence(of: home.journal) == nil, journal.lastSequence > 0 {
                    let malformed = FileSystem.exists(tail)
                    try Journal.recordDurableSequence(journal.lastSequence, of: home.journal)
                    if tailKeptAs != nil || malformed {
                        let linked = try home.currentVersion()
                        return RepairReport(repaired: true, problem: "\(tail) " + (tailKeptAs.map { "\(tailProblem ?? "was damaged") (kept as \($0))" } ?? "was unreadable")
                                                + "; it now names record \(journal.lastSequence)",
                                            keptAs: nil, adopted: [], current: linked.map(VersionID.init), damaged: [],
                                            currentBefore: linked.map(VersionID.init), currentKeptAs: nil)
                    }
                }
                // A sound journal, but `current` missing or naming a version the store lacks:
                // put it back where the journal says.
                let linked = try home.currentVersion()
                if let expected = Ledger(try readJournal()).current, linked != expected, store.contains(expected),
                   linked.map(store.contains) != true {
                    try home.setCurrent(expected)
                    return RepairReport(repaired: true, problem: "\(home.current) named no stored version", keptAs: nil, adopted: [],
                                        current: VersionID(expected), damaged: [], currentBefore: linked.map(VersionID.init), currentKeptAs: nil)
                }
                return RepairReport(repaired: false, problem: nil, keptAs: nil, adopted: [], current: linked.map(VersionID.init), damaged: [],
                                    currentBefore: linked.map(VersionID.init), currentKeptAs: nil)
            } catch let error as StorageError {
                switch error {
                case .corruptJournal(_, let line, let reason): problem = "damaged at line \(line): \(reason)"
                case .unusableJournal(_, let reason): problem = reason
                default: problem = "\(error)"
                }
            }

            var sound: [(id: SHA256Digest, metadata: VersionMetadata?)] = []
            var damaged: [VersionID] = []
            for id in try store.list() {
                if (try? store.verify(id)) != nil {
                    sound.append((id, store.metadata(id)))
                } else {
                    damaged.append(VersionID(id))
                }
            }
            // `current` wins (a journal cut short names an older version); then what the damaged
            // journal itself still says; only then the newest stored version.
            let linked = try? home.currentVersion()
            let journaled = (try? Journal(path: home.journal)).flatMap { Ledger($0).current }
            let current = sound.first { $0.id == linked }?.id
                ?? sound.first { $0.id == journaled }?.id
                ?? sound.max { ($0.metadata?.addedAt ?? 0, $0.id.hex) < ($1.metadata?.addedAt ?? 0, $1.id.hex) }?.id
            guard let current else {
                throw UpgradeError.nothingToRepairFrom(home: home.root, damaged: damaged.map(\.short))
            }
            let ordered = sound.filter { $0.id != current }.sorted { ($0.metadata?.addedAt ?? 0, $0.id.hex) < ($1.metadata?.addedAt ?? 0, $1.id.hex) }
                + sound.filter { $0.id == current }

            // Something at `current` that is not a link is set aside below: that a name is free
            // for it is known before anything changes.
            if linked != current, let status = try FileSystem.statusIfPresent(home.current, followLinks: false), status.kind != .symbolicLink {
                _ = try freeAsideName(home.current)
            }
            let keptAs = try keptName()
            let draft = home.journal + ".repair"
            try FileSystem.removeTree(draft)
            try FileSystem.removeTree(Journal.tailPath(of: draft))
            var journal = try Journal(path: draft)
            for (id, metadata) in ordered {
                try journal.append(JournalRecord(.adopt(version: id, name: metadata?.version, source: metadata?.source,
                                                        repairedFrom: FileSystem.baseName(of: keptAs))))
            }
            try FailPoint.hit("repair-written", program)
            if let damagedFile = try FileSystem.statusIfPresent(home.journal, followLinks: false), !FileSystem.exists(keptAs) {
                if damagedFile.kind == .regular {
                    try FileSystem.link(home.journal, to: keptAs)
                } else {
                    // A directory, FIFO or link in its place cannot be hard-linked aside: it is
                    // moved aside whole (kept, never deleted). A kill before the new journal is
                    // renamed in leaves no journal: the next repair starts again.
                    try FileSystem.rename(home.journal, to: keptAs)
                }
                try FileSystem.syncDirectory(home.root)
            }
            // The archive belongs to the damaged journal: kept beside it, never read as the new one's.
            if FileSystem.exists(Journal.archivePath(of: home.journal)), !FileSystem.exists(Journal.archivePath(of: keptAs)) {
                try FileSystem.rename(Journal.archivePath(of: home.journal), to: Journal.archivePath(of: keptAs))
                try FileSystem.syncDirectory(home.root)
            }
            try FailPoint.hit("repair-kept", program)
            try FileSystem.rename(draft, to: home.journal)
            // The damaged journal's tail goes with it; the new one's names its own last record (a
            // kill before this leaves a journal that ends before the old tail: repaired again).
            if FileSystem.exists(tail), !FileSystem.exists(keptAs + ".tail") { try? FileSystem.link(tail, to: keptAs + ".tail") }
            try Journal.recordDurableSequence(journal.lastSequence, of: draft)
            try FileSystem.rename(Journal.tailPath(of: draft), to: tail)
            try FileSystem.syncDirectory(home.root)
            try FailPoint.hit("repair-replaced", program)
            var currentKeptAs: String?
            if linked != current {
                // Something at `current` that is not a link (a file put there) is kept aside, not replaced.
                if let status = try FileSystem.statusIfPresent(home.current, followLinks: false), status.kind != .symbolicLink {
                    let aside = try moveAside(home.current)
                    currentKeptAs = aside
                }
                try home.setCurrent(current)
            }
            try FileSystem.replaceSymbolicLink(home.entryPoint, target: "../current/" + home.programName)
            return RepairReport(repaired: true, problem: problem, keptAs: FileSystem.exists(keptAs) ? keptAs : nil,
                                adopted: ordered.map { VersionID($0.id) }, current: VersionID(current), damaged: damaged,
                                currentBefore: linked.map(VersionID.init), currentKeptAs: currentKeptAs)
        }
    }
}
