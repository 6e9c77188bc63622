import Foundation
import Testing

/// A static HTTP server on loopback (python3's http.server), serving a directory until stopped.
final class StaticServer {
    let port: Int
    private let process: Process
    private let input: Pipe

    /// Serves `directory` on 127.0.0.1 at a port the kernel chooses; with `chunkDelay`, each
    /// 64 kB of a response body waits that long (a slow server).
    init(serving directory: String, chunkDelay: Double = 0) throws {
        let script = """
        import functools, http.server, sys, threading, time
        delay = float(sys.argv[2])
        class Handler(http.server.SimpleHTTPRequestHandler):
            def log_message(self, *args): pass
            def copyfile(self, source, destination):
                while True:
                    chunk = source.read(65536)
                    if not chunk: break
                    destination.write(chunk)
                    if delay: time.sleep(delay)
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=sys.argv[1]))
        print(server.server_address[1], flush=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        sys.stdin.read()
        """
        process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        process.arguments = ["-c", script, directory, String(chunkDelay)]
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
        guard let port = Int(String(decoding: line, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)) else {
            try? input.fileHandleForWriting.close()
            process.waitUntilExit()
            throw ServerFailure(description: "python3's http.server did not start (it printed '\(String(decoding: line, as: UTF8.self))')")
        }
        self.port = port
    }

    var url: String { "http://127.0.0.1:\(port)" }

    /// Stops the server (end of its standard input) and waits for it.
    func stop() {
        try? input.fileHandleForWriting.close()
        process.waitUntilExit()
    }

    struct ServerFailure: Error, CustomStringConvertible { var description: String }

    static var available: Bool { FileManager.default.isExecutableFile(atPath: "/usr/bin/python3") }
}

extension Harness {
    /// `repository`'s `metadata/` and `targets/` linked into a directory of their own: what a
    /// release repository's owner serves (never its `keys/`).
    func publicView(of repository: String) throws -> String {
        let view = root.appendingPathComponent("public-\(UUID().uuidString.prefix(6))").path
        try FileManager.default.createDirectory(atPath: view, withIntermediateDirectories: true)
        for name in ["metadata", "targets"] {
            try FileManager.default.createSymbolicLink(atPath: view + "/" + name, withDestinationPath: repository + "/" + name)
        }
        return view
    }
}
