import Foundation
import Integrity
import Platform
import SelfUpgrade
import Storage
import Synchronization
import Testing

@Suite("Journal checkpoints: the state from checkpoint and tail is the state from the whole log")
struct JournalCheckpointTests {
    /// A demo home that checkpoints every `every` records and keeps `keep` versions.
    func demo(every: Int = 16, keep: Int = 3) throws -> (Demo, Upgrader) {
        let demo = try Demo()
        var configuration = UpgradeConfiguration()
        configuration.journalCheckpointRecords = every
        configuration.historyLimit = keep
        return (demo, try Upgrader(home: demo.home, program: Demo.program, configuration: configuration))
    }

    /// The whole log, read from the archive and the active file.
    func fullLedger(_ home: Home) throws -> Ledger {
        Ledger(try Journal(path: home.journal, replayingArchive: true))
    }

    /// Every answer a command takes from the ledger, from the checkpoint and tail and from the whole log.
    func expectSameAnswers(_ upgrader: Upgrader, _ home: Home, _ comment: Comment) throws {
        let active = try Journal(path: home.journal)
        let fast = Ledger(active)
        let full = try fullLedger(home)
        let stored = try VersionStore(home: home).list()
        #expect(fast.current == full.current, comment)
        #expect(fast.previous == full.previous, comment)
        #expect(fast.isWellFormed == full.isWellFormed, comment)
        #expect(fast.transactionCount == full.transactionCount, comment)
        for limit in [2, 3, 5, 16] {
            #expect(fast.retained(limit: limit) == full.retained(limit: limit), comment)
            #expect(fast.prunable(stored: stored, linked: try home.currentVersion(), limit: limit)
                    == full.prunable(stored: stored, linked: try home.currentVersion(), limit: limit), comment)
        }
        for id in Set(stored).union(fast.retained(limit: 16)) {
            #expect(fast.versionName(of: id) == full.versionName(of: id), comment)
        }
        // Logs are removed only where a directory exists: the checkpoint remembers only those.
        let logs = Set((try? FileSystem.contentsOfDirectory(home.logs)) ?? [])
        #expect(fast.transactionsBeforeOldestKept(stored: Set(stored)).filter(logs.contains)
                == full.transactionsBeforeOldestKept(stored: Set(stored)).filter(logs.contains), comment)
        #expect(try upgrader.status(ledger: fast) == upgrader.status(ledger: full), comment)
        #expect(try upgrader.status() == upgrader.status(ledger: full), comment)
        #expect(try upgrader.history().count == full.history.count, comment)
    }

    @Test("10,000 transactions in one home: status, history and rollback target from checkpoint and tail match the whole log")
    func tenThousandTransactions() throws {
        let (demo, upgrader) = try demo(every: 64)
        defer { demo.cleanUp() }
        // Durability is not what this test checks: fsync is skipped so 10,000 transactions run in seconds.
        try SystemCalls.withFaults({ $0.fsync = { _ in 0 } }) {
            var upgrades = 0
            for count in 1...10_000 {
                if count % 1_000 == 1 {
                    upgrades += 1
                    _ = try upgrader.upgrade(fromBinary: try demo.candidate("2.\(upgrades)"), options: Demo.noRestart)
                } else {
                    let before = Ledger(try Journal(path: demo.home.journal, replayingArchive: count % 1_000 == 0)).previous
                    let back = try upgrader.rollback(to: nil, options: Demo.noRestart)
                    #expect(back.to.digest == before)
                }
                if count % 1_000 == 0 { try expectSameAnswers(upgrader, demo.home, "after \(count) transactions") }
            }
        }
        let active = try Journal(path: demo.home.journal)
        #expect(active.checkpoint != nil)
        #expect(active.activeRecordCount < 64)
        // What is read on every command stays small: the checkpoint holds only what is still needed.
        #expect(try FileSystem.status(demo.home.journal).size < 64 * 1024)
        #expect(try fullLedger(demo.home).transactionCount == 10_000)
        // Versions beyond the limit were pruned along the way, and the archive covers every record.
        #expect(try VersionStore(home: demo.home).list().count == 3)
        #expect(try upgrader.history(newest: 5).total == 10_001)
        #expect(try upgrader.history(newest: 5).rows.last?.current == true)
    }

    /// A home whose active journal starts with a checkpoint, after a few upgrades and rollbacks.
    func checkpointed() throws -> (Demo, Upgrader) {
        let (demo, upgrader) = try demo(every: 8)
        _ = try upgrader.upgrade(fromBinary: try demo.candidate("2.0"), options: Demo.noRestart)
        _ = try upgrader.upgrade(fromBinary: try demo.candidate("3.0"), options: Demo.noRestart)
        for _ in 0..<5 { _ = try upgrader.rollback(to: nil, options: Demo.noRestart) }
        #expect(try Journal(path: demo.home.journal).checkpoint != nil)
        return (demo, upgrader)
    }

    @Test("a journal is folded once per content: the same bytes read again reuse the fold; an append, a rotation or another home's journal fold anew")
    func foldFollowsContent() throws {
        let (demo, upgrader) = try checkpointed()
        defer { demo.cleanUp() }
        let (other, otherUpgrader) = try self.demo()
        defer { other.cleanUp() }
        _ = try otherUpgrader.upgrade(fromBinary: try other.candidate("5.0"), options: Demo.noRestart)

        var journal = try Journal(path: demo.home.journal)
        let folded = Ledger(journal)
        // Read again from the same bytes: the same answers (the parse, and its content, are reused
        // unless another test read another journal in between).
        let reread = try Journal(path: demo.home.journal)
        #expect(Ledger(reread).current == folded.current && Ledger(reread).transactionCount == folded.transactionCount)
        // Another home's journal, folded in between, is its own.
        let otherLedger = Ledger(try Journal(path: other.home.journal))
        #expect(otherLedger.current != folded.current)
        #expect(Ledger(journal).current == folded.current)

        // An append renews the content: the fold sees the new transaction; the value read before
        // the append still folds to what it holds.
        try journal.append(JournalRecord(.begin(transaction: "tx-fold-test", operation: .rollback, from: folded.current,
                                                target: folded.previous, source: nil)))
        #expect(journal.content != reread.content)
        #expect(Ledger(journal).openTransaction?.id == "tx-fold-test")
        #expect(Ledger(journal).transactionCount == folded.transactionCount + 1)
        #expect(Ledger(reread).openTransaction == nil)
        try journal.append(JournalRecord(.abort(transaction: "tx-fold-test", reason: "test")))
        #expect(Ledger(journal).openTransaction == nil)

        // A rotation renews it too: the fold from the new checkpoint gives the same answers, and
        // holds no transaction of its own (the one before, kept under the old content, holds the
        // transactions after the old checkpoint, the test's among them).
        let beforeRotation = Ledger(journal)
        #expect(beforeRotation.transactions.contains { $0.id == "tx-fold-test" })
        let contentBefore = journal.content
        let state = try #require(upgrader.checkpointState(journal))
        try journal.rotate(keeping: state)
        #expect(journal.records.isEmpty)
        #expect(journal.content != contentBefore)
        let rotated = Ledger(journal)
        #expect(rotated.transactions.isEmpty)
        #expect(rotated.current == beforeRotation.current && rotated.previous == beforeRotation.previous)
        #expect(rotated.transactionCount == beforeRotation.transactionCount)
        #expect(Ledger(try Journal(path: demo.home.journal)).transactionCount == beforeRotation.transactionCount)
    }

    @Test("a record out of sequence after a checkpoint is named by its own line of the file")
    func outOfSequenceLine() throws {
        let (demo, upgrader) = try checkpointed()
        defer { demo.cleanUp() }
        while try Journal(path: demo.home.journal).activeRecordCount < 2 { _ = try upgrader.rollback(to: nil, options: Demo.noRestart) }
        var lines = try String(contentsOfFile: demo.home.journal, encoding: .utf8).split(separator: "\n").map(String.init)
        // Line 1 is the checkpoint; the first record after it (line 2) again, as line 3.
        lines.insert(lines[1], at: 2)
        try (lines.joined(separator: "\n") + "\n").write(toFile: demo.home.journal, atomically: true, encoding: .utf8)
        let error = #expect(throws: StorageError.self) { try Journal(path: demo.home.journal) }
        guard case .corruptJournal(_, let line, let reason)? = error else {
            Issue.record("not a damaged journal: \(String(describing: error))")
            return
        }
        #expect(line == 3, "\(reason)")
        #expect(reason.contains("follows record"), "\(reason)")
    }

    @Test("an archive that lacks records behind a sound checkpoint: history says they are lost, not that the journal needs a repair; the home works on")
    func archiveMissingRecords() throws {
        let (demo, upgrader) = try checkpointed()
        defer { demo.cleanUp() }
        let archive = demo.home.journal + ".d"
        let segments = try FileSystem.contentsOfDirectory(archive).sorted()
        let first = try #require(segments.first { $0.hasPrefix("1-") })
        try FileSystem.rename(archive + "/" + first, to: demo.directory + "/" + first)
        let error = #expect(throws: UpgradeError.self) { try upgrader.history() }
        #expect(error?.code == .homeDamaged, "\(String(describing: error))")
        #expect(error?.description.contains("is lost: the journal's archive \"\(archive)\" does not hold records 1–") == true, "\(String(describing: error))")
        #expect(error?.description.contains("repair") == false, "\(String(describing: error))")
        // Every other command reads the sound checkpoint and works on.
        #expect(try upgrader.status().warnings.isEmpty)

        // The segment back, with a record out of sequence on its line 3: that file and line are named.
        let text = try String(contentsOfFile: demo.directory + "/" + first, encoding: .utf8)
        var lines = text.split(separator: "\n").map(String.init)
        lines[2] = lines[4]
        try (lines.joined(separator: "\n") + "\n").write(toFile: archive + "/" + first, atomically: true, encoding: .utf8)
        let damaged = #expect(throws: UpgradeError.self) { try upgrader.history() }
        #expect(damaged?.code == .homeDamaged, "\(String(describing: damaged))")
        #expect(damaged?.description.contains("is lost: \"\(archive)/\(first)\" is damaged at line 3") == true, "\(String(describing: damaged))")
        #expect(damaged?.description.contains("repair") == false)
        _ = try upgrader.rollback(to: nil, options: Demo.noRestart)
    }

    @Test("a stray file under a segment's name (empty, a copy under a longer name, a directory) hides nothing: the sound chain is read; a segment that is a FIFO is an error naming it, not lost history")
    func straySegments() throws {
        let (demo, upgrader) = try checkpointed()
        defer { demo.cleanUp() }
        let archive = demo.home.journal + ".d"
        let whole = try upgrader.history()
        let segments = Journal.segments(in: archive)
        try #require(segments.count >= 3, "\(segments)")
        let (first, second, third) = (segments[0], segments[1], segments[2])
        // Each shadows a sound segment: the longest name with a segment's first record is tried first.
        #expect(FileManager.default.createFile(atPath: archive + "/\(first.first)-\(second.last)", contents: Data()))
        try FileManager.default.copyItem(atPath: archive + "/" + second.name, toPath: archive + "/\(second.first)-\(third.last)")
        try FileManager.default.createDirectory(atPath: archive + "/\(first.first)-\(third.last)", withIntermediateDirectories: false)
        #expect(try upgrader.history() == whole)

        // A FIFO in a segment's place (no sound segment starts there): named, and not called lost.
        try FileManager.default.removeItem(atPath: archive + "/\(first.first)-\(second.last)")
        try FileManager.default.removeItem(atPath: archive + "/\(first.first)-\(third.last)")
        try FileManager.default.moveItem(atPath: archive + "/" + first.name, toPath: demo.directory + "/" + first.name)
        #expect(mkfifo(archive + "/" + first.name, 0o600) == 0)
        let error = #expect(throws: UpgradeError.self) { try upgrader.history() }
        #expect(error?.description.contains(archive + "/" + first.name) == true, "\(String(describing: error))")
        #expect(error?.description.contains("is lost") == false, "\(String(describing: error))")
        #expect(try upgrader.status().warnings.isEmpty)
    }

    @Test("a record line of 150,000 values (an unknown field padded, its checksum right) is refused at its line before it becomes a parse tree, not read")
    func paddedRecord() throws {
        let (demo, upgrader) = try demo()
        defer { demo.cleanUp() }
        let text = try String(contentsOfFile: demo.home.journal, encoding: .utf8)
        let last = try #require(text.split(separator: "\n").last.map(String.init))
        var object = try #require(try JSONSerialization.jsonObject(with: Data(Self.json(of: last).utf8)) as? [String: Any])
        let sequence = try #require(object["sequence"] as? Int)
        object["sequence"] = sequence + 1
        object["kind"] = "from-a-newer-release"
        object["pad"] = [Int](repeating: 0, count: 150_000)
        let json = String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), as: UTF8.self)
        try (text + Self.framed(json) + "\n").write(toFile: demo.home.journal, atomically: true, encoding: .utf8)
        let error = #expect(throws: UpgradeError.self) { try upgrader.status() }
        #expect(error?.description.contains("more than \(Journal.largestRecordValues) values") == true, "\(String(describing: error))")
        #expect(error?.description.contains("line \(text.split(separator: "\n").count + 1)") == true, "\(String(describing: error))")
    }

    /// Replaces the active journal's first line.
    func replaceFirstLine(_ home: Home, _ edit: (String) -> String) throws {
        let text = try String(contentsOfFile: home.journal, encoding: .utf8)
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        lines[0] = edit(lines[0])
        try lines.joined(separator: "\n").write(toFile: home.journal, atomically: true, encoding: .utf8)
    }

    /// A line framed with a checksum that matches its JSON.
    static func framed(_ json: String) -> String {
        let checksum = String(CRC32.checksum(Array(json.utf8)), radix: 16)
        return String(repeating: "0", count: 8 - checksum.count) + checksum + " " + json
    }

    static func json(of line: String) -> String { String(line.dropFirst(9)) }

    @Test("a damaged or edited checkpoint is refused and the records are read from the archive",
          arguments: ["checksum", "digest", "values", "format", "kind", "kind null", "unknown kind", "other JSON"])
    func damagedCheckpoint(damage: String) throws {
        let (demo, upgrader) = try checkpointed()
        defer { demo.cleanUp() }
        let expected = try upgrader.status()
        try replaceFirstLine(demo.home) { line in
            switch damage {
            case "checksum": return line.replacingOccurrences(of: "rollback", with: "upgrade!")
            case "digest": return Self.framed(Self.json(of: line).replacingOccurrences(of: #"\"rollback\""#, with: #"\"upgrade\""#))
            case "format": return Self.framed(Self.json(of: line).replacingOccurrences(of: #""format":1"#, with: #""format":2"#))
            // Checksummed again, no longer claiming to be a checkpoint, nor a record.
            case "kind": return Self.framed(Self.json(of: line).replacingOccurrences(of: #""kind":"checkpoint","#, with: ""))
            case "kind null": return Self.framed(Self.json(of: line).replacingOccurrences(of: #""kind":"checkpoint""#, with: #""kind":null"#))
            case "unknown kind": return Self.framed(Self.json(of: line).replacingOccurrences(of: #""kind":"checkpoint""#, with: #""kind":"zzz""#))
            case "other JSON": return Self.framed("[1,2]")
            default:
                // A forger who recomputes the digest: a value out of range is still refused.
                var object = try! JSONSerialization.jsonObject(with: Data(Self.json(of: line).utf8)) as! [String: Any]
                let state = (object["state"] as! String).replacingOccurrences(of: #""transactions":"#, with: #""transactions":-"#)
                object["state"] = state
                object["sha256"] = SHA256.hash(data: Array(state.utf8)).hex
                let data = try! JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])
                return Self.framed(String(decoding: data, as: UTF8.self))
            }
        }
        let journal = try Journal(path: demo.home.journal)
        #expect(journal.checkpoint == nil)
        #expect(journal.checkpointRefusal != nil)
        #expect(journal.records.first?.sequence == 1)
        #expect(try upgrader.status() == expected)
        #expect(try upgrader.history().count == expected.transactions + 1)
        // The home works on, and the next checkpoint is a sound one again.
        for _ in 0..<3 { _ = try upgrader.rollback(to: nil, options: Demo.noRestart) }
        #expect(try Journal(path: demo.home.journal).checkpoint != nil)
        try expectSameAnswers(upgrader, demo.home, "after \(damage)")
    }

    @Test("a damaged checkpoint without its archive is refused, and repair rebuilds the journal and keeps the archive aside")
    func damagedCheckpointWithoutArchive() throws {
        let (demo, upgrader) = try checkpointed()
        defer { demo.cleanUp() }
        let current = try demo.home.currentVersion()
        let archive = demo.home.journal + ".d"
        let segments = try FileSystem.contentsOfDirectory(archive).sorted()
        try FileSystem.removeFile(archive + "/" + segments[0])
        try replaceFirstLine(demo.home) { $0.replacingOccurrences(of: "rollback", with: "upgrade!") }
        let error = #expect(throws: UpgradeError.self) { try upgrader.status() }
        #expect(error?.description.contains("does not hold records 1–") == true)
        #expect(try demo.home.currentVersion() == current)
        let report = try upgrader.repair()
        #expect(report.repaired && report.current == current.map(VersionID.init))
        #expect(!FileSystem.exists(archive))
        #expect(FileSystem.isDirectory(try #require(report.keptAs) + ".d"))
        #expect(try upgrader.status().current?.id == current?.hex)
    }

    @Test("a checkpoint elsewhere than the first line is corruption")
    func checkpointInTheMiddle() throws {
        let (demo, upgrader) = try checkpointed()
        defer { demo.cleanUp() }
        let text = try String(contentsOfFile: demo.home.journal, encoding: .utf8)
        let first = String(text.prefix { $0 != "\n" })
        try (text + first + "\n").write(toFile: demo.home.journal, atomically: true, encoding: .utf8)
        #expect(throws: UpgradeError.self) { try upgrader.status() }
    }

    @Test("a journal cut at a record boundary behind its checkpoint is still refused")
    func cutAfterCheckpoint() throws {
        let (demo, upgrader) = try checkpointed()
        defer { demo.cleanUp() }
        // A rollback after the checkpoint, so that losing the records after it loses a version change.
        while try Journal(path: demo.home.journal).activeRecordCount == 0 { _ = try upgrader.rollback(to: nil, options: Demo.noRestart) }
        let text = try String(contentsOfFile: demo.home.journal, encoding: .utf8)
        try (String(text.prefix { $0 != "\n" }) + "\n").write(toFile: demo.home.journal, atomically: true, encoding: .utf8)
        // The journal's tail names the records that were written after the checkpoint.
        let cut = #expect(throws: StorageError.self) { try Journal(path: demo.home.journal) }
        #expect(cut.map { "\($0)" }?.contains("its newest records are missing") == true, "\(String(describing: cut))")
        // The line named is the first one missing: the checkpoint's is line 1 and is there.
        if case .corruptJournal(_, let line, _) = cut { #expect(line == 2) } else { Issue.record("not a damaged journal: \(String(describing: cut))") }
        // Without the tail (a home written by a release before it), `current` still gives it away.
        try FileSystem.removeFile(Journal.tailPath(of: demo.home.journal))
        let linked = try demo.home.currentVersion()
        #expect(Ledger(try Journal(path: demo.home.journal)).current != linked)
        let error = #expect(throws: UpgradeError.self) { try upgrader.rollback(to: nil, options: Demo.noRestart) }
        #expect(error?.description.contains("does not explain") == true)
        #expect(try demo.home.currentVersion() == linked)
    }

    @Test("a journal too large to read is refused before it is read, and repair keeps it aside without reading it")
    func oversizedJournal() throws {
        let (demo, upgrader) = try checkpointed()
        defer { demo.cleanUp() }
        // Sparse: 10 GB that take no room, and no memory unless something reads them.
        let handle = try #require(FileHandle(forWritingAtPath: demo.home.journal))
        try handle.truncate(atOffset: 10 << 30)
        try handle.close()
        let refused = #expect(throws: StorageError.self) { try upgrader.readJournal() }
        #expect(refused.map { "\($0)" }?.contains("larger than 64 MiB") == true, "\(String(describing: refused))")
        let report = try upgrader.repair()
        #expect(report.repaired)
        let kept = try #require(report.keptAs)
        #expect(try FileSystem.status(kept, followLinks: false).size == 10 << 30)
        #expect(Ledger(try upgrader.readJournal()).current == (try demo.home.currentVersion()))
    }

    @Test("a rollback that commits between a reader's read of the journal and of current is read again, not called damage")
    func currentMovedWhileReading() throws {
        let (demo, upgrader) = try checkpointed()
        defer { demo.cleanUp() }
        let journalPath = demo.home.journal
        // The journal's descriptor, and whether the rollback was made: once, as the reader
        // closes the journal it has read (before it reads the link).
        let seen = Mutex<(descriptor: Int32?, rolledBack: Bool)>((nil, false))
        let before = try demo.home.currentVersion()
        let journal = try SystemCalls.withFaults({ calls in
            let live = calls
            calls.open = { path, flags, mode in
                let descriptor = live.open(path, flags, mode)
                if String(cString: path) == journalPath { seen.withLock { $0.descriptor = descriptor } }
                return descriptor
            }
            calls.close = { descriptor in
                let result = live.close(descriptor)
                let now = seen.withLock { state -> Bool in
                    guard state.descriptor == descriptor, !state.rolledBack else { return false }
                    state.rolledBack = true
                    return true
                }
                if now {
                    // Another thread, with the real calls: a command holding the lock.
                    let writer = DispatchGroup()
                    DispatchQueue.global().async(group: writer) { _ = try? upgrader.rollback(to: nil, options: Demo.noRestart) }
                    writer.wait()
                }
                return result
            }
        }) { try upgrader.readJournal() }
        #expect(seen.withLock { $0.rolledBack })
        #expect(try demo.home.currentVersion() != before)
        #expect(Ledger(journal).current == (try demo.home.currentVersion()))
    }

    @Test("an archive left by a repair that did not know it is kept aside at the next rotation, never read as the new journal's")
    func archiveOfAnEarlierHistory() throws {
        let (demo, upgrader) = try checkpointed()
        defer { demo.cleanUp() }
        let current = try #require(try demo.home.currentVersion())
        // What an older release's repair leaves: a new journal from record 1, the old archive beside it.
        try FileSystem.removeFile(demo.home.journal)
        var journal = try Journal(path: demo.home.journal)
        try journal.append(JournalRecord(.adopt(version: demo.first, name: "1.0", source: nil, repairedFrom: "journal.damaged")))
        try journal.append(JournalRecord(.adopt(version: current, name: nil, source: nil, repairedFrom: "journal.damaged")))
        for _ in 0..<4 { _ = try upgrader.rollback(to: nil, options: Demo.noRestart) }
        #expect(try Journal(path: demo.home.journal).checkpoint != nil)
        let names = try FileSystem.contentsOfDirectory(demo.directory + "/home")
        #expect(names.contains { $0.hasPrefix("journal.d.replaced-") })
        #expect(try upgrader.history().map(\.via) == ["repair", "repair", "rollback", "rollback", "rollback", "rollback"])
        try expectSameAnswers(upgrader, demo.home, "after a foreign archive was set aside")
    }

    /// A candidate whose report predates checkpoints (it does not say it reads them).
    func olderRelease(_ demo: Demo, _ version: String) throws -> String {
        let path = demo.directory + "/old-" + version
        let report = #"{"program":"demo","version":"\#(version)","protocolVersion":3,"checks":[{"name":"smoke","passed":true,"detail":"ok"}]}"#
        try "#!/bin/sh\necho '\(report)'\n".write(toFile: path, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: path)
        return path
    }

    @Test("no checkpoint is written while the store keeps a version that predates them; one is refused over a checkpointed journal")
    func olderReleasesKeepTheJournalReadable() throws {
        let (demo, upgrader) = try demo(every: 4, keep: 5)
        defer { demo.cleanUp() }
        _ = try upgrader.upgrade(fromBinary: try olderRelease(demo, "0.9"), options: Demo.noRestart)
        _ = try upgrader.upgrade(fromBinary: try demo.candidate("2.0"), options: Demo.noRestart)
        for _ in 0..<10 { _ = try upgrader.rollback(to: nil, options: Demo.noRestart) }
        #expect(try Journal(path: demo.home.journal).checkpoint == nil, "a checkpoint was written while 0.9 could be rolled back to")
        // Once it is pruned, checkpoints are written again; then an older release is refused.
        for index in 0..<6 { _ = try upgrader.upgrade(fromBinary: try demo.candidate("3.\(index)"), options: Demo.noRestart) }
        #expect(try Journal(path: demo.home.journal).checkpoint != nil)
        let error = #expect(throws: UpgradeError.self) { try upgrader.upgrade(fromBinary: try olderRelease(demo, "0.8"), options: Demo.noRestart) }
        #expect(error?.description.contains("predates journal checkpoints") == true, "\(String(describing: error))")
    }
}
