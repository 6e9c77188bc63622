import ReleaseChannel
import Testing

/// `BackgroundChecker` driven through `tick(now:)` with an injected clock, check and randomness.
@Suite("Background update checks")
struct BackgroundCheckerTests {
    struct Offline: Error {}

    /// Everything the checker did, and what the injected check returns next.
    final class Host {
        var checks = 0
        var result: Result<ReleaseOffer?, Offline> = .success(nil)
        var idle = true
        var announced: [String] = []
        var applied: [String] = []
        var applyFails = false
    }

    func offer(_ version: String, critical: Bool = false) -> ReleaseOffer {
        ReleaseOffer(path: "autodev/\(version)/linux-x86_64/autodev", length: 10, hashes: [:],
                     facts: ReleaseFacts(version: SemanticVersion(version)!, platform: .linuxX86_64, released: "2026-11-22T00:00:00Z", critical: critical))
    }

    func checker(_ host: Host, policy: BackgroundChecker.Policy = .manual, random: Double = 0.5) -> BackgroundChecker {
        BackgroundChecker(policy: policy, start: 0, random: { random }, check: {
            host.checks += 1
            return try host.result.get()
        }, isIdle: { host.idle }, notify: {
            if case .updateAvailable(let offer) = $0 { host.announced.append(offer.facts.version.description) }
        }, apply: {
            if host.applyFails { throw Offline() }
            host.applied.append($0.facts.version.description)
        })
    }

    @Test("checks when due, every 30 minutes jittered by ±10 %, never in between")
    func interval() {
        let host = Host()
        var low = checker(host, random: 0)
        low.tick(now: 0)
        #expect(host.checks == 1)
        #expect(low.nextCheck == 1620)
        low.tick(now: 1619)
        #expect(host.checks == 1)
        low.tick(now: 1620)
        #expect(host.checks == 2)
        var high = checker(Host(), random: 0.999_999)
        high.tick(now: 0)
        #expect(abs(high.nextCheck - 1980) < 0.01, "\(high.nextCheck)")
    }

    @Test("timings that are not finite, negative or out of range are used as their defaults or bounds, so checks still come")
    func unusableTimings() {
        let defaults = BackgroundChecker.Timing()
        #expect(BackgroundChecker.Timing(interval: .nan, jitter: .nan, maxBackoff: .nan).usable == defaults)
        #expect(BackgroundChecker.Timing(interval: -5, jitter: -1, maxBackoff: -.infinity).usable == BackgroundChecker.Timing(interval: 1800, jitter: 0, maxBackoff: 21_600))
        #expect(BackgroundChecker.Timing(interval: .infinity, jitter: 7, maxBackoff: 10).usable == BackgroundChecker.Timing(interval: 1800, jitter: 1, maxBackoff: 1800))
        #expect(BackgroundChecker.Timing(interval: 60, jitter: 0.2, maxBackoff: 600).usable == BackgroundChecker.Timing(interval: 60, jitter: 0.2, maxBackoff: 600))
        let host = Host()
        var checker = BackgroundChecker(timing: .init(interval: .nan), policy: .manual, start: .nan, random: { 0.5 }, check: {
            host.checks += 1
            return nil
        }, isIdle: { true }, notify: { _ in }, apply: { _ in })
        #expect(checker.timing.interval == 1800)
        checker.tick(now: 0)
        #expect(host.checks == 1)
        #expect(checker.nextCheck == 1800)
        checker.tick(now: 1800)
        #expect(host.checks == 2)
    }

    @Test("a failed check has no effect on the host and doubles the wait up to 6 hours; a success resets it")
    func backoff() {
        let host = Host()
        host.result = .failure(Offline())
        var checker = checker(host, policy: .all)
        var now = 0.0
        var waits: [Double] = []
        for _ in 0..<6 {
            #expect(checker.tick(now: now) is Offline)
            waits.append(checker.nextCheck - now)
            now = checker.nextCheck
        }
        #expect(waits == [3600, 7200, 14_400, 21_600, 21_600, 21_600])
        #expect(checker.consecutiveFailures == 6)
        #expect(host.announced.isEmpty && host.applied.isEmpty)
        host.result = .success(nil)
        #expect(checker.tick(now: now) == nil)
        #expect(checker.consecutiveFailures == 0)
        #expect(checker.nextCheck - now == 1800)
    }

    @Test("an offered version is announced once; a newer one again")
    func announcesOnce() {
        let host = Host()
        host.result = .success(offer("1.1.0"))
        var checker = checker(host)
        checker.tick(now: 0)
        checker.tick(now: 1800)
        #expect(host.announced == ["1.1.0"])
        host.result = .success(offer("1.2.0"))
        checker.tick(now: 3600)
        #expect(host.announced == ["1.1.0", "1.2.0"])
        #expect(host.applied.isEmpty)
    }

