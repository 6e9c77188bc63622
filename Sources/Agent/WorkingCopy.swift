import Platform

/// The git working copy of the program's own source that source upgrades and the agent change.
///
/// Every change the agent makes is a commit on top of `HEAD`, and taking one back is
/// `git reset --hard HEAD~1`: so the agent works only on a working copy without uncommitted
/// changes (``requireClean()``), which a reset would otherwise lose.
public struct WorkingCopy: Sendable, Equatable {
    /// The repository's top directory.
    public let directory: String
    /// Where git's output is kept while it runs (`<home>/logs`).
    public let logs: String

    /// - Parameters:
    ///   - directory: the repository's top directory.
    ///   - logs: a directory for git's output while it runs (created when missing).
    public init(directory: String, logs: String) {
        self.directory = directory
        self.logs = logs
    }

    // MARK: - API

    /// Runs git in the working copy, with a fixed identity, no signing, and none of the
    /// caller's `GIT_*` or `AUTODEV_*` variables.
    /// - Parameter arguments: git's arguments (`["status", "--porcelain"]`).
    /// - Returns: what git printed (standard output and standard error).
    /// - Throws: ``AgentError`` (`toolMissing`, or `gitFailed` with git's first lines).
    @discardableResult
    public func git(_ arguments: [String]) throws -> String {
        try Self.git(arguments, in: directory, logs: logs)
    }

    /// Checks that the directory is a git repository.
    /// - Throws: ``AgentError`` (`notARepository`).
    public func requireRepository() throws {
        guard FileSystem.exists(directory + "/.git") else {
            throw AgentError(.notARepository, "The working copy \"\(directory)\" is not a git repository (create one with 'autodev init --source DIR')")
        }
    }

    /// Checks that the working copy has no uncommitted changes, which reverting a rejected
    /// proposal (`git reset --hard`) would lose. `git status` also refreshes the index, so files
    /// rewritten with their old content do not stop a patch from applying.
    /// - Throws: ``AgentError`` (`uncommittedChanges`) naming the changed files.
    public func requireClean() throws {
        let changes = try git(["status", "--porcelain"]).split(separator: "\n")
        guard changes.isEmpty else {
            throw AgentError(.uncommittedChanges, "The working copy \"\(directory)\" has uncommitted changes (\(changes.prefix(3).map { $0.dropFirst(3) }.joined(separator: ", "))\(changes.count > 3 ? ", …" : "")): commit or stash them first, so that reverting a rejected proposal cannot lose them")
        }
    }

    /// Whether `git status --porcelain` reports nothing.
    public func isClean() throws -> Bool {
        try git(["status", "--porcelain"]).isEmpty
    }

    /// The commit checked out (40 hexadecimal digits).
    public func head() throws -> String {
        String(try git(["rev-parse", "HEAD"]).prefix(40))
    }

    /// Commits what is staged as `message`.
    /// - Returns: the new commit.
    @discardableResult
    public func commit(_ message: String) throws -> String {
        try git(["commit", "--quiet", "-m", message])
        return try head()
    }

    /// The files a commit changed, relative to the working copy.
    /// - Throws: ``AgentError`` when git fails.
    public func changedFiles(_ commit: String) throws -> [String] {
        try git(["diff", "--name-only", commit + "~1", commit]).split(separator: "\n").map(String.init)
    }

    /// Takes `commit` back out (`git reset --hard HEAD~1`) if it is still the newest; nothing
    /// when `commit` is empty or another commit is checked out.
    /// - Returns: whether it reset.
    @discardableResult
    public func revert(_ commit: String) throws -> Bool {
        guard !commit.isEmpty, try head() == commit else { return false }
        try git(["reset", "--quiet", "--hard", "HEAD~1"])
        return true
    }

    /// Nested git repositories (a `.git` below the top): a proposal may not bring one, since
    /// git and the build's tools run in the working copy outside any sandbox and a nested
    /// repository's configuration (filters) is code they would run. Links are not followed.
    /// - Returns: their paths relative to the working copy, at most `limit`.
    public func nestedRepositories(limit: Int = 10) throws -> [String] {
        var found: [String] = []
        var pending = [""]
        var visited = 0
        while let relative = pending.popLast(), found.count < limit {
            let path = relative.isEmpty ? directory : directory + "/" + relative
            for name in try FileSystem.contentsOfDirectory(path) {
                visited += 1
                guard visited <= 1_000_000 else { return found }
                let child = relative.isEmpty ? name : relative + "/" + name
                if relative.isEmpty && name == ".git" { continue }
                if name == ".git" { found.append(child); continue }
                if (try? FileSystem.status(directory + "/" + child, followLinks: false))?.kind == .directory { pending.append(child) }
            }
        }
        return found
    }

