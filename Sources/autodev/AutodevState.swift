import SelfUpgrade
import SourceUpgrade

/// The version string of this build; a version stamped into the binary after the build
/// (`autodev release stamp`) takes its place.
let autodevVersion = ProgramIdentity.stampedVersion ?? "0.1.0"

/// The upgrade protocol this build speaks (a candidate must report the same).
let autodevProtocol = 1

let autodevIdentity = ProgramIdentity(name: "autodev", version: autodevVersion, protocolVersion: autodevProtocol)

/// autodev's own state, kept across restarts in `<home>/state/autodev.json` (schema 2).
struct AutodevState: Codable, Sendable, Equatable {
    /// `upgrades` counts confirmed upgrades (each writes the state anyway, to clear its pending
    /// transaction). The other three are no longer kept up: counting a rollback would cost it two
    /// fsyncs, and the journal already records every one. They stay in the schema, frozen, so that
    /// releases before this one still read the state.
    struct Counters: Codable, Sendable, Equatable {
        var upgrades = 0
        var rollbacks = 0
        var failedRestarts = 0
        var restarts = 0
    }

    var counters = Counters()
    /// The transaction that exec'd and has not been confirmed yet, if any.
    var pendingTransaction: String?
    /// The version string that last confirmed itself.
    var lastConfirmedVersion: String?

    /// Schema 1 had the two counters at the top level.
    struct SchemaOne: Codable, Sendable {
        var upgrades: Int
        var rollbacks: Int
    }

    static func store(directory: String) -> StateStore<AutodevState> {
        var store = StateStore<AutodevState>(directory: directory, name: "autodev", schema: 2, migrations: [
            .converting(from: 1, SchemaOne.self, to: AutodevState.self) { old in
                AutodevState(counters: Counters(upgrades: old.upgrades, rollbacks: old.rollbacks))
            },
        ])
        store.strictReader = { AutodevState(strictJSON: $0) }
        return store
    }

    /// Loads, changes and saves the state in one go.
    /// - Parameter durable: false for what the journal records as well (the transaction a restart
    ///   is in): no fsync; a power cut may lose the write, never tear it.
    static func update(in directory: String, durable: Bool = true, _ change: (inout AutodevState) -> Void) throws {
        let store = store(directory: directory)
        var state = try store.load()?.state ?? AutodevState()
        change(&state)
        try store.save(state, durable: durable)
    }
}

extension AutodevState {
    /// The state file as this version writes it, read on the restart's path: the schema 2
    /// header, then a body ``init(strictJSON:)`` takes. nil for anything else (no file, another
    /// schema or form, a file that cannot be read), which ``store(directory:)`` then reads with
    /// its migrations and errors. Nothing generic is made here: a first `StateStore<AutodevState>`
    /// resolves `AutodevState`'s conformances at run time, two scans of every conformance in the
    /// binary, in every restarted process.
    static func readStrictly(directory: String) -> AutodevState? {
        guard let (schema, body) = (try? StateFile.read(directory + "/autodev.json")) ?? nil, schema == 2 else { return nil }
        return AutodevState(strictJSON: body)
    }

    /// Schema 2 read with the strict parser, exactly as `JSONDecoder` reads it: the four
    /// counters required, whole numbers a double holds exactly; the two texts optional (null is
    /// absent); other keys ignored. nil for anything else, which the decoder then reads.
    init?(strictJSON bytes: [UInt8]) {
        let exact = -((1 << 53) - 1)...((1 << 53) - 1)
        guard let object = StrictJSONObject(parsing: bytes, maxDepth: 8), let counted = object.object("counters"),
              let upgrades = counted.integer("upgrades", in: exact), let rollbacks = counted.integer("rollbacks", in: exact),
              let failedRestarts = counted.integer("failedRestarts", in: exact), let restarts = counted.integer("restarts", in: exact),
              let pendingTransaction = object.optionalString("pendingTransaction"),
              let lastConfirmedVersion = object.optionalString("lastConfirmedVersion") else { return nil }
        self.init(counters: Counters(upgrades: upgrades, rollbacks: rollbacks, failedRestarts: failedRestarts, restarts: restarts),
                  pendingTransaction: pendingTransaction, lastConfirmedVersion: lastConfirmedVersion)
    }
}
