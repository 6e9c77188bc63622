import Integrity
import Platform
import SelfUpgrade
import Storage

/// A user's evaluation of a candidate: a command that measures the binary named by
/// `AUTODEV_CANDIDATE` and prints one JSON object of named scores and which way each is better:
///
///     {"scores": {"startup_ms": 3.1, "size_bytes": 17012345}, "better": {"startup_ms": "lower", "size_bytes": "lower"}}
///
/// It runs confined as a verification does (``Upgrader/runConfined(_:environment:timeoutSeconds:outputLimit:logDirectory:name:)``):
/// every mount read-only (its own files and data included), no network, a private HOME and
/// TMPDIR. The command and its data live outside the working copy and are pinned by hash
/// (``FitnessPin``) when a run starts.
public struct FitnessEvaluator: Sendable, Equatable, Codable {
    /// The executable (absolute path).
    public var command: String
    /// Its arguments.
    public var arguments: [String]
    /// A directory of data it reads (`AUTODEV_FITNESS_DATA`), pinned with it; nil for none.
    public var data: String?
    /// Runs per binary (the parent's and the candidate's, alternating).
    public var runs: Int
    /// How much worse (relative to the parent's median) a score's median may be before the
    /// candidate counts as worse: measurement noise.
    public var margin: Double
    /// Wall-clock seconds each run may take.
    public var timeoutSeconds: Double

    /// The most runs per binary, the widest margin and the longest run accepted.
    public static let runRange = 1...100
    public static let marginRange = 0.0...1.0
    public static let timeoutRange = 1.0...86_400.0

    /// An evaluator; see the properties.
    public init(command: String, arguments: [String] = [], data: String? = nil, runs: Int = 3, margin: Double = 0.02, timeoutSeconds: Double = 600) {
        self.command = command
        self.arguments = arguments
        self.data = data
        self.runs = runs
        self.margin = margin
        self.timeoutSeconds = timeoutSeconds
    }

    /// The rule a comparison applies, in words (journaled and remembered with each decision).
    public var rule: String {
        "median of \(runs) run(s) per binary, alternating; a score whose median is worse than the parent's by more than \(FitnessComparison.number(margin * 100))% of it is worse; accepted when none is"
    }
}

/// What an evaluator was when a run pinned it: the command's SHA-256, and one over its data.
public struct FitnessPin: Sendable, Equatable, Codable {
    /// The command's absolute path.
    public var command: String
    /// SHA-256 (hex) of the command's file.
    public var commandSHA256: String
    /// The data directory, if any.
    public var data: String?
    /// SHA-256 (hex) over the data directory's names, kinds and contents, if any.
    public var dataSHA256: String?

    /// The most entries of a data directory hashed, and the most bytes.
    static let dataEntryLimit = 100_000
    static let dataByteLimit = 4 << 30

    /// Hashes `evaluator`'s command and data now.
    /// - Throws: ``FitnessError`` when either cannot be read, or lies inside `workingCopy` (where
    ///   a proposal could change what judges it).
    public init(_ evaluator: FitnessEvaluator, outside workingCopy: String) throws(FitnessError) {
        let root: String
        do { root = try FileSystem.realPath(workingCopy) } catch { throw FitnessError("The working copy \(workingCopy) cannot be resolved: \(error)") }
        func resolved(_ path: String, _ what: String) throws(FitnessError) -> String {
            let real: String
            do { real = try FileSystem.realPath(path) } catch { throw FitnessError("The \(what) \(path) cannot be read: \(error)") }
            guard real != root, !real.hasPrefix(root + "/") else {
                throw FitnessError("The \(what) \(path) is inside the working copy \(workingCopy), where a proposal could change what judges it: keep it outside")
            }
            return real
        }
        command = evaluator.command
        let commandPath = try resolved(evaluator.command, "fitness command")
        do {
            commandSHA256 = try SHA256.hash(file: commandPath).hex
        } catch {
            throw FitnessError("The fitness command \(evaluator.command) cannot be read: \(error)")
        }
        data = evaluator.data
        if let data = evaluator.data {
            dataSHA256 = try Self.treeDigest(try resolved(data, "fitness data directory"))
        }
    }

