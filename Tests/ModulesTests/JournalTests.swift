import Foundation
@testable import Modules
import Platform
import Testing

/// The module journal shared by several processes.
@Suite("Module journal")
struct ModuleJournalTests {
    static func scratch() throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("autodev-module-journal-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    static func record(_ module: String) -> ModuleRecord {
        ModuleRecord(kind: .current, module: module, to: ModuleImage(executable: "/x/\(module)"))
    }

    @Test("two writers (as two processes have) keep each other's records")
    func twoWriters() throws {
        let directory = try Self.scratch()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let host = try ModuleJournal(directory: directory)
        let command = try ModuleJournal(directory: directory)
        try host.append(Self.record("a"))
        try command.append(Self.record("b"))
        try host.append(Self.record("c"))
        try command.append(Self.record("d"))
        #expect(try host.records().map(\.module) == ["a", "b", "c", "d"])
    }

    @Test("a last line without its newline is torn: ignored, then cut off by the next append")
    func tornTail() throws {
        let directory = try Self.scratch()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let journal = try ModuleJournal(directory: directory)
        try journal.append(Self.record("a"))
        let handle = try #require(FileHandle(forWritingAtPath: journal.path))
        try handle.seekToEnd()
        try handle.write(contentsOf: Data("1234abcd {\"kind\":\"cur".utf8))
        try handle.close()
        #expect(try journal.records().map(\.module) == ["a"])
        try ModuleJournal(directory: directory).append(Self.record("b"))
        #expect(try journal.records().map(\.module) == ["a", "b"])
        // A torn line longer than one read of the tail.
        let long = try #require(FileHandle(forWritingAtPath: journal.path))
        try long.seekToEnd()
        try long.write(contentsOf: Data(repeating: UInt8(ascii: "x"), count: 200_000))
        try long.close()
        try journal.append(Self.record("c"))
        #expect(try journal.records().map(\.module) == ["a", "b", "c"])
    }

    @Test("a complete last line with a bad checksum is damage: reported, and kept by the next append")
    func damagedLastLine() throws {
        let directory = try Self.scratch()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let journal = try ModuleJournal(directory: directory)
        try journal.append(Self.record("a"))
        try journal.append(Self.record("b"))
        let text = try String(contentsOfFile: journal.path, encoding: .utf8)
        let damaged = text.replacingOccurrences(of: "/x/b", with: "/x/z")
        try damaged.write(toFile: journal.path, atomically: false, encoding: .utf8)
        #expect(throws: ModuleError(.journal, "The module journal \"\(journal.path)\" is damaged at line 2")) { try journal.records() }
        try ModuleJournal(directory: directory).append(Self.record("c"))
        #expect(try String(contentsOfFile: journal.path, encoding: .utf8).hasPrefix(damaged))
        #expect(throws: ModuleError.self) { try journal.records() }
    }

    @Test("out-of-range numbers are damage, reported with the line, never trapped on",
          arguments: ["\"time\":1e300", "\"time\":-1e300", "\"time\":9.3e18", "\"time\":1,\"milliseconds\":1e300", "\"time\":1,\"schema\":-5"])
    func outOfRangeNumbers(_ field: String) throws {
        let directory = try Self.scratch()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let journal = try ModuleJournal(directory: directory)
        try journal.append(Self.record("a"))
        let json = Array("{\"kind\":\"current\",\"module\":\"b\",\"pid\":1,\(field),\"v\":1}".utf8)
        let handle = try #require(FileHandle(forWritingAtPath: journal.path))
        try handle.seekToEnd()
        try handle.write(contentsOf: ModuleJournal.line(json))
        try handle.close()
        #expect(throws: ModuleError.self) { try journal.records() }
        do {
            _ = try journal.records()
        } catch {
            #expect(error.message.hasPrefix("The module journal \"\(journal.path)\" is damaged at line 2: its "), "\(error)")
        }
    }
}
