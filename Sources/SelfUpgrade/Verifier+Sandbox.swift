import Platform

extension Verifier {
    /// How the isolation lines name what a run may write.
    static let stateCopyRole = "the state copy"
    static let rehearsalRole = "the rehearsal's home"

    /// The confinement of a candidate, settled on its first run: each namespace the kernel
    /// refuses is left out, for that run and the next, and ``isolation(stateCopy:)`` says so.
    struct Confinement: Sendable {
        /// A piece of isolation asked for.
        enum Piece: String, CaseIterable, Sendable {
            case user, network, ipc, mounts, processes
            /// Securebits locked and the bounding set dropped (needs CAP_SETPCAP).
            case capabilityLock
            /// What a run may write made an overlay whose writable layer is a bounded private tmpfs.
            case layers
            /// memfd_create, memfd_secret, shmget, msgget, semget and the keyring calls refused
            /// by a seccomp filter.
            case memoryFiles
            /// A devpts instance of its own (asked for with ``Confinement/terminals``).
            case terminals
            /// Directories covered by an empty tmpfs (asked for with ``Confinement/masked``).
            case masks
            /// A Landlock domain scoped to its own abstract Unix sockets.
            case socketScope
        }

        /// The one directory a run may write outside its private tmpfs mounts.
        struct WritableArea: Sendable {
            /// How the isolation line names it ("the state copy").
            var role: String
            var path: String
            /// Files inside it written in place, where the parent reads them (with a layer).
            var keptFiles: [String] = []
            /// Written in place, never through a layer (what is written there is the point: a
            /// proposer's change to a working copy); its growth is measured and capped.
            var inPlace = false
            /// Paths inside it bound read-only over themselves (a working copy's `.git`, whose
            /// hooks and configuration the caller's git would otherwise run unconfined).
            var readOnlyInside: [String] = []
        }

        let sandbox: String
        /// Where the sandbox is (a tmpfs, or the home's staging area as a last resort).
        let parent: SandboxParent
        /// The size of each private tmpfs (HOME, TMPDIR).
        let scratchBytes: UInt64
        let isRoot = Privilege.isRoot
        /// Leave the network as it is (a proposer that calls a model's API asked for it).
        var allowsNetwork = false
        /// With network isolation: the loopback interface up (a test suite's servers on 127.0.0.1).
        var loopback = false
        /// Pseudo-terminals of its own (a test suite that drives programs through a terminal).
        var terminals = false
        /// Directories bound writable besides a run's area (a build's caches), and paths inside
        /// them bound read-only over themselves.
        var alsoWritable: [String] = []
        var alsoReadOnly: [String] = []
        /// The most files and directories each private tmpfs holds.
        var tmpfsInodes = 16_384
        /// Directories covered by an empty tmpfs (the caller's HOME, /tmp, /run: where Unix
        /// sockets and the caller's files are), and directories below them kept visible
        /// (read-only) besides the writable ones and the sandbox.
        var masked: [String] = []
        var visible: [String] = []
        /// Directories asked to be visible that would have uncovered a hidden one: left out.
        private(set) var uncovering: [String] = []
        /// Whether its runs have rlimits and a timeout (a build's tools have neither: the caller
        /// stops them).
        var limited = true
        /// Pieces still asked for.
        private(set) var wanted: Set<Piece>
        /// Pieces it does not run without: one the kernel refuses fails the run instead of being
        /// left out (code not trusted yet: a proposer, a fitness command).
        var essential: Set<Piece> = []

        /// What code not trusted yet is never run without: mount, pid and (unless the network is
        /// asked for) network isolation, the hidden directories, and a user namespace (for root,
        /// which needs none, the capability lock). The Landlock scope is not among them: a kernel
        /// before 6.12 has none, and only a run that shares the network is without it then.
        var untrustedEssentials: Set<Piece> {
            var pieces: Set<Piece> = [.mounts, .processes, .masks, isRoot ? .capabilityLock : .user]
            if !allowsNetwork { pieces.insert(.network) }
            return pieces
        }
        /// What the kernel refused, one line each.
        private(set) var refused: [String] = []
        /// How each writable area was confined in its last run: the layer's size, or nil where
        /// it stayed writable in place (measured instead).
        private(set) var areas: [(role: String, layer: TreeUsage?)] = []
        /// Every mount point, all remounted read-only in the candidate's namespace; a run's
        /// writable area is layered (or bound writable again), and HOME and TMPDIR are private
        /// tmpfs mounts.
        let mountPoints: [String]
        /// The devices of its `/dev`, a tmpfs made inside its own mount namespace.
        let devices: [String]

