import Foundation
import Integrity
import Platform
import SelfUpgrade
import Storage
import Synchronization
import Testing

/// A library user: a program called "demo" whose candidates are shell scripts.
struct Demo {
    let directory: String
    let home: Home
    let upgrader: Upgrader
    let first: SHA256Digest

    static let program = ProgramIdentity(name: "demo", version: "1.0", protocolVersion: 3)

    init() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("autodev-lib-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        home = Home(root: directory + "/home", programName: "demo")
        upgrader = try Upgrader(home: home, program: Self.program, configuration: UpgradeConfiguration())
        first = try upgrader.adopt(executable: try Self.script(in: directory, name: "v1", version: "1.0")).digest
    }

    /// A candidate whose verification mode reports `version` with the demo's protocol.
    static func script(in directory: String, name: String, version: String, protocolVersion: Int = 3) throws -> String {
        let path = directory + "/" + name
        let report = #"{"program":"demo","version":"\#(version)","protocolVersion":\#(protocolVersion),"checks":[{"name":"smoke","passed":true,"detail":"ok"}],"readsJournalCheckpoints":true}"#
        try "#!/bin/sh\necho '\(report)'\n".write(toFile: path, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: path)
        return path
    }

    func candidate(_ version: String) throws -> String { try Self.script(in: directory, name: "v" + version, version: version) }

    static var noRestart: Upgrader.UpgradeOptions {
        var options = Upgrader.UpgradeOptions()
        options.restart = false
        return options
    }

    func cleanUp() { try? FileManager.default.removeItem(atPath: directory) }
}

@Suite("The library API, without restarts")
struct UpgraderTests {
    @Test("upgrade commits, rollback returns, history and status are derived from the journal")
    func upgradeAndRollback() throws {
        let demo = try Demo()
        defer { demo.cleanUp() }
        let outcome = try demo.upgrader.upgrade(fromBinary: try demo.candidate("2.0"), options: Demo.noRestart)
        #expect(outcome.version == "2.0")
        #expect(try demo.home.currentVersion() == outcome.to.digest)
        #expect(outcome.verification?.isolation.contains("own session, no controlling terminal, stdin /dev/null") == true)
        let back = try demo.upgrader.rollback(to: nil, options: Demo.noRestart)
        #expect(back.to.digest == demo.first)
        #expect(try demo.home.currentVersion() == demo.first)
        #expect(try demo.upgrader.history().map(\.via) == ["adopt", "upgrade", "rollback"])
        #expect(try demo.upgrader.history().map(\.version) == ["1.0", "2.0", "1.0"])
        let status = try demo.upgrader.status()
        #expect(status.current?.id == demo.first.hex)
        #expect(status.previous?.id == outcome.to.hex)
        #expect(status.warnings.isEmpty)
    }

