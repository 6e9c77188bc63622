import Foundation
import Testing
@testable import Transport

private let hasPython = TestServer.python != nil

/// The shared plain server, or a failure naming why it did not start.
private func server() throws -> TestServer { try TestServer.plain.get() }

/// Runs `body` and returns the ``TransportError`` it throws (a failed expectation if it throws nothing else).
private func transportError(_ body: () throws -> Void) -> TransportError? {
    #expect(throws: TransportError.self) { try body() }
}

@Suite("HTTP downloads from a loopback server", .enabled(if: hasPython, "needs python3 for the loopback HTTP server"))
struct HTTPTests {
    let fetcher = Fetcher(options: TransportOptions(connectTimeout: 5, stallTimeout: 5))

    @Test("a file with Content-Length arrives whole, with its status and length")
    func plainFile() throws {
        let server = try server()
        var received: [UInt8] = []
        let response = try fetcher.fetch(server.url("/file"), maxBytes: 1 << 20) { received.append(contentsOf: $0) }
        #expect(received == pattern(0..<100_000))
        #expect(response == FetchResponse(status: 200, url: server.url("/file"), contentLength: 100_000, resumed: false, receivedBytes: 100_000))
    }

    @Test("the request is a GET with Host, Connection: close and no Range from offset 0")
    func requestHeaders() throws {
        let server = try server()
        let text = String(decoding: try fetcher.fetchAll(server.url("/echo-request?a=%20b"), maxBytes: 1 << 16), as: UTF8.self)
        #expect(text.hasPrefix("GET /echo-request?a=%20b\n"))
        #expect(text.contains("Host: 127.0.0.1:\(server.port)\n"))
        #expect(text.contains("Connection: close\n"))
        #expect(text.contains("User-Agent: autodev\n"))
        #expect(!text.contains("Range"))
    }

    @Test("a large body streams in pieces and arrives exactly")
    func largeFile() throws {
        let server = try server()
        var count = 0
        var pieces = 0
        var matches = true
        try fetcher.fetch(server.url("/large?size=20000000"), maxBytes: 20_000_000) { piece in
            for (index, byte) in piece.enumerated() where byte != UInt8(truncatingIfNeeded: count + index) { matches = false }
            count += piece.count
            pieces += 1
        }
        #expect(count == 20_000_000)
        #expect(matches)
        #expect(pieces > 1)
    }

    @Test("a chunked body with an extension and trailers is reassembled")
    func chunked() throws {
        let server = try server()
        var received: [UInt8] = []
        let response = try fetcher.fetch(server.url("/chunked"), maxBytes: 1 << 20) { received.append(contentsOf: $0) }
        #expect(received == pattern(0..<74_112))
        #expect(response.contentLength == nil)
        #expect(response.receivedBytes == 74_112)
    }

    @Test("a long chunked body, its size lines split across reads, is reassembled")
    func chunkedLarge() throws {
        #expect(try fetcher.fetchAll(try server().url("/chunked-large"), maxBytes: 300 * 4097) == pattern(0..<(300 * 4097)))
    }

    @Test("a body without length ends with the connection")
    func noLength() throws {
        #expect(try fetcher.fetchAll(try server().url("/no-length"), maxBytes: 5000) == pattern(0..<5000))
    }

    @Test("an interim 100 Continue is skipped")
    func interim() throws {
        #expect(try fetcher.fetchAll(try server().url("/interim"), maxBytes: 100) == pattern(0..<100))
    }

    @Test("404 is notFound, 403 forbidden, 500 an httpStatus, each with the status and the URL")
    func statusErrors() throws {
        let server = try server()
        let missing = transportError { _ = try fetcher.fetchAll(server.url("/missing"), maxBytes: 100) }
        #expect(missing?.code == .notFound)
        #expect(missing?.status == 404)
        #expect(missing?.description == "GET \(server.url("/missing")): 404 Not Found")
        let forbidden = transportError { _ = try fetcher.fetchAll(server.url("/forbidden"), maxBytes: 100) }
        #expect(forbidden?.code == .forbidden)
        #expect(forbidden?.status == 403)
        let failed = transportError { _ = try fetcher.fetchAll(server.url("/error"), maxBytes: 100) }
        #expect(failed?.code == .httpStatus)
        #expect(failed?.status == 500)
        #expect(failed?.description == "GET \(server.url("/error")): 500 Internal Server Error")
    }

