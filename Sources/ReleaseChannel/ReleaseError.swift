/// Why publishing or checking for updates failed: a code to branch on and a message that names
/// the path or URL and the action.
public struct ReleaseChannelError: Error, Sendable, CustomStringConvertible, Equatable {
    /// The kind of failure. New codes may be added; compare with the static members.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        let rawValue: String
        /// A value the caller gave is not acceptable (version, platform, threshold, percentage).
        public static let invalidArgument = Code(rawValue: "invalid argument")
        /// The release repository or channel is missing, incomplete or malformed.
        public static let invalidRepository = Code(rawValue: "invalid repository")
        /// Reading or writing a file failed.
        public static let storage = Code(rawValue: "storage")
        /// The channel could not be read or did not verify (network, signatures, expiry).
        public static let channel = Code(rawValue: "channel")
        /// SIGINT or SIGTERM stopped a download; what arrived is kept to resume.
        public static let cancelled = Code(rawValue: "cancelled")
        /// A package manager owns the binary; it upgrades it instead.
        public static let packageManaged = Code(rawValue: "package managed")
        /// The home is on a read-only mount.
        public static let readOnly = Code(rawValue: "read-only")
        /// No write permission on the home.
        public static let permission = Code(rawValue: "permission")
        /// Too little free space for the download and its copy in the store.
        public static let space = Code(rawValue: "space")
        /// Staging and the store are on different file systems.
        public static let crossDevice = Code(rawValue: "cross device")
        public var description: String { rawValue }
    }

    /// The kind of failure.
    public var code: Code
    /// What happened, naming the path or URL.
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
