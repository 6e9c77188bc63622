/// Why bytes are not acceptable JSON, or a value has no canonical form.
public struct CanonicalJSONError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The byte offset in the input where the problem was found (0 for encoding errors).
    public var offset: Int
    /// What is wrong, e.g. "duplicate key \"version\"".
    public var reason: String

    /// - Parameters:
    ///   - reason: what is wrong.
    ///   - offset: where, in bytes from the start of the input.
    public init(_ reason: String, offset: Int = 0) {
        self.reason = reason
        self.offset = offset
    }

    public var description: String { "invalid JSON at byte \(offset): \(reason)" }
}
