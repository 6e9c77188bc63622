/// Why making or applying a patch failed: a code to branch on and a message that names the
/// action and, where there is one, the offending value.
public struct DeltaError: Error, Sendable, CustomStringConvertible, Equatable {
    /// The kind of failure. New codes may be added; compare with the static members.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        let rawValue: String
        /// The patch does not start with the delta magic.
        public static let notAPatch = Code(rawValue: "not a patch")
        /// The patch is of a format version this build does not read.
        public static let unsupportedVersion = Code(rawValue: "unsupported version")
        /// A header field or a decoded length is out of range, or the patch ended early or
        /// carries bytes after its end.
        public static let malformed = Code(rawValue: "malformed")
        /// The patch is well formed but larger than the caller's limits allow.
        public static let limitExceeded = Code(rawValue: "limit exceeded")
        /// The base given is not the one the patch was made from (size or SHA-256).
        public static let baseMismatch = Code(rawValue: "base mismatch")
        /// The rebuilt file's size or SHA-256 is not the one the header names.
        public static let resultMismatch = Code(rawValue: "result mismatch")
        /// An input is too large for the format (2 GiB − 1 bytes each).
        public static let inputTooLarge = Code(rawValue: "input too large")
        /// Reading the patch or writing the result failed outside this module.
        public static let io = Code(rawValue: "i/o")
        public var description: String { rawValue }
    }

    /// The kind of failure.
    public var code: Code
    /// What happened.
    public var message: String

    /// - Parameters:
    ///   - code: the kind of failure.
    ///   - message: what happened.
    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }
}