    /// One SHA-256 over every entry below `root` (names in byte order; regular files by content,
    /// links by target, directories by their entries); without following links.
    static func treeDigest(_ root: String) throws(FitnessError) -> String {
        var lines: [UInt8] = []
        var pending = [""]
        var count = 0, bytes = 0
        while let relative = pending.popLast() {
            let path = relative.isEmpty ? root : root + "/" + relative
            do {
                let names = try FileSystem.contentsOfDirectory(path).sorted { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }
                for name in names.reversed() {
                    count += 1
                    guard count <= dataEntryLimit else { throw FitnessError("The fitness data directory \(root) holds more than \(dataEntryLimit) entries") }
                    let child = relative.isEmpty ? name : relative + "/" + name
                    let status = try FileSystem.status(root + "/" + child, followLinks: false)
                    switch status.kind {
                    case .directory:
                        lines += Array("d \(child)\n".utf8)
                        pending.append(child)
                    case .regular:
                        bytes += status.size
                        guard bytes <= dataByteLimit else {
                            throw FitnessError("The fitness data directory \(root) holds more than \(dataByteLimit >> 30) GiB: too much to hash at every judgement")
                        }
                        lines += Array("f \(child) \(try SHA256.hash(file: root + "/" + child).hex)\n".utf8)
                    case .symbolicLink:
                        // A link out of the directory would let what it reads change unseen by the pin.
                        let resolved = try? FileSystem.realPath(root + "/" + child)
                        guard let resolved, resolved == root || resolved.hasPrefix(root + "/") else {
                            throw FitnessError("The fitness data directory \(root) holds a link out of it (\(child) → \(resolved ?? "nowhere")): what it points to could change without the pin seeing it")
                        }
                        lines += Array("l \(child) \(try FileSystem.destinationOfSymbolicLink(root + "/" + child))\n".utf8)
                    case .other:
                        lines += Array("o \(child)\n".utf8)
                    }
                }
            } catch let error as FitnessError {
                throw error
            } catch {
                throw FitnessError("The fitness data directory \(root) cannot be read: \(error)")
            }
        }
        return SHA256.hash(data: lines).hex
    }
}

/// Why an evaluation could not judge, or what makes a pin unusable.
public struct FitnessError: Error, Sendable, Equatable, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// The scores one run printed.
public struct FitnessScores: Sendable, Equatable, Codable {
    /// Which way a score is better.
    public enum Direction: String, Sendable, Codable { case higher, lower }

    /// Each score's value.
    public var values: [String: Double]
    /// Each score's better direction.
    public var better: [String: Direction]

    /// The most scores and the longest name accepted; the most bytes of output read.
    public static let scoreLimit = 64
    public static let nameLimit = 64
    public static let outputLimit = 64 << 10

