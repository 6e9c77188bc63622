import FoundationEssentials
import Integrity
import Platform

/// One record of the module journal: a reload's begin, each phase, its end, and the versions
/// set without a reload (a start, `modules reload` with no host running, `modules rollback`).
public struct ModuleRecord: Codable, Sendable, Equatable {
    /// What the record says.
    public enum Kind: String, Codable, Sendable {
        /// A module started on a version.
        case start
        /// A reload began (`from` → `to`).
        case begin
        /// A phase of a reload finished (`phase`, `milliseconds`).
        case phase
        /// The reload committed: `to` is the module's version.
        case commit
        /// The reload was undone (`phase` failed, `reason`): `from` stays the module's version.
        case rollback
        /// The version a module starts on next, set without a running host.
        case current
        /// A module version built from source and staged in the store.
        case built
    }

    /// Whether `milliseconds` can be a duration: finite, not negative, at most ten years.
    public static func isValidDuration(_ milliseconds: Double) -> Bool {
        milliseconds.isFinite && milliseconds >= 0 && milliseconds <= 315_576_000_000
    }

    /// Whether `schema` can be a state schema version (0...Int32.max: the wire carries 32 bits).
    public static func isValidSchema(_ schema: Int) -> Bool { (0...Int(Int32.max)).contains(schema) }

    /// The record format this release writes; readers ignore fields they do not know.
    public static let currentFormat = 1

    public var v = ModuleRecord.currentFormat
    public var kind: Kind
    public var module: String
    public var reload: String?
    public var phase: ReloadPhase?
    public var from: ModuleImage?
    public var to: ModuleImage?
    public var fromVersion: String?
    public var toVersion: String?
    public var schema: Int?
    public var milliseconds: Double?
    public var reason: String?
    public var time: Double = 0
    public var pid: Int32 = 0

    public init(kind: Kind, module: String, reload: String? = nil, phase: ReloadPhase? = nil, from: ModuleImage? = nil,
                 to: ModuleImage? = nil, fromVersion: String? = nil, toVersion: String? = nil, schema: Int? = nil,
                 milliseconds: Double? = nil, reason: String? = nil) {
        self.kind = kind
        self.module = module
        self.reload = reload
        self.phase = phase
        self.from = from
        self.to = to
        self.fromVersion = fromVersion
        self.toVersion = toVersion
        self.schema = schema
        self.milliseconds = milliseconds
        self.reason = reason
    }
}

/// The module journal, `<modules>/journal`: append-only, one checksummed JSON record per line
/// (`<crc32 hex> <json>`, the core journal's line format), each append fsync'd before it returns.
///
/// Several processes append to one journal (a host, `modules build`, `modules reload` with no
/// host): each append holds `<modules>/journal.lock` (flock) and, under it, looks at the file as
/// it is, so no process ever cuts what another wrote. Reloads of different modules append from
/// different threads; a lock of this process orders them too. A last line without its newline
/// (a writer that died in the middle of its write: no other writer holds the lock) is ignored
/// by readers and cut off by the next append, under the lock; any line that is complete but
/// damaged, the last one included, is reported, never skipped or overwritten.
public final class ModuleJournal: @unchecked Sendable {
    /// The journal file.
    public let path: String
    /// The inter-process lock every append holds.
    public var lockPath: String { path + ".lock" }
    private let lock = ConditionLock()

    /// The journal in `directory`; the directory and the file are created by the first append,
    /// so reading (or failing before writing) changes nothing on disk.
    public init(directory: String) throws(ModuleError) {
        path = directory + "/journal"
    }

