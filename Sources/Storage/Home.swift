import Platform

/// The directory holding all on-disk data of one installation.
///
/// ```
/// <root>/versions/<sha256>/autodev   immutable, content-addressed binaries (+ meta.json)
/// <root>/current -> versions/<id>    the version in force, flipped atomically
/// <root>/bin/autodev -> ../current/autodev   the entry to put on PATH
/// <root>/journal                     write-ahead log of every transaction
/// <root>/state/                      state snapshots
/// <root>/staging/                    candidates being copied (mode 0700)
/// <root>/logs/<tx>/                  output of each transaction's tools
/// <root>/lock                        one transaction at a time
/// <root>/config.json                 settings (history limit, timeouts)
/// ```
package struct Home: Sendable, Equatable {
    /// The home directory itself (absolute).
    package let root: String
    /// The program's file name inside each version directory and in `bin/`.
    package let programName: String

    package init(root: String, programName: String = "autodev") {
        self.root = FileSystem.absolute(root)
        self.programName = programName
    }

    package var versions: String { root + "/versions" }
    package var current: String { root + "/current" }
    package var bin: String { root + "/bin" }
    package var entryPoint: String { bin + "/" + programName }
    package var journal: String { root + "/journal" }
    package var state: String { root + "/state" }
    package var staging: String { root + "/staging" }
    package var logs: String { root + "/logs" }
    package var lock: String { root + "/lock" }
    package var configuration: String { root + "/config.json" }
    /// The warm caches of source builds: `<home>/build` (release) and `<home>/build-test`; every
    /// build and test tool names this prefix in its arguments, which is how recovery finds them.
    package var buildCache: String { root + "/build" }
    /// `<home>/build-test`: the test build's cache, shared by source upgrades and module builds.
    package var testBuildCache: String { buildCache + "-test" }
    /// `<home>/build-confined` and `-test`: the caches of confined builds (the agent's proposals,
    /// `self-upgrade --confined`), apart from the caller's own: code not trusted yet writes its
    /// caches, and must not leave objects that a build of trusted source would link.
    package var confinedBuildCache: String { buildCache + "-confined" }
    package var confinedTestBuildCache: String { confinedBuildCache + "-test" }
    /// The git working copy of the program's source that source upgrades build (`init --source`).
    package var workingCopy: String { root + "/source" }

    /// The directory of one version.
    package func versionDirectory(_ id: SHA256DigestID) -> String { versions + "/" + id.hex }
    /// The binary of one version.
    package func binary(_ id: SHA256DigestID) -> String { versionDirectory(id) + "/" + programName }
    /// The log directory of one transaction.
    package func logDirectory(transaction: String) -> String { logs + "/" + transaction }

    /// True when this looks like an initialized home: it has a journal (of any kind, even a
    /// link or a damaged one, which the journal's reader then refuses) or stored versions.
    package var isInitialized: Bool {
        (try? FileSystem.statusIfPresent(journal, followLinks: false)) != nil || hasStoredVersions
    }

    /// True when `versions/` holds at least one entry named like a version.
    package var hasStoredVersions: Bool {
        ((try? FileSystem.contentsOfDirectory(versions)) ?? []).contains { SHA256DigestID(hex: $0) != nil }
    }

    /// Checks that the home's own directories are directories, not links planted to send its
    /// writes elsewhere (a missing one is fine: it is created when needed).
    /// - Throws: ``StorageError/unexpectedLink(path:target:)`` or ``StorageError/notADirectory(path:)``.
    package func checkLayout() throws {
        for directory in [root, versions, state, staging, logs, bin] {
            guard let info = try FileSystem.statusIfPresent(directory, followLinks: false) else { continue }
            if info.kind == .symbolicLink, directory != root {
                throw StorageError.unexpectedLink(path: directory, target: (try? FileSystem.destinationOfSymbolicLink(directory)) ?? "?")
            }
            if info.kind != .directory, info.kind != .symbolicLink { throw StorageError.notADirectory(path: directory) }
        }
    }

    /// Creates the directories (staging with mode 0700).
    /// - Throws: ``SystemError`` naming the directory that could not be made.
    package func createLayout() throws(SystemError) {
        try FileSystem.createDirectory(root, mode: 0o755, intermediates: true)
        for directory in [versions, state, logs, bin] {
            try FileSystem.createDirectory(directory, mode: 0o755)
        }
        try FileSystem.createDirectory(staging, mode: 0o700)
        try FileSystem.setMode(staging, 0o700)
        try FileSystem.syncDirectory(root)
    }

    /// The version `current` points at, read from the link; nil when there is no link.
    /// - Throws: ``StorageError/unexpectedLink`` when the link points somewhere else.
    package func currentVersion() throws -> SHA256DigestID? {
        guard (try FileSystem.statusIfPresent(current, followLinks: false)) != nil else { return nil }
        let target = try FileSystem.destinationOfSymbolicLink(current)
        // Exactly the store's name for it (lowercase hex): `versions/<ID IN UPPER CASE>` names no
        // directory there, and the program it would run does not exist.
        guard target.hasPrefix("versions/"), let id = SHA256DigestID(hex: String(target.dropFirst("versions/".count))),
              target == "versions/" + id.hex else {
            throw StorageError.unexpectedLink(path: current, target: target)
        }
        return id
    }

    /// The link `current` held before its last flip, kept so that a flip back to that version (a
    /// rollback's usual target) exchanges two names instead of making a link and freeing one. A
    /// cache: nothing reads it but ``setCurrent(_:)``, which checks what it names before each use.
    package var previousCurrent: String { root + "/.current-previous" }

    /// Points `current` at a version: the link ``previousCurrent`` holds when it already names it,
    /// else a new link, exchanged with `current`'s (or renamed over it); then an fsync of the home
    /// directory (``FileSystem/flipSymbolicLink(_:target:keepingOldAt:)``).
    /// - Throws: ``SystemError`` from the step that failed; `current` is then unchanged.
    package func setCurrent(_ id: SHA256DigestID) throws(SystemError) {
        try FileSystem.flipSymbolicLink(current, target: "versions/" + id.hex, keepingOldAt: previousCurrent)
    }

    /// Removes the temporary links a flip of `current` killed half-way left in the home
    /// (`.current.tmp-<pid>-<n>`, the names ``FileSystem/flipSymbolicLink(_:target:keepingOldAt:)``
    /// gives them: a new link not yet exchanged, or the old one not yet kept as
    /// ``previousCurrent``): symbolic links by exactly such a name only, listed in the home as
    /// opened and never followed. Best effort; for a caller that holds the lock, under which
    /// every flip is made.
    /// - Returns: how many were removed.
    @discardableResult
    package func removeFlipLeftovers() -> Int {
        guard let directory = try? FileDescriptor.open(root, [.directory, .noFollow]) else { return 0 }
        defer { try? directory.close() }
        var removed = 0
        for name in (try? directory.entryNames()) ?? [] where Self.isFlipLeftover(name.bytes) {
            let path = root + "/" + name.description
            guard (try? directory.entryStatus(name, path: path))??.kind == .symbolicLink else { continue }
            if (try? directory.removeEntry(name, path: path, isDirectory: false)) != nil { removed += 1 }
        }
        return removed
    }

    /// `.current.tmp-` followed by two runs of digits joined by `-`.
    private static func isFlipLeftover(_ name: [UInt8]) -> Bool {
        let prefix = Array(".current.tmp-".utf8)
        guard name.count > prefix.count, name.starts(with: prefix) else { return false }
        let numbers = name.dropFirst(prefix.count).split(separator: UInt8(ascii: "-"), omittingEmptySubsequences: false)
        return numbers.count == 2 && numbers.allSatisfy { !$0.isEmpty && $0.allSatisfy { $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") } }
    }

    /// The version a binary path belongs to, when it lies inside this home's store. `path` may be
    /// a real path (`/proc/self/exe`) while the home was named through a symbolic link: the
    /// store's real path is tried too.
    package func version(containing path: String) -> SHA256DigestID? {
        for store in [versions, try? FileSystem.realPath(versions)] {
            guard let store else { continue }
            let prefix = store + "/"
            guard path.hasPrefix(prefix) else { continue }
            let rest = path.dropFirst(prefix.count)
            guard let slash = rest.firstIndex(of: "/") else { return nil }
            return SHA256DigestID(hex: String(rest[..<slash]))
        }
        return nil
    }
}