    @Test("manual never applies; criticalOnly applies only critical releases")
    func policies() {
        let manual = Host()
        manual.result = .success(offer("2.0.0", critical: true))
        var first = checker(manual, policy: .manual)
        first.tick(now: 0)
        #expect(manual.announced == ["2.0.0"] && manual.applied.isEmpty)

        let critical = Host()
        critical.result = .success(offer("1.1.0"))
        var second = checker(critical, policy: .criticalOnly)
        second.tick(now: 0)
        #expect(critical.applied.isEmpty)
        critical.result = .success(offer("1.2.0", critical: true))
        second.tick(now: 1800)
        #expect(critical.applied == ["1.2.0"])
    }

    @Test("all: applies only when the host says it is idle, and once")
    func waitsForIdle() {
        let host = Host()
        host.idle = false
        host.result = .success(offer("1.1.0"))
        var checker = checker(host, policy: .all)
        checker.tick(now: 0)
        checker.tick(now: 10)
        #expect(host.applied.isEmpty)
        #expect(checker.pending?.facts.version.description == "1.1.0")
        host.idle = true
        checker.tick(now: 20)
        checker.tick(now: 30)
        #expect(host.applied == ["1.1.0"])
        #expect(checker.pending == nil)
        #expect(host.checks == 1)
    }

    @Test("a failed apply is retried after the next check, not at every tick")
    func applyRetry() {
        let host = Host()
        host.applyFails = true
        host.result = .success(offer("1.1.0"))
        var checker = checker(host, policy: .all)
        #expect(checker.tick(now: 0) is Offline)
        host.applyFails = false
        checker.tick(now: 10)
        #expect(host.applied.isEmpty)
        checker.tick(now: 1800)
        #expect(host.applied == ["1.1.0"])
    }
}

extension BackgroundCheckerTests {
    @Test("failed applies in a row wait twice as long each time, up to 6 hours; a new version starts afresh")
    func applyBackoff() {
        let host = Host()
        host.applyFails = true
        host.result = .success(offer("1.1.0"))
        var checker = checker(host, policy: .all)
        var attempts: [Double] = []
        var now = 0.0
        while now <= 40 * 3600 {
            if checker.tick(now: now) != nil { attempts.append(now) }
            now += 60
        }
        let gaps = zip(attempts.dropFirst(), attempts).map { $0 - $1 }
        #expect(gaps.prefix(4).map { $0 / 1800 } == [1, 2, 4, 8], "\(gaps)")
        #expect(gaps.count >= 6 && gaps.dropFirst(4).allSatisfy { $0 == 21_600 }, "\(gaps)")
        host.result = .success(offer("1.2.0"))
        host.applyFails = false
        checker.tick(now: checker.nextCheck)
        #expect(host.applied == ["1.2.0"])
    }

    @Test("an offer the channel no longer makes is not installed, even while it waited for the host to be idle")
    func withdrawnOffer() {
        let host = Host()
        host.idle = false
        host.result = .success(offer("1.1.0"))
        var checker = checker(host, policy: .all)
        checker.tick(now: 0)
        #expect(checker.pending?.facts.version.description == "1.1.0")
        host.result = .success(nil)
        checker.tick(now: 1800)
        #expect(checker.pending == nil)
        host.idle = true
        checker.tick(now: 1900)
        #expect(host.applied.isEmpty)
        // Offered again (the rollout resumed): installed, without a second announcement.
        host.result = .success(offer("1.1.0"))
        checker.tick(now: 3600)
        #expect(host.applied == ["1.1.0"])
        #expect(host.announced == ["1.1.0"])
        checker.tick(now: 5400)
        #expect(host.applied == ["1.1.0"], "installed once")
    }

    @Test("with checks at every tick (interval 0), failed installs still wait a minute, then two, four …")
    func applyBackoffWithoutInterval() {
        let host = Host()
        host.applyFails = true
        host.result = .success(offer("1.1.0"))
        var checker = BackgroundChecker(timing: .init(interval: 0), policy: .all, start: 0, random: { 0.5 }, check: {
            host.checks += 1
            return try host.result.get()
        }, isIdle: { true }, notify: { _ in }, apply: { _ in throw Offline() })
        var attempts: [Double] = []
        for second in 0...1000 where checker.tick(now: Double(second)) is Offline { attempts.append(Double(second)) }
        #expect(attempts == [0, 60, 180, 420, 900], "\(attempts)")
    }
}

@Suite("BackgroundChecker's integrity check")
struct BackgroundCheckerIntegrityTests {
    final class Host {
        var problems: [String] = []
        var reported: [String] = []
        var times: [Double] = []
    }

    @Test("runs at every tick with its time, and reports each problem once, beside update checks")
    func reportsOnce() {
        let host = Host()
        var checker = BackgroundChecker(policy: .manual, start: 100, check: { nil }, isIdle: { true }, notify: {
            if case .integrityProblem(let problem) = $0 { host.reported.append(problem) }
        }, apply: { _ in }, integrity: { now in host.times.append(now); return host.problems })
        checker.tick(now: 1)
        host.problems = ["versions/ab/autodev: now hashes to cd"]
        checker.tick(now: 2)
        checker.tick(now: 3)
        host.problems += ["versions/ef/autodev: cannot be read"]
        checker.tick(now: 4)
        #expect(host.times == [1, 2, 3, 4])
        #expect(host.reported == ["versions/ab/autodev: now hashes to cd", "versions/ef/autodev: cannot be read"])
    }
}