    /// Appends `record` (one write of the whole line), then fsyncs the file unless `sync` is false.
    ///
    /// An unsynced record survives the death of this process (it is in the page cache) but not
    /// a power loss; the next synced append makes it durable with itself.
    /// - Throws: ``ModuleError`` `.journal` naming the file.
    public func append(_ record: ModuleRecord, sync: Bool = true) throws(ModuleError) {
        var record = record
        record.time = WallClock.now()
        record.pid = ProcessControl.id
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        guard let json = try? Array(encoder.encode(record)) else { throw ModuleError(.journal, "Failed to encode a record for \"\(path)\"") }
        let line = Self.line(json)
        // The write happens under the locks (records never interleave, nobody cuts another's);
        // the fsync after them, so that concurrent reloads' commits share the file system's.
        let written = try lock.withLock { () throws(ModuleError) -> (FileDescriptor, Bool) in
            do {
                try FileSystem.createDirectory(FileSystem.parent(of: path), mode: 0o755, intermediates: true)
                let fileLock = try FileLock.acquire(lockPath)
                defer { fileLock.release() }
                let fd = try FileDescriptor.openOwned(path, [.readWrite, .create, .append], mode: 0o644)
                do {
                    let size = try fd.status().size
                    let torn = try Self.tornTailLength(fd, size: size)
                    if torn > 0 { try fd.truncate(to: size - torn) }
                    try fd.writeAll(line)
                    return (fd, size == 0)
                } catch {
                    try? fd.close()
                    throw error
                }
            } catch {
                throw ModuleError(.journal, "Failed to append to \"\(path)\": \(error)")
            }
        }
        let (fd, created) = written
        do {
            try fd.closeAfter {
                if sync { try fd.sync() }
                if created { try FileSystem.syncDirectory(FileSystem.parent(of: path)) }
            }
        } catch {
            throw ModuleError(.journal, "Failed to make the record appended to \"\(path)\" durable: \(error)")
        }
    }

    /// A journal line: `<crc32 hex> <json>\n`.
    public static func line(_ json: [UInt8]) -> [UInt8] {
        let checksum = String(CRC32.checksum(json), radix: 16)
        return Array((String(repeating: "0", count: 8 - checksum.count) + checksum + " ").utf8) + json + [UInt8(ascii: "\n")]
    }

    /// Why a record's numbers cannot be right (a time, a duration or a schema out of any range
    /// a writer produces); nil when they are in range. Readers turn them into whole numbers,
    /// so an out-of-range one is damage, never trusted.
    public static func rangeProblem(_ record: ModuleRecord) -> String? {
        // Up to the year 5000; a duration up to ten years.
        if !record.time.isFinite || record.time < 0 || record.time > 95_000_000_000 { return "its time \(record.time) is out of range" }
        if let milliseconds = record.milliseconds, !ModuleRecord.isValidDuration(milliseconds) {
            return "its milliseconds \(milliseconds) are out of range"
        }
        if let schema = record.schema, !ModuleRecord.isValidSchema(schema) { return "its state schema \(schema) is out of range" }
        return nil
    }

    /// The bytes after the last newline of the file (a line its writer did not finish): 0 when
    /// the file ends with a newline or is empty. Read backwards from the end, in chunks.
    private static func tornTailLength(_ fd: FileDescriptor, size: Int) throws(SystemError) -> Int {
        var end = size
        // The common case, a file ending in a newline, costs a one-byte read.
        var chunk = 1
        var buffer = [UInt8](repeating: 0, count: chunk)
        while end > 0 {
            let start = max(0, end - chunk)
            guard fd.seek(to: start) else { throw SystemError("seek in", path: fd.path, errno: Errno.current) }
            var filled = 0
            while filled < end - start {
                let wanted = end - start
                let count = try buffer.withUnsafeMutableBytes { raw in
                    Result { () throws(SystemError) in try fd.read(into: UnsafeMutableRawBufferPointer(rebasing: raw[filled..<wanted])) }
                }.get()
                if count == 0 { break }
                filled += count
            }
            if let newline = buffer[0..<filled].lastIndex(of: UInt8(ascii: "\n")) { return size - (start + newline + 1) }
            end = start
            if chunk == 1 {
                chunk = 65_536
                buffer = [UInt8](repeating: 0, count: chunk)
            }
        }
        return size
    }

    /// Every record, in order (a torn last line, without its newline, is left out).
    /// - Throws: ``ModuleError`` `.journal` naming the line for a complete line that is damaged
    ///   or holds a number out of range.
    public func records() throws(ModuleError) -> [ModuleRecord] {
        try lock.withLock { () throws(ModuleError) in try Self.read(path).records }
    }

