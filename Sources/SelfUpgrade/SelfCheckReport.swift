import FoundationEssentials
import Platform
import Storage

/// What a program's verification mode prints (as JSON) for the verifier to judge.
public struct SelfCheckReport: Codable, Sendable, Equatable {
    /// One smoke check.
    public struct Check: Codable, Sendable, Equatable {
        public var name: String
        public var passed: Bool
        public var detail: String
        public init(name: String, passed: Bool, detail: String) {
            self.name = name
            self.passed = passed
            self.detail = detail
        }
    }

    /// How the state copy fared.
    public struct StateCheck: Codable, Sendable, Equatable {
        /// The schema found in the copy (nil: there was no state to read).
        public var foundSchema: Int?
        /// The schema this program writes.
        public var schema: Int
        /// Decode → encode → decode gave an equal value, and the saved file reloads equal.
        public var roundTripEqual: Bool
        /// Paths in the state that differed, when the round trip was not equal.
        public var differences: [String]
        /// Why reading failed, when it did.
        public var error: String?
        /// Fields of the snapshot (after migration) that this program's state type does not keep:
        /// written by a newer version, they would be lost by a save. Empty when none.
        public var droppedFields: [String]

        public init(foundSchema: Int?, schema: Int, roundTripEqual: Bool, differences: [String], error: String?,
                    droppedFields: [String] = []) {
            self.foundSchema = foundSchema
            self.schema = schema
            self.roundTripEqual = roundTripEqual
            self.differences = differences
            self.error = error
            self.droppedFields = droppedFields
        }

        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            foundSchema = try container.decodeIfPresent(Int.self, forKey: .foundSchema)
            schema = try container.decode(Int.self, forKey: .schema)
            roundTripEqual = try container.decode(Bool.self, forKey: .roundTripEqual)
            differences = try container.decode([String].self, forKey: .differences)
            error = try container.decodeIfPresent(String.self, forKey: .error)
            droppedFields = try container.decodeIfPresent([String].self, forKey: .droppedFields) ?? []
        }
    }

    public var program: String
    public var version: String
    public var protocolVersion: Int
    /// The smoke checks run; the verifier refuses a report with none (it would prove nothing).
    public var checks: [Check]
    public var state: StateCheck?
    /// It reads a home journal that starts from a checkpoint (every program built with this
    /// library does: the default). A report without it comes from a release older than
    /// checkpoints: the home then writes none while that version is stored, and refuses to make
    /// it current over a journal that already has one.
    public var readsJournalCheckpoints: Bool?

    public init(program: String, version: String, protocolVersion: Int, checks: [Check], state: StateCheck? = nil,
                readsJournalCheckpoints: Bool? = true) {
        self.program = program
        self.version = version
        self.protocolVersion = protocolVersion
        self.checks = checks
        self.state = state
        self.readsJournalCheckpoints = readsJournalCheckpoints
    }

    /// Every check passed and, if the state was checked, its round trip was equal.
    public var passed: Bool { checks.allSatisfy(\.passed) && (state.map { $0.error == nil && $0.roundTripEqual } ?? true) }

    /// Runs named checks, turning a thrown error into a failed check.
    public static func run(_ checks: [(name: String, body: () throws -> String)]) -> [Check] {
        checks.map { check in
            do {
                return Check(name: check.name, passed: true, detail: try check.body())
            } catch {
                return Check(name: check.name, passed: false, detail: "\(error)")
            }
        }
    }

    /// Reads the state in `directory` with `store`'s schema and migrations, saves it back and
    /// proves the round trip: the decoded value, re-encoded and decoded again, and the saved file
    /// reloaded, are all equal.
    public static func checkState<State: Codable & Sendable & Equatable>(
        _ store: StateStore<State>
    ) -> StateCheck {
        do {
            guard let loaded = try store.load() else {
                return StateCheck(foundSchema: nil, schema: store.schema, roundTripEqual: true, differences: [], error: nil)
            }
            // A strict reader must read what it takes as the decoder does.
            if let reader = store.strictReader, let (found, body) = try StateStore<State>.read(loaded.path), found == store.schema,
               let strict = reader(Array(body)), strict != (try JSONDecoder().decode(State.self, from: body)) {
                return StateCheck(foundSchema: found, schema: store.schema, roundTripEqual: false, differences: [],
                                  error: "the strict reader reads \(loaded.path) differently from JSONDecoder")
            }
            let encoded = try store.encode(loaded.state)
            guard let newline = encoded.firstIndex(of: 10) else {
                return StateCheck(foundSchema: loaded.foundSchema, schema: store.schema, roundTripEqual: false, differences: [],
                                  error: "its encoding has no header line")
            }
            let kept = try JSONDecoder().decode(JSONValue.self, from: Data(encoded[(newline + 1)...]))
            let dropped = try store.migratedJSON(at: loaded.path).map { kept.missingPaths(from: $0) } ?? []
            let again = try store.decode(Data(encoded[(newline + 1)...]), schema: store.schema, path: store.path)
            try store.save(loaded.state)
            let reloaded = try store.load()?.state
            let equal = again == loaded.state && reloaded == loaded.state
            var differences: [String] = []
            if !equal {
                let first = try JSONDecoder().decode(JSONValue.self, from: JSONEncoder().encode(loaded.state))
                let second = try JSONDecoder().decode(JSONValue.self, from: JSONEncoder().encode(reloaded ?? again))
                differences = first.differences(from: second)
            }
            return StateCheck(foundSchema: loaded.foundSchema, schema: store.schema, roundTripEqual: equal,
                              differences: differences, error: nil, droppedFields: dropped)
        } catch {
            return StateCheck(foundSchema: nil, schema: store.schema, roundTripEqual: false, differences: [], error: "\(error)")
        }
    }
}

