import Foundation
import TestSupport
import Testing
@testable import Transport

/// The forward proxy of `proxy.py` on loopback, with a log of what it was asked.
private final class TestProxy: @unchecked Sendable {
    let child: ChildServer
    let log: String
    var url: String { "http://127.0.0.1:\(child.port)" }

    init(_ arguments: [String] = []) throws {
        log = FileManager.default.temporaryDirectory.appendingPathComponent("autodev-proxy-\(UUID().uuidString.prefix(8)).log").path
        FileManager.default.createFile(atPath: log, contents: nil)
        child = try ChildServer(python: [TestServer.directory + "/proxy.py", "--log", log] + arguments, name: "proxy.py")
    }

    /// What it handled so far, a line each.
    var requests: [String] {
        ((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
    }

    deinit {
        child.stop()
        try? FileManager.default.removeItem(atPath: log)
    }
}

private func fetcher(_ environment: [String: String], caFile: String? = nil) throws -> Fetcher {
    var options = TransportOptions(stallTimeout: 5, caFile: caFile)
    options.proxies = try ProxySettings.fromEnvironment(environment)
    return Fetcher(options: options)
}

@Suite("Through a proxy, as curl reads the environment", .enabled(if: TestServer.python != nil && TestServer.openssl != nil, "needs python3 and openssl"))
struct ProxyTests {
    @Test("http goes through http_proxy as an absolute-form GET; the body is the same")
    func plainHTTP() throws {
        let server = try TestServer.plain.get()
        let proxy = try TestProxy()
        let body = try fetcher(["http_proxy": proxy.url]).fetchAll(server.url("/file"), maxBytes: 1 << 20)
        #expect(body == pattern(0..<100_000))
        #expect(proxy.requests == ["GET \(server.url("/file"))"])
    }

    @Test("https goes through a CONNECT tunnel, and the certificate is still checked against the origin's name")
    func tunnelledHTTPS() throws {
        let fixture = try TLSFixture.shared.get()
        let proxy = try TestProxy()
        let environment = ["https_proxy": proxy.url]
        let body = try fetcher(environment, caFile: fixture.caFile).fetchAll(fixture.server.url("/file", host: "localhost"), maxBytes: 1 << 20)
        #expect(body == pattern(0..<100_000))
        #expect(proxy.requests == ["CONNECT localhost:\(fixture.server.port)"])
        // The certificate names localhost only: the same server as 127.0.0.1 is refused, tunnel or not.
        let error = #expect(throws: TransportError.self) {
            try fetcher(environment, caFile: fixture.caFile).fetchAll(fixture.server.url("/file", host: "127.0.0.1"), maxBytes: 1 << 20)
        }
        #expect(error?.code == .tlsFailed, "\(String(describing: error))")
        #expect(proxy.requests.last == "CONNECT 127.0.0.1:\(fixture.server.port)")
    }

    @Test("credentials in the proxy's URL are sent (percent-decoded); a refusal names the proxy and says how to give them")
    func authentication() throws {
        let server = try TestServer.plain.get()
        let fixture = try TLSFixture.shared.get()
        let proxy = try TestProxy(["--auth", "user:p@ss"])
        let good = proxy.url.replacingOccurrences(of: "http://", with: "http://user:p%40ss@")
        #expect(try fetcher(["http_proxy": good]).fetchAll(server.url("/file"), maxBytes: 1 << 20) == pattern(0..<100_000))
        #expect(try fetcher(["https_proxy": good], caFile: fixture.caFile).fetchAll(fixture.server.url("/file", host: "localhost"), maxBytes: 1 << 20)
                == pattern(0..<100_000))
        let wrong = proxy.url.replacingOccurrences(of: "http://", with: "http://user:wrong@")
        for (environment, url, caFile) in [(["http_proxy": wrong], server.url("/file"), nil as String?),
                                           (["https_proxy": wrong], fixture.server.url("/file", host: "localhost"), fixture.caFile)] {
            let error = #expect(throws: TransportError.self) { try fetcher(environment, caFile: caFile).fetchAll(url, maxBytes: 1 << 20) }
            #expect(error?.message.contains("the proxy \(proxy.url) refused") == true, "\(String(describing: error))")
            #expect(error?.message.contains("407") == true && error?.message.contains("http://user:password@host:port") == true)
            #expect(error?.message.contains("wrong") == false, "the password was shown")
        }
    }