    // MARK: - Derived views

    /// Each module's version in force: the last commit, start or current record (a rollback
    /// leaves the version before the reload in force).
    public func versions() throws(ModuleError) -> [String: ModuleRecord] {
        let all = try records()
        // A commit whose record could not be made durable is followed by its reload's rollback.
        let rolledBack = Set(all.filter { $0.kind == .rollback }.compactMap(\.reload))
        var result: [String: ModuleRecord] = [:]
        for record in all where [.commit, .start, .current].contains(record.kind) && record.to != nil {
            if record.kind == .commit, let reload = record.reload, rolledBack.contains(reload) { continue }
            result[record.module] = record
        }
        return result
    }

    /// Ends every reload that began and never committed or rolled back (the host died in the
    /// middle): each gets a rollback record, so the module comes back on its committed version.
    /// - Returns: one note per reload ended.
    @discardableResult
    public func recover() throws(ModuleError) -> [String] {
        var open: [String: ModuleRecord] = [:]
        var lastPhase: [String: ReloadPhase] = [:]
        for record in try records() {
            guard let reload = record.reload else { continue }
            switch record.kind {
            case .begin: open[reload] = record
            case .phase: lastPhase[reload] = record.phase
            case .commit, .rollback: open[reload] = nil
            default: break
            }
        }
        var notes: [String] = []
        for (reload, begin) in open.sorted(by: { $0.key < $1.key }) {
            let phase = lastPhase[reload]
            try append(ModuleRecord(kind: .rollback, module: begin.module, reload: reload, phase: phase, from: begin.from, to: begin.to,
                                    fromVersion: begin.fromVersion, toVersion: begin.toVersion,
                                    reason: "the host ended during the reload (after \(phase?.rawValue ?? "begin")); \(begin.module) stays on \(begin.fromVersion ?? "its committed version")"))
            notes.append("reload \(reload) of \(begin.module) was unfinished: rolled back to \(begin.fromVersion ?? "its committed version")")
        }
        return notes
    }

    // MARK: - Internals

    private static func read(_ path: String) throws(ModuleError) -> (records: [ModuleRecord], validLength: Int) {
        let bytes: [UInt8]
        do {
            guard let read = try FileSystem.readOwnFile(path) else { return ([], 0) }
            bytes = read
        } catch {
            throw ModuleError(.journal, "Failed to read \"\(path)\": \(error)")
        }
        var records: [ModuleRecord] = []
        var valid = 0
        var lineStart = 0
        var number = 0
        let decoder = JSONDecoder()
        while lineStart < bytes.count {
            number += 1
            let newline = bytes[lineStart...].firstIndex(of: UInt8(ascii: "\n"))
            let lineEnd = newline ?? bytes.count
            let line = bytes[lineStart..<lineEnd]
            var record: ModuleRecord?
            if newline != nil, line.count > 9, line[lineStart + 8] == UInt8(ascii: " "),
               let stored = UInt32(String(decoding: line.prefix(8), as: UTF8.self), radix: 16),
               CRC32.checksum(line.dropFirst(9)) == stored {
                record = try? decoder.decode(ModuleRecord.self, from: Data(line.dropFirst(9)))
                if record == nil {
                    // A whole, checksummed line this release cannot read: a newer writer's; skipped.
                    valid = lineEnd + 1
                    lineStart = lineEnd + 1
                    continue
                }
            }
            guard let record else {
                // Only a last line without its newline is torn; a complete line that fails its
                // checksum is damage, wherever it is.
                if newline == nil { break }
                throw ModuleError(.journal, "The module journal \"\(path)\" is damaged at line \(number)")
            }
            if let problem = Self.rangeProblem(record) {
                throw ModuleError(.journal, "The module journal \"\(path)\" is damaged at line \(number): \(problem)")
            }
            records.append(record)
            valid = lineEnd + 1
            lineStart = lineEnd + 1
        }
        return (records, valid)
    }
}
