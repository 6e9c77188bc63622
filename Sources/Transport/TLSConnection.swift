import CTLS

/// A TLS session over a plain connection: OpenSSL 3 (loaded at first use) encrypts into and
/// decrypts from memory, and the ciphertext goes through the plain connection, so the stall
/// timeout and error reporting are the same as for http.
final class TLSConnection: Connection {
    private let plain: PlainConnection
    private let context: OpaquePointer
    private let session: OpaquePointer
    /// Ciphertext on its way between the socket and the session.
    private let transfer: UnsafeMutableRawBufferPointer

    /// Loads OpenSSL if needed and completes a handshake that verifies the peer's certificate
    /// (system trust store and ``TransportOptions/caFile``) and that it names `host`.
    /// - Throws: ``TransportError/Code/tlsUnavailable``, ``TransportError/Code/tlsFailed``, or a
    ///   network error of the plain connection.
    init(over plain: PlainConnection, host: String, options: TransportOptions) throws(TransportError) {
        try Self.load(url: plain.url)
        let context = try Self.call(url: plain.url) { error, size in ad_tls_context_new(options.caFile, error, size) }
        let session: OpaquePointer
        do {
            session = try Self.call(url: plain.url) { error, size in ad_tls_session_new(context, host, error, size) }
        } catch {
            ad_tls_context_free(context)
            throw error
        }
        self.plain = plain
        self.context = context
        self.session = session
        transfer = .allocate(byteCount: 64 * 1024, alignment: 16)
        do {
            while try step({ error, size in ad_tls_handshake(session, error, size) }, closed: "connection closed during the TLS handshake") {}
        } catch {
            free()
            throw error
        }
    }

    /// Reads what the session can decrypt: blocks for the first bytes, then adds every record
    /// already received (one call returns up to `buffer.count` bytes, not one 16 KiB record,
    /// so a download passes large pieces on to be written and hashed).
    func read(into buffer: UnsafeMutableRawBufferPointer) throws(TransportError) -> Int {
        guard buffer.count > 0 else { return 0 }
        var total = 0
        while total < buffer.count {
            let base = buffer.baseAddress.unsafelyUnwrapped + total
            let count = Int32(clamping: buffer.count - total)
            var received: Int32 = 0
            // Once some bytes are in hand, stop where the session would wait for the network.
            let more = try step({ error, size in ad_tls_read(session, base, count, &received, error, size) }, closed: nil, wait: total == 0)
            total += Int(received)
            if !more && received == 0 { return total }  // the end of the stream, or nothing more without waiting
        }
        return total
    }

    func writeAll(_ bytes: [UInt8]) throws(TransportError) {
        let count = Int32(clamping: bytes.count)
        while try step({ error, size in ad_tls_write(session, bytes, count, error, size) }, closed: "connection closed during a TLS write") {}
    }

    func close() {
        free()
        plain.close()
    }

    // MARK: - Internals

    private func free() {
        ad_tls_session_free(session)
        ad_tls_context_free(context)
        transfer.deallocate()
    }

    /// Runs one session call, sends what it produced, and feeds it input when it asks.
    /// - Parameter closed: the message when the peer closes while input is wanted; nil to treat
    ///   that as the end of the stream.
    /// - Parameter wait: false to return false instead of reading the socket when the session
    ///   wants input.
    /// - Returns: true to call again, false when the call is done (or the stream ended).
    private func step(_ call: (UnsafeMutablePointer<CChar>, Int) -> Int32, closed: String?, wait: Bool = true) throws(TransportError) -> Bool {
        var message = [CChar](repeating: 0, count: 512)
        let result = message.withUnsafeMutableBufferPointer { call($0.baseAddress.unsafelyUnwrapped, $0.count) }
        try flush()
        switch Int(result) {
        case AD_TLS_DONE:
            return false
        case AD_TLS_RETRY:
            return true
        case AD_TLS_WANT_INPUT:
            guard wait else { return false }
            let count = try plain.read(into: transfer)
            if count == 0 {
                guard let closed else { return false }
                throw TransportError(.tlsFailed, url: plain.url, message: closed)
            }
            guard ad_tls_give_input(session, transfer.baseAddress, Int32(count)) == 0 else {
                throw TransportError(.tlsFailed, url: plain.url, message: "cannot pass received data to OpenSSL")
            }
            return true
        case AD_TLS_CLOSED:
            return false
        default:
            throw TransportError(.tlsFailed, url: plain.url, message: text(of: message))
        }
    }

    /// Sends all ciphertext the session has produced.
    private func flush() throws(TransportError) {
        while true {
            let count = ad_tls_take_output(session, transfer.baseAddress, Int32(clamping: transfer.count))
            if count == 0 { return }
            try plain.writeAll(Array(UnsafeRawBufferPointer(rebasing: transfer[..<Int(count)])))
        }
    }

    /// Loads OpenSSL (the libraries named, or `libssl.so.3` and `libcrypto.so.3`).
    /// - Throws: ``TransportError/Code/tlsUnavailable`` naming the library that is missing.
    static func load(url: String, ssl: String? = nil, crypto: String? = nil) throws(TransportError) {
        var message = [CChar](repeating: 0, count: 512)
        guard ad_tls_load(ssl, crypto, &message, message.count) == 0 else {
            throw TransportError(.tlsUnavailable, url: url, message: text(of: message))
        }
    }

    private static func call(url: String, _ body: (UnsafeMutablePointer<CChar>, Int) -> OpaquePointer?) throws(TransportError) -> OpaquePointer {
        var message = [CChar](repeating: 0, count: 512)
        let made = message.withUnsafeMutableBufferPointer { body($0.baseAddress.unsafelyUnwrapped, $0.count) }
        guard let made else { throw TransportError(.tlsFailed, url: url, message: text(of: message)) }
        return made
    }
}

/// The text of a NUL-terminated C message buffer.
private func text(of message: [CChar]) -> String {
    String(decoding: message.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
}
