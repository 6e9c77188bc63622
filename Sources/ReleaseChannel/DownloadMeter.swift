/// Turns a download's progress callbacks into at most one reading per interval: bytes, total,
/// rate and time left. It keeps no clock of its own; the caller passes the time, so it is
/// deterministic in tests.
public struct DownloadMeter: Sendable {
    /// What a progress display shows.
    public struct Reading: Sendable, Equatable {
        /// Bytes received so far (a resumed download counts what it already had).
        public var bytes: Int
        /// The length the signed metadata lists.
        public var total: Int
        /// Bytes per second received since the meter's first callback.
        public var rate: Double
        /// Seconds until the rest arrives at that rate (nil: no rate yet).
        public var secondsLeft: Double?

        /// - Parameters: the fields, as named.
        public init(bytes: Int, total: Int, rate: Double, secondsLeft: Double?) {
            self.bytes = bytes
            self.total = total
            self.rate = rate
            self.secondsLeft = secondsLeft
        }
    }

    /// The shortest time between two readings, in seconds.
    public let interval: Double
    private var start: (seconds: Double, bytes: Int)?
    private var lastReading: Double?

    /// - Parameter interval: at most one reading per this many seconds (0.1 for a terminal line,
    ///   1 for JSON events).
    public init(interval: Double) {
        self.interval = interval
    }

    // MARK: - API

    /// Records progress at `now` (seconds on a monotonic clock).
    /// - Returns: a reading when `interval` has passed since the last one, else nil.
    public mutating func record(bytes: Int, total: Int, now: Double) -> Reading? {
        guard let start else {
            self.start = (now, bytes)
            return nil
        }
        // A nanosecond of slack: decimal times (0.3 - 0.2) land a hair below the interval.
        guard now - (lastReading ?? start.seconds) >= interval - 1e-9 else { return nil }
        lastReading = now
        return reading(bytes: bytes, total: total, now: now)
    }

    /// The reading at `now`, whatever the interval (for the final line or event).
    public func reading(bytes: Int, total: Int, now: Double) -> Reading {
        guard let start, now > start.seconds else { return Reading(bytes: bytes, total: total, rate: 0, secondsLeft: nil) }
        let rate = Double(bytes - start.bytes) / (now - start.seconds)
        let left = rate > 0 ? Double(max(total - bytes, 0)) / rate : nil
        return Reading(bytes: bytes, total: total, rate: rate, secondsLeft: left)
    }

    /// "12.3 MB of 40.0 MB, 5.1 MB/s, 6 s left".
    public static func line(_ reading: Reading) -> String {
        var text = "\(size(reading.bytes)) of \(size(reading.total)), \(size(whole(reading.rate)))/s"
        if let left = reading.secondsLeft { text += ", \(whole(left.rounded(.up))) s left" }
        return text
    }

    /// `value` as a whole number for display, clamped to 0…10¹⁵ (0 when not finite): a rate of a
    /// byte a minute on a 1 TiB download gives 10¹⁹ seconds left, past `Int`, and must not trap.
    public static func whole(_ value: Double) -> Int {
        guard value.isFinite else { return 0 }
        return Int(min(max(value.rounded(), 0), 1e15))
    }

    /// Bytes in B, kB or MB (decimal units), one decimal.
    public static func size(_ bytes: Int) -> String {
        if bytes < 1000 { return "\(bytes) B" }
        let tenths = bytes < 1_000_000 ? (bytes + 50) / 100 : (bytes + 50_000) / 100_000
        return "\(tenths / 10).\(tenths % 10) " + (bytes < 1_000_000 ? "kB" : "MB")
    }
}
