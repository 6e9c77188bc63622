import FoundationEssentials
import Integrity
import Platform
import Synchronization

/// The write-ahead log: append-only, one checksummed record per line, fsync'd after each append.
///
/// A line is `<crc32 hex> <json>\n`. A last line without its newline (a write torn by a crash) is
/// ignored and cut off before the next append; any complete line that is damaged, the last one
/// included, is corruption, reported as
/// ``StorageError/corruptJournal(path:line:reason:)`` and never silently skipped.
///
/// The active file stays short: from time to time (``rotate(keeping:hook:)``) it is archived
/// whole into `<journal>.d/<first>-<last>` and replaced by a file that starts with a
/// ``JournalCheckpoint`` of everything before. A reader reads the checkpoint and the records
/// after it; only a reader that asks for the whole history (``init(path:replayingArchive:)``),
/// or one that finds the checkpoint damaged, reads the archive.
package struct Journal: Sendable {
    /// The journal file.
    package let path: String
    /// What the records before ``records`` prove, when the active file starts with a sound
    /// checkpoint and the archive was not replayed.
    package private(set) var checkpoint: JournalCheckpoint?
    /// The records read, in order: those after the checkpoint, or all of them.
    package private(set) var records: [JournalRecord]
    /// Why the active file's checkpoint was set aside (its records were then read from the archive).
    package private(set) var checkpointRefusal: String?
    /// Bytes of the file holding whole, valid lines.
    package private(set) var validByteCount: Int
    /// True when the file ends in an unfinished line (no newline).
    package private(set) var hasTornTail: Bool
    /// How many of ``records`` are in the active file (the rest came from the archive).
    package private(set) var activeRecordCount: Int
    /// The whole lines of the active file, its checkpoint's (sound or not) included.
    private var lineCount = 0
    /// Names what ``checkpoint`` and ``records`` hold, unique in this process: a parse gets a new
    /// one (a parse reused from the same bytes keeps it), and so does every change. What is
    /// folded from those two alone can be kept under it and reused while it stays the same.
    package private(set) var content = Self.newContent()

    private static let contents = Atomic<UInt64>(0)
    private static func newContent() -> UInt64 { contents.wrappingAdd(1, ordering: .relaxed).newValue }

    /// The directory of archived segments, `<journal>.d`.
    package var archive: String { Self.archivePath(of: path) }

    /// The directory of archived segments of the journal at `journal`: `<journal>.d`.
    package static func archivePath(of journal: String) -> String { journal + ".d" }
    /// The sequence number of the last record, the checkpoint's when none follows it.
    package var lastSequence: Int { records.last?.sequence ?? checkpoint?.through ?? 0 }

    /// Reads the journal at `path` (an absent file is an empty journal).
    /// - Parameter replayingArchive: read every record, from the archive, even behind a sound
    ///   checkpoint (the whole history; the cost grows with it).
    /// - Throws: ``StorageError/corruptJournal(path:line:reason:)``, or ``SystemError`` on read failure.
    package init(path: String, replayingArchive: Bool = false) throws {
        // The tail is read before the journal: a writer makes a record durable before it rewrites
        // the tail, so a tail read first never names a record that the journal read after it
        // lacks, unless records were lost. A reader that races a writer (status while a rollback
        // runs) may still see a tail torn mid-write: a mismatch is read again before it is damage.
        self = try Self.read(path, replayingArchive: replayingArchive)
    }

    private static func read(_ path: String, replayingArchive: Bool) throws -> Journal {
        var attempt = 1
        while true {
            let durable = durableSequence(of: path)
            // No file: an empty journal, and nothing to compare (repair handles the rest).
            guard let journal = try load(path, replayingArchive: replayingArchive) else { return Journal(emptyAt: path) }
            guard let durable, durable > journal.lastSequence else { return journal }
            if attempt == readAttempts {
                throw StorageError.corruptJournal(path: path, line: journal.lineCount + 1,
                                                  reason: "it ends at record \(journal.lastSequence), but record \(durable) was written (\(tailPath(of: path))): its newest records are missing")
            }
            attempt += 1
        }
    }

    /// How many times a journal is read when what it says disagrees with a file written after it
    /// (its tail, the `current` link), before the disagreement is damage: a reader without the
    /// lock may have read between a writer's two writes.
    package static let readAttempts = 3

    /// The most JSON values one journal line may hold (a record holds a few dozen; a checkpoint
    /// line holds its state as one string): a line of a file within ``largestFile`` cannot make a
    /// reader build gigabytes of parse tree.
    package static let largestRecordValues = 100_000

    /// The largest journal file (active or archived) read: about 280,000 records, where a rotation
    /// keeps the active file to a few hundred. A larger one is refused, not read into memory.
    package static let largestFile = 64 << 20

    /// The journal in the file at `path` (nil when there is none), parsed, or the parse of the
    /// same bytes read before in this process.
    private static func load(_ path: String, replayingArchive: Bool) throws -> Journal? {
        guard let bytes = try FileSystem.readOwnFile(path, maxBytes: largestFile, what: "a journal") else { return nil }
        let archiveExists = FileSystem.isDirectory(path + ".d")
        let journal: Journal
        if !replayingArchive, let parsed = parsedBefore(path: path, archiveExists: archiveExists, bytes: bytes) {
            journal = parsed
        } else {
            journal = try Journal(parsing: bytes, path: path, archiveExists: archiveExists, replayingArchive: replayingArchive)
            if !replayingArchive && journal.checkpointRefusal == nil {
                remember(Parsed(path: path, archiveExists: archiveExists, bytes: bytes, journal: journal))
            }
        }
        try journal.checkTail()
        return journal
    }

    private init(emptyAt path: String) {
        self.path = path
        records = []
        validByteCount = 0
        hasTornTail = false
        activeRecordCount = 0
    }

    private init(parsing bytes: [UInt8], path: String, archiveExists: Bool, replayingArchive: Bool) throws {
        self.init(emptyAt: path)
        try parse(bytes, archiveExists: archiveExists, replayingArchive: replayingArchive)
    }

    /// The records and checkpoint of `bytes`, the active file's content.
    private mutating func parse(_ bytes: [UInt8], archiveExists: Bool, replayingArchive: Bool) throws {
        let split = try Self.lines(bytes, path: path, firstMayBeDamaged: archiveExists)
        lineCount = split.lines.count + (split.damagedFirst == nil ? 0 : 1)
        validByteCount = split.validByteCount
        hasTornTail = split.hasTornTail
        var lines = split.lines
        // The first line may be a checkpoint: believed when sound, else its records come from the archive.
        var archivedThrough: Int?
        if let first = split.damagedFirst.map(FirstLine.damaged) ?? lines.first.map({ FirstLine.whole($0.json) }) {
            var claimed = false
            var reason: String?
            switch first {
            case .damaged(let why):
                claimed = true
                reason = why
            case .whole(let json) where JournalCheckpoint.claims(json):
                claimed = true
                lines.removeFirst()
                do {
                    let read = try JournalCheckpoint(json: json)
                    if let next = lines.first, Self.sequence(of: next.json) != read.through + 1 {
                        reason = "it ends at record \(read.through) but the next line is not record \(read.through + 1)"
                    } else if replayingArchive {
                        archivedThrough = read.through
                    } else {
                        checkpoint = read
                    }
                } catch {
                    reason = error.description
                }
            case .whole(let json) where archiveExists && Self.sequence(of: json) != 1:
                // Behind an archive, line 1 is a checkpoint (or the journal's very first record):
                // anything else there (its kind removed or changed, other JSON) is a damaged
                // checkpoint, refused, and its records are read from the archive.
                claimed = true
                lines.removeFirst()
                reason = "line 1 is not a checkpoint"
            case .whole:
                break
            }
            if claimed, let reason {
                checkpointRefusal = reason
                archivedThrough = lines.first.flatMap { Self.sequence(of: $0.json) }.map { $0 - 1 } ?? -1
            }
        }
        records = try Self.decode(lines, path: path)
        activeRecordCount = records.count
        if let through = archivedThrough {
            do {
                records = try Self.archivedRecords(archive, through: through < 0 ? nil : through, journal: path,
                                                   checkpointIsSound: checkpointRefusal == nil) + records
            } catch StorageError.corruptJournal(let segment, let line, let why) where checkpointRefusal == nil && segment != path {
                // Behind a sound checkpoint (the whole history asked for), the home itself is sound.
                throw StorageError.incompleteArchive(path: archive, last: through, reason: "\"\(segment)\" is damaged at line \(line) (\(why))")
            } catch StorageError.unusableJournal(let refused, let why) where checkpointRefusal == nil && refused == archive {
                throw StorageError.unusableArchive(path: archive, reason: why)
            }
        }
        // Where the record at `index` is: its line in the active file, or (read from the archive)
        // the archive, named in the reason, with line 1 of the journal.
        let archived = records.count - activeRecordCount
        func line(of index: Int) -> Int { index >= archived ? lines[index - archived].number : 1 }
        func inArchive(_ index: Int) -> String { index >= archived ? "" : " (in its archive \(archive))" }
        let expectedFirst = (checkpoint?.through ?? 0) + 1
        if let first = records.first, first.sequence != expectedFirst {
            let reason = checkpoint == nil ? "it starts at record \(first.sequence), not 1: its beginning is missing"
                : "its checkpoint ends at record \(expectedFirst - 1), but the next record is \(first.sequence)"
            throw StorageError.corruptJournal(path: path, line: line(of: 0), reason: reason)
        }
        for index in records.indices.dropFirst() where records[index].sequence != records[index - 1].sequence + 1 {
            // A whole, checksummed record out of sequence is not a torn write: one is missing.
            throw StorageError.corruptJournal(path: path, line: line(of: index),
                                              reason: "record \(records[index].sequence) follows record \(records[index - 1].sequence)" + inArchive(index))
        }
    }

    /// Refuses a `<journal>.tail` that is not a file of the journal's own: through it, a cut at
    /// the journal's end could not be noticed (its content is compared by ``init(path:replayingArchive:)``).
    private func checkTail() throws {
        if let problem = Self.tailProblem(of: path) {
            throw StorageError.corruptJournal(path: path, line: lineCount + 1,
                                              reason: "its tail \(Self.tailPath(of: path)) \(problem), so a cut at its end could not be noticed")
        }
    }

    // MARK: - What this process read last

    /// The journal parsed from the active file's bytes, given whether the archive directory
    /// existed (a journal whose reading took nothing else: no archive, no refused checkpoint).
    private struct Parsed: Sendable {
        var path: String
        var archiveExists: Bool
        var bytes: [UInt8]
        var journal: Journal
    }

    /// The largest active file whose parse is kept (a checkpointed journal stays far below it).
    private static let largestRemembered = 1 << 20
    private static let lastParsed = Mutex<Parsed?>(nil)

    /// The parse of the last journal read in this process, when it was read from these very bytes
    /// (compared in full: a file is read every time, its parse is what is reused). A command reads
    /// its journal again once it holds the lock: that second read costs a comparison.
    private static func parsedBefore(path: String, archiveExists: Bool, bytes: [UInt8]) -> Journal? {
        lastParsed.withLock { last in
            guard let last, last.path == path, last.archiveExists == archiveExists, last.bytes == bytes else { return nil }
            return last.journal
        }
    }

    private static func remember(_ parsed: Parsed) {
        guard parsed.bytes.count <= largestRemembered else { return }
        lastParsed.withLock { $0 = parsed }
    }

    /// Appends a record (write of one whole line, then fsync), first cutting off a torn tail.
    /// - Parameter durable: false skips the fsync: for a record whose loss in a power cut leaves
    ///   a state recovery already handles (a rollback's step records, between its durable `begin`
    ///   and its durable `commit`, whose fsync also makes them durable).
    /// - Returns: the record as written, with its sequence number and time.
    /// - Throws: ``SystemError``, or ``JournalFieldError`` when the journal has reached the largest
    ///   sequence number; the journal in memory is then unchanged.
    @discardableResult
    package mutating func append(_ record: JournalRecord, durable: Bool = true) throws -> JournalRecord {
        guard lastSequence < JournalRecord.largestSequence else {
            throw JournalFieldError("the journal \(path) holds record \(lastSequence), the last a journal may number: no record can follow it")
        }
        var record = record
        record.sequence = lastSequence + 1
        record.time = WallClock.now()
        record.pid = ProcessControl.id
        let json = try record.encoded()
        let checksum = String(CRC32.checksum(json), radix: 16)
        let line = Array((String(repeating: "0", count: 8 - checksum.count) + checksum + " ").utf8) + json + [UInt8(ascii: "\n")]

        // The archive may name this very file while a rotation is unfinished (see rotate).
        let fd = try FileDescriptor.openOwned(path, [.writeOnly, .create, .append], mode: 0o644, secondNameIn: archive)
        try fd.closeAfter {
            let info = try fd.status()
            guard info.kind == .regular else {
                throw StorageError.corruptJournal(path: path, line: records.count + 1, reason: "it is not a regular file")
            }
            let size = info.size
            if size != validByteCount { try fd.truncate(to: validByteCount) }
            try fd.writeAll(line)
            if durable || size == 0 { try fd.sync() }
            if size == 0 { try FileSystem.syncDirectory(FileSystem.parent(of: path)) }
        }
        if durable || validByteCount == 0 {
            // After the record is durable, never before: the tail may lag, never lead.
            try? Self.recordDurableSequence(record.sequence, of: path)
        }
        records.append(record)
        activeRecordCount += 1
        lineCount += 1
        validByteCount += line.count
        hasTornTail = false
        content = Self.newContent()
        return record
    }

    /// Replaces an active file that holds nothing but a refused checkpoint (every record it
    /// stood for was read from the archive) with a new checkpoint of `state` through the last
    /// record: written and fsync'd under a temporary name, renamed over the journal, the home
    /// fsync'd. The caller keeps the refused file (a second name of it) if it wants it.
    /// - Throws: ``SystemError``; the journal is then as it was.
    package mutating func replaceRefusedCheckpoint(keeping state: JournalCheckpoint.State) throws {
        guard checkpointRefusal != nil, activeRecordCount == 0, lastSequence >= 2 else { return }
        let checkpoint = JournalCheckpoint(through: lastSequence, time: WallClock.now(), state: state)
        let draft = path + ".checkpoint"
        try FileSystem.removeTree(draft)
        let fd = try FileDescriptor.open(draft, [.writeOnly, .create, .exclusive, .noFollow], mode: 0o644)
        try fd.closeAfter {
            try fd.writeAll(try checkpoint.line())
            try fd.sync()
        }
        try FileSystem.rename(draft, to: path)
        try FileSystem.syncDirectory(FileSystem.parent(of: path))
        self.checkpoint = checkpoint
        records = []
        lineCount = 1
        checkpointRefusal = nil
        content = Self.newContent()
    }

    /// Archives the active file and starts a new one with `state` as its checkpoint, so that a
    /// reader reads only what follows. Call only under the home's lock with no transaction open.
    ///
    /// Crash safety: the active file is hard-linked into the archive as `<first>-<last>` (the
    /// archive directory fsync'd), the new file is written and fsync'd under a temporary name,
    /// then renamed over the journal (the home fsync'd). A kill before the rename leaves the
    /// journal as it was (the archive then holds a second name of it, which readers ignore and
    /// the next rotation reuses); after it, the new file.
    /// - Parameter hook: called at `checkpoint-archived`, `checkpoint-written` and
    ///   `checkpoint-installed` (crash tests).
    /// - Throws: ``SystemError``, or ``StorageError`` when the archive holds another file under
    ///   the segment's name; the journal is then as it was.
    package mutating func rotate(keeping state: JournalCheckpoint.State, hook: (String) throws -> Void = { _ in }) throws {
        guard activeRecordCount > 0, let first = records.dropFirst(records.count - activeRecordCount).first, lastSequence >= 2 else { return }
        let parent = FileSystem.parent(of: path)
        if hasTornTail {
            let fd = try FileDescriptor.open(path, [.writeOnly, .noFollow])
            try fd.closeAfter {
                try fd.truncate(to: validByteCount)
                try fd.sync()
            }
            hasTornTail = false
        }
        let active = try FileSystem.status(path, followLinks: false)
        try Self.checkArchive(archive)
        // A journal that starts at record 1 needs no archive: one holding other files belongs to
        // an earlier history (a repair by a release older than checkpoints leaves it behind). It
        // is kept aside, never deleted, and never read as this journal's.
        if first.sequence == 1, FileSystem.isDirectory(archive),
           try Self.segments(in: archive).contains(where: { segment in
               let info = try FileSystem.statusIfPresent(archive + "/" + segment.name, followLinks: false)
               return info.map { $0.inode != active.inode || $0.device != active.device } ?? false
           }) {
            let stamp = WallClock.iso8601(WallClock.now()).filter { $0.isNumber || $0 == "T" }
            try FileSystem.rename(archive, to: archive + ".replaced-\(stamp)-\(ProcessControl.id)")
            try FileSystem.syncDirectory(parent)
        }
        if !FileSystem.isDirectory(archive) {
            try FileSystem.createDirectory(archive, mode: 0o755)
            try FileSystem.syncDirectory(parent)
        }
        let segment = archive + "/\(first.sequence)-\(lastSequence)"
        if let existing = try FileSystem.statusIfPresent(segment, followLinks: false) {
            guard existing.inode == active.inode, existing.device == active.device else {
                throw StorageError.unusableJournal(path: segment, reason: "the archive already holds another file by that name")
            }
        } else {
            try FileSystem.link(path, to: segment)
        }
        // A second name an interrupted rotation gave this same file, with fewer records, goes.
        for stale in Self.segments(in: archive) where stale.first == first.sequence && stale.last != lastSequence {
            let name = archive + "/" + stale.name
            if let info = try FileSystem.statusIfPresent(name, followLinks: false), info.inode == active.inode, info.device == active.device {
                try FileSystem.removeFile(name)
            }
        }
        try FileSystem.syncDirectory(archive)
        try hook("checkpoint-archived")
        let checkpoint = JournalCheckpoint(through: lastSequence, time: WallClock.now(), state: state)
        let line = try checkpoint.line()
        let draft = path + ".checkpoint"
        try FileSystem.removeTree(draft)
        let fd = try FileDescriptor.open(draft, [.writeOnly, .create, .exclusive, .noFollow], mode: 0o644)
        try fd.closeAfter {
            try fd.writeAll(line)
            try fd.sync()
        }
        try hook("checkpoint-written")
        try FileSystem.rename(draft, to: path)
        try FileSystem.syncDirectory(parent)
        self.checkpoint = checkpoint
        records = []
        activeRecordCount = 0
        lineCount = 1
        checkpointRefusal = nil
        validByteCount = line.count
        content = Self.newContent()
        try hook("checkpoint-installed")
    }

    /// The archived segments, `(first, last, name)`, in order of their first record.
    package static func segments(in archive: String) -> [(first: Int, last: Int, name: String)] {
        (try? listedSegments(in: archive)) ?? []
    }

    /// The segments of `archive` (none when it does not exist), ordered by first then last record.
    /// - Throws: ``SystemError`` when the directory exists but cannot be listed.
    static func listedSegments(in archive: String) throws -> [(first: Int, last: Int, name: String)] {
        guard try FileSystem.statusIfPresent(archive, followLinks: false) != nil else { return [] }
        return try FileSystem.contentsOfDirectory(archive).compactMap { name -> (Int, Int, String)? in
            let parts = name.split(separator: "-", omittingEmptySubsequences: false)
            guard parts.count == 2, let first = Int(parts[0]), let last = Int(parts[1]), first >= 1, first <= last,
                  String(first) == parts[0], String(last) == parts[1] else { return nil }
            return (first, last, name)
        }.sorted { ($0.0, $0.1) < ($1.0, $1.1) }
    }

    /// Records 1 through `through` (all the archive holds when nil) from the archived segments:
    /// a chain of segments each starting where the previous ended; a segment's first line may be
    /// the checkpoint it was written behind, which is skipped. Segments past `through` (left by
    /// a rotation killed before its rename) are not read.
    /// - Throws: ``StorageError/corruptJournal(path:line:reason:)`` naming the segment and line
    ///   when no segment starting at a record holds it soundly; ``SystemError`` when the archive
    ///   or a segment cannot be read (its permissions, a special file), not a loss of records.
    private static func archivedRecords(_ archive: String, through: Int?, journal: String, checkpointIsSound: Bool) throws -> [JournalRecord] {
        try checkArchive(archive)
        var records: [JournalRecord] = []
        var next = 1
        // Of two names with the same first record (a rotation killed before its rename, then more
        // records appended), the longer one within `through` holds the records; one that does not
        // read as its name says (a stray copy, an empty file) falls back to the next longest.
        let starting = Dictionary(grouping: try listedSegments(in: archive).filter { $0.last <= (through ?? .max) }, by: \.first)
        while let candidates = starting[next]?.sorted(by: { $0.last > $1.last }) {
            var refusal: (any Error)?
            var read: [JournalRecord]?
            for segment in candidates {
                do {
                    read = try recordsOf(segment, in: archive)
                    break
                } catch {
                    // A segment that cannot be read (its permissions, a FIFO) is named before one
                    // that reads but holds the wrong records (a stray file under a longer name).
                    if refusal == nil || (error is SystemError && !(refusal is SystemError)) { refusal = error }
                }
            }
            guard let read, let last = read.last?.sequence else { throw refusal ?? StorageError.unusableJournal(path: archive, reason: "no segment holds record \(next)") }
            records += read
            next = last + 1
        }
        if let through, next != through + 1 {
            // Behind a sound checkpoint (the whole history asked for), the home itself is sound.
            if checkpointIsSound {
                throw StorageError.incompleteArchive(path: archive, last: through, reason: "the journal's archive \"\(archive)\" does not hold records \(next)–\(through)")
            }
            throw StorageError.corruptJournal(path: journal, line: 1, reason: "its checkpoint cannot be used and the archive \(archive) does not hold records \(next)–\(through)")
        }
        return records
    }

    /// The records of one archived segment, which must be those its name says, in sequence.
    private static func recordsOf(_ segment: (first: Int, last: Int, name: String), in archive: String) throws -> [JournalRecord] {
        let path = archive + "/" + segment.name
        guard let bytes = try FileSystem.readOwnFile(path, maxBytes: largestFile, what: "a journal segment") else {
            throw StorageError.corruptJournal(path: path, line: 1, reason: "it is gone")
        }
        var lines = try Self.lines(bytes, path: path, firstMayBeDamaged: segment.first > 1)
        // A later segment starts with the checkpoint it was archived behind: skipped, damaged or
        // not (a refused one is archived as it was): whatever is not the segment's first record.
        if lines.damagedFirst == nil, segment.first > 1, let first = lines.lines.first,
           JournalCheckpoint.claims(first.json) || sequence(of: first.json) != segment.first {
            lines.lines.removeFirst()
        }
        let read = try decode(lines.lines, path: path)
        for index in read.indices.dropFirst() where read[index].sequence != read[index - 1].sequence + 1 {
            throw StorageError.corruptJournal(path: path, line: lines.lines[index].number,
                                              reason: "record \(read[index].sequence) follows record \(read[index - 1].sequence)")
        }
        guard read.first?.sequence == segment.first, read.last?.sequence == segment.last else {
            throw StorageError.corruptJournal(path: path, line: 1, reason: "it does not hold records \(segment.first)–\(segment.last), as its name says")
        }
        return read
    }

    /// Why no change can be journaled although the journal reads as sound: it has a second name
    /// (other than the archive's, during a rotation), or it has reached the largest sequence
    /// number. nil when changes can be appended.
    package var appendProblem: String? {
        if let status = try? FileSystem.status(path, followLinks: false), status.linkCount > 1,
           !(status.linkCount == 2 && Self.segments(in: archive).contains(where: { segment in
               (try? FileSystem.status(archive + "/" + segment.name, followLinks: false)).map { $0.inode == status.inode && $0.device == status.device } ?? false
           })) {
            return "it has \(status.linkCount) names (a hard link to a file elsewhere may have been planted there)"
        }
        if lastSequence >= JournalRecord.largestSequence { return "it holds record \(lastSequence), the last a journal may number" }
        return nil
    }

    // MARK: - Internals

    /// The archive is the home's own directory (or absent): a link planted there would send the
    /// segments a rotation writes, and the history a reader replays, somewhere else.
    /// - Throws: ``StorageError/unusableJournal(path:reason:)`` naming what is wrong.
    static func checkArchive(_ archive: String) throws {
        guard let found = try FileSystem.statusIfPresent(archive, followLinks: false) else { return }
        let owner = (try? FileSystem.status(FileSystem.parent(of: archive)))?.owner
        let reason: String? = found.kind == .symbolicLink ? "it is a symbolic link, not the journal's own directory; remove it"
            : found.kind != .directory ? "it is not a directory; remove it"
            : found.owner != Privilege.userID && found.owner != owner ? "it belongs to user \(found.owner), not to this user or the owner of the home"
            : nil
        if let reason { throw StorageError.unusableJournal(path: archive, reason: reason) }
    }

    /// The active file's first line: a checkpoint, a record, or damaged (with why). Not a
    /// `Result`: making `Result<_, JournalFieldError>` checks that the error conforms to `Error`
    /// at run time, a scan of every conformance in the binary in each process that reads a journal.
    private enum FirstLine {
        case whole(ArraySlice<UInt8>)
        case damaged(String)
    }

    /// The whole, checksummed lines of `bytes`. A damaged first line is returned apart, with
    /// what is wrong with it, when `firstMayBeDamaged` (it may be a damaged checkpoint, whose
    /// records the archive holds).
    private static func lines(_ bytes: [UInt8], path: String, firstMayBeDamaged: Bool) throws
        -> (lines: [(number: Int, json: ArraySlice<UInt8>)], damagedFirst: String?,
            validByteCount: Int, hasTornTail: Bool) {
        var lines: [(number: Int, json: ArraySlice<UInt8>)] = []
        var damagedFirst: String?
        var validByteCount = 0
        var hasTornTail = false
        var lineStart = 0
        var number = 0
        while lineStart < bytes.count {
            let newline = bytes[lineStart...].firstIndex(of: UInt8(ascii: "\n"))
            let lineEnd = newline ?? bytes.count
            number += 1
            do {
                guard newline != nil else { throw JournalLineError("the line is unfinished") }
                lines.append((number, try Self.checkedJSON(bytes[lineStart..<lineEnd])))
                validByteCount = lineEnd + 1
            } catch let error as JournalLineError {
                // Only a last line without its newline is a torn write; a complete line that
                // fails its checksum is damage, the last one included.
                if newline == nil {
                    hasTornTail = true
                } else if number == 1 && firstMayBeDamaged {
                    damagedFirst = "line 1: \(error.reason)"
                    validByteCount = lineEnd + 1
                } else {
                    throw StorageError.corruptJournal(path: path, line: number, reason: error.reason)
                }
            }
            lineStart = lineEnd + 1
        }
        return (lines, damagedFirst, validByteCount, hasTornTail)
    }

    /// The `sequence` of a record's JSON, read without decoding the rest.
    private static func sequence(of json: ArraySlice<UInt8>) -> Int? {
        // As deep as a record may nest (an unknown field of a later release), see strictlyDecoded.
        guard let value = try? JSONValue(parsing: json, maxDepth: 512, maxValues: largestRecordValues), case .object(let fields) = value else { return nil }
        return try? FieldReader(fields: fields).integer("sequence", in: 0...JournalRecord.largestSequence)
    }

    private struct JournalLineError: Error {
        let reason: String
        init(_ reason: String) { self.reason = reason }
    }

    /// The JSON of a line whose checksum matches.
    private static func checkedJSON(_ line: ArraySlice<UInt8>) throws(JournalLineError) -> ArraySlice<UInt8> {
        let start = line.startIndex
        guard line.count > 9, line[start + 8] == UInt8(ascii: " "),
              let stored = UInt32(String(decoding: line[start..<start + 8], as: UTF8.self), radix: 16) else {
            throw JournalLineError("no checksum")
        }
        let json = line[(start + 9)...]
        guard CRC32.checksum(json) == stored else { throw JournalLineError("checksum mismatch") }
        return json
    }

    /// Reads every line as a record, each with the strict parser (a line at fault is named).
    private static func decode(_ lines: [(number: Int, json: ArraySlice<UInt8>)], path: String) throws -> [JournalRecord] {
        var records: [JournalRecord] = []
        records.reserveCapacity(lines.count)
        for line in lines { records.append(try strictlyDecoded(line, path: path)) }
        return records
    }

    /// One line through the strict parser (duplicate keys and bad UTF-8 refused). A field this
    /// release does not know may hold any JSON a later one writes: nesting as deep as
    /// `JSONDecoder` takes (512) and integers beyond 64 bits, so a journal that older releases
    /// read is not called damaged here.
    private static func strictlyDecoded(_ line: (number: Int, json: ArraySlice<UInt8>), path: String) throws -> JournalRecord {
        let value: CanonicalJSONValue
        do {
            value = try CanonicalJSON.parse(Array(line.json), maxDepth: 512, maxValues: largestRecordValues, widerIntegers: .keepAsNumber)
        } catch {
            throw StorageError.corruptJournal(path: path, line: line.number, reason: "not a JSON record: \(error.reason)")
        }
        do {
            return try JournalRecord(json: JSONValue(value))
        } catch {
            throw StorageError.corruptJournal(path: path, line: line.number, reason: error.description)
        }
    }
}
