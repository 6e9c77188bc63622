import Platform
import SelfUpgrade
import Storage

/// Checks everything a home holds and repairs what is damaged, from trusted sources only.
///
/// ``examine()`` only reads: it re-hashes every stored version against its id, reads `current`,
/// `bin/<program>`, the journal (and its checkpoint), the state files, the configuration, the
/// channel's trusted metadata (verified against the trusted root), the module store, and the
/// modes and owners of the home's files, and checks the free space. Each problem is a
/// ``Finding``: what is wrong, what it means, and what ``repair()`` would do about it.
///
/// ``repair()`` restores what it can, in this order of preference: another copy the home holds
/// (any file whose SHA-256 is a stored version's id is that version), the release channel (the
/// version re-downloaded through TUF by its exact hash), the last good snapshot of state and
/// configuration, and the journal rebuild (``Upgrader/repair()``).
///
/// Invariants:
/// - ``examine()`` changes nothing on disk.
/// - Nothing is deleted: what a repair replaces is kept under `<home>/doctor/aside/<time>/`,
///   at its path relative to the home, and the repair names where.
/// - Every repair write opens its file without following a link (a link planted in the home
///   is moved aside, never followed), and every restored version hashes to the id it replaces.
/// - A version is never changed to an older one: `current` is put back where the journal says.
public struct Doctor: Sendable {
    /// How a doctor works.
    public struct Options: Sendable {
        /// Hash stored versions (and module store entries) at most this many bytes a second
        /// (nil: as fast as the disk allows), so a background check never competes with its host.
        public var hashBytesPerSecond: Double?
        /// May a repair download a stored version from the release channel the home follows.
        public var usesReleaseChannel = true
        /// Checks a state file beyond its schema header and JSON (the program decodes its own
        /// state type); throwing marks the file damaged. Called with the file's path.
        public var checkState: @Sendable (_ path: String) throws -> Void = { _ in }
        /// Free space below which the home is reported short of it (nil: twice the largest
        /// stored version plus 16 MiB, what an upgrade needs).
        public var minimumFreeBytes: UInt64?
        /// Seconds a download from the release channel may go without receiving a byte.
        public var channelStallTimeout: Double = 30

        public init() {}
    }

    package let home: Home
    /// The program whose home this is.
    public let program: ProgramIdentity
    /// How checks and repairs are done.
    public var options: Options

    /// - Parameters:
    ///   - homeDirectory: the installation's directory.
    ///   - program: the program whose home it is (its name is the binary's name in the store).
    ///   - options: how to check and repair.
    public init(homeDirectory: String, program: ProgramIdentity, options: Options = Options()) {
        home = Home(root: homeDirectory, programName: program.name)
        self.program = program
        self.options = options
    }

    /// The installation's directory.
    public var homeDirectory: String { home.root }

    /// Where repairs keep what they replace: `<home>/doctor/aside`.
    public var asideDirectory: String { home.root + "/doctor/aside" }
}

/// One problem the doctor found.
public struct Finding: Sendable, Codable, Equatable, CustomStringConvertible {
    /// The class of damage.
    public struct Kind: Hashable, Sendable, Codable, CustomStringConvertible {
        /// The kind's name, as printed and in JSON ("version-damaged").
        public let name: String
        init(_ name: String) { self.name = name }
        public var description: String { name }

        /// A stored version's bytes no longer hash to its id (or it is not a regular file).
        public static let versionDamaged = Kind("version-damaged")
        /// A version the journal needs (current, previous, kept history) is not in the store.
        public static let versionMissing = Kind("version-missing")
        /// A stored version's metadata (`meta.json`) is missing or cannot be read.
        public static let versionMetadata = Kind("version-metadata")
        /// `current` is missing, not a link, or names no stored version.
        public static let current = Kind("current")
        /// `bin/<program>` is missing or is not the link to `../current/<program>`.
        public static let entryPoint = Kind("entry-point")
        /// The home's lock file is not a regular file with one name: no command can take the lock.
        public static let lock = Kind("lock")
        /// The journal cannot be used (damaged, cut short, missing).
        public static let journal = Kind("journal")
        /// The journal's checkpoint was refused (its records were read from the archive).
        public static let journalCheckpoint = Kind("journal-checkpoint")
        /// The journal's archive lacks records its sound checkpoint stands for: the history before
        /// them is lost (only `history` needs it; no repair can bring it back).
        public static let journalArchive = Kind("journal-archive")
        /// A transaction was interrupted and is not finished.
        public static let interruptedTransaction = Kind("interrupted-transaction")
        /// A state file cannot be read, parsed or decoded.
        public static let state = Kind("state")
        /// A file in the state whose name is not UTF-8: it cannot be checked or kept in a snapshot.
        public static let unreadableName = Kind("unreadable-name")
        /// The configuration (`config.json`) cannot be read.
        public static let configuration = Kind("configuration")
        /// The release channel's configuration cannot be read.
        public static let channelConfiguration = Kind("channel-configuration")
        /// A file of the channel's trusted metadata does not verify against the trusted root.
        public static let channelMetadata = Kind("channel-metadata")
        /// A module store entry's bytes no longer hash to its name.
        public static let module = Kind("module")
        /// A directory of the home is a symbolic link or not a directory.
        public static let layout = Kind("layout")
        /// A file's permissions let others change it, or keep the program from using it.
        public static let permissions = Kind("permissions")
        /// A file is owned by another user.
        public static let owner = Kind("owner")
        /// Less free space than an upgrade needs.
        public static let space = Kind("space")

        public init(from decoder: any Decoder) throws { name = try decoder.singleValueContainer().decode(String.self) }
        public func encode(to encoder: any Encoder) throws {
            var container = encoder.singleValueContainer()
            try container.encode(name)
        }
    }

    /// The class of damage.
    public var kind: Kind
    /// The file or directory it is about.
    public var path: String
    /// What is wrong and what it means.
    public var problem: String
    /// What ``Doctor/repair()`` would do.
    public var remedy: String

    public var description: String { "\(kind) \(path): \(problem); repair: \(remedy)" }
}

/// What ``Doctor/examine()`` found.
public struct Examination: Sendable, Codable, Equatable {
    /// The home examined.
    public var home: String
    /// The problems, in the order they were checked.
    public var findings: [Finding]
    /// Stored versions whose bytes were hashed.
    public var versionsHashed: Int
    /// Bytes hashed (versions and module store entries).
    public var bytesHashed: Int
    /// Free bytes on the home's file system.
    public var freeBytes: UInt64?
    /// The transaction a live process is carrying out while the home was examined (it holds the
    /// home's lock): not a problem, and nothing a repair may touch.
    public var inProgress: String?

    /// True when nothing was found.
    public var isHealthy: Bool { findings.isEmpty }
}

/// What ``Doctor/repair()`` did about one finding.
public struct RepairAction: Sendable, Codable, Equatable {
    /// The finding repaired (or not).
    public var finding: Finding
    /// True when it was repaired.
    public var repaired: Bool
    /// What was done, or why nothing could be.
    public var action: String
    /// Where the good copy came from (a path, a URL, a snapshot), when one was used.
    public var source: String?
    /// Where what was replaced is kept.
    public var keptAs: String?
}

/// What ``Doctor/repair()`` found and did.
public struct RepairReport: Sendable, Codable, Equatable {
    /// The examination before any repair.
    public var before: Examination
    /// What was done, one entry per finding handled.
    public var actions: [RepairAction]
    /// The examination after the repairs.
    public var after: Examination

    /// True when everything found was repaired: the home now examines healthy.
    public var isComplete: Bool { after.isHealthy }
}
