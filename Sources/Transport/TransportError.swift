/// A download that did not complete: what went wrong, with which URL, and the HTTP status if any.
///
/// Its description reads `GET http://host/path: 404 Not Found` or
/// `GET http://host/big: more than 1048576 bytes`. Match on ``code``; new codes may be added.
public struct TransportError: Error, Sendable, CustomStringConvertible, Equatable {
    /// What kind of failure this is.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Kind: Hashable, Sendable {
            case invalidURL, notFound, forbidden, httpStatus, tooLarge, timedOut, connectionFailed
            case truncated, protocolError, tooManyRedirects, redirectLoop, insecureRedirect
            case rangeIgnored, tlsUnavailable, tlsFailed, fileError, cancelled
        }
        private let kind: Kind
        private init(_ kind: Kind) { self.kind = kind }

        /// The URL cannot be parsed, or names a scheme other than http, https or file.
        public static let invalidURL = Code(.invalidURL)
        /// 404 or 410, or a `file://` path that does not exist.
        public static let notFound = Code(.notFound)
        /// 401 or 403, or a `file://` path that may not be read.
        public static let forbidden = Code(.forbidden)
        /// Any other status that is not a success (``TransportError/status`` holds it).
        public static let httpStatus = Code(.httpStatus)
        /// The body is (or was announced to be) longer than the caller's cap.
        public static let tooLarge = Code(.tooLarge)
        /// No connection within the connect timeout, or no byte within the stall timeout.
        public static let timedOut = Code(.timedOut)
        /// The name did not resolve, the connection was refused or reset.
        public static let connectionFailed = Code(.connectionFailed)
        /// The connection closed before the announced end of the body.
        public static let truncated = Code(.truncated)
        /// The response is not valid HTTP/1.1 (status line, headers, chunk sizes, limits).
        public static let protocolError = Code(.protocolError)
        /// More redirects than ``TransportOptions/maxRedirects``.
        public static let tooManyRedirects = Code(.tooManyRedirects)
        /// A redirect led back to a URL already visited.
        public static let redirectLoop = Code(.redirectLoop)
        /// A redirect from https to http, or to a scheme that is not http(s).
        public static let insecureRedirect = Code(.insecureRedirect)
        /// A request from a non-zero offset was answered from byte 0: start again from 0.
        public static let rangeIgnored = Code(.rangeIgnored)
        /// HTTPS needs OpenSSL 3 (`libssl.so.3`), which could not be loaded.
        public static let tlsUnavailable = Code(.tlsUnavailable)
        /// The TLS handshake failed: certificate not trusted, name mismatch, protocol error.
        public static let tlsFailed = Code(.tlsFailed)
        /// A `file://` URL could not be read for another reason (not a regular file, I/O error).
        public static let fileError = Code(.fileError)
        /// SIGINT or SIGTERM arrived (after `Cancellation.install()`): the fetch stopped within
        /// a quarter of a second, with every byte received so far delivered.
        public static let cancelled = Code(.cancelled)

        /// The code's name, e.g. `notFound`.
        public var description: String { "\(kind)" }
    }

    /// What kind of failure this is.
    public var code: Code
    /// The URL being fetched when it failed (after redirects, the one that failed).
    public var url: String
    /// The HTTP status of the response, when one was received.
    public var status: Int?
    /// What happened, in words.
    public var message: String

    /// Makes an error.
    public init(_ code: Code, url: String, status: Int? = nil, message: String) {
        self.code = code
        self.url = url
        self.status = status
        self.message = message
    }

    /// `GET <url>: <message>`.
    public var description: String { "GET \(url): \(message)" }
}
