import SelfUpgrade
import Agent
import Foundation
import Storage
import Testing

/// A git repository with three tracked files in a scratch directory, a patch directory beside
/// it and a home for the memory and logs. Everything is real: git runs, files move.
struct Fixture {
    let root: String
    let source: String
    let patches: String
    let home: Home

    init() throws {
        root = FileManager.default.temporaryDirectory.appendingPathComponent("autodev-agent-\(UUID().uuidString.prefix(8))").path
        source = root + "/source"
        patches = root + "/patches"
        home = Home(root: root + "/home")
        for directory in [source, patches, home.root] {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        }
        try git(["init", "--quiet"])
        for name in Self.files { try write(name, "\(name): first line\n") }
        try git(["add", "-A"])
        try git(["commit", "--quiet", "-m", "initial"])
    }

    func cleanUp() { try? FileManager.default.removeItem(atPath: root) }

    /// The tracked files; a patch made by ``makePatch(_:changing:)`` changes one of them.
    static let files = ["a.txt", "b.txt", "c.txt"]

    var workingCopy: WorkingCopy { WorkingCopy(directory: source, logs: home.logs) }
    var memory: StateStore<AgentMemory> { AgentMemory.store(in: home) }

    /// Runs git in the repository (independently of the code under test).
    @discardableResult
    func git(_ arguments: [String]) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["git", "-c", "user.name=test", "-c", "user.email=test@localhost", "-c", "commit.gpgsign=false"] + arguments
        process.currentDirectoryURL = URL(fileURLWithPath: source)
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = FileHandle.nullDevice
        try process.run()
        let output = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { throw GitFailed(arguments: arguments, status: process.terminationStatus) }
        return String(decoding: output, as: UTF8.self)
    }

    struct GitFailed: Error { var arguments: [String]; var status: Int32 }

    func write(_ file: String, _ text: String) throws {
        try text.write(toFile: source + "/" + file, atomically: true, encoding: .utf8)
    }

    func read(_ file: String) throws -> String { try String(contentsOfFile: source + "/" + file, encoding: .utf8) }

    /// Writes `name` into the patch directory: the diff of appending a line to `file`; the
    /// working copy is left as it was.
    /// - Returns: the patch's path.
    @discardableResult
    func makePatch(_ name: String, changing file: String, line: String = "a proposed line") throws -> String {
        let original = try read(file)
        try write(file, original + line + "\n")
        let diff = try git(["diff"])
        try write(file, original)
        let path = patches + "/" + name
        try diff.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    /// The subject of the newest commit.
    func subject() throws -> String { try git(["log", "-1", "--format=%s"]).trimmingCharacters(in: .newlines) }

    func head() throws -> String { try git(["rev-parse", "HEAD"]).trimmingCharacters(in: .newlines) }

    func contents(_ directory: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).sorted()
    }

    /// A loop over the patch directory whose upgrade is `upgrade`, reporting into `events`.
    func loop(_ proposals: ProposalSource? = nil, upgrade: ProposalUpgrade? = nil, maxIterations: Int? = nil,
              events: @escaping (AgentEvent) -> Void = { _ in }) -> AgentLoop {
        AgentLoop(workingCopy: workingCopy, proposals: proposals ?? .patches(directory: patches), upgrade: upgrade ?? rejecting(),
                  memoryStore: memory, maxIterations: maxIterations, onEvent: events)
    }

    /// An upgrade that rejects every proposal with a reason naming the commit it found checked
    /// out, so a test sees what would have been built.
    func rejecting() -> ProposalUpgrade {
        let fixture = self
        return ProposalUpgrade(run: { _ in throw BuildFailed(description: "does not build: " + (try fixture.subject())) })
    }

    /// An upgrade that gets as far as the exec: it runs the step before it and returns (where a
    /// real upgrade would exec the new version).
    func reachingRestart() -> ProposalUpgrade {
        ProposalUpgrade(run: { hooks in try hooks.beforeRestart() })
    }
}

/// A build failure, as a source upgrade would report it.
struct BuildFailed: Error, CustomStringConvertible {
    var description: String
}
