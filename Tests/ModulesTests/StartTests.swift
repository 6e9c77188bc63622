import Foundation
@testable import Modules
import Platform
import Testing

/// Starting the modules a journal names: what cannot start is reported, the rest serves, and
/// stored files are checked before they run.
@Suite("Module start")
struct StartTests {
    static let handlerWorker = Fixture.workerDirectory + "/example-handler-module"

    /// Puts a file with one byte more than `path` in its place (by rename: it may be running).
    static func tamper(_ path: String) throws {
        let changed = path + ".changed"
        try Data(try Data(contentsOf: URL(fileURLWithPath: path)) + [0]).write(to: URL(fileURLWithPath: changed))
        #expect(rename(changed, path) == 0)
    }

    @Test("a module that cannot start is reported; the others start; a reload replaces it")
    func startsWhatItCan() throws {
        let fixture = try Fixture()
        let journal = fixture.host.journal
        try journal.append(ModuleRecord(kind: .current, module: "counter", to: Fixture.counter("1"), toVersion: "counter@1"))
        try journal.append(ModuleRecord(kind: .current, module: "example-handler", to: ModuleImage(executable: fixture.directory + "/missing"), toVersion: "example-handler@1"))
        try journal.append(ModuleRecord(kind: .current, module: "bad\nname", to: Fixture.counter("1"), toVersion: "counter@1"))
        let (started, failed) = try fixture.host.startCommitted()
        #expect(started == ["counter"])
        #expect(failed.map(\.name) == ["bad\nname", "example-handler"])
        #expect(failed.first?.reason.contains("Invalid module name \"bad\\nname\"") == true, "\(failed)")
        #expect(failed.last?.executable == fixture.directory + "/missing")
        #expect(String(try fixture.host.send("counter", Array("add a 1".utf8))) == "a 1")
        #expect(fixture.host.unstartedModules.map(\.name) == ["example-handler"])
        let report = try fixture.host.replaceUnstarted("example-handler", with: ModuleImage(executable: Self.handlerWorker))
        #expect(report.committed)
        #expect(fixture.host.moduleNames == ["counter", "example-handler"])
        #expect(fixture.host.unstartedModules.isEmpty)
    }

    @Test("a worker announcing another module than the one started is refused")
    func helloNameChecked() throws {
        let fixture = try Fixture()
        #expect(throws: ModuleError.self) { try fixture.host.start("example-handler", image: Fixture.counter("1")) }
        #expect(fixture.host.moduleNames.isEmpty)
        try fixture.host.start("c1", image: Fixture.counter("1"), module: "counter")
    }

    @Test("a stored file whose content changed is not started, and staging replaces it")
    func storedDigestChecked() throws {
        let fixture = try Fixture()
        let store = ModuleStore(directory: fixture.directory)
        let stored = try store.stage(Fixture.counterWorker)
        try Self.tamper(stored.path)
        do {
            try fixture.host.start("counter", image: ModuleImage(executable: stored.path))
            Issue.record("a changed stored file was started")
        } catch {
            #expect(error.code == .untrusted && error.message.contains("hashes to"), "\(error)")
        }
        try fixture.host.start("counter", image: Fixture.counter("1"))
        let report = try fixture.host.reload("counter", to: ModuleImage(executable: stored.path))
        #expect(!report.committed && report.failedPhase == .prepare && report.reason?.contains("hashes to") == true, "\(report)")
        fixture.host.stop()
        #expect(try store.stage(Fixture.counterWorker).path == stored.path)
        #expect(try store.verify(stored.path) == stored.digest)
        try fixture.host.start("counter", image: ModuleImage(executable: stored.path))
    }

    @Test("names a worker announces print on one line, escaped, at most 64 characters")
    func announcedNamesEscaped() {
        #expect(DisplayName.escaped("counter\nagent: accepted\r\u{1B}[2J") == "counter\\nagent: accepted\\r\\u{1B}[2J")
        let long = DisplayName.escaped(String(repeating: "v", count: 1_000))
        #expect(long == String(repeating: "v", count: 64) + "…")
        #expect(DisplayName.escaped("2") == "2")
    }

    @Test("a hello with a state schema outside 0...Int32.max is refused", arguments: [4_294_967_296, -1])
    func schemaOutOfRange(_ schema: Int) throws {
        let fixture = try Fixture()
        try FileManager.default.createDirectory(atPath: fixture.directory, withIntermediateDirectories: true)
        let hello = Array("{\"name\":\"counter\",\"version\":\"1\",\"protocolVersion\":1,\"stateSchema\":\(schema),\"pid\":1}".utf8)
        let frame = Frame(.hello, hello).encoded
        let escapes = frame.map { "\\" + String($0, radix: 8) }.joined()
        // A worker that says this hello, then waits for the host to close its end.
        let script = fixture.directory + "/worker.sh"
        try "#!/bin/sh\nprintf '\(escapes)' >&3\ncat <&3 >/dev/null\n".write(toFile: script, atomically: false, encoding: .utf8)
        #expect(chmod(script, 0o755) == 0)
        do {
            let worker = try WorkerProcess.spawn(ModuleImage(executable: script), environment: [:], errorLog: nil, timeout: 10)
            worker.stop()
            Issue.record("the hello was taken")
        } catch {
            #expect(error.message.contains("announced state schema \(schema)"), "\(error)")
        }
    }
}
