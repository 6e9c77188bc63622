/// One HTTP/1.1 GET on a fresh connection (`Connection: close`), read to the end of its body.
struct Exchange {
    enum Outcome {
        case response(FetchResponse)
        case redirect(location: String, status: Int)
    }

    let url: RequestURL
    /// The proxy it goes through: an absolute-form request for http, a CONNECT tunnel for https.
    let proxy: Proxy?
    let options: TransportOptions
    let deadline: Deadline?

    /// Sends the request and reads the response, passing the body of a success to `body`.
    func run(maxBytes: Int, offset: Int, body: (UnsafeRawBufferPointer) throws -> Void) throws -> Outcome {
        let connection = try connect()
        defer { connection.close() }
        try connection.writeAll(request(offset: offset))
        let reader = ConnectionReader(connection, url: url.text)
        var head = try ResponseHead.read(from: reader)
        // Interim responses (100 Continue, 103 Early Hints) come before the real one.
        var interim = 0
        while head.status < 200 {
            interim += 1
            guard interim <= 8 else { throw failure(.protocolError, head, "more than 8 interim responses") }
            head = try ResponseHead.read(from: reader)
        }
        let status = head.status

        switch status {
        case 301, 302, 303, 307, 308:
            guard let location = head.value("location"), !location.isEmpty else {
                throw failure(.protocolError, head, "redirect without a Location")
            }
            return .redirect(location: location, status: status)
        case 200:
            if offset > 0 {
                throw failure(.rangeIgnored, head, "asked for bytes from \(offset), the server sent the whole body: start again from 0")
            }
        case 206:
            guard offset > 0 else { throw failure(.protocolError, head, "206 Partial Content to a request without Range") }
        case 416 where offset > 0:
            // Asked for bytes past the end: complete already when the resource is exactly `offset` long.
            if let range = head.value("content-range"), range.hasPrefix("bytes */"),
               ResponseHead.decimal(range.dropFirst("bytes */".count)) == offset {
                return .response(FetchResponse(status: status, url: url.text, contentLength: 0, resumed: true, receivedBytes: 0))
            }
            throw failure(.httpStatus, head)
        case 407 where proxy != nil:
            throw TransportError(.connectionFailed, url: url.text, status: status,
                                 message: "the proxy \(proxy!.text) refused the request: \(head.status) \(head.reason) (give the user and password in the proxy's URL: http://user:password@host:port)")
        case 404, 410:
            throw failure(.notFound, head)
        case 401, 403:
            throw failure(.forbidden, head)
        default:
            throw failure(.httpStatus, head)
        }

        let limit = maxBytes - offset  // not negative: `Fetcher.fetch` checked
        var framing = try head.framing(url: url.text)
        var spanned: Int?
        if status == 206 {
            let span = try contentRange(head, offset: offset)
            guard span <= limit else {
                throw failure(.tooLarge, head, "\(offset + span) bytes announced, more than the cap of \(maxBytes)")
            }
            switch framing {
            case .length(let length) where length != span:
                throw failure(.protocolError, head, "Content-Range announces \(span) bytes, Content-Length \(length)")
            case .toEnd:
                framing = .length(span)
            default:
                break
            }
            spanned = span
        }
        var received = 0
        let counted: (UnsafeRawBufferPointer) throws -> Void = { piece in
            received += piece.count
            try body(piece)
        }
        var contentLength: Int?
        switch framing {
        case .length(let length):
            guard length <= limit else {
                throw failure(.tooLarge, head, "\(offset + length) bytes announced, more than the cap of \(maxBytes)")
            }
            contentLength = length
            try reader.copy(length, to: counted)
        case .chunked:
            try ChunkedBody.copy(from: reader, limit: limit, cap: maxBytes, to: counted)
            if let spanned, received != spanned {
                throw failure(.protocolError, head, "Content-Range announces \(spanned) bytes, the chunks held \(received)")
            }
        case .toEnd:
            do {
                _ = try reader.copyToEnd(limit: limit, to: counted)
            } catch let error as TransportError where error.code == .tooLarge {
                throw failure(.tooLarge, head, "more than the cap of \(maxBytes) bytes")
            }
        }
        return .response(FetchResponse(status: status, url: url.text, contentLength: contentLength, resumed: offset > 0, receivedBytes: received))
    }

    // MARK: - Internals

