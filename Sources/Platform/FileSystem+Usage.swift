#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// What a tree takes: the space its files and directories take on their file systems, and how
/// many there are.
public struct TreeUsage: Sendable, Equatable {
    public var bytes: Int
    public var entries: Int
    public init(bytes: Int = 0, entries: Int = 0) {
        self.bytes = bytes
        self.entries = entries
    }

    /// Whether either figure is above `limit`'s.
    public func exceeds(_ limit: TreeUsage) -> Bool { bytes > limit.bytes || entries > limit.entries }

    /// Both figures added, each stopping at `Int.max` instead of overflowing.
    public func adding(_ other: TreeUsage) -> TreeUsage {
        func sum(_ a: Int, _ b: Int) -> Int {
            let (total, overflow) = a.addingReportingOverflow(b)
            return overflow ? .max : total
        }
        return TreeUsage(bytes: sum(bytes, other.bytes), entries: sum(entries, other.entries))
    }
}

extension FileSystem {
    /// The space (`st_blocks` × 512, so a sparse file counts what it really takes) and the number
    /// of entries under `paths` together, walked through directory descriptors without following
    /// any link, at most 32 levels deep. The walk stops as soon as `limit` is exceeded, so its
    /// cost is bounded by the limit, not by what a hostile writer made; a tree deeper than 32
    /// levels counts as exceeding it, and so does a directory that cannot be opened or listed
    /// (its mode taken away by its writer: what it holds cannot be measured). What vanishes while
    /// it is walked is not counted; a path that does not exist counts nothing.
    public static func usage(of paths: [String], stoppingAbove limit: TreeUsage) -> TreeUsage {
        var total = TreeUsage()
        for path in paths {
            let root: FileDescriptor
            do {
                root = try FileDescriptor.open(path, [.directory, .noFollow, .nonBlocking])
            } catch {
                guard vanished(error) else { return unmeasurable(total) }
                continue
            }
            defer { try? root.close() }
            if let status = try? root.status() { total.bytes += status.allocatedBytes }
            guard addUsage(of: root, path: path, depth: 0, limit: limit, to: &total) else { break }
        }
        return total
    }

    /// Adds what is below `directory` to `total`. - Returns: false once `total` exceeds `limit`.
    private static func addUsage(of directory: FileDescriptor, path: String, depth: Int, limit: TreeUsage, to total: inout TreeUsage) -> Bool {
        let names: [EntryName]
        do {
            names = try directory.entryNames()
        } catch {
            guard vanished(error) else {
                total = unmeasurable(total)
                return false
            }
            return true
        }
        for name in names {
            let below = path + "/" + name.description
            guard let status = try? directory.entryStatus(name, path: below) else { continue }
            total.entries += 1
            total.bytes += status.allocatedBytes
            guard !total.exceeds(limit) else { return false }
            guard status.kind == .directory else { continue }
            guard depth < 32 else {
                total = unmeasurable(total)
                return false
            }
            let opened: FileDescriptor
            do {
                opened = try directory.openEntry(name, path: below, [.directory, .noFollow, .nonBlocking])
            } catch {
                guard vanished(error) else {
                    total = unmeasurable(total)
                    return false
                }
                continue
            }
            defer { try? opened.close() }
            guard addUsage(of: opened, path: below, depth: depth + 1, limit: limit, to: &total) else { return false }
        }
        return true
    }

    /// `total` with what cannot be measured (too deep, unreadable): above any limit.
    private static func unmeasurable(_ total: TreeUsage) -> TreeUsage {
        TreeUsage(bytes: total.bytes, entries: Int.max)
    }

    /// Whether the walk failed only because the entry is gone (removed while it was walked).
    private static func vanished(_ error: SystemError) -> Bool { error.errno == .noSuchFile }
}

extension FileSystem {
    /// The paths under `root` whose last component is not UTF-8 (shown with U+FFFD where a byte
    /// is not), walked like ``usage(of:stoppingAbove:)``: through directory descriptors, no link
    /// followed, at most 32 levels and `entryLimit` entries visited, at most `limit` paths returned.
    /// A name that is not UTF-8 has no `String` that names it, so every check by path misses it.
    /// - Parameter skipping: names directly under `root` not walked (caches that are not its to check).
    public static func namesNotUTF8(under root: String, skipping: Set<String> = [], limit: Int = 100, entryLimit: Int = 100_000) -> [String] {
        guard let directory = try? FileDescriptor.open(root, [.directory, .noFollow, .nonBlocking]) else { return [] }
        defer { try? directory.close() }
        var found: [String] = []
        var budget = entryLimit
        collectNamesNotUTF8(in: directory, path: root, depth: 0, skipping: skipping, limit: limit, budget: &budget, into: &found)
        return found
    }