        /// Devices a program may need; nothing that reaches a disk, the kernel's memory or a
        /// terminal (no `tty`: code not trusted yet never reaches the caller's terminal).
        static let deviceNames = ["null", "zero", "full", "random", "urandom"]

        /// Reads the mount table.
        /// - Throws: ``SystemError`` when the table cannot be read.
        init(sandbox: String, parent: SandboxParent, scratchBytes: UInt64) throws {
            self.sandbox = sandbox
            self.parent = parent
            self.scratchBytes = scratchBytes
            wanted = Set(Piece.allCases)
            // Root needs no user namespace: uid 0 keeps its uid, loses its capabilities.
            if isRoot { wanted.remove(.user) }
            mountPoints = try MountTable.mountPoints()
            devices = Self.deviceNames.filter { FileSystem.exists("/dev/" + $0) }
        }

        /// Hides the directories where Unix sockets and the caller's files are (read-only is not
        /// enough: a read-only mount does not keep a process from connecting to a session bus
        /// or an agent): the caller's HOME, /tmp, /var/tmp and /run, each an empty tmpfs in the
        /// run's namespace, but for what lies below them and is kept: `writable` and `visible`
        /// (the package, the toolchain, a command's own directory), the directories holding the
        /// tools on PATH, and with the network the resolver's configuration.
        mutating func hide(keeping writable: [String], visible: [String], alsoHiding extra: [String] = []) {
            func real(_ path: String) -> String { (try? FileSystem.realPath(path)) ?? path }
            // Only what it must write (and the sandbox) can leave a directory unhidden; a
            // directory it only reads that is, or holds, a hidden one (a command kept right in
            // HOME or /tmp) would uncover it, and is left out instead, and named.
            masked = Self.maskedDirectories(keeping: (writable + [sandbox]).map(real), alsoHiding: extra)
            let wanted = (visible + Self.testVisible).map(real)
            let masked = self.masked
            uncovering = wanted.filter { directory in masked.contains { $0 == directory || $0.hasPrefix(directory + "/") } }
            self.visible = wanted.filter { !uncovering.contains($0) } + (allowsNetwork ? ["/run/systemd/resolve"] : [])
                + Self.toolDirectories(path: ProcessControl.environment()["PATH"] ?? "", below: masked)
        }

        /// A test hook, compiled only into builds with `AUTODEV_TEST_HOOKS` (never a shipped
        /// release): `AUTODEV_TEST_VISIBLE=dir:dir` keeps the directories a test harness runs its
        /// programs from visible (a clone of the project under /tmp).
        static var testVisible: [String] {
            #if AUTODEV_TEST_HOOKS
            (ProcessControl.environment()["AUTODEV_TEST_VISIBLE"] ?? "").split(separator: ":").map(String.init).filter { $0.hasPrefix("/") }
            #else
            []
            #endif
        }

        /// The caller's HOME, /tmp, /var/tmp, /run and the directories of LXD's, Incus's and
        /// WSLg's sockets (as their real paths, those that exist), but for one that is, or lies
        /// inside, a directory kept (masking it would hide the kept one), and one inside another.
        static func maskedDirectories(keeping kept: [String], alsoHiding extra: [String] = []) -> [String] {
            // Where sockets that lead to root are kept besides /run (LXD, Incus; WSLg's X and
            // Wayland sockets).
            var candidates = ["/tmp", "/var/tmp", "/run", "/var/snap/lxd", "/var/lib/lxd", "/var/lib/incus", "/mnt/wslg"] + extra
            if let home = ProcessControl.environment()["HOME"] { candidates.append(home) }
            if let home = Privilege.homeDirectory { candidates.append(home) }
            var masked: [String] = []
            for candidate in candidates {
                guard let real = try? FileSystem.realPath(candidate), real != "/", FileSystem.isDirectory(real), !masked.contains(real) else { continue }
                if kept.contains(where: { real == $0 || real.hasPrefix($0 + "/") }) { continue }
                masked.append(real)
            }
            // One inside another (a HOME below /tmp) is hidden with it.
            return masked.filter { inner in !masked.contains { inner.hasPrefix($0 + "/") } }
        }

