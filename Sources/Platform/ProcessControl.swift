import CPlatform
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The running process: its executable, environment, `exec`, signals.
public enum ProcessControl {
    /// The absolute, link-free path of the running executable (`/proc/self/exe`).
    /// - Throws: ``SystemError`` "read link".
    /// Opens /dev/null onto standard input, output and error where they are closed: a file
    /// the program opens later (the home's lock) would otherwise take their number and receive
    /// its messages, and a child's standard descriptors would land on it. Call first thing.
    public static func openClosedStandardDescriptors() {
        for fd: Int32 in 0...2 where fcntl(fd, F_GETFD) == -1 {
            let opened = open("/dev/null", fd == 0 ? O_RDONLY : O_WRONLY)
            if opened >= 0 && opened != fd { _ = dup2(opened, fd); close(opened) }
        }
    }

    public static func executablePath() throws(SystemError) -> String {
        try FileSystem.destinationOfSymbolicLink("/proc/self/exe")
    }

    /// This process's id.
    public static var id: Int32 { getpid() }

    /// The environment as a dictionary.
    public static func environment() -> [String: String] {
        var result: [String: String] = [:]
        var pointer = environ
        while let entry = pointer.pointee {
            let text = String(cString: entry)
            if let equals = text.firstIndex(of: "=") {
                result[String(text[..<equals])] = String(text[text.index(after: equals)...])
            }
            pointer += 1
        }
        return result
    }

    /// One environment variable.
    public static func environment(_ name: String) -> String? {
        getenv(name).map { String(cString: $0) }
    }

    /// Replaces this process's program with `path`, keeping the PID.
    /// Returns only by throwing.
    /// - Throws: ``SystemError`` "execute".
    public static func exec(_ path: String, arguments: [String], environment: [String: String]) throws(SystemError) -> Never {
        let envp = environment.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
        fflush(nil) // what `print` buffered would be lost with the old program image
        let error = withCStrings(arguments) { argv in
            withCStrings(envp) { env in
                _ = execve(path, argv, env)
                return Errno.current
            }
        }
        throw SystemError("execute", path: path, errno: error)
    }

    /// Replaces this process's program with the file open at `descriptor` (`fexecve`): the very
    /// file that was checked through it, whatever has been renamed over its path since. A script
    /// cannot be run this way (its interpreter would open `/dev/fd/N`, closed at exec): it is
    /// exec'd by `path`. Returns only by throwing.
    /// - Throws: ``SystemError`` "execute".
    public static func exec(descriptor: FileDescriptor, path: String, arguments: [String], environment: [String: String]) throws(SystemError) -> Never {
        let envp = environment.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
        fflush(nil)
        let error = withCStrings(arguments) { argv in
            withCStrings(envp) { env in
                _ = fexecve(descriptor.rawValue, argv, env)
                return Errno.current
            }
        }
        if error == .noSuchFile { try exec(path, arguments: arguments, environment: environment) }
        throw SystemError("execute", path: path, errno: error)
    }

    /// Sends SIGKILL to this process: used by crash tests' fail points. Does not return.
    public static func killSelf() -> Never {
        _ = kill(getpid(), SIGKILL)
        while true { pause() }
    }

    /// Stops this process (SIGSTOP) until another sends it SIGCONT.
    public static func stopSelf() {
        _ = kill(getpid(), SIGSTOP)
    }

    /// Whether a process with this id exists (it may belong to another user).
    public static func isAlive(_ pid: Int32) -> Bool {
        pid > 0 && (kill(pid, 0) == 0 || errno == EPERM)
    }

    /// SIGKILLs every process whose working directory lies under `directory`: the orphans of a
    /// verification run whose parent died before it could kill them.
    /// - Returns: the pids killed.
    @discardableResult
    public static func killProcesses(workingUnder directory: String) -> [Int32] {
        let prefix = directory.hasSuffix("/") ? directory : directory + "/"
        return killProcesses { pid in
            guard let cwd = try? FileSystem.destinationOfSymbolicLink("/proc/\(pid)/cwd") else { return false }
            return cwd.hasPrefix(prefix) || cwd == directory
        }
    }