    @Test("redirects are followed: absolute path, absolute URL, relative reference, a chain of 5")
    func redirects() throws {
        let server = try server()
        for path in ["/redirect", "/redirect-absolute", "/redirect-relative", "/chain/5"] {
            var received: [UInt8] = []
            let response = try fetcher.fetch(server.url(path), maxBytes: 1 << 20) { received.append(contentsOf: $0) }
            #expect(received == pattern(0..<100_000), "\(path)")
            #expect(response.url == server.url("/file"), "\(path)")
        }
    }

    @Test("one redirect more than the limit fails; so does a loop, and a redirect to file://")
    func redirectLimits() throws {
        let server = try server()
        let tooMany = transportError { _ = try fetcher.fetchAll(server.url("/chain/6"), maxBytes: 1 << 20) }
        #expect(tooMany?.code == .tooManyRedirects)
        let strict = Fetcher(options: TransportOptions(maxRedirects: 0))
        #expect(transportError { _ = try strict.fetchAll(server.url("/redirect"), maxBytes: 1 << 20) }?.code == .tooManyRedirects)
        let loop = transportError { _ = try fetcher.fetchAll(server.url("/loop-a"), maxBytes: 1 << 20) }
        #expect(loop?.code == .redirectLoop)
        #expect(loop?.message == "redirect loop: \(server.url("/loop-a")) was visited before")
        #expect(loop?.url == server.url("/loop-b"))
        #expect(transportError { _ = try fetcher.fetchAll(server.url("/to-file"), maxBytes: 1 << 20) }?.code == .insecureRedirect)
    }

    @Test("a stall after the headers times out after the stall timeout")
    func stall() throws {
        let server = try server()
        let quick = Fetcher(options: TransportOptions(stallTimeout: 1))
        var received = 0
        let error = transportError { try quick.fetch(server.url("/stall"), maxBytes: 1000) { received += $0.count } }
        #expect(error?.code == .timedOut)
        #expect(received == 10)
        #expect(transportError { _ = try quick.fetchAll(server.url("/stall-head"), maxBytes: 1000) }?.code == .timedOut)
    }

    @Test("a body trickling in under the stall timeout ends at the total timeout")
    func totalTimeout() throws {
        let server = try server()
        let bounded = Fetcher(options: TransportOptions(stallTimeout: 10, totalTimeout: 1))
        var received = 0
        let error = transportError { try bounded.fetch(server.url("/slow"), maxBytes: 1000) { received += $0.count } }
        #expect(error?.code == .timedOut)
        #expect(error?.message == "not complete within the total timeout of 1 s")
        #expect(received > 0 && received < 1000)
    }

    @Test("endless data without a length stops at the cap, as soon as it is passed")
    func capWhileReading() throws {
        let server = try server()
        var received = 0
        let error = transportError { try fetcher.fetch(server.url("/endless"), maxBytes: 1 << 20) { received += $0.count } }
        #expect(error?.code == .tooLarge)
        #expect(received <= 1 << 20)
        let chunked = transportError { try fetcher.fetch(server.url("/endless-chunked"), maxBytes: 1 << 20) { _ in } }
        #expect(chunked?.code == .tooLarge)
    }

    @Test("a server sending more than its Content-Length yields exactly the announced bytes")
    func moreThanAnnounced() throws {
        #expect(try fetcher.fetchAll(try server().url("/more-than-announced"), maxBytes: 1 << 20) == pattern(0..<1000))
    }

