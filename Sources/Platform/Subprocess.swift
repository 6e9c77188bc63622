import CPlatform
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// How a child process ended. A non-zero exit is a result, not an error.
public enum TerminationStatus: Sendable, Equatable, CustomStringConvertible {
    case exited(Int32)
    case signaled(Int32)
    /// Still running when the wall-clock limit came; the whole process group was killed.
    case timedOut(seconds: Double)
    /// Its ``Subprocess/WriteQuota`` was exceeded (while it ran: then the whole process group
    /// was killed; or by what it left when it ended).
    case exceededWriteQuota(Subprocess.WriteQuota)
    /// A file system it could write left less free than its ``Subprocess/WriteQuota`` allows
    /// (what it wrote may be out of sight: a file deleted while open still takes its space).
    case fileSystemFull(path: String, freeBytes: UInt64)

    public var isSuccess: Bool { self == .exited(0) }

    public var description: String {
        switch self {
        case .exited(let code): "exited with status \(code)"
        case .signaled(let signal): "was killed by signal \(signal) (\(String(cString: strsignal(signal))))"
        case .timedOut(let seconds): "did not finish within \(formatSeconds(seconds)) and was killed"
        case .exceededWriteQuota(let quota):
            "wrote more than \(ByteCount.text(quota.added.bytes)) or \(quota.added.entries) files and directories into what it may write (\(quota.paths.joined(separator: ", "))) and was stopped"
        case .fileSystemFull(let path, let free):
            "was stopped when the file system of \(path) had \(ByteCount.text(Int(clamping: free))) left (filled by it, out of sight of its files, or by another process: verification needs the room)"
        }
    }
}

private func formatSeconds(_ seconds: Double) -> String { DurationText.text(seconds) }

/// A resource limit for a child (applied with `setrlimit` before it executes).
public struct ResourceLimit: Sendable, Equatable {
    public var resource: Int32
    public var value: UInt64
    public init(resource: Int32, value: UInt64) {
        self.resource = resource
        self.value = value
    }
    public static func cpuSeconds(_ seconds: UInt64) -> ResourceLimit { .init(resource: Int32(RLIMIT_CPU.rawValue), value: seconds) }
    public static func addressSpace(bytes: UInt64) -> ResourceLimit { .init(resource: Int32(RLIMIT_AS.rawValue), value: bytes) }
    public static func fileSize(bytes: UInt64) -> ResourceLimit { .init(resource: Int32(RLIMIT_FSIZE.rawValue), value: bytes) }
    public static func processes(_ count: UInt64) -> ResourceLimit { .init(resource: Int32(__RLIMIT_NPROC.rawValue), value: count) }
    public static func openFiles(_ count: UInt64) -> ResourceLimit { .init(resource: Int32(RLIMIT_NOFILE.rawValue), value: count) }
}

/// Runs programs as children: own process group, limits, a wall-clock timeout, output to files.
public enum Subprocess {
    /// How much a child may add to the directories it may write, all together: it is measured
    /// (``FileSystem/usage(of:stoppingAbove:)``) while it runs, every 50 ms or four times as
    /// long as a measurement takes, whichever is longer, and once more when it ends. A child that
    /// goes past it is killed with its process group; what it wrote between two measurements
    /// is the most it can exceed the quota by (each file is also capped by its rlimit).
    public struct WriteQuota: Sendable, Equatable {
        public var paths: [String]
        /// What the paths held when the child started.
        public var baseline: TreeUsage
        /// What it may add.
        public var added: TreeUsage
        /// The least each path's file system must keep free: 64 MiB, or half of what it had
        /// free at the start if that is less. What the walk cannot see (a file mapped and then
        /// deleted, or whose descriptor is parked in a socket) still takes space: this floor
        /// keeps it from filling the disk or the memory a tmpfs lives in. (A sandbox layers what
        /// it can, where the kernel counts every byte: ``Configuration/layeredPaths``.)
        public var freeFloors: [UInt64]
        /// - Parameter allowance: what the child may add, given what the paths hold now.
        public init(paths: [String], allowance: (TreeUsage) -> TreeUsage) {
            self.paths = paths
            baseline = FileSystem.usage(of: paths, stoppingAbove: TreeUsage(bytes: .max, entries: .max))
            let added = allowance(baseline)
            self.added = added
            freeFloors = paths.map { path in
                guard let directory = try? FileDescriptor.open(path, [.directory, .noFollow, .nonBlocking]) else { return 0 }
                defer { try? directory.close() }
                guard let free = try? directory.availableBytes() else { return 0 }
                return min(64 << 20, free / 2)
            }
        }