    /// SIGKILLs every process of this user whose command line contains `text`: the build tools
    /// of a source upgrade whose parent was killed (they name their scratch directory in their
    /// arguments). Another user's process is never touched, even by root.
    /// - Returns: the pids killed.
    @discardableResult
    public static func killProcesses(commandLineContaining text: String) -> [Int32] {
        let needle = Array(text.utf8)
        let user = geteuid()
        return killProcesses { pid in
            guard (try? FileSystem.status("/proc/\(pid)"))?.owner == user else { return false }
            guard let bytes = try? FileSystem.readFile("/proc/\(pid)/cmdline"), bytes.count >= needle.count else { return false }
            return (0...(bytes.count - needle.count)).contains { bytes[$0..<($0 + needle.count)].elementsEqual(needle) }
        }
    }

    /// SIGKILLs every other process `matches` accepts, and waits (up to 2 s) until they are gone.
    private static func killProcesses(where matches: (Int32) -> Bool) -> [Int32] {
        guard let entries = try? FileSystem.contentsOfDirectory("/proc") else { return [] }
        var killed: [Int32] = []
        for entry in entries {
            guard let pid = Int32(entry), pid != getpid(), matches(pid) else { continue }
            if kill(pid, SIGKILL) == 0 { killed.append(pid) }
        }
        let start = MonotonicClock.now()
        while killed.contains(where: { FileSystem.exists("/proc/\($0)/cwd") }) && MonotonicClock.seconds(since: start) < 2 {
            usleep(2_000)
        }
        return killed
    }

    /// Ignores SIGPIPE (write errors come back as EPIPE instead).
    public static func ignoreBrokenPipe() {
        signal(SIGPIPE, SIG_IGN)
    }

    /// Gives the crash signals back their default action (end the process, with a core where
    /// the system keeps one). The Swift runtime's handlers for them start a `swift-backtrace`
    /// it looks for relative to the program's path and the working directory: a file planted
    /// beside a stored version, or in any directory autodev is run from, would run unhashed on
    /// a crash. Call it first thing in `main`.
    public static func defaultCrashSignals() {
        for crash in [SIGQUIT, SIGABRT, SIGBUS, SIGFPE, SIGILL, SIGSEGV, SIGTRAP] { signal(crash, SIG_DFL) }
    }

    /// Standard input is a terminal.
    public static var standardInputIsTerminal: Bool { isatty(0) == 1 }

    /// Standard output is a terminal.
    public static var standardOutputIsTerminal: Bool { isatty(1) == 1 }

    /// Standard error is a terminal.
    public static var standardErrorIsTerminal: Bool { isatty(2) == 1 }

    /// Reads one line from standard input (nil at end of input).
    public static func readLine() -> String? { Swift.readLine() }

    /// Sleeps.
    public static func sleep(seconds: Double) {
        usleep(UInt32(max(0, seconds) * 1_000_000))
    }
}

/// Monotonic time in nanoseconds, for durations.
public enum MonotonicClock {
    public static func now() -> UInt64 {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        return UInt64(time.tv_sec) * 1_000_000_000 + UInt64(time.tv_nsec)
    }

    public static func seconds(since start: UInt64) -> Double {
        Double(now() &- start) / 1_000_000_000
    }
}

/// Wall-clock time, for records.
public enum WallClock {
    /// Seconds since 1970 with microsecond precision.
    public static func now() -> Double {
        var time = timespec()
        clock_gettime(CLOCK_REALTIME, &time)
        return Double(time.tv_sec) + Double(time.tv_nsec / 1_000) / 1_000_000
    }
}

extension WallClock {
    /// `seconds` since 1970 as UTC ISO 8601, e.g. "2026-11-22T01:23:45Z".
    public static func iso8601(_ seconds: Double) -> String {
        // Int64(seconds) traps outside its range; a year this function writes stays far inside it.
        guard seconds.isFinite, abs(seconds) < 1e15 else { return "invalid time" }
        let time = utc(Int64(seconds))
        func two(_ value: Int) -> String { value < 10 ? "0\(value)" : "\(value)" }
        return "\(time.year)-\(two(time.month))-\(two(time.day))T\(two(time.hour)):\(two(time.minute)):\(two(time.second))Z"
    }

