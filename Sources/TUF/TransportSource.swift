import Transport

/// The repository over HTTP(S) or file://, through Transport's capped fetcher.
///
/// Besides the cap on bytes, each fetch has a deadline: the one given, else one that grows with
/// the cap (120 s plus one second per 64 KiB allowed). A body trickling in just under the stall timeout (a slow
/// retrieval attack) fails at the deadline instead of holding the update forever.
struct TransportSource: MetadataSource {
    var options = TransportOptions(userAgent: "autodev-tuf")

    func fetch(_ url: String, maxBytes: Int) throws(FetchFailure) -> [UInt8] {
        var options = self.options
        if options.totalTimeout == nil { options.totalTimeout = Fetcher.defaultTotalTimeout(maxBytes: maxBytes) }
        do {
            return try Fetcher(options: options).fetchAll(url, maxBytes: maxBytes)
        } catch let error as TransportError {
            throw FetchFailure(notFound: error.code == .notFound || error.code == .forbidden, timedOut: error.code == .timedOut, message: error.message)
        } catch {
            throw FetchFailure(notFound: false, message: "\(error)")
        }
    }
}
