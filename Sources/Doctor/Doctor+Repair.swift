#if canImport(Glibc)
import Glibc
#endif
import FoundationEssentials
import Integrity
import Platform
import ReleaseChannel
import SelfUpgrade
import Storage

extension Doctor {
    // MARK: - API

    /// Examines the home and repairs what it found, from trusted sources only (another copy the
    /// home holds, the release channel, the last good snapshot, the journal rebuild), keeping
    /// what it replaces aside; then examines it again. A repair that changes what another finding
    /// depends on (a link moved aside, the journal rebuilt) is followed by a second round for
    /// what is then found; no finding is tried twice.
    /// - Returns: the findings before, what was done about each, and the findings after
    ///   (``RepairReport/isComplete`` when none is left).
    /// - Throws: ``UpgradeError``: `.notInitialized`, or `.locked` when a transaction holds the home.
    public func repair() throws(UpgradeError) -> RepairReport {
        let (before, first) = try inspect()
        var problems = first
        var actions: [RepairAction] = []
        var tried: [Finding] = []
        let aside = Aside(home: home)
        for _ in 0..<3 {
            let fresh = problems.filter { !tried.contains($0.finding) }
            guard !fresh.isEmpty else { break }
            tried += fresh.map(\.finding)
            actions += try repairRound(fresh, aside: aside)
            problems = try inspect().problems
        }
        return RepairReport(before: before, actions: actions, after: try inspect().examination)
    }

    // MARK: - Internals

    /// The order repairs run in: what the others stand on first.
    private func rank(_ damage: Problem.Damage) -> Int {
        switch damage {
        case .layout, .lock: 0
        case .permissions, .owner: 1
        case .journal: 2
        case .versionDamaged, .versionMissing: 3
        case .versionMetadata: 4
        case .current: 5
        case .entryPoint: 6
        case .state, .unreadableName: 7
        case .configuration: 8
        case .channelConfiguration: 9
        case .channelMetadata: 10
        case .module: 11
        case .journalCheckpoint: 12
        case .interruptedTransaction: 13
        case .space, .journalArchive: 14
        }
    }

    private func repairRound(_ problems: [Problem], aside: Aside) throws(UpgradeError) -> [RepairAction] {
        let ordered = problems.enumerated().sorted { (rank($0.element.damage), $0.offset) < (rank($1.element.damage), $1.offset) }.map(\.element)
        var actions: [RepairAction] = []
        let configuration = (try? UpgradeConfiguration.load(from: home)) ?? UpgradeConfiguration()
        let upgrader = try Upgrader(homeDirectory: home.root, program: program, configuration: configuration)
        // The journal rebuild and recovery take the home's lock themselves; every other repair
        // runs under it, so no transaction interleaves with a repair.
        var lock: FileLock?
        defer { lock?.release() }
        for problem in ordered {
            let needsOwnLock: Bool
            switch problem.damage {
            // A broken lock file cannot be locked: it is moved aside without the lock. What no
            // repair changes (a lost archive, free space) needs no lock either.
            case .journal, .interruptedTransaction, .lock, .journalArchive, .space: needsOwnLock = false
            default: needsOwnLock = true
            }
            if needsOwnLock, lock == nil {
                do {
                    lock = try upgrader.acquireLock()
                } catch {
                    throw UpgradeError(wrapping: error)
                }
            } else if !needsOwnLock, let held = lock {
                held.release()
                lock = nil
            }
            var action: RepairAction
            do {
                action = try repair(problem, upgrader: upgrader, aside: aside)
            } catch {
                action = RepairAction(finding: problem.finding, repaired: false, action: "failed: \(error)")
            }
            actions.append(action)
        }
        return actions
    }