    /// The UTC calendar date and time of `seconds` since 1970 (proleptic Gregorian calendar), in
    /// arithmetic alone: `gmtime_r` reads the machine's time zone file on its first call, which
    /// every transaction's name would pay for.
    public static func utc(_ seconds: Int64) -> (year: Int64, month: Int, day: Int, hour: Int, minute: Int, second: Int) {
        func floorDivision(_ value: Int64, _ divisor: Int64) -> Int64 { value >= 0 ? value / divisor : (value - divisor + 1) / divisor }
        let days = floorDivision(seconds, 86_400)
        let secondOfDay = Int(seconds - days * 86_400)
        // Days since 0000-03-01, in 400-year eras of 146,097 days; years begin in March, so that
        // the leap day is the last of a year.
        let shifted = days + 719_468
        let era = floorDivision(shifted, 146_097)
        let dayOfEra = shifted - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1_460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let monthFromMarch = (5 * dayOfYear + 2) / 153
        let day = Int(dayOfYear - (153 * monthFromMarch + 2) / 5 + 1)
        let month = Int(monthFromMarch < 10 ? monthFromMarch + 3 : monthFromMarch - 9)
        let year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
        return (year, month, day, secondOfDay / 3_600, secondOfDay % 3_600 / 60, secondOfDay % 60)
    }
}

extension WallClock {
    /// Seconds since 1970 of a UTC ISO 8601 time as ``iso8601(_:)`` writes it
    /// ("2026-11-22T01:23:45Z", fractions of a second allowed); nil for anything else.
    public static func seconds(iso8601 text: String) -> Double? {
        let bytes = Array(text.utf8)
        guard bytes.count >= 20, bytes.count <= 40, bytes.last == UInt8(ascii: "Z") else { return nil }
        func number(_ range: Range<Int>) -> Int32? {
            var value: Int32 = 0
            for byte in bytes[range] {
                guard (0x30...0x39).contains(byte) else { return nil }
                value = value * 10 + Int32(byte - 0x30)
            }
            return value
        }
        let separators = [(4, "-"), (7, "-"), (10, "T"), (13, ":"), (16, ":")]
        guard separators.allSatisfy({ bytes[$0.0] == UInt8(ascii: Unicode.Scalar($0.1)!) }),
              let year = number(0..<4), let month = number(5..<7), let day = number(8..<10),
              let hour = number(11..<13), let minute = number(14..<16), let second = number(17..<19),
              (1...12).contains(month), (1...31).contains(day), hour < 24, minute < 60, second < 61 else { return nil }
        var parts = tm()
        parts.tm_year = year - 1900
        parts.tm_mon = month - 1
        parts.tm_mday = day
        parts.tm_hour = hour
        parts.tm_min = minute
        parts.tm_sec = second
        return Double(timegm(&parts))
    }
}

extension ProcessControl {
    /// Removes a variable from this process's environment (so children and `exec` do not see it).
    public static func removeEnvironment(_ name: String) { unsetenv(name) }
}

/// SIGINT and SIGTERM as a request to cancel: long waits check it and undo what they did.
public enum Cancellation {
    /// Routes SIGINT and SIGTERM to ``signal`` instead of ending the process.
    public static func install() { ad_install_cancel_handlers() }

    /// The signal that asked to cancel, or 0.
    public static var signal: Int32 { ad_cancel_signal() }

    /// Asks to cancel as SIGINT would (a key the person pressed).
    public static func request() { ad_cancel_request(SIGINT) }

    /// "SIGINT", "SIGTERM", else "signal N".
    public static func name(of signal: Int32) -> String {
        switch signal {
        case SIGINT: return "SIGINT"
        case SIGTERM: return "SIGTERM"
        default: return "signal \(signal)"
        }
    }
}

extension ProcessControl {
    /// The first executable called `name` in $PATH.
    public static func findExecutable(_ name: String) -> String? {
        if name.contains("/") { return name }
        for directory in (environment("PATH") ?? "/usr/bin:/bin").split(separator: ":") {
            let candidate = "\(directory)/\(name)"
            if access(candidate, X_OK) == 0, FileSystem.isDirectory(candidate) == false { return candidate }
        }
        return nil
    }
}
