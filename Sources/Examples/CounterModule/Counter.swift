import Modules

/// The example stateful module: named counters.
///
/// Messages (protocol 1): `add KEY N` adds N to KEY and answers `KEY TOTAL`; `get KEY` answers
/// `KEY TOTAL`. Version 1 keeps `key=total` lines (state schema 1); version 2 also counts the
/// updates of each key, in `key<TAB>total<TAB>updates` lines (schema 2). Up-migration adds
/// `updates` as 0, down-migration drops it: a round trip 1 → 2 → 1 gives the same bytes.
public enum CounterModule {
    /// The versions this target holds, by their version label.
    public static let versions: [String: any ReloadableModule.Type] = ["1": CounterV1.self, "2": CounterV2.self]
    /// The version a worker runs when none is named.
    public static let latest = "2"


    /// Parses `add KEY N` / `get KEY`.
    static func parse(_ message: [UInt8]) throws -> (key: String, delta: Int) {
        let words = String(decoding: message, as: UTF8.self).split(separator: " ")
        switch (words.first, words.count) {
        case ("add"?, 3):
            guard let delta = Int(words[2]) else { throw ModuleFailure("not a number: \(words[2])") }
            return (String(words[1]), delta)
        case ("get"?, 2): return (String(words[1]), 0)
        default: throw ModuleFailure("unknown message (expected 'add KEY N' or 'get KEY')")
        }
    }

    /// `key=total` lines, sorted (schema 1).
    static func encodeV1(_ totals: [String: Int]) -> [UInt8] {
        Array(totals.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)\n" }.joined().utf8)
    }

    static func decodeV1(_ state: [UInt8]) throws -> [String: Int] {
        var totals: [String: Int] = [:]
        for line in String(decoding: state, as: UTF8.self).split(separator: "\n") {
            let parts = line.split(separator: "=")
            guard parts.count == 2, let total = Int(parts[1]) else { throw ModuleFailure("malformed schema 1 line: \(line)") }
            totals[String(parts[0])] = total
        }
        return totals
    }

    /// `key<TAB>total<TAB>updates` lines, sorted (schema 2).
    static func encodeV2(_ entries: [String: (total: Int, updates: Int)]) -> [UInt8] {
        Array(entries.sorted { $0.key < $1.key }.map { "\($0.key)\t\($0.value.total)\t\($0.value.updates)\n" }.joined().utf8)
    }

    static func decodeV2(_ state: [UInt8]) throws -> [String: (total: Int, updates: Int)] {
        var entries: [String: (total: Int, updates: Int)] = [:]
        for line in String(decoding: state, as: UTF8.self).split(separator: "\n") {
            let parts = line.split(separator: "\t")
            guard parts.count == 3, let total = Int(parts[1]), let updates = Int(parts[2]) else { throw ModuleFailure("malformed schema 2 line: \(line)") }
            entries[String(parts[0])] = (total, updates)
        }
        return entries
    }

    /// The migrations both versions share: 1 → 2 adds `updates` = 0, 2 → 1 drops it.
    static func migrate(_ state: [UInt8], from: Int, to: Int) throws -> [UInt8] {
        switch (from, to) {
        case (1, 1), (2, 2): return state
        case (1, 2): return encodeV2(try decodeV1(state).mapValues { ($0, 0) })
        case (2, 1): return encodeV1(try decodeV2(state).mapValues(\.total))
        default: throw ModuleFailure("no migration from schema \(from) to \(to)")
        }
    }
}

/// Counter version 1: totals only (schema 1).
public struct CounterV1: ReloadableModule {
    public static let name = "counter"
    public static let version = "1"
    public static let protocolVersion = 1
    public static let stateSchema = 1
    var totals: [String: Int] = [:]

    public init() {}

    public mutating func handle(_ message: [UInt8]) throws -> [UInt8] {
        let (key, delta) = try CounterModule.parse(message)
        let total = totals[key, default: 0] + delta
        if delta != 0 { totals[key] = total }
        return Array("\(key) \(total)".utf8)
    }

    public func snapshot() -> [UInt8] { CounterModule.encodeV1(totals) }

    public mutating func restore(_ state: [UInt8], schema: Int) throws {
        totals = try CounterModule.decodeV1(try CounterModule.migrate(state, from: schema, to: Self.stateSchema))
    }

    public static func migrate(_ state: [UInt8], from: Int, to: Int) throws -> [UInt8] {
        try CounterModule.migrate(state, from: from, to: to)
    }
}

/// Counter version 2: totals and the number of updates of each key (schema 2).
public struct CounterV2: ReloadableModule {
    public static let name = "counter"
    public static let version = "2"
    public static let protocolVersion = 1
    public static let stateSchema = 2
    var entries: [String: (total: Int, updates: Int)] = [:]

    public init() {}

    public mutating func handle(_ message: [UInt8]) throws -> [UInt8] {
        let (key, delta) = try CounterModule.parse(message)
        var entry = entries[key] ?? (0, 0)
        if delta != 0 {
            entry.total += delta
            entry.updates += 1
            entries[key] = entry
        }
        return Array("\(key) \(entry.total)".utf8)
    }

    public func snapshot() -> [UInt8] { CounterModule.encodeV2(entries) }

    public mutating func restore(_ state: [UInt8], schema: Int) throws {
        entries = try CounterModule.decodeV2(try CounterModule.migrate(state, from: schema, to: Self.stateSchema))
    }

    public static func migrate(_ state: [UInt8], from: Int, to: Int) throws -> [UInt8] {
        try CounterModule.migrate(state, from: from, to: to)
    }

    public func health() throws {
        guard entries.values.allSatisfy({ $0.updates >= 0 }) else { throw ModuleFailure("negative update count") }
    }
}
