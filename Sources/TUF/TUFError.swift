import Platform

/// Why a TUF operation failed: a code to branch on and a message that names the role, URL or
/// path and what was being done.
public struct TUFError: Error, Sendable, CustomStringConvertible, Equatable {
    /// The kind of failure. New codes may be added; compare with the static members.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        let rawValue: String
        /// Metadata that does not parse or lacks a required field.
        public static let invalidMetadata = Code(rawValue: "invalid metadata")
        /// Fewer valid signatures than the role's threshold.
        public static let unsigned = Code(rawValue: "threshold not met")
        /// Metadata past its expiry date.
        public static let expired = Code(rawValue: "expired")
        /// A version that is not the one expected (rollback, mismatch with snapshot or URL).
        public static let badVersion = Code(rawValue: "bad version")
        /// Bytes whose length or hash differs from what trusted metadata lists.
        public static let mismatch = Code(rawValue: "length or hash mismatch")
        /// A download that failed (HTTP error, too large, connection).
        public static let download = Code(rawValue: "download failed")
        /// A download that ran out of time (stall timeout or total deadline).
        public static let timedOut = Code(rawValue: "timed out")
        /// A target path no trusted role lists.
        public static let targetNotFound = Code(rawValue: "target not found")
        /// Reading or writing the local metadata or target directory failed.
        public static let storage = Code(rawValue: "storage")
        public var description: String { rawValue }
    }

    /// The kind of failure.
    public var code: Code
    /// What happened, naming the role, URL or path.
    public var message: String

    /// - Parameters:
    ///   - code: the kind of failure.
    ///   - message: what happened; shown escaped (control characters, line breaks and
    ///     bidirectional controls as escapes). Messages quote fields of metadata before its
    ///     signatures are checked (`_type`, `expires`), so they must never forge a line or move
    ///     the cursor wherever they are printed.
    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = TerminalText.escaped(message)
    }

    public var description: String { message }
}
