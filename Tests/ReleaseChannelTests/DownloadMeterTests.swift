import ReleaseChannel
import Testing

/// `DownloadMeter`: readings throttled to one per interval, rate and time left from the first callback.
@Suite("Download progress readings")
struct DownloadMeterTests {
    @Test("one reading per interval however many callbacks arrive: 10 a second for a terminal")
    func throttled() {
        var meter = DownloadMeter(interval: 0.1)
        var readings = 0
        // 1000 callbacks over one second, 1 kB each.
        for step in 0...1000 {
            if meter.record(bytes: step * 1000, total: 2_000_000, now: Double(step) / 1000) != nil { readings += 1 }
        }
        #expect(readings == 10)
    }

    @Test("one reading a second for JSON events, with rate and time left")
    func perSecond() throws {
        var meter = DownloadMeter(interval: 1)
        #expect(meter.record(bytes: 500_000, total: 4_500_000, now: 10) == nil)
        #expect(meter.record(bytes: 900_000, total: 4_500_000, now: 10.5) == nil)
        let recorded = meter.record(bytes: 1_500_000, total: 4_500_000, now: 11)
        let reading = try #require(recorded)
        #expect(reading == DownloadMeter.Reading(bytes: 1_500_000, total: 4_500_000, rate: 1_000_000, secondsLeft: 3))
        #expect(meter.record(bytes: 2_000_000, total: 4_500_000, now: 11.9) == nil)
        #expect(meter.record(bytes: 2_500_000, total: 4_500_000, now: 12) != nil)
        #expect(DownloadMeter.line(reading) == "1.5 MB of 4.5 MB, 1.0 MB/s, 3 s left")
    }

    @Test("sizes in B, kB and MB")
    func sizes() {
        #expect(DownloadMeter.size(999) == "999 B")
        #expect(DownloadMeter.size(1000) == "1.0 kB")
        #expect(DownloadMeter.size(123_456) == "123.5 kB")
        #expect(DownloadMeter.size(40_000_000) == "40.0 MB")
    }

    @Test("a rate of a byte in ten months on a 1 TiB download (10^19 s left, past Int): a line with a clamped time left, no trap")
    func extremeRates() throws {
        var meter = DownloadMeter(interval: 1)
        #expect(meter.record(bytes: 0, total: 1 << 40, now: 0) == nil)
        let recorded = meter.record(bytes: 1, total: 1 << 40, now: 26_000_000)
        let slow = try #require(recorded)
        #expect(DownloadMeter.line(slow) == "1 B of 1099511.6 MB, 0 B/s, 1000000000000000 s left")
        #expect(DownloadMeter.whole(.infinity) == 0 && DownloadMeter.whole(.nan) == 0 && DownloadMeter.whole(-5) == 0)
        #expect(DownloadMeter.whole(1e300) == 1_000_000_000_000_000)
    }
}