    /// Repairs one problem.
    private func repair(_ problem: Problem, upgrader: Upgrader, aside: Aside) throws -> RepairAction {
        let finding = problem.finding
        func done(_ action: String, source: String? = nil, keptAs: String? = nil) -> RepairAction {
            RepairAction(finding: finding, repaired: true, action: action, source: source, keptAs: keptAs.map(relative))
        }
        func notDone(_ reason: String) -> RepairAction {
            RepairAction(finding: finding, repaired: false, action: reason)
        }
        switch problem.damage {
        case .layout(let directory):
            // The aside directory cannot hold what stands in its own way: that is renamed beside it.
            let isAsideItself = directory == home.root + "/doctor" || directory == asideDirectory
            let kept = isAsideItself ? try Self.renameBeside(directory) : try aside.move(directory)
            try FileSystem.createDirectory(directory, mode: directory == home.staging ? 0o700 : 0o755)
            var restored = ""
            if directory == home.state {
                let count = try restoreFromSnapshot(paths: nil, aside: aside).count
                if count > 0 { restored = "; \(count) state file(s) restored from the last snapshot" }
            }
            return done("moved it aside and made a real directory" + restored, keptAs: kept)

        case .permissions(let path, let expected):
            try FileSystem.setAttributesWithoutFollowing(path, mode: expected)
            return done("set its mode to \(octal(expected))")

        case .owner(let path, _, let expected):
            guard geteuid() == 0 else { return notDone("only root can give a file back to its owner: run 'chown \(expected) \(path)' as root") }
            let status = try FileSystem.status(path, followLinks: false)
            let group = (try? FileSystem.status(home.root))?.group ?? status.group
            try FileSystem.setAttributesWithoutFollowing(path, mode: status.mode & 0o777, owner: (expected, group))
            return done("gave it back to user \(expected)")

        case .lock:
            guard plantedLock() != nil else { return done("the lock file is sound now") }
            return done("moved it aside; the next command makes a new lock file", keptAs: try aside.move(home.lock))

        case .journal:
            let report = try upgrader.repair()
            guard report.repaired else { return done("the journal reads as sound now; nothing to rebuild") }
            // The journal was kept (its tail or `current` was what the repair put right).
            if report.keptAs == nil, report.adopted.isEmpty, let problem = report.problem { return done("repaired: " + problem) }
            return done("rebuilt the journal from \(report.adopted.count) stored version(s) (the journal rebuild); current: \(report.current?.short ?? "none")",
                        source: "the stored versions", keptAs: report.keptAs)

        case .versionDamaged(let id), .versionMissing(let id):
            return try restoreVersion(id, aside: aside, finding: finding)

        case .versionMetadata(let id):
            let path = home.versionDirectory(id) + "/meta.json"
            let kept = (try? FileSystem.statusIfPresent(path, followLinks: false)) != nil ? try aside.link(path) : nil
            let status = try FileSystem.status(home.binary(id), followLinks: false)
            let ledger = (try? upgrader.readJournal()).map(Ledger.init)
            var metadata = VersionMetadata(id: id, size: status.size, version: ledger?.versionName(of: id), source: "repaired:doctor",
                                           addedAt: Double(status.modificationSeconds), identity: FileIdentity(status))
            // Only this very binary is known to read checkpoints; of another nothing is assumed.
            if let running = try? ProcessControl.executablePath(), (try? hash(running).get()) == id { metadata.readsJournalCheckpoints = true }
            try VersionStore(home: home).setMetadata(metadata)
            return done("wrote its metadata again from the verified binary", keptAs: kept)

        case .current(let expectedAtExamination):
            let expected = (try? upgrader.readJournal()).flatMap { Ledger($0).current } ?? expectedAtExamination
            guard let expected else { return notDone("the journal names no current version (rebuild the journal first)") }
            let store = VersionStore(home: home)
            guard store.contains(expected) else {
                return notDone("the journal's current version \(expected.short) is not in the store and could not be restored; 'self-upgrade rollback' returns to the previous version")
            }
            if (try? home.currentVersion()) == expected { return done("current names version \(expected.short) again (its version was restored)") }
            var kept: String?
            if let status = try FileSystem.statusIfPresent(home.current, followLinks: false) {
                kept = status.kind == .directory ? try aside.move(home.current) : try aside.link(home.current)
            }
            try home.setCurrent(expected)
            return done("pointed current at version \(expected.short), as the journal says", source: "the journal", keptAs: kept)

        case .entryPoint:
            try requireRealDirectory(home.bin)
            var kept: String?
            if let status = try FileSystem.statusIfPresent(home.entryPoint, followLinks: false) {
                kept = status.kind == .directory ? try aside.move(home.entryPoint) : try aside.link(home.entryPoint)
            }
            try FileSystem.replaceSymbolicLink(home.entryPoint, target: "../current/" + home.programName)
            return done("made it the link to ../current/\(home.programName) again", keptAs: kept)

        case .state(let path):
            if let restored = try restoreFromSnapshot(paths: [path], aside: aside).first {
                return done("restored it from snapshot \(restored.snapshot)", source: "snapshots/\(restored.snapshot).json", keptAs: restored.keptAs)
            }
            let kept = try aside.move(path)
            return done("kept it aside; no snapshot holds a good copy, so the program starts from a fresh state", keptAs: kept)

        case .configuration:
            if let restored = try restoreFromSnapshot(paths: [home.configuration], aside: aside).first {
                return done("restored it from snapshot \(restored.snapshot)", source: "snapshots/\(restored.snapshot).json", keptAs: restored.keptAs)
            }
            let kept = try aside.move(home.configuration)
            return done("kept it aside; no snapshot holds a good copy, so the defaults apply", keptAs: kept)

        case .channelConfiguration:
            let path = channelDirectory + "/config.json"
            if let restored = try restoreFromSnapshot(paths: [path], aside: aside).first {
                return done("restored it from snapshot \(restored.snapshot)", source: "snapshots/\(restored.snapshot).json", keptAs: restored.keptAs)
            }
            return notDone("no snapshot holds a good copy: run 'update configure' again")

        case .channelMetadata(let role):
            let path = channelDirectory + "/metadata/\(role).json"
            if role == "root" {
                if let restored = try restoreFromSnapshot(paths: [path], aside: aside).first {
                    return done("restored the trusted root from snapshot \(restored.snapshot) (it verifies with its own keys; the next check walks to any newer root)",
                                source: "snapshots/\(restored.snapshot).json", keptAs: restored.keptAs)
                }
                return notDone("no snapshot holds a trusted root that verifies: run 'update configure' again with the root obtained out of band")
            }
            let kept = try aside.move(path)
            var fetched = "; the next update check fetches it again"
            if options.usesReleaseChannel, var channel = try? UpdateChannel.load(home: home.root) {
                channel.stallTimeout = options.channelStallTimeout
                do {
                    _ = try channel.offers(program: program.name)
                    fetched = "; fetched again from \(channel.url), verified against the trusted root"
                } catch {
                    fetched = "; fetching it again failed (\(error.message)), so the next update check does"
                }
            }
            return done("kept it aside" + fetched, keptAs: kept)

        case .module(let path, let digest):
            guard let copy = moduleCopy(named: FileSystem.baseName(of: path), digest: digest) else {
                return notDone("no other copy with that hash is in the home: build the module again ('modules build NAME')")
            }
            try requireRealDirectory(FileSystem.parent(of: path))
            let kept = try replaceFile(path, withCopyOf: copy, mode: 0o755, expected: digest, aside: aside)
            return done("restored it from another copy with the same hash", source: copy, keptAs: kept)

        case .journalCheckpoint:
            let kept = try aside.link(home.journal)
            guard try upgrader.checkpointNow() else {
                return notDone("no checkpoint can be written now (a transaction is open, or a stored version predates checkpoints); nothing is lost: its records are read from the archive, and the next checkpoint after a commit replaces it")
            }
            return done("started the journal again from a new checkpoint of the records read (the records after the refused line archived in journal.d)",
                        keptAs: kept)

        case .interruptedTransaction:
            let notes = try upgrader.recover()
            return done(notes.isEmpty ? "nothing to finish (another process finished it)" : notes.joined(separator: "; "))

        case .journalArchive:
            return notDone("the records are gone from this machine: restore the archive from a backup; every other command works on without them")

        case .space:
            return notDone("free space on the file system, or lower historyLimit in config.json (the next upgrade prunes older versions)")

        case .unreadableName:
            return notDone("rename it to a UTF-8 name by hand: a name that is not UTF-8 is never moved or deleted by the doctor")
        }
    }

