import Platform
import SelfUpgrade
import Storage

/// How to turn the program's source into a candidate: `swift build` and `swift test`, each with
/// a warm scratch directory of its own, run side by side.
public struct SourceBuild: Sendable, Equatable {
    /// The package directory.
    public var source: String
    /// The release build's cache (`<home>/build`): a one-line change rebuilds incrementally.
    public var scratch: String
    /// The test build's cache (`<home>/build-test`), kept apart so the two never invalidate each other.
    public var testScratch: String
    /// The product to build.
    public var product: String
    /// Arguments selecting the tests (by default all but the end-to-end suite, which builds the
    /// whole project itself and would recurse).
    public var testSelection: [String]
    /// Whether the tools run confined (``Isolation``).
    public var isolation: Isolation = .none
    /// Wall-clock seconds each tool may take before it is killed with everything it started
    /// (nil: no limit, the caller stops them).
    public var timeoutSeconds: Double?

    /// The largest file a confined tool may write (its log included): 8 GiB.
    package static let confinedFileSizeLimit: UInt64 = 8 << 30

    /// Runs the tools confined (``Isolation/confined(network:)``), in caches of their own
    /// (`<home>/build-confined`, `<home>/build-confined-test`): what code not trusted yet leaves
    /// in a cache is never linked into a build of trusted source.
    public mutating func confine(network: Bool) {
        guard isolation == .none else { return }
        isolation = .confined(network: network)
        scratch += "-confined"
        testScratch = scratch + "-test"
    }

    /// How `swift build` and `swift test` run.
    public enum Isolation: Sendable, Equatable {
        /// As the caller: for the caller's own source.
        case none
        /// Confined as code not trusted yet (a proposal's manifest, plugins and tests): every
        /// mount read-only but the two caches, the working copy included; a private HOME and
        /// TMPDIR; own user, IPC and pid namespaces; only their own loopback unless `network`;
        /// pseudo-terminals of their own and none of the host's; no capabilities.
        case confined(network: Bool)
    }

    /// A build of the package in `source` with the installation's warm caches.
    public init(source: String, installation: Installation, testSelection: [String] = SourceBuild.defaultTestSelection) {
        self.init(source: source, home: installation.home, testSelection: testSelection)
    }

    package init(source: String, home: Home, testSelection: [String] = SourceBuild.defaultTestSelection) {
        self.source = FileSystem.absolute(source)
        scratch = Self.scratchRoot(of: home)
        testScratch = scratch + "-test"
        product = home.programName
        self.testSelection = testSelection
    }

    /// `<home>/build`: the release cache's path, and the prefix of both caches' paths (which
    /// every build and test tool names in its arguments).
    static func scratchRoot(of home: Home) -> String { home.buildCache }

    /// SIGKILLs every build and test tool working on `home`'s caches, whatever process group
    /// it is in (SwiftPM starts compilers in groups of their own).
    /// - Returns: the pids killed.
    @discardableResult
    package static func stopTools(of home: Home) -> [Int32] {
        ProcessControl.killProcesses(commandLineContaining: scratchRoot(of: home))
    }

    /// The environment `swift build` and `swift test` get: what a toolchain and a test suite
    /// need (`PATH`, `HOME`, the user, the locale, `TERM`, `TZ`, `TMPDIR`, `XDG_*`, `SWIFT*`,
    /// `SDKROOT`, `CC`, `CXX`, `LD_LIBRARY_PATH`) and nothing else: a source built from a
    /// proposal runs its manifest, plugins and tests as code not trusted yet, and must not find
    /// the caller's secrets in its environment. The program's own variables (`prefix`) are left out.
    package static func toolEnvironment(_ environment: [String: String], programPrefix prefix: String) -> [String: String] {
        let names: Set = ["PATH", "HOME", "USER", "LOGNAME", "SHELL", "LANG", "TERM", "TZ", "TMPDIR", "SDKROOT", "CC", "CXX", "LD_LIBRARY_PATH"]
        return environment.filter { name, _ in
            !name.hasPrefix(prefix) && (names.contains(name) || name.hasPrefix("LC_") || name.hasPrefix("XDG_") || name.hasPrefix("SWIFT"))
        }
    }

