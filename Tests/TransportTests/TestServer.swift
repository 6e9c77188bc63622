import Foundation
import TestSupport
import Testing

/// The loopback server of `server.py`, started once per configuration and shared by the tests.
///
/// It prints its port when it listens (the tests wait for that line, not for time to pass) and
/// exits when its standard input closes, so it never outlives the test process.
// Unchecked: every property is set in init and never changed.
final class TestServer: @unchecked Sendable {
    let port: Int
    let host: String
    let scheme: String
    private let child: ChildServer

    /// The directory of this file, where `server.py` lives.
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().path

    /// The `python3` on PATH, if any.
    static let python: String? = ChildServer.python

    /// The `openssl` command on PATH, if any.
    static let openssl: String? = ChildServer.executable("openssl")

    static let plain: Result<TestServer, any Error> = Result { try TestServer(arguments: []) }
    static let ipv6: Result<TestServer, any Error> = Result { try TestServer(arguments: ["--ipv6"]) }

    init(arguments: [String], scheme: String = "http") throws {
        child = try ChildServer(python: [Self.directory + "/server.py"] + arguments, name: "server.py")
        port = child.port
        host = arguments.contains("--ipv6") ? "[::1]" : "127.0.0.1"
        self.scheme = scheme
    }

    /// `http://127.0.0.1:<port><path>`.
    func url(_ path: String, host: String? = nil) -> String {
        "\(scheme)://\(host ?? self.host):\(port)\(path)"
    }

}

struct Failure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Byte `i` of every test resource: `i % 256`.
func pattern(_ range: Range<Int>) -> [UInt8] {
    range.map { UInt8(truncatingIfNeeded: $0) }
}

extension TestServer {
    /// A loopback port that nothing listens on, held bound (not listening) until `fd` is closed:
    /// connecting is refused, and no other process can take the port meanwhile.
    static func refusingPort() throws -> (fd: Int32, port: Int) {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw Failure("socket: \(errno)") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { raw in
                bind(fd, raw, length) == 0 && getsockname(fd, raw, &length) == 0
            }
        }
        guard bound else {
            close(fd)
            throw Failure("bind: \(errno)")
        }
        return (fd, Int(UInt16(bigEndian: address.sin_port)))
    }
}
