import FoundationEssentials
import Integrity
import Platform
import Storage

/// `<home>/config.json` read and changed one key at a time: what `autodev config` runs.
///
/// Every change is validated as a whole document the way ``Upgrader`` will read it (a value of
/// the wrong type or out of range is refused, naming the key and the rule), keys this release does
/// not know are kept as they are (a newer release may have written them), and the file is
/// replaced atomically, never through a link. A refused change leaves the file as it was.
public struct ConfigurationFile: Sendable {
    /// A setting this release knows.
    public struct Key: Sendable, Equatable {
        public var name: String
        public var help: String
        /// Its value when the file does not set it.
        public var defaultValue: String
        /// What its value is.
        public var kind: Kind
        /// It takes whole numbers only (not negative).
        public var isWhole: Bool { kind == .wholeNumber }
    }

    /// What a setting's value is, and how `set` reads the text it is given.
    public enum Kind: Sendable, Equatable {
        /// A number ("30", "2.5").
        case number
        /// A whole number, not negative.
        case wholeNumber
        /// One of these words.
        case choice([String])
        /// A text (stored as a JSON string).
        case text
        /// A list of names: given as "a,b,c" (or "" for none), stored as a JSON array of strings.
        case list
    }

    /// One setting as it stands.
    public struct Entry: Sendable, Codable, Equatable {
        public var key: String
        /// The value, as JSON text on one line ("5", "30", "4294967296"), whole: a text set in
        /// the file may hold anything, so a terminal is shown it escaped.
        public var value: String
        /// The file does not set it: this is the default.
        public var isDefault: Bool
        /// This release knows the key (an unknown one is kept, never read).
        public var isKnown: Bool
    }

    /// The file's path.
    public let path: String

    /// The configuration of the installation whose home is `homeDirectory`.
    public init(homeDirectory: String) {
        path = homeDirectory + "/config.json"
    }

    /// Every setting this release knows, in the order `list` shows them.
    public static let keys: [Key] = {
        let help: [(String, String)] = [
            ("historyLimit", "How many versions the store keeps (2 to 100000; current, previous and those in use are never pruned)."),
            ("verifyTimeoutSeconds", "Wall-clock limit of a candidate's verification run, in seconds (1 to 86400)."),
            ("verifyCPUSeconds", "CPU seconds a verification run may use (1 to 86400)."),
            ("verifyMemoryBytes", "Address space a verification run may map, in bytes (64 MiB to 1 TiB)."),
            ("verifyFileSizeBytes", "Largest file a verification run may write, and the size of its private HOME and TMPDIR, in bytes (1 MiB to 64 GiB)."),
            ("maxConfirmAttempts", "Starts of an unconfirmed new version before it is rolled back (1 to 100)."),
            ("maxRestarts", "Restarts within restartWindowSeconds before the restart-loop guard refuses another (at least 1)."),
            ("restartWindowSeconds", "The restart-loop guard's window, in seconds (1 to 604800, a week)."),
            ("confirmDeadlineSeconds", "Seconds an upgraded version has to confirm itself before the watchdog brings the old one back (above 0, at most 86400)."),
            ("journalCheckpointRecords", "Records the active journal holds before it is archived behind a checkpoint (4 to 1000000)."),
            ("updateCheckIntervalSeconds", "Seconds between background update checks (60 to 604800)."),
            ("updatePolicy", "What is installed without being asked: manual (nothing), critical (critical releases) or all."),
            ("autoUpgradeOnIdleMinutes", "Minutes the program must have been idle before an update the policy allows is installed (0 to 10080)."),
            ("skippedVersions", "Versions not offered again until a newer one exists, comma-separated (a critical release is offered all the same)."),
            ("notifyCommand", "An executable (absolute path) run for each update event, with the event's name as its argument and the event as JSON on standard input."),
            ("notifyTimeoutSeconds", "Seconds the notification command may run before it is killed (1 to 300)."),
            ("fitnessCommand", "The agent's fitness command: an executable (absolute path, outside the working copy) that scores AUTODEV_CANDIDATE (docs/agent.md); set, it gates every proposal."),
            ("fitnessData", "A directory the fitness command reads (absolute path), pinned with it."),
            ("fitnessRuns", "Fitness runs per binary, parent and candidate alternating (1 to 100)."),
            ("fitnessMarginPercent", "How much worse than the parent's median a score's median may be, in percent (0 to 100)."),
            ("fitnessTimeoutSeconds", "Wall-clock limit of each fitness run, in seconds (1 to 86400)."),
            ("probationRuns", "Passing fitness samples an accepted version needs before it is promoted (0 to 1000; 0: no probation)."),
            ("probationSeconds", "Seconds an accepted version stays on probation at least (0 to 31536000)."),
        ]
        var defaults = (try? Self.object(of: UpgradeConfiguration())) ?? [:]
        defaults.merge((try? Self.object(of: UpdateSettings())) ?? [:]) { first, _ in first }
        defaults.merge((try? Self.object(of: AgentSettings())) ?? [:]) { first, _ in first }
        let whole: Set = ["historyLimit", "verifyCPUSeconds", "verifyMemoryBytes", "verifyFileSizeBytes", "maxConfirmAttempts", "maxRestarts",
                          "journalCheckpointRecords", "autoUpgradeOnIdleMinutes", "fitnessRuns", "probationRuns"]
        let kinds: [String: Kind] = ["updatePolicy": .choice(UpdateSettings.Policy.allCases.map(\.rawValue)), "skippedVersions": .list, "notifyCommand": .text,
                                     "fitnessCommand": .text, "fitnessData": .text]
        return help.map { name, text in
            Key(name: name, help: text, defaultValue: defaults[name].map { Self.text($0) } ?? "",
                kind: kinds[name] ?? (whole.contains(name) ? .wholeNumber : .number))
        }
    }()