        /// The most the paths may hold.
        var limit: TreeUsage { baseline.adding(added) }

        /// How the child started as `pid` that went past the quota is reported, or nil while it
        /// has not. What its processes hold open after deleting it counts too.
        /// - Parameter countingHeld: whether files its processes hold open after deleting them
        ///   are looked for (a scan of every process): not once nothing of it can be running.
        func violation(of pid: pid_t, countingHeld: Bool = true) -> TerminationStatus? {
            var usage = FileSystem.usage(of: paths, stoppingAbove: limit)
            if countingHeld && !usage.exceeds(limit) { usage.bytes += HeldFiles.deletedBytes(heldBy: pid, under: paths) }
            if usage.exceeds(limit) { return .exceededWriteQuota(self) }
            for (path, floor) in zip(paths, freeFloors) {
                if let free = try? FileSystem.availableBytes(in: path), free < floor { return .fileSystemFull(path: path, freeBytes: free) }
            }
            return nil
        }
    }

    /// What to run and how to confine it.
    public struct Configuration: Sendable {
        public var executable: String
        public var arguments: [String]
        public var environment: [String: String]
        public var workingDirectory: String?
        /// Where standard output and standard error go (created or truncated); nil: /dev/null.
        public var outputPath: String?
        public var errorPath: String?
        /// A file read as standard input (nil: /dev/null).
        public var inputPath: String?
        public var timeoutSeconds: Double?
        public var limits: [ResourceLimit] = []
        /// Run in a new network namespace (no interfaces but a downed loopback).
        public var isolateNetwork = false
        /// Run in a new IPC namespace (no System V IPC objects or POSIX message queues of others).
        public var isolateIPC = false
        /// Run as pid 1 of a new pid namespace: whatever it starts dies with it.
        public var isolateProcesses = false
        /// Run in a new user namespace that maps this process's own uid and gid, so that the
        /// namespaces below need no privilege (the kernel may refuse it).
        public var isolateUser = false
        /// Run in a private mount namespace ("/" rprivate) where every path of
        /// ``readOnlyMounts`` is bind-remounted read-only, keeping its nosuid, nodev, noexec and
        /// atime flags...
        public var isolateMounts = false
        /// ...these mount points (``MountTable/mountPoints()``, all of them to confine a program)...
        public var readOnlyMounts: [String] = []
        /// ...then these (inside them) bound writable again.
        public var writablePaths: [String] = []
        /// With ``isolateMounts``: a fresh read-only tmpfs on `/dev` holding only these devices
        /// (names in `/dev`, bound from the host's) and the `fd`, `stdin`, `stdout` and `stderr`
        /// links; empty leaves `/dev` as it is. It is made inside the child's mount namespace, so
        /// nothing is written to any file system of the host.
        public var devices: [String] = []
        /// With ``devices``: directories under `/dev` (a sandbox on `/dev/shm`) kept visible,
        /// read-only, at the same path in the new `/dev`; a ``writablePaths`` entry inside one is
        /// writable again.
        public var carriedPaths: [String] = []
        /// With ``isolateMounts``: a private tmpfs of at most ``privateTmpfsBytes`` (mode 0700,
        /// nosuid, nodev) on each of these directories, made in the child's mount namespace and
        /// gone with it: what the program writes there reaches no disk and no other process.
        public var privateTmpfs: [String] = []
        public var privateTmpfsBytes: UInt64 = 256 << 20
        /// The most files and directories each private tmpfs holds.
        public var privateTmpfsInodes = 16_384
        /// With ``isolateMounts``: files or directories bound read-only onto existing targets,
        /// last (so a target may lie inside a writable path or a private tmpfs's parent).
        public var readOnlyBinds: [(source: String, target: String)] = []
        /// The file a bind's source (by its path in ``readOnlyBinds``) must be when it is bound
        /// and still be right before the exec: opened without following a link and bound through
        /// that descriptor, or the launch fails at step "bind-changed" (`ESTALE`). At most 8.
        public var readOnlyBindIdentities: [String: FileIdentity] = [:]
        /// Securebits locked so that uid 0 gains no capabilities on exec, and the whole bounding
        /// set dropped (needs root, or ``isolateUser``).
        public var dropCapabilities = false
        /// Ambient, effective, permitted and inheritable capabilities cleared and
        /// `PR_SET_NO_NEW_PRIVS` set: a setuid program or file capability gains nothing.
        public var noNewPrivileges = false
        /// The one descriptor besides stdio the program inherits.
        public var inheritedDescriptor: InheritedDescriptor?
        /// The child, made and confined, waits at this gate before it executes the program
        /// (whose file may still be written meanwhile); ``launch(_:)`` returns once it has passed.
        public var execGate: ExecGate?
        /// The cgroup the child joins before anything else (``ProcessTrees/Leaf``): everything
        /// it starts can then be ended with it. nil: its parent's.
        public var cgroup: ProcessTrees.Leaf?
        /// What it may add to the directories it may write (nil: no cap but the rlimits).
        public var writeQuota: WriteQuota?
        /// With ``isolateMounts``: each `path` (a directory, not in ``writablePaths``) made an
        /// overlay whose only writable layer is a private tmpfs on `layer` (an empty directory) of
        /// at most ``layerBytes`` and ``layerInodes``: the program may change what it sees there
        /// as it likes, the directory itself never changes, and everything written (mapped, or
        /// deleted while held open, too) counts against the layer's size, as the kernel enforces.
        public var layeredPaths: [(path: String, layer: String)] = []
        /// With ``layeredPaths``: files inside them (at most 8) that stay writable in place,
        /// where the parent reads them (the rehearsal's journal): each is bound back onto its
        /// own path above the overlay, so it can be written, not removed or replaced.
        public var keptWritableFiles: [String] = []
        public var layerBytes: UInt64 = 256 << 20
        public var layerInodes = 16_384
        /// A seccomp filter refusing `memfd_create`, `memfd_secret`, `shmget`, `msgget`, `semget`
        /// and the keyring calls (memory no rlimit counts and no walk can see, a uid's keyring that
        /// outlives the run), and every system call of another ABI.
        public var denyMemoryFiles = false
        /// With ``isolateNetwork``: its loopback interface brought up, so servers and clients on
        /// 127.0.0.1 inside work while nothing outside is reachable.
        public var loopbackUp = false
        /// With ``devices``: a devpts instance of its own on `/dev/pts` (and `/dev/ptmx`): it may
        /// make pseudo-terminals, and reaches none of the host's.
        public var privateTerminals = false
        /// With ``isolateMounts``: directories covered by an empty read-only tmpfs, with the
        /// ``writablePaths`` and ``visiblePaths`` below them bound back at the same paths: what
        /// else was there (a Unix socket a read-only mount does not keep it from connecting to,
        /// the caller's files) is out of reach.
        public var maskedPaths: [String] = []
        /// Directories kept visible, read-only, below a mask (at most 32 with the writable ones).
        public var visiblePaths: [String] = []
        /// A Landlock domain that keeps it from connecting to abstract Unix sockets made outside
        /// it (the caller's X server, a bus), even where the network namespace is shared.
        public var scopeAbstractSockets = false