    @Test("a proxy that refuses the tunnel, or is not there, is named in the error")
    func refusals() throws {
        let fixture = try TLSFixture.shared.get()
        let proxy = try TestProxy(["--refuse-connect"])
        let url = fixture.server.url("/file", host: "localhost")
        let refused = #expect(throws: TransportError.self) { try fetcher(["https_proxy": proxy.url], caFile: fixture.caFile).fetchAll(url, maxBytes: 1 << 20) }
        #expect(refused?.message == "the proxy \(proxy.url) refused a tunnel to localhost:\(fixture.server.port): 403 Forbidden", "\(String(describing: refused))")
        let (fd, port) = try TestServer.refusingPort()
        defer { close(fd) }
        let absent = #expect(throws: TransportError.self) {
            try fetcher(["https_proxy": "127.0.0.1:\(port)"], caFile: fixture.caFile).fetchAll(url, maxBytes: 1 << 20)
        }
        #expect(absent?.code == .connectionFailed)
        #expect(absent?.message.hasPrefix("the proxy http://127.0.0.1:\(port): ") == true, "\(String(describing: absent))")
    }

    @Test("no_proxy: a host, a domain and the hosts under it, or *, go direct")
    func noProxy() throws {
        let server = try TestServer.plain.get()
        let proxy = try TestProxy()
        for list in ["127.0.0.1", "example.com, 127.0.0.1", "*", " 127.0.0.1 "] {
            #expect(try fetcher(["http_proxy": proxy.url, "no_proxy": list]).fetchAll(server.url("/file"), maxBytes: 1 << 20) == pattern(0..<100_000))
        }
        #expect(proxy.requests.isEmpty, "\(proxy.requests)")
        let settings = try ProxySettings.fromEnvironment(["https_proxy": proxy.url, "NO_PROXY": ".example.com"])
        #expect(settings.proxy(for: try RequestURL("https://example.com/x")) == nil)
        #expect(settings.proxy(for: try RequestURL("https://a.b.example.com/x")) == nil)
        #expect(settings.proxy(for: try RequestURL("https://notexample.com/x")) != nil)

        // Addresses match as addresses: whole, or inside a CIDR block; never by the end of their text.
        let addresses = try ProxySettings.fromEnvironment(["https_proxy": proxy.url, "no_proxy": "1.2.3, 10.0.0.0/8, 192.168.1.7, fd00::/8, [::1]"])
        for (host, direct) in [("4.1.2.3", false), ("1.2.3.4", false), ("10.200.3.4", true), ("11.0.0.1", false), ("192.168.1.7", true),
                               ("192.168.1.70", false), ("[fd12::1]", true), ("[fe80::1]", false), ("[::1]", true), ("[::2]", false)] {
            #expect((addresses.proxy(for: try RequestURL("https://\(host)/x")) == nil) == direct, "\(host)")
        }
        let bad = try ProxySettings.fromEnvironment(["https_proxy": proxy.url, "no_proxy": "10.0.0.0/33, 10.0.0.0/x, 10.0.0.0/, 10.0.0.0/-0, 10.0.0.0/+0, 10.0.0.0/ 8, 10.0.0.0/0008"])
        #expect(bad.proxy(for: try RequestURL("https://10.0.0.1/x")) != nil)
        // A trailing dot names the same host, on either side.
        let dotted = try ProxySettings.fromEnvironment(["https_proxy": proxy.url, "no_proxy": "localhost, example.org."])
        #expect(dotted.proxy(for: try RequestURL("https://localhost./x")) == nil)
        #expect(dotted.proxy(for: try RequestURL("https://a.example.org/x")) == nil)
        #expect(dotted.proxy(for: try RequestURL("https://example.com/x")) != nil)
    }

    @Test("which variables are read: http_proxy in lower case only, https_proxy before HTTPS_PROXY, all_proxy for both; bad URLs name the variable")
    func variables() throws {
        let http = try RequestURL("http://example.com/"), https = try RequestURL("https://example.com/")
        let upperOnly = try ProxySettings.fromEnvironment(["HTTP_PROXY": "http://evil:1"])
        #expect(upperOnly.proxy(for: http) == nil)
        let both = try ProxySettings.fromEnvironment(["https_proxy": "lower:2", "HTTPS_PROXY": "upper:3"])
        #expect(both.proxy(for: https)?.text == "http://lower:2")
        let all = try ProxySettings.fromEnvironment(["ALL_PROXY": "http://all"])
        #expect(all.proxy(for: http)?.text == "http://all:1080" && all.proxy(for: https)?.text == "http://all:1080")
        #expect(try ProxySettings.fromEnvironment([:]) == .direct)
        // A password never shows in a message, whatever is wrong with the URL.
        for url in ["http://user:s3cr3t@127.0.0.1:notaport", "socks5://user:s3cr3t@h:1", "http://user:s3%zzcr3t@h:1", "http://user:s3/cr3t@h:1"] {
            let error = #expect(throws: TransportError.self) { try ProxySettings.fromEnvironment(["https_proxy": url]) }
            #expect(error.map { "\($0) \($0.url)" }?.contains("s3") == false, "\(String(describing: error))")
            #expect(error?.message.contains("***@") == true, "\(String(describing: error))")
        }
        for (name, value, why) in [("https_proxy", "socks5://127.0.0.1:1080", "only http:// proxies are supported"),
                                   ("http_proxy", "http://bad host:1", "invalid URL"),
                                   ("all_proxy", "http://h:99999", "bad port"),
                                   ("https_proxy", "http://u:%zz@h:1", "bad percent escape")] {
            let error = #expect(throws: TransportError.self) { try ProxySettings.fromEnvironment([name: value]) }
            #expect(error?.code == .invalidURL)
            #expect(error?.message.contains("the environment variable \(name)") == true && error?.message.contains(why) == true,
                    "\(String(describing: error))")
        }
    }
}
