import CPlatform
import Foundation
import Synchronization
import Platform
import Testing
import TestSupport

@Suite("Subprocess confinement")
struct SubprocessConfinementTests {
    static let isRoot = getuid() == 0

    @Test("one descriptor is inherited at the number asked for, holding the child's pid; no other is")
    func inheritedDescriptor() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("autodev-spawn-\(UUID().uuidString.prefix(8))").path
        try FileSystem.createDirectory(directory, mode: 0o700)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let lock = try FileDescriptor.open(directory + "/lock", [.readWrite, .create], mode: 0o600)
        defer { try? lock.close() }
        try lock.writeAll(Array("previous holder 123456789\n".utf8))
        // A descriptor left inheritable in the parent must still not reach the child.
        let stray = try FileDescriptor.open(directory + "/stray", [.writeOnly, .create], mode: 0o600)
        defer { try? stray.close() }
        try stray.setCloseOnExec(false)
        var configuration = Subprocess.Configuration(executable: "/bin/sh", arguments: ["-c", "echo $$; ls /proc/self/fd; cat <&5"], environment: [:])
        configuration.inheritedDescriptor = Subprocess.InheritedDescriptor(source: lock.rawValue, target: 5, writeProcessID: true)
        configuration.outputPath = directory + "/out"
        let child = try Subprocess.launch(configuration)
        while try child.poll() == nil { child.pause() }
        let lines = String(decoding: try FileSystem.readFile(directory + "/out"), as: UTF8.self).split(separator: "\n").map(String.init)
        #expect(lines.first == "\(child.pid)")
        // 0, 1, 2, 5, and the one ls opens to list the directory.
        let descriptors = Set(lines.dropFirst().prefix(while: { Int($0) != nil && $0 != "\(child.pid)" }))
        #expect(descriptors.contains("5"))
        #expect(!descriptors.contains("\(stray.rawValue)"), "\(descriptors)")
        #expect(descriptors.count <= 5, "\(descriptors)")
        #expect(try String(decoding: FileSystem.readFile(directory + "/lock"), as: UTF8.self) == "\(child.pid)")
    }

    @Test("a child made with a gate executes nothing until the gate opens, and nothing at all when it is cancelled")
    func execGate() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("autodev-gate-\(UUID().uuidString.prefix(8))").path
        try FileSystem.createDirectory(directory, mode: 0o700)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        for opens in [true, false] {
            let gate = try Subprocess.ExecGate()
            let marker = directory + "/ran-\(opens)"
            var configuration = Subprocess.Configuration(executable: "/bin/sh", arguments: ["-c", "touch \(marker)"], environment: [:])
            configuration.execGate = gate
            let run = configuration
            let before = Set(Self.children())
            let launched = Mutex<Result<TerminationStatus, any Error>?>(nil)
            let thread = ThreadGroup()
            // `launch` returns once the child has passed the gate: it is run from a thread, which
            // waits for the child too (the child dies with the thread that made it).
            thread.start {
                let result = Result { () throws -> TerminationStatus in
                    let child = try Subprocess.launch(run)
                    while true {
                        if let status = try child.poll() { return status }
                        child.pause()
                    }
                }
                launched.withLock { $0 = result }
            }
            // The condition: a new child of this process, made, blocked reading the gate.
            var waiting: Int32?
            let deadline = Date().addingTimeInterval(30)
            while waiting == nil, Date() < deadline {
                waiting = Self.children().first { pid in
                    !before.contains(pid) && Processes.waitChannel(pid).contains("pipe_read")
                }
                if waiting == nil { usleep(1_000) }
            }
            try #require(waiting != nil, "no child waiting at the gate")
            #expect(!FileManager.default.fileExists(atPath: marker), "ran before the gate opened")
            if opens { gate.open() } else { gate.cancel() }
            thread.wait()
            switch launched.withLock({ $0 })! {
            case .success(let status):
                #expect(opens)
                #expect(status.isSuccess)
                #expect(FileManager.default.fileExists(atPath: marker))
            case .failure(let error):
                #expect(!opens, "\(error)")
                #expect((error as? Subprocess.LaunchError)?.step == "gate", "\(error)")
                #expect(!FileManager.default.fileExists(atPath: marker))
            }
        }
    }

    @Test("a gate whose writer is gone (the process that made it was killed) lets nothing run: its end is not an opening")
    func execGateWithoutWriter() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("autodev-gate-\(UUID().uuidString.prefix(8))").path
        try FileSystem.createDirectory(directory, mode: 0o700)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let marker = directory + "/ran"
        var ends: [Int32] = [-1, -1]
        try #require(ad_pipe_cloexec(&ends) == 0)
        defer { close(ends[0]) }
        // What a SIGKILL of the caller leaves: the read end, no writer, nothing written.
        close(ends[1])
        var options = ad_spawn_options()
        options.stdin_fd = -1
        options.stdout_fd = -1
        options.stderr_fd = -1
        options.inherit_fd = -1
        options.inherit_fd_target = -1
        options.cgroup_procs_fd = -1
        options.exec_gate_fd = ends[0]
        var pid: Int32 = 0
        var childErrno: Int32 = 0
        var step: UnsafePointer<CChar>?
        let words: [String] = ["/bin/sh", "-c", "touch \(marker)"]
        let arguments: [UnsafeMutablePointer<CChar>?] = words.map { strdup($0) } + [nil]
        defer { arguments.forEach { free($0) } }
        let environment: [UnsafeMutablePointer<CChar>?] = [nil]
        let result = arguments.withUnsafeBufferPointer { argv in
            environment.withUnsafeBufferPointer { envp in
                ad_spawn("/bin/sh", argv.baseAddress, envp.baseAddress, &options, &pid, &childErrno, &step)
            }
        }
        #expect(result == -2)
        #expect(step.map { String(cString: $0) } == "gate")
        #expect(childErrno == ECANCELED)
        #expect(!FileManager.default.fileExists(atPath: marker), "the program ran")
    }

    /// The processes whose parent is this one.
    static func children() -> [Int32] {
        Processes.all().filter { $0.parent == getpid() }.map(\.pid)
    }

    @Test("a confined root child has no capabilities, sees / read-only and its own /proc",
          .enabled(if: isRoot, "needs root: what is tested is that root loses its power"))
    func confinedRoot() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("autodev-spawn-\(UUID().uuidString.prefix(8))").path
        try FileSystem.createDirectory(directory, mode: 0o700)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let script = """
        grep -E '^Cap(Eff|Prm|Bnd|Amb)' /proc/self/status | tr -d '\\t'
        echo pid $$
        touch /\(UUID().uuidString) 2>/dev/null && echo wrote-root || echo root-read-only
        touch \(directory)/inside && echo wrote-sandbox
        echo /dev: $(ls -A /dev)
        echo x > /dev/null && echo wrote-null
        touch /dev/planted 2>/dev/null && echo wrote-dev || echo dev-read-only
        echo tty $(cut -d' ' -f7 /proc/self/stat) session $(cut -d' ' -f6 /proc/self/stat)
        (exec 3</dev/tty) 2>/dev/null && echo opened-tty || echo no-tty
        """
        var configuration = Subprocess.Configuration(executable: "/bin/sh", arguments: ["-c", script], environment: ["PATH": "/usr/bin:/bin"])
        configuration.isolateMounts = true
        configuration.isolateProcesses = true
        configuration.readOnlyMounts = try MountTable.mountPoints()
        configuration.writablePaths = [directory]
        configuration.devices = ["null"]
        configuration.dropCapabilities = true
        configuration.noNewPrivileges = true
        configuration.outputPath = directory + "/out"
        configuration.errorPath = directory + "/err"
        let mounts = try MountTableSnapshot.lines(keepingUnder: directory)
        #expect(try Subprocess.run(configuration) == .exited(0))
        let text = String(decoding: try FileSystem.readFile(directory + "/out"), as: UTF8.self)
        #expect(text == "CapPrm:0000000000000000\nCapEff:0000000000000000\nCapBnd:0000000000000000\nCapAmb:0000000000000000\npid 1\nroot-read-only\nwrote-sandbox\n"
                + "/dev: fd null stderr stdin stdout\nwrote-null\ndev-read-only\ntty 0 session 0\nno-tty\n",
                "\(text) \(String(decoding: (try? FileSystem.readFile(directory + "/err")) ?? [], as: UTF8.self))")
        #expect(try MountTableSnapshot.lines(keepingUnder: directory) == mounts)
    }

    @Test("""
        a child that ran as the init of a pid namespace of its own is measured against its write quota at its end \
        without a look at every process of the machine (none of its can be left); one in the caller's namespace is looked for
        """, .enabled(if: isRoot || FileSystem.exists("/proc/self/ns/user"), "needs a pid namespace"))
    func quotaAtTheEnd() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("autodev-quota-\(UUID().uuidString.prefix(8))").path
        try FileSystem.createDirectory(directory, mode: 0o700)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        for (ownNamespace, bytes) in [(true, 4096), (false, 4096), (true, 2 << 20)] {
            var configuration = Subprocess.Configuration(executable: "/bin/sh", arguments: ["-c", "head -c \(bytes) /dev/zero > \(directory)/written-\(bytes)-\(ownNamespace)"],
                                                         environment: ["PATH": "/usr/bin:/bin"])
            configuration.isolateProcesses = ownNamespace
            configuration.isolateUser = ownNamespace && !Self.isRoot
            configuration.writeQuota = Subprocess.WriteQuota(paths: [directory]) { _ in TreeUsage(bytes: 1 << 20, entries: 100) }
            let child = try Subprocess.launch(configuration)
            // Ended, not reaped yet: the one measurement made is the one at its end.
            var information = siginfo_t()
            while waitid(P_PID, id_t(child.pid), &information, WEXITED | WNOWAIT) != 0 {
                try #require(errno == EINTR, "waitid: \(errno)")
            }
            let processFiles = Mutex(0)
            var calls = SystemCalls.current
            let open = calls.open
            calls.open = { path, flags, mode in
                let name = String(cString: path)
                if name.hasPrefix("/proc/"), name.dropFirst(6).first?.isNumber == true { processFiles.withLock { $0 += 1 } }
                return open(path, flags, mode)
            }
            let status = try SystemCalls.$current.withValue(calls) { try child.poll() }
            let looked = processFiles.withLock { $0 }
            if bytes > 1 << 20 {
                #expect(status == .exceededWriteQuota(configuration.writeQuota!))
            } else {
                #expect(status == .exited(0))
                #expect(ownNamespace ? looked == 0 : looked > 0, "\(looked) files of processes opened (own namespace: \(ownNamespace))")
            }
        }
    }

    @Test("""
        a file deleted and held open by a process of the child's in a pid namespace nested in its own, \
        in a session of its own, counts against the child's write quota
        """, .enabled(if: isRoot && FileSystem.exists("/usr/bin/unshare") && FileSystem.exists("/usr/bin/setsid"), "needs root, unshare and setsid"))
    func heldInANestedNamespace() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("autodev-held-\(UUID().uuidString.prefix(8))").path
        try FileSystem.createDirectory(directory, mode: 0o700)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let holder = "exec 3>\"\(directory)/held\"; rm \"\(directory)/held\"; head -c 2097152 /dev/zero >&3; exec sleep 30"
        var configuration = Subprocess.Configuration(
            executable: "/bin/sh",
            arguments: ["-c", "unshare --pid --fork setsid sh -c '\(holder)' & exec sleep 30"],
            environment: ["PATH": "/usr/bin:/bin"])
        configuration.isolateProcesses = true
        configuration.writeQuota = Subprocess.WriteQuota(paths: [directory]) { _ in TreeUsage(bytes: 1 << 20, entries: 100) }
        let child = try Subprocess.launch(configuration)
        defer { child.terminate() }
        var status: TerminationStatus?
        while status == nil {
            status = try child.poll()
            if status == nil { child.pause() }
        }
        #expect(status == .exceededWriteQuota(configuration.writeQuota!), "\(String(describing: status))")
    }
}