        /// What keeps the tools on `path` usable where they lie below a masked directory: for
        /// each such entry, the directory right below the mask that holds it (`~/.local` for
        /// `~/.local/bin`, `~/.pyenv` for `~/.pyenv/shims`), so `~/.ssh` or `~/.config` stay hidden.
        static func toolDirectories(path: String, below masked: [String]) -> [String] {
            var kept: [String] = []
            for entry in path.split(separator: ":").map(String.init) where entry.hasPrefix("/") {
                guard let real = try? FileSystem.realPath(entry),
                      let mask = masked.first(where: { real.hasPrefix($0 + "/") }) else { continue }
                let top = mask + "/" + (real.dropFirst(mask.count + 1).split(separator: "/").first.map(String.init) ?? "")
                if !kept.contains(top), kept.count < 16 { kept.append(top) }
            }
            return kept
        }

        /// MemAvailable from /proc/meminfo, in bytes (0 when it cannot be read).
        static func availableMemoryBytes() -> UInt64 {
            guard let bytes = try? FileSystem.readOwnFile("/proc/meminfo", maxBytes: 1 << 16) else { return 0 }
            for line in String(decoding: bytes, as: UTF8.self).split(separator: "\n") where line.hasPrefix("MemAvailable:") {
                let fields = line.split(separator: " ")
                if fields.count >= 2, let kibibytes = UInt64(fields[1]) {
                    return kibibytes.multipliedReportingOverflow(by: 1024).overflow ? .max : kibibytes * 1024
                }
            }
            return 0
        }

        /// Runs `base` confined, leaving out each namespace the kernel refuses, with `area` (if
        /// any) the one directory it may write besides its private tmpfs mounts.
        /// - Throws: ``UpgradeError/verificationFailed(binary:reason:log:)`` when it cannot be
        ///   started at all, or privileges cannot be dropped.
        mutating func run(_ base: Subprocess.Configuration, writing area: WritableArea?, binary: String, log: String) throws -> TerminationStatus {
            try launch(base, writing: area, binary: binary, log: log).wait()
        }

        /// Starts `base` confined as ``run(_:writing:binary:log:)`` runs it, and returns once it
        /// runs (with an exec gate, once the gate has opened).
        /// - Throws: as ``run(_:writing:binary:log:)``.
        mutating func launch(_ base: Subprocess.Configuration, writing area: WritableArea?, binary: String, log: String) throws -> Subprocess.Running {
            // What the area may gain: what it holds (a migration may rewrite all of it) and as
            // much as one file may hold. A layer is memory: one that could take more than a
            // quarter of what is available is not made, and the area is measured instead.
            let held = area.map { FileSystem.usage(of: [$0.path], stoppingAbove: TreeUsage(bytes: .max, entries: .max)) } ?? TreeUsage()
            let allowance = Self.writeAllowance(scratchBytes, held: held)
            let fitsInMemory = UInt64(allowance.bytes) <= Self.availableMemoryBytes() / 4
            while true {
                let layer = area != nil && area?.inPlace != true && fitsInMemory && wanted.contains(.mounts) && wanted.contains(.layers) ? allowance : nil
                do {
                    let child = try Subprocess.launch(configure(base, writing: area, layer: layer))
                    if let area {
                        areas.removeAll { $0.role == area.role }
                        areas.append((area.role, layer))
                    }
                    return child
                } catch let error as Subprocess.LaunchError {
                    if error.step == "bind-changed" {
                        throw UpgradeError.verificationFailed(binary: binary, reason: "the file is no longer the one that was hashed (another was put in its place, or it was changed), so it is not run", log: log)
                    }
                    let piece: Piece? = switch error.step {
                    case "unshare-user", "uid-map": .user
                    case "unshare-network", "loopback": .network
                    case "terminals": .terminals
                    case "mask": .masks
                    case "landlock": .socketScope
                    case "unshare-ipc": .ipc
                    case "unshare-pid", "fork", "mount-proc": .processes
                    case "securebits", "drop-bounding-set": .capabilityLock
                    case "layer": .layers
                    case "seccomp": .memoryFiles
                    case "unshare-mount", "mount", "remount-read-only", "bind-writable", "bind-devices", "mount-tmpfs",
                         "bind-read-only": .mounts
                    default: nil
                    }
                    if let piece, essential.contains(piece) {
                        throw UpgradeError.verificationFailed(binary: binary, reason: "the kernel refused its \(Self.label(piece)) (\(error.step): \(error.errno)), and code not trusted yet is not run without it", log: log)
                    }
                    guard let piece, wanted.remove(piece) != nil else {
                        throw UpgradeError.verificationFailed(binary: binary, reason: error.description, log: log)
                    }
                    refused.append("no \(Self.label(piece)) (\(error.step): \(error.errno))")
                }
            }
        }

