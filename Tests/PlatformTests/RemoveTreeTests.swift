import Foundation
import TestSupport
import Testing
@testable import Platform

@Suite("Removing a tree: any depth, no link followed")
struct RemoveTreeTests {
    /// A scratch directory of the test's own.
    func scratch() throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("autodev-remove-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: false)
        return path
    }

    @Test("a tree far deeper than PATH_MAX, with unreadable directories, files and links to outside, goes; what the links name stays")
    func deepTree() throws {
        let root = try scratch()
        defer { _ = try? FileSystem.removeTree(root) }
        let outside = root + "-outside"
        try FileManager.default.createDirectory(atPath: outside, withIntermediateDirectories: false)
        try "kept".write(toFile: outside + "/kept", atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: outside) }
        // 3,000 levels of 'directory' (about 30,000 bytes of path), made through descriptors.
        var fd = open(root, O_RDONLY | O_DIRECTORY)
        try #require(fd >= 0)
        try #require(mkdirat(fd, "tree", 0o755) == 0)
        var next = openat(fd, "tree", O_RDONLY | O_DIRECTORY)
        close(fd)
        fd = next
        for level in 0..<3_000 {
            try #require(mkdirat(fd, "directory", 0o755) == 0, "level \(level): \(errno)")
            if level % 500 == 0 {
                try #require(symlinkat(outside, fd, "link-out") == 0)
                let file = openat(fd, "file", O_WRONLY | O_CREAT, 0o600)
                try #require(file >= 0)
                close(file)
            }
            next = openat(fd, "directory", O_RDONLY | O_DIRECTORY)
            try #require(next >= 0)
            if level % 700 == 0 { fchmod(next, 0) }
            close(fd)
            fd = next
        }
        close(fd)

        try FileSystem.removeTree(root + "/tree")