    /// Every known setting, then the unknown keys the file holds.
    /// - Throws: ``UpgradeError`` when the file cannot be read or is not a JSON object.
    public func entries() throws(UpgradeError) -> [Entry] {
        let document = try read()
        let known = Self.keys.map { key in
            Entry(key: key.name, value: document[key.name].map { Self.text($0) } ?? key.defaultValue, isDefault: document[key.name] == nil, isKnown: true)
        }
        let names = Set(Self.keys.map(\.name))
        let unknown = document.keys.filter { !names.contains($0) }.sorted().map {
            Entry(key: $0, value: Self.text(document[$0]!), isDefault: false, isKnown: false)
        }
        return known + unknown
    }

    /// One setting.
    /// - Throws: ``UpgradeError`` naming the known keys when `key` is not one of them and the file does not hold it.
    public func entry(_ key: String) throws(UpgradeError) -> Entry {
        guard let entry = try entries().first(where: { $0.key == key }) else { throw unknownKey(key) }
        return entry
    }

    /// Sets `key` to `value`: a number written as JSON would, one of a choice's words, a text,
    /// or a list as "a,b,c".
    /// - Returns: the setting as it now stands.
    /// - Throws: ``UpgradeError`` for an unknown key, a value of the wrong kind, or one the
    ///   configuration refuses (its rule named); the file is then unchanged.
    @discardableResult
    public func set(_ key: String, to value: String) throws(UpgradeError) -> Entry {
        guard let known = Self.keys.first(where: { $0.name == key }) else { throw unknownKey(key) }
        let shown = TerminalText.escaped(value, limit: 100)
        let parsed: CanonicalJSONValue
        switch known.kind {
        case .number, .wholeNumber:
            guard let number = Self.number(value), let json = try? CanonicalJSON.parse(Array(value.utf8), maxDepth: 1) else {
                throw UpgradeError.invalidConfiguration(path: path, reason: "'\(key)' must be a number, not '\(shown)'; nothing was changed")
            }
            if known.isWhole, number.rounded() != number || number < 0 || number >= 9.007_199_254_740_992e15 {
                throw UpgradeError.invalidConfiguration(path: path, reason: "'\(key)' must be a whole number, not negative, not '\(shown)'; nothing was changed")
            }
            parsed = json
        case .choice(let words):
            guard words.contains(value) else {
                throw UpgradeError.invalidConfiguration(path: path, reason: "'\(key)' must be \(words.joined(separator: ", ")), not '\(shown)'; nothing was changed")
            }
            parsed = .string(value)
        case .text:
            parsed = .string(value)
        case .list:
            let items = value.split(separator: ",", omittingEmptySubsequences: true).map { item in
                String(item.drop(while: \.isWhitespace).reversed().drop(while: \.isWhitespace).reversed())
            }.filter { !$0.isEmpty }
            parsed = .array(items.map(CanonicalJSONValue.string))
        }
        try editing { document throws(UpgradeError) in document[key] = parsed }
        return try entry(key)
    }

