/// A part of a program that can be replaced while the program runs.
///
/// A module owns no state the host cannot snapshot: everything it keeps is in ``snapshot()``,
/// and a new version takes it back through ``restore(_:schema:)`` after the host ran the pure
/// ``migrate(_:from:to:)``. Each version runs in a worker process of its own (see
/// ``ModuleWorker``); the host talks to it over a socket.
public protocol ReloadableModule: Sendable {
    /// The module's name; a reload only replaces a module by one of the same name.
    static var name: String { get }
    /// This version's own label (for lists and the journal).
    static var version: String { get }
    /// The message interface. A reload to a version with another protocol version is refused.
    static var protocolVersion: Int { get }
    /// The version of the state's schema that ``snapshot()`` writes and ``restore(_:schema:)`` reads.
    static var stateSchema: Int { get }

    /// A module with its initial state.
    init()

    /// Answers one message.
    /// - Throws: any error: the caller receives it as a failed reply; the module keeps running.
    mutating func handle(_ message: [UInt8]) throws -> [UInt8]

    /// The whole state, in schema ``stateSchema``.
    func snapshot() -> [UInt8]

    /// Replaces the state by `state`, written in `schema` (always ``stateSchema`` when the host
    /// migrated it first).
    /// - Throws: when the bytes are not a valid state: the reload is rolled back.
    mutating func restore(_ state: [UInt8], schema: Int) throws

    /// Rewrites a state from one schema to another: a pure function. Up-migrations are required
    /// from every older schema; a down-migration (to an older schema) where one exists lets a
    /// reload return to an older version with the state.
    /// - Throws: when there is no migration between the two schemas, or the state is invalid.
    static func migrate(_ state: [UInt8], from: Int, to: Int) throws -> [UInt8]

    /// Checks the module works (after a restore, before the host commits a reload).
    /// - Throws: what is wrong.
    func health() throws
}

extension ReloadableModule {
    /// A module with no health condition of its own is healthy.
    public func health() throws {}
}

/// A module's refusal, with a text the host reports.
public struct ModuleFailure: Error, CustomStringConvertible, Sendable {
    /// What went wrong.
    public var description: String
    /// - Parameter description: what went wrong.
    public init(_ description: String) { self.description = description }
}
