import Modules

/// The example server's request handler as a module: a message is `METHOD PATH`, the reply the
/// response body. Its state is the number of requests it answered (schema 1 in both versions).
public enum ExampleHandler {
    /// The versions this target holds, by their version label.
    public static let versions: [String: any ReloadableModule.Type] = ["1": HandlerV1.self, "2": HandlerV2.self]
    /// The version a worker runs when none is named.
    public static let latest = "2"

    static func count(_ state: [UInt8], schema: Int) throws -> Int {
        guard schema == 1, let count = Int(String(decoding: state, as: UTF8.self)) else { throw ModuleFailure("malformed handler state") }
        return count
    }
}

/// What both versions keep: the count of requests answered, as decimal text (schema 1).
protocol CountingHandler: ReloadableModule {
    var answered: Int { get set }
}

extension CountingHandler {
    public func snapshot() -> [UInt8] { Array(String(answered).utf8) }
    public mutating func restore(_ state: [UInt8], schema: Int) throws { answered = try ExampleHandler.count(state, schema: schema) }
    public static func migrate(_ state: [UInt8], from: Int, to: Int) throws -> [UInt8] {
        guard from == to else { throw ModuleFailure("no migration from schema \(from) to \(to)") }
        return state
    }
}

/// Handler version 1.
public struct HandlerV1: CountingHandler {
    public static let name = "example-handler"
    public static let version = "1"
    public static let protocolVersion = 1
    public static let stateSchema = 1
    var answered = 0

    public init() {}

    public mutating func handle(_ message: [UInt8]) throws -> [UInt8] {
        answered += 1
        return Array("handler v1: \(String(decoding: message, as: UTF8.self)) (request \(answered))\n".utf8)
    }
}

/// Handler version 2: another reply text, the same state.
public struct HandlerV2: CountingHandler {
    public static let name = "example-handler"
    public static let version = "2"
    public static let protocolVersion = 1
    public static let stateSchema = 1
    var answered = 0

    public init() {}

    public mutating func handle(_ message: [UInt8]) throws -> [UInt8] {
        answered += 1
        return Array("handler v2: \(String(decoding: message, as: UTF8.self)) (request \(answered))\n".utf8)
    }
}
