import Integrity
import Platform
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// An HTTP proxy: `http://[user:password@]host[:port]` (port 1080 when none is given, as curl).
public struct Proxy: Sendable, Equatable {
    public var host: String
    public var port: Int
    /// `Proxy-Authorization: Basic …` when the URL names a user.
    var authorization: String?
    /// The proxy's URL without its credentials, for messages.
    public var text: String

    /// Parses a proxy URL; a URL without a scheme is taken as `http://`, as curl does.
    /// - Parameter source: where the URL came from, for the error ("the environment variable https_proxy").
    /// - Throws: ``TransportError/Code/invalidURL`` naming `source`, for an https or SOCKS proxy
    ///   (not supported), a bad host or port, or a bad percent escape in the credentials.
    public init(url: String, source: String) throws(TransportError) {
        func invalid(_ why: String) -> TransportError {
            TransportError(.invalidURL, url: Self.redacted(url), message: "\(source) is not a usable proxy: \(why)")
        }
        var rest = Substring(url)
        if let colon = rest.firstIndex(of: ":"), rest[colon...].hasPrefix("://") {
            let scheme = rest[..<colon].lowercased()
            guard scheme == "http" else {
                throw invalid("only http:// proxies are supported (CONNECT carries https through them), not \(scheme)://")
            }
            rest = rest[rest.index(colon, offsetBy: 3)...]
        }
        if let slash = rest.firstIndex(of: "/") { rest = rest[..<slash] }
        var credentials: Substring?
        if let at = rest.lastIndex(of: "@") {
            credentials = rest[..<at]
            rest = rest[rest.index(after: at)...]
        }
        let parsed: RequestURL
        do {
            parsed = try RequestURL("http://" + rest)
        } catch {
            throw invalid(error.message)
        }
        host = parsed.host
        let hasPort = rest.hasPrefix("[") ? rest.contains("]:") : rest.contains(":")
        port = hasPort ? parsed.port : 1080
        text = "http://\(parsed.hostForURL):\(port)"
        if let credentials {
            guard let decoded = RequestURL.percentDecodedBytes(credentials) else { throw invalid("bad percent escape in the user or password") }
            authorization = "Basic " + Base64.encode(decoded)
        }
    }
}

extension Proxy {
    /// `url` for a message: escaped, and a user and password replaced by `***`.
    static func redacted(_ url: String) -> String {
        var text = Substring(url)
        var scheme = Substring("")
        if let colon = text.firstIndex(of: ":"), text[colon...].hasPrefix("://") {
            scheme = text[..<text.index(colon, offsetBy: 3)]
            text = text[text.index(colon, offsetBy: 3)...]
        }
        if let at = text.lastIndex(of: "@") { text = "***@" + text[text.index(after: at)...] }
        return TerminalText.escaped(String(scheme + text), limit: 200)
    }
}

/// Which proxy each URL goes through, read from the environment as curl reads it: `http_proxy`
/// (lower case only: a CGI program's `HTTP_PROXY` comes from a request header), `https_proxy`
/// or `HTTPS_PROXY`, then `all_proxy` or `ALL_PROXY` for either scheme; `no_proxy` or `NO_PROXY`
/// lists hosts reached directly: `*` for all, a name for itself and every name under it (a
/// leading dot is optional), an IP address for itself, a CIDR block (`10.0.0.0/8`) for the
/// addresses in it. Lower case wins where both are set.
public struct ProxySettings: Sendable, Equatable {
    public var http: Proxy?
    public var https: Proxy?
    public var noProxy: [String]

    /// No proxy at all.
    public static let direct = ProxySettings(http: nil, https: nil, noProxy: [])

    public init(http: Proxy?, https: Proxy?, noProxy: [String]) {
        self.http = http
        self.https = https
        self.noProxy = noProxy
    }

