import CPlatform
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Everything a started program starts ends with it: its process tree is contained so it can be
/// ended whole, `setsid()` and double forks included.
///
/// Two ways, chosen at ``start(name:)``:
/// - **cgroup v2** (where the hierarchy is mounted and this process may create cgroups below its
///   own, with `cgroup.kill`, Linux 5.14): a cgroup `autodev-<name>-<pid>-<random>` beside this
///   process's, with one leaf per program; the program joins its leaf between fork and exec, so
///   all it starts is in there, and writing `cgroup.kill` ends them all. A watcher process (see
///   `ad_tree_watcher_start`) kills the whole cgroup when this process is gone, SIGKILL included.
/// - **subreaper** otherwise: this process is marked `PR_SET_CHILD_SUBREAPER`, so an orphan of a
///   program (a `setsid()`'d daemon whose parent exited) becomes this process's child instead of
///   init's, and can be found and killed. What a program started is found through
///   `/proc/<pid>/task/<tid>/children`. Without a cgroup, what was started by a process killed
///   together with this one (SIGKILL) is not killed: only the direct child gets its parent-death
///   signal.
///
/// In builds with the test hooks (`AUTODEV_TEST_HOOKS`: debug builds and the crash tests'
/// release build) `AUTODEV_PROCESS_TREES=subreaper` in the environment forces the subreaper way,
/// so that tests reach it on a machine with cgroups; a shipped release ignores it (an inherited
/// variable must not weaken containment). The counter of leaves is guarded by `lock`: module
/// workers are started from several threads.
public final class ProcessTrees: @unchecked Sendable {
    /// How trees are contained.
    public enum Containment: Sendable, Equatable, CustomStringConvertible {
        /// A cgroup directory (absolute path) with one leaf per program.
        case cgroup(String)
        /// This process is a child subreaper.
        case subreaper

        public var description: String {
            switch self {
            case .cgroup(let path): "cgroup \(path)"
            case .subreaper: "child subreaper (no usable cgroup v2)"
            }
        }
    }

    /// One program's cgroup: its directory and its open `cgroup.procs` (close-on-exec).
    public struct Leaf: Sendable {
        public let path: String
        public let procs: Int32
    }

    private let lock = ConditionLock()
    private var containment: Containment
    private var count = 0
    /// Why cgroups are not used (nil when they are).
    public private(set) var fallbackReason: String?

    /// Contains the trees of what this process will start.
    /// - Parameters:
    ///   - name: a word for the cgroup's name ("supervise", "modules").
    ///   - graceSeconds: when this process is gone, how long the watcher lets the processes
    ///     drain after SIGTERM before it kills them all (0: at once).
    public static func start(name: String, graceSeconds: Double = 0) -> ProcessTrees {
        #if AUTODEV_TEST_HOOKS
        if ProcessControl.environment("AUTODEV_PROCESS_TREES") == "subreaper" {
            return ProcessTrees(subreaperBecause: "AUTODEV_PROCESS_TREES=subreaper")
        }
        #endif
        switch Self.createCgroup(name: name, graceSeconds: graceSeconds) {
        case .success(let path): return ProcessTrees(containment: .cgroup(path))
        case .failure(let reason): return ProcessTrees(subreaperBecause: reason.description)
        }
    }

    /// The module workers' trees of this process, contained at first use.
    public static let shared = ProcessTrees.start(name: "modules")

    private init(containment: Containment) {
        self.containment = containment
    }

    private init(subreaperBecause reason: String) {
        containment = .subreaper
        fallbackReason = reason
        _ = ad_become_subreaper()
    }

    // MARK: - API

    /// How trees are contained now.
    public var current: Containment { lock.withLock { containment } }

    /// A new leaf for the next program; nil under the subreaper (or when the leaf cannot be
    /// made: that program is then contained as under the subreaper).
    public func makeLeaf() -> Leaf? {
        lock.withLock { () -> Leaf? in
            guard case .cgroup(let root) = containment else { return nil }
            count += 1
            let path = root + "/\(count)"
            guard mkdir(path, 0o755) == 0 else { return nil }
            let fd = open(path + "/cgroup.procs", O_WRONLY | O_CLOEXEC)
            guard fd >= 0 else {
                rmdir(path)
                return nil
            }
            return Leaf(path: path, procs: fd)
        }
    }

    /// Stops using cgroups (a program could not join its leaf): from now on this process is a
    /// subreaper.
    public func fallBack(because reason: String) {
        lock.withLock {
            guard case .cgroup = containment else { return }
            containment = .subreaper
            fallbackReason = reason
            _ = ad_become_subreaper()
        }
    }

    /// Ends what remains of one program's tree: every process in its leaf (then the leaf is
    /// removed), or, without one, every live descendant of `root`. Call it before `root` is
    /// reaped when it may still run (its descendants are found through it).
    public func end(_ leaf: Leaf?, root: Int32?) {
        if let leaf {
            Self.killCgroup(leaf.path)
            _ = Glibc.close(leaf.procs)
            Self.removeWhenEmpty(leaf.path)
        }
        if let root { Self.killDescendants(of: root) }
    }

    /// Under the subreaper: kills this process's children that are not in `known` (orphans of
    /// ended programs, adopted), with what they started.
    public func killOrphans(keeping known: Set<Int32>) {
        guard current == .subreaper else { return }
        for _ in 0..<3 {
            let orphans = Self.children(of: ProcessControl.id).filter { !known.contains($0) }
            if orphans.isEmpty { return }
            for orphan in orphans {
                Self.killDescendants(of: orphan)
                kill(orphan, SIGKILL)
            }
        }
    }

