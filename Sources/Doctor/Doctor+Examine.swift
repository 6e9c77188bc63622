#if canImport(Glibc)
import Glibc
#endif
import FoundationEssentials
import Integrity
import Modules
import Platform
import ReleaseChannel
import SelfUpgrade
import Storage
import Synchronization
import TUF

/// A finding with what its repair needs to know (typed, never parsed back from the text).
struct Problem: Sendable {
    enum Damage: Sendable {
        case layout(directory: String)
        case lock
        case permissions(path: String, expected: mode_t)
        case owner(path: String, owner: uid_t, expected: uid_t)
        case versionDamaged(SHA256Digest)
        case versionMissing(SHA256Digest)
        case versionMetadata(SHA256Digest)
        case current(expected: SHA256Digest?)
        case entryPoint
        case journal
        case journalCheckpoint
        case journalArchive
        case interruptedTransaction
        case state(path: String)
        case unreadableName(path: String)
        case configuration
        case channelConfiguration
        case channelMetadata(role: String)
        case module(path: String, digest: String)
        case space
    }

    var damage: Damage
    var finding: Finding
}

extension Doctor {
    /// What makes the lock file one no command can take, or nil: a file planted there (a link, a
    /// FIFO, a directory, a second name, one owned by neither this user nor the home's owner,
    /// as `FileLock` refuses). Its repair moves it aside, which needs no lock (a change of its
    /// owner would need one).
    func plantedLock() -> String? {
        guard let status = try? FileSystem.statusIfPresent(home.lock, followLinks: false) else { return nil }
        if status.kind == .symbolicLink { return "a symbolic link" }
        if status.kind == .directory { return "a directory" }
        if status.kind != .regular { return "not a regular file" }
        if status.linkCount != 1 { return "a file with \(status.linkCount) names (a hard link may have been planted there)" }
        let homeOwner = (try? FileSystem.status(home.root))?.owner ?? geteuid()
        if status.owner != geteuid() && status.owner != homeOwner { return "owned by user \(status.owner), neither this user nor the home's owner" }
        return nil
    }
}

extension Doctor {
    // MARK: - API

    /// Checks the whole home and changes nothing on disk.
    /// - Returns: the findings (empty when the home is healthy).
    /// - Throws: ``UpgradeError`` `.notInitialized` when there is no installation.
    public func examine() throws(UpgradeError) -> Examination {
        try inspect().examination
    }

    // MARK: - Internals

    func relative(_ path: String) -> String {
        path.hasPrefix(home.root + "/") ? String(path.dropFirst(home.root.count + 1)) : path
    }

    /// How many times an examination that a command disturbed (the journal or `current` changed
    /// while it read them) is made.
    static let inspectAttempts = 3

    /// ``inspectOnce(digests:)``, made again when a command changed the home meanwhile: the
    /// doctor reads without the lock, so a rollback running beside it can be seen half done
    /// (`current` moved before the journal it read says so, a transaction seen open whose holder
    /// has ended since). A file hashed once is not hashed again while its identity holds. When
    /// every attempt was disturbed, the findings kept are those (by kind and path) every attempt
    /// made, as the last one worded them, and the examination says the home was changing.
    func inspect() throws(UpgradeError) -> (examination: Examination, problems: [Problem]) {
        let digests = DigestCache()
        var attempt = 1
        var common: [Problem]?
        while true {
            let before = changeMarks()
            var result = try inspectOnce(digests: digests)
            if changeMarks() == before { return result }
            let found = result.problems
            let kept = common.map { earlier in
                found.filter { problem in earlier.contains { $0.finding.kind == problem.finding.kind && $0.finding.path == problem.finding.path } }
            } ?? found
            guard attempt < Self.inspectAttempts else {
                result.problems = kept
                result.examination.findings = kept.map(\.finding)
                let changing = "the home changed while it was examined (another command ran): the findings kept are those all \(attempt) examinations made"
                result.examination.inProgress = result.examination.inProgress.map { $0 + "; " + changing } ?? changing
                return result
            }
            common = kept
            attempt += 1
        }
    }