        /// What a run may add to the directory it may write, given what it `held` when it
        /// started: as much again (a migration may rewrite the whole state) and as much as one
        /// file may hold; 10,000 files and directories.
        static func writeAllowance(_ scratchBytes: UInt64, held: TreeUsage) -> TreeUsage {
            TreeUsage(bytes: held.bytes, entries: 0).adding(TreeUsage(bytes: Int(clamping: scratchBytes), entries: 10_000))
        }

        /// The empty directory in the sandbox a layer of `area` is mounted on.
        func layerDirectory(for area: WritableArea) -> String {
            sandbox + (area.role == Verifier.stateCopyRole ? "/layer-state" : "/layer-rehearsal")
        }

        /// `base` with the pieces still wanted, writing `area` through a layer of `layer`'s size
        /// (nil: in place, measured).
        func configure(_ base: Subprocess.Configuration, writing area: WritableArea?, layer: TreeUsage?) throws -> Subprocess.Configuration {
            var run = base
            run.isolateUser = wanted.contains(.user)
            run.isolateNetwork = wanted.contains(.network) && !allowsNetwork
            run.isolateIPC = wanted.contains(.ipc)
            run.isolateProcesses = wanted.contains(.processes)
            if wanted.contains(.mounts) {
                run.isolateMounts = true
                run.readOnlyMounts = mountPoints
                // Nothing of the sandbox is writable but the area: outputs, the rehearsal-to-be
                // and the sandbox itself are out of reach, so nothing the candidate plants there
                // is followed later. A layered area is changed only in its layer; the directory
                // itself stays as made but for the files kept writable in place.
                if let area, let layer {
                    let directory = layerDirectory(for: area)
                    if !FileSystem.exists(directory) { try FileSystem.createDirectory(directory, mode: 0o700) }
                    run.writablePaths = []
                    run.layeredPaths = [(area.path, directory)]
                    run.keptWritableFiles = area.keptFiles
                    // The layer holds what the area may gain, and its own two directories.
                    run.layerBytes = UInt64(layer.bytes)
                    run.layerInodes = layer.entries + 16
                } else {
                    run.writablePaths = (area.map { [$0.path] } ?? []) + alsoWritable
                    // After the run's own binds (the rehearsal's stored file onto its place in
                    // the scratch store), never instead of them.
                    run.readOnlyBinds = base.readOnlyBinds
                        + ((area?.readOnlyInside ?? []) + alsoReadOnly).filter(FileSystem.exists).map { ($0, $0) }
                }
                run.devices = devices
                run.privateTerminals = terminals && wanted.contains(.terminals)
                if wanted.contains(.masks), !masked.isEmpty {
                    run.maskedPaths = masked
                    // What does not exist needs no binding back. Masks are real paths: so must
                    // be what is bound back below them (a HOME that is a link elsewhere).
                    run.visiblePaths = (visible + [sandbox]).filter(FileSystem.isDirectory)
                    run.writablePaths = run.writablePaths.map { (try? FileSystem.realPath($0)) ?? $0 }
                }
                run.privateTmpfsInodes = tmpfsInodes
                run.carriedPaths = [sandbox]
                run.privateTmpfs = [sandbox + "/home", sandbox + "/tmp"]
                run.privateTmpfsBytes = scratchBytes
            } else {
                run.writablePaths = (area.map { [$0.path] } ?? []) + alsoWritable
                run.readOnlyBinds = []
            }
            run.loopbackUp = loopback && run.isolateNetwork
            // What it may write in place (the area, unless layered; a layered area's kept files)
            // is measured and capped.
            if let area, layer == nil || !area.keptFiles.isEmpty {
                run.writeQuota = Subprocess.WriteQuota(paths: [area.path]) { held in Self.writeAllowance(scratchBytes, held: held) }
            }
            // Dropping the bounding set needs CAP_SETPCAP: root has it, so does a new user namespace.
            run.dropCapabilities = (isRoot || run.isolateUser) && wanted.contains(.capabilityLock)
            run.noNewPrivileges = true
            run.denyMemoryFiles = wanted.contains(.memoryFiles)
            run.scopeAbstractSockets = wanted.contains(.socketScope)
            return run
        }

        /// Takes in what a run under `other` (a copy of this one) settled: the pieces the kernel
        /// refused it, and how its writable area was confined.
        mutating func adopt(_ other: Confinement) {
            wanted.formIntersection(other.wanted)
            refused += other.refused.filter { !refused.contains($0) }
            for area in other.areas where !areas.contains(where: { $0.role == area.role && $0.layer == area.layer }) {
                areas.removeAll { $0.role == area.role }
                areas.append(area)
            }
        }

