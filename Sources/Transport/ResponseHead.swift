/// The status line and headers of an HTTP/1.x response.
struct ResponseHead {
    /// Largest header block accepted (status line, headers, and the blank line).
    static let limit = 64 * 1024

    var status: Int
    var reason: String
    /// Header names lowercased, values trimmed, in the order received.
    var headers: [(name: String, value: String)]

    /// All values of a header (case-insensitive name).
    func values(_ name: String) -> [String] {
        headers.filter { $0.name == name }.map(\.value)
    }

    /// The single value of a header, or nil.
    func value(_ name: String) -> String? { values(name).last }

    /// Reads one head from `reader`, within ``limit`` bytes.
    /// - Throws: ``TransportError/Code/protocolError`` for a malformed or oversized head,
    ///   ``TransportError/Code/truncated`` when the connection closes in it.
    static func read(from reader: ConnectionReader) throws(TransportError) -> ResponseHead {
        var budget = limit
        func line() throws(TransportError) -> ArraySlice<UInt8> {
            let line: ArraySlice<UInt8>
            do {
                line = try reader.readLine(limit: budget, what: "response header block")
            } catch where error.code == .protocolError {
                throw TransportError(.protocolError, url: reader.url, message: "response header block longer than \(limit) bytes")
            }
            budget -= line.count + 2
            return line
        }
        func malformed(_ why: String) -> TransportError {
            TransportError(.protocolError, url: reader.url, message: "malformed response: \(why)")
        }

        // "HTTP/1.1 200 OK": version, three digits, optional reason.
        let statusLine = try line()
        let text = String(decoding: statusLine, as: UTF8.self)
        let parts = text.split(separator: " ", maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count >= 2, parts[0].hasPrefix("HTTP/1."), parts[1].count == 3,
              parts[1].allSatisfy({ $0.isASCII && $0.isNumber }), let status = Int(parts[1]), status >= 100
        else { throw malformed("status line \"\(printable(text))\"") }
        let reason = parts.count > 2 ? printable(String(parts[2])) : ""

        var headers: [(name: String, value: String)] = []
        while true {
            let header = try line()
            if header.isEmpty { break }
            guard let colon = header.firstIndex(of: UInt8(ascii: ":")), colon > header.startIndex else {
                throw malformed("header line \"\(printable(String(decoding: header, as: UTF8.self)))\"")
            }
            let name = header[..<colon]
            guard name.allSatisfy(isTokenByte) else {
                throw malformed("header name \"\(printable(String(decoding: name, as: UTF8.self)))\"")
            }
            let value = header[(colon + 1)...].drop { $0 == 0x20 || $0 == 0x09 }
            let trimmed = value.reversed().drop { $0 == 0x20 || $0 == 0x09 }.reversed()
            headers.append((String(decoding: name, as: UTF8.self).lowercased(), String(decoding: trimmed, as: UTF8.self)))
        }
        return ResponseHead(status: status, reason: reason, headers: headers)
    }

    /// How the body is delimited.
    enum Framing: Equatable {
        case length(Int)
        case chunked
        case toEnd
    }

    /// The body's framing from `Transfer-Encoding` and `Content-Length` (RFC 9112 §6.3).
    func framing(url: String) throws(TransportError) -> Framing {
        func malformed(_ why: String) -> TransportError {
            TransportError(.protocolError, url: url, status: status, message: "malformed response: \(why)")
        }
        let encodings = values("transfer-encoding").flatMap { $0.split(separator: ",") }
            .map { $0.trimmingSpaces.lowercased() }
        let lengths = values("content-length").flatMap { $0.split(separator: ",", omittingEmptySubsequences: false) }
            .map { $0.trimmingSpaces }
        if !encodings.isEmpty {
            guard lengths.isEmpty else { throw malformed("both Transfer-Encoding and Content-Length") }
            return encodings.last == "chunked" ? .chunked : .toEnd
        }
        guard let first = lengths.first else { return .toEnd }
        guard lengths.allSatisfy({ $0 == first }), let length = Self.decimal(first) else {
            throw malformed("Content-Length \"\(printable(values("content-length").joined(separator: ", ")))\"")
        }
        return .length(length)
    }

    /// A non-negative decimal of at most 18 digits (no sign, no spaces).
    static func decimal<Text: StringProtocol>(_ text: Text) -> Int? {
        guard !text.isEmpty, text.utf8.count <= 18, text.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else { return nil }
        return Int(text)
    }
}

/// True for the bytes of an HTTP token (header names).
private func isTokenByte(_ byte: UInt8) -> Bool {
    switch byte {
    case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"):
        true
    default:
        Array("!#$%&'*+-.^_`|~".utf8).contains(byte)
    }
}

/// `text` with control characters replaced and cut to 200 characters, safe to put in a message.
func printable(_ text: String) -> String {
    let cleaned = String(text.unicodeScalars.map { $0.value < 0x20 || $0.value == 0x7F ? "?" : Character($0) })
    return cleaned.count > 200 ? String(cleaned.prefix(200)) + "…" : cleaned
}

extension StringProtocol {
    /// Without leading and trailing spaces and tabs.
    var trimmingSpaces: String {
        String(drop { $0 == " " || $0 == "\t" }.reversed().drop { $0 == " " || $0 == "\t" }.reversed())
    }
}