    @Test("a stored version that was never current (left by an upgrade killed during its verification) is no rollback target")
    func rollbackToNeverCurrent() throws {
        let demo = try Demo()
        defer { demo.cleanUp() }
        let upgraded = try demo.upgrader.upgrade(fromBinary: try demo.candidate("2.0"), options: Demo.noRestart)
        // What a SIGKILL during verification leaves: the candidate in the store, the journal
        // with no transaction that made it current.
        let stray = try VersionStore(home: demo.home).stage(try demo.candidate("6.6.6"), source: "test", transaction: "tx-killed").id
        let error = try #require(throws: UpgradeError.self) {
            try demo.upgrader.rollback(to: VersionID(stray), options: Demo.noRestart)
        }
        #expect(error.code == .unknownVersion)
        #expect(error.message.contains("was never the current version here"), "\(error.message)")
        #expect(try demo.home.currentVersion() == upgraded.to.digest)
        // The versions that were current are targets.
        #expect(try demo.upgrader.rollback(to: VersionID(demo.first), options: Demo.noRestart).to.digest == demo.first)
    }

    @Test("a verified binary nobody else can change is moved into the store, not copied; any other is copied, hashed and checked")
    func verifiedBinaryMoved() throws {
        let demo = try Demo()
        defer { demo.cleanUp() }
        let downloads = demo.directory + "/downloads"
        try FileManager.default.createDirectory(atPath: downloads, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o700])
        func verified(_ version: String) throws -> (path: String, id: VersionID, inode: UInt64) {
            let path = try Demo.script(in: downloads, name: "v" + version, version: version)
            let id = VersionID(hex: SHA256.hash(data: Array(try Data(contentsOf: URL(fileURLWithPath: path)))).hex)!
            return (path, id, try FileSystem.status(path, followLinks: false).inode)
        }
        // Moved: the store's binary is the same inode, and the download's name is gone.
        let moved = try verified("2.0")
        let outcome = try demo.upgrader.upgrade(fromVerifiedBinary: moved.path, sha256: moved.id, options: Demo.noRestart)
        #expect(outcome.to == moved.id)
        #expect(!FileManager.default.fileExists(atPath: moved.path))
        let stored = try FileSystem.status(demo.home.binary(moved.id.digest), followLinks: false)
        #expect(stored.inode == moved.inode && stored.mode == 0o555)
        #expect(try demo.home.currentVersion() == moved.id.digest)

        // A file swapped or written after its verification (its bytes are not the SHA-256 given):
        // moved, hashed where it lies, refused, and put back where it was.
        let swapped = try verified("2.4")
        let claimed = VersionID(hex: String(repeating: "ab", count: 32))!
        let refusal = try #require(throws: UpgradeError.self) {
            try demo.upgrader.upgrade(fromVerifiedBinary: swapped.path, sha256: claimed, options: Demo.noRestart)
        }
        #expect(refusal.code == .invalidCandidate, "\(refusal)")
        #expect(try FileSystem.status(swapped.path, followLinks: false).inode == swapped.inode)
        #expect(!FileManager.default.fileExists(atPath: demo.home.binary(claimed.digest)))
        #expect(!FileManager.default.fileExists(atPath: demo.home.binary(swapped.id.digest)))
        #expect(try demo.home.currentVersion() == moved.id.digest)

        // One whose verification fails is moved back where it was, the same file.
        let failing = try Demo.script(in: downloads, name: "v2.5", version: "2.5", protocolVersion: 99)
        let failingID = VersionID(hex: SHA256.hash(data: Array(try Data(contentsOf: URL(fileURLWithPath: failing)))).hex)!
        let failingInode = try FileSystem.status(failing, followLinks: false).inode
        #expect(throws: UpgradeError.self) { try demo.upgrader.upgrade(fromVerifiedBinary: failing, sha256: failingID, options: Demo.noRestart) }
        let back = try FileSystem.status(failing, followLinks: false)
        #expect(back.inode == failingInode && back.mode == 0o755)
        #expect(!FileManager.default.fileExists(atPath: demo.home.binary(failingID.digest)))
        #expect(try demo.home.currentVersion() == moved.id.digest)

        // Another name for the same file (a hard link): copied and hashed, the file left where it was.
        let linked = try verified("3.0")
        try FileManager.default.linkItem(atPath: linked.path, toPath: downloads + "/other-name")
        let copied = try demo.upgrader.upgrade(fromVerifiedBinary: linked.path, sha256: linked.id, options: Demo.noRestart)
        #expect(copied.to == linked.id)
        #expect(FileManager.default.fileExists(atPath: linked.path))
        #expect(try FileSystem.status(demo.home.binary(linked.id.digest), followLinks: false).inode != linked.inode)

        // In a directory others can write: copied; and a SHA-256 that is not the file's is refused there.
        try FileManager.default.setAttributes([.posixPermissions: 0o777], ofItemAtPath: downloads)
        let exposed = try verified("4.0")
        let error = try #require(throws: UpgradeError.self) {
            try demo.upgrader.upgrade(fromVerifiedBinary: exposed.path, sha256: moved.id, options: Demo.noRestart)
        }
        #expect(error.code == .invalidCandidate, "\(error)")
        #expect(FileManager.default.fileExists(atPath: exposed.path))
        #expect(try demo.home.currentVersion() == linked.id.digest)

        // A dry run never takes the file.
        try FileManager.default.setAttributes([.posixPermissions: 0o700], ofItemAtPath: downloads)
        var dryRun = Demo.noRestart
        dryRun.dryRun = true
        _ = try demo.upgrader.upgrade(fromVerifiedBinary: exposed.path, sha256: exposed.id, options: dryRun)
        #expect(FileManager.default.fileExists(atPath: exposed.path))
    }

    /// How a candidate reaches the store in ``replacedWhileVerified(_:)``.
    enum Route: String, CaseIterable, Sendable {
        /// Copied from a file: hashed while its self-check runs from the staged copy, which is
        /// what is replaced; stored once that run has ended.
        case copied
        /// Streamed: stored before verification, the stored file replaced while it is verified.
        case streamed
    }

    @Test("a candidate's file replaced while it is verified is refused, not made current", arguments: Route.allCases)
    func replacedWhileVerified(_ route: Route) throws {
        let demo = try Demo()
        defer { demo.cleanUp() }
        // A candidate whose self-check takes 3 s (its sandbox sees nothing of the test's files:
        // that is the window the test acts in, once it has seen the verification start).
        let candidate = demo.directory + "/slow"
        let report = #"{"program":"demo","version":"2.0","protocolVersion":3,"checks":[{"name":"smoke","passed":true,"detail":"ok"}],"readsJournalCheckpoints":true}"#
        try "#!/bin/sh\nsleep 3\necho '\(report)'\n".write(toFile: candidate, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: candidate)
        let bytes = Array(try Data(contentsOf: URL(fileURLWithPath: candidate)))
        let stored = demo.home.binary(SHA256.hash(data: bytes))
        let other = try Demo.script(in: demo.directory, name: "other", version: "2.0")

        let upgrader = demo.upgrader
        let outcome = Mutex<Result<Upgrader.Outcome, any Error>?>(nil)
        let thread = Thread {
            let result = Result {
                switch route {
                case .copied: try upgrader.upgrade(fromBinary: candidate, options: Demo.noRestart)
                case .streamed: try upgrader.upgrade(streamedFrom: "test", options: Demo.noRestart) { write in
                    try bytes.withUnsafeBytes { try write($0) }
                }
                }
            }
            outcome.withLock { $0 = result }
        }
        thread.start()
        // The condition: the file the self-check runs from is there (staged, or stored) and
        // its verification is waiting.
        func target() -> String? {
            switch route {
            case .copied:
                let staging = (try? FileManager.default.contentsOfDirectory(atPath: demo.home.staging)) ?? []
                return staging.first { $0.hasPrefix("tx-") }.map { demo.home.staging + "/" + $0 + "/demo" }
            case .streamed: return stored
            }
        }
        var waiting: String?
        for _ in 0..<600 where waiting == nil {
            if let path = target(), FileManager.default.fileExists(atPath: path),
               !((try? FileManager.default.contentsOfDirectory(atPath: Verifier.sandboxParent(for: demo.home).path)) ?? []).isEmpty {
                waiting = path
            } else {
                usleep(50_000)
            }
        }
        let path = try #require(waiting, "the verification never started")
        // Another file renamed over it while it is verified.
        let replacement = demo.directory + "/replacement"
        try FileManager.default.copyItem(atPath: other, toPath: replacement)
        // As read-only as what the store makes: refused for its bytes, not its mode.
        try FileManager.default.setAttributes([.posixPermissions: 0o555], ofItemAtPath: replacement)
        #expect(rename(replacement, path) == 0)
        var finished: Result<Upgrader.Outcome, any Error>?
        for _ in 0..<1200 where finished == nil {
            finished = outcome.withLock { $0 }
            if finished == nil { usleep(50_000) }
        }
        let result = try #require(finished, "the upgrade never finished")
        let error = try #require(throws: (any Error).self) { try result.get() }
        switch route {
        case .copied: #expect("\(error)".contains("another file was put in its place"), "\(error)")
        case .streamed: #expect("\(error)".contains("hash"), "\(error)")
        }
        #expect(try demo.home.currentVersion() == demo.first)
        #expect(!FileManager.default.fileExists(atPath: stored))
        #expect(try FileSystem.contentsOfDirectory(demo.home.staging).isEmpty)
    }

    @Test("pruning after a commit moves and removes nothing through a link put over versions/ or logs/ while the transaction ran")
    func pruneThroughSwappedLinks() throws {
        let demo = try Demo()
        defer { demo.cleanUp() }
        var configuration = UpgradeConfiguration()
        configuration.historyLimit = 2
        let upgrader = try Upgrader(home: demo.home, program: Demo.program, configuration: configuration)
        for version in ["2.0", "3.0"] { _ = try upgrader.upgrade(fromBinary: try demo.candidate(version), options: Demo.noRestart) }
        let home = demo.home
        let outside = demo.directory + "/outside"
        var options = Demo.noRestart
        // Once the candidate is verified: each directory copied outside the home (the files hard
        // linked, so the transaction finds what it expects), a file added to every copied
        // directory, and the home's directory replaced by a link to its copy.
        options.acceptance = { _ in
            let files = FileManager.default
            for name in ["versions", "logs"] {
                let copy = outside + "/" + name
                try files.createDirectory(atPath: copy, withIntermediateDirectories: true)
                for entry in try files.contentsOfDirectory(atPath: home.root + "/" + name) {
                    try files.createDirectory(atPath: copy + "/" + entry, withIntermediateDirectories: false)
                    for file in try files.contentsOfDirectory(atPath: home.root + "/" + name + "/" + entry) {
                        try files.linkItem(atPath: home.root + "/" + name + "/" + entry + "/" + file, toPath: copy + "/" + entry + "/" + file)
                    }
                    try "kept".write(toFile: copy + "/" + entry + "/precious", atomically: false, encoding: .utf8)
                }
                try files.moveItem(atPath: home.root + "/" + name, toPath: home.root + "/" + name + ".real")
                try files.createSymbolicLink(atPath: home.root + "/" + name, withDestinationPath: copy)
            }
            return "accepted"
        }
        _ = try? upgrader.upgrade(fromBinary: try demo.candidate("4.0"), options: options)
        for name in ["versions", "logs"] {
            let entries = try FileManager.default.contentsOfDirectory(atPath: outside + "/" + name)
            #expect(!entries.isEmpty)
            for entry in entries {
                #expect(FileManager.default.fileExists(atPath: outside + "/" + name + "/" + entry + "/precious"), "\(name)/\(entry) was removed")
            }
        }
    }

    @Test("the clean-up at start removes a leftover in staging/ whose name is not UTF-8, with what it holds")
    func recoverLeftoverNotUTF8() throws {
        let demo = try Demo()
        defer { demo.cleanUp() }
        let staging = open(demo.home.staging, O_RDONLY | O_DIRECTORY)
        try #require(staging >= 0)
        defer { close(staging) }
        let name: [CChar] = [0x74, 0x78, CChar(bitPattern: 0xFF), 0]
        try #require(mkdirat(staging, name, 0o700) == 0)
        let leftover = openat(staging, name, O_RDONLY | O_DIRECTORY)
        try #require(leftover >= 0)
        let file = openat(leftover, "autodev", O_WRONLY | O_CREAT, 0o600)
        close(file)
        close(leftover)
        _ = try demo.upgrader.recover()
        #expect(try FileManager.default.contentsOfDirectory(atPath: demo.home.staging).isEmpty)
    }

    @Test("the clean-up at start removes nothing outside the home while a link is put over staging/ and taken away, over and over")
    func recoverWhileStagingIsSwapped() throws {
        let demo = try Demo()
        defer { demo.cleanUp() }
        let staging = demo.home.staging
        let outside = demo.directory + "/outside"
        for index in 0..<200 {
            try FileManager.default.createDirectory(atPath: outside + "/leftover-\(index)", withIntermediateDirectories: true)
            try "kept".write(toFile: outside + "/leftover-\(index)/precious", atomically: false, encoding: .utf8)
            try FileManager.default.createDirectory(atPath: staging + "/leftover-\(index)", withIntermediateDirectories: false)
        }
        let stop = Atomic<Bool>(false)
        let stopped = DispatchSemaphore(value: 0)
        let toggler = Thread {
            defer { stopped.signal() }
            while !stop.load(ordering: .relaxed) {
                guard rename(staging, staging + ".real") == 0 else { continue }
                _ = symlink(outside, staging)
                usleep(200)
                _ = unlink(staging)
                _ = rename(staging + ".real", staging)
                usleep(200)
            }
        }
        toggler.start()
        for _ in 0..<300 { _ = try? demo.upgrader.recover() }
        stop.store(true, ordering: .relaxed)
        stopped.wait()
        let kept = try FileManager.default.contentsOfDirectory(atPath: outside).filter {
            FileManager.default.fileExists(atPath: outside + "/" + $0 + "/precious")
        }
        #expect(kept.count == 200)
    }

    @Test("what an interrupted removal left of a version (its metadata, no binary) is replaced by the next upgrade to those bytes")
    func leftoverVersionDirectory() throws {
        let demo = try Demo()
        defer { demo.cleanUp() }
        let candidate = try demo.candidate("2.0")
        let id = SHA256.hash(data: Array(try Data(contentsOf: URL(fileURLWithPath: candidate))))
        let leftover = demo.home.versionDirectory(id)
        try FileManager.default.createDirectory(atPath: leftover, withIntermediateDirectories: false)
        try #"{"id":"\#(id.hex)"}"#.write(toFile: leftover + "/meta.json", atomically: true, encoding: .utf8)
        let outcome = try demo.upgrader.upgrade(fromBinary: candidate, options: Demo.noRestart)
        #expect(outcome.to.digest == id)
        #expect(try demo.home.currentVersion() == id)
        #expect(demo.upgrader.store.contains(id))
        #expect(try FileSystem.contentsOfDirectory(demo.home.staging).isEmpty)
    }

    @Test("with an expected id, a candidate whose bytes hash to anything else is refused at staging and nothing is stored")
    func expectedID() throws {
        let demo = try Demo()
        defer { demo.cleanUp() }
        let verified = try demo.candidate("2.0")
        let id = SHA256.hash(data: Array(try Data(contentsOf: URL(fileURLWithPath: verified)))).hex
        // The verified file swapped for another after its hash was checked.
        let swapped = try demo.candidate("6.6.6")
        try FileManager.default.removeItem(atPath: verified)
        try FileManager.default.moveItem(atPath: swapped, toPath: verified)
        var options = Demo.noRestart
        options.expectedID = VersionID(hex: id)
        let stored = try demo.upgrader.status().versions.count
        let error = try #require(throws: UpgradeError.self) { try demo.upgrader.upgrade(fromBinary: verified, options: options) }
        #expect(error.code == .invalidCandidate)
        #expect(error.message.contains("changed after it was verified") && error.message.contains("not to the verified \(id)"), "\(error.message)")
        #expect(try demo.home.currentVersion() == demo.first)
        #expect(try demo.upgrader.status().versions.count == stored)

        // The verified bytes themselves pass.
        let real = try demo.candidate("2.0")
        let outcome = try demo.upgrader.upgrade(fromBinary: real, options: options)
        #expect(outcome.to.hex == id)
    }

    @Test("a candidate larger than 1 GiB is refused before anything is copied, the cap in the message")
    func candidateTooLarge() throws {
        let demo = try Demo()
        defer { demo.cleanUp() }
        let huge = try demo.candidate("2.0")
        // Sparse: no disk is used.
        #expect(truncate(huge, off_t(Upgrader.maximumCandidateBytes) + 1) == 0)
        var options = Demo.noRestart
        options.dryRun = true
        let error = try #require(throws: UpgradeError.self) { try demo.upgrader.upgrade(fromBinary: huge, options: options) }
        #expect(error.code == .invalidCandidate)
        #expect(error.message.contains("a candidate may be at most 1 GiB (1073741824 bytes)"), "\(error.message)")
        #expect(try demo.upgrader.status().versions.count == 1)
        #expect(try demo.upgrader.history().count == 1)
    }

    @Test("a disk full while staging is reported and changes nothing")
    func diskFull() throws {
        let demo = try Demo()
        defer { demo.cleanUp() }
        let candidate = try demo.candidate("2.0")
        let error = #expect(throws: UpgradeError.self) {
            try SystemCalls.withFaults({ calls in
                // Fail only the copy into staging (written, or copied by the kernel): journal appends go through.
                @Sendable func intoStaging(_ fd: Int32) -> Bool {
                    ((try? FileSystem.destinationOfSymbolicLink("/proc/self/fd/\(fd)")) ?? "").contains("/staging/tx-")
                }
                let (write, copy) = (calls.write, calls.copyFileRange)
                calls.write = { fd, buffer, count in intoStaging(fd) ? Int(SystemCalls.failing(.noSpace)) : write(fd, buffer, count) }
                calls.copyFileRange = { input, output, count in intoStaging(output) ? Int(SystemCalls.failing(.noSpace)) : copy(input, output, count) }
            }) {
                try demo.upgrader.upgrade(fromBinary: candidate, options: Demo.noRestart)
            }
        }
        // The library's one error type, with the system error it wraps.
        #expect(error?.code == .system)
        #expect((error?.underlying as? SystemError)?.errno == .noSpace)
        #expect(error?.description.contains("No space left on device") == true)
        #expect(try demo.home.currentVersion() == demo.first)
        #expect(try VersionStore(home: demo.home).list() == [demo.first])
        #expect(try FileSystem.contentsOfDirectory(demo.home.staging).isEmpty)
        let last = try Journal(path: demo.home.journal).records.last
        guard case .abort(_, let reason)? = last?.event else {
            Issue.record("the last record is not an abort: \(String(describing: last))")
            return
        }
        #expect(reason.hasPrefix("stage: Failed to write to"))
    }

    @Test("a home whose staging cannot be written fails preflight")
    func notWritable() throws {
        let demo = try Demo()
        defer { demo.cleanUp() }
        let candidate = try demo.candidate("2.0")
        let error = #expect(throws: UpgradeError.self) {
            try SystemCalls.withFaults({ calls in
                let real = calls.open
                calls.open = { path, flags, mode in
                    String(cString: path).contains(".write-test-") ? SystemCalls.failing(.readOnlyFileSystem) : real(path, flags, mode)
                }
            }) {
                try demo.upgrader.upgrade(fromBinary: candidate, options: Demo.noRestart)
            }
        }
        #expect(error?.description.hasPrefix("The home \"\(demo.home.root)\" is not writable: Failed to open") == true)
        #expect(try demo.home.currentVersion() == demo.first)
    }

    @Test("a streamed candidate is staged from its pieces, hashed on the way, and upgraded to; a stream that fails changes nothing")
    func streamedCandidate() throws {
        let demo = try Demo()
        defer { demo.cleanUp() }
        let bytes = try FileSystem.readFile(try demo.candidate("2.0"))
        let failing = #expect(throws: UpgradeError.self) {
            try demo.upgrader.upgrade(streamedFrom: "http://127.0.0.1/cut", options: Demo.noRestart) { write in
                try bytes.prefix(10).withUnsafeBytes { try write($0) }
                throw SystemError("receive from", path: "http://127.0.0.1/cut", errno: Errno(rawValue: 104))
            }
        }
        #expect(failing?.description.contains("Connection reset") == true, "\(String(describing: failing))")
        #expect(try demo.home.currentVersion() == demo.first)
        #expect(try VersionStore(home: demo.home).list() == [demo.first])
        #expect(try FileSystem.contentsOfDirectory(demo.home.staging).isEmpty)

        let outcome = try demo.upgrader.upgrade(streamedFrom: "http://127.0.0.1/candidate", options: Demo.noRestart) { write in
            for start in stride(from: 0, to: bytes.count, by: 7) {
                try bytes[start..<min(bytes.count, start + 7)].withUnsafeBytes { try write($0) }
            }
        }
        #expect(outcome.version == "2.0")
        #expect(outcome.to.digest == SHA256.hash(data: bytes))
        #expect(try FileSystem.readFile(demo.home.binary(outcome.to.digest)) == bytes)
        #expect(try demo.upgrader.history().last?.via == "upgrade")
    }

    @Test("a candidate speaking another protocol is refused")
    func protocolMismatch() throws {
        let demo = try Demo()
        defer { demo.cleanUp() }
        let candidate = try Demo.script(in: demo.directory, name: "other", version: "2.0", protocolVersion: 4)
        let error = #expect(throws: UpgradeError.self) { try demo.upgrader.upgrade(fromBinary: candidate, options: Demo.noRestart) }
        #expect(error?.description.contains("it speaks upgrade protocol 4, this version speaks 3") == true)
        #expect(try VersionStore(home: demo.home).list() == [demo.first])
    }
}

