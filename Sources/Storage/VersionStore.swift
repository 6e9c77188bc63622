import FoundationEssentials
import Integrity
import Platform

/// What the store knows of a version besides its bytes (`versions/<id>/meta.json`).
package struct VersionMetadata: Codable, Sendable, Equatable {
    package var id: SHA256Digest
    package var size: Int
    /// The version string the binary reported when verified.
    package var version: String?
    /// Where it came from: "binary:/path", "source:/dir", "adopted:/path".
    package var source: String
    package var addedAt: Double
    /// The binary's identity when its bytes last matched `id` (absent in stores written before it was kept).
    package var identity: FileIdentity?
    /// The binary said, when verified (or adopted by a program that reads them), that it reads a
    /// journal that starts from a checkpoint. Absent: it predates checkpoints, or never said.
    package var readsJournalCheckpoints: Bool?

    package init(id: SHA256Digest, size: Int, version: String?, source: String, addedAt: Double, identity: FileIdentity? = nil) {
        self.id = id
        self.size = size
        self.version = version
        self.source = source
        self.addedAt = addedAt
        self.identity = identity
    }

    private enum CodingKeys: String, CodingKey { case id, size, version, source, addedAt, identity, readsJournalCheckpoints }

    /// Values out of range (a negative size, a time past the year 3000) are corruption.
    package init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        id = try container.decode(SHA256Digest.self, forKey: .id)
        size = try container.decode(Int.self, forKey: .size)
        version = try container.decodeIfPresent(String.self, forKey: .version)
        source = try container.decode(String.self, forKey: .source)
        addedAt = try container.decode(Double.self, forKey: .addedAt)
        identity = try? container.decodeIfPresent(FileIdentity.self, forKey: .identity)
        readsJournalCheckpoints = try? container.decodeIfPresent(Bool.self, forKey: .readsJournalCheckpoints)
        guard size >= 0 else { throw DecodingError.dataCorruptedError(forKey: .size, in: container, debugDescription: "negative size") }
        guard addedAt.isFinite, (0...32_503_680_000).contains(addedAt) else {
            throw DecodingError.dataCorruptedError(forKey: .addedAt, in: container, debugDescription: "time out of range")
        }
    }
}

extension VersionMetadata {
    /// Reads metadata in the form this release writes, with the strict parser (whole numbers
    /// kept exact); nil for anything it does not take, which the decoder then reads or refuses.
    package init?(parsing bytes: [UInt8]) {
        guard let value = try? CanonicalJSON.parse(bytes, maxDepth: 4), let fields = value.objectValue,
              let id = fields["id"]?.stringValue.flatMap(SHA256Digest.init(hex:)),
              let size = fields["size"]?.integerValue, size >= 0, size <= Int64(Int.max),
              let source = fields["source"]?.stringValue,
              let addedAt = fields["addedAt"].flatMap(Self.number), addedAt.isFinite, (0...32_503_680_000).contains(addedAt) else { return nil }
        let version: String?
        switch fields["version"] {
        case nil, .null?: version = nil
        case .string(let text)?: version = text
        default: return nil
        }
        self.init(id: id, size: Int(size), version: version, source: source, addedAt: addedAt)
        // As the decoder does: an identity or flag it cannot read is left out, not an error.
        if let identity = fields["identity"]?.objectValue,
           let device = identity["device"]?.integerValue, device >= 0, let inode = identity["inode"]?.integerValue, inode >= 0,
           let size = identity["size"]?.integerValue, size >= 0, size <= Int64(Int.max),
           let change = identity["changeNanoseconds"]?.integerValue, let modification = identity["modificationNanoseconds"]?.integerValue {
            self.identity = FileIdentity(device: UInt64(device), inode: UInt64(inode), size: Int(size),
                                         changeNanoseconds: change, modificationNanoseconds: modification)
        } else if let identity = fields["identity"], identity != .null {
            return nil
        }
        switch fields["readsJournalCheckpoints"] {
        case nil, .null?: break
        case .bool(let flag)?: readsJournalCheckpoints = flag
        default: return nil
        }
    }

    private static func number(_ value: CanonicalJSONValue) -> Double? {
        switch value {
        case .integer(let number): Double(number)
        case .number(let text): Double(text)
        default: nil
        }
    }
}