    /// Adds `version` to `skippedVersions` (kept once; the 1000 newest kept).
    /// - Throws: ``UpgradeError`` when the file cannot be read or written, or the name is refused.
    public func skip(_ version: String) throws(UpgradeError) {
        try editing { document throws(UpgradeError) in
            var names: [CanonicalJSONValue] = []
            if case .array(let items)? = document["skippedVersions"] { names = items }
            names.removeAll { $0 == .string(version) }
            names.append(.string(version))
            document["skippedVersions"] = .array(Array(names.suffix(1000)))
        }
    }

    /// Removes `key` from the file: the default applies again (an unknown key is removed too).
    /// - Throws: ``UpgradeError`` when the file cannot be read or written.
    public func unset(_ key: String) throws(UpgradeError) {
        try editing { document throws(UpgradeError) in
            guard document.removeValue(forKey: key) == nil else { return }
            guard Self.keys.contains(where: { $0.name == key }) else { throw unknownKey(key) }
        }
    }

    // MARK: - Internals

    /// `<home>/config.json.lock`: held while a change reads, edits and replaces the file, so two
    /// changes at once both land (without it, the second would write back what it read before
    /// the first was written). Mode 0600: another user cannot open it to hold it.
    private var lockPath: String { path + ".lock" }

    /// How long a change waits for another to finish before it gives up.
    static let lockWaitSeconds = 5.0

    /// Reads the file, lets `change` edit it, and writes it back (unless `change` left it as it
    /// was), all under the lock, waited for at most ``lockWaitSeconds``.
    private func editing(_ change: (inout [String: CanonicalJSONValue]) throws(UpgradeError) -> Void) throws(UpgradeError) {
        let start = MonotonicClock.now()
        var held: FileLock?
        while held == nil {
            held = try UpgradeError.wrapping { try FileLock.tryAcquire(lockPath, mode: 0o600) }
            if held == nil {
                guard MonotonicClock.seconds(since: start) < Self.lockWaitSeconds else {
                    throw UpgradeError.invalidConfiguration(path: path, reason: "another process has held \(lockPath) for \(Int(Self.lockWaitSeconds)) s (a change still running, or a lock taken to block changes); nothing was changed")
                }
                ProcessControl.sleep(seconds: 0.005)
            }
        }
        guard let lock = held else { return }
        defer { lock.release() }
        // A lock file an older release made readable by all: closed to others from now on.
        try? lock.descriptor.setMode(0o600)
        let original = try read()
        var document = original
        try change(&document)
        guard document != original else { return }
        try write(document)
    }

    private func unknownKey(_ key: String) -> UpgradeError {
        UpgradeError.invalidConfiguration(path: path, reason: "there is no setting '\(TerminalText.escaped(key, limit: 100))'; the settings are "
            + Self.keys.map(\.name).joined(separator: ", "))
    }

    /// The file as a JSON object (numbers kept as written); empty when there is no file.
    private func read() throws(UpgradeError) -> [String: CanonicalJSONValue] {
        try UpgradeError.wrapping {
            guard let bytes = try FileSystem.readOwnFile(path, maxBytes: UpgradeConfiguration.largestFileBytes + 1) else { return [:] }
            guard bytes.count <= UpgradeConfiguration.largestFileBytes else {
                throw UpgradeError.invalidConfiguration(path: path, reason: "it is larger than \(UpgradeConfiguration.largestFileBytes) bytes")
            }
            let value: CanonicalJSONValue
            do {
                // An unknown key a later release wrote may hold any number: kept as written.
                value = try CanonicalJSON.parse(bytes, maxDepth: 64, widerIntegers: .keepAsNumber)
            } catch let error as CanonicalJSONError {
                throw UpgradeError.invalidConfiguration(path: path, reason: "it cannot be read as JSON (\(error.reason)); fix or remove it")
            }
            guard case .object(let fields) = value else {
                throw UpgradeError.invalidConfiguration(path: path, reason: "it is not a JSON object; fix or remove it")
            }
            return fields
        }
    }

