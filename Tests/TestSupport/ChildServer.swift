import Foundation

/// A server the tests run as a child process: it prints the port it listens on as its first
/// line, and exits when its standard input closes, so it never outlives the test process. The
/// tests wait for that line, not for time to pass.
// Unchecked: every property is set in init and never changed; the process is only waited for in stop.
public final class ChildServer: @unchecked Sendable {
    /// The port it printed.
    public let port: Int
    private let process: Process
    private let input: Pipe
    private let stopped = NSLock()
    private var isStopped = false

    /// Starts `executable` with `arguments` and waits for its port.
    /// - Parameter name: what to call it in an error ("server.py").
    /// - Throws: ``TestSupportError`` when it exits or prints something else first.
    public init(executable: String, arguments: [String], name: String) throws {
        process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        input = Pipe()
        let output = Pipe()
        process.standardInput = input
        process.standardOutput = output
        try process.run()
        var line = Data()
        while !line.contains(UInt8(ascii: "\n")) {
            let data = output.fileHandleForReading.availableData
            if data.isEmpty { break }
            line.append(data)
        }
        let text = String(decoding: line, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard let port = Int(text) else {
            try? input.fileHandleForWriting.close()
            process.waitUntilExit()
            throw TestSupportError(text.isEmpty ? "\(name) exited before printing its port" : "\(name) printed '\(text)' instead of its port")
        }
        self.port = port
    }

    /// A Python script run by `python3` from PATH.
    public convenience init(python script: [String], name: String) throws {
        guard let python = Self.python else { throw TestSupportError("python3 is not installed") }
        try self.init(executable: python, arguments: script, name: name)
    }

    /// Closes its standard input and waits for it to exit (also done when it is released).
    public func stop() {
        stopped.lock()
        defer { stopped.unlock() }
        guard !isStopped else { return }
        isStopped = true
        try? input.fileHandleForWriting.close()
        process.waitUntilExit()
    }

    deinit { stop() }

    /// The `python3` on PATH, if any.
    public static var python: String? { executable("python3") }

    /// The first executable `name` on PATH.
    public static func executable(_ name: String) -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        return path.split(separator: ":").map { "\($0)/\(name)" }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }
}

/// A test set-up that failed, in words.
public struct TestSupportError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
