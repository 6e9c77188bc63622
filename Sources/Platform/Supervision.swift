import CPlatform
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Children of a supervisor: started with listening sockets in the systemd convention, watched
/// without blocking, signalled by pid or process group.
public enum ChildProcess {
    // MARK: - API

    /// Starts `path` in its own process group with `listeners` at 3, 4, … and every other
    /// descriptor but stdio closed, an empty signal mask and default dispositions; it gets
    /// SIGTERM when this process dies. When
    /// `environment` has a `LISTEN_PID` entry, the child writes its own pid into it between fork
    /// and exec (the systemd convention: the variable names the process the sockets are for).
    /// - Returns: the child's pid.
    /// - Throws: ``Subprocess/LaunchError`` ("fork", or "exec" with the child's errno).
    public static func spawn(_ path: String, arguments: [String], environment: [String: String],
                              listeners: [Int32], cgroup: ProcessTrees.Leaf? = nil) throws(Subprocess.LaunchError) -> Int32 {
        guard listeners.count <= 64 else { throw Subprocess.LaunchError(executable: path, step: "listeners", errno: Errno(rawValue: EMFILE)) }
        var variables = environment
        let setsPID = variables["LISTEN_PID"] != nil
        if setsPID { variables["LISTEN_PID"] = String(repeating: "0", count: 21) }
        let entries = variables.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
        let slot = entries.firstIndex { $0.hasPrefix("LISTEN_PID=") }
        var pid: Int32 = 0
        var childErrno: Int32 = 0
        let result = withCStrings(arguments) { argv in
            withCStrings(entries) { envp in
                listeners.withUnsafeBufferPointer { fds in
                    path.withCString { cPath in
                        var options = ad_supervised_options(
                            path: cPath, argv: argv, envp: envp,
                            listen_pid_value: setsPID && slot != nil ? envp[slot!]! + 11 : nil,
                            listeners: fds.baseAddress, listener_count: Int32(listeners.count), new_process_group: 1,
                            parent_death_signal: SIGTERM, cgroup_procs_fd: cgroup?.procs ?? -1)
                        return ad_spawn_supervised(&options, &pid, &childErrno)
                    }
                }
            }
        }
        switch result {
        case 0: return pid
        case -2 where childErrno < 0: throw Subprocess.LaunchError(executable: path, step: "cgroup", errno: Errno(rawValue: -childErrno))
        case -2: throw Subprocess.LaunchError(executable: path, step: "exec", errno: Errno(rawValue: childErrno))
        default: throw Subprocess.LaunchError(executable: path, step: "fork", errno: .current)
        }
    }

    /// Reaps any child that has ended, without waiting.
    /// - Returns: its pid and how it ended; nil when none has.
    public static func reapAny() -> (pid: Int32, status: TerminationStatus)? {
        var status: Int32 = 0
        while true {
            let pid = waitpid(-1, &status, WNOHANG)
            if pid > 0 { return (pid, decode(status)) }
            if pid < 0 && Errno.current == .interrupted { continue }
            return nil
        }
    }

    /// Sends `signal` to the process `pid`. False when it is gone.
    @discardableResult
    public static func signal(_ pid: Int32, _ signal: Int32) -> Bool { kill(pid, signal) == 0 }

    /// Sends `signal` to the process group led by `pid` (what it started, too).
    @discardableResult
    public static func signalGroup(_ pid: Int32, _ signal: Int32) -> Bool { kill(-pid, signal) == 0 }

    /// How a `waitpid` status ended.
    public static func decode(_ status: Int32) -> TerminationStatus {
        status & 0x7f == 0 ? .exited((status >> 8) & 0xff) : .signaled(status & 0x7f)
    }
}

/// Signals turned into bytes on a pipe (a handler that only writes), so an event loop can wait
/// for them with `poll` alongside its sockets.
public struct SignalPipe: Sendable {
    /// The read end (non-blocking, close-on-exec).
    public let descriptor: Int32

    /// Installs the handlers.
    /// - Throws: ``SystemError`` "install signal handlers".
    public static func install(_ signals: [Int32]) throws(SystemError) -> SignalPipe {
        let fd = signals.withUnsafeBufferPointer { ad_signal_pipe_install($0.baseAddress, Int32($0.count)) }
        guard fd >= 0 else { throw SystemError("install signal handlers", path: "signals", errno: .current) }
        return SignalPipe(descriptor: fd)
    }

    /// The signals that arrived since the last call, in order.
    public func take() -> [Int32] {
        var result: [Int32] = []
        var bytes = [UInt8](repeating: 0, count: 64)
        while true {
            let count = read(descriptor, &bytes, bytes.count)
            if count > 0 { result += bytes[..<count].map(Int32.init); continue }
            if count < 0 && Errno.current == .interrupted { continue }
            return result
        }
    }
}

