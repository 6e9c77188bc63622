import Platform

extension Verifier {
    /// The confinement of a candidate, settled on its first run: each namespace the kernel
    /// refuses is left out, for that run and the next, and ``isolation(stateCopy:rehearsal:)`` says so.
    struct Confinement {
        /// A piece of isolation asked for.
        enum Piece: String, CaseIterable {
            case user, network, ipc, mounts, processes
            /// Securebits locked and the bounding set dropped (needs CAP_SETPCAP).
            case capabilityLock
        }

        let sandbox: String
        /// Where the sandbox is (a tmpfs, or the home's staging area as a last resort).
        let parent: SandboxParent
        /// The state copy on the home, writable by the candidate.
        let stateCopy: String?
        /// The size of each private tmpfs (HOME, TMPDIR).
        let scratchBytes: UInt64
        let isRoot = Privilege.isRoot
        /// Pieces still asked for.
        private(set) var wanted: Set<Piece>
        /// What the kernel refused, one line each.
        private(set) var refused: [String] = []
        /// Every mount point, all remounted read-only in the candidate's namespace; the runs'
        /// ``Subprocess/Configuration/writablePaths`` (the rehearsal's scratch home) and the state
        /// copy are bound writable again, and HOME and TMPDIR are private tmpfs mounts.
        let mountPoints: [String]
        /// The devices of its `/dev`, a tmpfs made inside its own mount namespace.
        let devices: [String]

        /// Devices a program may need; nothing that reaches a disk, the kernel's memory or a
        /// terminal (no `tty`: code not trusted yet never reaches the caller's terminal).
        static let deviceNames = ["null", "zero", "full", "random", "urandom"]

        /// Reads the mount table.
        /// - Throws: ``SystemError`` when the table cannot be read.
        init(sandbox: String, parent: SandboxParent, stateCopy: String?, scratchBytes: UInt64) throws {
            self.sandbox = sandbox
            self.parent = parent
            self.stateCopy = stateCopy
            self.scratchBytes = scratchBytes
            wanted = Set(Piece.allCases)
            // Root needs no user namespace: uid 0 keeps its uid, loses its capabilities.
            if isRoot { wanted.remove(.user) }
            mountPoints = try MountTable.mountPoints()
            devices = Self.deviceNames.filter { FileSystem.exists("/dev/" + $0) }
        }

        /// Runs `base` confined, leaving out each namespace the kernel refuses.
        /// - Throws: ``UpgradeError/verificationFailed(binary:reason:log:)`` when it cannot be
        ///   started at all, or privileges cannot be dropped.
        mutating func run(_ base: Subprocess.Configuration, binary: String, log: String) throws -> TerminationStatus {
            while true {
                do {
                    return try Subprocess.run(configure(base))
                } catch let error as Subprocess.LaunchError {
                    let piece: Piece? = switch error.step {
                    case "unshare-user", "uid-map": .user
                    case "unshare-network": .network
                    case "unshare-ipc": .ipc
                    case "unshare-pid", "fork", "mount-proc": .processes
                    case "securebits", "drop-bounding-set": .capabilityLock
                    case "unshare-mount", "mount", "remount-read-only", "bind-writable", "bind-devices", "mount-tmpfs",
                         "bind-read-only": .mounts
                    default: nil
                    }
                    guard let piece, wanted.remove(piece) != nil else {
                        throw UpgradeError.verificationFailed(binary: binary, reason: error.description, log: log)
                    }
                    refused.append("no \(Self.label(piece)) (\(error.step): \(error.errno))")
                }
            }
        }

        /// What a run may add to the directories it may write, all together, given what they
        /// `held` when it started: as much again (a migration may rewrite the whole state) and as
        /// much as one file may hold; 10,000 files and directories.
        static func writeAllowance(_ scratchBytes: UInt64, held: TreeUsage) -> TreeUsage {
            TreeUsage(bytes: held.bytes, entries: 0).adding(TreeUsage(bytes: Int(clamping: scratchBytes), entries: 10_000))
        }

