import Foundation
import Testing

@Suite("The verification sandbox holds")
struct SandboxTests {
    /// A candidate script that runs `probe` (shell) and reports its output as a check's detail.
    func candidate(_ harness: Harness, _ name: String, probe: String) throws -> String {
        try harness.script(name, """
        result=$( { \(probe) ; } 2>&1 | tr -d '"\\\\' | tr '\\n' ' ')
        printf '{"program":"autodev","version":"9.9.9","protocolVersion":1,"checks":[{"name":"probe","passed":true,"detail":"%s"}]}\\n' "$result"
        """)
    }

    /// Runs a dry-run upgrade to `candidate` and returns the probe's detail and the isolation list.
    func verify(_ harness: Harness, _ candidate: String, extra: [String] = []) throws -> (detail: String, isolation: [String]) {
        let result = try harness.run(["self-upgrade", "--from-binary", candidate, "--dry-run", "--json"] + extra)
        #expect(result.status == 0, "\(result.stderr)")
        let outcome = try harness.json(result.stdout)
        let verification = try #require(outcome["verification"] as? [String: Any])
        let checks = (verification["report"] as? [String: Any])?["checks"] as? [[String: Any]]
        return (checks?.first?["detail"] as? String ?? "", verification["isolation"] as? [String] ?? [])
    }

    @Test("a candidate cannot reach the network, not even loopback")
    func network() throws {
        let harness = try Harness()
        defer { harness.cleanUp() }
        _ = try harness.initialize()
        let listener = try LoopbackListener()
        defer { listener.close() }
        let script = try candidate(harness, "network", probe: "if echo hello > /dev/tcp/127.0.0.1/\(listener.port); then echo reached; else echo blocked; fi")
        // /dev/tcp is bash's: make the script run under bash.
        let text = try String(contentsOfFile: script, encoding: .utf8).replacingOccurrences(of: "#!/bin/sh", with: "#!/bin/bash")
        try text.write(toFile: script, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: script)
        let (detail, isolation) = try verify(harness, script)
        #expect(isolation.contains("network namespace (no network)"))
        #expect(detail.contains("blocked"), "\(detail)")
        #expect(!listener.acceptedConnection(), "the candidate reached a loopback listener")
    }

    @Test("a candidate cannot write to the real HOME or the live home")
    func writes() throws {
        let harness = try Harness()
        defer { harness.cleanUp() }
        _ = try harness.initialize()
        let realHome = harness.root.path // the HOME autodev runs with
        let targets = [realHome + "/escaped", harness.home + "/escaped", harness.home + "/versions/escaped", harness.home + "/state/autodev.json"]
        let before = try harness.snapshot()
        let probe = targets.map { "if echo x >> \($0); then echo wrote \($0); else echo refused; fi" }.joined(separator: "; ")
        let (detail, isolation) = try verify(harness, try candidate(harness, "writer", probe: probe))
        #expect(isolation.contains("read-only live home and HOME"))
        #expect(!detail.contains("wrote"), "\(detail)")
        for target in targets.prefix(3) { #expect(!FileManager.default.fileExists(atPath: target), "\(target) was written") }
        #expect(try harness.snapshot() == before)
    }

    @Test("a child that detaches from the candidate dies with it")
    func outlivingChild() throws {
        let harness = try Harness()
        defer { harness.cleanUp() }
        _ = try harness.initialize()
        let marker = "/tmp/autodev-escaped-\(UUID().uuidString.prefix(8))"
        defer { try? FileManager.default.removeItem(atPath: marker) }
        let probe = "setsid sh -c 'sleep 2; touch \(marker)' </dev/null >/dev/null 2>&1 & echo started"
        let (detail, isolation) = try verify(harness, try candidate(harness, "forker", probe: probe))
        #expect(detail.contains("started"))
        #expect(isolation.contains("pid namespace (everything it starts dies with it)"))
        sleep(4)
        #expect(!FileManager.default.fileExists(atPath: marker), "a detached child outlived the candidate")
    }

    @Test("a candidate that loops forever is killed at the timeout and reported")
    func loopForever() throws {
        let harness = try Harness()
        defer { harness.cleanUp() }
        _ = try harness.initialize()
        let script = try harness.script("spinner", "while :; do :; done")
        let before = try harness.snapshot()
        let result = try harness.run(["self-upgrade", "--from-binary", script, "--dry-run", "--timeout", "2"])
        #expect(result.status == 1)
        #expect(result.stderr.contains("did not finish within 2 s and was killed"), "\(result.stderr)")
        #expect(try harness.snapshot() == before)
    }
}

/// A TCP listener on 127.0.0.1 that remembers whether anything connected.
final class LoopbackListener {
    let descriptor: Int32
    let port: UInt16

    init() throws {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        self.descriptor = descriptor
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        try #require(bound == 0 && listen(descriptor, 8) == 0)
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(descriptor, $0, &length) }
        }
        self.port = UInt16(bigEndian: address.sin_port)
        _ = fcntl(descriptor, F_SETFL, O_NONBLOCK)
    }

    func acceptedConnection() -> Bool {
        let connection = accept(descriptor, nil, nil)
        if connection >= 0 { Glibc.close(connection) }
        return connection >= 0
    }

    func close() { Glibc.close(descriptor) }
}
