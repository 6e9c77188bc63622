import Foundation
import Integrity
import Platform
import Storage
import Testing

/// The store trusts a hash taken as the bytes were written only while a write lease proves
/// that nothing else opened the file: otherwise it reads the file back.
@Suite("Staging under a write lease")
struct WriteLeaseTests {
    /// A script that exits at once, then bytes it never reads.
    let content = Array("#!/bin/sh\nexit 0\n".utf8) + (0..<600_000).map { UInt8(truncatingIfNeeded: $0 &* 13 &+ 5) }

    func makeStore() throws -> (directory: String, home: Home, store: VersionStore) {
        let directory = try scratchDirectory()
        let home = Home(root: directory + "/home")
        try home.createLayout()
        return (directory, home, VersionStore(home: home))
    }

    /// A directory of this user's that nobody else can write, as a download's is.
    func makeDownloads(in directory: String) throws -> String {
        let downloads = directory + "/downloads"
        try FileSystem.createDirectory(downloads, mode: 0o700)
        return downloads
    }

    /// Another descriptor's open of `path`, without waiting: refused while a write lease is held,
    /// and breaks the lease.
    func openElsewhere(_ path: String) -> Errno? {
        do {
            let other = try FileDescriptor.open(path, [.readOnly, .nonBlocking])
            try? other.close()
            return nil
        } catch {
            return error.errno
        }
    }

    @Test("an ended lease is given up even while another descriptor shares its open file (a child forked meanwhile): the file opens at once")
    func endedWhileShared() throws {
        let directory = try scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = try makeDownloads(in: directory) + "/file"
        let fd = try FileDescriptor.open(path, [.readWrite, .create, .exclusive, .noFollow], mode: 0o600)
        let lease = try #require(WriteLease(fd))
        // What a fork gives a child until its exec: the same open file description.
        let shared = dup(fd.rawValue)
        #expect(shared >= 0)
        defer { _ = close(shared) }
        lease.end()
        #expect(openElsewhere(path) == nil)
    }

    @Test("streamed bytes are hashed once as written; once anything else opened the file, they are read back and the id is what the file holds")
    func streaming() throws {
        let (directory, home, store) = try makeStore()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let whole = content

        let once = try store.stage(streaming: { write in
            try whole.withUnsafeBytes { try write(UnsafeRawBufferPointer(rebasing: $0[..<300_000])) }
            try whole.withUnsafeBytes { try write(UnsafeRawBufferPointer(rebasing: $0[300_000...])) }
        }, source: "test", transaction: "t1")
        #expect(once.id == SHA256.hash(data: content))
        #expect(once.hashedAsWritten)
        // The identity recorded is the file's, so the hot path trusts it without a hash.
        let checked = try store.openChecked(once.id)
        try checked.descriptor.close()
        #expect(!checked.rehashed)
        try store.remove(once.id)

        // Between two pieces, another open (refused, as the lease is held) breaks the lease; then
        // bytes change in the file behind the stream's back (the descriptor is the test's own).
        let staged = home.staging + "/t2/" + home.programName
        var refused: Errno?
        let read = try store.stage(streaming: { write in
            try whole.withUnsafeBytes { try write(UnsafeRawBufferPointer(rebasing: $0[..<300_000])) }
            refused = openElsewhere(staged)
            try whole.withUnsafeBytes { try write(UnsafeRawBufferPointer(rebasing: $0[300_000...])) }
        }, source: "test", transaction: "t2")
        #expect(refused == .wouldBlock, "the staged file could be opened while it was written")
        #expect(read.id == SHA256.hash(data: content))
        #expect(!read.hashedAsWritten)
    }

