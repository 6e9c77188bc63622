import FoundationEssentials
import Integrity
import Platform

/// The write-ahead log: append-only, one checksummed record per line, fsync'd after each append.
///
/// A line is `<crc32 hex> <json>\n`. A last line without its newline (a write torn by a crash) is
/// ignored and cut off before the next append; any complete line that is damaged, the last one
/// included, is corruption, reported as
/// ``StorageError/corruptJournal(path:line:reason:)`` and never silently skipped.
package struct Journal: Sendable {
    /// The journal file.
    package let path: String
    /// The records read, in order.
    package private(set) var records: [JournalRecord]
    /// Bytes of the file holding whole, valid lines.
    package private(set) var validByteCount: Int
    /// True when the file ends in an unfinished line (no newline).
    package private(set) var hasTornTail: Bool

    /// Reads the journal at `path` (an absent file is an empty journal).
    /// - Throws: ``StorageError/corruptJournal(path:line:reason:)``, or ``SystemError`` on read failure.
    package init(path: String) throws {
        self.path = path
        records = []
        validByteCount = 0
        hasTornTail = false
        guard let bytes = try FileSystem.readOwnFile(path) else { return }
        // First pass: lines and checksums. Second: one decode of all records (a JSONDecoder call
        // per line costs more than the parsing itself).
        var lines: [(number: Int, json: ArraySlice<UInt8>)] = []
        var lineStart = 0
        while lineStart < bytes.count {
            let newline = bytes[lineStart...].firstIndex(of: UInt8(ascii: "\n"))
            let lineEnd = newline ?? bytes.count
            do {
                guard newline != nil else { throw JournalLineError("the line is unfinished") }
                lines.append((lines.count + 1, try Self.checkedJSON(bytes[lineStart..<lineEnd])))
                validByteCount = lineEnd + 1
            } catch let error as JournalLineError {
                // Only a last line without its newline is a torn write; a complete line that
                // fails its checksum is damage, the last one included.
                guard newline == nil else {
                    throw StorageError.corruptJournal(path: path, line: lines.count + 1, reason: error.reason)
                }
                hasTornTail = true
            }
            lineStart = lineEnd + 1
        }
        records = try Self.decode(lines, path: path)
        if let first = records.first, first.sequence != 1 {
            throw StorageError.corruptJournal(path: path, line: 1, reason: "it starts at record \(first.sequence), not 1: its beginning is missing")
        }
        for index in records.indices.dropFirst() where records[index].sequence != records[index - 1].sequence + 1 {
            // A whole, checksummed record out of sequence is not a torn write: one is missing.
            throw StorageError.corruptJournal(path: path, line: index + 1,
                                              reason: "record \(records[index].sequence) follows record \(records[index - 1].sequence)")
        }
    }

    /// Appends a record durably (write of one whole line, then fsync), first cutting off a torn tail.
    /// - Returns: the record as written, with its sequence number and time.
    /// - Throws: ``SystemError``; the journal in memory is then unchanged.
    @discardableResult
    package mutating func append(_ record: JournalRecord) throws -> JournalRecord {
        var record = record
        record.sequence = (records.last?.sequence ?? 0) + 1
        record.time = WallClock.now()
        record.pid = ProcessControl.id
        let json = try record.encoded()
        let checksum = String(CRC32.checksum(json), radix: 16)
        let line = Array((String(repeating: "0", count: 8 - checksum.count) + checksum + " ").utf8) + json + [UInt8(ascii: "\n")]

        let fd = try FileDescriptor.openOwned(path, [.writeOnly, .create, .append], mode: 0o644)
        try fd.closeAfter {
            guard try fd.status().kind == .regular else {
                throw StorageError.corruptJournal(path: path, line: records.count + 1, reason: "it is not a regular file")
            }
            let size = try fd.status().size
            if size != validByteCount { try fd.truncate(to: validByteCount) }
            try fd.writeAll(line)
            try fd.sync()
            if size == 0 { try FileSystem.syncDirectory(FileSystem.parent(of: path)) }
        }
        records.append(record)
        validByteCount += line.count
        hasTornTail = false
        return record
    }

    // MARK: - Internals

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

    /// Reads every line as a record. The common case is one `JSONDecoder` pass over all lines
    /// (a decoder call per line costs more than the parsing itself); any line that pass cannot
    /// take, and every record of a kind this release does not know, is read again by the strict
    /// parser, which finds the line at fault or every version id a newer record names.
    private static func decode(_ lines: [(number: Int, json: ArraySlice<UInt8>)], path: String) throws -> [JournalRecord] {
        var array: [UInt8] = [UInt8(ascii: "[")]
        array.reserveCapacity(lines.reduce(2) { $0 + $1.json.count + 1 })
        for (index, line) in lines.enumerated() {
            if index > 0 { array.append(UInt8(ascii: ",")) }
            array.append(contentsOf: line.json)
        }
        array.append(UInt8(ascii: "]"))
        guard let raw = try? JSONDecoder().decode([RawRecord].self, from: Data(array)), raw.count == lines.count else {
            return try lines.map { try strictlyDecoded($0, path: path) }
        }
        var records: [JournalRecord] = []
        records.reserveCapacity(lines.count)
        for (line, fields) in zip(lines, raw) {
            guard fields.isKnownKind else {
                records.append(try strictlyDecoded(line, path: path))
                continue
            }
            do {
                records.append(try JournalRecord(json: fields.value))
            } catch {
                throw StorageError.corruptJournal(path: path, line: line.number, reason: error.description)
            }
        }
        return records
    }

    /// One line through the strict parser (duplicate keys, bad UTF-8 and depth bombs refused).
    private static func strictlyDecoded(_ line: (number: Int, json: ArraySlice<UInt8>), path: String) throws -> JournalRecord {
        let value: CanonicalJSONValue
        do {
            value = try CanonicalJSON.parse(Array(line.json), maxDepth: 16)
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

/// The fields of every record kind this release knows, loosely typed for the fast pass; the
/// record's own reader then checks each value's type and range.
private struct RawRecord: Decodable {
    var sequence: Double?
    var time: Double?
    var pid: Double?
    var v: Double?
    var kind: String?
    var transaction: String?
    var operation: String?
    var step: String?
    var from: String?
    var to: String?
    var version: String?
    var source: String?
    var reason: String?
    var attempt: Double?
    var repairedFrom: String?

    static let knownKinds: Set<String> = ["adopt", "begin", "step", "attempt", "commit", "abort", "prune"]

    var isKnownKind: Bool { kind.map(Self.knownKinds.contains) ?? false }

    var value: JSONValue {
        var fields: [String: JSONValue] = [:]
        for (name, number) in [("sequence", sequence), ("time", time), ("pid", pid), ("v", v), ("attempt", attempt)] {
            if let number { fields[name] = .number(number) }
        }
        for (name, text) in [("kind", kind), ("transaction", transaction), ("operation", operation), ("step", step), ("from", from),
                             ("to", to), ("version", version), ("source", source), ("reason", reason), ("repairedFrom", repairedFrom)] {
            if let text { fields[name] = .string(text) }
        }
        return .object(fields)
    }
}