@Suite("Recovery at start")
struct RecoveryTests {
    /// Writes an open transaction to the journal as a crashed process would have left it.
    func crash(_ demo: Demo, steps: [String], swap: Bool) throws -> SHA256Digest {
        let staged = try VersionStore(home: demo.home).stage(try demo.candidate("2.0"), source: "test", transaction: "t-crash")
        var journal = try Journal(path: demo.home.journal)
        try journal.append(JournalRecord(.begin(transaction: "t-crash", operation: .upgrade, from: demo.first, target: nil, source: nil)))
        for step in steps { try journal.append(JournalRecord(.step(transaction: "t-crash", step: StepName(rawValue: step), to: staged.id, version: nil))) }
        if swap { try demo.home.setCurrent(staged.id) }
        try FileSystem.createDirectory(demo.home.staging + "/t-crash-leftover", mode: 0o700)
        return staged.id
    }

    @Test("an interrupted transaction that had not swapped is undone, even if the link had flipped")
    func beforeSwap() throws {
        let demo = try Demo()
        defer { demo.cleanUp() }
        let staged = try crash(demo, steps: ["preflight", "stage", "verify"], swap: true)
        let notes = try demo.upgrader.recover()
        #expect(notes.first?.contains("interrupted after verify; undone at start") == true)
        #expect(try demo.home.currentVersion() == demo.first)
        // Recovery deletes nothing from the store: the candidate goes with the next commit's prune.
        #expect(Set(try VersionStore(home: demo.home).list()) == [demo.first, staged])
        #expect(try FileSystem.contentsOfDirectory(demo.home.staging).isEmpty)
        #expect(Ledger(try Journal(path: demo.home.journal)).openTransaction == nil)
        let next = try demo.upgrader.upgrade(fromBinary: try demo.candidate("3.0"), options: Demo.noRestart)
        #expect(Set(try VersionStore(home: demo.home).list()) == [demo.first, next.to.digest])
    }

