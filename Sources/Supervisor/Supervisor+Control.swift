#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Platform
import SelfUpgrade

extension Supervisor {
    // MARK: - Control socket

    func acceptControl() {
        for _ in 0..<16 {
            let accepted: Int32?
            do {
                accepted = try control.accept()
            } catch {
                // Out of descriptors (EMFILE, ENFILE): the connection stays queued; look again
                // in 100 ms instead of spinning on a listener that stays readable.
                Self.log("could not accept a control connection: \(error)")
                controlPausedUntil = MonotonicClock.now() + 100_000_000
                return
            }
            guard let fd = accepted else { return }
            let socket = Socket.adopting(fd, endpoint: control.endpoint)
            // An upgrade runs a binary the client names: only this user (or root) may ask. Another
            // user's request is still read (so the reply is not lost to a closed connection) and
            // answered with a refusal.
            if let user = socket.peerUserID, user == 0 || user == Privilege.userID {
                refused.remove(fd)
            } else {
                Self.log("refused a control connection from user \(socket.peerUserID.map(String.init) ?? "?")")
                refused.insert(fd)
            }
            connections[fd] = (socket, [], MonotonicClock.now())
        }
    }

    func readControl(_ fd: Int32) {
        guard var connection = connections[fd] else { return }
        let bytes: [UInt8]?
        do { bytes = try connection.socket.receiveWaiting() } catch { bytes = [] }
        guard let bytes else { return }
        if bytes.isEmpty || connection.input.count + bytes.count > 8192 {
            connections.removeValue(forKey: fd)
            refused.remove(fd)
            connection.socket.close()
            return
        }
        connection.input += bytes
        connections[fd] = connection
        guard let newline = connection.input.firstIndex(of: 10) else { return }
        let line = String(decoding: connection.input[..<newline], as: UTF8.self)
        connections.removeValue(forKey: fd)
        let reply: ControlReply
        if refused.remove(fd) != nil {
            reply = ControlReply(ok: false, message: "Refused: the supervisor at \"\(control.endpoint)\" answers only its own user (uid \(Privilege.userID)) and root, not uid \(connection.socket.peerUserID.map(String.init) ?? "?"); nothing changed")
        } else if busy && line != "status" {
            // Status only reads: it is answered during an upgrade too.
            reply = ControlReply(ok: false, message: "An upgrade or rollback is already running; nothing changed")
        } else {
            reply = handle(line)
        }
        var text = Array(reply.line().utf8)
        try? text.withUnsafeMutableBytes { try connection.socket.sendAll(UnsafeRawBufferPointer($0), timeout: 5) }
        connection.socket.close()
    }

    func handle(_ line: String) -> ControlReply {
        let (verb, argument) = line.firstIndex(of: " ").map { (String(line[..<$0]), String(line[line.index(after: $0)...])) } ?? (line, "")
        switch verb {
        case "status": return status()
        case "upgrade" where argument.hasPrefix("/"): return overlap(candidate: argument)
        case "rollback" where argument.isEmpty: return overlap(candidate: nil)
        default: return ControlReply(ok: false, message: "Unknown request \(line.debugDescription)")
        }
    }

    func status() -> ControlReply {
        var reply = ControlReply(ok: main != nil, message: "")
        let child = main.flatMap { children[$0] }
        reply.pid = main
        reply.current = child?.version.hex ?? (try? upgrader.currentVersion())??.hex
        reply.ready = child?.ready ?? false
        reply.confirmed = confirmed?.hex
        reply.listeners = listenerDescriptions
        reply.restarts = restarts
        if let child {
            reply.message = "\(child.version.short) serving as pid \(child.pid)" + (child.ready ? "" : " (not ready yet)")
        } else {
            reply.message = terminating != nil ? "stopping" : "not running (restarting after a crash)"
        }
        return reply
    }

    /// An upgrade (to `candidate`) or rollback by overlap.
    func overlap(candidate: String?) -> ControlReply {
        let operation = candidate == nil ? "rollback" : "upgrade"
        let start = MonotonicClock.now()
        guard terminating == nil, let old = main, let serving = children[old], serving.ready else {
            return ControlReply(ok: false, message: "Cannot \(operation): the program is not running and ready (\(status().message)); nothing changed")
        }
        busy = true
        defer { busy = false }
        sendSystemd("RELOADING=1\nMONOTONIC_USEC=\(MonotonicClock.now() / 1000)\nSTATUS=\(operation) from \(serving.version.short)")
        let box = CandidateBox()
        let readyTimeout = configuration.readyTimeoutSeconds
        let steps = Upgrader.Overlap(start: { [self] binary, version in
            let pid = try spawn(version)
            box.pid = pid
            Self.log("\(operation): started \(version.short) as pid \(pid) beside pid \(old)")
            let deadline = MonotonicClock.now() + UInt64(readyTimeout * 1e9)
            _ = wait(until: deadline) { children[pid]?.ready == true || ended[pid] != nil || terminating != nil }
            if let status = ended.removeValue(forKey: pid) {
                throw SupervisorError("the new version (pid \(pid)) \(status) before it was ready")
            }
            if children[pid]?.ready != true {
                let (_, _) = stop(pid)
                throw SupervisorError(terminating != nil ? "the supervisor is stopping" : "the new version (pid \(pid)) did not say READY=1 within \(readyTimeout) s; it was stopped")
            }
            box.readyAt = MonotonicClock.now()
        }, undo: { [self] in
            if let pid = box.pid, children[pid] != nil { _ = stop(pid) }
        })
        do {
            let outcome = try candidate.map { try upgrader.upgrade(fromBinary: $0, overlap: steps) } ?? upgrader.rollback(to: nil, overlap: steps)
            guard let new = box.pid else { throw SupervisorError("no new version was started") }
            main = new
            confirmed = outcome.to
            let (status, stopSeconds) = stop(old)
            Self.log("\(operation) \(serving.version.short) → \(outcome.to.short): pid \(new) serves; pid \(old) \(status.map(\.description) ?? "did not exit") after \(stopSeconds) s")
            if main == new, children[new] != nil { sendSystemd("READY=1\nSTATUS=serving \(outcome.to.short) (pid \(new))") }
            var reply = ControlReply(ok: children[new] != nil,
                                     message: (operation == "upgrade" ? "Upgraded" : "Rolled back") + " \(serving.version.short) → \(outcome.to.short): pid \(new) serves, pid \(old) stopped")
            if children[new] == nil { reply.message = "The new version (pid \(new)) exited after it was ready" }
            reply.operation = operation
            reply.transaction = outcome.transaction
            reply.from = serving.version.hex
            reply.to = outcome.to.hex
            reply.pid = new
            reply.readySeconds = box.readyAt.map { Double($0 - start) / 1e9 }
            reply.stopSeconds = stopSeconds
            reply.seconds = MonotonicClock.seconds(since: start)
            return reply
        } catch {
            if children[old] != nil { sendSystemd("READY=1\nSTATUS=serving \(serving.version.short) (pid \(old))") }
            var reply = ControlReply(ok: false, message: "\(operation.prefix(1).uppercased() + operation.dropFirst()) failed: \(error); \(serving.version.short) (pid \(old)) still serves")
            reply.operation = operation
            reply.from = serving.version.hex
            reply.pid = old
            reply.seconds = MonotonicClock.seconds(since: start)
            return reply
        }
    }
}

/// The candidate of the overlap in flight (set and read on the loop's thread only).
final class CandidateBox: @unchecked Sendable {
    var pid: Int32?
    var readyAt: UInt64?
}
