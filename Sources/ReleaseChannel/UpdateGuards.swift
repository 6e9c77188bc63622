import Platform
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The package manager that installed a file, and the command that upgrades it instead.
public struct PackageOwner: Sendable, Equatable, CustomStringConvertible {
    /// Which package manager.
    public enum Manager: String, Sendable, Equatable { case dpkg, rpm, nix, homebrew }
    /// Which package manager owns the file.
    public var manager: Manager
    /// The owning package's name, when the package manager reported one.
    public var package: String?

    /// - Parameters:
    ///   - manager: the package manager.
    ///   - package: the owning package's name, if known.
    public init(_ manager: Manager, package: String? = nil) {
        self.manager = manager
        self.package = package
    }

    /// The command that upgrades the file through its package manager.
    public var upgradeCommand: String {
        let name = package ?? "<package>"
        switch manager {
        case .dpkg: return "apt-get install --only-upgrade \(name)"
        case .rpm: return "dnf upgrade \(name)"
        case .nix: return "nix profile upgrade"
        case .homebrew: return "brew upgrade" + (package.map { " " + $0 } ?? "")
        }
    }

    /// "dpkg package autodev", "Nix store", "Homebrew package autodev".
    public var description: String {
        switch manager {
        case .nix: return "Nix store"
        case .homebrew: return "Homebrew package" + (package.map { " " + $0 } ?? "")
        case .dpkg, .rpm: return manager.rawValue + " package" + (package.map { " " + $0 } ?? "")
        }
    }
}

/// Checks made before an update downloads or swaps anything; each failure says what to do instead.
///
/// Every check reads only; none creates, removes or changes a file.
public enum UpdateGuards {
    // MARK: - API

    /// How the checks see the system; replaceable in tests.
    public struct Probe: Sendable {
        /// Runs a tool (`dpkg`, `rpm`) with arguments; its standard output when it exits 0, nil otherwise
        /// (also when the tool is not installed).
        public var run: @Sendable (_ tool: String, _ arguments: [String]) -> String?
        /// The directory of dpkg's `*.list` files.
        public var dpkgInfoDirectory: String

        /// - Parameters:
        ///   - run: runs a tool and returns its output on success.
        ///   - dpkgInfoDirectory: where dpkg keeps its `*.list` files.
        public init(run: @escaping @Sendable (String, [String]) -> String?, dpkgInfoDirectory: String = "/var/lib/dpkg/info") {
            self.run = run
            self.dpkgInfoDirectory = dpkgInfoDirectory
        }

        /// The real system: tools found on `PATH`, dpkg's database in `/var/lib/dpkg/info`.
        public static let system = Probe(run: { tool, arguments in UpdateGuards.runTool(tool, arguments) })
    }

    /// The package manager that owns `path`, or nil when none does.
    ///
    /// Nix store paths (`/nix/store/`) and Homebrew Cellar paths (`/Cellar/`) are recognised by
    /// their location; dpkg by `dpkg -S <path>`, or for paths under `/usr/bin` and `/usr/lib` by a
    /// `*.list` file naming it; rpm by `rpm -qf <path>`.
    /// - Parameters:
    ///   - path: an absolute path (resolve symbolic links first to ask about the file itself).
    ///   - probe: how to query the system.
    /// - Returns: the owner, with the package name when the package manager reports one.
    public static func packageOwner(of path: String, probe: Probe = .system) -> PackageOwner? {
        if path.hasPrefix("/nix/store/") { return PackageOwner(.nix) }
        let components = path.split(separator: "/")
        if let cellar = components.dropLast().firstIndex(of: "Cellar") {
            return PackageOwner(.homebrew, package: String(components[cellar + 1]))
        }
        if let output = probe.run("dpkg", ["-S", path]) {
            // "coreutils: /usr/bin/ls" (the package may carry ":arch" and a list "a, b").
            let first = output.split(separator: "\n").first.map(String.init) ?? ""
            let characters = Array(first)
            if let colon = characters.indices.first(where: { characters[$0] == ":" && $0 + 1 < characters.count && characters[$0 + 1] == " " }) {
                let names = String(characters[..<colon]).split(separator: ",").map { String($0).trimmingWhitespace() }
                return PackageOwner(.dpkg, package: names.first.map { String($0.split(separator: ":").first ?? Substring($0)) })
            }
            return PackageOwner(.dpkg)
        }
        if path.hasPrefix("/usr/bin/") || path.hasPrefix("/usr/lib/"), let package = dpkgList(naming: path, in: probe.dpkgInfoDirectory) {
            return PackageOwner(.dpkg, package: package)
        }
        if let output = probe.run("rpm", ["-qf", "--queryformat", "%{NAME}\n", path]) {
            let name = output.split(separator: "\n").first.map { String($0).trimmingWhitespace() }
            return PackageOwner(.rpm, package: name.flatMap { $0.isEmpty ? nil : $0 })
        }
        return nil
    }