    /// What a command changing the home changes: the journal's identity, size and time, its
    /// tail, and `current`'s target.
    private func changeMarks() -> [String] {
        let journal = try? FileSystem.statusIfPresent(home.journal, followLinks: false)
        return [journal.map { "\($0.inode) \($0.size) \($0.modificationSeconds).\($0.modificationNanoseconds)" } ?? "-",
                Journal.durableSequence(of: home.journal).map { String($0) } ?? "-",
                (try? FileSystem.destinationOfSymbolicLink(home.current)) ?? "-"]
    }

    func inspectOnce(digests: DigestCache = DigestCache()) throws(UpgradeError) -> (examination: Examination, problems: [Problem]) {
        guard home.isInitialized else { throw UpgradeError(.notInitialized, "No installation at \"\(home.root)\"", path: home.root) }
        var problems: [Problem] = []
        var hashed = (versions: 0, bytes: 0)
        func add(_ damage: Problem.Damage, _ kind: Finding.Kind, _ path: String, _ problem: String, _ remedy: String) {
            problems.append(Problem(damage: damage, finding: Finding(kind: kind, path: relative(path), problem: problem, remedy: remedy)))
        }

        // Layout: the home's own directories are directories, never links planted to send its writes elsewhere.
        var brokenDirectories: Set<String> = []
        // The doctor's own directories first: what every other repair keeps aside goes there.
        for directory in [home.root + "/doctor", asideDirectory, home.versions, home.state, home.staging, home.logs, home.bin, channelDirectory,
                          channelDirectory + "/metadata", modulesDirectory, modulesDirectory + "/store", snapshotsDirectory, Journal.archivePath(of: home.journal)] {
            guard let status = try? FileSystem.statusIfPresent(directory, followLinks: false) else { continue }
            if status.kind == .symbolicLink {
                let target = (try? FileSystem.destinationOfSymbolicLink(directory)) ?? "?"
                add(.layout(directory: directory), .layout, directory, "it is a symbolic link to \"\(TerminalText.escaped(target, limit: 200))\": writes into it would land outside the home",
                    "move the link aside and make a real directory (its content restored from a snapshot where one holds it)")
                brokenDirectories.insert(directory)
            } else if status.kind != .directory {
                add(.layout(directory: directory), .layout, directory, "it is not a directory", "move it aside and make a real directory")
                brokenDirectories.insert(directory)
            }
        }

        // The lock every change takes (see plantedLock()).
        let owner = (try? FileSystem.status(home.root))?.owner ?? geteuid()
        let plantedLock = self.plantedLock()
        if let plantedLock {
            add(.lock, .lock, home.lock, "it is \(plantedLock): no command can lock the home, so none will change it",
                "move it aside; the next command makes a new lock file")
        }

        // Permissions and owners.
        func checkOwner(_ path: String, _ status: FileStatus) {
            if status.owner != owner {
                add(.owner(path: path, owner: status.owner, expected: owner), .owner, path,
                    "it is owned by user \(status.owner), not by the home's owner (user \(owner)): that user can change what the program runs or reads",
                    geteuid() == 0 ? "give it back to user \(owner)" : "none without root: run 'chown \(owner) \(path)' as root")
            }
        }
        func checkMode(_ path: String, exact: mode_t? = nil, forbidden: mode_t = 0o022, required: mode_t = 0) {
            guard let status = try? FileSystem.statusIfPresent(path, followLinks: false),
                  status.kind == .regular || status.kind == .directory else { return }
            checkOwner(path, status)
            let expected = exact ?? ((status.mode & ~forbidden) | required)
            if status.mode & 0o7777 != expected {
                let what = status.mode & forbidden != 0 ? "other users can change it" : "the program cannot use it as it must"
                add(.permissions(path: path, expected: expected), .permissions, path,
                    "its mode is \(octal(status.mode)), expected \(octal(expected)): \(what)", "set its mode to \(octal(expected))")
            }
        }
        checkMode(home.root, required: 0o700)
        for directory in [home.versions, home.state, home.logs, home.bin] where !brokenDirectories.contains(directory) {
            checkMode(directory, required: 0o700)
        }
        if !brokenDirectories.contains(home.staging) { checkMode(home.staging, exact: 0o700) }
        for file in [home.journal, home.configuration] + (plantedLock == nil ? [home.lock] : []) { checkMode(file, required: 0o600) }
        // The journal's archive and its segments: what `history` reads, kept like the journal.
        let archive = Journal.archivePath(of: home.journal)
        if !brokenDirectories.contains(archive) {
            checkMode(archive, required: 0o700)
            for segment in Journal.segments(in: archive) { checkMode(archive + "/" + segment.name, required: 0o600) }
        }
        let stored = brokenDirectories.contains(home.versions) ? [] : ((try? VersionStore(home: home).list()) ?? [])
        for id in stored {
            checkMode(home.versionDirectory(id), required: 0o700)
            // A stored binary: nobody may write it, its owner must be able to run it (0555 as
            // staged; a stricter umask's 0500 or 0550 is as good).
            guard let status = try? FileSystem.statusIfPresent(home.binary(id), followLinks: false), status.kind == .regular else { continue }
            checkOwner(home.binary(id), status)
            if status.mode & 0o222 != 0 || status.mode & 0o500 != 0o500 || status.mode & 0o7000 != 0 {
                add(.permissions(path: home.binary(id), expected: 0o555), .permissions, home.binary(id),
                    "its mode is \(octal(status.mode)): " + (status.mode & 0o222 != 0 ? "it can be written, so its bytes can change under its id"
                        : status.mode & 0o7000 != 0 ? "it is setuid, setgid or sticky, which no stored version is" : "its owner cannot run it, so it cannot be restarted into"),
                    "set its mode to 0555")
            }
        }
        let stateFiles = brokenDirectories.contains(home.state) ? [] : ((try? FileSystem.contentsOfDirectory(home.state)) ?? [])
            .filter { !$0.hasPrefix(".") }
        for name in stateFiles { checkMode(home.state + "/" + name, required: 0o600) }
        // A name that is not UTF-8 has no String that names it: anywhere in the home (state,
        // versions, snapshots, modules, the channel) it would escape every check here and every
        // snapshot, so it is reported for a person to rename. The build caches and the working
        // copy are the compiler's and the user's, not the home's to check (and can be large).
        let caches = Set([home.buildCache, home.testBuildCache, home.confinedBuildCache, home.confinedTestBuildCache, home.workingCopy]
            .map(FileSystem.baseName(of:)))
        for shown in FileSystem.namesNotUTF8(under: home.root, skipping: caches) {
            add(.unreadableName(path: shown), .unreadableName, shown,
                "its name is not UTF-8, so it cannot be checked or kept in a snapshot",
                "rename it by hand to a UTF-8 name (for example with 'mv' and a shell glob)")
        }

        // The journal (and its checkpoint), read as every command reads it.
        let upgrader = try? Upgrader(homeDirectory: home.root, program: program, configuration: UpgradeConfiguration())
        var ledger: Ledger?
        var inProgress: String?
        do {
            guard let upgrader else { throw UpgradeError(.system, "cannot open the home") }
            let journal = try upgrader.readJournal()
            ledger = Ledger(journal)
            // A test stops here and runs a rollback before `current` is read (Doctor.inspect).
            try? FailPoint.hit("doctor-journal-read", program)
            if let refusal = journal.checkpointRefusal {
                add(.journalCheckpoint, .journalCheckpoint, home.journal,
                    "its checkpoint was refused (\(refusal)); commands read the records it stands for from the archive in \(relative(journal.archive)), which costs more",
                    "archive the active journal (its refused line with it) and start it again from a new checkpoint of the records read")
            }
            // Behind a sound checkpoint only `history` reads the archive: a segment deleted, cut
            // or edited there would go unnoticed by every other command.
            if journal.checkpoint != nil, journal.checkpointRefusal == nil {
                do {
                    _ = try Journal(path: home.journal, replayingArchive: true)
                } catch StorageError.incompleteArchive(let archive, let last, let reason) {
                    add(.journalArchive, .journalArchive, archive,
                        "the history before record \(last + 1) is lost: \(reason); every command reads the sound checkpoint and works on, but 'history' cannot show those records",
                        "none here: nothing on this machine can bring those records back (restore \(relative(archive)) from a backup)")
                } catch {
                    // An archive planted or made unreadable is named above (layout, permissions,
                    // owner); anything else is named here: never healthy while `history` fails.
                    if !problems.contains(where: { $0.finding.path == relative(archive) || $0.finding.path.hasPrefix(relative(archive) + "/") }) {
                        add(.journalArchive, .journalArchive, archive, "it cannot be read (\(error)), so 'history' fails",
                            "none here: move aside by hand what the error names if it is not a segment; a segment lost or damaged only a backup brings back")
                    }
                }
            }
            // A tail that names no record (torn, garbage): nothing is known of the journal's end
            // until the next durable record rewrites it, so a cut there would go unnoticed.
            let tail = Journal.tailPath(of: home.journal)
            if journal.lastSequence > 0, FileSystem.exists(tail), Journal.durableSequence(of: home.journal) == nil {
                add(.journal, .journal, tail,
                    "the journal's tail names no record (it is not 20 digits and a newline): a cut at the journal's end would go unnoticed until the next durable record rewrites it",
                    "name the journal's last record in it again (the journal itself is kept)")
            }
            // Every change appends to the journal through a check it would fail: say so here.
            if let problem = journal.appendProblem {
                add(.journal, .journal, home.journal, problem + "; no command will change the home until it is rebuilt",
                    "rebuild it from the stored versions whose bytes match their ids (the journal rebuild), keeping this one aside")
            }
            if let open = ledger?.openTransaction, let holder = FileLock.holder(of: home.lock) {
                // A live transaction holds the lock until it commits or aborts: unfinished, not
                // interrupted (recovery would wait for the lock as well).
                // /proc/locks names the process that took the lock; a child it started may hold
                // it now that it has ended.
                let who = holder == 0 ? "a process of another pid namespace holds \(home.lock)"
                    : ProcessControl.isAlive(holder) ? "process \(holder) holds \(home.lock)"
                    : "\(home.lock) is held by a process that process \(holder), now ended, started"
                inProgress = "transaction \(open.id) (\(open.operation.rawValue)) is in progress: " + who
            } else if let open = ledger?.openTransaction {
                add(.interruptedTransaction, .interruptedTransaction, home.journal,
                    "transaction \(open.id) (\(open.operation.rawValue)) was interrupted and is not finished",
                    "finish it as recovery does: roll it forward where the journal proves it safe, else undo it")
            }
        } catch {
            // Refused for its tail, not for anything in it: the tail is named (asked once).
            if let tail = Journal.tailProblem(of: home.journal) {
                add(.journal, .journal, Journal.tailPath(of: home.journal),
                    "the journal's tail \(tail), so a cut at the journal's end could not be noticed; no command will change the home until it is set aside",
                    "move it aside and name the journal's last record in a new one (the journal itself is kept)")
            } else {
                let reason: String
                switch error {
                case StorageError.corruptJournal(_, let line, let why): reason = "it is damaged at line \(line) (\(why))"
                case StorageError.unusableJournal(_, let why): reason = "it cannot be used: \(why)"
                default: reason = "it cannot be read: \(error)"
                }
                add(.journal, .journal, home.journal, reason + "; no command will change the home until it is rebuilt",
                    "rebuild it from the stored versions whose bytes match their ids (the journal rebuild), keeping the damaged file aside")
            }
        }

        // Stored versions against their ids.
        let named = ledger.map { ledger in ledger.retained(limit: (try? UpgradeConfiguration.load(from: home))?.historyLimit ?? 5).subtracting(ledger.pruned) } ?? []
        for id in stored {
            let path = home.binary(id)
            let role = ledger.map { describe(id, in: $0) } ?? ""
            guard let status = try? FileSystem.statusIfPresent(path, followLinks: false) else {
                add(.versionDamaged(id), .versionDamaged, path, "version \(id.short)\(role) has no binary: its directory is there, the program is not",
                    "restore it from another copy with the same hash, or from the release channel")
                continue
            }
            guard status.kind == .regular else {
                add(.versionDamaged(id), .versionDamaged, path, "version \(id.short)\(role) is not a regular file (a link or special file put there)",
                    "keep it aside and restore the version from another copy with the same hash, or from the release channel")
                continue
            }
            switch hash(path, cache: digests) {
            case .success(let actual):
                hashed.versions += 1
                hashed.bytes += status.size
                if actual != id {
                    add(.versionDamaged(id), .versionDamaged, path,
                        "version \(id.short)\(role) now hashes to \(actual.short): its bytes changed (a bad disk, an edit); it would be refused at a rollback or restart",
                        "keep it aside and restore the version from another copy with the same hash, or from the release channel")
                } else if VersionStore(home: home).metadata(id) == nil {
                    add(.versionMetadata(id), .versionMetadata, home.versionDirectory(id) + "/meta.json",
                        "version \(id.short)\(role) has no readable metadata (size, source, version name)",
                        "write it again from the verified binary (the damaged file kept aside)")
                }
            case .failure(let error):
                add(.versionDamaged(id), .versionDamaged, path, "version \(id.short)\(role) cannot be read: \(error)",
                    "keep it aside and restore the version from another copy with the same hash, or from the release channel")
            }
        }
        for id in named.subtracting(stored).sorted(by: { $0.hex < $1.hex }) {
            // Something else under its name (a link, a file) is no version: kept aside by the repair.
            let standing = (try? FileSystem.statusIfPresent(home.versionDirectory(id), followLinks: false)) ?? nil
            let why = switch standing?.kind {
            case nil: "deleted outside the program?"
            case .symbolicLink?: "a symbolic link stands in place of its directory"
            case .regular?: "a file stands in place of its directory"
            default: "something that is not a directory stands in place of it"
            }
            add(.versionMissing(id), .versionMissing, home.versionDirectory(id),
                "version \(id.short)\(ledger.map { describe(id, in: $0) } ?? "") is not in the store, but the journal needs it (\(why))",
                "restore it from another copy with the same hash, or from the release channel")
        }

        // `current` and the entry point.
        let expected = ledger?.current
        if let status = try? FileSystem.statusIfPresent(home.current, followLinks: false) {
            if status.kind != .symbolicLink {
                add(.current(expected: expected), .current, home.current, "it is not a link (something was put in its place)",
                    "keep it aside and point current at \(expected.map { "version \($0.short)" } ?? "the journal's current version")")
            } else {
                let linked = try? home.currentVersion()
                if linked == nil {
                    let target = (try? FileSystem.destinationOfSymbolicLink(home.current)) ?? "?"
                    add(.current(expected: expected), .current, home.current, "it points at \"\(TerminalText.escaped(target, limit: 200))\", not at a version of the store",
                        "point it at \(expected.map { "version \($0.short)" } ?? "the journal's current version"), the old link kept aside")
                } else if let linked, !stored.contains(linked) {
                    add(.current(expected: expected), .current, home.current, "it points at version \(linked.short), which is not in the store: the program cannot start",
                        linked == expected ? "restore version \(linked.short) (see its finding), then current works again"
                                           : "point it at \(expected.map { "version \($0.short)" } ?? "the journal's current version")")
                } else if let linked, let expected, linked != expected, let ledger, ledger.openTransaction == nil {
                    // No transaction is open to explain it: an abort or a rollback that did not
                    // finish putting the link back, or a link changed by hand.
                    add(.current(expected: expected), .current, home.current,
                        "it points at version \(linked.short), but the journal's current version is \(expected.short): the program runs a version the journal does not say it should",
                        "point it at version \(expected.short), as the journal says")
                }
            }
        } else {
            add(.current(expected: expected), .current, home.current, "it is missing: the program has no current version",
                "point it at \(expected.map { "version \($0.short)" } ?? "the journal's current version"), as the journal says")
        }
        let entryTarget = "../current/" + home.programName
        if let status = try? FileSystem.statusIfPresent(home.entryPoint, followLinks: false) {
            if status.kind != .symbolicLink {
                add(.entryPoint, .entryPoint, home.entryPoint, "it is not the link to the current version: another program was put in its place, and it is what PATH runs",
                    "keep it aside and make it the link to \(entryTarget) again")
            } else if let target = try? FileSystem.destinationOfSymbolicLink(home.entryPoint), target != entryTarget {
                add(.entryPoint, .entryPoint, home.entryPoint, "it links to \"\(TerminalText.escaped(target, limit: 200))\", not to \(entryTarget): PATH runs something else",
                    "keep the link aside and make it the link to \(entryTarget) again")
            }
        } else if !brokenDirectories.contains(home.bin) {
            add(.entryPoint, .entryPoint, home.entryPoint, "it is missing: the directory on PATH runs nothing", "make it the link to \(entryTarget) again")
        }

        // State files: a regular file each, a schema header and JSON, and what the program checks.
        for name in stateFiles where name.hasSuffix(".json") {
            let path = home.state + "/" + name
            if let problem = stateProblem(path) {
                add(.state(path: path), .state, path, problem + ": the program cannot read its state",
                    "restore it from the last snapshot that holds a good copy, else keep it aside (the program starts from a fresh state)")
            }
        }

        // The configuration.
        do {
            _ = try UpgradeConfiguration.load(from: home)
        } catch {
            add(.configuration, .configuration, home.configuration, "\(error): every command refuses to run",
                "restore it from the last snapshot that holds a good copy, else keep it aside (the defaults apply)")
        }

        // The release channel: its configuration and trusted metadata, verified against the trusted root.
        if (try? FileSystem.statusIfPresent(channelDirectory, followLinks: false)) != nil, !brokenDirectories.contains(channelDirectory) {
            let configPath = channelDirectory + "/config.json"
            if (try? FileSystem.statusIfPresent(configPath, followLinks: false)) != nil {
                do {
                    _ = try UpdateChannel.load(home: home.root)
                } catch {
                    add(.channelConfiguration, .channelConfiguration, configPath, "\(error.message): update checks cannot run",
                        "restore it from the last snapshot that holds a good copy")
                }
            }
            let metadata = channelDirectory + "/metadata"
            if !brokenDirectories.contains(metadata), FileSystem.isDirectory(metadata) {
                for (role, problem) in Updater.checkTrusted(metadataDirectory: metadata) {
                    let isRoot = role == "root"
                    add(.channelMetadata(role: role), .channelMetadata, metadata + "/\(role).json",
                        "\(problem); " + (isRoot ? "nothing from the channel can be verified" : "the next check cannot use it as its baseline against rollback"),
                        isRoot ? "restore the trusted root from the last snapshot that holds a copy signed by its own keys"
                               : "keep it aside and fetch it again from the channel, verified against the trusted root")
                }
            }
        }

        // The module store.
        let moduleStore = modulesDirectory + "/store"
        if !brokenDirectories.contains(moduleStore), FileSystem.isDirectory(moduleStore) {
            for digest in ((try? FileSystem.contentsOfDirectory(moduleStore)) ?? []) where SHA256Digest(hex: digest) != nil {
                for name in (try? FileSystem.contentsOfDirectory(moduleStore + "/" + digest)) ?? [] {
                    let path = moduleStore + "/" + digest + "/" + name
                    let status = try? FileSystem.statusIfPresent(path, followLinks: false)
                    let actual = status?.kind == .regular ? (try? hash(path, cache: digests).get()) : nil
                    if let status, status.kind == .regular { hashed.bytes += status.size }
                    if actual?.hex != digest {
                        add(.module(path: path, digest: digest), .module, path,
                            "module \(TerminalText.escaped(name, limit: 100)) \(String(digest.prefix(12))) " + (actual.map { "now hashes to \($0.short)" } ?? "is not a regular file")
                            + ": it would be refused at its next start or reload",
                            "keep it aside and restore it from another copy with the same hash in the home's build directory")
                    }
                }
            }
        }

        // Free space: what an upgrade needs, twice the largest stored version plus 16 MiB.
        let free = try? FileSystem.availableBytes(in: home.root)
        let largest = stored.compactMap { try? FileSystem.statusIfPresent(home.binary($0), followLinks: false)?.size }.max() ?? 0
        let needed = options.minimumFreeBytes ?? UInt64(largest) * 2 + 16 << 20
        if let free, free < needed {
            add(.space, .space, home.root, "only \(ByteCount.text(Int(clamping: free))) free, \(ByteCount.text(Int(clamping: needed))) needed: an upgrade would be refused",
                "none: free space on the file system, or lower historyLimit in config.json so that the next upgrade prunes older versions")
        }

        let examination = Examination(home: home.root, findings: problems.map(\.finding), versionsHashed: hashed.versions,
                                      bytesHashed: hashed.bytes, freeBytes: free, inProgress: inProgress)
        return (examination, problems)
    }

    /// " (current)", " (previous)", or "".
    func describe(_ id: SHA256Digest, in ledger: Ledger) -> String {
        id == ledger.current ? " (current)" : id == ledger.previous ? " (previous)" : " (kept)"
    }

    /// What is wrong with a state file, or nil: read without following a link or blocking (a
    /// FIFO is refused, not waited on), at most 64 MiB, a `{"schema":N}` header line, a JSON
    /// body, and whatever the program's own check says.
    func stateProblem(_ path: String) -> String? {
        let limit = 64 << 20
        let bytes: [UInt8]
        do {
            guard let read = try FileSystem.readOwnFile(path, maxBytes: limit + 1) else { return nil }
            bytes = read
        } catch {
            return "it cannot be read (\(error.detail ?? "\(error.errno)"))"
        }
        guard bytes.count <= limit else { return "it is larger than \(ByteCount.text(limit)), more than any state this program writes" }
        let header: (schema: Int, body: [UInt8])
        do {
            header = try StateFile.split(bytes, path: path)
        } catch {
            guard case .corruptState(_, let reason) = error else { return "\(error)" }
            return bytes.isEmpty ? reason : reason + " (it is cut short or garbage)"
        }
        guard (try? JSONDecoder().decode(JSONValue.self, from: Data(header.body))) != nil else {
            return "its body (schema \(header.schema)) is not JSON (it is cut short or garbage)"
        }
        do {
            try options.checkState(path)
        } catch {
            return "the program cannot decode it: \(error)"
        }
        return nil
    }

    /// The SHA-256 of a file opened without following a link or blocking, read in 1 MiB pieces
    /// and paced to ``Options/hashBytesPerSecond``.
    func hash(_ path: String, cache: DigestCache? = nil) -> Result<SHA256Digest, SystemError> {
        do throws(SystemError) {
            let fd = try FileDescriptor.open(path, [.noFollow, .nonBlocking])
            defer { try? fd.close() }
            let status = try fd.status()
            guard status.kind == .regular else {
                throw SystemError("read", path: path, errno: .invalidArgument, detail: "it is not a regular file")
            }
            if let known = cache?.digest(of: status) { return .success(known) }
            var hasher = SHA256()
            let start = MonotonicClock.now()
            var total = 0
            let rate = options.hashBytesPerSecond
            try fd.readChunks { chunk in
                hasher.update(bufferPointer: chunk)
                total += chunk.count
                // Paced: never ahead of the rate (a background check must not compete with its host).
                if let rate, rate > 0 {
                    let due = Double(total) / rate - MonotonicClock.seconds(since: start)
                    if due > 0 { ProcessControl.sleep(seconds: min(due, 60)) }
                }
            }
            let digest = hasher.finalize()
            // Kept only when the file did not change while it was read.
            if let cache, try fd.status() == status { cache.store(digest, for: status) }
            return .success(digest)
        } catch {
            return .failure(error)
        }
    }

    var channelDirectory: String { home.root + "/channel" }
    var modulesDirectory: String { home.root + "/modules" }
    var snapshotsDirectory: String { home.root + "/snapshots" }
}

/// `0755`-style text of a mode.
func octal(_ mode: mode_t) -> String {
    let text = String(mode & 0o7777, radix: 8)
    return String(repeating: "0", count: max(0, 4 - text.count)) + text
}

/// Digests of the files hashed during one examination, by the identity each had while it was
/// read (device, inode, size, modification and change times): a file changed since is hashed again.
final class DigestCache: Sendable {
    private struct Identity: Hashable {
        let device: UInt64
        let inode: UInt64
        let size: Int
        let modified: Int64
        let changed: Int64

        init(_ status: FileStatus) {
            (device, inode, size) = (status.device, status.inode, status.size)
            (modified, changed) = (status.modificationNanoseconds, status.changeNanoseconds)
        }
    }

    private let digests = Mutex<[Identity: SHA256Digest]>([:])

    func digest(of status: FileStatus) -> SHA256Digest? { digests.withLock { $0[Identity(status)] } }

    func store(_ digest: SHA256Digest, for status: FileStatus) { digests.withLock { $0[Identity(status)] = digest } }
}
