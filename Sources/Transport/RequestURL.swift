/// A URL taken apart for a request: `http`, `https` or `file`.
///
/// Parsed by hand and strictly: no user information, no spaces or control characters (nothing
/// that could end a request line), host names in ASCII, IPv6 literals in brackets. The path and
/// query of http(s) URLs are sent exactly as given, percent escapes included; a `file://` path
/// is percent-decoded.
package struct RequestURL: Sendable, Equatable {
    package enum Scheme: String, Sendable { case http, https, file }

    package var scheme: Scheme
    /// The host without brackets (`::1`), lowercased; empty for `file://`.
    package var host: String
    package var port: Int
    /// Path and query for the request line (`/a/b?c`); the decoded path for `file://`.
    package var target: String

    /// Parses `text`, or throws ``TransportError/Code/invalidURL``.
    package init(_ text: String) throws(TransportError) {
        func invalid(_ why: String) -> TransportError {
            TransportError(.invalidURL, url: text, message: "invalid URL: \(why)")
        }
        let bytes = Array(text.utf8)
        guard bytes.count <= 8192 else { throw invalid("longer than 8192 bytes") }
        guard bytes.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else {
            throw invalid("spaces, control or non-ASCII characters must be percent-encoded")
        }
        guard let colon = bytes.firstIndex(of: UInt8(ascii: ":")),
              bytes[colon...].starts(with: Array("://".utf8)),
              let scheme = Scheme(rawValue: String(decoding: bytes[..<colon], as: UTF8.self).lowercased())
        else { throw invalid("expected http://, https:// or file://") }
        self.scheme = scheme
        var rest = bytes[(colon + 3)...]
        if let hash = rest.firstIndex(of: UInt8(ascii: "#")) { rest = rest[..<hash] }
        let authorityEnd = rest.firstIndex { $0 == UInt8(ascii: "/") || $0 == UInt8(ascii: "?") } ?? rest.endIndex
        let authority = String(decoding: rest[..<authorityEnd], as: UTF8.self)
        var target = String(decoding: rest[authorityEnd...], as: UTF8.self)
        if target.isEmpty || target.hasPrefix("?") { target = "/" + target }

        if scheme == .file {
            guard authority.isEmpty || authority.lowercased() == "localhost" else {
                throw invalid("file URLs name a local path (file:///path)")
            }
            if let query = target.firstIndex(of: "?") { target = String(target[..<query]) }
            guard let path = Self.percentDecoded(target) else { throw invalid("bad percent escape in the path") }
            host = ""
            port = 0
            self.target = path
            return
        }
        guard !authority.contains("@") else { throw invalid("user information is not supported") }
        var hostPart = Substring(authority)
        var portPart: Substring?
        if hostPart.hasPrefix("[") {
            guard let close = hostPart.firstIndex(of: "]") else { throw invalid("unclosed [ in the host") }
            let after = hostPart[hostPart.index(after: close)...]
            hostPart = hostPart[hostPart.index(after: hostPart.startIndex)..<close]
            guard !hostPart.isEmpty, hostPart.allSatisfy({ $0.isHexDigit || $0 == ":" || $0 == "." }) else {
                throw invalid("bad IPv6 address")
            }
            if !after.isEmpty {
                guard after.hasPrefix(":") else { throw invalid("unexpected text after the IPv6 address") }
                portPart = after.dropFirst()
            }
        } else {
            if let colon = hostPart.lastIndex(of: ":") {
                portPart = hostPart[hostPart.index(after: colon)...]
                hostPart = hostPart[..<colon]
            }
            guard !hostPart.isEmpty else { throw invalid("no host") }
            guard hostPart.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" || $0 == "." || $0 == "_" }) else {
                throw invalid("bad character in the host")
            }
        }
        host = hostPart.lowercased()
        if let portPart, !portPart.isEmpty {
            guard portPart.count <= 5, portPart.allSatisfy(\.isASCII), let number = Int(portPart), (1...65535).contains(number) else {
                throw invalid("bad port")
            }
            port = number
        } else {
            port = scheme == .https ? 443 : 80
        }
        self.target = target
    }

    /// The host as written in a URL or a `Host` header: brackets around IPv6 addresses.
    package var hostForURL: String { host.contains(":") ? "[\(host)]" : host }

    /// The `Host` header: the port only when it is not the scheme's default.
    package var hostHeader: String {
        let defaultPort = scheme == .https ? 443 : 80
        return port == defaultPort ? hostForURL : "\(hostForURL):\(port)"
    }

    /// The URL written back out.
    package var text: String {
        scheme == .file ? "file://" + target : "\(scheme.rawValue)://\(hostHeader)\(target)"
    }

    /// The URL a `Location` header points to, relative to this one.
    package func resolving(_ location: String) throws(TransportError) -> RequestURL {
        if let colon = location.firstIndex(of: ":"), location[colon...].hasPrefix("://") {
            return try RequestURL(location)
        }
        if location.hasPrefix("//") { return try RequestURL(scheme.rawValue + ":" + location) }
        if location.hasPrefix("/") { return try RequestURL("\(scheme.rawValue)://\(hostHeader)\(location)") }
        // A relative reference: replace the last segment of the path (the query goes with it).
        var path = target
        if let query = path.firstIndex(of: "?") { path = String(path[..<query]) }
        let directory = path[...(path.lastIndex(of: "/") ?? path.startIndex)]
        return try RequestURL("\(scheme.rawValue)://\(hostHeader)\(directory)\(location)")
    }

    private static func percentDecoded(_ text: String) -> String? {
        percentDecodedBytes(text).map { String(decoding: $0, as: UTF8.self) }
    }

    /// `text` with its percent escapes decoded; nil for a bad escape or an escaped NUL.
    static func percentDecodedBytes(_ text: some StringProtocol) -> [UInt8]? {
        var bytes: [UInt8] = []
        var iterator = Array(text.utf8).makeIterator()
        while let byte = iterator.next() {
            guard byte == UInt8(ascii: "%") else {
                bytes.append(byte)
                continue
            }
            guard let high = iterator.next().flatMap(hexValue), let low = iterator.next().flatMap(hexValue) else { return nil }
            let decoded = high << 4 | low
            guard decoded != 0 else { return nil }
            bytes.append(decoded)
        }
        return bytes
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}
