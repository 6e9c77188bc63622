import Storage

/// An installation's home as a program that embeds the library sees it: where its versions,
/// journal, state, logs and working copy are. The layout is the library's; these are the paths
/// a program may read or hand to its tools.
///
/// ```
/// <directory>/versions/<sha256>/<program>   immutable, content-addressed binaries
/// <directory>/current -> versions/<id>      the version in force
/// <directory>/bin/<program>                 the entry to put on PATH
/// <directory>/state/                        state snapshots (a ``StateStore``'s directory)
/// <directory>/logs/                         output of each transaction's tools
/// <directory>/source/                       the working copy source upgrades build
/// <directory>/config.json                   settings (``UpgradeConfiguration``)
/// ```
public struct Installation: Sendable, Equatable {
    package let home: Home

    /// - Parameters:
    ///   - directory: the home directory (made absolute).
    ///   - program: the program whose installation it is (its name is the binary's file name).
    public init(directory: String, program: ProgramIdentity) {
        home = Home(root: directory, programName: program.name)
    }

    package init(_ home: Home) { self.home = home }

    /// The home directory (absolute).
    public var directory: String { home.root }
    /// The directory to put on PATH: its entry always runs the current version.
    public var bin: String { home.bin }
    /// `bin/<program>`.
    public var entryPoint: String { home.entryPoint }
    /// Where state snapshots are kept (a ``StateStore``'s directory).
    public var stateDirectory: String { home.state }
    /// Where each transaction's tools write their output, one directory per transaction.
    public var logs: String { home.logs }
    /// The git working copy that source upgrades build (`<home>/source`).
    public var workingCopy: String { home.workingCopy }
    /// The warm build cache of source upgrades (`<home>/build`), for other builds of the same
    /// package (its modules) to share.
    public var buildCache: String { home.buildCache }

    /// True when the home has a journal or stored versions (``Upgrader/adopt(executable:)`` made it).
    public var isInitialized: Bool { home.isInitialized }

    /// The version `current` points at; nil before the first adoption.
    /// - Throws: ``UpgradeError`` `.homeDamaged` when `current` points anywhere but into the store.
    public func currentVersion() throws(UpgradeError) -> VersionID? {
        try UpgradeError.wrapping { try home.currentVersion().map(VersionID.init) }
    }
}

extension Upgrader {
    /// The installation this upgrader works on.
    public var installation: Installation { Installation(home) }

    /// An upgrader for `installation` (see ``init(homeDirectory:program:configuration:health:progress:)``).
    public init(_ installation: Installation, program: ProgramIdentity, configuration: UpgradeConfiguration? = nil,
                health: @escaping @Sendable () throws -> Void = {},
                progress: @escaping @Sendable (Progress) -> Void = { _ in }) throws(UpgradeError) {
        try self.init(home: installation.home, program: program, configuration: configuration, health: health, progress: progress)
    }
}

extension UpgradeConfiguration {
    /// Reads `<home>/config.json`, or the defaults when it is absent.
    /// - Throws: ``UpgradeError`` `.invalidConfiguration` naming the file and what is wrong.
    public static func load(from installation: Installation) throws(UpgradeError) -> UpgradeConfiguration {
        try UpgradeError.wrapping { try load(from: installation.home) }
    }

    /// Writes `<home>/config.json` atomically.
    public func save(to installation: Installation) throws(UpgradeError) {
        try UpgradeError.wrapping { try save(to: installation.home) }
    }
}
