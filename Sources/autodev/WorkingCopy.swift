import Platform
import SelfUpgrade
import SourceUpgrade

/// The git working copy of autodev's own source that source upgrades and the agent change.
enum WorkingCopy {
    /// Runs git in `directory`; returns its output.
    /// - Throws: ``ReleaseError`` with git's message when it fails.
    @discardableResult
    static func git(_ arguments: [String], in directory: String, logs: String) throws -> String {
        guard let git = ProcessControl.findExecutable("git") else { throw UpgradeError.toolMissing(name: "git") }
        try FileSystem.createDirectory(logs, mode: 0o755, intermediates: true)
        let log = logs + "/git-\(ProcessControl.id).log"
        defer { try? FileSystem.removeFile(log) }
        var configuration = Subprocess.Configuration(
            executable: git,
            arguments: ["-c", "user.name=autodev", "-c", "user.email=autodev@localhost", "-c", "commit.gpgsign=false"] + arguments,
            environment: ProcessControl.environment().filter { !$0.key.hasPrefix("AUTODEV_") && !$0.key.hasPrefix("GIT_") })
        configuration.workingDirectory = directory
        configuration.outputPath = log
        configuration.errorPath = log
        configuration.timeoutSeconds = 300
        let status = try Subprocess.run(configuration)
        let output = String(decoding: (try? FileSystem.readFile(log)) ?? [], as: UTF8.self)
        guard status.isSuccess else {
            throw ReleaseError("'git \(arguments.joined(separator: " "))' in \"\(directory)\" \(status): \(output.split(separator: "\n").prefix(4).joined(separator: " / "))")
        }
        return output
    }

    /// Checks that `directory` has no uncommitted changes, which reverting a rejected proposal
    /// (`git reset --hard`) would lose. `git status` also refreshes the index, so files
    /// rewritten with their old content do not stop a patch from applying.
    /// - Throws: ``ReleaseError`` naming the changed files.
    static func requireClean(_ directory: String, logs: String) throws {
        let changes = try git(["status", "--porcelain"], in: directory, logs: logs).split(separator: "\n")
        guard changes.isEmpty else {
            throw ReleaseError("The working copy \"\(directory)\" has uncommitted changes (\(changes.prefix(3).map { $0.dropFirst(3) }.joined(separator: ", "))\(changes.count > 3 ? ", …" : "")): commit or stash them first, so that reverting a rejected proposal cannot lose them")
        }
    }

    /// Clones `repository` into `destination` (nothing when it already holds a clone).
    static func clone(_ repository: String, into destination: String, logs: String) throws {
        guard !FileSystem.exists(destination + "/.git") else { return }
        let source = FileSystem.absolute(repository)
        guard FileSystem.isDirectory(source + "/.git") || FileSystem.exists(source + "/.git") else {
            throw ReleaseError("\"\(source)\" is not a git repository: the working copy must be one")
        }
        try git(["clone", "--quiet", source, destination], in: FileSystem.parent(of: destination), logs: logs)
    }
}