    @Test("a download moved in under an unbroken lease keeps its verified hash unread; a broken lease has the file read back, and a changed file stored under its own hash")
    func adopting() throws {
        let (directory, home, store) = try makeStore()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let downloads = try makeDownloads(in: directory)
        let expected = SHA256.hash(data: content)

        func download(_ name: String) throws -> (path: String, lease: WriteLease) {
            let path = downloads + "/" + name
            let descriptor = try FileDescriptor.open(path, [.readWrite, .create, .exclusive], mode: 0o600)
            let lease = try #require(WriteLease(descriptor))
            try descriptor.writeAll(content)
            try descriptor.sync()
            try descriptor.setMode(0o755)
            return (path, lease)
        }

        let good = try download("good")
        let adopted = try #require(try store.stage(adopting: good.path, expected: expected, lease: good.lease, source: "test", transaction: "t1"))
        #expect(adopted.id == expected && adopted.hashedAsWritten)
        #expect(!FileSystem.exists(good.path))
        // The lease ended with the staging: nothing holds the stored file open for writing, so it runs.
        let run = Process()
        run.executableURL = URL(fileURLWithPath: home.binary(expected))
        try run.run()
        run.waitUntilExit()
        #expect(run.terminationStatus == 0)
        good.lease.end()
        let checked = try store.openChecked(expected)
        try checked.descriptor.close()
        #expect(!checked.rehashed)
        try store.remove(expected)

        // Opened elsewhere after it was verified: the store reads it back and finds the bytes
        // that were changed meanwhile (written here through the download's own descriptor).
        let opened = try download("opened")
        #expect(openElsewhere(opened.path) == .wouldBlock)
        #expect(!opened.lease.isUnbroken)
        try Array("changed".utf8).withUnsafeBytes { bytes in
            #expect(pwrite(opened.lease.descriptor.rawValue, bytes.baseAddress, bytes.count, 4096) == bytes.count)
        }
        let changed = try #require(try store.stage(adopting: opened.path, expected: expected, lease: opened.lease, source: "test", transaction: "t2"))
        opened.lease.end()
        #expect(changed.id != expected && !changed.hashedAsWritten)
        var altered = content
        altered.replaceSubrange(4096..<4103, with: Array("changed".utf8))
        #expect(changed.id == SHA256.hash(data: altered))

        // A lease on another file vouches for nothing.
        let other = try download("other")
        let plain = downloads + "/plain"
        try FileSystem.writeAtomically(plain, content, mode: 0o755)
        let unleased = try #require(try store.stage(adopting: plain, expected: expected, lease: other.lease, source: "test", transaction: "t3"))
        other.lease.end()
        #expect(unleased.id == expected && !unleased.hashedAsWritten)
    }

