/// A TLS session over a plain connection (not yet available).
struct TLSConnection: Connection {
    init(over plain: PlainConnection, host: String, options: TransportOptions) throws(TransportError) {
        throw TransportError(.tlsUnavailable, url: plain.url, message: "HTTPS is not supported yet")
    }

    func read(into buffer: UnsafeMutableRawBufferPointer) throws(TransportError) -> Int { 0 }
    func writeAll(_ bytes: [UInt8]) throws(TransportError) {}
    func close() {}
}
