import Integrity
import Platform

/// Module versions kept by content: `<modules>/store/<sha256>/<program>`, immutable once there.
package struct ModuleStore: Sendable {
    /// `<home>/modules`.
    package let directory: String

    package init(directory: String) { self.directory = directory }

    package var store: String { directory + "/store" }

    /// Copies the worker program at `path` into the store, hashing what it copies (the copy is
    /// fsync'd, renamed into place and its directory fsync'd). A version already stored is kept.
    /// - Returns: the stored program's path and its SHA-256.
    /// - Throws: ``ModuleError`` `.io` naming the path and the action; nothing is left behind.
    package func stage(_ path: String) throws(ModuleError) -> (path: String, digest: String) {
        let name = FileSystem.baseName(of: path)
        let temporary = store + "/.staging-\(ProcessControl.id)-\(name)"
        var hasher = SHA256()
        do {
            try FileSystem.createDirectory(store, mode: 0o755, intermediates: true)
            try? FileSystem.removeFile(temporary)
            try FileSystem.copyFile(path, to: temporary, mode: 0o755) { hasher.update(bufferPointer: $0) }
        } catch {
            throw ModuleError(.io, "Failed to copy \"\(path)\" into the module store \"\(store)\": \(error)")
        }
        let digest = hasher.finalize().hex
        let versionDirectory = store + "/" + digest
        let destination = versionDirectory + "/" + name
        do {
            if FileSystem.exists(destination) {
                try FileSystem.removeFile(temporary)
                return (destination, digest)
            }
            try FileSystem.createDirectory(versionDirectory, mode: 0o755)
            try FileSystem.rename(temporary, to: destination)
            try FileSystem.syncDirectory(versionDirectory)
            try FileSystem.syncDirectory(store)
        } catch {
            try? FileSystem.removeFile(temporary)
            throw ModuleError(.io, "Failed to store \"\(path)\" as \"\(destination)\": \(error)")
        }
        return (destination, digest)
    }

    /// Starts `image` long enough to read its hello, then stops it: what it runs, and its interface.
    /// - Throws: ``ModuleError`` `.spawn` when it is not a module worker.
    package static func probe(_ image: ModuleImage, timeout: Double = 10) throws(ModuleError) -> Hello {
        let worker = try WorkerProcess.spawn(image, environment: HostOptions().environment, errorLog: nil, timeout: timeout)
        defer { worker.stop() }
        try worker.health(timeout: timeout)
        return worker.hello
    }
}