    /// Refuses to replace a binary that a package manager owns.
    /// - Parameters:
    ///   - binary: the installed program's path (symbolic links are followed).
    ///   - probe: how to query the system.
    /// - Throws: ``ReleaseChannelError`` `packageManaged`, naming the path and the command to use.
    public static func checkNotPackageManaged(_ binary: String, probe: Probe = .system) throws(ReleaseChannelError) {
        let resolved = (try? FileSystem.realPath(binary)) ?? binary
        for candidate in Set([binary, resolved]).sorted() {
            if let owner = packageOwner(of: candidate, probe: probe) {
                throw ReleaseChannelError(.packageManaged, "Refusing to replace \"\(candidate)\": it belongs to the \(owner); upgrade it with '\(owner.upgradeCommand)' instead")
            }
        }
    }

    /// Checks that `home` can take the update: writable, on a writable mount, with room for
    /// `downloadLength` × 2 + `margin` bytes, and that `staging` shares its file system.
    /// - Parameters:
    ///   - home: the installation's home (its version store lives here).
    ///   - staging: where the download is staged (created if missing before this is called, or its
    ///     nearest existing parent is checked).
    ///   - downloadLength: the target's length from the signed metadata.
    ///   - margin: room kept free beyond the two copies.
    ///   - alreadyStaged: bytes of the download already in staging (a verified file, or a partial
    ///     download to resume): they take no more room, so they are not counted again.
    ///   - storedVersions: how many versions the home's store holds, when known: with one, pruning
    ///     frees nothing, and the refusal says so instead of suggesting it.
    /// - Throws: ``ReleaseChannelError`` `readOnly`, `permission`, `space` or `crossDevice`.
    public static func checkHome(_ home: String, staging: String, downloadLength: Int, margin: Int = 16 << 20,
                                 alreadyStaged: Int = 0, storedVersions: Int? = nil) throws(ReleaseChannelError) {
        if access(home, W_OK | X_OK) != 0 {
            let code = errno
            if code == EROFS {
                throw ReleaseChannelError(.readOnly, "Cannot update in \"\(home)\": it is on a read-only mount; remount it read-write or choose a writable home with --home")
            }
            throw ReleaseChannelError(.permission, "Cannot update in \"\(home)\": no write permission (\(String(cString: strerror(code)))); run as its owner or choose a home you can write with --home")
        }
        // Range-checked before any arithmetic: a signed length of 2⁶³−1 is an error, not a trap.
        guard (0...ReleaseOffer.maximumLength).contains(downloadLength), (0...(1 << 40)).contains(margin) else {
            throw ReleaseChannelError(.space, "Cannot update in \"\(home)\": the update's length \(downloadLength) bytes is not from 0 to \(ReleaseOffer.maximumLength) (1 TiB)")
        }
        let staged = min(max(alreadyStaged, 0), downloadLength)
        let needed = UInt64(downloadLength - staged) + UInt64(downloadLength) + UInt64(margin)
        let available: UInt64
        do {
            let descriptor = try FileDescriptor.open(home, [.readOnly, .directory])
            defer { try? descriptor.close() }
            available = try descriptor.availableBytes()
        } catch {
            throw ReleaseChannelError(.storage, "Failed to read the free space of \"\(home)\": \(error)")
        }
        if available < needed {
            let hint = if let storedVersions, storedVersions <= 1 {
                " (the store holds only the running version, so pruning it frees nothing: free space elsewhere on this file system)"
            } else {
                " (the store keeps the last historyLimit versions, set in \"\(home)/config.json\"; a lower limit prunes older ones after the next upgrade, and 'autodev self-upgrade history' lists the versions installed)"
            }
            let parts = staged == 0 ? "twice the \(downloadLength)-byte download" :
                "the \(downloadLength - staged) bytes still to download of \(downloadLength) and its copy in the store"
            throw ReleaseChannelError(.space, "Not enough space in \"\(home)\": the update needs \(ByteCount.text(Int(needed))) (\(parts) plus \(ByteCount.text(margin))), \(ByteCount.text(Int(min(available, UInt64(Int.max))))) are free; free some space and try again" + hint)
        }
        var existing = staging
        while (try? FileSystem.statusIfPresent(existing)) == nil, let slash = existing.lastIndex(of: "/"), slash != existing.startIndex {
            existing = String(existing[..<slash])
        }
        do {
            let homeDevice = try FileSystem.status(home).device
            let stagingDevice = try FileSystem.status(existing).device
            if homeDevice != stagingDevice {
                throw ReleaseChannelError(.crossDevice, "Cannot stage in \"\(staging)\": it is on another file system than \"\(home)\", so the new version could not be renamed into the store atomically; keep the staging directory inside the home")
            }
        } catch let error as ReleaseChannelError {
            throw error
        } catch {
            throw ReleaseChannelError(.storage, "Failed to read \"\(home)\" or \"\(existing)\": \(error)")
        }
    }

