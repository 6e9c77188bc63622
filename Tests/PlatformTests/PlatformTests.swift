import Foundation
import Synchronization
import Platform
import Testing
import TestSupport

private func scratch() throws -> String {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("autodev-platform-\(UUID().uuidString.prefix(8))").path
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

/// Write calls counted across threads.
private final class WriteCount: Sendable {
    let count = Mutex(0)
    func next() -> Int { count.withLock { $0 += 1; return $0 } }
}

@Suite("File system")
struct FileSystemTests {
    @Test("writeAtomically replaces the content, and a failed write leaves the old content and no temporary file")
    func atomicWrite() throws {
        let directory = try scratch()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/file"
        try FileSystem.writeAtomically(path, Array("old".utf8))
        try FileSystem.writeAtomically(path, Array("new".utf8))
        #expect(try FileSystem.readFile(path) == Array("new".utf8))

        #expect(throws: SystemError.self) {
            try SystemCalls.withFaults({ $0.write = { _, _, _ in SystemCalls.failing(.noSpace).toInt() } }) {
                try FileSystem.writeAtomically(path, Array("newer".utf8))
            }
        }
        #expect(try FileSystem.readFile(path) == Array("new".utf8))
        #expect(try FileSystem.contentsOfDirectory(directory) == ["file"])
    }

    @Test("""
        a whole file is read whatever its size claims: a /proc file that says 0 bytes, a file longer than its stat, \
        a cap below its size, a sparse file claiming a terabyte under a cap; a read fault is thrown
        """)
    func readToEnd() throws {
        let directory = try scratch()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        #expect(try FileSystem.readFile("/proc/self/cmdline") == Array(try Data(contentsOf: URL(fileURLWithPath: "/proc/self/cmdline"))))
        let path = directory + "/file"
        let bytes = (0..<300_000).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        let fd = try FileDescriptor.open(path)
        defer { try? fd.close() }
        #expect(try fd.readToEnd(expectedSize: 10) == bytes, "grows past what stat said")
        for limit in [5000, 10_000, 65_535, 70_000] {
            let growing = try FileDescriptor.open(path)
            defer { try? growing.close() }
            #expect(try growing.readToEnd(limit: limit, expectedSize: 10) == Array(bytes.prefix(limit)), "grows, never past the limit \(limit)")
        }
        for (limit, expected) in [(0, 0), (1, 1), (4096, 4096), (299_999, 299_999), (300_000, 300_000), (300_001, 300_000), (Int.max, 300_000)] {
            let again = try FileDescriptor.open(path)
            defer { try? again.close() }
            #expect(try again.readToEnd(limit: limit, expectedSize: 300_000) == Array(bytes.prefix(expected)), "limit \(limit)")
        }
        let sparse = directory + "/sparse"
        _ = FileManager.default.createFile(atPath: sparse, contents: nil)
        #expect(truncate(sparse, 1 << 40) == 0)
        let huge = try FileDescriptor.open(sparse)
        defer { try? huge.close() }
        #expect(try huge.readToEnd(limit: 1 << 20, expectedSize: 1 << 40) == [UInt8](repeating: 0, count: 1 << 20))
        #expect(throws: SystemError.self) {
            try SystemCalls.withFaults({ $0.read = { _, _, _ in Int(SystemCalls.failing(Errno(rawValue: EIO))) } }) {
                _ = try FileSystem.readFile(path)
            }
        }
    }

    @Test("copyFile checks what it opened: a FIFO or a device is refused without waiting, a file over the cap is refused, a stop ends the copy; no copy is left")
    func copyRefusals() throws {
        let directory = try scratch()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let fifo = directory + "/fifo"
        #expect(mkfifo(fifo, 0o600) == 0)
        let source = directory + "/source"
        try FileSystem.writeAtomically(source, [UInt8](repeating: 7, count: 3 << 20))
        for (path, detail) in [(fifo, "it is not a regular file"), ("/dev/zero", "it is not a regular file"), (source, "it is larger than 1048576 bytes")] {
            let error = #expect(throws: SystemError.self) {
                try FileSystem.copyFile(path, to: directory + "/copy", mode: 0o600, maxBytes: 1 << 20)
            }
            #expect(error?.detail == detail, "\(path): \(String(describing: error))")
        }
        var asked = 0
        let stopped = #expect(throws: SystemError.self) {
            try FileSystem.copyFile(source, to: directory + "/copy", mode: 0o600, stop: { asked += 1; return asked == 2 })
        }
        #expect(stopped?.errno == .interrupted && stopped?.detail == "stopped after 1048576 bytes", "\(String(describing: stopped))")
        #expect(try FileSystem.contentsOfDirectory(directory).sorted() == ["fifo", "source"])
    }

    @Test("the holder of a lock is read from /proc/locks without touching the lock; waiters and other files are not holders")
    func lockHolder() throws {
        let directory = try scratch()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/lock"
        #expect(FileLock.holder(of: path) == nil, "no file")
        let lock = try #require(try FileLock.tryAcquire(path))
        #expect(FileLock.holder(of: path) == getpid())
        lock.release()
        #expect(FileLock.holder(of: path) == nil)
        let table = """
        1: POSIX  ADVISORY  WRITE 77 fd:01:42 0 EOF
        2: FLOCK  ADVISORY  WRITE 88 fd:01:43 0 EOF
        3: -> FLOCK  ADVISORY  WRITE 99 fd:01:42 0 EOF
        4: FLOCK  ADVISORY  WRITE 1234 fd:01:42 0 EOF
        5: FLOCK  ADVISORY  WRITE 4321 103:a:42 0 EOF
        """
        // glibc's makedev.
        func device(_ major: UInt64, _ minor: UInt64) -> UInt64 {
            (minor & 0xff) | ((major & 0xfff) << 8) | ((minor & ~0xff) << 12) | ((major & ~0xfff) << 32)
        }
        #expect(FileLock.holder(device: device(0xfd, 1), inode: 42, in: table) == 1234)
        #expect(FileLock.holder(device: device(0x103, 0xa), inode: 42, in: table) == 4321)
        #expect(FileLock.holder(device: device(0xfd, 1), inode: 44, in: table) == nil)
    }

    @Test("copyFile copies every byte and shows each chunk once, in order; a write failing on the copying thread removes the copy")
    func copyWhileObserving() throws {
        let directory = try scratch()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        // Three full chunks and a partial one, the bytes differing from chunk to chunk.
        let source = directory + "/source"
        let bytes = (0..<(3 << 20) + 12_345).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ $0 >> 20) }
        try FileSystem.writeAtomically(source, bytes)
        var observed: [UInt8] = []
        let copied = try FileSystem.copyFile(source, to: directory + "/copy", mode: 0o600, observe: { observed.append(contentsOf: $0) })
        #expect(copied == bytes.count)
        #expect(observed == bytes)
        #expect(try FileSystem.readFile(directory + "/copy") == bytes)
        // The fault is injected in this task; the writes happen on another thread and still meet it.
        let writes = WriteCount()
        #expect(throws: SystemError.self) {
            try SystemCalls.withFaults({ calls in
                calls.write = { descriptor, buffer, count in
                    writes.next() > 1 ? SystemCalls.failing(.noSpace).toInt() : Glibc.write(descriptor, buffer, count)
                }
            }) {
                try FileSystem.copyFile(source, to: directory + "/second", mode: 0o600)
            }
        }
        #expect(writes.count.withLock { $0 } == 2)
        #expect(try FileSystem.contentsOfDirectory(directory).sorted() == ["copy", "source"])
    }

    @Test("replaceTogether: when the second rename fails the first file gets its old content back; nothing else is left")
    func replaceTogether() throws {
        let directory = try scratch()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let first = directory + "/a", second = directory + "/b"
        try FileSystem.replaceTogether([.init(first, Array("old a".utf8), mode: 0o600), .init(second, Array("old b".utf8), mode: 0o644)])
        for (path, target) in [(first, second), (second, first)] {
            #expect(throws: SystemError.self) {
                try SystemCalls.withFaults({ calls in
                    calls.rename = { from, to in
                        String(cString: to) == path ? SystemCalls.failing(.permissionDenied) : Glibc.rename(from, to)
                    }
                }) {
                    try FileSystem.replaceTogether([.init(target, Array("new".utf8), mode: 0o600), .init(path, Array("new".utf8), mode: 0o644)])
                }
            }
            #expect(try FileSystem.readFile(first) == Array("old a".utf8))
            #expect(try FileSystem.readFile(second) == Array("old b".utf8))
            #expect(try FileSystem.contentsOfDirectory(directory) == ["a", "b"])
        }
        // When putting the first back fails too, its old content is kept under its second name, and the error says where.
        let error = #expect(throws: SystemError.self) {
            try SystemCalls.withFaults({ calls in
                calls.rename = { from, to in
                    String(cString: to) == second || String(cString: from).hasSuffix(".previous") ? SystemCalls.failing(.permissionDenied) : Glibc.rename(from, to)
                }
            }) {
                try FileSystem.replaceTogether([.init(first, Array("new".utf8), mode: 0o600), .init(second, Array("new".utf8), mode: 0o644)])
            }
        }
        #expect(error?.description.contains("and the old content could not be put back: it is kept as \"\(first)\" as \"\(directory)/.a.tmp-") == true,
                "\(String(describing: error))")
        let aside = try #require(try FileSystem.contentsOfDirectory(directory).first { $0.hasSuffix(".previous") })
        #expect(try FileSystem.readFile(directory + "/" + aside) == Array("old a".utf8))
        #expect(try FileSystem.readFile(second) == Array("old b".utf8))
        try FileSystem.removeFile(directory + "/" + aside)
        try FileSystem.replaceTogether([.init(first, Array("new a".utf8), mode: 0o600), .init(second, Array("new b".utf8), mode: 0o644)])
        #expect(try FileSystem.readFile(first) == Array("new a".utf8) && FileSystem.readFile(second) == Array("new b".utf8))
        #expect(try FileSystem.status(first).mode & 0o777 == 0o600)
        #expect(try FileSystem.contentsOfDirectory(directory) == ["a", "b"])
    }

    @Test("errors name the action, the path and the errno text")
    func errorMessages() throws {
        let error = #expect(throws: SystemError.self) { try FileSystem.rename("/nonexistent/a", to: "/nonexistent/b") }
        #expect(error?.description == "Failed to rename \"/nonexistent/a\" to \"/nonexistent/b\": No such file or directory")
        #expect(error?.errno == .noSuchFile)
        // A line break or escape sequence in a path cannot start a line of its own in the message.
        let forged = #expect(throws: SystemError.self) { try FileSystem.readFile("/nonexistent/a\nError: forged\u{1B}[2K") }
        #expect(forged?.description == "Failed to open \"/nonexistent/a\\nError: forged\\u{1B}[2K\": No such file or directory")
    }

    @Test("a rename failing with EXDEV leaves the link as it was")
    func replaceLinkFailure() throws {
        let directory = try scratch()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try FileSystem.replaceSymbolicLink(directory + "/current", target: "one")
        #expect(throws: SystemError.self) {
            try SystemCalls.withFaults({ $0.rename = { _, _ in SystemCalls.failing(.crossDevice) } }) {
                try FileSystem.replaceSymbolicLink(directory + "/current", target: "two")
            }
        }
        #expect(try FileSystem.destinationOfSymbolicLink(directory + "/current") == "one")
        #expect(try FileSystem.contentsOfDirectory(directory) == ["current"])
        try FileSystem.replaceSymbolicLink(directory + "/current", target: "two")
        #expect(try FileSystem.destinationOfSymbolicLink(directory + "/current") == "two")
    }

    @Test("a flip back exchanges the two links: no link is made, and the old one is kept as the spare")
    func flipBackExchanges() throws {
        let directory = try scratch()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let (current, spare) = (directory + "/current", directory + "/.spare")
        try FileSystem.flipSymbolicLink(current, target: "one", keepingOldAt: spare)
        #expect(try FileSystem.contentsOfDirectory(directory) == ["current"])
        try FileSystem.flipSymbolicLink(current, target: "two", keepingOldAt: spare)
        #expect(try FileSystem.destinationOfSymbolicLink(current) == "two")
        #expect(try FileSystem.destinationOfSymbolicLink(spare) == "one")
        let (two, one) = (try FileSystem.status(current, followLinks: false).inode, try FileSystem.status(spare, followLinks: false).inode)
        // Back and forth: the same two links swap names; no symlink call is made.
        try SystemCalls.withFaults({ $0.symlink = { _, _ in SystemCalls.failing(.noSpace) } }) {
            for round in 0..<3 {
                try FileSystem.flipSymbolicLink(current, target: round % 2 == 0 ? "one" : "two", keepingOldAt: spare)
            }
        }
        #expect(try FileSystem.destinationOfSymbolicLink(current) == "one" && FileSystem.destinationOfSymbolicLink(spare) == "two")
        #expect(try FileSystem.status(current, followLinks: false).inode == one && FileSystem.status(spare, followLinks: false).inode == two)
        #expect(try FileSystem.contentsOfDirectory(directory).sorted() == [".spare", "current"])
    }

    @Test("""
        a spare that names another target, or is a file, a directory or a FIFO, is never exchanged in: \
        a new link is made; a file, a FIFO or a directory there is left as it is
        """)
    func flipPastHostileSpares() throws {
        let directory = try scratch()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let (current, spare) = (directory + "/current", directory + "/.spare")
        let plant: [(String, () throws -> Void)] = [
            ("a link to another target", { try FileSystem.replaceSymbolicLink(spare, target: "elsewhere") }),
            ("a file", { try FileSystem.writeAtomically(spare, Array("precious".utf8)) }),
            ("a FIFO", { #expect(mkfifo(spare, 0o644) == 0) }),
            ("a directory", { try FileSystem.createDirectory(spare, mode: 0o755); try FileSystem.writeAtomically(spare + "/kept", [1]) }),
            // After the exchange the temporary name and `spare` are one file: the rename between
            // them does nothing, and the temporary name must not be left behind.
            ("a hard link to current", { #expect(link(current, spare) == 0) }),
        ]
        for (what, planted) in plant {
            try? FileManager.default.removeItem(atPath: spare)
            try FileSystem.replaceSymbolicLink(current, target: "one")
            try planted()
            try FileSystem.flipSymbolicLink(current, target: "two", keepingOldAt: spare)
            #expect(try FileSystem.destinationOfSymbolicLink(current) == "two", "\(what)")
            if what == "a directory" {
                #expect(try FileSystem.readFile(spare + "/kept") == [1], "\(what)")
            } else if what == "a file" {
                #expect(try FileSystem.readFile(spare) == Array("precious".utf8), "\(what)")
            } else if what == "a FIFO" {
                #expect(try FileSystem.status(spare, followLinks: false).kind == .other, "\(what)")
            } else if what == "a hard link to current" {
                #expect(try FileSystem.status(spare, followLinks: false).linkCount == 1, "\(what)")
            } else {
                #expect(try FileSystem.destinationOfSymbolicLink(spare) == "one", "\(what)")
            }
            #expect(try FileSystem.contentsOfDirectory(directory).sorted() == [".spare", "current"], "\(what)")
        }
    }

    @Test("where names cannot be exchanged, or current is not a link, the new link is renamed over it as before")
    func flipWithoutExchange() throws {
        let directory = try scratch()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let (current, spare) = (directory + "/current", directory + "/.spare")
        try FileSystem.replaceSymbolicLink(current, target: "one")
        try SystemCalls.withFaults({ $0.exchange = { _, _ in SystemCalls.failing(.invalidArgument) } }) {
            try FileSystem.flipSymbolicLink(current, target: "two", keepingOldAt: spare)
            try FileSystem.replaceSymbolicLink(spare, target: "one")
            try FileSystem.flipSymbolicLink(current, target: "one", keepingOldAt: spare)
        }
        #expect(try FileSystem.destinationOfSymbolicLink(current) == "one")
        #expect(try FileSystem.contentsOfDirectory(directory).sorted() == [".spare", "current"])
        // A file at `current` is replaced by the link, as a rename does; a directory there refuses it.
        try FileSystem.removeFile(current)
        try FileSystem.writeAtomically(current, [1])
        try FileSystem.flipSymbolicLink(current, target: "two", keepingOldAt: spare)
        #expect(try FileSystem.destinationOfSymbolicLink(current) == "two")
        try FileSystem.removeFile(current)
        try FileSystem.createDirectory(current, mode: 0o755)
        #expect(throws: SystemError.self) { try FileSystem.flipSymbolicLink(current, target: "one", keepingOldAt: spare) }
        #expect(try FileSystem.status(current, followLinks: false).kind == .directory)
        #expect(try FileSystem.contentsOfDirectory(directory).sorted() == [".spare", "current"])
    }

    @Test("a spare swapped between its check and the exchange is put back, and a new link made")
    func flipRacedSpare() throws {
        let directory = try scratch()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let (current, spare) = (directory + "/current", directory + "/.spare")
        try FileSystem.replaceSymbolicLink(current, target: "one")
        try FileSystem.replaceSymbolicLink(spare, target: "two")
        let swapped = Mutex(false)
        try SystemCalls.withFaults({ calls in
            let real = calls.exchange
            calls.exchange = { first, second in
                // Another process puts a link to elsewhere at the spare's name just before the first exchange.
                if swapped.withLock({ let first = !$0; $0 = true; return first }) {
                    _ = unlink(first)
                    _ = symlink("elsewhere", first)
                }
                return real(first, second)
            }
        }) {
            try FileSystem.flipSymbolicLink(current, target: "two", keepingOldAt: spare)
        }
        #expect(try FileSystem.destinationOfSymbolicLink(current) == "two")
        #expect(try FileSystem.contentsOfDirectory(directory).sorted() == [".spare", "current"])
    }

    @Test("writeAll loops over short writes")
    func shortWrites() throws {
        let directory = try scratch()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let content = (0..<10_000).map { UInt8(truncatingIfNeeded: $0) }
        try SystemCalls.withFaults({ calls in
            let real = calls.write
            calls.write = { fd, buffer, count in real(fd, buffer, min(count, 7)) }
        }) {
            try FileSystem.writeAtomically(directory + "/f", content)
        }
        #expect(try FileSystem.readFile(directory + "/f") == content)
    }

    @Test("display width: emoji shown as pictures and wide characters take two columns, combining marks and format characters none")
    func displayWidth() {
        #expect(TerminalText.width("abc") == 3)
        #expect(TerminalText.width("日本") == 4)
        #expect(TerminalText.width("🚀⭐☕⚡🫠") == 10)
        #expect(TerminalText.width("שָׁלוֹם") == 4)
        #expect(TerminalText.width("e\u{301}") == 1)
        #expect(TerminalText.width("a\u{200D}b\u{FE0F}") == 2)
        #expect(TerminalText.width("é ñ ü") == 5)
        #expect(TerminalText.width("→ ✓ ©") == 5)
    }

    @Test("a file opened to be rewritten is emptied only once it has passed the checks: a planted hard link's other file keeps its bytes")
    func truncateAfterChecks() throws {
        let directory = try scratch()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let victim = directory + "/victim"
        try FileSystem.writeAtomically(victim, Array("precious".utf8))
        try FileManager.default.linkItem(atPath: victim, toPath: directory + "/log")
        #expect(throws: SystemError.self) {
            _ = try FileDescriptor.openOwned(directory + "/log", [.writeOnly, .create, .truncate])
        }
        #expect(try FileSystem.readFile(victim) == Array("precious".utf8))
        // A subprocess's output file planted the same way: refused, and the other file untouched.
        var configuration = Subprocess.Configuration(executable: "/bin/true", arguments: [], environment: [:])
        configuration.outputPath = directory + "/log"
        #expect(throws: (any Error).self) { _ = try Subprocess.run(configuration) }
        #expect(try FileSystem.readFile(victim) == Array("precious".utf8))
        // A file of its own is emptied as asked.
        try FileSystem.writeAtomically(directory + "/own", Array("old".utf8))
        let own = try FileDescriptor.openOwned(directory + "/own", [.writeOnly, .create, .truncate])
        try own.close()
        #expect(try FileSystem.readFile(directory + "/own") == [])
    }
}

@Suite("Processes and locks")
struct ProcessTests {
    @Test("a timed-out child and everything it forked are killed")
    func timeout() throws {
        let directory = try scratch()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var configuration = Subprocess.Configuration(executable: "/bin/sh", arguments: ["-c", "(sleep 2; touch \(directory)/survivor) & sleep 30"], environment: [:])
        configuration.timeoutSeconds = 0.5
        let status = try Subprocess.run(configuration)
        #expect(status == .timedOut(seconds: 0.5))
        // Left alive, the forked shell would touch the file within 2 s and then end.
        #expect(Processes.waitUntilGone(commandLineContaining: directory).isEmpty, "a child of the timed-out process outlived it")
        #expect(!FileManager.default.fileExists(atPath: directory + "/survivor"))
    }

    @Test("exit status, signals and launch failures are told apart")
    func statuses() throws {
        #expect(try Subprocess.run(.init(executable: "/bin/sh", arguments: ["-c", "exit 7"], environment: [:])) == .exited(7))
        #expect(try Subprocess.run(.init(executable: "/bin/sh", arguments: ["-c", "kill -9 $$"], environment: [:])) == .signaled(9))
        let error = #expect(throws: Subprocess.LaunchError.self) {
            try Subprocess.run(.init(executable: "/nonexistent", arguments: [], environment: [:]))
        }
        #expect(error?.errno == .noSuchFile)
    }

    @Test("a program still open for writing elsewhere for a moment starts once it is closed; one kept open fails with Text file busy")
    func busyText() throws {
        let directory = try scratch()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let script = directory + "/script"
        try FileSystem.writeAtomically(script, Array("#!/bin/sh\nexit 3\n".utf8), mode: 0o755)
        // As a child forked by another thread holds it until its own exec: open for writing, briefly.
        let writer = try FileDescriptor.open(script, .writeOnly)
        let closer = Thread {
            usleep(10_000)
            try? writer.close()
        }
        closer.start()
        #expect(try Subprocess.run(.init(executable: script, arguments: [], environment: [:])) == .exited(3))

        let held = try FileDescriptor.open(script, .writeOnly)
        defer { try? held.close() }
        let error = #expect(throws: Subprocess.LaunchError.self) { try Subprocess.run(.init(executable: script, arguments: [], environment: [:])) }
        #expect(error?.errno == .textBusy)
        #expect(error?.description == "Failed to execute \"\(script)\": Text file busy")
    }

    @Test("rlimits apply to the child")
    func limits() throws {
        let directory = try scratch()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var configuration = Subprocess.Configuration(executable: "/bin/sh", arguments: ["-c", "ulimit -t; ulimit -f"], environment: [:])
        configuration.limits = [.cpuSeconds(7), .fileSize(bytes: 1024 * 1024)]
        configuration.outputPath = directory + "/out"
        #expect(try Subprocess.run(configuration) == .exited(0))
        let text = String(decoding: try FileSystem.readFile(directory + "/out"), as: UTF8.self)
        #expect(text == "7\n2048\n")
    }

    @Test("processes are killed by a text in their command line, and no others")
    func killByCommandLine() throws {
        let marker = "autodev-test-marker-\(UUID().uuidString.prefix(8))"
        let target = Process()
        target.executableURL = URL(fileURLWithPath: "/bin/sh")
        target.arguments = ["-c", "while :; do sleep 0.1; done", marker]
        let bystander = Process()
        bystander.executableURL = URL(fileURLWithPath: "/bin/sleep")
        bystander.arguments = ["30"]
        try target.run()
        try bystander.run()
        defer { bystander.terminate() }
        // `run` returns before the child has exec'd the shell: its command line is looked for
        // only once it carries the marker (a loaded machine was seen to kill nothing otherwise).
        let deadline = Date().addingTimeInterval(10)
        while Date() < deadline, !((try? String(contentsOfFile: "/proc/\(target.processIdentifier)/cmdline", encoding: .utf8))?.contains(marker) ?? false) {
            usleep(1_000)
        }
        // The shell's forks carry its command line until they exec `sleep`: they may be killed too.
        let killed = ProcessControl.killProcesses(commandLineContaining: marker)
        #expect(killed.contains(target.processIdentifier))
        #expect(!killed.contains(bystander.processIdentifier))
        target.waitUntilExit()
        #expect(target.terminationStatus == SIGKILL)
        #expect(bystander.isRunning)
        #expect(ProcessControl.isAlive(bystander.processIdentifier))
        #expect(!ProcessControl.isAlive(target.processIdentifier))
    }

    @Test("the lock is exclusive across open files, and free again once released")
    func lock() throws {
        let directory = try scratch()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let first = try #require(try FileLock.tryAcquire(directory + "/lock"))
        #expect(try FileLock.tryAcquire(directory + "/lock") == nil)
        first.release()
        let second = try FileLock.tryAcquire(directory + "/lock")
        #expect(second != nil)
        second?.release()
    }

    @Test("a lock file another user owns is refused, not used; one owned by the directory's owner is used",
          .enabled(if: Privilege.userID == 0, "changing a file's owner needs root"))
    func lockOwnedByAnotherUser() throws {
        let directory = try scratch()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/lock"
        try "garbage".write(toFile: path, atomically: false, encoding: .utf8)
        #expect(chown(path, 65534, 65534) == 0)
        let error = #expect(throws: SystemError.self) { try FileLock.tryAcquire(path) }
        #expect(error?.description.contains("belongs to user 65534") == true, "\(String(describing: error))")
        #expect(try FileSystem.readOwnFile(path) == Array("garbage".utf8), "the refused file was changed")
        // The owner of its directory may own it (root working in a user's home).
        #expect(chown(directory, 65534, 65534) == 0)
        let lock = try #require(try FileLock.tryAcquire(path))
        lock.release()
    }
}

extension Int32 {
    fileprivate func toInt() -> Int { Int(self) }
}

@Suite("Wall clock")
struct WallClockTests {
    @Test("the UTC date and time of a moment are glibc's gmtime_r's, across leap days, centuries and before 1970")
    func utcMatchesTheCLibrary() {
        var moments: [Int64] = [0, -1, 86_399, 86_400, -86_400, -86_401, 951_782_399, 951_782_400, 951_868_800, 4_107_542_399,
                                4_107_542_400, 253_402_300_799, -2_208_988_801, -62_135_596_800, 1_796_656_321]
        // Every 7 hours and 13 seconds over four centuries, either side of 1970.
        var moment: Int64 = -6_311_390_400
        while moment < 6_311_390_400 {
            moments.append(moment)
            moment += 7 * 3_600 + 13 + 86_400 * 37
        }
        for seconds in moments {
            var time = time_t(seconds)
            var parts = tm()
            gmtime_r(&time, &parts)
            let ours = WallClock.utc(seconds)
            #expect(ours.year == Int64(parts.tm_year) + 1900 && ours.month == Int(parts.tm_mon) + 1 && ours.day == Int(parts.tm_mday)
                    && ours.hour == Int(parts.tm_hour) && ours.minute == Int(parts.tm_min) && ours.second == Int(parts.tm_sec),
                    "\(seconds): \(ours) against gmtime_r's \(parts)")
        }
        #expect(WallClock.iso8601(1_796_656_321.9) == "2026-12-07T15:12:01Z")
        #expect(WallClock.iso8601(-0.5) == "1970-01-01T00:00:00Z")
        #expect(WallClock.iso8601(.nan) == "invalid time")
    }
}
