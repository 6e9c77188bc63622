import Platform

/// `<journal>.tail`, which lets a reader notice records cut from the journal's end.
extension Journal {
    /// `<journal>.tail`: the sequence number of the last record made durable, as 20 decimal
    /// digits and a newline, rewritten after each durable append and never synced. It can only lag
    /// the journal (a power cut loses it with, or before, what it names), so a journal that ends
    /// before it has lost records at its end. Absent or malformed: nothing is known (the next
    /// durable append rewrites it; `repair` does too). Not a regular file: the journal is refused.
    package static func tailPath(of path: String) -> String { path + ".tail" }

    /// What is wrong with `<journal>.tail` as a file (not its content): not a regular file, more
    /// than one name (a hard link planted there), or another owner than the journal's; nil when
    /// it is sound or absent.
    package static func tailProblem(of path: String) -> String? {
        guard let tail = try? FileSystem.statusIfPresent(tailPath(of: path), followLinks: false) else { return nil }
        if tail.kind != .regular { return "is not a regular file" }
        if tail.linkCount != 1 { return "has \(tail.linkCount) names (a hard link may have been planted there)" }
        let owner = (try? FileSystem.status(path, followLinks: false))?.owner ?? Privilege.userID
        if tail.owner != owner { return "is owned by user \(tail.owner), not by the journal's owner" }
        return nil
    }

    /// The sequence number `<journal>.tail` names, if it is there and well formed.
    package static func durableSequence(of path: String) -> Int? {
        guard let bytes = try? FileSystem.readOwnFile(tailPath(of: path), maxBytes: 64), bytes.count == 21, bytes[20] == UInt8(ascii: "\n"),
              bytes[0..<20].allSatisfy({ (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }) else { return nil }
        // A record no journal may number is as malformed as any other garbage.
        return Int(String(decoding: bytes[0..<20], as: UTF8.self)).flatMap { $0 <= JournalRecord.largestSequence ? $0 : nil }
    }

    /// Records `sequence` as the last durable record of the journal at `path`: after a durable
    /// append, and by a repair that replaced the journal with a shorter one.
    /// - Throws: ``SystemError``.
    package static func recordDurableSequence(_ sequence: Int, of path: String) throws {
        let digits = String(sequence)
        let text = String(repeating: "0", count: max(0, 20 - digits.count)) + digits + "\n"
        // Cut only once it is known to be ours (one name, our owner, a regular file): whatever was
        // there (garbage, a longer text) never outlives a write, and nothing planted is emptied.
        let fd = try FileDescriptor.openOwned(tailPath(of: path), [.writeOnly, .create], mode: 0o644)
        // The usual case, a tail of the same 21 bytes, is overwritten in place.
        try fd.closeAfter { try fd.overwrite(with: Array(text.utf8)) }
    }
}