        public init(executable: String, arguments: [String], environment: [String: String]) {
            self.executable = executable
            self.arguments = arguments
            self.environment = environment
        }
    }

    /// A descriptor passed to the program under a chosen number.
    public struct InheritedDescriptor: Sendable, Equatable {
        /// The parent's descriptor.
        public var source: Int32
        /// Its number in the program.
        public var target: Int32
        /// The child writes its pid, as it sees it (in a pid namespace: its namespace pid), into
        /// the file (truncated first) just before it executes the program.
        public var writeProcessID: Bool
        public init(source: Int32, target: Int32, writeProcessID: Bool = false) {
            self.source = source
            self.target = target
            self.writeProcessID = writeProcessID
        }
    }

    /// Why a child could not be started.
    public struct LaunchError: Error, Sendable, CustomStringConvertible {
        public var executable: String
        public var step: String
        public var errno: Errno
        public var description: String {
            switch (step, errno) {
            case ("exec", .execFormat):
                "\"\(executable)\" is not a program this system can run (exec: \(errno))"
            case ("exec", _): "Failed to execute \"\(executable)\": \(errno)"
            default: "Failed to prepare \"\(executable)\" for running (\(step): \(errno))"
            }
        }
    }

    /// Runs the child to completion (or until the timeout), then kills its whole process group,
    /// so nothing it forked outlives it.
    /// - Parameter progress: called about once a second with the seconds elapsed.
    /// - Returns: how it ended.
    /// - Throws: ``LaunchError`` when it could not be started, ``SystemError`` for the output files,
    ///   ``Cancelled`` when SIGINT or SIGTERM arrived (after ``Cancellation/install()``).
    public static func run(_ configuration: Configuration, progress: ((Double) -> Void)? = nil) throws -> TerminationStatus {
        let child = try launch(configuration)
        var lastReport = 0.0
        while true {
            if let status = try child.poll() { return status }
            if let progress, child.elapsed - lastReport >= 1 {
                lastReport = child.elapsed
                progress(lastReport)
            }
            child.pause()
        }
    }

