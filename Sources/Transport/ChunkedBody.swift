/// Reading a `Transfer-Encoding: chunked` body (RFC 9112 §7.1).
enum ChunkedBody {
    /// Longest chunk-size line accepted (size and extensions).
    static let lineLimit = 4096

    /// Passes the data of every chunk to `deliver`, then reads the trailers.
    ///
    /// - Parameters:
    ///   - limit: the most bytes accepted; a chunk that would go past it fails before it is read.
    ///   - cap: the caller's cap, for the message.
    /// - Throws: ``TransportError/Code/tooLarge``, ``TransportError/Code/protocolError`` for a bad
    ///   size line, ``TransportError/Code/truncated`` when the connection closes before the last chunk.
    static func copy(from reader: ConnectionReader, limit: Int, cap: Int, to deliver: (UnsafeRawBufferPointer) throws -> Void) throws {
        var total = 0
        while true {
            let line = try reader.readLine(limit: lineLimit, what: "chunk size line")
            let digits = line.prefix { $0 != UInt8(ascii: ";") }.reversed().drop { $0 == 0x20 || $0 == 0x09 }.reversed()
            guard !digits.isEmpty, digits.count <= 15, let size = Int(String(decoding: digits, as: UTF8.self), radix: 16),
                  digits.allSatisfy({ ($0 >= 0x30 && $0 <= 0x39) || ($0 | 0x20 >= 0x61 && $0 | 0x20 <= 0x66) })
            else {
                throw TransportError(.protocolError, url: reader.url,
                                     message: "malformed response: chunk size \"\(printable(String(decoding: line, as: UTF8.self)))\"")
            }
            if size == 0 { break }
            guard size <= limit - total else {
                throw TransportError(.tooLarge, url: reader.url, message: "more than the cap of \(cap) bytes")
            }
            try reader.copy(size, to: deliver)
            total += size
            guard try reader.readLine(limit: 2, what: "chunk end").isEmpty else {
                throw TransportError(.protocolError, url: reader.url, message: "malformed response: chunk longer than its size")
            }
        }
        // Trailers, up to the blank line; ignored.
        var budget = ResponseHead.limit
        while true {
            let trailer = try reader.readLine(limit: budget, what: "trailers")
            if trailer.isEmpty { return }
            budget -= trailer.count + 2
        }
    }
}