        /// `base` with the pieces still wanted.
        func configure(_ base: Subprocess.Configuration) -> Subprocess.Configuration {
            var run = base
            run.isolateUser = wanted.contains(.user)
            run.isolateNetwork = wanted.contains(.network)
            run.isolateIPC = wanted.contains(.ipc)
            run.isolateProcesses = wanted.contains(.processes)
            if wanted.contains(.mounts) {
                run.isolateMounts = true
                run.readOnlyMounts = mountPoints
                // Nothing of the sandbox is writable but what the run was given (the rehearsal's
                // scratch home) and the state copy: outputs, the rehearsal-to-be and the sandbox
                // itself are out of reach, so nothing the candidate plants there is followed later.
                run.writablePaths = base.writablePaths + (stateCopy.map { [$0] } ?? [])
                run.devices = devices
                run.carriedPaths = [sandbox]
                run.privateTmpfs = [sandbox + "/home", sandbox + "/tmp"]
                run.privateTmpfsBytes = scratchBytes
            } else {
                run.readOnlyBinds = []
            }
            // What it may write besides its private tmpfs mounts (the state copy on the home's
            // disk, the rehearsal's home on the sandbox's tmpfs) is capped as a whole.
            let writable = base.writablePaths + (stateCopy.map { [$0] } ?? [])
            if !writable.isEmpty {
                run.writeQuota = Subprocess.WriteQuota(paths: writable) { held in Self.writeAllowance(scratchBytes, held: held) }
            }
            // Dropping the bounding set needs CAP_SETPCAP: root has it, so does a new user namespace.
            run.dropCapabilities = (isRoot || run.isolateUser) && wanted.contains(.capabilityLock)
            run.noNewPrivileges = true
            return run
        }

        /// Whether a run's ``Subprocess/Configuration/readOnlyBinds`` are applied (mounts are isolated).
        var bindsFiles: Bool { wanted.contains(.mounts) }

        /// The isolation in place, then what is missing.
        func isolation(stateCopy: Bool, rehearsal: Bool) -> [String] {
            var lines = ["own session, no controlling terminal, stdin /dev/null"]
            lines.append(parent.isOnTmpfs ? "sandbox on a tmpfs (\(parent.path))"
                                          : "sandbox in the home's staging area (no usable tmpfs: XDG_RUNTIME_DIR and /dev/shm must be tmpfs, safe from other users and have 64 MiB free)")
            lines.append(wanted.contains(.mounts) ? "HOME and TMPDIR each a private tmpfs (\(scratchBytes >> 20) MiB) that ends with it"
                                                  : "private HOME and TMPDIR")
            if stateCopy { lines.append("state copy") }
            lines += ["rlimits (cpu, memory, file size, files, processes)", "timeout"]
            let writable = (stateCopy ? ["the state copy"] : []) + (rehearsal ? ["the rehearsal's home"] : [])
            if !writable.isEmpty {
                let allowance = Self.writeAllowance(scratchBytes, held: TreeUsage())
                lines.append("\(writable.joined(separator: " and ")) capped (what they held + as much again + \(ByteCount.text(allowance.bytes)), and \(allowance.entries) more files and directories, in each run)")
            }
            if wanted.contains(.user) { lines.append("user namespace (own uid and gid only)") }
            if wanted.contains(.network) { lines.append("network namespace (no network)") }
            if wanted.contains(.ipc) { lines.append("IPC namespace (no shared memory, semaphores or queues of others)") }
            if wanted.contains(.processes) { lines.append("pid namespace (everything it starts dies with it)") }
            if wanted.contains(.mounts) {
                lines.append(self.stateCopy == nil ? "every mount read-only but its scratch directories" : "every mount read-only but its scratch directories and the state copy")
                lines.append("minimal /dev on its own tmpfs (\(devices.joined(separator: ", ")); no terminal)")
                if wanted.contains(.processes) { lines.append("fresh /proc of its own pid namespace") }
            }
            lines.append((isRoot || wanted.contains(.user)) && wanted.contains(.capabilityLock)
                ? "no capabilities, locked (uid 0 gains none), none to gain (no_new_privs)"
                : "no capabilities to gain (no_new_privs)")
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
            }
        }
    }
}