    @Test("a flip killed half-way: its temporary links go with the recovery; anything else by that name stays")
    func flipLeftovers() throws {
        let demo = try Demo()
        defer { demo.cleanUp() }
        _ = try crash(demo, steps: ["preflight", "stage", "verify"], swap: true)
        let root = demo.home.root
        // The new link not yet exchanged, and the old one not yet kept: both links.
        #expect(symlink("versions/" + demo.first.hex, root + "/.current.tmp-1-2") == 0)
        #expect(symlink("versions/nothing", root + "/.current.tmp-3-4") == 0)
        // Not a flip's: a file and a directory by such names, and links by other names.
        try FileSystem.writeAtomically(root + "/.current.tmp-5-6", [1])
        try FileSystem.createDirectory(root + "/.current.tmp-7-8", mode: 0o755)
        for other in [".current.tmpx", ".current.tmp-1x-2", ".current.tmp-1-2-3", ".current.tmp-"] {
            #expect(symlink("versions/nothing", root + "/" + other) == 0)
        }
        let notes = try demo.upgrader.recover()
        #expect(notes.contains { $0.hasPrefix("Removed 2 temporary link(s) of a flip") }, "\(notes)")
        #expect(try demo.home.currentVersion() == demo.first)
        let left = try FileSystem.contentsOfDirectory(root).filter { $0.hasPrefix(".current.tmp") }.sorted()
        #expect(left == [".current.tmp-", ".current.tmp-1-2-3", ".current.tmp-1x-2", ".current.tmp-5-6", ".current.tmp-7-8", ".current.tmpx"])
    }

