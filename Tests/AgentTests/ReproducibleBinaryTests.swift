import Foundation
import Integrity
import SourceUpgrade
import Testing
import TestSupport

/// Normalisation on real compiler output: one program compiled in two directories of different
/// lengths, stripped as autodev's release build is.
@Suite("Reproducible binaries")
struct ReproducibleBinaryTests {
    /// Compiles `source` as `<directory>/main.swift` with `swiftc -O`, stripped.
    func compile(_ source: String, in directory: String) throws -> String {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try source.write(toFile: directory + "/main.swift", atomically: true, encoding: .utf8)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["swiftc", "-O", "-module-name", "probe", "main.swift", "-o", "probe", "-Xlinker", "-s"]
        process.currentDirectoryURL = URL(fileURLWithPath: directory)
        try process.run()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
        return directory + "/probe"
    }

    func run(_ path: String) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let output = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return String(decoding: output, as: UTF8.self)
    }

    @Test("two compiles in two directories differ only where normalisation rewrites, and are identical and still run after it")
    func twoDirectories() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("autodev-repro-\(UUID().uuidString.prefix(8))").path
        defer { try? FileManager.default.removeItem(atPath: root) }
        let source = "struct Greeting { var text: String }\nprint(Greeting(text: \"hello from \\(#fileID)\").text)\n"
        let first = try compile(source, in: root + "/a")
        let second = try compile(source, in: root + "/a-much-longer-directory/b")
        let before = try (Data(contentsOf: URL(fileURLWithPath: first)), Data(contentsOf: URL(fileURLWithPath: second)))
        #expect(before.0 != before.1, "the compiler is reproducible by itself now: the normalisation may be unneeded")
        #expect(try ReproducibleBinary.normalize(file: first))
        #expect(try ReproducibleBinary.normalize(file: second))
        let after = try (Data(contentsOf: URL(fileURLWithPath: first)), Data(contentsOf: URL(fileURLWithPath: second)))
        #expect(after.0 == after.1)
        #expect(after.0.count == before.0.count)
        // Normalising again changes nothing; the program still runs.
        #expect(try !ReproducibleBinary.normalize(file: first))
        // Run from a copy written by another process: the file normalised here was open for
        // writing in this process while other tests forked (an exec of it may find it busy).
        try Executables.copy(first, to: root + "/run-copy")
        #expect(try run(root + "/run-copy") == "hello from probe/main.swift\n")
        let attributes = try FileManager.default.attributesOfItem(atPath: first)
        #expect((attributes[.posixPermissions] as? Int).map { $0 & 0o111 } == 0o111)
    }

    @Test("anything but an ELF file is left as it is")
    func notELF() throws {
        var bytes = Array("#!/bin/sh\necho hi\n".utf8)
        ReproducibleBinary.normalize(&bytes)
        #expect(bytes == Array("#!/bin/sh\necho hi\n".utf8))
        var truncated: [UInt8] = [0x7F, 0x45, 0x4C, 0x46, 2, 1] + Array(repeating: 0xFF, count: 100)
        let copy = truncated
        ReproducibleBinary.normalize(&truncated)
        #expect(truncated == copy)
    }
}

@Suite("The environment of a proposal's build and tests")
struct ToolEnvironmentTests {
    @Test("only what a toolchain and a test suite need reaches them: no secret, no variable of the program's own")
    func allowList() {
        let environment = ["PATH": "/usr/bin", "HOME": "/home/u", "LANG": "C.UTF-8", "LC_ALL": "C", "XDG_CACHE_HOME": "/c", "SWIFTPM_X": "1",
                           "AWS_SECRET_ACCESS_KEY": "k", "ANTHROPIC_API_KEY": "k", "GITHUB_TOKEN": "t", "AUTODEV_HOME": "/h", "SSH_AUTH_SOCK": "/s"]
        let kept = SourceBuild.toolEnvironment(environment, programPrefix: "AUTODEV_")
        #expect(Set(kept.keys) == ["PATH", "HOME", "LANG", "LC_ALL", "XDG_CACHE_HOME", "SWIFTPM_X"])
    }
}

@Suite("Sources that would make builds depend on where they are")
struct PathIndependentSourcesTests {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path

    @Test("no #filePath or withoutActuallyEscaping in Swift sources, no __FILE__ or assert in C: each compiles the source's absolute path (or its length) into the binary")
    func noPathDependentConstructs() throws {
        let sources = Self.repository + "/Sources"
        let enumerator = try #require(FileManager.default.enumerator(atPath: sources))
        var found: [String] = []
        for case let file as String in enumerator {
            let forbidden = file.hasSuffix(".swift") ? ["#filePath", "withoutActuallyEscaping"]
                : file.hasSuffix(".c") || file.hasSuffix(".h") ? ["__FILE__", "assert("] : []
            guard !forbidden.isEmpty else { continue }
            let text = try String(contentsOfFile: sources + "/" + file, encoding: .utf8)
            found += forbidden.filter { text.contains($0) }.map { "\(file): \($0)" }
        }
        #expect(found.isEmpty, "\(found)")
    }
}