    private func connect() throws(TransportError) -> any Connection {
        let plain = try PlainConnection.open(url, via: proxy, options: options, deadline: deadline)
        guard url.scheme == .https else { return plain }
        do {
            if let proxy { try tunnel(plain, through: proxy) }
            // Through a tunnel too, the certificate is checked against the origin's name.
            return try TLSConnection(over: plain, host: url.host, options: options)
        } catch {
            plain.close()
            throw error
        }
    }

    /// Asks `proxy` for a tunnel to the URL's host and port (`CONNECT`), and reads its answer.
    /// - Throws: ``TransportError/Code/connectionFailed`` naming the proxy when it refuses.
    private func tunnel(_ connection: PlainConnection, through proxy: Proxy) throws(TransportError) {
        let authority = "\(url.hostForURL):\(url.port)"
        var lines = ["CONNECT \(authority) HTTP/1.1", "Host: \(authority)", "User-Agent: \(printable(options.userAgent))"]
        if let authorization = proxy.authorization { lines.append("Proxy-Authorization: \(authorization)") }
        try connection.writeAll(Array((lines.joined(separator: "\r\n") + "\r\n\r\n").utf8))
        // Room for the whole head (ResponseHead allows 64 KiB), so that a long one is judged, not cut.
        let reader = ConnectionReader(connection, url: url.text, capacity: 80 * 1024)
        let head = try ResponseHead.read(from: reader)
        guard (200...299).contains(head.status) else {
            let statusText = head.reason.isEmpty ? "\(head.status)" : "\(head.status) \(head.reason)"
            throw TransportError(.connectionFailed, url: url.text, status: head.status,
                                 message: "the proxy \(proxy.text) refused a tunnel to \(authority): \(statusText)"
                                     + (head.status == 407 ? " (give the user and password in the proxy's URL: http://user:password@host:port)" : ""))
        }
        // Nothing may follow the head before the TLS handshake, which is the origin's to answer.
        guard reader.buffered == 0 else {
            throw TransportError(.protocolError, url: url.text, message: "the proxy \(proxy.text) sent \(reader.buffered) bytes after accepting the tunnel, before the TLS handshake")
        }
    }

    private func request(offset: Int) -> [UInt8] {
        // Through a proxy, plain http asks for the whole URL (RFC 9112, absolute-form).
        let target = proxy != nil && url.scheme == .http ? url.text : url.target
        var lines = [
            "GET \(target) HTTP/1.1",
            "Host: \(url.hostHeader)",
            "User-Agent: \(printable(options.userAgent))",
            "Accept: */*",
            "Accept-Encoding: identity",
            "Connection: close",
        ]
        if offset > 0 { lines.append("Range: bytes=\(offset)-") }
        if url.scheme == .http, let authorization = proxy?.authorization { lines.append("Proxy-Authorization: \(authorization)") }
        return Array((lines.joined(separator: "\r\n") + "\r\n\r\n").utf8)
    }

    /// The length of a 206 body from `Content-Range: bytes first-last/total`, which must start at `offset`.
    private func contentRange(_ head: ResponseHead, offset: Int) throws(TransportError) -> Int {
        guard let value = head.value("content-range") else {
            throw failure(.protocolError, head, "206 Partial Content without a Content-Range")
        }
        let malformed = failure(.protocolError, head, "Content-Range \"\(printable(value))\"")
        guard value.hasPrefix("bytes ") else { throw malformed }
        let spec = value.dropFirst("bytes ".count).split(separator: "/", omittingEmptySubsequences: false)
        guard spec.count == 2 else { throw malformed }
        let bounds = spec[0].split(separator: "-", omittingEmptySubsequences: false)
        guard bounds.count == 2, let first = ResponseHead.decimal(bounds[0]), let last = ResponseHead.decimal(bounds[1]),
              first <= last, spec[1] == "*" || ResponseHead.decimal(spec[1]).map({ last < $0 }) == true
        else { throw malformed }
        guard first == offset else {
            throw failure(.protocolError, head, "Content-Range starts at \(first), asked for \(offset)")
        }
        return last - first + 1
    }

    private func failure(_ code: TransportError.Code, _ head: ResponseHead, _ message: String? = nil) -> TransportError {
        let statusText = head.reason.isEmpty ? "\(head.status)" : "\(head.status) \(head.reason)"
        return TransportError(code, url: url.text, status: head.status, message: message.map { "\(statusText): \($0)" } ?? statusText)
    }
}