    @Test("a swapped but unconfirmed transaction found by another binary is rolled back")
    func unconfirmed() throws {
        let demo = try Demo()
        defer { demo.cleanUp() }
        _ = try crash(demo, steps: ["preflight", "stage", "verify", "swap"], swap: true)
        let notes = try demo.upgrader.recover()
        #expect(notes.first?.contains("unconfirmed after restart (attempt 1 of 3); rolled back at start") == true)
        #expect(try demo.home.currentVersion() == demo.first)
        let ledger = Ledger(try Journal(path: demo.home.journal))
        #expect(ledger.transactions.last?.outcome == .aborted)
        #expect(ledger.current == demo.first)
    }

    @Test("a status taken between a transaction's flip and its commit shows it in flight: no warning, the version it left as previous")
    func statusInFlight() throws {
        let demo = try Demo()
        defer { demo.cleanUp() }
        // What a status that takes no lock sees while a restart confirms: swapped, not committed.
        let staged = try crash(demo, steps: ["preflight", "stage", "verify", "swap"], swap: true)
        let status = try demo.upgrader.status()
        #expect(status.warnings.isEmpty, "\(status.warnings)")
        #expect(status.current?.id == staged.hex)
        #expect(status.previous?.id == demo.first.hex)
        #expect(status.openTransaction?.id == "t-crash")
        // The same journal with the link at a stored version it does not name is still refused.
        let other = try VersionStore(home: demo.home).stage(try demo.candidate("3.0"), source: "test", transaction: "t-other")
        try demo.home.setCurrent(other.id)
        #expect(throws: UpgradeError.self) { try demo.upgrader.status() }
    }

