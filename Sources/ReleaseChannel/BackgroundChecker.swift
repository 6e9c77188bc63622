/// Checks for updates from inside a long-running program, driven by the host's own timer.
///
/// The host calls ``tick(now:)`` whenever it likes (once a minute is plenty); a check runs when
/// it is due: every `interval` seconds (default 30 minutes) jittered by ±`jitter` (10 %), so a
/// fleet started together does not check together. A failed check (network down, bad metadata)
/// changes nothing in the host: no callback runs, and the next check waits twice as long each
/// time, up to `maxBackoff` (6 hours); a success resets the wait. A newly offered version is
/// reported once through `notify` (``Notice/updateAvailable(_:)``); whether it is installed
/// follows `policy`, and only when `isIdle` says the host is idle.
///
/// With `integrity`, every tick also runs that bounded integrity check (the doctor's
/// `IntegrityScrubber`, re-hashing stored versions at a set number of bytes a second) and
/// reports each problem it finds once, through the same `notify`
/// (``Notice/integrityProblem(_:)``): a host has one place where what needs a person arrives.
///
/// Invariants: at most one check per tick; `apply` runs only under a policy that allows the
/// offer, only while `isIdle()` returns true, only while the latest successful check still
/// offers it (as signed then) and only once per version; a failed apply waits for the next
/// check, and twice as long after each further failure in a row (a minute at least,
/// `maxBackoff` at most); a failed check never calls `notify` or `apply`; each offered version
/// and each integrity problem is reported once.
public struct BackgroundChecker {
    /// What the checker tells its host.
    public enum Notice: Sendable {
        /// A release newer than the running version is offered ("update available: V").
        case updateAvailable(ReleaseOffer)
        /// A stored version no longer matches its hash, or cannot be read ("version … is damaged").
        case integrityProblem(String)
    }

    /// Which offered updates are installed without being asked.
    public enum Policy: Sendable, Equatable {
        /// None: the host is told, a person decides.
        case manual
        /// Only releases marked critical.
        case criticalOnly
        /// Every offered release.
        case all
    }

    /// Timing of checks, in seconds.
    public struct Timing: Sendable, Equatable {
        /// Time between successful checks (default 1800).
        public var interval: Double
        /// The fraction each interval varies by, either way (default 0.1).
        public var jitter: Double
        /// The longest wait after failures (default 21600).
        public var maxBackoff: Double

        /// - Parameters: the fields, as named.
        public init(interval: Double = 1800, jitter: Double = 0.1, maxBackoff: Double = 21_600) {
            self.interval = interval
            self.jitter = jitter
            self.maxBackoff = maxBackoff
        }

        /// These values as the checker uses them: an interval or longest wait that is not a
        /// finite number of at least 0 takes its default (NaN would never come due, a negative
        /// one always), the jitter is kept within 0…1, and the longest wait is at least the
        /// interval.
        public var usable: Timing {
            let defaults = Timing()
            let interval = self.interval.isFinite && self.interval >= 0 ? self.interval : defaults.interval
            let jitter = self.jitter.isFinite ? min(max(self.jitter, 0), 1) : defaults.jitter
            let longest = self.maxBackoff.isFinite && self.maxBackoff >= 0 ? self.maxBackoff : defaults.maxBackoff
            return Timing(interval: interval, jitter: jitter, maxBackoff: max(longest, interval))
        }
    }

    /// How checks are spaced.
    public let timing: Timing
    /// Which offers are applied.
    public let policy: Policy
    /// When the next check is due (the clock the host passes to ``tick(now:)``).
    public private(set) var nextCheck: Double
    /// Checks failed in a row since the last success.
    public private(set) var consecutiveFailures = 0
    /// The offer waiting for the host to be idle, under a policy that applies it.
    public private(set) var pending: ReleaseOffer?

    private let check: () throws -> ReleaseOffer?
    private let isIdle: () -> Bool
    private let notify: (Notice) -> Void
    private let apply: (ReleaseOffer) throws -> Void
    private let random: () -> Double
    private let integrity: ((Double) -> [String])?
    private var reportedProblems: Set<String> = []
    private var announced: SemanticVersion?
    private var applyNotBefore = -Double.infinity
    private var applyFailures = 0
    private var installed: SemanticVersion?