    // MARK: - Versions

    /// Restores a stored version from another copy the home holds, else from the release channel.
    private func restoreVersion(_ id: SHA256Digest, aside: Aside, finding: Finding) throws -> RepairAction {
        var tried: [String] = []
        for copy in localCopies(of: id) {
            do {
                let kept = try install(id, from: copy, aside: aside)
                return RepairAction(finding: finding, repaired: true, action: "restored version \(id.short) from another copy with the same hash",
                                    source: copy, keptAs: kept.map(relative))
            } catch {
                tried.append("\(copy): \(error)")
            }
        }
        if options.usesReleaseChannel, (try? FileSystem.statusIfPresent(channelDirectory + "/config.json", followLinks: false)) != nil {
            do {
                var channel = try UpdateChannel.load(home: home.root)
                channel.stallTimeout = options.channelStallTimeout
                let offers = try channel.offers(program: program.name)
                if let offer = offers.first(where: { $0.hashes["sha256"]?.lowercased() == id.hex }) {
                    let file = try channel.download(offer, into: channel.stagingDirectory)
                    let kept = try install(id, from: file, aside: aside)
                    return RepairAction(finding: finding, repaired: true,
                                        action: "downloaded version \(id.short) again from the release channel by its hash, verified through TUF",
                                        source: channel.url + "/targets/" + offer.path, keptAs: kept.map(relative))
                }
                tried.append("the release channel \(channel.url) does not list a target with that hash")
            } catch {
                tried.append("the release channel: \(error)")
            }
        }
        return RepairAction(finding: finding, repaired: false,
                            action: "no trusted copy of version \(id.short) was found" + (tried.isEmpty ? " (no other copy in the home, no release channel)" : " (" + tried.joined(separator: "; ") + ")"))
    }