    @Test("a lock file grown huge is not read whole: the holder it names is read from its first bytes")
    func hugeLockFile() throws {
        let demo = try Demo()
        defer { demo.cleanUp() }
        #expect(FileManager.default.createFile(atPath: demo.home.lock, contents: Data("4242".utf8)))
        #expect(truncate(demo.home.lock, 256 << 20) == 0)
        #expect(demo.upgrader.recordedLockHolder()?.utf8.count == 32)
        #expect(demo.upgrader.recordedLockHolder()?.hasPrefix("4242") == true)
        // The next command takes the lock and writes its own pid over it, whole.
        _ = try demo.upgrader.upgrade(fromBinary: try demo.candidate("2.0"), options: Demo.noRestart)
        #expect(demo.upgrader.recordedLockHolder() == String(getpid()))
    }

    @Test("a link changed behind the journal's back is refused, not moved back; the repair keeps what it names")
    func linkTheJournalDoesNotExplain() throws {
        let demo = try Demo()
        defer { demo.cleanUp() }
        let other = try VersionStore(home: demo.home).stage(try demo.candidate("3.0"), source: "test", transaction: "t")
        try demo.home.setCurrent(other.id)
        #expect(throws: StorageError.self) { try demo.upgrader.recover() }
        #expect(try demo.home.currentVersion() == other.id)
        let report = try demo.upgrader.repair()
        #expect(report.repaired && report.current == VersionID(other.id))
        #expect(Ledger(try Journal(path: demo.home.journal)).current == other.id)
    }

