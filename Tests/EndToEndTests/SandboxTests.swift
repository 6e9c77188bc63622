import Foundation
import Testing
import TestSupport

@Suite("The verification sandbox holds")
struct SandboxTests {
    static let isRoot = getuid() == 0

    /// Runs a dry-run upgrade to `candidate` and returns the isolation list.
    func verify(_ harness: Harness, _ candidate: String) throws -> [String] {
        let result = try harness.run(["self-upgrade", "--from-binary", candidate, "--dry-run", "--json"])
        #expect(result.status == 0, "\(result.stderr)")
        let outcome = try harness.json(result.stdout)
        let verification = try #require(outcome["verification"] as? [String: Any])
        return verification["isolation"] as? [String] ?? []
    }

    @Test("a candidate cannot reach the network, not even loopback")
    func network() throws {
        let harness = try Harness()
        defer { harness.cleanUp() }
        _ = try harness.initialize()
        let listener = try ProbeListener()
        defer { listener.close() }
        // /dev/tcp is bash's.
        let script = try harness.execScript("network", shell: "/bin/bash",
                                            probe: "echo hello > /dev/tcp/127.0.0.1/\(listener.port) && echo reached")
        let isolation = try verify(harness, script)
        #expect(isolation.contains("network namespace (no network)"))
        #expect(!listener.acceptedConnection(), "the candidate reached a loopback listener")
    }

