import Foundation

/// One HTTP/1.1 request head, parsed from a connection's buffer.
struct Request: Sendable, Equatable {
    var method: String
    var target: String
    /// The client asked to close after this request (`Connection: close`, or HTTP/1.0 without keep-alive).
    var wantsClose: Bool
    /// Bytes of head and body, to drop from the buffer once answered.
    var length: Int

    static let headEnd: [UInt8] = Array("\r\n\r\n".utf8)

    /// Parses the first request in `buffer`.
    /// - Returns: nil when the head (or its body) is not complete yet.
    /// - Throws: ``Malformed`` for what is not HTTP/1.x.
    static func parse(_ buffer: [UInt8]) throws -> Request? {
        guard let end = find(headEnd, in: buffer) else {
            if buffer.count > 16_384 { throw Malformed(reason: "head larger than 16 KiB") }
            return nil
        }
        let head = String(decoding: buffer[..<end], as: UTF8.self)
        let lines = head.components(separatedBy: "\r\n")
        let parts = lines[0].split(separator: " ")
        guard parts.count == 3, parts[2].hasPrefix("HTTP/1.") else { throw Malformed(reason: "bad request line") }
        var bodyLength = 0
        var connection = ""
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            let name = line[..<colon].lowercased()
            let value = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            if name == "content-length" {
                guard let count = Int(value), count >= 0 else { throw Malformed(reason: "bad Content-Length") }
                bodyLength = count
            } else if name == "connection" {
                connection = value.lowercased()
            } else if name == "transfer-encoding" {
                throw Malformed(reason: "chunked bodies are not supported")
            }
        }
        let total = end + headEnd.count + bodyLength
        guard buffer.count >= total else { return nil }
        let wantsClose = parts[2] == "HTTP/1.0" ? connection != "keep-alive" : connection == "close"
        return Request(method: String(parts[0]), target: String(parts[1]), wantsClose: wantsClose, length: total)
    }

    /// What cannot be parsed as a request.
    struct Malformed: Error { var reason: String }

    private static func find(_ needle: [UInt8], in haystack: [UInt8]) -> Int? {
        guard haystack.count >= needle.count else { return nil }
        for index in 0...(haystack.count - needle.count) where haystack[index] == needle[0] {
            if haystack[index..<(index + needle.count)].elementsEqual(needle) { return index }
        }
        return nil
    }
}

/// A response's bytes.
func response(status: String, body: String, close: Bool) -> [UInt8] {
    let bytes = Array(body.utf8)
    var head = "HTTP/1.1 \(status)\r\nContent-Type: text/plain\r\nContent-Length: \(bytes.count)\r\n"
    if close { head += "Connection: close\r\n" }
    return Array((head + "\r\n").utf8) + bytes
}