    @Test("a file at current is set aside under a name nothing took meanwhile: one taken between the look and the move stays")
    func currentSetAsideWithoutReplacing() throws {
        let demo = try Demo()
        defer { demo.cleanUp() }
        try FileSystem.removeFile(demo.home.current)
        try FileSystem.writeAtomically(demo.home.current, Array("at current".utf8))
        // Another writer takes the name the repair found free, just before the repair moves to it.
        let raced = Mutex<String?>(nil)
        let report = try SystemCalls.withFaults({ calls in
            let real = calls.renameWithoutReplacing
            calls.renameWithoutReplacing = { from, to in
                let taken = String(cString: to)
                if raced.withLock({ let first = $0 == nil; if first { $0 = taken }; return first }) {
                    _ = FileManager.default.createFile(atPath: taken, contents: Data("earlier".utf8))
                }
                return real(from, to)
            }
        }) { try demo.upgrader.repair() }
        let taken = try #require(raced.withLock { $0 })
        #expect(try FileSystem.readFile(taken) == Array("earlier".utf8))
        let kept = try #require(report.currentKeptAs)
        #expect(kept != taken && kept.hasPrefix(taken))
        #expect(try FileSystem.readFile(kept) == Array("at current".utf8))
        #expect(try demo.home.currentVersion() == demo.first)
    }