/// The sd_notify datagram protocol: a socket that receives `KEY=value` lines with the sender's
/// pid (`SO_PASSCRED`), and sending to `NOTIFY_SOCKET`.
public struct NotifySocket: Sendable {
    /// The descriptor (non-blocking, close-on-exec).
    public let descriptor: Int32
    /// `@name` (abstract) or a path: what `NOTIFY_SOCKET` says.
    public let address: String

    /// One message and who sent it.
    public struct Message: Sendable, Equatable {
        /// The sender's pid as the kernel reports it (0 when unknown).
        public var sender: Int32
        /// Its `KEY=value` assignments, one per line.
        public var fields: [String: String]
    }

    /// Binds a datagram socket at `address`.
    /// - Throws: ``SystemError`` "bind".
    public static func bind(_ address: String) throws(SystemError) -> NotifySocket {
        let fd = ad_notify_bind(address)
        guard fd >= 0 else { throw SystemError("bind", path: address, errno: .current) }
        return NotifySocket(descriptor: fd, address: address)
    }

    /// The next waiting message; nil when none is. Oversized datagrams are skipped.
    public func receive() -> Message? {
        var buffer = [CChar](repeating: 0, count: 4096)
        while true {
            var sender: Int32 = 0
            let count = ad_notify_receive(descriptor, &buffer, buffer.count, &sender)
            if count < 0 {
                if Errno.current == .interrupted { continue }
                return nil
            }
            if count > buffer.count { continue }
            let text = String(decoding: buffer[..<Int(count)].map { UInt8(bitPattern: $0) }, as: UTF8.self)
            var fields: [String: String] = [:]
            for line in text.split(separator: "\n") {
                guard let equals = line.firstIndex(of: "=") else { continue }
                fields[String(line[..<equals])] = String(line[line.index(after: equals)...])
            }
            return Message(sender: sender, fields: fields)
        }
    }

    /// Sends `text` as one datagram to `address` (`@name` or a path), as `sd_notify` does.
    /// - Throws: ``SystemError`` "send to".
    public static func send(_ text: String, to address: String) throws(SystemError) {
        let bytes = Array(text.utf8)
        let status = bytes.withUnsafeBufferPointer { buffer in
            buffer.withMemoryRebound(to: CChar.self) { ad_notify_send(address, $0.baseAddress, $0.count) }
        }
        guard status == 0 else { throw SystemError("send to", path: address, errno: .current) }
    }

    /// Closes the socket.
    public func close() { _ = Glibc.close(descriptor) }
}

/// `poll` over descriptors, retried on EINTR with the time left.
public enum Poller {
    /// Waits until one of `descriptors` is ready for its events, or `timeout` seconds pass (nil: no limit).
    /// - Returns: each descriptor's returned events, in the order given (all 0 on timeout).
    public static func wait(_ descriptors: [(descriptor: Int32, events: Int16)], timeout: Double?) -> [Int16] {
        var entries = descriptors.map { pollfd(fd: $0.descriptor, events: $0.events, revents: 0) }
        let milliseconds: Int32 = timeout.map { Int32(min(max(0, $0) * 1000, 3_600_000).rounded(.up)) } ?? -1
        let ready = poll(&entries, nfds_t(entries.count), milliseconds)
        if ready <= 0 { return Array(repeating: 0, count: entries.count) }
        return entries.map(\.revents)
    }

    /// Readable (or hung up, or in error).
    public static let readable = Int16(POLLIN)
    /// Writable.
    public static let writable = Int16(POLLOUT)
}

extension Socket {
    /// An accepted (non-blocking) connection's descriptor as a socket.
    public static func adopting(_ descriptor: Int32, endpoint: String) -> Socket {
        Socket(rawValue: descriptor, endpoint: endpoint)
    }

    /// The user id of the process at the other end of a Unix socket (`SO_PEERCRED`); nil when unknown.
    public var peerUserID: UInt32? {
        var user: UInt32 = 0
        return ad_peer_user(rawValue, &user) == 0 ? user : nil
    }

    /// Receives what is waiting without blocking.
    /// - Returns: the bytes; empty when the peer closed its side; nil when nothing is waiting.
    /// - Throws: ``SystemError`` "receive from".
    public func receiveWaiting(max: Int = 65_536) throws(SystemError) -> [UInt8]? {
        var buffer = [UInt8](repeating: 0, count: max)
        while true {
            let count = Glibc.recv(rawValue, &buffer, buffer.count, Int32(MSG_DONTWAIT))
            if count >= 0 { return Array(buffer[..<count]) }
            let error = Errno.current
            if error == .interrupted { continue }
            if error == .wouldBlock { return nil }
            throw SystemError("receive from", path: endpoint, errno: error)
        }
    }
}