    /// Puts the working copy back at its last commit, removing every change and untracked file
    /// (nested repositories first, without git): what a failed or refused proposer left behind.
    public func discardChanges() throws {
        for nested in try nestedRepositories(limit: 1000) {
            try FileSystem.removeTree(directory + "/" + nested)
        }
        try git(["reset", "--quiet", "--hard", "HEAD"])
        try git(["clean", "--quiet", "-ffd"])
    }

    /// Keeps `commit` reachable as `refs/autodev/archive/<number>`, so an archived proposal's
    /// change stays in the repository after it is taken back or left behind.
    public func keep(_ commit: String, number: Int) throws {
        guard !commit.isEmpty else { return }
        try git(["update-ref", "refs/autodev/archive/\(number)", commit])
    }

    /// Checks out `commit` (`git reset --hard`): the working copy must be clean.
    public func checkOut(_ commit: String) throws {
        try requireClean()
        try git(["reset", "--quiet", "--hard", commit])
    }

    /// How many test assertions (`#expect`, `#require`, `XCTAssert…`, `XCTFail`) under `Tests/`
    /// `commit` removes beyond those it adds.
    public func removedAssertions(_ commit: String) throws -> Int {
        guard !commit.isEmpty else { return 0 }
        let diff = try git(["diff", "--unified=0", commit + "~1", commit, "--", "Tests"])
        var removed = 0, added = 0
        for line in diff.split(separator: "\n") where !line.hasPrefix("---") && !line.hasPrefix("+++") {
            let assertion = ["#expect", "#require", "XCTAssert", "XCTFail"].contains { line.contains($0) }
            guard assertion else { continue }
            if line.hasPrefix("-") { removed += 1 } else if line.hasPrefix("+") { added += 1 }
        }
        return max(0, removed - added)
    }

    /// Clones `repository` into `destination` (nothing when it already holds a clone).
    /// - Parameters:
    ///   - repository: a directory holding a git repository (relative to the current directory or absolute).
    ///   - destination: where the clone goes; its parent must exist.
    ///   - logs: a directory for git's output while it runs.
    /// - Throws: ``AgentError`` (`notARepository`, `toolMissing`, `gitFailed`).
    public static func clone(_ repository: String, into destination: String, logs: String) throws {
        guard !FileSystem.exists(destination + "/.git") else { return }
        let source = FileSystem.absolute(repository)
        guard FileSystem.isDirectory(source + "/.git") || FileSystem.exists(source + "/.git") else {
            throw AgentError(.notARepository, "\"\(source)\" is not a git repository: the working copy must be one")
        }
        try git(["clone", "--quiet", source, destination], in: FileSystem.parent(of: destination), logs: logs)
    }

    // MARK: - Internals

    @discardableResult
    static func git(_ arguments: [String], in directory: String, logs: String) throws -> String {
        guard let git = ProcessControl.findExecutable("git") else {
            throw AgentError(.toolMissing, "'git' was not found on PATH; a source upgrade needs the Swift toolchain")
        }
        try FileSystem.createOwnDirectory(logs, below: FileSystem.parent(of: logs), mode: 0o755)
        let log = logs + "/git-\(ProcessControl.id).log"
        defer { try? FileSystem.removeFile(log) }
        var configuration = Subprocess.Configuration(
            executable: git,
            // No hook and no file-system monitor runs: git commits what a proposal (code not
            // trusted yet) wrote, outside any sandbox.
            // Nor does it look into nested repositories (whose configuration a proposal could
            // have written, with filters git would run).
            arguments: ["-c", "user.name=autodev", "-c", "user.email=autodev@localhost", "-c", "commit.gpgsign=false",
                        "-c", "core.hooksPath=/dev/null", "-c", "core.fsmonitor=false", "-c", "diff.ignoreSubmodules=all",
                        "-c", "status.submoduleSummary=false", "-c", "submodule.recurse=false"] + arguments,
            environment: ProcessControl.environment().filter { !$0.key.hasPrefix("AUTODEV_") && !$0.key.hasPrefix("GIT_") })
        configuration.workingDirectory = directory
        configuration.outputPath = log
        configuration.errorPath = log
        configuration.timeoutSeconds = 300
        let status = try Subprocess.run(configuration)
        let output = String(decoding: (try? FileSystem.readFile(log)) ?? [], as: UTF8.self)
        guard status.isSuccess else {
            // Arguments carry names taken from patches: escaped, so that the message stays one line.
            throw AgentError(.gitFailed, "'git \(arguments.map(DisplayText.name).joined(separator: " "))' in \"\(directory)\" \(status): \(output.split(separator: "\n").prefix(4).joined(separator: " / "))")
        }
        return output
    }
}