    /// `--skip EndToEndTests`.
    public static let defaultTestSelection = ["--skip", "EndToEndTests"]

    /// `swift build -c release --static-swift-stdlib --disable-local-rpath --product <p> --scratch-path <scratch>`:
    /// without `$ORIGIN` in its library search path, a library planted beside a stored version
    /// is never loaded.
    public var buildArguments: [String] {
        ["build", "-c", "release", "--static-swift-stdlib", "--disable-local-rpath", "--product", product, "--scratch-path", scratch]
    }

    /// `swift test --scratch-path <test scratch> <selection>`.
    public var testArguments: [String] { ["test", "--scratch-path", testScratch] + testSelection }

    /// Where the built binary appears.
    public var candidate: String { scratch + "/release/" + product }

    /// ``candidate`` with its links resolved (SwiftPM's `release` is one), which must stay
    /// inside the cache and be a regular file: the cache is written by the build's tools, run
    /// confined as code not trusted yet, and a link they plant must not lead this process to read
    /// or replace a file elsewhere.
    /// - Throws: ``UpgradeError`` `.toolFailed` naming the path when it leads elsewhere.
    package func resolvedCandidate() throws -> String {
        let found = try Self.resolve(candidate, inside: scratch)
        guard found.isInside else {
            throw UpgradeError.toolFailed(command: "swift build", status: "left \(candidate) leading to \(found.path), not a file inside \(found.directory)",
                                          problems: [], log: found.directory)
        }
        return found.path
    }

    /// The sandbox its tools run in when ``isolation`` confines them (nil otherwise): its two
    /// caches (created here, which must exist to be bound) writable, the package and the
    /// toolchain of the `swift` at `swift` visible.
    package func makeToolSandbox(swift: String, upgrader: Upgrader, log: String) throws -> Upgrader.ToolSandbox? {
        guard case .confined(let network) = isolation else { return nil }
        for cache in [scratch, testScratch] { try FileSystem.createOwnDirectory(cache, below: upgrader.home.root, mode: 0o755) }
        return try upgrader.makeToolSandbox(writable: [scratch, testScratch], visible: [source, Self.toolchainRoot(of: swift)],
                                            network: network, log: log)
    }

    /// `path` and `directory` with their links resolved, and whether the one is a regular file
    /// inside the other: what a confined build left in its cache is read only then.
    package static func resolve(_ path: String, inside directory: String) throws -> (path: String, directory: String, isInside: Bool) {
        let root = try FileSystem.realPath(directory)
        let resolved = try FileSystem.realPath(path)
        let isInside = try resolved.hasPrefix(root + "/") && FileSystem.status(resolved, followLinks: false).kind == .regular
        return (resolved, root, isInside)
    }

    /// The directory holding the toolchain of the `swift` at `path` (its links resolved):
    /// `<root>` of `<root>/usr/bin/swift`, else the directory above its `bin`.
    package static func toolchainRoot(of path: String) -> String {
        let real = (try? FileSystem.realPath(path)) ?? path
        let bin = FileSystem.parent(of: real)
        let above = FileSystem.parent(of: bin)
        return above.hasSuffix("/usr") ? FileSystem.parent(of: above) : above
    }

    /// Checks that `source` is a Swift package.
    package static func validate(_ source: String) throws {
        guard FileSystem.isDirectory(source) else { throw UpgradeError.sourceNotPackage(path: source, reason: "it is not a directory") }
        guard FileSystem.exists(source + "/Package.swift") else {
            throw UpgradeError.sourceNotPackage(path: source, reason: "it has no Package.swift")
        }
    }
}

