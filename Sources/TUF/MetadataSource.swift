/// Where the updater gets bytes from: one GET of a URL, with a cap on the size.
package protocol MetadataSource: Sendable {
    /// The whole body of `url`.
    /// - Throws: ``FetchFailure``: `notFound` for HTTP 403/404, otherwise a failure that
    ///   includes a body larger than `maxBytes`.
    func fetch(_ url: String, maxBytes: Int) throws(FetchFailure) -> [UInt8]
}

/// A failed fetch.
package struct FetchFailure: Error, Sendable {
    /// The repository answered that the file is not there (403 or 404).
    package var notFound: Bool
    /// The fetch ran out of time (its stall timeout or total deadline).
    package var timedOut: Bool
    package var message: String

    package init(notFound: Bool, timedOut: Bool = false, message: String) {
        self.notFound = notFound
        self.timedOut = timedOut
        self.message = message
    }
}
