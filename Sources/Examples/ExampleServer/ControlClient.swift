import Foundation

/// The client side of the control socket: one line out, one line back.
///
/// An upgrade or rollback that execs closes the connection without an answer (the exec closes
/// it); the client then connects again (the control socket is handed to the new version, so
/// the connection waits in its queue) and asks `result`, which the new version answers once
/// it has confirmed itself.
struct ControlClient {
    let path: String

    /// Sends `line`; after an exec, asks the new version for the result.
    /// - Returns: the answer, and whether it says the new version confirmed.
    func request(_ line: String) -> (text: String, confirmed: Bool) {
        guard let answer = exchange(line) else {
            return ("error: cannot connect to \(path): \(String(cString: strerror(errno)))", false)
        }
        if !answer.isEmpty { return (answer, false) }
        // No answer: the server exec'd. Its successor answers once it has confirmed.
        for _ in 0..<3 {
            if let result = exchange("result"), !result.isEmpty { return (result, result.hasPrefix("confirmed")) }
        }
        return ("error: the restarted server did not answer", false)
    }

    /// One exchange: the answer line, "" when the server closed without one, nil when it cannot connect.
    private func exchange(_ line: String) -> String? {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (index, byte) in path.utf8.prefix(raw.count - 1).enumerated() { raw[index] = byte }
        }
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard connected == 0 else { return nil }
        let bytes = Array((line + "\n").utf8)
        guard bytes.withUnsafeBytes({ send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }) == bytes.count else { return "" }
        var answer: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while !answer.contains(10) {
            let count = recv(fd, &buffer, buffer.count, 0)
            if count < 0 && errno == EINTR { continue }
            if count <= 0 { break }
            answer += buffer[..<count]
        }
        return String(decoding: answer.prefix { $0 != 10 }, as: UTF8.self)
    }
}