    /// Reads a run's output: one JSON object with `scores` (names to finite numbers) and
    /// `better` (the same names to "higher" or "lower"), and nothing else but white space.
    /// - Throws: ``FitnessError`` naming what is wrong.
    public init(parsing bytes: [UInt8]) throws(FitnessError) {
        let value: JSONValue
        do { value = try JSONValue(parsing: bytes, maxDepth: 4) } catch {
            throw FitnessError("it did not print one JSON object (\(error))")
        }
        guard case .object(let fields) = value, case .object(let scores)? = fields["scores"], case .object(let better)? = fields["better"] else {
            throw FitnessError("its JSON has no \"scores\" and \"better\" objects")
        }
        guard !scores.isEmpty, scores.count <= Self.scoreLimit else {
            throw FitnessError("it printed \(scores.count) scores; 1 to \(Self.scoreLimit) are accepted")
        }
        guard Set(scores.keys) == Set(better.keys) else {
            throw FitnessError("its \"better\" does not name exactly its scores")
        }
        var values: [String: Double] = [:], directions: [String: Direction] = [:]
        for (name, score) in scores {
            guard (1...Self.nameLimit).contains(name.utf8.count),
                  name.utf8.allSatisfy({ $0 == 0x2D || $0 == 0x2E || $0 == 0x5F || (0x30...0x39).contains($0) || (0x41...0x5A).contains($0) || (0x61...0x7A).contains($0) }) else {
                throw FitnessError("a score's name is not 1 to \(Self.nameLimit) letters, digits, '.', '-' or '_': \(TerminalText.escaped(name, limit: 80))")
            }
            guard case .number(let number) = score, number.isFinite else { throw FitnessError("the score \(name) is not a finite number") }
            guard case .string(let word)? = better[name], let direction = Direction(rawValue: word) else {
                throw FitnessError("the better direction of \(name) is not \"higher\" or \"lower\"")
            }
            values[name] = number
            directions[name] = direction
        }
        self.values = values
        self.better = directions
    }

    /// Scores given directly.
    public init(values: [String: Double], better: [String: Direction]) {
        self.values = values
        self.better = better
    }
}

/// A candidate's scores against its parent's, and the decision the rule made.
public struct FitnessComparison: Sendable, Equatable, Codable {
    /// One score's samples and verdict.
    public struct Score: Sendable, Equatable, Codable {
        public var name: String
        public var better: FitnessScores.Direction
        public var parent: [Double]
        public var candidate: [Double]
        public var parentMedian: Double
        public var candidateMedian: Double
        /// The candidate's median against the parent's, relative to the parent's magnitude;
        /// positive is better.
        public var change: Double
        /// "better", "worse" or "same" (within the margin).
        public var verdict: String
    }

    /// The rule applied (``FitnessEvaluator/rule``).
    public var rule: String
    /// Every score, by name.
    public var scores: [Score]
    /// No score is worse.
    public var accepted: Bool

    /// Compares samples by `evaluator`'s rule.
    public init(parent: [FitnessScores], candidate: [FitnessScores], evaluator: FitnessEvaluator) {
        rule = evaluator.rule
        let names = (parent.first?.values.keys).map { Array($0).sorted() } ?? []
        scores = names.map { name in
            let better = parent.first?.better[name] ?? .higher
            let p = parent.compactMap { $0.values[name] }, c = candidate.compactMap { $0.values[name] }
            let pm = Self.median(p), cm = Self.median(c)
            let scale = max(abs(pm), 1e-12)
            let change = (better == .higher ? cm - pm : pm - cm) / scale
            let verdict = change < -evaluator.margin ? "worse" : change > evaluator.margin ? "better" : "same"
            return Score(name: name, better: better, parent: p, candidate: c, parentMedian: pm, candidateMedian: cm, change: change, verdict: verdict)
        }
        accepted = !scores.contains { $0.verdict == "worse" }
    }

    /// Each score in a few words: `startup_ms 3.1 → 2.8 (+9.7%, better)`.
    public var summary: String {
        scores.map { "\($0.name) \(Self.number($0.parentMedian)) → \(Self.number($0.candidateMedian)) (\($0.change >= 0 ? "+" : "")\(Self.percent($0.change * 100))%, \($0.verdict))" }
            .joined(separator: "; ")
    }

    static func median(_ values: [Double]) -> Double {
        guard !values.isEmpty else { return 0 }
        let sorted = values.sorted()
        let middle = sorted.count / 2
        return sorted.count % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
    }

    /// A percentage to at most three decimals, or two significant digits when it is smaller
    /// than that shows ("9.677", "-0.000089"): a change is never shown as 0 when it is not.
    package static func percent(_ value: Double) -> String {
        guard value.isFinite, value != 0, abs(value) < 0.0005 else { return number(value) }
        var decimals = 3
        while abs(value) * pow10(decimals) < 10, decimals < 15 { decimals += 1 }
        let scaled = Int64((abs(value) * pow10(decimals)).rounded())
        var digits = String(scaled)
        digits = String(repeating: "0", count: max(0, decimals - digits.count)) + digits
        while digits.hasSuffix("0") { digits.removeLast() }
        return (value < 0 ? "-" : "") + "0." + digits
    }

