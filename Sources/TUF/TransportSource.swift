import Transport

/// The repository over HTTP(S) or file://, through Transport's capped fetcher.
struct TransportSource: MetadataSource {
    var fetcher = Fetcher(options: TransportOptions(userAgent: "autodev-tuf"))

    func fetch(_ url: String, maxBytes: Int) throws(FetchFailure) -> [UInt8] {
        do {
            return try fetcher.fetchAll(url, maxBytes: maxBytes)
        } catch let error as TransportError {
            throw FetchFailure(notFound: error.code == .notFound || error.code == .forbidden, message: error.message)
        } catch {
            throw FetchFailure(notFound: false, message: "\(error)")
        }
    }
}