    /// The settings `environment` holds (this process's when nil).
    /// - Throws: ``TransportError/Code/invalidURL`` naming the variable whose URL is unusable.
    public static func fromEnvironment(_ environment: [String: String]? = nil) throws(TransportError) -> ProxySettings {
        func value(_ names: String...) -> (name: String, value: String)? {
            for name in names {
                let found = (environment.map { $0[name] } ?? ProcessControl.environment(name)).map(trimmed)
                if let found, !found.isEmpty { return (name, found) }
            }
            return nil
        }
        func proxy(_ names: String...) throws(TransportError) -> Proxy? {
            for name in names {
                if let (variable, url) = value(name) { return try Proxy(url: url, source: "the environment variable \(variable) (\"\(Proxy.redacted(url))\")") }
            }
            return nil
        }
        let all = try proxy("all_proxy", "ALL_PROXY")
        let noProxy = value("no_proxy", "NO_PROXY")?.value.split(separator: ",").map { (item: Substring) -> String in
            var entry = trimmed(String(item)).lowercased()
            if entry.hasPrefix("[") && entry.hasSuffix("]") { entry = String(entry.dropFirst().dropLast()) }
            while entry.hasPrefix(".") { entry.removeFirst() }
            return entry
        }.filter { !$0.isEmpty } ?? []
        return ProxySettings(http: try proxy("http_proxy") ?? all, https: try proxy("https_proxy", "HTTPS_PROXY") ?? all, noProxy: noProxy)
    }

    /// The proxy `url` goes through, or nil to connect directly.
    func proxy(for url: RequestURL) -> Proxy? {
        let proxy = url.scheme == .https ? https : url.scheme == .http ? http : nil
        guard let proxy else { return nil }
        let direct = noProxy.contains { Self.bypasses($0, host: url.host) }
        return direct ? nil : proxy
    }

    /// Whether the `no_proxy` entry `entry` covers `host`: `*` every host; an address (IPv4 or
    /// IPv6) or a block of them (`10.0.0.0/8`, `fd00::/8`) the addresses in it, never by the
    /// end of their text (`1.2.3` is no suffix of `4.1.2.3`); a name itself and the names under it.
    static func bypasses(_ entry: String, host: String) -> Bool {
        if entry == "*" { return true }
        if let address = IPAddress(host) {
            let parts = entry.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
            guard let network = IPAddress(String(parts[0])), network.bytes.count == address.bytes.count else { return false }
            // A prefix length is 1 to 3 ASCII digits (no sign, no space).
            let length = parts.count == 2 ? parts[1] : nil
            if let length, length.isEmpty || length.count > 3 || !length.utf8.allSatisfy({ (0x30...0x39).contains($0) }) { return false }
            let bits = length.flatMap { Int($0) } ?? network.bytes.count * 8
            guard (0...network.bytes.count * 8).contains(bits) else { return false }
            return network.hasPrefix(of: address, bits: bits)
        }
        // A name's trailing dot (the root) does not make it another name.
        let name = host.hasSuffix(".") ? String(host.dropLast()) : host
        let suffix = entry.hasSuffix(".") ? String(entry.dropLast()) : entry
        guard !suffix.isEmpty else { return false }
        return name == suffix || name.hasSuffix("." + suffix)
    }
}

/// An IPv4 or IPv6 address read from its text (`inet_pton`), as its bytes.
struct IPAddress: Equatable {
    let bytes: [UInt8]

    init?(_ text: String) {
        var buffer = [UInt8](repeating: 0, count: 16)
        if text.contains(":") {
            guard inet_pton(AF_INET6, text, &buffer) == 1 else { return nil }
            bytes = buffer
        } else {
            guard text.first?.isNumber == true, inet_pton(AF_INET, text, &buffer) == 1 else { return nil }
            bytes = Array(buffer.prefix(4))
        }
    }

    /// Whether `other`'s first `bits` bits are this address's.
    func hasPrefix(of other: IPAddress, bits: Int) -> Bool {
        for index in bytes.indices {
            let remaining = bits - index * 8
            if remaining <= 0 { return true }
            let mask: UInt8 = remaining >= 8 ? 0xFF : ~(0xFF >> UInt8(remaining))
            if bytes[index] & mask != other.bytes[index] & mask { return false }
        }
        return true
    }
}

/// `text` without leading and trailing spaces and tabs.
private func trimmed(_ text: String) -> String {
    String(text.drop { $0 == " " || $0 == "\t" }.reversed().drop { $0 == " " || $0 == "\t" }.reversed())
}
