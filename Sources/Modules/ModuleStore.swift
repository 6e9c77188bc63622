import Integrity
import Platform

/// Module versions kept by content: `<modules>/store/<sha256>/<program>`, immutable once there.
public struct ModuleStore: Sendable {
    /// `<home>/modules`.
    public let directory: String

    public init(directory: String) { self.directory = directory }

    public var store: String { directory + "/store" }

    /// Copies the worker program at `path` into the store, hashing what it copies (the copy is
    /// fsync'd, renamed into place and its directory fsync'd). A version already stored is kept
    /// if its content still hashes to its digest, else replaced.
    /// - Returns: the stored program's path, its SHA-256, and whether this call put it there
    ///   (false when a matching copy was stored already).
    /// - Throws: ``ModuleError`` `.io` naming the path and the action; nothing is left behind.
    public func stage(_ path: String) throws(ModuleError) -> (path: String, digest: String, created: Bool) {
        let name = FileSystem.baseName(of: path)
        let temporary = store + "/.staging-\(ProcessControl.id)-\(name)"
        var hasher = SHA256()
        do {
            try FileSystem.createDirectory(store, mode: 0o755, intermediates: true)
            try? FileSystem.removeFile(temporary)
            try FileSystem.copyFile(path, to: temporary, mode: 0o755, observe: { hasher.update(bufferPointer: $0) })
        } catch {
            throw ModuleError(.io, "Failed to copy \"\(path)\" into the module store \"\(store)\": \(error)")
        }
        let digest = hasher.finalize().hex
        let versionDirectory = store + "/" + digest
        let destination = versionDirectory + "/" + name
        do {
            // A stored file is reused only if it still holds what its name says; one that does
            // not is replaced by the copy just hashed.
            if FileSystem.exists(destination), (try? verify(destination)) != nil {
                try FileSystem.removeFile(temporary)
                return (destination, digest, false)
            }
            if !FileSystem.isDirectory(versionDirectory) { try FileSystem.createDirectory(versionDirectory, mode: 0o755) }
            try FileSystem.rename(temporary, to: destination)
            try FileSystem.syncDirectory(versionDirectory)
            try FileSystem.syncDirectory(store)
        } catch {
            try? FileSystem.removeFile(temporary)
            throw ModuleError(.io, "Failed to store \"\(path)\" as \"\(destination)\": \(error)")
        }
        return (destination, digest, true)
    }

    /// Removes a stored file that `stage` created for a command that then failed, and its
    /// digest's directory when that is left empty. Best effort: what cannot be removed stays.
    public func unstage(_ path: String) {
        guard path.hasPrefix(store + "/") else { return }
        try? FileSystem.removeFile(path)
        let directory = FileSystem.parent(of: path)
        if (try? FileSystem.contentsOfDirectory(directory))?.isEmpty == true { try? FileSystem.removeTree(directory) }
    }

    /// Checks that `path` is a file of this store (`<store>/<sha256>/<program>`, no symbolic
    /// link on the way) whose content still hashes to the digest its directory is named by.
    /// - Returns: the digest.
    /// - Throws: ``ModuleError`` `.untrusted` naming the path when it is outside the store or
    ///   its content changed; `.io` when it cannot be read.
    public func verify(_ path: String) throws(ModuleError) -> String {
        let digest = FileSystem.baseName(of: FileSystem.parent(of: path))
        let isDigest = digest.count == 64 && digest.utf8.allSatisfy { (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) || (UInt8(ascii: "a")...UInt8(ascii: "f")).contains($0) }
        let resolved = (try? FileSystem.realPath(path)) ?? ""
        let storeResolved = (try? FileSystem.realPath(store)) ?? store
        guard isDigest, resolved == storeResolved + "/" + digest + "/" + FileSystem.baseName(of: path) else {
            throw ModuleError(.untrusted, "Refused to run \"\(path)\": it is not a file of the module store \"\(store)\"")
        }
        var hasher = SHA256()
        do {
            let fd = try FileDescriptor.open(resolved, [.readOnly, .noFollow])
            try fd.closeAfter {
                guard try fd.status().kind == .regular else {
                    throw ModuleError(.untrusted, "Refused to run \"\(path)\": it is not a regular file")
                }
                try fd.readChunks { hasher.update(bufferPointer: $0) }
            }
        } catch let error as ModuleError {
            throw error
        } catch {
            throw ModuleError(.io, "Failed to read \"\(path)\" to check its digest: \(error)")
        }
        let actual = hasher.finalize().hex
        guard actual == digest else {
            throw ModuleError(.untrusted, "Refused to run \"\(path)\": its content hashes to \(actual), not the \(digest) it was stored as")
        }
        return digest
    }

    /// Starts `image` long enough to read its hello, then stops it: what it runs, and its interface.
    /// `confine` makes its run confined (a worker built from code not trusted yet).
    /// - Throws: ``ModuleError`` `.spawn` when it is not a module worker.
    public static func probe(_ image: ModuleImage, timeout: Double = 10,
                              confine: ((Subprocess.Configuration) throws -> Subprocess.Configuration)? = nil) throws(ModuleError) -> Hello {
        let worker = try WorkerProcess.spawn(image, environment: HostOptions().environment, errorLog: nil, timeout: timeout, confine: confine)
        defer { worker.stop() }
        try worker.health(timeout: timeout)
        return worker.hello
    }
}