    /// Starts the child and returns at once; ``Running/poll()`` tells when it has ended.
    public static func launch(_ configuration: Configuration) throws -> Running {
        let output = try openOutput(configuration.outputPath)
        defer { try? output.close() }
        let error = configuration.errorPath == configuration.outputPath ? output : try openOutput(configuration.errorPath)
        defer { if configuration.errorPath != configuration.outputPath { try? error.close() } }
        let input = try FileDescriptor.open(configuration.inputPath ?? "/dev/null")
        defer { try? input.close() }
        let pid = try spawnRetryingBusyText(configuration, stdin: input.rawValue, stdout: output.rawValue, stderr: error.rawValue)
        return Running(pid: pid, executable: configuration.executable, timeoutSeconds: configuration.timeoutSeconds,
                       writeQuota: configuration.writeQuota, relaysProcessNamespace: configuration.isolateProcesses, start: MonotonicClock.now())
    }

    /// The user asked to stop (SIGINT or SIGTERM); the child was killed.
    public struct Cancelled: Error, Sendable, CustomStringConvertible {
        public var signal: Int32
        public init(signal: Int32) { self.signal = signal }
        public var description: String { "Cancelled by signal \(signal) (\(String(cString: strsignal(signal))))" }
    }

    /// A child that is running.
    public final class Running: @unchecked Sendable {
        // Owned by the thread that launched it; `poll` and `terminate` are not called concurrently.
        public let pid: pid_t
        let executable: String
        let timeoutSeconds: Double?
        let writeQuota: WriteQuota?
        /// The child relays the end of the init of a pid namespace of its own (``Configuration/isolateProcesses``).
        let relaysProcessNamespace: Bool
        let start: UInt64
        private var pauseMicroseconds: UInt32 = 200
        /// Readable once the child has ended (-1 where the kernel has no pidfd): a pause ends
        /// the moment the child does, not at the end of its sleep.
        private var endDescriptor: Int32
        private var finished: TerminationStatus? {
            didSet { closeEndDescriptor() }
        }
        /// When the write quota is measured next (seconds since the start): first after 50 ms,
        /// not at the start, when nothing was written yet (a measurement may look at every
        /// process of the machine, ``HeldFiles``); a child that ends sooner is measured once, at its end.
        private var nextQuotaCheck = 0.05

        init(pid: pid_t, executable: String, timeoutSeconds: Double?, writeQuota: WriteQuota?, relaysProcessNamespace: Bool, start: UInt64) {
            self.pid = pid
            self.executable = executable
            self.timeoutSeconds = timeoutSeconds
            self.writeQuota = writeQuota
            self.relaysProcessNamespace = relaysProcessNamespace
            self.start = start
            // Not reaped yet, so the pid is still this child's.
            endDescriptor = ad_pidfd_open(pid)
        }

        deinit { closeEndDescriptor() }

        private func closeEndDescriptor() {
            if endDescriptor >= 0 { _ = close(endDescriptor) }
            endDescriptor = -1
        }

