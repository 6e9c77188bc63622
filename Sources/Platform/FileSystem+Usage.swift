#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// What a tree takes: the space its files and directories take on their file systems, and how
/// many there are.
package struct TreeUsage: Sendable, Equatable {
    package var bytes: Int
    package var entries: Int
    package init(bytes: Int = 0, entries: Int = 0) {
        self.bytes = bytes
        self.entries = entries
    }

    /// Whether either figure is above `limit`'s.
    package func exceeds(_ limit: TreeUsage) -> Bool { bytes > limit.bytes || entries > limit.entries }
}

extension FileSystem {
    /// The space (`st_blocks` × 512, so a sparse file counts what it really takes) and the number
    /// of entries under `paths` together, walked through directory descriptors without following
    /// any link, at most 32 levels deep. The walk stops as soon as `limit` is exceeded, so its
    /// cost is bounded by the limit, not by what a hostile writer made; a tree deeper than 32
    /// levels counts as exceeding it. What vanishes while it is walked is not counted; a path
    /// that does not exist counts nothing.
    package static func usage(of paths: [String], stoppingAbove limit: TreeUsage) -> TreeUsage {
        var total = TreeUsage()
        for path in paths {
            guard let root = try? FileDescriptor.open(path, [.directory, .noFollow, .nonBlocking]) else { continue }
            defer { try? root.close() }
            if let status = try? root.status() { total.bytes += status.allocatedBytes }
            guard addUsage(of: root, path: path, depth: 0, limit: limit, to: &total) else { break }
        }
        return total
    }

    /// Adds what is below `directory` to `total`. - Returns: false once `total` exceeds `limit`.
    private static func addUsage(of directory: FileDescriptor, path: String, depth: Int, limit: TreeUsage, to total: inout TreeUsage) -> Bool {
        guard let names = try? directory.entryNames() else { return true }
        for name in names {
            let below = path + "/" + name.description
            guard let status = try? directory.entryStatus(name, path: below) else { continue }
            total.entries += 1
            total.bytes += status.allocatedBytes
            guard !total.exceeds(limit) else { return false }
            guard status.kind == .directory else { continue }
            guard depth < 32 else {
                total.entries = Int.max
                return false
            }
            guard let opened = try? directory.openEntry(name, path: below, [.directory, .noFollow, .nonBlocking]) else { continue }
            defer { try? opened.close() }
            guard addUsage(of: opened, path: below, depth: depth + 1, limit: limit, to: &total) else { return false }
        }
        return true
    }
}