    private static func pow10(_ exponent: Int) -> Double {
        var result = 1.0
        for _ in 0..<exponent { result *= 10 }
        return result
    }

    /// `value` to at most three decimals, without trailing zeros ("2.8", "17012345", "-0.125").
    static func number(_ value: Double) -> String {
        guard value.isFinite, abs(value) < 1e15 else { return "\(value)" }
        let thousandths = Int64((value * 1000).rounded())
        let whole = thousandths / 1000, fraction = abs(thousandths % 1000)
        let sign = thousandths < 0 && whole == 0 ? "-" : ""
        guard fraction != 0 else { return sign + String(whole) }
        var digits = String(fraction)
        digits = String(repeating: "0", count: 3 - digits.count) + digits
        while digits.hasSuffix("0") { digits.removeLast() }
        return sign + String(whole) + "." + digits
    }
}

/// A candidate the fitness gate turned down: its numbers, or why it could not be judged.
public struct FitnessRejection: Error, Sendable, CustomStringConvertible {
    /// The comparison, when every run gave scores.
    public var comparison: FitnessComparison?
    /// Marks for the archive ("evaluator-changed").
    public var flags: [String]
    public var description: String
}

/// Judges a verified candidate against its parent with an evaluator: the acceptance of a source
/// upgrade (``Upgrader/UpgradeOptions/acceptance``).
public struct FitnessGate: Sendable {
    public var evaluator: FitnessEvaluator
    /// What the evaluator was when the run started; it must still be that.
    public var pin: FitnessPin
    /// The working copy the pin was made outside of.
    public var workingCopy: String
    /// Runs the evaluation confined.
    public var upgrader: Upgrader

    public init(evaluator: FitnessEvaluator, pin: FitnessPin, workingCopy: String, upgrader: Upgrader) {
        self.evaluator = evaluator
        self.pin = pin
        self.workingCopy = workingCopy
        self.upgrader = upgrader
    }

    /// Evaluates `candidate` and `parentBinary` ``FitnessEvaluator/runs`` times each,
    /// alternating, and compares them by the rule.
    /// - Returns: the comparison, accepted.
    /// - Throws: ``FitnessRejection`` when the evaluator changed since it was pinned, a run
    ///   failed, timed out or printed no scores, or the candidate is worse.
    /// - Parameters:
    ///   - candidate: the verified candidate.
    ///   - parentID: the identifier (hex) of the version the proposal was made on; its stored
    ///     file is the parent when the store still holds it, else the running version is.
    public func judge(_ candidate: Upgrader.Candidate, parentID: String?) throws -> FitnessComparison {
        let stored = parentID.flatMap(VersionID.init(hex:)).map { upgrader.home.binary($0.digest) }
        let parentBinary = stored.flatMap { FileSystem.exists($0) ? $0 : nil } ?? candidate.currentBinary ?? candidate.binary
        try requirePin(": no score it gives now is trusted; pin it again with --repin")
        var parent: [FitnessScores] = [], scores: [FitnessScores] = []
        for index in 0..<evaluator.runs {
            parent.append(try sample(parentBinary, role: "parent", index: index, log: candidate.logDirectory))
            scores.append(try sample(candidate.binary, role: "candidate", index: index, log: candidate.logDirectory))
        }
        for sample in parent + scores where Set(sample.values.keys) != Set(parent[0].values.keys) || sample.better != parent[0].better {
            throw FitnessRejection(comparison: nil, flags: [], description: "the fitness command printed different score names or directions from run to run")
        }
        let comparison = FitnessComparison(parent: parent, candidate: scores, evaluator: evaluator)
        guard comparison.accepted else {
            throw FitnessRejection(comparison: comparison, flags: [], description: "worse than its parent: \(comparison.summary) (\(comparison.rule))")
        }
        return comparison
    }