    @Test("a candidate cannot connect to a Unix socket of the caller's (a session bus, an agent): HOME, /tmp, /var/tmp and /run are hidden from it")
    func unixSocket() throws {
        let harness = try Harness()
        defer { harness.cleanUp() }
        _ = try harness.initialize()
        // Beside the home, in the temporary directory, as a tmux server's or an ssh agent's is.
        let path = harness.root.appendingPathComponent("bus.sock").path
        let listener = try ProbeListener(unixPath: path)
        defer { listener.close() }
        let connect = "import socket; s = socket.socket(socket.AF_UNIX); s.connect('\(path)')"
        let script = try harness.execScript("unix-socket", probe: "/usr/bin/python3 -c \"\(connect)\" && echo reached")
        let isolation = try verify(harness, script)
        #expect(isolation.contains { $0.hasPrefix("hidden under an empty tmpfs (their Unix sockets and files out of reach): ") && $0.contains("/tmp") },
                "\(isolation)")
        #expect(!listener.acceptedConnection(), "the candidate reached a Unix socket of the caller's")
    }

    /// Every escape route a root candidate has tried, as shell; `marker` names files it tries to create.
    func escapes(_ harness: Harness, marker: String, decoy: String, setuidTouch: String, sharedMemoryKey: Int32 = 0) -> String {
        let home = harness.home
        return """
        ipcrm -M \(sharedMemoryKey) && echo removed a shared memory segment of the host
        mount -o remount,bind,rw \(home) && echo remounted the home writable
        umount -l \(home) && echo unmounted the home
        mount --bind \(decoy) \(home) && echo bound a decoy over the home
        echo x > /proc/1/root/tmp/\(marker) && echo wrote through /proc/1/root
        echo x > /etc/\(marker) && echo wrote /etc
        echo x > /tmp/\(marker) && echo wrote /tmp
        echo x > /root/\(marker) && echo wrote /root
        echo x >> \(home)/journal && echo appended to the journal
        true > \(home)/journal && echo truncated the journal
        echo x > \(home)/versions/\(marker) && echo wrote into versions
        echo x > \(home)/state/autodev.json && echo wrote the state
        rm -f \(home)/current && echo removed current
        echo x > \(harness.root.path)/\(marker) && echo wrote the real HOME
        \(setuidTouch) /etc/\(marker)-setuid && echo setuid helper wrote /etc
        \(setuidTouch) \(home)/\(marker)-setuid && echo setuid helper wrote the home
        unshare -Urm sh -c 'mount -o remount,bind,rw \(home) && echo x > \(home)/\(marker)' && echo remounted in a user namespace
        """
    }

    /// The places `escapes` tries to create files in.
    func escapeTargets(_ harness: Harness, marker: String) -> [String] {
        ["/tmp/\(marker)", "/etc/\(marker)", "/root/\(marker)", harness.home + "/versions/\(marker)",
         harness.root.path + "/\(marker)", "/etc/\(marker)-setuid", harness.home + "/\(marker)-setuid", harness.home + "/\(marker)"]
    }

    /// A setuid-root copy of touch(1), and a decoy directory to bind over the home.
    func escapeTools(_ harness: Harness) throws -> (setuidTouch: String, decoy: String) {
        let setuidTouch = harness.root.appendingPathComponent("setuid-touch").path
        try FileManager.default.copyItem(atPath: "/usr/bin/touch", toPath: setuidTouch)
        #expect(chown(setuidTouch, 0, 0) == 0)
        #expect(chmod(setuidTouch, 0o4755) == 0)
        let decoy = harness.root.appendingPathComponent("decoy").path
        try FileManager.default.createDirectory(atPath: decoy, withIntermediateDirectories: true)
        return (setuidTouch, decoy)
    }

    @Test("a root candidate in a dry run cannot remount, unmount or bind over the home, nor write outside its sandbox",
          .enabled(if: isRoot, "needs root: the escapes tried are those of a root candidate"))
    func rootEscapesInDryRun() throws {
        let harness = try Harness()
        defer { harness.cleanUp() }
        _ = try harness.initialize()
        let marker = "autodev-escape-\(UUID().uuidString.prefix(8))"
        let targets = escapeTargets(harness, marker: marker)
        defer { for target in targets { try? FileManager.default.removeItem(atPath: target) } }
        let (setuidTouch, decoy) = try escapeTools(harness)
        // A System V shared memory segment of root's: another namespace's IPC is out of reach.
        let key = Int32.random(in: 0x1000_0000...0x7fff_0000)
        let segment = shmget(key, 4096, IPC_CREAT | IPC_EXCL | 0o600)
        try #require(segment >= 0, "shmget: \(errno)")
        defer { _ = shmctl(segment, IPC_RMID, nil) }
        let script = try harness.execScript("escaper", probe: escapes(harness, marker: marker, decoy: decoy, setuidTouch: setuidTouch,
                                                                      sharedMemoryKey: key))
        let mounts = try MountTableSnapshot.lines(keepingUnder: harness.root.path)
        let journal = try harness.journalLines()
        let before = try harness.snapshot()

        let isolation = try verify(harness, script)

        #expect(isolation.contains("every mount read-only but its scratch directories"), "\(isolation)")
        #expect(isolation.contains("fresh /proc of its own pid namespace"), "\(isolation)")
        #expect(isolation.contains { $0.hasPrefix("no capabilities, locked") }, "\(isolation)")
        #expect(!isolation.contains { $0.hasPrefix("no ") && $0.contains("isolation") }, "\(isolation)")
        for target in targets { #expect(!FileManager.default.fileExists(atPath: target), "\(target) was written") }
        #expect(try harness.snapshot() == before, "the home changed")
        let after = try harness.journalLines()
        #expect(Array(after.prefix(journal.count)) == journal, "the journal's old lines changed")
        #expect(after.dropFirst(journal.count).allSatisfy { $0.contains("\"kind\":") }, "a line not written by autodev: \(after)")
        #expect(try MountTableSnapshot.lines(keepingUnder: harness.root.path) == mounts, "the mount table changed")
        #expect(shmget(key, 0, 0) == segment, "the shared memory segment was removed")
        #expect(isolation.contains { $0.hasPrefix("IPC namespace") }, "\(isolation)")
        #expect(FileManager.default.fileExists(atPath: harness.home + "/journal"))
        // It did try: the log holds what the kernel answered.
        let log = try String(contentsOfFile: try #require(try harness.logDirectories().last) + "/verify.err", encoding: .utf8)
        #expect(log.contains("Read-only file system"), "\(log.prefix(2000))")
    }

    @Test("a root candidate's escapes fail in a real upgrade's verification too; the upgrade then goes through",
          .enabled(if: isRoot, "needs root: the escapes tried are those of a root candidate"))
    func rootEscapesInRealUpgrade() throws {
        let harness = try Harness()
        defer { harness.cleanUp() }
        _ = try harness.initialize()
        let marker = "autodev-escape-\(UUID().uuidString.prefix(8))"
        let targets = escapeTargets(harness, marker: marker)
        defer { for target in targets { try? FileManager.default.removeItem(atPath: target) } }
        let (setuidTouch, decoy) = try escapeTools(harness)
        let script = try harness.execScript("escaper", probe: escapes(harness, marker: marker, decoy: decoy, setuidTouch: setuidTouch))
        let mounts = try MountTableSnapshot.lines(keepingUnder: harness.root.path)
        let old = try harness.current()
        let journal = try harness.journalLines()

        let result = try harness.run(["self-upgrade", "--from-binary", script])

        #expect(result.status == 0, "\(result.stderr)")
        for target in targets { #expect(!FileManager.default.fileExists(atPath: target), "\(target) was written") }
        #expect(try MountTableSnapshot.lines(keepingUnder: harness.root.path) == mounts, "the mount table changed")
        let after = try harness.journalLines()
        #expect(Array(after.prefix(journal.count)) == journal, "the journal's old lines changed")
        #expect(after.last?.contains("\"kind\":\"commit\"") == true, "\(after.last ?? "")")
        #expect(try harness.current() != old)
        #expect(try harness.current() == SHA256Hex.of(file: script))
    }

    @Test("without root the candidate runs in a user namespace and still cannot write outside its sandbox",
          .enabled(if: isRoot, "needs root to run autodev as another user (nobody) with setpriv"),
          .enabled(if: FileManager.default.fileExists(atPath: "/usr/bin/setpriv"), "needs setpriv(1) from util-linux"))
    func unprivileged() throws {
        let harness = try Harness()
        defer { harness.cleanUp() }
        let nobody: UInt32 = 65534
        #expect(chown(harness.root.path, nobody, nobody) == 0)
        let binary = harness.root.appendingPathComponent("autodev").path
        try Executables.copy(Harness.binary, to: binary)
        #expect(chown(binary, nobody, nobody) == 0)
        let asNobody = ["--reuid=\(nobody)", "--regid=\(nobody)", "--clear-groups"]
        let initialized = try harness.run(asNobody + [binary, "init", "--home", harness.home], executable: "/usr/bin/setpriv")
        try #require(initialized.status == 0, "\(initialized.stderr)")
        let marker = "autodev-escape-\(UUID().uuidString.prefix(8))"
        let targets = [harness.home + "/versions/\(marker)", harness.root.path + "/\(marker)", harness.home + "/\(marker)"]
        let probe = """
        echo x > \(harness.home)/versions/\(marker)
        echo x > \(harness.root.path)/\(marker)
        echo x >> \(harness.home)/journal
        unshare -Urm sh -c 'mount -o remount,bind,rw \(harness.home) && echo x > \(harness.home)/\(marker)'
        """
        let script = try harness.execScript("escaper", probe: probe)
        #expect(chown(script, nobody, nobody) == 0)
        let journal = try harness.journalLines()
        let before = try harness.snapshot()

        let result = try harness.run(asNobody + [harness.entry, "self-upgrade", "--from-binary", script, "--dry-run", "--json"],
                                     executable: "/usr/bin/setpriv")

        #expect(result.status == 0, "\(result.stderr)")
        let isolation = (try harness.json(result.stdout)["verification"] as? [String: Any])?["isolation"] as? [String] ?? []
        if isolation.contains("user namespace (own uid and gid only)") {
            #expect(isolation.contains("every mount read-only but its scratch directories"), "\(isolation)")
            for target in targets { #expect(!FileManager.default.fileExists(atPath: target), "\(target) was written") }
            #expect(try harness.snapshot() == before, "the home changed")
            #expect(Array(try harness.journalLines().prefix(journal.count)) == journal)
        } else {
            // The kernel refused the user namespace: the isolation line must say what is missing.
            #expect(isolation.contains { $0.hasPrefix("no user namespace (") }, "\(isolation)")
            #expect(isolation.contains("it can write wherever uid \(nobody) can"), "\(isolation)")
        }
    }

    /// Runs `command` as uid and gid 65534 inside a user namespace (0 and 65534 mapped) whose
    /// limit on nested user namespaces is 0: a kernel that refuses them, as some do.
    static let withoutUserNamespaces = """
    import ctypes, os, sys
    r, w = os.pipe(); r2, w2 = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r); os.close(w2)
        if ctypes.CDLL(None, use_errno=True).unshare(0x10000000) != 0: os._exit(90)
        os.write(w, b"x"); os.read(r2, 1)
        with open("/proc/sys/user/max_user_namespaces", "w") as f: f.write("0")
        os.setgid(65534); os.setuid(65534)
        os.execv(sys.argv[1], sys.argv[1:])
    os.close(w); os.close(r2)
    if os.read(r, 1) == b"x":
        for name in ("uid_map", "gid_map"):
            with open(f"/proc/{pid}/{name}", "w") as f: f.write("0 0 1\\n65534 65534 1\\n")
    os.write(w2, b"x")
    sys.exit(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))
    """

    @Test("where the kernel refuses a user namespace, the isolation line says what is missing",
          .enabled(if: isRoot, "needs root to map users into a user namespace"),
          .enabled(if: FileManager.default.fileExists(atPath: "/usr/bin/python3"), "needs python3 to make that namespace"))
    func refusedUserNamespace() throws {
        let harness = try Harness()
        defer { harness.cleanUp() }
        let nobody: UInt32 = 65534
        #expect(chown(harness.root.path, nobody, nobody) == 0)
        let binary = harness.root.appendingPathComponent("autodev").path
        try Executables.copy(Harness.binary, to: binary)
        let candidate = try harness.candidate()
        for path in [binary, candidate] { #expect(chown(path, nobody, nobody) == 0) }
        let run = ["-c", Self.withoutUserNamespaces]
        #expect(try harness.run(run + [binary, "init", "--home", harness.home], executable: "/usr/bin/python3").status == 0)
        let result = try harness.run(run + [harness.entry, "self-upgrade", "--from-binary", candidate, "--dry-run", "--json"],
                                     executable: "/usr/bin/python3")
        #expect(result.status == 0, "\(result.stderr)")
        let isolation = (try harness.json(result.stdout)["verification"] as? [String: Any])?["isolation"] as? [String] ?? []
        #expect(isolation.contains { $0.hasPrefix("no user namespace (unshare-user: ") }, "\(isolation)")
        #expect(isolation.contains { $0.hasPrefix("no mount isolation (") }, "\(isolation)")
        #expect(isolation.contains("it can write wherever uid \(nobody) can"), "\(isolation)")
        #expect(!isolation.contains("every mount read-only but its scratch directories"), "\(isolation)")
        #expect(!isolation.contains("network namespace (no network)"), "\(isolation)")
        #expect(!isolation.contains { $0.hasPrefix("no capabilities, locked") }, "\(isolation)")
    }

    /// Tries every way into the terminal of whoever ran it; prints what worked.
    static let terminalProbe = """
    (exec 3</dev/tty) 2>/dev/null && echo opened-tty
    for fd in 0 1 2; do [ -t $fd ] && echo "fd $fd is a terminal"; done
    python3 -c 'import fcntl, termios, os
    for path in ["/dev/tty", "/proc/self/fd/0"]:
        try:
            fd = os.open(path, os.O_RDWR | os.O_NOCTTY)
            fcntl.ioctl(fd, termios.TIOCSTI, b"#")
            print("injected through", path)
        except OSError:
            pass
    ' 2>/dev/null
    echo tty $(cut -d' ' -f7 /proc/self/stat)
    """

    @Test("verification writes nothing to the home but the state copy: the sandbox is on a tmpfs, HOME and TMPDIR are private tmpfs mounts, the rehearsal runs the stored file")
    func nothingWrittenToTheHome() throws {
        let harness = try Harness()
        defer { harness.cleanUp() }
        _ = try harness.initialize()
        let home = harness.home
        // Each run says where it is and what the home's staging area holds while it runs.
        let script = try harness.execScript("whereabouts", probe: """
            echo "run=${AUTODEV_TX:-self-check} fs=$(stat -f -c %T "$HOME") $(stat -f -c %T "$TMPDIR")"
            for path in "$HOME" "$TMPDIR" "$(pwd)" "$AUTODEV_HOME"; do echo "path=$path"; done
            [ -n "$AUTODEV_TX" ] && echo "path=$0"
            echo "staging=$(ls -A '\(home)/staging' | tr '\n' ' ')"
            """)
        let result = try harness.run(["self-upgrade", "--from-binary", script, "--dry-run", "--verify-state", "--json"])
        #expect(result.status == 0, "\(result.stderr)")
        let isolation = try #require(try harness.json(result.stdout)["verification"] as? [String: Any])["isolation"] as? [String] ?? []
        let log = try String(contentsOfFile: try #require(try harness.logDirectories().last) + "/verify.err", encoding: .utf8)
        let lines = log.split(separator: "\n").map(String.init)

        #expect(isolation.contains { $0.hasPrefix("sandbox on a tmpfs (") }, "\(isolation)")
        #expect(isolation.contains { $0.hasPrefix("HOME and TMPDIR each a private tmpfs") }, "\(isolation)")
        // Both runs, the self-check and the rehearsed restart, wrote only to memory.
        #expect(lines.filter { $0.hasSuffix(" fs=tmpfs tmpfs") }.count == 2, "\(log)")
        #expect(lines.contains { $0.hasPrefix("run=tx-rehearsal-") }, "\(log)")
        let paths = lines.filter { $0.hasPrefix("path=") }.map { String($0.dropFirst(5)) }
        #expect(paths.count == 9, "\(log)")
        for path in paths { #expect(path != home && !path.hasPrefix(home + "/"), "\(path) is in the home") }
        // What the home's staging area holds: the state copy, and while the self-check runs
        // from it, the candidate's copy the stage step made (moved into the store after that run).
        let staging = lines.filter { $0.hasPrefix("staging=") }.map { $0.dropFirst(8).split(separator: " ").map(String.init).sorted() }
        #expect(staging.count == 2, "\(log)")
        if staging.count == 2 {
            #expect(staging[0].count == 2 && staging[0][0].hasPrefix("state-copy-") && staging[0][1].hasPrefix("tx-"), "\(staging[0])")
            #expect(staging[1].count == 1 && staging[1][0].hasPrefix("state-copy-"), "\(staging[1])")
        }
        // Nothing is left behind, on the home or on the tmpfs.
        #expect(harness.verificationSandboxes().isEmpty)
        #expect(try FileManager.default.contentsOfDirectory(atPath: home + "/staging").isEmpty)

        // The home's own directory on the tmpfs is gone with its last sandbox.
        #expect(harness.sandboxParents.allSatisfy { !FileManager.default.fileExists(atPath: $0) }, "\(harness.sandboxParents)")

        // What a killed verification leaves on the tmpfs, a process included, is cleared by the
        // next command that recovers the home.
        let parent = try #require(harness.sandboxParents.last)
        try FileManager.default.createDirectory(atPath: parent, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o700])
        let leftover = parent + "/sandbox-1-2"
        try FileManager.default.createDirectory(atPath: leftover + "/tmp", withIntermediateDirectories: true)
        let orphan = Process()
        orphan.executableURL = URL(fileURLWithPath: "/bin/sleep")
        orphan.arguments = ["600"]
        orphan.currentDirectoryURL = URL(fileURLWithPath: leftover + "/tmp")
        try orphan.run()
        defer { if orphan.isRunning { orphan.terminate() } }
        let next = try harness.run(["self-upgrade", "--from-binary", script, "--dry-run"])
        #expect(next.status == 0, "\(next.stderr)")
        #expect(next.stderr.contains("Killed 1 process(es) left running by an interrupted verification") ||
                next.stdout.contains("Killed 1 process(es) left running by an interrupted verification"), "\(next.stdout)\(next.stderr)")
        orphan.waitUntilExit()
        #expect(orphan.terminationReason == .uncaughtSignal)
        #expect(!FileManager.default.fileExists(atPath: leftover))
    }

    @Test("the self-check cannot write into its sandbox: no link planted for the rehearsal or the kept output is ever followed")
    func noPlantingInTheSandbox() throws {
        let harness = try Harness()
        defer { harness.cleanUp() }
        _ = try harness.initialize()
        // Another home and a directory a rehearsal through a planted link would write into or
        // chmod; a file the kept log would read through a link.
        let victimHome = harness.root.path + "/victim-home"
        #expect(try harness.run(["init", "--home", victimHome], executable: Harness.binary).status == 0)
        let victimDirectory = harness.root.path + "/victim-dir"
        try FileManager.default.createDirectory(atPath: victimDirectory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
        let secret = harness.root.path + "/secret"
        try "PRIVATE-KEY-MATERIAL\n".write(toFile: secret, atomically: true, encoding: .utf8)
        let script = try harness.execScript("planter", probe: """
            sb=$(dirname "$HOME")
            if [ -z "$AUTODEV_TX" ]; then
              ln -s '\(victimHome)' "$sb/rehearsal" && echo planted-rehearsal
              mkdir "$sb/rehearsal-x" && ln -s '\(victimDirectory)' "$sb/rehearsal-x/staging" && echo planted-staging
              rm -f "$sb/output/self-check.err" && ln -s '\(secret)' "$sb/output/self-check.err" && echo planted-log
              head -c 1048576 /dev/zero > "$sb/fill" && echo filled-the-sandbox
              echo self-check-ran
            fi
            """)
        let victimBefore = tree(victimHome)
        let result = try harness.run(["self-upgrade", "--from-binary", script, "--dry-run"])
        #expect(result.status == 0, "\(result.stderr)")
        let log = try String(contentsOfFile: try #require(try harness.logDirectories().last) + "/verify.err", encoding: .utf8)
        #expect(log.contains("self-check-ran"), "\(log)")
        for planted in ["planted-rehearsal", "planted-staging", "planted-log", "filled-the-sandbox"] {
            #expect(!log.contains(planted + "\n"), "\(planted): \(log)")
        }
        #expect(!log.contains("PRIVATE-KEY-MATERIAL"))
        #expect(tree(victimHome) == victimBefore, "the other home changed")
        #expect(try FileManager.default.contentsOfDirectory(atPath: victimDirectory).isEmpty)
        #expect((try FileManager.default.attributesOfItem(atPath: victimDirectory)[.posixPermissions] as? Int) == 0o755)
    }

    @Test("a tree deeper than PATH_MAX left behind by a killed verification does not lock the home")
    func deepLeftover() throws {
        let harness = try Harness()
        defer { harness.cleanUp() }
        _ = try harness.initialize()
        // A killed verification's leftover, 2,500 levels deep (far past PATH_MAX), in the staging area.
        var fd = open(harness.home + "/staging", O_RDONLY | O_DIRECTORY)
        try #require(fd >= 0)
        for name in ["sandbox-9-9"] + Array(repeating: "d", count: 2_500) {
            try #require(mkdirat(fd, name, 0o700) == 0)
            let next = openat(fd, name, O_RDONLY | O_DIRECTORY)
            close(fd)
            fd = next
            try #require(fd >= 0)
        }
        close(fd)
        let next = try harness.run(["self-upgrade", "--from-binary", try harness.candidate(), "--dry-run"])
        #expect(next.status == 0, "\(next.stderr)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: harness.home + "/staging").isEmpty)
    }

    @Test("an XDG_RUNTIME_DIR another user owns, or a tmpfs without room, is not used for the sandbox",
          .enabled(if: isRoot, "needs root: another user's directory, a small tmpfs mounted"))
    func unusableRuntimeDirectories() throws {
        let harness = try Harness()
        defer { harness.cleanUp() }
        _ = try harness.initialize()
        let foreign = "/dev/shm/autodev-test-foreign-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: foreign, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o700])
        defer { try? FileManager.default.removeItem(atPath: foreign) }
        #expect(chown(foreign, 65534, 65534) == 0)
        let small = harness.root.path + "/small-tmpfs"
        try FileManager.default.createDirectory(atPath: small, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o700])
        let mounted = try harness.run(["-t", "tmpfs", "-o", "size=1m,mode=0700", "tmpfs", small], executable: "/bin/mount")
        try #require(mounted.status == 0, "\(mounted.stderr)")
        defer { _ = try? harness.run(["-l", small], executable: "/bin/umount") }
        for runtime in [foreign, small] {
            let result = try harness.run(["self-upgrade", "--from-binary", try harness.candidate(), "--dry-run", "--json"],
                                         environment: ["XDG_RUNTIME_DIR": runtime])
            #expect(result.status == 0, "\(result.stderr)")
            let isolation = (try harness.json(result.stdout)["verification"] as? [String: Any])?["isolation"] as? [String] ?? []
            let line = isolation.first { $0.hasPrefix("sandbox ") } ?? ""
            #expect(!line.contains(runtime), "\(runtime) was used: \(line)")
            #expect(line.hasPrefix("sandbox on a tmpfs (/dev/shm/autodev-verify-"), "\(line)")
            #expect(try FileManager.default.contentsOfDirectory(atPath: runtime).isEmpty)
        }
    }

    @Test("a run is stopped before the tmpfs its output goes to fills up, and the failure names it",
          .enabled(if: isRoot, "needs root to mount a small tmpfs"))
    func fullTmpfs() throws {
        let harness = try Harness()
        defer { harness.cleanUp() }
        _ = try harness.initialize()
        let small = harness.root.path + "/runtime"
        try FileManager.default.createDirectory(atPath: small, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o700])
        let mounted = try harness.run(["-t", "tmpfs", "-o", "size=80m,mode=0700", "tmpfs", small], executable: "/bin/mount")
        try #require(mounted.status == 0, "\(mounted.stderr)")
        defer { _ = try? harness.run(["-l", small], executable: "/bin/umount") }
        // The sandbox is on that tmpfs. What the rehearsal writes into its home goes to a layer
        // of its own; its standard error is a file in the sandbox, written in place (each file
        // capped by the file-size rlimit, 256 MiB here): only the free space shows it filling.
        // It may write all of it between two measurements: then it waits, and the next one
        // stops it (the condition is the measurement, not how fast the writes go).
        let script = try harness.execScript("filler", shell: "/bin/bash", probe: """
            if [ -n "$AUTODEV_TX" ]; then
              i=0
              while [ $i -lt 70 ]; do head -c 1048576 /dev/zero 2>/dev/null || break; i=$((i+1)); done
              sleep 30
              echo "not stopped after writing $i MiB out of sight"; exit 1
            fi
            """)
        let result = try harness.run(["self-upgrade", "--from-binary", script, "--dry-run"], environment: ["XDG_RUNTIME_DIR": small])
        #expect(result.status == 1)
        #expect(result.stderr.contains("did not confirm the rehearsed restart"), "\(result.stderr)")
        #expect(result.stderr.contains("was stopped when the file system of \(small)/autodev-verify-"), "\(result.stderr)")
        #expect(!result.stderr.contains("not stopped after writing"), "\(result.stderr)")
        // A candidate that fails with room to spare is not excused.
        let failing = try harness.execScript("failing", probe: "[ -n \"$AUTODEV_TX\" ] && exit 1")
        let plain = try harness.run(["self-upgrade", "--from-binary", failing, "--dry-run"], environment: ["XDG_RUNTIME_DIR": small])
        #expect(plain.status == 1)
        #expect(!plain.stderr.contains("it may have filled up"), "\(plain.stderr)")
    }

    @Test("a candidate run from a terminal can neither open it nor push input into it",
          .enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/script"), "needs script(1) from util-linux for a pseudo-terminal"))
    func noTerminal() throws {
        let harness = try Harness()
        defer { harness.cleanUp() }
        _ = try harness.initialize()
        // The probe itself works: run on the same pseudo-terminal outside the sandbox, it gets in.
        let control = harness.root.appendingPathComponent("control.sh").path
        try Self.terminalProbe.write(toFile: control, atomically: true, encoding: .utf8)
        let direct = try harness.run(["-qec", "sh \(control)", "/dev/null"], executable: "/usr/bin/script")
        #expect(direct.stdout.contains("opened-tty") && direct.stdout.contains("injected through /dev/tty"), "\(direct.stdout)")
        // A real upgrade (not a dry run), confirmed with --yes, from that terminal.
        let candidate = try harness.execScript("terminal", probe: Self.terminalProbe)
        let before = try harness.journalLines()
        let upgraded = try harness.run(["-qec", "'\(harness.entry)' self-upgrade --from-binary '\(candidate)' --yes", "/dev/null"],
                                       executable: "/usr/bin/script")
        let log = try String(contentsOfFile: try #require(try harness.logDirectories().last) + "/verify.err", encoding: .utf8)
        #expect(log.contains("tty 0"), "the probe did not run: \(log.prefix(2000)) \(upgraded.stdout)")
        #expect(!log.contains("opened-tty") && !log.contains("injected") && !log.contains("is a terminal"), "\(log.prefix(2000))")
        #expect(try harness.journalLines().count > before.count)
    }

    @Test("a child that detaches from the candidate dies with it")
    func outlivingChild() throws {
        let harness = try Harness()
        defer { harness.cleanUp() }
        _ = try harness.initialize()
        let token = "autodev-detached-\(UUID().uuidString.prefix(8))"
        let probe = "setsid sh -c 'sleep 30; : \(token)' </dev/null >/dev/null 2>&1 &"
        let isolation = try verify(harness, try harness.execScript("forker", probe: probe))
        #expect(isolation.contains("pid namespace (everything it starts dies with it)"))
        // The namespace's init is reaped only after the kernel has killed the rest of it.
        #expect(Processes.commandLineContaining(token).isEmpty, "a detached child outlived the candidate")
    }

    /// Floods `$2` (a directory) in the way `$1` names, 64 MiB at most, printing how far it got:
    /// files mapped and deleted before their pages are written, files deleted while their
    /// descriptors are parked in a socket nobody reads, or (`memory`) memory no file system holds.
    static let floodProgram = #"""
        import ctypes, errno, mmap, os, socket, sys, time
        mode, directory = sys.argv[1], sys.argv[2]
        MiB = 1 << 20
        written, keep = 0, []
        try:
            if mode == "memory":
                try:
                    os.memfd_create("flood"); print("memfd_create allowed")
                except OSError as error:
                    print("memfd_create refused:", errno.errorcode[error.errno])
                libc = ctypes.CDLL(None, use_errno=True)
                # What is made is removed at once (IPC_RMID): outside the sandbox it would outlive the probe.
                segment = libc.shmget(0, MiB, 0o1600)
                print("shmget allowed" if segment >= 0 and libc.shmctl(segment, 0, None) == 0 else "shmget refused: " + errno.errorcode[ctypes.get_errno()])
                queue = libc.msgget(0, 0o1600)
                print("msgget allowed" if queue >= 0 and libc.msgctl(queue, 0, None) == 0 else "msgget refused: " + errno.errorcode[ctypes.get_errno()])
                semaphores = libc.semget(0, 1, 0o1600)
                print("semget allowed" if semaphores >= 0 and libc.semctl(semaphores, 0, 0) == 0 else "semget refused: " + errno.errorcode[ctypes.get_errno()])
                # keyctl(KEYCTL_GET_KEYRING_ID, KEY_SPEC_USER_KEYRING, 0): reads, creates nothing new.
                print("keyctl allowed" if libc.syscall(250, 0, -4, 0) >= 0 else "keyctl refused: " + errno.errorcode[ctypes.get_errno()])
                sys.exit(0)
            sender, receiver = socket.socketpair()
            keep += [sender, receiver]
            for i in range(64):
                path = f"{directory}/{mode}{i}"
                fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
                os.unlink(path)
                if mode == "mapped":
                    os.ftruncate(fd, MiB)
                    mapping = mmap.mmap(fd, MiB)
                    os.close(fd)
                    mapping.write(os.urandom(MiB))
                    keep.append(mapping)
                else:
                    os.write(fd, os.urandom(MiB))
                    socket.send_fds(sender, [b"x"], [fd])
                    os.close(fd)
                written += 1
        except OSError as error:
            print(f"stopped after {written} MiB:", errno.errorcode.get(error.errno, error.errno), flush=True)
        print(f"wrote {written} MiB", flush=True)
        time.sleep(5)
        """#

    /// A candidate that floods the state copy (`rehearsal` false, in its self-check) or the
    /// rehearsal's home (in its rehearsed restart) in the way `flood` names, then runs as itself.
    /// ``floodProgram`` run by the candidate from the script itself (a here-document): the
    /// candidate sees its own directory, not the temporary directory the test writes in.
    static func embeddedFlood(arguments: String, then: String = "true") -> String {
        "/usr/bin/python3 - \(arguments) <<'FLOOD'; \(then)\n\(floodProgram)\nFLOOD"
    }

    func flooder(_ harness: Harness, _ flood: String, rehearsal: Bool) throws -> String {
        let fill = switch flood {
        case "files": #"i=0; while [ $i -lt 12000 ]; do : > "$dir/f$i" || break; i=$((i+1)); done; echo "made $i files""#
        case "held open":
            #"i=0; while [ $i -lt 64 ]; do exec 9>"$dir/b$i"; rm "$dir/b$i"; head -c 1048576 /dev/urandom >&9 || break; eval "exec $((i + 20))>&9"; i=$((i+1)); done; echo "wrote $i MiB"; sleep 5"#
        case "mapped then deleted", "parked in a socket":
            Self.embeddedFlood(arguments: "\(flood.hasPrefix("mapped") ? "mapped" : "parked") \"$dir\"", then: "echo \"flood exited $?\"")
        default: #"i=0; while [ $i -lt 64 ]; do head -c 1048576 /dev/urandom > "$dir/b$i" || break; i=$((i+1)); done; echo "wrote $i MiB""#
        }
        return try harness.execScript("flood", shell: "/bin/bash", probe: """
            copy=""; previous=""
            for argument in "$@"; do [ "$previous" = "--state-copy" ] && copy="$argument"; previous="$argument"; done
            if [ \(rehearsal ? "-n" : "-z") "$AUTODEV_TX" ]; then
              dir="\(rehearsal ? "$AUTODEV_HOME" : "$copy")/\(flood == "bytes under a name that is not UTF-8" ? "$(printf '\\377')" : "flood")"
              mkdir "$dir" && {
            \(fill)
            }
            fi
            """)
    }

    /// A home whose candidates may each write 32 MiB to a file (the self-check copies the 17 MB
    /// binary into its TMPDIR), with 3 MiB of state: 2 × 3 MiB + 32 MiB may then be added.
    func quotaHome() throws -> Harness {
        let harness = try Harness()
        _ = try harness.initialize()
        #expect(try harness.run(["config", "set", "verifyFileSizeBytes", "33554432"]).status == 0)
        try FileManager.default.createDirectory(atPath: harness.home + "/state", withIntermediateDirectories: true)
        try Data(repeating: 7, count: 3 << 20).write(to: URL(fileURLWithPath: harness.home + "/state/large"))
        // A state file whose name is not UTF-8 is copied like any other.
        #expect(Self.makeFile(named: [0x63, 0x61, 0x66, 0xE9], in: harness.home + "/state"))
        return harness
    }

    /// Bytes of memory available now (`MemAvailable` in /proc/meminfo).
    static func availableMemory() throws -> Int {
        let meminfo = try String(contentsOfFile: "/proc/meminfo", encoding: .utf8)
        let line = try #require(meminfo.split(separator: "\n").first { $0.hasPrefix("MemAvailable:") })
        return try #require(Int(line.split(separator: " ").dropFirst().first ?? "")) * 1024
    }

    @Test("""
        with more to write than a layer may take in memory, the rehearsal's home is written in place and measured: \
        an honest candidate still passes, its stored file bound read-only inside that home
        """, .enabled(if: ((try? availableMemory()) ?? .max) < 4 * (64 << 30), "needs less than 256 GiB of available memory: a 64 GiB allowance must not fit in a layer"))
    func rehearsalInPlace() throws {
        let harness = try Harness()
        defer { harness.cleanUp() }
        _ = try harness.initialize()
        // A layer takes at most a quarter of the memory available: the allowance is above that.
        let allowance = min(64 << 30, max(1 << 20, try Self.availableMemory()))
        #expect(try harness.run(["config", "set", "verifyFileSizeBytes", String(allowance)]).status == 0)
        let result = try harness.run(["self-upgrade", "--from-binary", try harness.candidate(), "--dry-run", "--json"])
        #expect(result.status == 0, "\(result.stderr)")
        let isolation = try #require(try harness.json(result.stdout)["verification"] as? [String: Any])["isolation"] as? [String] ?? []
        #expect(isolation.contains { $0.hasPrefix("the rehearsal's home capped (what it held + as much again + ") }, "\(isolation)")
    }

    @Test("the state copy and the rehearsal's home are overlays on a private tmpfs: every way of writing into them stops at its size, and nothing on the home's disk or the sandbox's tmpfs grows",
          arguments: ["the state copy", "the rehearsal's home"],
          ["bytes", "files", "bytes under a name that is not UTF-8", "held open", "mapped then deleted", "parked in a socket"])
    func layeredWrites(target: String, flood: String) throws {
        let harness = try quotaHome()
        defer { harness.cleanUp() }
        let rehearsal = target == "the rehearsal's home"
        let honest = try harness.execScript("honest", probe: "echo honest")
        let passed = try harness.run(["self-upgrade", "--from-binary", honest, "--dry-run", "--verify-state", "--json"])
        #expect(passed.status == 0, "\(passed.stderr)")
        let isolation = try #require(try harness.json(passed.stdout)["verification"] as? [String: Any])["isolation"] as? [String] ?? []
        // The state copy holds 3 MiB, the rehearsal's home a few KiB: each may gain that and 32 MiB.
        let size = rehearsal ? "32" : "35"
        let layered = "\(target) an overlay never changed in place\(rehearsal ? " but for its journal and lock" : ""): what the candidate writes there goes to a private tmpfs of \(size)"
        #expect(isolation.contains { $0.hasPrefix(layered) && $0.hasSuffix(" and 10000 files and directories (as much as it held + 32 MiB), the kernel counting mapped and deleted files too") },
                "\(isolation)")
        let before = try harness.snapshot()
        let earlier = Set(try harness.logDirectories())
        let result = try harness.run(["self-upgrade", "--from-binary", try flooder(harness, flood, rehearsal: rehearsal), "--dry-run", "--verify-state"])
        // What the flood left in the layer may leave the candidate's own run no room: then it
        // fails on its own, for that reason. Space held only while the flood ran comes back.
        #expect(result.status == 0 || result.stderr.contains("No space left on device"), "\(result.stderr)")
        let log = try String(contentsOfFile: try #require(Set(try harness.logDirectories()).subtracting(earlier).first) + "/verify.err", encoding: .utf8)
        switch flood {
        case "files":
            // 10,000 entries may be added; the flood's directory is one of them.
            let made = log.split(separator: "\n").last { $0.hasPrefix("made ") }.flatMap { Int($0.split(separator: " ")[1]) }
            #expect(log.contains("No space left on device") && made.map { (9_900...10_016).contains($0) } == true, "\(log.suffix(2000))")
        case "mapped then deleted":
            // A page of a mapping that does not fit is a SIGBUS (128 + 7), never a write to disk.
            #expect(log.contains("flood exited 135"), "\(log.suffix(2000))")
        default:
            let wrote = log.split(separator: "\n").last { $0.hasPrefix("wrote ") }.flatMap { Int($0.split(separator: " ")[1]) }
            // (The last write may be short, not refused: it counts as one more.)
            #expect(wrote.map { $0 >= Int(size)! - 5 && $0 <= Int(size)! + 1 } == true, "\(log.suffix(2000))")
            #expect(log.contains("No space left on device") || log.contains("ENOSPC"), "\(log.suffix(2000))")
        }
        #expect(try harness.snapshot() == before)
        #expect(try FileManager.default.contentsOfDirectory(atPath: harness.home + "/staging").isEmpty)
        #expect(harness.verificationSandboxes().isEmpty)
    }

    @Test("memfd_create, System V IPC and the keyrings are refused in the sandbox: memory no rlimit counts, state that outlives the run")
    func memoryFiles() throws {
        let harness = try quotaHome()
        defer { harness.cleanUp() }
        let program = harness.root.appendingPathComponent("flood.py").path
        try Self.floodProgram.write(toFile: program, atomically: true, encoding: .utf8)
        let candidate = try harness.execScript("memory", probe: Self.embeddedFlood(arguments: "memory /"))
        // Outside the sandbox both are allowed: the probe can tell.
        let outside = try harness.run([program, "memory", "/"], executable: "/usr/bin/python3")
        #expect(outside.stdout.contains("memfd_create allowed") && outside.stdout.contains("shmget allowed") && outside.stdout.contains("msgget allowed")
                && outside.stdout.contains("semget allowed") && outside.stdout.contains("keyctl allowed"),
                "\(outside.stdout)")
        let result = try harness.run(["self-upgrade", "--from-binary", candidate, "--dry-run", "--json"])
        #expect(result.status == 0, "\(result.stderr)")
        let isolation = try #require(try harness.json(result.stdout)["verification"] as? [String: Any])["isolation"] as? [String] ?? []
        #expect(isolation.contains("memfd_create, memfd_secret, shmget, msgget, semget and the keyrings refused (seccomp): no kernel memory out of the rlimits' sight, no state that outlives the run"), "\(isolation)")
        let log = try String(contentsOfFile: try #require(try harness.logDirectories().last) + "/verify.err", encoding: .utf8)
        #expect(log.contains("memfd_create refused: EPERM") && log.contains("shmget refused: EPERM") && log.contains("msgget refused: EPERM")
                && log.contains("semget refused: EPERM") && log.contains("keyctl refused: EPERM"),
                "\(log.suffix(2000))")
    }

    @Test("a candidate that loops forever is killed at the timeout and reported")
    func loopForever() throws {
        let harness = try Harness()
        defer { harness.cleanUp() }
        _ = try harness.initialize()
        let script = try harness.script("spinner", "while :; do :; done")
        let before = try harness.snapshot()
        let result = try harness.run(["self-upgrade", "--from-binary", script, "--dry-run", "--timeout", "2"])
        #expect(result.status == 1)
        #expect(result.stderr.contains("did not finish within 2 s and was killed"), "\(result.stderr)")
        #expect(try harness.snapshot() == before)
    }
}

/// Every entry under `root` (links not followed): its kind, and a file's or link's content.
extension SandboxTests {
    /// Makes an empty file whose name is these bytes (which need not be UTF-8) in `directory`.
    static func makeFile(named name: [UInt8], in directory: String) -> Bool {
        let fd = open(directory, O_RDONLY | O_DIRECTORY)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        let file = openat(fd, name.map { CChar(bitPattern: $0) } + [0], O_WRONLY | O_CREAT, 0o600)
        guard file >= 0 else { return false }
        close(file)
        return true
    }
}

private func tree(_ root: String) -> [String: String] {
    var entries: [String: String] = [:]
    let manager = FileManager.default
    for relative in (manager.subpaths(atPath: root) ?? []) {
        let path = root + "/" + relative
        if let target = try? manager.destinationOfSymbolicLink(atPath: path) {
            entries[relative] = "link " + target
        } else if let data = manager.contents(atPath: path) {
            entries[relative] = "file \(data.count) " + String(data.hashValue)
        } else {
            entries[relative] = "directory"
        }
    }
    return entries
}

/// SHA-256 of a file as hex, as the store names versions.
enum SHA256Hex {
    static func of(file path: String) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/sha256sum")
        process.arguments = [path]
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return String(String(decoding: data, as: UTF8.self).prefix(64))
    }
}

/// A TCP listener on 127.0.0.1 that remembers whether anything connected.
/// A listener a candidate must not reach: on loopback TCP, or a Unix socket at a path.
final class ProbeListener {
    let descriptor: Int32
    let port: UInt16

    /// A Unix socket at `path` (where a session bus or an agent of the caller's would listen).
    init(unixPath path: String) throws {
        let descriptor = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        self.descriptor = descriptor
        port = 0
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        try #require(bytes.count < MemoryLayout.size(ofValue: address.sun_path))
        withUnsafeMutableBytes(of: &address.sun_path) { buffer in
            for (index, byte) in bytes.enumerated() { buffer[index] = byte }
        }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        try #require(bound == 0 && listen(descriptor, 8) == 0)
        _ = fcntl(descriptor, F_SETFL, O_NONBLOCK)
    }

    init() throws {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        self.descriptor = descriptor
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        try #require(bound == 0 && listen(descriptor, 8) == 0)
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(descriptor, $0, &length) }
        }
        self.port = UInt16(bigEndian: address.sin_port)
        _ = fcntl(descriptor, F_SETFL, O_NONBLOCK)
    }

    func acceptedConnection() -> Bool {
        let connection = accept(descriptor, nil, nil)
        if connection >= 0 { Glibc.close(connection) }
        return connection >= 0
    }

    func close() { Glibc.close(descriptor) }
}
