/// How a ``Fetcher`` connects and how long it waits.
public struct TransportOptions: Sendable {
    /// Seconds to wait for a TCP connection to each address of the host.
    public var connectTimeout: Double
    /// Seconds without a single byte (sent or received) after which a transfer fails.
    public var stallTimeout: Double
    /// Seconds for a whole http(s) fetch, redirects included, however steadily bytes arrive
    /// (against slow-retrieval attacks); nil for the default derived from the cap,
    /// ``Fetcher/defaultTotalTimeout(maxBytes:)``. There is always a limit.
    public var totalTimeout: Double?
    /// Redirects followed before giving up.
    public var maxRedirects: Int
    /// A PEM file of certificate authorities trusted in addition to the system's store.
    public var caFile: String?
    /// The `User-Agent` header.
    public var userAgent: String
    /// The proxies to go through; nil (the default) reads them from the environment at each
    /// fetch, as curl does (``ProxySettings/fromEnvironment(_:)``); ``ProxySettings/direct`` for none.
    public var proxies: ProxySettings?

    /// Options with the defaults: 10 s to connect, 30 s stall, a total limit derived from the
    /// cap, 5 redirects, the system's CAs.
    public init(
        connectTimeout: Double = 10, stallTimeout: Double = 30, totalTimeout: Double? = nil, maxRedirects: Int = 5,
        caFile: String? = nil, userAgent: String = "autodev"
    ) {
        self.connectTimeout = connectTimeout
        self.stallTimeout = stallTimeout
        self.totalTimeout = totalTimeout
        self.maxRedirects = maxRedirects
        self.caFile = caFile
        self.userAgent = userAgent
    }
}

/// What a successful fetch received.
public struct FetchResponse: Sendable, Equatable {
    /// The HTTP status: 200; 206 for a resumed transfer; 416 when the offset was already the end
    /// of the resource (nothing left to send). `file://` reports 200 or 206.
    public var status: Int
    /// The URL the body came from, after redirects.
    public var url: String
    /// The body length the server announced for this response, when it did.
    public var contentLength: Int?
    /// True when the body continues from the requested offset; false when it starts at byte 0.
    public var resumed: Bool
    /// The number of bytes passed to the body callback.
    public var receivedBytes: Int
}

/// Downloads `http://`, `https://` and `file://` URLs with caps, timeouts and resumption.
///
/// Invariants:
/// - The cap is enforced while reading: no more than `maxBytes` bytes of the resource are ever
///   passed on, a larger announced length fails before the body is read, and a body that goes
///   over fails as soon as the excess arrives, whatever the headers said.
/// - No partial success: a body cut short, a stall, or a protocol error throws; a returned
///   response means every byte up to its end was delivered.
/// - A resumed request either continues exactly at the offset or throws
///   ``TransportError/Code/rangeIgnored`` before passing any byte.
/// - HTTPS loads OpenSSL 3 at run time, on first use; nothing else needs it.
public struct Fetcher: Sendable {
    /// The options in force.
    public var options: TransportOptions

    /// A fetcher with `options`.
    public init(options: TransportOptions = .init()) {
        self.options = options
    }

    /// Streams the body of `url` to `body`, in the pieces it arrives in.
    ///
    /// - Parameters:
    ///   - url: an `http://`, `https://` or `file://` URL.
    ///   - maxBytes: the largest resource accepted, counted from byte 0 (so a resumed transfer
    ///     has the same cap as a fresh one).
    ///   - offset: the first byte wanted; above 0 a `Range: bytes=offset-` request is sent.
    ///   - body: called with each piece; valid only during the call. What it throws ends the
    ///     transfer and is rethrown.
    /// - Returns: the status, final URL, announced length and whether the transfer resumed.
    /// - Throws: ``TransportError``, or what `body` throws.
    @discardableResult
    public func fetch(
        _ url: String, maxBytes: Int, offset: Int = 0, body: (UnsafeRawBufferPointer) throws -> Void
    ) throws -> FetchResponse {
        precondition(maxBytes >= 0 && offset >= 0, "maxBytes and offset must not be negative")
        var current = try RequestURL(url)
        guard offset <= maxBytes else {
            throw TransportError(.tooLarge, url: current.text, message: "the offset \(offset) is past the cap of \(maxBytes) bytes")
        }
        if current.scheme == .file {
            return try FileFetch.fetch(current, maxBytes: maxBytes, offset: offset, body: body)
        }
        let proxies = try options.proxies ?? ProxySettings.fromEnvironment()
        let deadline = Deadline(options.totalTimeout ?? Self.defaultTotalTimeout(maxBytes: maxBytes))
        var visited: Set<String> = [current.text]
        var redirects = 0
        while true {
            switch try Exchange(url: current, proxy: proxies.proxy(for: current), options: options, deadline: deadline).run(maxBytes: maxBytes, offset: offset, body: body) {
            case .response(let response):
                return response
            case .redirect(let location, let status):
                let next: RequestURL
                do {
                    next = try current.resolving(location)
                } catch {
                    throw TransportError(.protocolError, url: current.text, status: status,
                                         message: "redirect to an invalid URL \"\(printable(location))\"")
                }
                guard next.scheme != .file, current.scheme == .http || next.scheme == .https else {
                    throw TransportError(.insecureRedirect, url: current.text, status: status,
                                         message: "refusing a redirect from \(current.scheme.rawValue) to \(next.text)")
                }
                guard !visited.contains(next.text) else {
                    throw TransportError(.redirectLoop, url: current.text, status: status,
                                         message: "redirect loop: \(next.text) was visited before")
                }
                redirects += 1
                guard redirects <= options.maxRedirects else {
                    throw TransportError(.tooManyRedirects, url: current.text, status: status,
                                         message: "more than \(options.maxRedirects) redirects")
                }
                visited.insert(next.text)
                current = next
            }
        }
    }

    /// The total timeout of a fetch capped at `maxBytes` when none is given: 120 s plus one
    /// second per 64 KiB (a server slower than 64 KiB/s on a large body fails at the deadline
    /// instead of holding the caller for hours).
    public static func defaultTotalTimeout(maxBytes: Int) -> Double {
        120 + Double(max(maxBytes, 0)) / 65_536
    }

    /// The whole body of `url`.
    ///
    /// - Parameters:
    ///   - url: an `http://`, `https://` or `file://` URL.
    ///   - maxBytes: the largest body accepted.
    /// - Returns: the body.
    /// - Throws: ``TransportError``.
    public func fetchAll(_ url: String, maxBytes: Int) throws -> [UInt8] {
        var bytes: [UInt8] = []
        try fetch(url, maxBytes: maxBytes) { bytes.append(contentsOf: $0) }
        return bytes
    }
}