    // MARK: - Internals

    /// The package whose dpkg `*.list` file names `path`.
    static func dpkgList(naming path: String, in directory: String) -> String? {
        guard let names = try? FileSystem.contentsOfDirectory(directory) else { return nil }
        for name in names.sorted() where name.hasSuffix(".list") {
            guard let bytes = try? FileSystem.readFile(directory + "/" + name) else { continue }
            let lines = String(decoding: bytes, as: UTF8.self).split(separator: "\n")
            if lines.contains(where: { $0 == path }) {
                let package = String(name.dropLast(".list".count))
                return String(package.split(separator: ":").first ?? Substring(package))
            }
        }
        return nil
    }

    /// Runs `tool` found on `PATH`; its output when it exits 0.
    static func runTool(_ tool: String, _ arguments: [String]) -> String? {
        let path = (getenv("PATH").map { String(cString: $0) } ?? "/usr/bin:/bin").split(separator: ":")
        guard let executable = path.map({ $0 + "/" + tool }).first(where: { access($0, X_OK) == 0 }) else { return nil }
        // A private directory (mkdtemp, mode 0700): a fixed name in /tmp could be a planted symbolic link.
        var template = Array("/tmp/autodev-probe-XXXXXX".utf8CString)
        guard let created = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else { return nil }
        let directory = String(cString: created)
        let output = directory + "/output"
        defer { try? FileSystem.removeTree(directory) }
        var configuration = Subprocess.Configuration(executable: executable, arguments: arguments, environment: ["PATH": "/usr/bin:/bin", "LC_ALL": "C"])
        configuration.outputPath = output
        configuration.errorPath = "/dev/null"
        configuration.timeoutSeconds = 10
        guard let status = try? Subprocess.run(configuration), status.isSuccess,
              let bytes = try? FileSystem.readFile(output) else { return nil }
        return String(decoding: bytes, as: UTF8.self)
    }
}