        /// Whether a run's ``Subprocess/Configuration/readOnlyBinds`` are applied (mounts are isolated).
        var bindsFiles: Bool { wanted.contains(.mounts) }

        /// The isolation in place, then what is missing.
        func isolation(stateCopy: Bool) -> [String] {
            var lines = ["own session, no controlling terminal, stdin /dev/null"]
            lines.append(parent.isOnTmpfs ? "sandbox on a tmpfs (\(parent.path))"
                                          : "sandbox in the home's staging area (no usable tmpfs: XDG_RUNTIME_DIR and /dev/shm must be tmpfs, safe from other users and have 64 MiB free)")
            lines.append(wanted.contains(.mounts) ? "HOME and TMPDIR each a private tmpfs (\(scratchBytes >> 20) MiB) that ends with it"
                                                  : "private HOME and TMPDIR")
            if stateCopy { lines.append("state copy") }
            if limited { lines += ["rlimits (cpu, memory, file size, files, processes)", "timeout"] }
            let scratch = ByteCount.text(Int(clamping: scratchBytes))
            for area in areas {
                if let layer = area.layer {
                    lines.append("\(area.role) an overlay never changed in place\(area.role == Verifier.rehearsalRole ? " but for its journal and lock" : ""): what the candidate writes there goes to a private tmpfs of \(ByteCount.text(layer.bytes)) and \(layer.entries) files and directories (as much as it held + \(scratch)), the kernel counting mapped and deleted files too")
                } else {
                    lines.append("\(area.role) capped (what it held + as much again + \(scratch), and 10000 more files and directories)")
                }
            }
            if wanted.contains(.user) { lines.append("user namespace (own uid and gid only)") }
            if allowsNetwork {
                lines.append("the network, as asked for")
            } else if wanted.contains(.network) {
                lines.append(loopback ? "network namespace (its own loopback only)" : "network namespace (no network)")
            }
            if wanted.contains(.ipc) { lines.append("IPC namespace (no shared memory, semaphores or queues of others)") }
            if wanted.contains(.processes) { lines.append("pid namespace (everything it starts dies with it)") }
            if wanted.contains(.mounts) {
                lines.append(stateCopy ? "every mount read-only but its scratch directories and the state copy" : "every mount read-only but its scratch directories")
                lines.append(terminals && wanted.contains(.terminals)
                    ? "minimal /dev on its own tmpfs (\(devices.joined(separator: ", ")), and pseudo-terminals of its own: none of the host's)"
                    : "minimal /dev on its own tmpfs (\(devices.joined(separator: ", ")); no terminal)")
                if wanted.contains(.processes) { lines.append("fresh /proc of its own pid namespace") }
            }
            lines.append((isRoot || wanted.contains(.user)) && wanted.contains(.capabilityLock)
                ? "no capabilities, locked (uid 0 gains none), none to gain (no_new_privs)"
                : "no capabilities to gain (no_new_privs)")
            if !masked.isEmpty, wanted.contains(.masks), wanted.contains(.mounts) {
                lines.append("hidden under an empty tmpfs (their Unix sockets and files out of reach): " + masked.joined(separator: ", "))
                if !uncovering.isEmpty {
                    lines.append("not shown, as they would uncover a hidden directory (keep commands and their data in a directory of their own): "
                                 + uncovering.joined(separator: ", "))
                }
            }
            if wanted.contains(.socketScope) {
                lines.append("abstract Unix sockets made outside it out of reach (Landlock scope)")
            }
            if wanted.contains(.memoryFiles) { lines.append("memfd_create, memfd_secret, shmget, msgget, semget and the keyrings refused (seccomp): no kernel memory out of the rlimits' sight, no state that outlives the run") }
            lines += refused
            if !wanted.contains(.mounts) {
                lines.append("it can write wherever uid \(Privilege.userID) can")
            } else if !wanted.contains(.processes) {
                lines.append("/proc shows this system's processes")
            }
            return lines
        }

        private static func label(_ piece: Piece) -> String {
            switch piece {
            case .user: "user namespace"
            case .network: "network isolation"
            case .ipc: "IPC isolation"
            case .mounts: "mount isolation"
            case .processes: "pid isolation"
            case .capabilityLock: "capability lock"
            case .layers: "layers for what it writes (measured instead)"
            case .memoryFiles: "seccomp filter (memfd_create, System V IPC and the keyrings are allowed)"
            case .terminals: "pseudo-terminals"
            case .masks: "masked directories"
            case .socketScope: "Landlock scope (abstract Unix sockets outside are reachable where the network is shared)"
            }
        }
    }
}