        #expect(!FileManager.default.fileExists(atPath: root + "/tree"))
        #expect(try FileManager.default.contentsOfDirectory(atPath: root).isEmpty, "moved-up pieces were left behind")
        #expect(try String(contentsOfFile: outside + "/kept", encoding: .utf8) == "kept")
    }

    @Test("a file, a link and nothing: the file and the link go (not what it names), nothing is no error")
    func notDirectories() throws {
        let root = try scratch()
        defer { _ = try? FileSystem.removeTree(root) }
        try "x".write(toFile: root + "/file", atomically: true, encoding: .utf8)
        try FileManager.default.createSymbolicLink(atPath: root + "/link", withDestinationPath: root + "/file")
        try FileSystem.removeTree(root + "/link")
        #expect(FileManager.default.fileExists(atPath: root + "/file"))
        try FileSystem.removeTree(root + "/file")
        try FileSystem.removeTree(root + "/nothing")
        #expect(try FileManager.default.contentsOfDirectory(atPath: root).isEmpty)
    }

    @Test("removed inside a directory opened before: a link put over the directory's path afterwards leads nowhere; the background remover refuses a linked directory")
    func insideAnOpenedDirectory() throws {
        let root = try scratch()
        defer { _ = try? FileSystem.removeTree(root) }
        for directory in ["logs/tx-1", "outside/tx-1"] {
            try FileManager.default.createDirectory(atPath: root + "/" + directory, withIntermediateDirectories: true)
            try "kept".write(toFile: root + "/" + directory + "/precious", atomically: true, encoding: .utf8)
        }
        try "x".write(toFile: root + "/logs/file", atomically: true, encoding: .utf8)
        let logs = try FileDescriptor.open(root + "/logs", [.directory, .noFollow])
        defer { try? logs.close() }
        // The directory is moved away and a link to another put in its place.
        try FileSystem.rename(root + "/logs", to: root + "/logs.moved")
        try FileManager.default.createSymbolicLink(atPath: root + "/logs", withDestinationPath: root + "/outside")
        try FileSystem.removeTree("tx-1", in: logs)
        try FileSystem.removeTree("file", in: logs)
        try FileSystem.removeTree("nothing", in: logs)
        #expect(try FileManager.default.contentsOfDirectory(atPath: root + "/logs.moved").isEmpty)
        #expect(FileManager.default.fileExists(atPath: root + "/outside/tx-1/precious"))
        #expect(throws: SystemError.self) { try FileSystem.removeInBackground(root + "/logs/tx-1") }
        #expect(FileManager.default.fileExists(atPath: root + "/outside/tx-1/precious"))
    }

    @Test("removed in the background inside an opened directory: a link put over its path leads nowhere, in the background or in the foreground removal that stands in")
    func backgroundInsideAnOpenedDirectory() throws {
        let root = try scratch()
        defer { _ = try? FileSystem.removeTree(root) }
        // "files": removed by the background remover; "nested": holds a directory, removed here.
        for name in ["files", "nested"] {
            for base in ["staging", "outside"] {
                try FileManager.default.createDirectory(atPath: root + "/\(base)/\(name)/sub", withIntermediateDirectories: true)
                if name == "files" { try FileManager.default.removeItem(atPath: root + "/\(base)/\(name)/sub") }
                try "kept".write(toFile: root + "/\(base)/\(name)/precious", atomically: true, encoding: .utf8)
            }
        }
        let staging = try FileDescriptor.open(root + "/staging", [.directory, .noFollow])
        defer { try? staging.close() }
        try FileSystem.rename(root + "/staging", to: root + "/staging.moved")
        try FileManager.default.createSymbolicLink(atPath: root + "/staging", withDestinationPath: root + "/outside")
        try FileSystem.removeInBackground("nested", in: staging)
        try FileSystem.removeInBackground("files", in: staging)
        #expect(!FileManager.default.fileExists(atPath: root + "/staging.moved/nested"))
        let start = MonotonicClock.now()
        while FileManager.default.fileExists(atPath: root + "/staging.moved/files") && MonotonicClock.seconds(since: start) < 10 {
            _ = poll(nil, 0, 5)
        }
        #expect(!FileManager.default.fileExists(atPath: root + "/staging.moved/files"))
        #expect(FileManager.default.fileExists(atPath: root + "/outside/files/precious"))
        #expect(FileManager.default.fileExists(atPath: root + "/outside/nested/precious"))
    }

    @Test("names that are not UTF-8 are removed, copied under the same bytes and counted by the usage walk")
    func namesThatAreNotUTF8() throws {
        let root = try scratch()
        defer { _ = try? FileSystem.removeTree(root) }
        // A directory named 0xFF holding a file named "caf" + 0xE9, made through descriptors.
        let source = root + "/source"
        try FileManager.default.createDirectory(atPath: source, withIntermediateDirectories: false)
        let top = open(source, O_RDONLY | O_DIRECTORY)
        try #require(top >= 0)
        defer { close(top) }
        try #require(mkdirat(top, [CChar(bitPattern: 0xFF), 0], 0o755) == 0)
        let directory = openat(top, [CChar(bitPattern: 0xFF), 0], O_RDONLY | O_DIRECTORY)
        try #require(directory >= 0)
        defer { close(directory) }
        let name: [CChar] = [0x63, 0x61, 0x66, CChar(bitPattern: 0xE9), 0]
        let file = openat(directory, name, O_WRONLY | O_CREAT, 0o600)
        try #require(file >= 0)
        #expect(write(file, [UInt8](repeating: 7, count: 100_000), 100_000) == 100_000)
        close(file)

        // Limits add up without overflowing: a sum past Int.max stays at Int.max.
        #expect(TreeUsage(bytes: .max, entries: 1).adding(TreeUsage(bytes: 1, entries: 1)) == TreeUsage(bytes: .max, entries: 2))
        let usage = FileSystem.usage(of: [source], stoppingAbove: TreeUsage(bytes: .max, entries: .max))
        #expect(usage.entries == 2)
        #expect(usage.bytes >= 100_000)
        #expect(FileSystem.usage(of: [source], stoppingAbove: TreeUsage(bytes: 50_000, entries: .max)).exceeds(TreeUsage(bytes: 50_000, entries: .max)))

        let copy = try FileSystem.copyTree(source, to: root + "/copy")
        #expect(copy.entries == 2 && copy.bytes == 100_000 && copy.skipped.isEmpty, "\(copy)")
        let copied = open(root + "/copy", O_RDONLY | O_DIRECTORY)
        try #require(copied >= 0)
        defer { close(copied) }
        var info = stat()
        let copiedDirectory = openat(copied, [CChar(bitPattern: 0xFF), 0], O_RDONLY | O_DIRECTORY)
        try #require(copiedDirectory >= 0)
        defer { close(copiedDirectory) }
        #expect(fstatat(copiedDirectory, name, &info, AT_SYMLINK_NOFOLLOW) == 0 && info.st_size == 100_000)

        try FileSystem.removeTree(source)
        try FileSystem.removeTree(root + "/copy")
        #expect(!FileManager.default.fileExists(atPath: source))
        #expect(!FileManager.default.fileExists(atPath: root + "/copy"))
    }

    @Test("a directory of files removed in the background, by a process that holds none of the caller's descriptors; one holding a directory is removed at once; links not followed")
    func inBackground() throws {
        let root = try scratch()
        defer { _ = try? FileSystem.removeTree(root) }
        let doomed = root + "/doomed"
        try FileManager.default.createDirectory(atPath: doomed, withIntermediateDirectories: false)
        try Data(count: 8 << 20).write(to: URL(fileURLWithPath: doomed + "/large"))
        try "meta".write(toFile: doomed + "/meta.json", atomically: true, encoding: .utf8)
        try "kept".write(toFile: root + "/kept", atomically: true, encoding: .utf8)
        try FileManager.default.createSymbolicLink(atPath: doomed + "/link", withDestinationPath: root + "/kept")
        // A pipe whose write end only this process holds: its reader sees the end as soon as
        // this process closes it, unless the remover kept a copy.
        var ends: [Int32] = [0, 0]
        try #require(pipe(&ends) == 0)
        try FileSystem.removeInBackground(doomed)
        close(ends[1])
        var byte: UInt8 = 0
        #expect(read(ends[0], &byte, 1) == 0, "the remover holds the caller's descriptors")
        close(ends[0])
        // The condition: the directory is gone (the remover runs at nice 10).
        let deadline = Date().addingTimeInterval(30)
        while FileManager.default.fileExists(atPath: doomed), Date() < deadline { usleep(10_000) }
        #expect(!FileManager.default.fileExists(atPath: doomed))
        #expect(try String(contentsOfFile: root + "/kept", encoding: .utf8) == "kept")

        // A directory inside: removed before the call returns.
        let nested = root + "/nested"
        try FileManager.default.createDirectory(atPath: nested + "/inner", withIntermediateDirectories: true)
        try "file".write(toFile: nested + "/inner/file", atomically: true, encoding: .utf8)
        try FileSystem.removeInBackground(nested)
        #expect(!FileManager.default.fileExists(atPath: nested))
        // Nothing there: nothing to do.
        try FileSystem.removeInBackground(root + "/absent")
    }

    @Test("told to wait for the caller's exit, the remover frees nothing while the caller runs, and goes on once the wait is over")
    func waitsForTheCaller() throws {
        let root = try scratch()
        defer { _ = try? FileSystem.removeTree(root) }
        let doomed = root + "/doomed"
        try FileManager.default.createDirectory(atPath: doomed, withIntermediateDirectories: false)
        try "data".write(toFile: doomed + "/file", atomically: true, encoding: .utf8)
        let before = Set(Self.detachedRunningThisBinary())
        try FileSystem.removeInBackground(doomed, waitingForExitUpTo: 60)
        // The remover: a process of this binary in a session of its own, blocked in its wait.
        var remover: Int32?
        let deadline = Date().addingTimeInterval(30)
        while remover == nil, Date() < deadline {
            remover = Self.detachedRunningThisBinary().first { pid in
                !before.contains(pid) && Processes.waitChannel(pid).contains("poll")
            }
            if remover == nil { usleep(1_000) }
        }
        let pid = try #require(remover, "no remover waiting for this process")
        #expect(FileManager.default.fileExists(atPath: doomed + "/file"), "removed while the caller runs")
        kill(pid, SIGKILL)

        // A wait that ends before the caller does: the directory goes all the same.
        try FileSystem.removeInBackground(doomed, waitingForExitUpTo: 0.05)
        let gone = Date().addingTimeInterval(30)
        while FileManager.default.fileExists(atPath: doomed), Date() < gone { usleep(10_000) }
        #expect(!FileManager.default.fileExists(atPath: doomed))
    }

    /// Processes running this test binary that lead a session of their own (the removers).
    static func detachedRunningThisBinary() -> [Int32] {
        let own = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? ""
        return Processes.all().filter { $0.session == $0.pid }.map(\.pid).filter {
            (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\($0)/exe")) == own
        }
    }

    @Test("nothing on a mount inside the tree is removed, in the foreground or the background: a bind mount of the same file system, a tmpfs",
          .enabled(if: getuid() == 0 && FileManager.default.isExecutableFile(atPath: "/usr/bin/mount"), "needs root to mount"))
    func mountsInside() throws {
        let root = try scratch()
        defer { _ = try? FileSystem.removeTree(root) }
        let precious = root + "/precious"
        try FileManager.default.createDirectory(atPath: precious + "/sub", withIntermediateDirectories: true)
        try "kept".write(toFile: precious + "/file", atomically: true, encoding: .utf8)
        try "kept".write(toFile: precious + "/sub/file", atomically: true, encoding: .utf8)
        // Inside a tree: a bind mount of the same file system, then a tmpfs holding a file.
        for (index, source) in [precious, "tmpfs"].enumerated() {
            let tree = root + "/tree\(index)"
            try FileManager.default.createDirectory(atPath: tree + "/mounted", withIntermediateDirectories: true)
            try "goes".write(toFile: tree + "/file", atomically: true, encoding: .utf8)
            let arguments = source == "tmpfs" ? ["-t", "tmpfs", "tmpfs", tree + "/mounted"] : ["--bind", source, tree + "/mounted"]
            try #require(try Processes.run("/usr/bin/mount", arguments) == 0)
            defer { _ = try? Processes.run("/usr/bin/umount", [tree + "/mounted"]) }
            if source == "tmpfs" { try "on the tmpfs".write(toFile: tree + "/mounted/file", atomically: true, encoding: .utf8) }
            #expect(throws: SystemError.self) { try FileSystem.removeTree(tree) }
            #expect(FileManager.default.fileExists(atPath: tree + "/mounted/file"), "\(source)")
        }
        #expect(FileManager.default.fileExists(atPath: precious + "/file") && FileManager.default.fileExists(atPath: precious + "/sub/file"))

        // The background remover's directory itself a mount: nothing on it goes.
        let doomed = root + "/doomed"
        try FileManager.default.createDirectory(atPath: doomed, withIntermediateDirectories: false)
        try #require(try Processes.run("/usr/bin/mount", ["--bind", precious, doomed]) == 0)
        defer { _ = try? Processes.run("/usr/bin/umount", [doomed]) }
        try FileManager.default.removeItem(atPath: precious + "/sub/file")
        try FileManager.default.removeItem(atPath: precious + "/sub")  // files only: the background route
        // Seen before any remover starts: refused in the foreground (the remover itself checks
        // again, for a mount made in between).
        #expect(throws: SystemError.self) { try FileSystem.removeInBackground(doomed) }
        #expect(FileManager.default.fileExists(atPath: precious + "/file"))
    }
}
