import Platform
import Storage

extension Upgrader {
    /// Confinement for the tools that build and test code not trusted yet (the `swift build` and
    /// `swift test` of a proposal, whose manifest, plugins and tests are that code): every mount
    /// read-only but the directories given (a build's caches), a private HOME and TMPDIR, its own
    /// user, IPC and pid namespaces, a network namespace with only its own loopback (unless the
    /// network is asked for), a minimal `/dev` with pseudo-terminals of its own, no capabilities.
    /// The tools start with ``configure(_:)``; ``remove()`` takes the sandbox away afterwards.
    package final class ToolSandbox: @unchecked Sendable {
        /// The isolation in place, then what the kernel refused (as a verification's).
        package private(set) var isolation: [String] = []
        /// The private HOME and TMPDIR the tools get.
        package let homeDirectory: String
        package let temporaryDirectory: String
        private let directory: String
        private let parent: Verifier.SandboxParent
        private var confinement: Verifier.Confinement

        /// Each private tmpfs (HOME and TMPDIR of each tool: four) may hold this much of a test
        /// suite's scratch files: a sixteenth of the memory available, between 256 MiB and 1 GiB
        /// (tmpfs pages are memory the OOM killer cannot free while the run lasts).
        static var scratchBytes: UInt64 {
            min(1 << 30, max(256 << 20, Verifier.Confinement.availableMemoryBytes() / 16))
        }

        fileprivate init(home: Home, writable: [String], readOnlyInside: [String], visible: [String], network: Bool) throws {
            parent = Verifier.sandboxParent(for: home)
            directory = parent.path + "/tools-\(ProcessControl.id)-\(UInt32.random(in: 0...UInt32.max))"
            homeDirectory = directory + "/home"
            temporaryDirectory = directory + "/tmp"
            try FileSystem.createDirectory(directory, mode: 0o700)
            do {
                for path in [homeDirectory, temporaryDirectory] { try FileSystem.createDirectory(path, mode: 0o700) }
                confinement = try Verifier.Confinement(sandbox: directory, parent: parent, scratchBytes: Self.scratchBytes)
            } catch {
                try? FileSystem.removeTree(directory)
                throw error
            }
            confinement.allowsNetwork = network
            confinement.loopback = true
            confinement.terminals = true
            confinement.alsoWritable = writable
            confinement.alsoReadOnly = readOnlyInside
            confinement.tmpfsInodes = 65_536
            confinement.limited = false
            // The home too, wherever it is: its control sockets (the module host's, the
            // supervisor's) would take requests from the tools, which run as the same user.
            confinement.hide(keeping: writable + [directory], visible: visible, alsoHiding: [home.root])
        }

        /// Settles what the kernel allows by starting `true` confined: a piece it refuses is
        /// left out of every tool's run, and ``isolation`` says so.
        fileprivate func settle(log: String) throws {
            guard let probe = ProcessControl.findExecutable("true") else { throw UpgradeError.toolMissing(name: "true") }
            var run = Subprocess.Configuration(executable: probe, arguments: [], environment: ["PATH": "/usr/bin:/bin"])
            run.timeoutSeconds = 30
            let status = try confinement.run(run, writing: nil, binary: probe, log: log)
            guard status.isSuccess else {
                throw UpgradeError.toolFailed(command: "true (confined, as the build's tools will be)", status: status.description, problems: [], log: log)
            }
            // Fails closed: code not trusted yet is not built with an essential piece missing.
            let missing = confinement.untrustedEssentials.filter { !confinement.wanted.contains($0) }.sorted { $0.rawValue < $1.rawValue }
            guard missing.isEmpty else {
                throw UpgradeError.toolFailed(command: "the confinement of the build's tools",
                                              status: "was refused by the kernel (\(confinement.refused.joined(separator: "; "))): a proposal is not built without " + missing.map(\.rawValue).joined(separator: ", ") + " isolation",
                                              problems: [], log: log)
            }
            isolation = confinement.isolation(stateCopy: false)
                + ["writable, each only by the tool given it: " + confinement.alsoWritable.joined(separator: ", ")
                   + (confinement.alsoReadOnly.isEmpty ? "" : " (but for " + confinement.alsoReadOnly.joined(separator: ", ") + ")")]
        }

        /// `base` confined as settled, with the private HOME and TMPDIR (and XDG_RUNTIME_DIR on
        /// the same tmpfs; no other XDG directory, which would point into the caller's home).
        /// - Parameter writable: the directories this tool may write, among those the sandbox
        ///   was made with (nil: all of them). A tool that cannot write where another's output
        ///   is read cannot change that output after the other has ended.
        /// - Parameter visible: directories it reads besides those the sandbox was made with (a
        ///   built program's own directory), kept visible where they lie below a hidden one.
        package func configure(_ base: Subprocess.Configuration, writable: [String]? = nil, visible: [String] = []) throws -> Subprocess.Configuration {
            var confinement = confinement
            if let writable { confinement.alsoWritable = confinement.alsoWritable.filter(writable.contains) }
            confinement.visible += visible.map { (try? FileSystem.realPath($0)) ?? $0 }
            var run = try confinement.configure(base, writing: nil, layer: nil)
            // Not where the caller happens to be, which may be hidden.
            run.workingDirectory = run.workingDirectory ?? temporaryDirectory
            run.environment = run.environment.filter { !$0.key.hasPrefix("XDG_") }
            run.environment["HOME"] = homeDirectory
            run.environment["TMPDIR"] = temporaryDirectory
            run.environment["XDG_RUNTIME_DIR"] = temporaryDirectory
            return run
        }

        /// Removes the sandbox (the tools' private HOME and TMPDIR were mounts of their own
        /// namespaces, gone with them).
        package func remove() {
            try? FileSystem.removeTree(directory)
            if parent.isOnTmpfs { try? FileSystem.removeEmptyDirectory(parent.path) }
        }
    }

    /// A sandbox for tools that build and test code not trusted yet, settled against this kernel.
    /// - Parameters:
    ///   - writable: the directories they may write (which must exist).
    ///   - readOnlyInside: paths inside those they may not change.
    ///   - visible: directories they read (the package, the toolchain), kept visible where they
    ///     lie below a hidden one (the caller's HOME, /tmp, /run).
    ///   - network: leave the network reachable (a package whose dependencies must be fetched);
    ///     otherwise only their own loopback.
    ///   - log: where a refusal to start is logged.
    /// - Throws: ``UpgradeError`` when even the settled confinement cannot start a program.
    package func makeToolSandbox(writable: [String], readOnlyInside: [String] = [], visible: [String] = [], network: Bool, log: String) throws -> ToolSandbox {
        let sandbox = try ToolSandbox(home: home, writable: writable, readOnlyInside: readOnlyInside, visible: visible, network: network)
        do {
            try sandbox.settle(log: log)
        } catch {
            sandbox.remove()
            throw error
        }
        return sandbox
    }
}