    @Test("a Content-Length above the cap fails before any body byte is passed on")
    func announcedTooLarge() throws {
        let server = try server()
        var received = 0
        let error = transportError { try fetcher.fetch(server.url("/huge-length"), maxBytes: 1 << 20) { received += $0.count } }
        #expect(error?.code == .tooLarge)
        #expect(received == 0)
        #expect(transportError { _ = try fetcher.fetchAll(server.url("/file"), maxBytes: 99_999) }?.code == .tooLarge)
        #expect(try fetcher.fetchAll(server.url("/file"), maxBytes: 100_000).count == 100_000)
    }

    @Test("a body shorter than its Content-Length is truncated, not a success")
    func truncated() throws {
        let error = transportError { _ = try fetcher.fetchAll(try server().url("/short"), maxBytes: 1 << 20) }
        #expect(error?.code == .truncated)
    }

    @Test("a Range request continues at the offset with 206")
    func resume() throws {
        let server = try server()
        var received: [UInt8] = []
        let response = try fetcher.fetch(server.url("/range"), maxBytes: 100_000, offset: 40_000) { received.append(contentsOf: $0) }
        #expect(received == pattern(40_000..<100_000))
        #expect(response.status == 206)
        #expect(response.resumed)
        #expect(response.contentLength == 60_000)
        let complete = try fetcher.fetch(server.url("/range"), maxBytes: 100_000, offset: 100_000) { _ in Issue.record("no body expected") }
        #expect(complete.status == 416 && complete.resumed && complete.receivedBytes == 0)
        let pastCap = transportError { _ = try fetcher.fetch(server.url("/range"), maxBytes: 100_000, offset: 100_001) { _ in } }
        #expect(pastCap?.code == .tooLarge)
    }

    @Test("a server ignoring Range is reported before any byte, so the caller starts again from 0")
    func rangeIgnored() throws {
        let server = try server()
        var received = 0
        let error = transportError { try fetcher.fetch(server.url("/ignore-range"), maxBytes: 1 << 20, offset: 500) { received += $0.count } }
        #expect(error?.code == .rangeIgnored)
        #expect(error?.status == 200)
        #expect(received == 0)
        #expect(transportError { _ = try fetcher.fetch(server.url("/wrong-range"), maxBytes: 1 << 20, offset: 500) { _ in } }?.code == .protocolError)
    }

    @Test("malformed responses and oversized header blocks are protocol errors")
    func malformed() throws {
        let server = try server()
        let flood = transportError { _ = try fetcher.fetchAll(server.url("/header-flood"), maxBytes: 100) }
        #expect(flood?.code == .protocolError)
        #expect(flood?.message == "response header block longer than 65536 bytes")
        #expect(transportError { _ = try fetcher.fetchAll(server.url("/bad-status"), maxBytes: 100) }?.code == .protocolError)
    }

    @Test("an error thrown by the body callback ends the transfer and is rethrown")
    func callbackError() throws {
        #expect(throws: Failure.self) { try fetcher.fetch(try server().url("/file"), maxBytes: 1 << 20) { _ in throw Failure("stop") } }
    }

    @Test("IPv6 loopback in brackets")
    func ipv6() throws {
        let server = try TestServer.ipv6.get()
        #expect(server.url("/file").hasPrefix("http://[::1]:"))
        #expect(try fetcher.fetchAll(server.url("/file"), maxBytes: 1 << 20) == pattern(0..<100_000))
    }

    @Test("a refused connection is connectionFailed, naming the host and port")
    func refused() throws {
        // A port held bound but not listening: refused, and nobody else can take it meanwhile.
        let (held, probe) = try TestServer.refusingPort()
        defer { close(held) }
        let error = transportError { _ = try fetcher.fetchAll("http://127.0.0.1:\(probe)/", maxBytes: 10) }
        #expect(error?.code == .connectionFailed)
        #expect(error?.message == "Failed to connect to \"127.0.0.1:\(probe)\": Connection refused")
    }

    @Test("a name that does not resolve is connectionFailed")
    func unresolvable() {
        let error = transportError { _ = try fetcher.fetchAll("http://name.invalid/", maxBytes: 10) }
        #expect(error?.code == .connectionFailed)
        #expect(error?.message.hasPrefix("Failed to resolve \"name.invalid:80\"") == true)
    }
}