/// Reads the lines that explain a failed build or test run out of its log.
package enum ToolLog {
    /// The first distinct compiler errors (`file:line:column: error: …`), test failures and crashes.
    /// A log that names none of them (a tool that stopped for another reason) is summed up by its
    /// last lines, so the reason never reads as a bare exit status.
    package static func firstProblems(in path: String, limit: Int = 5) -> [String] {
        guard let bytes = boundedRead(path) else { return [] }
        let lines = String(decoding: bytes, as: UTF8.self).split(separator: "\n").map { $0.trimmingSpaces() }.filter { !$0.isEmpty }
        var found: [String] = []
        var toolErrors: [String] = []
        var previousFound = false
        for text in lines {
            // Swift Testing puts an expectation's comment on the lines after it, behind "↳".
            if previousFound, text.hasPrefix("↳") {
                found[found.count - 1] += " " + text
                continue
            }
            previousFound = false
            guard found.count < limit else { break }
            if text.hasPrefix("error: "), !toolErrors.contains(text), toolErrors.count < limit { toolErrors.append(text) }
            let isCompilerError = text.contains(": error: ") && text.first == "/"
            let isTestFailure = text.contains("recorded an issue") || text.contains(": error: -[")
            let isCrash = text.contains("Fatal error: ") || text.contains("unexpected signal")
            guard isCompilerError || isTestFailure || isCrash, !found.contains(text) else { continue }
            found.append(text)
            previousFound = true
        }
        if found.isEmpty { found = toolErrors }
        return found.isEmpty ? lines.suffix(3).map { String($0.prefix(300)) } : found
    }

    /// The most of a log read: its first and its last half of this (a tool's log is written by
    /// code not trusted yet, and may be as large as the disk).
    static let readLimit = 16 << 20

    /// The log, or its first and last ``readLimit``/2 bytes when it is larger.
    static func boundedRead(_ path: String) -> [UInt8]? {
        guard let fd = try? FileDescriptor.open(path), let size = try? fd.status().size else { return nil }
        defer { try? fd.close() }
        func read(at offset: Int, count: Int) -> [UInt8] {
            var buffer = [UInt8](repeating: 0, count: count)
            guard fd.seek(to: offset), let got = try? buffer.withUnsafeMutableBytes({ try fd.read(into: $0) }) else { return [] }
            return Array(buffer[0..<got])
        }
        guard size > readLimit else { return read(at: 0, count: size) }
        return read(at: 0, count: readLimit / 2) + Array("\n".utf8) + read(at: size - readLimit / 2, count: readLimit / 2)
    }

    /// The last non-empty line (for a progress display).
    package static func lastLine(of path: String) -> String {
        guard let fd = try? FileDescriptor.open(path), let size = try? fd.status().size else { return "" }
        defer { try? fd.close() }
        let length = min(size, 2048)
        var buffer = [UInt8](repeating: 0, count: length)
        guard length > 0, lseekTo(fd, size - length),
              let count = try? buffer.withUnsafeMutableBytes({ try fd.read(into: $0) }) else { return "" }
        return String(decoding: buffer[0..<count], as: UTF8.self).split(separator: "\n").last.map { String($0.prefix(100)) } ?? ""
    }

    /// A summary line of a test run ("Test run with 40 tests in 11 suites passed after 4.4 seconds.").
    package static func testSummary(in path: String) -> String? {
        guard let bytes = boundedRead(path) else { return nil }
        return String(decoding: bytes, as: UTF8.self).split(separator: "\n")
            .last { $0.contains("Test run with") || $0.contains("Executed ") }.map { $0.trimmingSpaces() }
    }
}

extension Substring {
    fileprivate func trimmingSpaces() -> String {
        String(drop { $0 == " " || $0 == "\t" }.reversed().drop { $0 == " " || $0 == "\r" }.reversed())
    }
}

private func lseekTo(_ fd: FileDescriptor, _ offset: Int) -> Bool { fd.seek(to: offset) }
