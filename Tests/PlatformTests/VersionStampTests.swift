import Foundation
#if canImport(Glibc)
import Glibc
#endif
import Platform
import Testing

@Suite("Version stamps")
struct VersionStampTests {
    /// A file shaped like a binary: bytes around stamp areas (the marker read from this image's own).
    func binaryLike(in directory: String, named name: String = "program", markers: Int = 1) throws -> String {
        let marker = VersionStamp.marker
        var bytes = Array(repeating: UInt8(0x90), count: 4096)
        for _ in 0..<markers { bytes += marker + Array(repeating: 0, count: VersionStamp.capacity + 1) + Array(repeating: 0xCC, count: 100) }
        let path = directory + "/" + name
        try FileSystem.writeAtomically(path, bytes, mode: 0o751)
        return path
    }

    @Test("an unstamped binary reports nothing; a stamped copy reports the version, keeps its mode, and can be stamped again")
    func stampAndRead() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("autodev-stamp-\(UUID().uuidString.prefix(8))").path
        try FileSystem.createDirectory(directory, mode: 0o755)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        #expect(VersionStamp.current == nil)
        let path = try binaryLike(in: directory)
        #expect(try VersionStamp.read(from: path) == nil)
        try VersionStamp.write("2.0.0-rc.1", into: path)
        #expect(try VersionStamp.read(from: path) == "2.0.0-rc.1")
        try VersionStamp.write("2.0.0", into: path)
        #expect(try VersionStamp.read(from: path) == "2.0.0")
        #expect(try FileSystem.status(path).mode & 0o7777 == 0o751)
    }

    @Test("a symbolic link and a file with two names are refused; owner and group are kept, setuid and setgid are not")
    func identity() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("autodev-stamp-\(UUID().uuidString.prefix(8))").path
        try FileSystem.createDirectory(directory, mode: 0o755)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = try binaryLike(in: directory)
        try FileManager.default.createSymbolicLink(atPath: directory + "/link", withDestinationPath: path)
        let linked = #expect(throws: VersionStamp.Failure.self) { try VersionStamp.write("1.0.0", into: directory + "/link") }
        #expect(linked?.description.contains("is a symbolic link (to \"\(path)\"); stamp the file it points to") == true)
        try FileManager.default.linkItem(atPath: path, toPath: directory + "/second-name")
        let twoNames = #expect(throws: VersionStamp.Failure.self) { try VersionStamp.write("1.0.0", into: path) }
        #expect(twoNames?.description.contains("has 2 names (hard links)") == true)
        #expect(try VersionStamp.read(from: path) == nil)
        try FileSystem.removeFile(directory + "/second-name")

        try FileSystem.setMode(path, 0o6755)
        if getuid() == 0 { #expect(chown(path, 65534, 65534) == 0) }
        let before = try FileSystem.status(path)
        try VersionStamp.write("1.0.0", into: path)
        let after = try FileSystem.status(path)
        #expect(after.owner == before.owner && after.group == before.group)
        #expect(after.mode == 0o755)
        #expect(try VersionStamp.read(from: path) == "1.0.0")
    }

    @Test("a file that ends inside its stamp area is named truncated")
    func truncated() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("autodev-stamp-\(UUID().uuidString.prefix(8))").path
        try FileSystem.createDirectory(directory, mode: 0o755)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/cut"
        try FileSystem.writeAtomically(path, Array(repeating: 0x90, count: 64) + VersionStamp.marker + [0, 0, 0, 0], mode: 0o755)
        let failure = #expect(throws: VersionStamp.Failure.self) { try VersionStamp.write("1.0.0", into: path) }
        #expect(failure?.description.contains("the file ends inside its version stamp area (truncated)") == true)
    }

    @Test("refused, file unchanged: no stamp area, two stamp areas, an empty, spaced or too long version")
    func refusals() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("autodev-stamp-\(UUID().uuidString.prefix(8))").path
        try FileSystem.createDirectory(directory, mode: 0o755)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let plain = directory + "/plain"
        try FileSystem.writeAtomically(plain, Array("#!/bin/sh\necho 1.0.0\n".utf8))
        #expect(throws: VersionStamp.Failure.self) { try VersionStamp.write("1.0.0", into: plain) }
        #expect(try FileSystem.readFile(plain) == Array("#!/bin/sh\necho 1.0.0\n".utf8))

        let twice = try binaryLike(in: directory, named: "twice", markers: 2)
        let original = try FileSystem.readFile(twice)
        #expect(throws: VersionStamp.Failure.self) { try VersionStamp.write("1.0.0", into: twice) }
        for bad in ["", "1.0 .0", String(repeating: "9", count: VersionStamp.capacity + 1), "1.0.0\n"] {
            let once = try binaryLike(in: directory)
            #expect(throws: VersionStamp.Failure.self) { try VersionStamp.write(bad, into: once) }
            #expect(try VersionStamp.read(from: once) == nil)
        }
        #expect(try FileSystem.readFile(twice) == original)
    }
}
