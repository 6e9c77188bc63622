import Testing
@testable import Transport

@Suite("URL parsing")
struct URLTests {
    @Test("scheme, host, port and target", arguments: [
        ("http://example.com", RequestURL.Scheme.http, "example.com", 80, "/"),
        ("HTTPS://Example.COM/a/b?c=d#frag", .https, "example.com", 443, "/a/b?c=d"),
        ("http://127.0.0.1:8080/x%20y", .http, "127.0.0.1", 8080, "/x%20y"),
        ("https://[::1]:8443/root.json", .https, "::1", 8443, "/root.json"),
        ("http://[::1]/", .http, "::1", 80, "/"),
        ("http://host?q", .http, "host", 80, "/?q"),
        ("file:///tmp/a%20b", .file, "", 0, "/tmp/a b"),
        ("file://localhost/etc/hosts", .file, "", 0, "/etc/hosts"),
    ])
    func parses(text: String, scheme: RequestURL.Scheme, host: String, port: Int, target: String) throws {
        let url = try RequestURL(text)
        #expect(url.scheme == scheme)
        #expect(url.host == host)
        #expect(url.port == port)
        #expect(url.target == target)
    }

    @Test("rejected URLs", arguments: [
        "ftp://host/", "http:/host", "host/path", "http://", "http://:80/", "http://host:0/", "http://host:65536/",
        "http://host:8x/", "http://user@host/", "http://[::1/", "http://[::1]x/", "http://a:b:80/",
        "http://host/a b", "http://host/a\r\nX: y", "http://hôst/", "file://remote/etc/hosts", "file:///a%00b", "file:///a%zz",
    ])
    func rejects(text: String) {
        #expect(throws: TransportError.self) { try RequestURL(text) }
        #expect((try? RequestURL(text)) == nil)
    }

    @Test("Host header and URL text put brackets around IPv6 and leave out default ports")
    func hostHeader() throws {
        #expect(try RequestURL("http://[::1]:80/").hostHeader == "[::1]")
        #expect(try RequestURL("https://[::1]:8443/").hostHeader == "[::1]:8443")
        #expect(try RequestURL("http://a:81/x").text == "http://a:81/x")
    }

    @Test("Location headers resolve against the current URL")
    func resolving() throws {
        let base = try RequestURL("https://a.example:8443/dir/file?q=1")
        #expect(try base.resolving("other").text == "https://a.example:8443/dir/other")
        #expect(try base.resolving("/root").text == "https://a.example:8443/root")
        #expect(try base.resolving("//b.example/x").text == "https://b.example/x")
        #expect(try base.resolving("http://c.example/y").text == "http://c.example/y")
    }
}
