import Platform

/// `file://` URLs: a local file read with the same cap and offset rules as a download.
enum FileFetch {
    static func fetch(_ url: RequestURL, maxBytes: Int, offset: Int, body: (UnsafeRawBufferPointer) throws -> Void) throws -> FetchResponse {
        let path = url.target
        func failure(_ error: SystemError) -> TransportError {
            if error.errno == .noSuchFile || error.errno == .notDirectory {
                return TransportError(.notFound, url: url.text, message: error.description)
            }
            if error.errno == .permissionDenied || error.errno == .notPermitted {
                return TransportError(.forbidden, url: url.text, message: error.description)
            }
            return TransportError(.fileError, url: url.text, message: error.description)
        }
        let fd: FileDescriptor
        do { fd = try FileDescriptor.open(path) } catch { throw failure(error) }
        defer { try? fd.close() }
        let size: Int
        do {
            let status = try fd.status()
            guard status.kind == .regular else {
                throw TransportError(.fileError, url: url.text, message: "\"\(path)\" is not a regular file")
            }
            size = status.size
        } catch let error as SystemError {
            throw failure(error)
        }
        guard size <= maxBytes else {
            throw TransportError(.tooLarge, url: url.text, message: "\(size) bytes, more than the cap of \(maxBytes)")
        }
        guard offset <= size else {
            throw TransportError(.fileError, url: url.text, message: "offset \(offset) is past the end of the \(size)-byte file")
        }
        guard offset == 0 || fd.seek(to: offset) else {
            throw TransportError(.fileError, url: url.text, message: "cannot seek \"\(path)\" to \(offset)")
        }
        // Read to the end, not to the size seen: a file that grows meanwhile still meets the cap.
        let limit = maxBytes - offset
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 256 * 1024, alignment: 16)
        defer { buffer.deallocate() }
        var received = 0
        while true {
            let count: Int
            do { count = try fd.read(into: buffer) } catch { throw failure(error) }
            if count == 0 { break }
            let signal = Cancellation.signal
            if signal != 0 { throw TransportError(.cancelled, url: url.text, message: "cancelled by \(Cancellation.name(of: signal))") }
            guard count <= limit - received else {
                throw TransportError(.tooLarge, url: url.text, message: "more than the cap of \(maxBytes) bytes")
            }
            try body(UnsafeRawBufferPointer(rebasing: buffer[..<count]))
            received += count
        }
        return FetchResponse(status: offset > 0 ? 206 : 200, url: url.text, contentLength: size - offset,
                             resumed: offset > 0, receivedBytes: received)
    }
}
