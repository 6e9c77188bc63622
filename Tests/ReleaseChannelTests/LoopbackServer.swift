import Foundation
import TestSupport

/// Python's `http.server` serving a directory on 127.0.0.1 (a static server, as a release
/// repository is meant to be served). The tests wait for the port it prints; it exits when
/// its stdin closes.
final class LoopbackServer: @unchecked Sendable {
    // Unchecked: every property is set in init and never changed.
    let port: Int
    private let child: ChildServer

    static var python: String? { ChildServer.python }

    static let script = """
    import functools, http.server, sys, threading
    class Handler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args): pass
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=sys.argv[1]))
    print(server.server_address[1], flush=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    sys.stdin.read()
    """

    init(serving directory: String) throws {
        child = try ChildServer(python: ["-c", Self.script, directory], name: "http.server")
        port = child.port
    }

    var url: String { "http://127.0.0.1:\(port)" }

    /// Serves what a release repository publishes, and only that: a directory beside it holding
    /// links to its `metadata/` and `targets/` (never `keys/`).
    convenience init(publishing repository: String) throws {
        let root = repository + ".public"
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        for name in ["metadata", "targets"] {
            try FileManager.default.createSymbolicLink(atPath: root + "/" + name, withDestinationPath: repository + "/" + name)
        }
        try self.init(serving: root)
    }
}

struct TestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// A fresh temporary directory, removed when the test process exits.
func temporaryDirectory(_ name: String) throws -> String {
    let path = NSTemporaryDirectory() + "autodev-\(name)-\(UUID().uuidString.prefix(8))"
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    TemporaryDirectories.shared.add(path)
    return path
}

/// The directories `temporaryDirectory` made: the fixtures hand them to several tests' servers
/// and clients, so they go when the process ends rather than when one test does.
private final class TemporaryDirectories: @unchecked Sendable {
    static let shared = TemporaryDirectories()
    private let lock = NSLock()
    private var paths: [String] = []

    private init() {
        atexit { TemporaryDirectories.shared.removeAll() }
    }

    func add(_ path: String) {
        lock.withLock { paths.append(path) }
    }

    private func removeAll() {
        for path in lock.withLock({ paths }) {
            try? FileManager.default.removeItem(atPath: path)
        }
    }
}

func writeFile(_ path: String, _ bytes: [UInt8]) throws {
    try Data(bytes).write(to: URL(fileURLWithPath: path))
}

func readFile(_ path: String) throws -> [UInt8] {
    Array(try Data(contentsOf: URL(fileURLWithPath: path)))
}

/// Every file in `directory` with its bytes.
func contents(_ directory: String) -> [String: Data] {
    var result: [String: Data] = [:]
    for name in (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [] {
        result[name] = FileManager.default.contents(atPath: directory + "/" + name)
    }
    return result
}
