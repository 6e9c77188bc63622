import Foundation
import Testing

/// The loopback server of `server.py`, started once per configuration and shared by the tests.
///
/// It prints its port when it listens (the tests wait for that line, not for time to pass) and
/// exits when its standard input closes, so it never outlives the test process.
// Unchecked: every property is set in init and never changed; the process is only waited for in deinit.
final class TestServer: @unchecked Sendable {
    let port: Int
    let host: String
    let scheme: String
    private let process: Process
    private let input: Pipe

    /// The directory of this file, where `server.py` lives.
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().path

    /// The `python3` on PATH, if any.
    static let python: String? = executable("python3")

    /// The `openssl` command on PATH, if any.
    static let openssl: String? = executable("openssl")

    static let plain: Result<TestServer, any Error> = Result { try TestServer(arguments: []) }
    static let ipv6: Result<TestServer, any Error> = Result { try TestServer(arguments: ["--ipv6"]) }

    init(arguments: [String], scheme: String = "http") throws {
        guard let python = Self.python else { throw Failure("python3 is not installed") }
        process = Process()
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = [Self.directory + "/server.py"] + arguments
        input = Pipe()
        let output = Pipe()
        process.standardInput = input
        process.standardOutput = output
        try process.run()
        var line = Data()
        while !line.contains(UInt8(ascii: "\n")) {
            let data = output.fileHandleForReading.availableData
            if data.isEmpty { throw Failure("server.py exited before printing its port") }
            line.append(data)
        }
        guard let port = Int(String(decoding: line, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)) else {
            throw Failure("server.py printed \(String(decoding: line, as: UTF8.self))")
        }
        self.port = port
        self.host = arguments.contains("--ipv6") ? "[::1]" : "127.0.0.1"
        self.scheme = scheme
    }

    deinit {
        try? input.fileHandleForWriting.close()
        process.waitUntilExit()
    }

    /// `http://127.0.0.1:<port><path>`.
    func url(_ path: String, host: String? = nil) -> String {
        "\(scheme)://\(host ?? self.host):\(port)\(path)"
    }

    private static func executable(_ name: String) -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        return path.split(separator: ":").map { "\($0)/\(name)" }.first { FileManager.default.isExecutableFile(atPath: $0) }
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