    /// Files that may hold a version's bytes: a verified download in the channel's staging
    /// directory, the file it was staged or adopted from (named by its metadata and by the
    /// journal), and the running program. Any one whose SHA-256 is the id is that version.
    private func localCopies(of id: SHA256Digest) -> [String] {
        var candidates = [channelDirectory + "/staging/" + id.hex]
        let upgrader = try? Upgrader(homeDirectory: home.root, program: program, configuration: UpgradeConfiguration())
        let journaled = (try? upgrader?.readJournal()).flatMap { $0 }.map { Ledger($0).history.filter { $0.id == id }.compactMap(\.source) } ?? []
        for source in [VersionStore(home: home).metadata(id)?.source].compactMap({ $0 }) + journaled.reversed() {
            for prefix in ["binary:", "adopted:"] where source.hasPrefix(prefix) { candidates.append(String(source.dropFirst(prefix.count))) }
        }
        if let running = try? ProcessControl.executablePath() { candidates.append(running) }
        var seen: Set<String> = []
        return candidates.filter { path in
            guard seen.insert(path).inserted, !path.hasPrefix(home.versions + "/"),
                  let status = try? FileSystem.status(path), status.kind == .regular else { return false }
            return (try? hash(path).get()) == id
        }
    }

    /// Copies `source` into `staging/doctor-<pid>` while hashing it, refuses it unless it hashes
    /// to `id`, writes its metadata (the old one's name, source and time kept), keeps what the
    /// store held aside, and renames the copy into `versions/<id>`.
    /// - Returns: where the damaged version was kept (nil: nothing was there).
    private func install(_ id: SHA256Digest, from source: String, aside: Aside) throws -> String? {
        let store = VersionStore(home: home)
        let old = store.metadata(id)
        // Staging must be a real directory of the home: through a link, the copy would be written elsewhere.
        guard try FileSystem.status(home.staging, followLinks: false).kind == .directory else {
            throw StorageError.notADirectory(path: home.staging)
        }
        let staging = home.staging + "/doctor-\(ProcessControl.id)"
        try FileSystem.removeTree(staging)
        try FileSystem.createDirectory(staging, mode: 0o700)
        do {
            let binary = staging + "/" + home.programName
            let input = try FileSystem.openInputFile(source, what: "a copy of version \(id.short)")
            var hasher = SHA256()
            try input.closeAfter {
                let output = try FileDescriptor.open(binary, [.writeOnly, .create, .exclusive, .noFollow], mode: 0o555)
                try output.closeAfter {
                    try input.readChunks { chunk throws(SystemError) in
                        hasher.update(bufferPointer: chunk)
                        try output.writeAll(chunk)
                    }
                    try output.sync()
                }
            }
            let actual = hasher.finalize()
            guard actual == id else {
                throw UpgradeError(.versionDamaged, "\"\(source)\" hashes to \(actual.short), not to version \(id.short): refused", path: source)
            }
            let status = try FileSystem.status(binary, followLinks: false)
            var metadata = old ?? VersionMetadata(id: id, size: status.size, version: nil, source: "repaired:" + source, addedAt: WallClock.now())
            metadata.size = status.size
            metadata.identity = FileIdentity(status)
            try FileSystem.writeAtomically(staging + "/meta.json", Self.encode(metadata))
            try FileSystem.setAttributesWithoutFollowing(staging, mode: 0o755)
            var kept: String?
            if try FileSystem.statusIfPresent(home.versionDirectory(id), followLinks: false) != nil {
                kept = try aside.move(home.versionDirectory(id))
            }
            try FileSystem.rename(staging, to: home.versionDirectory(id))
            try FileSystem.syncDirectory(home.versions)
            try FileSystem.syncDirectory(home.staging)
            return kept
        } catch {
            try? FileSystem.removeTree(staging)
            throw error
        }
    }