        /// Seconds since it started.
        public var elapsed: Double { MonotonicClock.seconds(since: start) }

        /// Whether it was reaped (by ``poll()`` or ``terminate()``): its pid may be another
        /// process's by now.
        public var isReaped: Bool { finished != nil }

        /// How it ended, or nil while it runs. Kills its process group once it has ended, at the
        /// timeout, or on cancellation.
        public func poll() throws -> TerminationStatus? {
            if let finished { return finished }
            var status: Int32 = 0
            let reaped = waitpid(pid, &status, WNOHANG)
            if reaped == pid {
                _ = kill(-pid, SIGKILL)
                let exited = status & 0x7f == 0
                finished = exited ? .exited((status >> 8) & 0xff) : .signaled(status & 0x7f)
                // A relay that exited (not killed) did so once the namespace's init had ended,
                // and every process of the namespace with it: none is left to hold a file.
                let namespaceEnded = relaysProcessNamespace && exited
                if let violation = writeQuota?.violation(of: pid, countingHeld: !namespaceEnded) { finished = violation }
                return finished
            }
            if reaped == -1 && Errno.current != .interrupted {
                let error = Errno.current
                terminate()
                throw SystemError("wait for", path: executable, errno: error)
            }
            if let limit = timeoutSeconds, elapsed > limit {
                terminate()
                finished = .timedOut(seconds: limit)
                return finished
            }
            if let writeQuota, elapsed >= nextQuotaCheck {
                let measured = MonotonicClock.now()
                let violation = writeQuota.violation(of: pid)
                nextQuotaCheck = elapsed + max(0.05, 4 * MonotonicClock.seconds(since: measured))
                if let violation {
                    terminate()
                    finished = violation
                    return finished
                }
            }
            let signal = Cancellation.signal
            if signal != 0 {
                terminate()
                throw Cancelled(signal: signal)
            }
            return nil
        }

        /// Waits a little (longer the longer it runs, up to 10 ms), and no longer than until the
        /// child ends or a signal arrives.
        public func pause() {
            if endDescriptor >= 0 {
                var entry = pollfd(fd: endDescriptor, events: Int16(POLLIN), revents: 0)
                _ = Glibc.poll(&entry, 1, Int32(max(1, pauseMicroseconds / 1000)))
            } else {
                usleep(pauseMicroseconds)
            }
            pauseMicroseconds = min(pauseMicroseconds * 2, 10_000)
        }

        /// Waits for it to end (``poll()`` between ``pause()``s); once `stop` says so, it is
        /// killed instead (``terminate()``: ended by SIGKILL).
        /// - Throws: what ``poll()`` throws.
        public func wait(stoppingWhen stop: () -> Bool = { false }) throws -> TerminationStatus {
            while true {
                if let status = try poll() { return status }
                if stop() {
                    terminate()
                    return finished ?? .signaled(SIGKILL)
                }
                pause()
            }
        }

        /// Kills the whole process group and reaps the child.
        public func terminate() {
            guard finished == nil else { return }
            _ = kill(-pid, SIGKILL)
            var status: Int32 = 0
            while waitpid(pid, &status, 0) == -1 && Errno.current == .interrupted {}
            finished = .signaled(SIGKILL)
        }
    }

    // MARK: - Internals

    private static func openOutput(_ path: String?) throws(SystemError) -> FileDescriptor {
        // A log the program writes: never through a planted link or hard link (/dev/null aside).
        guard let path, path != "/dev/null" else { return try FileDescriptor.open("/dev/null", [.writeOnly]) }
        return try FileDescriptor.openOwned(path, [.writeOnly, .create, .truncate], mode: 0o644)
    }

    /// ``spawn(_:stdin:stdout:stderr:)``, tried again when exec fails with `ETXTBSY`.
    ///
    /// A file written just before it is run may still be open for writing in a child that
    /// another thread forked and that has not reached its own exec yet (a fork copies every
    /// descriptor, close-on-exec or not): until that child execs, running the file fails with
    /// "Text file busy". That window is short (a sandboxed child's namespace set-up at most), so
    /// tries over about a second close it; a file some process keeps open for writing still
    /// fails, with that errno.
    private static func spawnRetryingBusyText(_ configuration: Configuration, stdin: Int32, stdout: Int32, stderr: Int32) throws(LaunchError) -> pid_t {
        var delay: UInt32 = 1_000
        var attempt = 1
        while true {
            do {
                return try spawn(configuration, stdin: stdin, stdout: stdout, stderr: stderr)
            } catch where error.errno == .textBusy && error.step == "exec" && attempt < 11 {
                usleep(delay)
                delay *= 2
                attempt += 1
            }
        }
    }