    /// One probation sample (the `number`th) of the stored version `id`: a run of the evaluator (pinned as at
    /// the start) whose every score is no worse than the parent's median of `comparison`
    /// beyond the margin.
    /// - Throws: ``FitnessRejection`` when the run fails or a score is worse.
    public func check(id: String, against comparison: FitnessComparison, sample number: Int) throws {
        guard let version = VersionID(hex: id) else { throw FitnessError("\(id) is not a version identifier") }
        try requirePin("")
        let log = upgrader.home.logs + "/probation"
        let scores = try sample(upgrader.home.binary(version.digest), role: "version on probation", index: number - 1, log: log)
        for score in comparison.scores {
            guard let value = scores.values[score.name], scores.better[score.name] == score.better else {
                throw FitnessRejection(comparison: nil, flags: [], description: "the fitness command no longer gives the score \(score.name)")
            }
            let scale = max(abs(score.parentMedian), 1e-12)
            let change = (score.better == .higher ? value - score.parentMedian : score.parentMedian - value) / scale
            if change < -evaluator.margin {
                throw FitnessRejection(comparison: nil, flags: [], description: "\(score.name) \(FitnessComparison.number(value)) is worse than its parent's \(FitnessComparison.number(score.parentMedian)) by \(FitnessComparison.number(-change * 100))%")
            }
        }
    }

    /// Throws ``FitnessRejection`` (flagged `evaluator-changed`) unless the evaluator is still
    /// what was pinned; `advice` ends the changed message.
    func requirePin(_ advice: String) throws {
        let now: FitnessPin
        do { now = try FitnessPin(evaluator, outside: workingCopy) } catch {
            throw FitnessRejection(comparison: nil, flags: ["evaluator-changed"], description: "the evaluator cannot be checked against its pin: \(error)")
        }
        guard now == pin else {
            throw FitnessRejection(comparison: nil, flags: ["evaluator-changed"],
                                   description: "the evaluator changed since it was pinned (\(Self.changes(from: pin, to: now)))" + advice)
        }
    }

    /// One confined run on `binary`.
    func sample(_ binary: String, role: String, index: Int, log: String) throws -> FitnessScores {
        var environment = ["AUTODEV_CANDIDATE": binary]
        if let data = evaluator.data { environment["AUTODEV_FITNESS_DATA"] = data }
        let run = try upgrader.runConfined([evaluator.command] + evaluator.arguments, environment: environment,
                                           timeoutSeconds: evaluator.timeoutSeconds, outputLimit: FitnessScores.outputLimit,
                                           logDirectory: log, name: "fitness-\(role)-\(index + 1)",
                                           visible: [FileSystem.parent(of: binary)] + (evaluator.data.map { [$0] } ?? []))
        let what = "the fitness command on the \(role) (run \(index + 1))"
        guard run.succeeded else {
            throw FitnessRejection(comparison: nil, flags: [], description: "\(what) \(run.status)" + (run.errorTail.isEmpty ? "" : ": \(run.errorTail)"))
        }
        guard let output = run.output else {
            throw FitnessRejection(comparison: nil, flags: [], description: "\(what) printed more than \(FitnessScores.outputLimit) bytes")
        }
        do {
            return try FitnessScores(parsing: output)
        } catch {
            throw FitnessRejection(comparison: nil, flags: [], description: "\(what) printed no scores: \(error)")
        }
    }

    static func changes(from old: FitnessPin, to new: FitnessPin) -> String {
        var parts: [String] = []
        if old.command != new.command || old.commandSHA256 != new.commandSHA256 { parts.append("the command \(new.command)") }
        if old.data != new.data || old.dataSHA256 != new.dataSHA256 { parts.append("the data \(new.data ?? "(none)")") }
        return parts.isEmpty ? "nothing" : parts.joined(separator: " and ")
    }
}
