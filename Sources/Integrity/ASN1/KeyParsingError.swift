/// Why a public key could not be parsed.
///
/// A struct with a ``Code`` rather than an enum with payloads, so new kinds of failure do not
/// break callers that switch on them: compare `error.code == .unsupportedAlgorithm`.
public struct KeyParsingError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The kind of failure.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Kind: String { case malformedPEM, malformedDER, unsupportedAlgorithm, invalidKey }
        private let kind: Kind
        private init(_ kind: Kind) { self.kind = kind }

        /// The text is not one PEM block with the expected label and canonical base64.
        public static let malformedPEM = Code(.malformedPEM)
        /// The bytes are not strict DER of the expected structure (BER lengths, leading zeros,
        /// wrong tags, truncation, trailing bytes).
        public static let malformedDER = Code(.malformedDER)
        /// Well-formed, but a key of another algorithm or curve.
        public static let unsupportedAlgorithm = Code(.unsupportedAlgorithm)
        /// The right algorithm, but values no valid key has (a point off the curve, a modulus
        /// outside 2048...4096 bits, an even exponent).
        public static let invalidKey = Code(.invalidKey)

        public var description: String { kind.rawValue }
    }

    /// The kind of failure.
    public let code: Code
    /// What was wrong, for people.
    public let message: String

    /// - Parameters:
    ///   - code: the kind of failure.
    ///   - message: what was wrong, for people.
    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }
}
