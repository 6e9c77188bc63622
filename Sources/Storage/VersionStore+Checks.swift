import FoundationEssentials
import Integrity
import Platform

/// The checks that prove a stored version is the file that was hashed (invariant 6): before it
/// is run again, and once it runs.
extension VersionStore {
    /// Re-hashes a stored binary and checks it against its id.
    /// - Throws: ``StorageError/missingVersion(id:path:)`` or ``StorageError/damagedVersion(id:path:actual:)``.
    package func verify(_ id: SHA256Digest) throws {
        let fd = try openStoredBinary(id)
        defer { try? fd.close() }
        // Hashed where the page cache holds it (mapped), not copied out of it first.
        let actual = try fd.withMappedBytes(length: try fd.status().size) { bytes in
            var hasher = SHA256()
            hasher.update(bufferPointer: bytes)
            return hasher.finalize()
        }
        guard actual == id else { throw StorageError.damagedVersion(id: id.short, path: home.binary(id), actual: actual.hex) }
    }

    /// Opens version `id`'s binary through the store's own directories, each opened without
    /// following a link (`versions/`, `versions/<id>/`, the binary) and without blocking: a
    /// link, a file or a FIFO put in place of any of them is refused, not followed or waited on.
    /// - Throws: ``StorageError/missingVersion(id:path:)`` when one is absent,
    ///   ``StorageError/damagedVersion(id:path:actual:)`` when one is not what the store made.
    func openStoredBinary(_ id: SHA256Digest) throws -> FileDescriptor {
        let path = home.binary(id)
        let directory = home.versionDirectory(id)
        // Each step's failure as the store's error: absent, or not what the store made there.
        func opened(_ at: String, _ what: String, _ open: () throws(SystemError) -> FileDescriptor) throws -> FileDescriptor {
            do {
                return try open()
            } catch {
                switch error.errno {
                case .noSuchFile: throw StorageError.missingVersion(id: id.short, path: path)
                case .tooManyLinks, .notDirectory: throw StorageError.damagedVersion(id: id.short, path: at, actual: what)
                default: throw error
                }
            }
        }
        let versions = try opened(home.versions, "is not the store's directory (a link or a file put there)") { () throws(SystemError) in
            try FileDescriptor.open(home.versions, [.directory, .noFollow])
        }
        defer { try? versions.close() }
        let own = try opened(directory, "is not the version's directory (a link or a file put there)") { () throws(SystemError) in
            try versions.openEntry(id.hex, path: directory, [.directory, .noFollow])
        }
        defer { try? own.close() }
        let fd = try opened(path, "is a symbolic link, not the stored file") { () throws(SystemError) in
            try own.openEntry(home.programName, path: path, [.noFollow, .nonBlocking])
        }
        guard (try? fd.status())?.kind == .regular else {
            try? fd.close()
            throw StorageError.damagedVersion(id: id.short, path: path, actual: "is not a regular file")
        }
        return fd
    }

    /// Opens a stored binary for execution and proves it is the file whose bytes were hashed:
    /// one `fstat` of the descriptor against the identity recorded in its metadata; where that
    /// does not match (or none was recorded), the bytes are hashed through the same descriptor
    /// and the identity recorded again. What is then executed is this descriptor (``ProcessControl/exec(descriptor:path:arguments:environment:)``),
    /// so nothing renamed over the path afterwards can be run in its place. Invariant 6.
    /// - Returns: the descriptor (close-on-exec; the caller closes it) and whether it was re-hashed.
    /// - Throws: ``StorageError/missingVersion(id:path:)`` or ``StorageError/damagedVersion(id:path:actual:)``.
    package func openChecked(_ id: SHA256Digest) throws -> (descriptor: FileDescriptor, rehashed: Bool) {
        let path = home.binary(id)
        let fd = try openStoredBinary(id)
        do {
            let before = try fd.status()
            if let unsafe = Self.unsafety(of: before) { throw StorageError.unsafeVersion(id: id.short, path: path, reason: unsafe) }
            let metadata = metadata(id)
            if let identity = metadata?.identity, identity == FileIdentity(before) { return (fd, false) }
            // No writer meanwhile (a shared writable mapping changes bytes without changing times).
            let after = try fd.withoutWriters {
                var hasher = SHA256()
                try fd.readChunks { hasher.update(bufferPointer: $0) }
                let actual = hasher.finalize()
                guard actual == id else { throw StorageError.damagedVersion(id: id.short, path: path, actual: actual.hex) }
                return try fd.status()
            }
            // Changed while it was read: what was hashed may not be what is there.
            guard FileIdentity(after) == FileIdentity(before) else {
                throw StorageError.damagedVersion(id: id.short, path: path, actual: "changed while it was hashed")
            }
            if var metadata {
                metadata.identity = FileIdentity(after)
                try? setMetadata(metadata)
            }
            return (fd, true)
        } catch {
            try? fd.close()
            throw error
        }
    }

    /// Why a stored file's status lets it be changed other than through the store, or run with
    /// privileges: writable (by anyone: root writes whatever the mode says, but a mode that
    /// invites writes is refused all the same), setuid, setgid or sticky, not runnable by its
    /// owner, or owned by another user than this one. Nil for the file the store makes (0555,
    /// this user's).
    package static func unsafety(of status: FileStatus) -> String? {
        let mode = status.mode & 0o7777
        if mode & 0o222 != 0 { return "can be written (mode \(String(mode, radix: 8))), so its bytes can change under its id" }
        if mode & 0o7000 != 0 { return "is setuid, setgid or sticky (mode \(String(mode, radix: 8))), which no stored version is" }
        if mode & 0o500 != 0o500 { return "cannot be run by its owner (mode \(String(mode, radix: 8)))" }
        if status.owner != Privilege.userID { return "belongs to user \(status.owner), not to this user (\(Privilege.userID))" }
        return nil
    }

    /// Proves the executable this process runs is version `id` as it was hashed, once it runs
    /// (and nothing can write it: `ETXTBSY`): its identity (`/proc/self/exe`) against the one
    /// recorded, or, where they differ (it was written between the last check of its
    /// descriptor and its `exec`), its bytes. Invariant 6, after the exec. Only where the
    /// executable is the stored file itself (`executable`), not a program it started in its place.
    /// - Throws: ``StorageError/damagedVersion(id:path:actual:)``, ``SystemError``.
    package func checkRunning(_ id: SHA256Digest, executable: String) throws {
        let stored = home.binary(id)
        guard executable == stored || executable == (try? FileSystem.realPath(stored)) else { return }
        let running = "/proc/self/exe"
        let status = try FileSystem.status(running)
        // Made writable (or given away) after its last check: refused as that check refuses it.
        if let unsafe = Self.unsafety(of: status) { throw StorageError.unsafeVersion(id: id.short, path: stored, reason: unsafe) }
        if let identity = metadata(id)?.identity, identity == FileIdentity(status) { return }
        let actual = try SHA256.hash(file: running)
        guard actual == id else { throw StorageError.damagedVersion(id: id.short, path: home.binary(id), actual: actual.hex) }
    }
}