    // MARK: - API

    /// - Parameters:
    ///   - timing: interval, jitter and the longest backoff.
    ///   - policy: which offers are applied.
    ///   - start: the first check is due at this time.
    ///   - random: a number in 0..<1 for the jitter (injectable for tests).
    ///   - check: the update check, e.g. `UpdateSelection.choose(try channel.offers(...), ...)`;
    ///     nil when up to date, throws when the channel cannot be read.
    ///   - isIdle: whether the host can be upgraded now.
    ///   - notify: called once per newly offered version, and once per problem `integrity` finds.
    ///   - apply: installs an offer (for example `update apply`'s download and upgrade).
    ///   - integrity: a bounded integrity check run at every tick with its time, returning the
    ///     problems it finds (nil: none is run).
    public init(timing: Timing = Timing(), policy: Policy, start: Double, random: @escaping () -> Double = { Double.random(in: 0..<1) },
                check: @escaping () throws -> ReleaseOffer?, isIdle: @escaping () -> Bool,
                notify: @escaping (Notice) -> Void, apply: @escaping (ReleaseOffer) throws -> Void,
                integrity: ((Double) -> [String])? = nil) {
        self.integrity = integrity
        self.timing = timing.usable
        self.policy = policy
        // A start that is not a number would never come: the first tick checks.
        self.nextCheck = start.isNaN ? -Double.infinity : start
        self.random = random
        self.check = check
        self.isIdle = isIdle
        self.notify = notify
        self.apply = apply
    }

    /// Runs a check if one is due at `now`, then applies a pending offer if the host is idle.
    /// - Returns: the error of a check or an apply that failed at this tick (for the host's log;
    ///   it needs no handling), nil otherwise.
    @discardableResult
    public mutating func tick(now: Double) -> (any Error)? {
        var failure: (any Error)?
        if now >= nextCheck {
            do {
                let offer = try check()
                consecutiveFailures = 0
                nextCheck = now + jittered(timing.interval)
                if let offer, offer.facts.version != announced {
                    announced = offer.facts.version
                    notify(.updateAvailable(offer))
                    applyFailures = 0
                    applyNotBefore = -.infinity
                }
                // What is installed is what the latest check offers, as it is signed now, when the
                // policy allows it and it is not installed already: an offer withdrawn meanwhile
                // (its rollout paused) waits until a check offers it again.
                pending = offer.flatMap { allows($0) && $0.facts.version != installed ? $0 : nil }
            } catch {
                consecutiveFailures += 1
                let exponent = Double(min(consecutiveFailures, 30))
                nextCheck = now + min(timing.interval * pow2(exponent), timing.maxBackoff)
                failure = error
            }
        }
        if let integrity {
            let problems = integrity(now)
            for problem in problems where !reportedProblems.contains(problem) { notify(.integrityProblem(problem)) }
            reportedProblems.formUnion(problems)
        }
        if let offer = pending, now >= applyNotBefore, isIdle() {
            do {
                try apply(offer)
                installed = offer.facts.version
                pending = nil
                applyFailures = 0
            } catch {
                // Tried again at the next idle tick after the next check, not at every tick, and
                // after twice as long at each failure in a row (up to `maxBackoff`): an install
                // refused for good (a package manager's binary, the wrong software) does not
                // repeat its download and verification every interval.
                // At least a minute between tries, also when checks run at every tick (interval 0).
                applyFailures += 1
                let exponent = Double(min(applyFailures - 1, 30))
                applyNotBefore = max(nextCheck, now + min(max(timing.interval, 60) * pow2(exponent), timing.maxBackoff))
                failure = failure ?? error
            }
        }
        return failure
    }

    // MARK: - Internals

    func allows(_ offer: ReleaseOffer) -> Bool {
        switch policy {
        case .manual: false
        case .criticalOnly: offer.facts.critical
        case .all: true
        }
    }

    func jittered(_ interval: Double) -> Double {
        interval * (1 + timing.jitter * (2 * random() - 1))
    }

    func pow2(_ exponent: Double) -> Double {
        var value = 1.0
        for _ in 0..<Int(exponent) { value *= 2 }
        return value
    }
}