extension SelfCheckReport {
    /// The library's own smoke checks, for a program's verification mode: the journal and the
    /// version store work where the candidate runs (inside the verifier's sandbox). Everything is
    /// written under `scratch`, which must be an empty directory the caller removes.
    /// - Parameter executable: the running binary, staged and swapped in a scratch home.
    public static func storageChecks(scratch: String, executable: String) -> [Check] {
        // Written by path below it: so it must be a directory of this user's, not a link, and empty.
        guard let status = try? FileSystem.statusIfPresent(scratch, followLinks: false), status.kind == .directory,
              status.owner == Privilege.userID, (try? FileSystem.contentsOfDirectory(scratch))?.isEmpty == true else {
            let reason = "the scratch directory \"\(scratch)\" is not an empty directory of this user's (a link is not followed)"
            return ["journal", "store"].map { Check(name: $0, passed: false, detail: reason) }
        }
        return run([
            ("journal", { () throws -> String in
                var journal = try Journal(path: scratch + "/journal")
                try journal.append(JournalRecord(.begin(transaction: "check", operation: .dryRun, from: nil, target: nil, source: nil)))
                try journal.append(JournalRecord(.abort(transaction: "check", reason: "self-check")))
                guard try Journal(path: scratch + "/journal").records == journal.records else { throw CheckFailure("journal did not read back") }
                return "wrote and read back 2 records"
            }),
            ("store", { () throws -> String in
                let home = Home(root: scratch + "/home")
                try home.createLayout()
                let staged = try VersionStore(home: home).stage(executable, source: "self-check", transaction: "check")
                try home.setCurrent(staged.id)
                guard try home.currentVersion() == staged.id else { throw CheckFailure("current did not flip") }
                try VersionStore(home: home).verify(staged.id)
                return "staged and swapped own binary (\(staged.id.short), \(staged.size) bytes)"
            }),
        ])
    }

    private struct CheckFailure: Error, CustomStringConvertible {
        var description: String
        init(_ description: String) { self.description = description }
    }
}
