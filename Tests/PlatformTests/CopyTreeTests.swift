import Foundation
import Platform
import Testing

@Suite("Copying a tree follows no link")
struct CopyTreeTests {
    /// A scratch directory with `state/` inside, removed afterwards.
    struct Scratch {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("autodev-tree-\(UUID().uuidString.prefix(8))").path
        var state: String { root + "/state" }
        init() throws { try FileManager.default.createDirectory(atPath: root + "/state", withIntermediateDirectories: true) }
        func cleanUp() { try? FileManager.default.removeItem(atPath: root) }
        func listing(_ path: String) -> [String] {
            (FileManager.default.enumerator(atPath: path)?.allObjects as? [String] ?? []).sorted()
        }
    }

    @Test("only regular files and directories are copied; links, FIFOs and sockets are left out and named")
    func kinds() throws {
        let scratch = try Scratch()
        defer { scratch.cleanUp() }
        try "secret".write(toFile: scratch.root + "/secret", atomically: true, encoding: .utf8)
        try FileManager.default.createDirectory(atPath: scratch.state + "/sub/deeper", withIntermediateDirectories: true)
        try "a".write(toFile: scratch.state + "/sub/deeper/a", atomically: true, encoding: .utf8)
        try "hidden".write(toFile: scratch.state + "/.dot", atomically: true, encoding: .utf8)
        try FileManager.default.createSymbolicLink(atPath: scratch.state + "/root", withDestinationPath: "/")
        try FileManager.default.createSymbolicLink(atPath: scratch.state + "/secret", withDestinationPath: scratch.root + "/secret")
        try FileManager.default.createSymbolicLink(atPath: scratch.state + "/sub/up", withDestinationPath: "..")
        #expect(mkfifo(scratch.state + "/fifo", 0o600) == 0)
        let copy = try FileSystem.copyTree(scratch.state, to: scratch.root + "/copy")
        #expect(scratch.listing(scratch.root + "/copy") == [".dot", "sub", "sub/deeper", "sub/deeper/a"])
        #expect(copy.skipped.map { FileSystem.baseName(of: $0) }.sorted() == ["fifo", "root", "secret", "up"])
        #expect(copy.bytes == 7)
    }

    @Test("a link as the root is refused, not followed")
    func linkedRoot() throws {
        let scratch = try Scratch()
        defer { scratch.cleanUp() }
        try FileManager.default.createSymbolicLink(atPath: scratch.root + "/linked", withDestinationPath: scratch.state)
        #expect(throws: SystemError.self) { try FileSystem.copyTree(scratch.root + "/linked", to: scratch.root + "/copy") }
        #expect(!FileManager.default.fileExists(atPath: scratch.root + "/copy"))
    }

    @Test("past a limit (bytes with a sparse file, entries, depth) the copy stops, says which, and leaves nothing")
    func limits() throws {
        let scratch = try Scratch()
        defer { scratch.cleanUp() }
        let sparse = try #require(FileHandle(forWritingAtPath: { FileManager.default.createFile(atPath: scratch.state + "/sparse", contents: nil); return scratch.state + "/sparse" }()))
        try sparse.truncate(atOffset: 5 << 30)
        try sparse.close()
        var limits = FileSystem.TreeLimits()
        do {
            try FileSystem.copyTree(scratch.state, to: scratch.root + "/copy", limits: limits)
            Issue.record("a 5 GiB sparse file was copied")
        } catch {
            #expect(error.detail == "the tree holds more than 1 GiB", "\(error)")
        }
        #expect(!FileManager.default.fileExists(atPath: scratch.root + "/copy"))
        try FileManager.default.removeItem(atPath: scratch.state + "/sparse")
        try FileManager.default.createDirectory(atPath: scratch.state + "/1/2/3", withIntermediateDirectories: true)
        limits.depth = 2
        #expect(throws: SystemError.self) { try FileSystem.copyTree(scratch.state, to: scratch.root + "/copy", limits: limits) }
        limits = FileSystem.TreeLimits()
        limits.entries = 2
        #expect(throws: SystemError.self) { try FileSystem.copyTree(scratch.state, to: scratch.root + "/copy", limits: limits) }
        #expect(!FileManager.default.fileExists(atPath: scratch.root + "/copy"))
    }

    @Test("a directory swapped for a link while copies run never leads outside the tree")
    func swappedDirectory() throws {
        let scratch = try Scratch()
        defer { scratch.cleanUp() }
        try FileManager.default.createDirectory(atPath: scratch.root + "/outside", withIntermediateDirectories: true)
        try "OUTSIDE-SECRET".write(toFile: scratch.root + "/outside/file", atomically: true, encoding: .utf8)
        try FileManager.default.createDirectory(atPath: scratch.state + "/sub", withIntermediateDirectories: true)
        try "inside".write(toFile: scratch.state + "/sub/file", atomically: true, encoding: .utf8)
        try FileManager.default.createSymbolicLink(atPath: scratch.state + "/link", withDestinationPath: scratch.root + "/outside")
        // Another thread keeps exchanging the directory and the link under the same names.
        let stop = ManagedAtomicFlag()
        let flipper = Thread {
            let sub = scratch.state + "/sub", link = scratch.state + "/link", aside = scratch.state + "/aside"
            while !stop.isSet {
                rename(sub, aside)
                rename(link, sub)
                rename(aside, link)
            }
        }
        flipper.start()
        defer { stop.set() }
        var leaked = 0
        for index in 0..<300 {
            let destination = scratch.root + "/copy-\(index)"
            guard (try? FileSystem.copyTree(scratch.state, to: destination)) != nil else { continue }
            for name in scratch.listing(destination) {
                if let text = try? String(contentsOfFile: destination + "/" + name, encoding: .utf8), text == "OUTSIDE-SECRET" { leaked += 1 }
            }
            try? FileManager.default.removeItem(atPath: destination)
        }
        #expect(leaked == 0, "a file outside the tree was copied \(leaked) times")
    }
}

/// A flag one thread sets and another reads.
final class ManagedAtomicFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false
    var isSet: Bool { lock.withLock { value } }
    func set() { lock.withLock { value = true } }
}