    /// Validates `document` as the upgrader will read it, then replaces the file with it (never
    /// another user's file: it must be this user's or the home's owner's).
    private func write(_ document: [String: CanonicalJSONValue]) throws(UpgradeError) {
        try UpgradeError.wrapping {
            let bytes = Array((Self.text(.object(document), indent: "") + "\n").utf8)
            do {
                _ = try JSONDecoder().decode(UpgradeConfiguration.self, from: Data(bytes))
                _ = try JSONDecoder().decode(UpdateSettings.self, from: Data(bytes))
                _ = try JSONDecoder().decode(AgentSettings.self, from: Data(bytes))
            } catch let error as DecodingError {
                throw UpgradeError.invalidConfiguration(path: path, reason: UpgradeConfiguration.explain(error) + "; nothing was changed")
            }
            if let existing = try FileSystem.statusIfPresent(path, followLinks: false),
               existing.owner != Privilege.userID, existing.owner != (try? FileSystem.status(FileSystem.parent(of: path)))?.owner {
                throw UpgradeError.invalidConfiguration(path: path, reason: "it is owned by user \(existing.owner), not by this user or the home's owner; nothing was changed")
            }
            try FileSystem.writeAtomically(path, bytes)
        }
    }

    private static func object(of configuration: some Encodable) throws -> [String: CanonicalJSONValue] {
        guard case .object(let fields) = try CanonicalJSON.parse(Array(try JSONEncoder().encode(configuration))) else { return [:] }
        return fields
    }

    /// A value as JSON text, numbers as they were written, keys sorted; objects and arrays
    /// indented when `indent` is given (nil: on one line). Whole, and not escaped for a
    /// terminal: what shows it escapes it.
    private static func text(_ value: CanonicalJSONValue, indent: String? = nil) -> String {
        func quoted(_ text: String) -> String {
            var out = "\""
            for scalar in text.unicodeScalars {
                switch scalar {
                case "\"": out += "\\\""
                case "\\": out += "\\\\"
                case "\n": out += "\\n"
                case "\r": out += "\\r"
                case "\t": out += "\\t"
                case _ where scalar.value < 0x20: out += "\\u" + String(repeating: "0", count: 4 - String(scalar.value, radix: 16).count) + String(scalar.value, radix: 16)
                default: out.unicodeScalars.append(scalar)
                }
            }
            return out + "\""
        }
        let inner = indent.map { $0 + "  " }
        let separator = indent == nil ? "," : ",\n"
        let result: String
        switch value {
        case .null: result = "null"
        case .bool(let flag): result = String(flag)
        case .integer(let number): result = String(number)
        case .number(let written): result = written
        case .string(let text): result = quoted(text)
        case .array(let items):
            result = items.isEmpty ? "[]" : indent == nil ? "[" + items.map { text($0) }.joined(separator: ",") + "]"
                : "[\n" + items.map { inner! + text($0, indent: inner) }.joined(separator: separator) + "\n" + indent! + "]"
        case .object(let fields):
            let keys = fields.keys.sorted()
            result = keys.isEmpty ? "{}" : indent == nil ? "{" + keys.map { quoted($0) + ":" + text(fields[$0]!) }.joined(separator: ",") + "}"
                : "{\n" + keys.map { inner! + quoted($0) + ": " + text(fields[$0]!, indent: inner) }.joined(separator: separator) + "\n" + indent! + "}"
        }
        return result
    }

    /// A decimal number ("5", "2.5", "4294967296"), finite; nil for anything else.
    private static func number(_ text: String) -> Double? {
        guard !text.isEmpty, text.utf8.allSatisfy({ (0x30...0x39).contains($0) || $0 == 0x2E || $0 == 0x2D || $0 == 0x65 || $0 == 0x45 || $0 == 0x2B }),
              let value = Double(text), value.isFinite else { return nil }
        return value
    }
}
