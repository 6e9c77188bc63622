import Foundation
import Testing
@testable import Transport

private let hasTools = TestServer.python != nil && TestServer.openssl != nil

/// A test CA, a certificate it signed for `localhost` only, and an https server presenting it.
struct TLSFixture: Sendable {
    let directory: String
    let server: TestServer
    var caFile: String { directory + "/ca.pem" }

    static let shared: Result<TLSFixture, any Error> = Result { try TLSFixture() }

    init() throws {
        guard let openssl = TestServer.openssl else { throw Failure("openssl is not installed") }
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("autodev-tls-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try "subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n"
            .write(toFile: directory + "/server.ext", atomically: true, encoding: .utf8)
        let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
        for arguments in [
            ["req", "-x509"] + ec + ["-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=autodev test CA"],
            ["req"] + ec + ["-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=localhost"],
            ["x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
             "-out", "server.pem", "-days", "2", "-extfile", "server.ext"],
        ] {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: openssl)
            process.arguments = arguments
            process.currentDirectoryURL = URL(fileURLWithPath: directory)
            process.standardError = FileHandle.nullDevice
            process.standardOutput = FileHandle.nullDevice
            try process.run()
            process.waitUntilExit()
            guard process.terminationStatus == 0 else { throw Failure("openssl \(arguments.joined(separator: " ")) failed") }
        }
        server = try TestServer(arguments: ["--tls", directory + "/server.pem", directory + "/server.key"], scheme: "https")
        // The server has read its key and certificate: only the CA file is needed from now on.
        for name in try FileManager.default.contentsOfDirectory(atPath: directory) where name != "ca.pem" {
            try FileManager.default.removeItem(atPath: directory + "/" + name)
        }
    }
}

@Suite("HTTPS against a loopback server with a test CA", .enabled(if: hasTools, "needs python3 and the openssl command"))
struct TLSTests {
    @Test("with the CA file, the body arrives over TLS; the name is checked and sent as SNI")
    func trusted() throws {
        let fixture = try TLSFixture.shared.get()
        let fetcher = Fetcher(options: TransportOptions(stallTimeout: 5, caFile: fixture.caFile))
        #expect(try fetcher.fetchAll(fixture.server.url("/file", host: "localhost"), maxBytes: 1 << 20) == pattern(0..<100_000))
        #expect(try fetcher.fetchAll(fixture.server.url("/chunked-large", host: "localhost"), maxBytes: 300 * 4097) == pattern(0..<(300 * 4097)))
        var received: [UInt8] = []
        let resumed = try fetcher.fetch(fixture.server.url("/range", host: "localhost"), maxBytes: 100_000, offset: 99_000) {
            received.append(contentsOf: $0)
        }
        #expect(resumed.status == 206 && received == pattern(99_000..<100_000))
        let echo = String(decoding: try fetcher.fetchAll(fixture.server.url("/echo-request", host: "localhost"), maxBytes: 1 << 16), as: UTF8.self)
        #expect(echo.contains("Host: localhost:\(fixture.server.port)\n"))
        #expect(echo.hasSuffix("SNI: localhost\n"))
    }

    @Test("without the CA file, the certificate is not trusted")
    func untrusted() throws {
        let fixture = try TLSFixture.shared.get()
        let error = #expect(throws: TransportError.self) {
            _ = try Fetcher().fetchAll(fixture.server.url("/file", host: "localhost"), maxBytes: 1 << 20)
        }
        #expect(error?.code == .tlsFailed)
        #expect(error?.message.hasPrefix("certificate verify failed: ") == true)
    }

    @Test("a certificate for localhost does not pass for 127.0.0.1")
    func nameMismatch() throws {
        let fixture = try TLSFixture.shared.get()
        let fetcher = Fetcher(options: TransportOptions(caFile: fixture.caFile))
        let error = #expect(throws: TransportError.self) { _ = try fetcher.fetchAll(fixture.server.url("/file"), maxBytes: 1 << 20) }
        #expect(error?.code == .tlsFailed)
        #expect(error?.message == "certificate verify failed: IP address mismatch")
    }

    @Test("a redirect from https to http is refused")
    func downgrade() throws {
        let fixture = try TLSFixture.shared.get()
        let fetcher = Fetcher(options: TransportOptions(caFile: fixture.caFile))
        let error = #expect(throws: TransportError.self) {
            _ = try fetcher.fetchAll(fixture.server.url("/redirect-absolute", host: "localhost"), maxBytes: 1 << 20)
        }
        #expect(error?.code == .insecureRedirect)
    }

    @Test("a stall inside TLS times out")
    func stall() throws {
        let fixture = try TLSFixture.shared.get()
        let fetcher = Fetcher(options: TransportOptions(stallTimeout: 1, caFile: fixture.caFile))
        let error = #expect(throws: TransportError.self) {
            _ = try fetcher.fetchAll(fixture.server.url("/stall", host: "localhost"), maxBytes: 1000)
        }
        #expect(error?.code == .timedOut)
    }

    @Test("a CA file that does not exist is named in the error")
    func missingCAFile() throws {
        let fixture = try TLSFixture.shared.get()
        let fetcher = Fetcher(options: TransportOptions(caFile: fixture.directory + "/absent.pem"))
        let error = #expect(throws: TransportError.self) {
            _ = try fetcher.fetchAll(fixture.server.url("/file", host: "localhost"), maxBytes: 1 << 20)
        }
        #expect(error?.code == .tlsFailed)
        #expect(error?.message.hasPrefix("cannot load the CA file \"\(fixture.directory)/absent.pem\"") == true)
    }
}

@Suite("Loading OpenSSL")
struct TLSLoadingTests {
    @Test("a missing library is tlsUnavailable, naming it and the package to install")
    func missingLibrary() {
        let error = #expect(throws: TransportError.self) {
            try TLSConnection.load(url: "https://example.com/", ssl: "libssl.so.0.404", crypto: "libcrypto.so.0.404")
        }
        #expect(error?.code == .tlsUnavailable)
        #expect(error?.message == "HTTPS needs libcrypto.so.0.404 (OpenSSL 3): not found; install the libssl3 package")
    }
}