    /// Ends every tree: the whole cgroup (then it is removed), or every descendant of this
    /// process but `keeping`.
    public func endAll(keeping: Set<Int32> = []) {
        switch current {
        case .cgroup(let root):
            Self.killCgroup(root)
            Self.removeWhenEmpty(root)
        case .subreaper:
            killOrphans(keeping: keeping)
        }
    }

    /// The live descendants of `pid` (children first), from `/proc/<pid>/task/<tid>/children`.
    public static func descendants(of pid: Int32) -> [Int32] {
        var result: [Int32] = []
        var queue = children(of: pid)
        var seen = Set<Int32>()
        while let next = queue.first {
            queue.removeFirst()
            guard seen.insert(next).inserted, seen.count < 100_000 else { continue }
            result.append(next)
            queue += children(of: next)
        }
        return result
    }

    // MARK: - Internals

    /// Kills every descendant of `pid` (rounds until none is left: a process may fork meanwhile).
    static func killDescendants(of pid: Int32) {
        for _ in 0..<5 {
            let found = descendants(of: pid)
            if found.isEmpty { return }
            for process in found { kill(process, SIGKILL) }
        }
    }

    static func children(of pid: Int32) -> [Int32] {
        let tasks = (try? FileSystem.contentsOfDirectory("/proc/\(pid)/task")) ?? []
        var result: [Int32] = []
        for task in tasks {
            let text = String(decoding: (try? FileSystem.readFile("/proc/\(pid)/task/\(task)/children")) ?? [], as: UTF8.self)
            result += text.split { $0 == " " || $0 == "\n" }.compactMap { Int32($0) }
        }
        return result
    }

    static func killCgroup(_ path: String) {
        let fd = open(path + "/cgroup.kill", O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else { return }
        _ = write(fd, "1", 1)
        _ = Glibc.close(fd)
    }

    /// Removes a cgroup directory and every cgroup below it (a program may have made its own:
    /// another supervisor, a module host), deepest first, once their processes are gone (up to
    /// 2 s: a killed process leaves its cgroup when it has exited).
    static func removeWhenEmpty(_ path: String) {
        let start = MonotonicClock.now()
        while true {
            removeBelow(path, depth: 0)
            if rmdir(path) == 0 || Errno.current == .noSuchFile { return }
            if MonotonicClock.seconds(since: start) > 2 { return }
            usleep(5_000)
        }
    }

    private static func removeBelow(_ path: String, depth: Int) {
        guard depth < 32 else { return }
        for name in (try? FileSystem.contentsOfDirectory(path)) ?? [] {
            let child = path + "/" + name
            guard (try? FileSystem.statusIfPresent(child, followLinks: false))??.kind == .directory else { continue }
            removeBelow(child, depth: depth + 1)
            rmdir(child)
        }
    }

    /// Makes `autodev-<name>-<pid>-<random>` beside this process's own cgroup, with a watcher.
    private static func createCgroup(name: String, graceSeconds: Double) -> Result<String, Reason> {
        guard let mount = cgroup2Mount() else { return .failure(Reason("no cgroup v2 hierarchy is mounted")) }
        let own = String(decoding: (try? FileSystem.readFile("/proc/self/cgroup")) ?? [], as: UTF8.self)
            .split(separator: "\n").first { $0.hasPrefix("0::") }.map { String($0.dropFirst(3)) }
        guard let own, own.hasPrefix("/"), !own.contains("/../") else { return .failure(Reason("this process is in no cgroup v2")) }
        let parent = mount + (own == "/" ? "" : own)
        let leafName = "autodev-\(name)-\(ProcessControl.id)-\(UInt32.random(in: 0...UInt32.max))"
        let root = parent + "/" + leafName
        guard mkdir(root, 0o755) == 0 else { return .failure(Reason("cannot create a cgroup in \"\(parent)\" (\(Errno.current))")) }
        guard access(root + "/cgroup.kill", W_OK) == 0 else {
            rmdir(root)
            return .failure(Reason("\"\(parent)\" has no cgroup.kill (Linux 5.14 or later)"))
        }
        var writeEnd: Int32 = -1
        guard ad_tree_watcher_start(root, parent.isEmpty ? "/" : parent, leafName, Int(min(max(graceSeconds, 0), 86_400) * 1000), &writeEnd) == 0 else {
            rmdir(root)
            return .failure(Reason("cannot start the cgroup's watcher (\(Errno.current))"))
        }
        _ = writeEnd  // held until this process is gone: then the watcher ends the cgroup
        return .success(root)
    }

    /// Where the cgroup v2 hierarchy is mounted (from `/proc/self/mountinfo`).
    private static func cgroup2Mount() -> String? {
        let text = String(decoding: (try? FileSystem.readFile("/proc/self/mountinfo")) ?? [], as: UTF8.self)
        for line in text.split(separator: "\n") {
            let fields = line.split(separator: " ")
            guard let dash = fields.firstIndex(of: "-"), dash + 1 < fields.count, fields[dash + 1] == "cgroup2",
                  dash >= 5, fields[3] == "/" else { continue }
            return String(fields[4])
        }
        return nil
    }

    private struct Reason: Error, CustomStringConvertible {
        let description: String
        init(_ description: String) { self.description = description }
    }
}