    private static func collectNamesNotUTF8(in directory: FileDescriptor, path: String, depth: Int, skipping: Set<String> = [], limit: Int,
                                            budget: inout Int, into found: inout [String]) {
        guard let names = try? directory.entryNames() else { return }
        for name in names where !skipping.contains(name.description) {
            guard found.count < limit, budget > 0 else { return }
            budget -= 1
            let below = path + "/" + name.description
            if !name.description.utf8.elementsEqual(name.bytes) { found.append(below) }
            guard depth < 32, let status = try? directory.entryStatus(name, path: below), status.kind == .directory,
                  let opened = try? directory.openEntry(name, path: below, [.directory, .noFollow, .nonBlocking]) else { continue }
            defer { try? opened.close() }
            collectNamesNotUTF8(in: opened, path: below, depth: depth + 1, limit: limit, budget: &budget, into: &found)
        }
    }
}

/// What a running program's processes hold open that no walk of a directory can see.
public enum HeldFiles {
    /// The space taken by files under `paths` that were deleted while a process started as
    /// `pid` holds them open: each process descended from it (every process of a pid namespace
    /// it made for its children is, and so is one in a namespace nested in it or in a session
    /// of its own) or still in its session (one that left the tree by a double fork) is asked
    /// through `/proc/<p>/fd`, and each such file counted once. A file that is deleted but still open keeps its space until the last descriptor closes.
    /// Only files on the file system the path itself is on count: one the child saw at that path
    /// through a mount of its own (a layer the kernel bounds) takes nothing from it.
    public static func deletedBytes(heldBy pid: pid_t, under paths: [String]) -> Int {
        let prefixes = paths.map { $0.hasSuffix("/") ? $0 : $0 + "/" }
        let devices = Set(paths.compactMap { try? FileSystem.status($0, followLinks: false).device })
        guard let entries = try? FileSystem.contentsOfDirectory("/proc") else { return 0 }
        let processes = entries.compactMap { Int32($0) }.filter { $0 != getpid() }
        var family: [Int32: (parent: Int32, session: Int32)] = [:]
        for process in processes {
            if let read = parentAndSession(of: process) { family[process] = read }
        }
        /// Whether `process` is below `pid` (parent after parent, as many steps as there are processes).
        func descends(_ process: Int32) -> Bool {
            var current = process
            for _ in 0..<family.count {
                guard let parent = family[current]?.parent, parent > 0 else { return false }
                if parent == pid { return true }
                current = parent
            }
            return false
        }
        var seen = Set<[UInt64]>()
        var total = 0
        for process in processes {
            guard process == pid || family[process]?.session == pid || descends(process) else { continue }
            guard let descriptors = try? FileSystem.contentsOfDirectory("/proc/\(process)/fd") else { continue }
            for descriptor in descriptors {
                let link = "/proc/\(process)/fd/\(descriptor)"
                guard let target = try? FileSystem.destinationOfSymbolicLink(link), target.hasSuffix(" (deleted)"),
                      prefixes.contains(where: { target.hasPrefix($0) }) else { continue }
                // stat through the descriptor's link reaches the open file itself.
                guard let status = try? FileSystem.status(link, followLinks: true), status.kind == .regular,
                      devices.contains(status.device), seen.insert([status.device, status.inode]).inserted else { continue }
                total += status.allocatedBytes
            }
        }
        return total
    }

    /// The parent and the session of a process (fields 4 and 6 of `/proc/<p>/stat`), or nil.
    static func parentAndSession(of process: Int32) -> (parent: Int32, session: Int32)? {
        guard let bytes = try? FileSystem.readFile("/proc/\(process)/stat") else { return nil }
        // The command name (field 2) is in parentheses and may hold spaces: count from the last ')'.
        guard let close = bytes.lastIndex(of: UInt8(ascii: ")")) else { return nil }
        let fields = bytes[(close + 1)...].split(separator: UInt8(ascii: " "))
        guard fields.count > 3, let parent = Int32(String(decoding: fields[1], as: UTF8.self)),
              let session = Int32(String(decoding: fields[3], as: UTF8.self)) else { return nil }
        return (parent, session)
    }
}