    @Test("a descriptor open for writing that closes within the grace (a forked child's copy until its exec) is waited for; one that stays is refused")
    func writerThatGoes() throws {
        let (directory, _, _) = try makeStore()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/file"
        try FileSystem.writeAtomically(path, content, mode: 0o644)
        let reader = try FileDescriptor.open(path, [.readOnly])
        defer { try? reader.close() }

        let writer = open(path, O_WRONLY)
        try #require(writer >= 0)
        let closer = Thread {
            usleep(20_000)
            close(writer)
        }
        closer.start()
        #expect(try reader.withoutWriters(grace: 30) { true })

        let staying = open(path, O_WRONLY)
        try #require(staying >= 0)
        defer { close(staying) }
        #expect {
            _ = try reader.withoutWriters(grace: 0) { true }
        } throws: { error in
            "\(error)".contains("another process has it open for writing")
        }
    }

    @Test("a file read back while another process could write it without changing its times (a shared writable mapping, a descriptor open for writing) is refused, not stored or trusted")
    func writersRefused() throws {
        let (directory, home, store) = try makeStore()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let downloads = try makeDownloads(in: directory)
        let expected = SHA256.hash(data: content)

        // A shared writable mapping outlives its descriptor: writes through it after its first
        // need not change the file's times, so the bytes read back may not stay what they were.
        let mapped = downloads + "/mapped"
        try FileSystem.writeAtomically(mapped, content, mode: 0o755)
        let descriptor = open(mapped, O_RDWR)
        try #require(descriptor >= 0)
        let mapping = mmap(nil, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, descriptor, 0)
        close(descriptor)
        try #require(mapping != MAP_FAILED)
        defer { munmap(mapping, 4096) }
        #expect {
            _ = try store.stage(adopting: mapped, expected: expected, source: "test", transaction: "t1")
        } throws: { error in
            "\(error)".contains("another process has it open for writing")
        }
        #expect(try store.list().isEmpty)

        // A stored version whose identity moved is re-hashed before it is trusted: not while a
        // writer has it open.
        let plain = downloads + "/plain"
        try FileSystem.writeAtomically(plain, content, mode: 0o755)
        let staged = try #require(try store.stage(adopting: plain, expected: expected, source: "test", transaction: "t2"))
        #expect(staged.id == expected)
        // Opened for writing while its mode allows it (a user without privileges too), then
        // read-only again as the store keeps it: the change time moves.
        try FileSystem.setMode(home.binary(expected), 0o755)
        let writer = open(home.binary(expected), O_WRONLY)
        try #require(writer >= 0)
        try FileSystem.setMode(home.binary(expected), 0o555)
        #expect {
            _ = try store.openChecked(expected)
        } throws: { error in
            "\(error)".contains("another process has it open for writing")
        }
        close(writer)
        let checked = try store.openChecked(expected)
        try checked.descriptor.close()
        #expect(checked.rehashed)
    }

    @Test("a stored binary replaced by a FIFO is refused at once, not waited on; a version directory spelled in capitals is not a version",
          .timeLimit(.minutes(1)))
    func fifoAndCapitals() throws {
        let (directory, home, store) = try makeStore()
        defer { try? FileSystem.removeTree(directory) }
        let downloads = try makeDownloads(in: directory)
        let plain = downloads + "/plain"
        try FileSystem.writeAtomically(plain, content, mode: 0o755)
        let id = SHA256.hash(data: content)
        _ = try #require(try store.stage(adopting: plain, expected: id, source: "test", transaction: "t1"))
        try FileSystem.removeFile(home.binary(id))
        #expect(mkfifo(home.binary(id), 0o755) == 0)
        #expect {
            _ = try store.openChecked(id)
        } throws: { error in
            "\(error)".contains("autodev\" is not a regular file; refusing to run it")
        }
        // The re-hash a rehearsed rollback makes refuses the FIFO as well, at once.
        #expect {
            try store.verify(id)
        } throws: { error in
            "\(error)".contains("autodev\" is not a regular file; refusing to run it")
        }
        try FileSystem.createDirectory(home.versions + "/" + id.hex.uppercased(), mode: 0o755)
        #expect(try store.list() == [id])
    }

    @Test("a version's directory replaced by a link to a copy outside the store is refused before anything of it is opened or run")
    func linkedVersionDirectory() throws {
        let (directory, home, store) = try makeStore()
        defer { try? FileSystem.removeTree(directory) }
        let downloads = try makeDownloads(in: directory)
        try FileSystem.writeAtomically(downloads + "/plain", content, mode: 0o755)
        let id = SHA256.hash(data: content)
        _ = try #require(try store.stage(adopting: downloads + "/plain", expected: id, source: "test", transaction: "t1"))
        try FileSystem.rename(home.versionDirectory(id), to: directory + "/outside")
        try FileManager.default.createSymbolicLink(atPath: home.versionDirectory(id), withDestinationPath: directory + "/outside")
        for attempt in ["openChecked", "verify"] {
            #expect(throws: StorageError.damagedVersion(id: id.short, path: home.versionDirectory(id),
                                                        actual: "is not the version's directory (a link or a file put there)"), "\(attempt)") {
                if attempt == "verify" { try store.verify(id) } else { _ = try store.openChecked(id) }
            }
        }
        #expect(try store.list().isEmpty)
    }
}