    /// Throws unless `path` is a real directory (not a link to one): a repair writes into it.
    func requireRealDirectory(_ path: String) throws {
        if try FileSystem.statusIfPresent(path, followLinks: false) == nil { try FileSystem.createDirectory(path, mode: 0o755) }
        guard try FileSystem.status(path, followLinks: false).kind == .directory else {
            throw StorageError.notADirectory(path: path)
        }
    }

    /// Renames `path` to a free name beside it (`<path>.moved-<time>`), atomically and never followed.
    static func renameBeside(_ path: String) throws(SystemError) -> String {
        let stamp = WallClock.iso8601(WallClock.now()).filter { $0.isNumber || $0 == "T" }
        var destination = path + ".moved-" + stamp
        var counter = 1
        while try FileSystem.statusIfPresent(destination, followLinks: false) != nil {
            counter += 1
            destination = path + ".moved-" + stamp + "-\(counter)"
        }
        try FileSystem.rename(path, to: destination)
        try FileSystem.syncDirectory(FileSystem.parent(of: path))
        return destination
    }

    static func encode(_ metadata: VersionMetadata) throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        return Array(try encoder.encode(metadata)) + [UInt8(ascii: "\n")]
    }

    // MARK: - Files

    /// Replaces the file at `path` with a copy of `source` that hashes to `expected`: the copy is
    /// written under a temporary name in the same directory (created exclusively, never through
    /// a link), fsync'd and renamed over it; the old file keeps a name aside first.
    /// - Returns: where the old file is kept.
    private func replaceFile(_ path: String, withCopyOf source: String, mode: mode_t, expected: String, aside: Aside) throws -> String? {
        let input = try FileSystem.openInputFile(source, what: "a copy of \(path)")
        var bytes: [UInt8] = []
        try input.closeAfter {
            try input.readChunks { chunk throws(SystemError) in bytes.append(contentsOf: chunk) }
        }
        guard SHA256.hash(data: bytes).hex == expected else {
            throw UpgradeError(.versionDamaged, "\"\(source)\" changed: it no longer hashes to \(expected.prefix(12))", path: source)
        }
        let kept = try FileSystem.statusIfPresent(path, followLinks: false) != nil ? try aside.link(path) : nil
        try FileSystem.writeAtomically(path, bytes, mode: mode, owner: nil)
        return kept
    }

    /// A copy of a module program with the given digest in the home's build directories (where
    /// `modules build` and the agent's module route build it), found by name, at most five
    /// directories deep.
    private func moduleCopy(named name: String, digest: String) -> String? {
        func search(_ directory: String, depth: Int) -> String? {
            guard depth <= 5, let names = try? FileSystem.contentsOfDirectory(directory) else { return nil }
            for entry in names {
                let path = directory + "/" + entry
                guard let status = try? FileSystem.status(path, followLinks: false) else { continue }
                if status.kind == .regular, entry == name, (try? hash(path).get())?.hex == digest { return path }
                if status.kind == .directory, let found = search(path, depth: depth + 1) { return found }
            }
            return nil
        }
        // Found by its digest: a copy in the confined builds' cache is as good as any.
        return search(home.buildCache, depth: 0) ?? search(home.confinedBuildCache, depth: 0)
    }
}