    private static func spawn(_ configuration: Configuration, stdin: Int32, stdout: Int32, stderr: Int32) throws(LaunchError) -> pid_t {
        let argv = [configuration.executable] + configuration.arguments
        let envp = configuration.environment.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
        let limits = configuration.limits.map { ad_rlimit(resource: $0.resource, value: $0.value) }
        let isolateMounts = configuration.isolateMounts
        // A device is a plain name in /dev; at most 16 (the child's fixed table).
        let deviceNames = isolateMounts ? Array(configuration.devices.filter { !$0.isEmpty && !$0.contains("/") && $0.utf8.count < 32 }.prefix(16)) : []
        let tmpfsPaths = isolateMounts ? configuration.privateTmpfs : []
        let carried = deviceNames.isEmpty ? [] : configuration.carriedPaths
        // Inodes are capped too: an empty file takes no size, but about a kilobyte of kernel memory.
        let tmpfsOptions = "mode=0700,size=\(configuration.privateTmpfsBytes),nr_inodes=\(configuration.privateTmpfsInodes)"
        let binds = isolateMounts ? configuration.readOnlyBinds : []
        let bindIdentities: [Int64] = binds.flatMap { bind -> [Int64] in
            guard let expected = configuration.readOnlyBindIdentities[bind.source] else { return [0, 0, 0, 0, 0] }
            return [Int64(bitPattern: expected.device), Int64(bitPattern: expected.inode), Int64(expected.size),
                    expected.modificationNanoseconds, expected.changeNanoseconds]
        }
        let layered = isolateMounts ? configuration.layeredPaths : []
        let keptFiles = layered.isEmpty ? [] : Array(configuration.keptWritableFiles.prefix(8))
        let layerOptions = "mode=0700,size=\(configuration.layerBytes),nr_inodes=\(configuration.layerInodes)"
        let masked = isolateMounts ? configuration.maskedPaths : []
        let visible = masked.isEmpty ? [] : configuration.visiblePaths
        // A user namespace maps exactly this process's effective uid and gid onto themselves.
        let identity = "\(Privilege.userID) \(Privilege.userID) 1\n"
        let group = "\(Privilege.groupID) \(Privilege.groupID) 1\n"
        let inherited = configuration.inheritedDescriptor
        var pid: Int32 = 0
        var childErrno: Int32 = 0
        var failedStep: UnsafePointer<CChar>?
        let result = withCStrings(argv) { argvPointers in
            withCStrings(envp) { envPointers in
                limits.withUnsafeBufferPointer { limitBuffer in
                 bindIdentities.withUnsafeBufferPointer { identityBuffer in
                    withOptionalCString(configuration.workingDirectory) { cwd in
                        withCStrings(configuration.readOnlyMounts) { readOnly in
                            withCStrings(configuration.writablePaths) { writable in
                                withCStrings(deviceNames) { devices in
                                 withCStrings(carried) { carriedPaths in
                                  withCStrings(tmpfsPaths) { tmpfs in
                                   withCStrings(binds.map(\.source)) { bindSources in
                                    withCStrings(binds.map(\.target)) { bindTargets in
                                     withCStrings(layered.map(\.path)) { layeredPaths in
                                      withCStrings(layered.map(\.layer)) { layerPaths in
                                       withCStrings(keptFiles) { kept in
                                       withCStrings(masked) { maskedPaths in
                                       withCStrings(visible) { visiblePaths in
                                       layerOptions.withCString { layerData in
                                     tmpfsOptions.withCString { tmpfsData in
                                    identity.withCString { uidMap in
                                        group.withCString { gidMap in
                                            var options = ad_spawn_options(
                                                cwd: cwd, stdin_fd: stdin, stdout_fd: stdout, stderr_fd: stderr,
                                                new_session: 1,
                                                new_user_namespace: configuration.isolateUser ? 1 : 0,
                                                uid_map: uidMap, gid_map: gidMap,
                                                new_network_namespace: configuration.isolateNetwork ? 1 : 0,
                                                new_ipc_namespace: configuration.isolateIPC ? 1 : 0,
                                                new_pid_namespace: configuration.isolateProcesses ? 1 : 0,
                                                new_mount_namespace: isolateMounts ? 1 : 0,
                                                readonly_mounts: cArray(readOnly),
                                                readonly_count: Int32(configuration.readOnlyMounts.count),
                                                writable_paths: cArray(writable),
                                                writable_count: Int32(configuration.writablePaths.count),
                                                device_names: cArray(devices),
                                                device_count: Int32(deviceNames.count),
                                                carried_paths: cArray(carriedPaths), carried_count: Int32(carried.count),
                                                tmpfs_paths: cArray(tmpfs), tmpfs_count: Int32(tmpfsPaths.count),
                                                tmpfs_options: tmpfsData,
                                                bind_sources: cArray(bindSources), bind_targets: cArray(bindTargets),
                                                bind_count: Int32(binds.count),
                                                bind_identities: identityBuffer.baseAddress,
                                                drop_capabilities: configuration.dropCapabilities ? 1 : 0,
                                                no_new_privileges: configuration.noNewPrivileges ? 1 : 0,
                                                inherit_fd: inherited?.source ?? -1, inherit_fd_target: inherited?.target ?? -1,
                                                write_pid_to_inherited: inherited?.writeProcessID == true ? 1 : 0,
                                                limits: limitBuffer.baseAddress, limit_count: Int32(limitBuffer.count),
                                                cgroup_procs_fd: configuration.cgroup?.procs ?? -1,
                                                layered_paths: cArray(layeredPaths), layer_paths: cArray(layerPaths),
                                                layered_count: Int32(layered.count), layer_options: layerData,
                                                kept_files: cArray(kept), kept_count: Int32(keptFiles.count),
                                                deny_memory_files: configuration.denyMemoryFiles ? 1 : 0,
                                                loopback_up: configuration.loopbackUp ? 1 : 0,
                                                private_terminals: isolateMounts && configuration.privateTerminals ? 1 : 0,
                                                masked_paths: cArray(maskedPaths), masked_count: Int32(masked.count),
                                                visible_paths: cArray(visiblePaths), visible_count: Int32(visible.count),
                                                scope_abstract_sockets: configuration.scopeAbstractSockets ? 1 : 0,
                                                exec_gate_fd: configuration.execGate?.readEnd ?? -1)
                                            return ad_spawn(configuration.executable, argvPointers, envPointers, &options,
                                                            &pid, &childErrno, &failedStep)
                                        }
                                    }
                                       }
                                       }
                                     }
                                       }
                                       }
                                      }
                                     }
                                    }
                                   }
                                  }
                                 }
                                }
                            }
                        }
                    }
                 }
                }
            }
        }
        switch result {
        case 0: return pid
        case -2:
            throw LaunchError(executable: configuration.executable, step: failedStep.map { String(cString: $0) } ?? "spawn",
                              errno: Errno(rawValue: childErrno))
        default:
            throw LaunchError(executable: configuration.executable, step: "fork", errno: .current)
        }
    }
}

/// Calls `body` with a NULL-terminated C array of the strings.
func withCStrings<Result>(_ strings: [String], _ body: (UnsafePointer<UnsafeMutablePointer<CChar>?>) -> Result) -> Result {
    let pointers = strings.map { strdup($0) } + [nil]
    defer { pointers.forEach { free($0) } }
    return pointers.withUnsafeBufferPointer { body($0.baseAddress!) }
}

/// A C array of strings as the `const char *const *` the options take.
private func cArray(_ pointer: UnsafePointer<UnsafeMutablePointer<CChar>?>) -> UnsafePointer<UnsafePointer<CChar>?> {
    UnsafeRawPointer(pointer).assumingMemoryBound(to: UnsafePointer<CChar>?.self)
}

private func withOptionalCString<Result>(_ string: String?, _ body: (UnsafePointer<CChar>?) -> Result) -> Result {
    guard let string else { return body(nil) }
    return string.withCString { body($0) }
}
