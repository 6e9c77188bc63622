#if canImport(Glibc)
import Glibc
#endif
import Platform

extension UpdateChannel {
    // MARK: - Directories of the channel

    /// The directory of trusted metadata, `<channel>/metadata`.
    var metadataDirectory: String { directory + "/metadata" }

    /// The directory downloads are verified in, `<channel>/staging`.
    public var stagingDirectory: String { directory + "/staging" }

    /// Makes `path` a directory if nothing is there, then checks that it is one of ours: a real
    /// directory (never a symbolic link, which would put trusted metadata or a verified download
    /// where someone else can change it) owned by this user or by the owner of its parent.
    /// - Throws: ``ReleaseChannelError`` `storage` naming the path and what is wrong.
    static func ownDirectory(_ path: String, mode: mode_t = 0o755, create: Bool = true) throws(ReleaseChannelError) {
        do {
            if create, try FileSystem.statusIfPresent(path, followLinks: false) == nil {
                try FileSystem.createDirectory(path, mode: mode, intermediates: true)
            }
            guard let status = try FileSystem.statusIfPresent(path, followLinks: false) else { return }
            var problem: String?
            if status.kind == .symbolicLink {
                problem = "it is a symbolic link"
            } else if status.kind != .directory {
                problem = "it is not a directory"
            } else if status.owner != geteuid(), status.owner != (try? FileSystem.status(FileSystem.parent(of: path)))?.owner {
                problem = "it is owned by user \(status.owner), not by this user or the owner of its parent"
            }
            if let problem {
                throw ReleaseChannelError(.storage, "Refusing to use \"\(TerminalText.escaped(path))\": \(problem); the update channel keeps its files only in a directory of its own (remove it and run 'autodev update configure' again)")
            }
        } catch let error as ReleaseChannelError {
            throw error
        } catch {
            throw ReleaseChannelError(.storage, "\(error)")
        }
    }

    /// Checks `<channel>` and `<channel>/metadata` (see ``ownDirectory(_:mode:create:)``).
    func checkDirectories() throws(ReleaseChannelError) {
        try Self.ownDirectory(directory, create: false)
        try Self.ownDirectory(metadataDirectory, create: false)
    }
}