/// The content-addressed store of binaries under `<home>/versions`.
///
/// A version enters through ``stage(_:source:transaction:)``: copied into the 0700 staging
/// directory while being hashed, fsync'd, made read-only, then renamed into `versions/<sha256>`.
/// What is later executed is that file, whose hash is its name.
package struct VersionStore: Sendable {
    package let home: Home

    package init(home: Home) { self.home = home }

    /// The result of staging a candidate.
    package struct Staged: Sendable, Equatable {
        package var id: SHA256Digest
        package var size: Int
        /// The version was already in the store (nothing new was written).
        package var wasPresent: Bool
        /// The bytes were hashed once, as they were written, and never read back: nothing else
        /// opened the file meanwhile (an unbroken ``WriteLease``). False where they were read
        /// back and hashed again (or the version was already present).
        package var hashedAsWritten: Bool = false
    }

    /// Copies `candidate` into the store.
    /// - Throws: ``SystemError`` (ENOSPC and friends); a partial copy is removed.
    package func stage(_ candidate: String, source: String, transaction: String, maxBytes: Int = Int.max, stop: () -> Bool = { false }) throws -> Staged {
        try stage(source: source, transaction: transaction) { stagedBinary in
            try Self.writeLeased(stagedBinary) { output, hasher in
                try FileSystem.copyFile(candidate, into: output, maxBytes: maxBytes, stop: stop) { hasher.update(bufferPointer: $0) }
            }
        }
    }

    /// Stages bytes that `produce` passes to its `write` argument in pieces (a download, a
    /// decompression), written straight into the staging directory and hashed on the way: no
    /// other copy is made and nothing is read twice.
    /// - Throws: what `produce` throws, or ``SystemError``; the staging directory is removed.
    package func stage(streaming produce: (_ write: (UnsafeRawBufferPointer) throws -> Void) throws -> Void,
                       source: String, transaction: String) throws -> Staged {
        try stage(source: source, transaction: transaction) { stagedBinary in
            try Self.writeLeased(stagedBinary) { output, hasher in
                var size = 0
                try produce { chunk in
                    hasher.update(bufferPointer: chunk)
                    try output.writeAll(chunk)
                    size += chunk.count
                }
                try output.sync()
                return size
            }
        }
    }

    /// Moves `candidate` into the store instead of copying it: for a file this process has just
    /// verified against `expected` (a download checked against signed hashes as it was
    /// written). With `lease`, the write lease taken on the file before its first byte was
    /// written (``WriteLease``), still unbroken once the file is in the store, nothing else can
    /// have changed it since it was hashed: `expected` is its id and it is not read again.
    /// Otherwise the store's copy of the bytes is saved, never the hash: the id is what the
    /// moved file's bytes hash to, read through one descriptor whose identity must not change
    /// while it is read, so a file swapped or written after its verification is stored under
    /// its own hash (which the caller then refuses), never under `expected`.
    ///
    /// Only a file that nobody else can change is moved: a regular file of this user's, with one
    /// link, writable by nobody else, in a directory of this user's that nobody else can write,
    /// on the store's file system. Anything else, a rename the kernel refuses across mounts, or a
    /// version already stored, returns nil, having changed nothing, and the caller copies it
    /// (``stage(_:source:transaction:maxBytes:stop:)``).
    /// - Throws: ``SystemError`` once the file was moved; the staging directory is removed
    ///   (with the file).
    package func stage(adopting candidate: String, expected: SHA256Digest, lease: WriteLease? = nil,
                       source: String, transaction: String) throws -> Staged? {
        let me = Privilege.userID
        let directory = FileSystem.parent(of: candidate)
        guard let file = try FileSystem.statusIfPresent(candidate, followLinks: false), file.kind == .regular,
              file.owner == me, file.linkCount == 1, file.mode & 0o022 == 0,
              let parent = try FileSystem.statusIfPresent(directory, followLinks: false), parent.kind == .directory,
              parent.owner == me, parent.mode & 0o022 == 0,
              let store = try FileSystem.statusIfPresent(home.staging, followLinks: true), store.device == file.device,
              !contains(expected) else { return nil }
        // The lease vouches only for the file it was taken on.
        let leased = try lease.flatMap { lease in
            let held = try lease.descriptor.status()
            return held.device == file.device && held.inode == file.inode ? lease : nil
        }
        var moved = false
        do {
            return try stage(source: source, transaction: transaction) { stagedBinary in
                try FileSystem.rename(candidate, to: stagedBinary)
                moved = true
                if let leased {
                    try leased.descriptor.setMode(0o555)
                    if let written = try Self.trusted(leased.descriptor, lease: leased, hashed: expected, size: file.size) {
                        // The identity recorded is the leased file's: it must be the one the store names.
                        let named = try FileSystem.status(stagedBinary, followLinks: false)
                        guard named.device == written.status.device, named.inode == written.status.inode else {
                            throw SystemError("stage", path: stagedBinary, errno: .invalidArgument, detail: "another file was put in its place")
                        }
                        return written
                    }
                    // Broken: read back below, once this descriptor (a writer) is closed.
                    leased.end()
                }
                try FileSystem.setMode(stagedBinary, 0o555)
                return try Self.readBack(stagedBinary)
            }
        } catch let error as SystemError where !moved && error.errno == .crossDevice {
            // Another mount of the same file system (a bind mount): copied instead.
            return nil
        }
    }

    /// What a route put at the staging path, and the status of the descriptor it was proven
    /// through: the identity the store records.
    fileprivate struct Written: Sendable {
        var id: SHA256Digest
        var status: FileStatus
        /// The lease the bytes were proven under without being read back (nil where they were
        /// read back), ended by ``stage(source:transaction:_:)`` once the version is in the store.
        var lease: WriteLease?
        var hashedAsWritten: Bool { lease != nil }
    }

    /// Creates `path` (mode 0555, opened for reading and writing), takes a write lease on it
    /// before the first byte, and lets `write` fill it (hashing what it writes, fsync'd; it
    /// returns the size). Under a lease still unbroken, that hash is the file's
    /// (``trusted(_:lease:hashed:size:)``), and the descriptor stays open (``Written/lease``,
    /// whose end the caller owns). Otherwise the descriptor is closed and the file read back
    /// (``readBack(_:writtenAs:)``).
    private static func writeLeased(_ path: String, _ write: (FileDescriptor, inout SHA256) throws -> Int) throws -> Written {
        let output = try FileDescriptor.open(path, [.readWrite, .create, .exclusive, .noFollow], mode: 0o555)
        let lease = WriteLease(output)
        // close() gives the descriptor up even when it reports an error: never a second one,
        // which could close a descriptor another thread has just been given.
        var closed = false
        func close() {
            guard !closed else { return }
            closed = true
            if let lease { lease.end() } else { try? output.close() }
        }
        do {
            var hasher = SHA256()
            let size = try write(output, &hasher)
            if let lease, let written = try trusted(output, lease: lease, hashed: hasher.finalize(), size: size) {
                return written
            }
            let wrote = try output.status()
            close()
            return try readBack(path, writtenAs: wrote)
        } catch {
            close()
            throw error
        }
    }

    /// What the file open at `descriptor` is proven to hold without reading it: while `lease`
    /// is unbroken after the file's status is taken, nothing else has opened the file since
    /// before its first byte was written, so its bytes are the ones `hashed` and `size`
    /// describe. Nil otherwise.
    private static func trusted(_ descriptor: FileDescriptor, lease: WriteLease, hashed: SHA256Digest, size: Int) throws -> Written? {
        let status = try descriptor.status()
        guard status.size == size, lease.isUnbroken else { return nil }
        return Written(id: hashed, status: status, lease: lease)
    }

    /// Reads the file open at `descriptor` (read-only) back and hashes it, while nothing can
    /// have it open for writing (``FileDescriptor/withoutWriters(_:)``: a shared writable
    /// mapping changes bytes without changing the file's times); its identity must not change
    /// while it is read. The id is what its bytes hash to.
    private static func readBack(_ descriptor: FileDescriptor) throws -> Written {
        try descriptor.withoutWriters {
            let status = try descriptor.status()
            guard descriptor.seek(to: 0) else {
                throw SystemError("read", path: descriptor.path, errno: .current)
            }
            var hasher = SHA256()
            try descriptor.readChunks { hasher.update(bufferPointer: $0) }
            let after = try descriptor.status()
            guard FileIdentity(after) == FileIdentity(status) else {
                throw SystemError("hash", path: descriptor.path, errno: .invalidArgument, detail: "it changed while it was hashed")
            }
            return Written(id: hasher.finalize(), status: after, lease: nil)
        }
    }

    /// Opens `path` read-only and reads it back (``readBack(_:)``); the descriptor is given up
    /// once the change time it shows is past (``WriteLease/waitPastChange(of:)``).
    /// - Parameter writtenAs: the file as it was written: another file under the name is refused.
    private static func readBack(_ path: String, writtenAs: FileStatus? = nil) throws -> Written {
        let reader = try FileDescriptor.open(path, [.readOnly, .noFollow])
        defer { try? reader.close() }
        if let writtenAs {
            let opened = try reader.status()
            guard opened.device == writtenAs.device, opened.inode == writtenAs.inode else {
                throw SystemError("stage", path: path, errno: .invalidArgument, detail: "another file was put in its place")
            }
        }
        let written = try readBack(reader)
        WriteLease.waitPastChange(of: written.status)
        return written
    }

    /// A candidate copied into the staging directory and not hashed yet
    /// (``copyUnhashed(_:transaction:maxBytes:stop:)``): it can be run from `path` while
    /// ``hash(_:source:)`` hashes it (and fsyncs it), and ``store(_:)`` then moves it into the store.
    package struct Unhashed: Sendable {
        /// The staged file (mode 0555, no descriptor left open for writing; its writeback started).
        package let path: String
        let directory: String
        /// The file as it was written: another file put under its name is refused.
        let written: FileStatus
    }

    /// Copies `candidate` into the staging directory without hashing it, for a caller that has
    /// something to do with the copy while it is hashed (``hash(_:source:)``).
    /// - Throws: ``SystemError`` (ENOSPC and friends, `EINTR` when stopped); the staging
    ///   directory is removed.
    package func copyUnhashed(_ candidate: String, transaction: String, maxBytes: Int = Int.max, stop: () -> Bool = { false }) throws -> Unhashed {
        let (stagingDirectory, stagedBinary) = try makeStagingDirectory(transaction)
        do {
            // Opened for reading too, so the status taken is the descriptor's own.
            let output = try FileDescriptor.open(stagedBinary, [.readWrite, .create, .exclusive, .noFollow], mode: 0o555)
            let written: FileStatus
            do {
                // Its fsync waits for ``hash(_:source:)``, which runs beside its self-check.
                try FileSystem.copyFileInKernel(candidate, into: output, maxBytes: maxBytes, sync: false, stop: stop)
                written = try output.status()
            } catch {
                try? output.close()
                throw error
            }
            // A file open for writing cannot be run: the descriptor is closed before anything runs it.
            try output.close()
            return Unhashed(path: stagedBinary, directory: stagingDirectory, written: written)
        } catch {
            try? FileSystem.removeTree(stagingDirectory)
            throw error
        }
    }

    /// What ``copyUnhashed(_:transaction:maxBytes:stop:)`` staged, hashed
    /// (``hash(_:source:)``) and not yet in the store (``store(_:)``).
    package struct Hashed: Sendable {
        private let written: Written
        private let directory: String
        /// What the store records of it: its id and the identity of the file that was hashed.
        package let metadata: VersionMetadata
        package var id: SHA256Digest { written.id }
        /// Where the file is until it is stored (``store(_:)`` moves its directory).
        package let stagedPath: String

        fileprivate init(_ written: Written, in directory: String, metadata: VersionMetadata, stagedPath: String) {
            self.written = written
            self.directory = directory
            self.metadata = metadata
            self.stagedPath = stagedPath
        }

        /// Refuses a file that is no longer the one hashed under its name (another put there, or
        /// this one changed since, even changed back: its whole identity is compared), or that
        /// has another name (a hard link made meanwhile, through which it could be changed once
        /// stored).
        fileprivate func store(into versions: VersionStore) throws -> Staged {
            let path = directory + "/" + versions.home.programName
            do {
                let now = try FileSystem.status(path, followLinks: false)
                guard now.device == written.status.device, now.inode == written.status.inode else {
                    throw SystemError("stage", path: path, errno: .invalidArgument, detail: "another file was put in its place")
                }
                guard now.linkCount == 1 else {
                    throw SystemError("stage", path: path, errno: .invalidArgument, detail: "it has \(now.linkCount) names: another was linked to it")
                }
                // Written to in place (and maybe put back) since: what was hashed may not be what
                // ran meanwhile, or what is there now.
                guard FileIdentity(now) == FileIdentity(written.status) else {
                    throw SystemError("stage", path: path, errno: .invalidArgument, detail: "it was changed after it was hashed")
                }
                if let unsafe = VersionStore.unsafety(of: now) {
                    throw SystemError("stage", path: path, errno: .invalidArgument, detail: "it " + unsafe)
                }
            } catch {
                try? FileSystem.removeTree(directory)
                throw error
            }
            return try versions.store(written, from: directory, source: nil)
        }
    }

    /// Hashes what ``copyUnhashed(_:transaction:maxBytes:stop:)`` staged, read back through one
    /// read-only descriptor while nothing has the file open for writing and its identity does
    /// not change (``readBack(_:writtenAs:)``): the id is what those bytes hash to, so a file
    /// changed meanwhile is stored under its own hash, never under another's. The file may be
    /// running meanwhile (an `exec` opens it only for reading). It is fsync'd, and its metadata
    /// written beside it, at once, so that storing it is a rename.
    /// - Throws: ``SystemError``; the staging directory is removed.
    package func hash(_ unhashed: Unhashed, source: String) throws -> Hashed {
        do {
            let written = try Self.readBack(unhashed.path, writtenAs: unhashed.written)
            // On disk before it is stored (``copyUnhashed(_:transaction:maxBytes:stop:)`` left the fsync).
            let file = try FileDescriptor.open(unhashed.path, [.readOnly, .noFollow])
            try file.closeAfter { try file.sync() }
            let metadata = try prepare(written, in: unhashed.directory, source: source)
            return Hashed(written, in: unhashed.directory, metadata: metadata, stagedPath: unhashed.path)
        } catch {
            try? FileSystem.removeTree(unhashed.directory)
            throw error
        }
    }

    /// Moves what ``hash(_:source:)`` hashed into the store under its hash, with its metadata
    /// and the identity of the file that was hashed.
    /// - Throws: ``SystemError``; the staging directory is removed.
    package func store(_ hashed: Hashed) throws -> Staged {
        try hashed.store(into: self)
    }

    /// Where `transaction` stages its binary.
    package func stagedPath(transaction: String) -> String { home.staging + "/" + transaction + "/" + home.programName }

    /// A fresh staging directory for `transaction` (0700), and the path of the binary in it.
    private func makeStagingDirectory(_ transaction: String) throws -> (directory: String, binary: String) {
        let stagingDirectory = home.staging + "/" + transaction
        try FileSystem.removeTree(stagingDirectory)
        try FileSystem.createDirectory(stagingDirectory, mode: 0o700)
        return (stagingDirectory, stagedPath(transaction: transaction))
    }

    /// Stages what `write` puts at the path it is given: then the version moves into the store
    /// under its hash, with its metadata and the identity of the file that was hashed.
    private func stage(source: String, transaction: String, _ write: (String) throws -> Written) throws -> Staged {
        let (stagingDirectory, stagedBinary) = try makeStagingDirectory(transaction)
        let written: Written
        do {
            written = try write(stagedBinary)
        } catch {
            try? FileSystem.removeTree(stagingDirectory)
            throw error
        }
        return try store(written, from: stagingDirectory, source: source)
    }

    /// Writes the metadata of what `written` describes into its staging directory, with the
    /// identity of the file that was hashed, and opens the directory to readers (0755).
    /// - Returns: the metadata written.
    @discardableResult
    private func prepare(_ written: Written, in stagingDirectory: String, source: String) throws -> VersionMetadata {
        // The identity is the hashed descriptor's, not what the name shows now. Renaming the
        // staging directory into the store changes nothing of the file's inode.
        let metadata = VersionMetadata(id: written.id, size: written.status.size, version: nil, source: source, addedAt: WallClock.now(),
                                       identity: FileIdentity(written.status))
        try FileSystem.writeAtomically(stagingDirectory + "/meta.json", try Self.encode(metadata))
        try FileSystem.setMode(stagingDirectory, 0o755)
        return metadata
    }

    /// Moves the staging directory holding what `written` describes into the store under its
    /// hash, with its metadata and the identity of the file that was hashed.
    /// - Parameter source: where the version came from, for its metadata; nil where
    ///   ``prepare(_:in:source:)`` wrote it already.
    fileprivate func store(_ written: Written, from stagingDirectory: String, source: String?) throws -> Staged {
        // The lease ends once the version is in the store (its descriptor closed: a file open
        // for writing cannot be executed), after the change time recorded is past; the metadata's
        // writes and fsyncs overlap that wait.
        defer { written.lease?.end(after: written.status) }
        let id = written.id
        let size = written.status.size
        let destination = home.versionDirectory(id)
        if FileSystem.exists(home.binary(id)), let present = try? openChecked(id) {
            try? present.descriptor.close()
            try FileSystem.removeTree(stagingDirectory)
            return Staged(id: id, size: size, wasPresent: true)
        }
        do {
            // A damaged version under this id, or what an interrupted removal left of one (its
            // metadata without its binary): these bytes take its place.
            if (try? FileSystem.statusIfPresent(destination, followLinks: false)) != nil {
                try FileSystem.removeTree(destination)
            }
            if let source { try prepare(written, in: stagingDirectory, source: source) }
            try FileSystem.rename(stagingDirectory, to: destination)
            // One fsync makes the rename durable as a whole (the staging side included): a name
            // left in staging would be removed by the next start with the rest of staging.
            try FileSystem.syncDirectory(home.versions)
        } catch {
            try? FileSystem.removeTree(stagingDirectory)
            throw error
        }
        return Staged(id: id, size: size, wasPresent: false, hashedAsWritten: written.hashedAsWritten)
    }

    /// Ids of the versions present in the store.
    package func list() throws -> [SHA256Digest] {
        guard FileSystem.isDirectory(home.versions) else { return [] }
        // Only what this store makes: a directory named by the digest in lower-case hex. Another
        // spelling names another directory, which every path built from the digest would miss;
        // a link, a file or a FIFO under a digest's name is no version (nothing is pruned or
        // repaired through it; the doctor names a version the journal needs that is missing).
        return try FileSystem.contentsOfDirectory(home.versions).compactMap { name in
            guard let id = SHA256Digest(hex: name), id.hex == name,
                  (try? FileSystem.statusIfPresent(home.versions + "/" + name, followLinks: false))??.kind == .directory else { return nil }
            return id
        }
    }

    /// True when the version's binary is in the store.
    package func contains(_ id: SHA256Digest) -> Bool { FileSystem.exists(home.binary(id)) }

    /// The metadata of a version, if its file is readable.
    package func metadata(_ id: SHA256Digest) -> VersionMetadata? {
        guard let bytes = try? FileSystem.readOwnFile(home.versionDirectory(id) + "/meta.json") else { return nil }
        // The strict parser reads what this release writes; anything else (an older or newer
        // writer's form) is read by the decoder, as before.
        return VersionMetadata(parsing: bytes) ?? (try? JSONDecoder().decode(VersionMetadata.self, from: Data(bytes)))
    }

    /// Replaces a version's metadata atomically.
    package func setMetadata(_ metadata: VersionMetadata) throws {
        try FileSystem.writeAtomically(home.versionDirectory(metadata.id) + "/meta.json", try Self.encode(metadata))
    }

    /// Removes a version from the store.
    package func remove(_ id: SHA256Digest) throws {
        let (versions, staging) = try openDirectories()
        defer { try? versions.close(); try? staging.close() }
        try FileSystem.removeTree(try moveOut(id, from: versions, into: staging), in: staging)
    }

    /// `versions/` and `staging/`, opened without following a link: what is moved and removed
    /// through them stays inside the home whatever is linked over their paths meanwhile.
    package func openDirectories() throws(SystemError) -> (versions: FileDescriptor, staging: FileDescriptor) {
        let versions = try FileDescriptor.open(home.versions, [.directory, .noFollow])
        do {
            return (versions, try FileDescriptor.open(home.staging, [.directory, .noFollow]))
        } catch {
            try? versions.close()
            throw error
        }
    }

    /// Moves version `id` out of the store in one rename, to `staging/prune-<id>` (what was
    /// there first removed), and fsyncs `versions/`: a removal killed half-way leaves its files
    /// in staging, which the next start empties, never a version directory without its binary.
    /// - Returns: the name it has in staging.
    package func moveOut(_ id: SHA256Digest, from versions: FileDescriptor, into staging: FileDescriptor) throws(SystemError) -> String {
        let doomed = Self.removedPrefix + id.hex
        try FileSystem.removeTree(doomed, in: staging)
        try versions.renameEntry(EntryName(id.hex), path: home.versionDirectory(id), into: staging, as: doomed)
        try versions.sync()
        return doomed
    }

    /// The name a version's directory takes in staging while it is removed (a pruned version's too).
    package static let removedPrefix = "prune-"

    private static func encode(_ metadata: VersionMetadata) throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        return Array(try encoder.encode(metadata)) + [UInt8(ascii: "\n")]
    }
}