    @Test("with every name to set current aside taken, the repair refuses before it changes anything")
    func noNameToSetCurrentAside() throws {
        let demo = try Demo()
        defer { demo.cleanUp() }
        try FileSystem.removeFile(demo.home.current)
        try FileSystem.writeAtomically(demo.home.current, Array("at current".utf8))
        let format = DateFormatter()
        format.locale = Locale(identifier: "en_US_POSIX")
        format.timeZone = TimeZone(identifier: "UTC")
        format.dateFormat = "yyyyMMdd'T'HHmmss"
        // Every name of the next 20 seconds, as second names of one file (cheap to make).
        let start = Date()
        let planted = demo.home.root + "/planted"
        try FileSystem.writeAtomically(planted, [1])
        for second in 0..<20 {
            let base = demo.home.current + ".damaged-" + format.string(from: start.addingTimeInterval(Double(second)))
            for index in 1...1000 { #expect(link(planted, index == 1 ? base : base + "-\(index)") == 0) }
        }
        let journal = try FileSystem.readFile(demo.home.journal)
        let error = #expect(throws: UpgradeError.self) { try demo.upgrader.repair() }
        #expect(Date().timeIntervalSince(start) < 19, "the repair ran after the names planted for it")
        #expect(error?.description.contains("no free name to set") == true, "\(String(describing: error))")
        #expect(try FileSystem.readFile(demo.home.journal) == journal)
        #expect(try FileSystem.readFile(demo.home.current) == Array("at current".utf8))
        #expect(try FileSystem.contentsOfDirectory(demo.home.root).filter { $0.hasPrefix("journal.damaged-") }.isEmpty)
    }

    @Test("a missing link is restored from the journal at start")
    func missingLink() throws {
        let demo = try Demo()
        defer { demo.cleanUp() }
        try FileSystem.removeFile(demo.home.current)
        let notes = try demo.upgrader.recover()
        #expect(notes.contains { $0.hasPrefix("Repaired") })
        #expect(try demo.home.currentVersion() == demo.first)
    }
}

@Suite("A refused verification changes nothing of the store")
struct RefusedVerificationTests {
    @Test("a refused verification of a stored version's bytes leaves that version's metadata as it was")
    func storedMetadataKept() throws {
        let demo = try Demo()
        defer { demo.cleanUp() }
        // Reports another version at each verification, and never confirms a rehearsed restart.
        let drifting = demo.directory + "/drifting"
        let report = #"{"program":"demo","version":"2.0.'"$(date +%N)"'","protocolVersion":3,"checks":[{"name":"smoke","passed":true,"detail":"ok"}],"readsJournalCheckpoints":true}"#
        try "#!/bin/sh\necho '\(report)'\n".write(toFile: drifting, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: drifting)
        let stored = try demo.upgrader.upgrade(fromBinary: drifting, options: Demo.noRestart)
        _ = try demo.upgrader.upgrade(fromBinary: try demo.candidate("3.0"), options: Demo.noRestart)
        let metadata = demo.home.versionDirectory(stored.to.digest) + "/meta.json"
        let before = try String(contentsOfFile: metadata, encoding: .utf8)
        // Offered again, with the restart rehearsed: its self-check passes, its rehearsal does not.
        let error = try #require(throws: UpgradeError.self) {
            try demo.upgrader.upgrade(fromBinary: drifting, options: Upgrader.UpgradeOptions())
        }
        #expect(error.message.contains("did not confirm the rehearsed restart"), "\(error.message)")
        #expect(try String(contentsOfFile: metadata, encoding: .utf8) == before)
        // A dry run that passes changes nothing either.
        var dryRun = Demo.noRestart
        dryRun.dryRun = true
        #expect(try demo.upgrader.upgrade(fromBinary: drifting, options: dryRun).dryRun)
        #expect(try String(contentsOfFile: metadata, encoding: .utf8) == before)
        #expect(try demo.upgrader.rollback(to: stored.to, options: Demo.noRestart).to == stored.to)
    }
}
