import Foundation
import Integrity
import TestSupport
import TUF

/// `repository_server.py` serving a temporary directory, started once and shared by the tests.
/// The tests wait for the port it prints, not for time to pass; it exits when its stdin closes.
// Unchecked: every property is set in init and never changed.
final class RepositoryServer: @unchecked Sendable {
    let port: Int
    let root: String
    private let child: ChildServer

    static let shared: Result<RepositoryServer, any Error> = Result { try RepositoryServer() }

    static var python: String? { ChildServer.python }

    private init() throws {
        root = NSTemporaryDirectory() + "autodev-tuf-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().path + "/repository_server.py"
        child = try ChildServer(python: [script, root], name: "repository_server.py")
        port = child.port
    }

    func url(_ path: String) -> String { "http://127.0.0.1:\(port)/\(path)" }
}

struct TestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// One client against one test repository: its metadata and target directories, and what is in them.
struct ClientFixture {
    let repository: TestRepository
    let server: RepositoryServer
    let metadataDirectory: String
    let targetDirectory: String

    init(_ name: String) throws {
        server = try RepositoryServer.shared.get()
        repository = try TestRepository(name: name, serverRoot: server.root)
        let client = server.root + "/client-" + name
        metadataDirectory = client + "/metadata"
        targetDirectory = client + "/targets"
        try FileManager.default.createDirectory(atPath: metadataDirectory, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: targetDirectory, withIntermediateDirectories: true)
    }

    /// `autodev tuf init` with the repository's 1.root.json.
    func initialize() throws {
        let root = try Data(contentsOf: URL(fileURLWithPath: repository.directory + "/metadata/1.root.json"))
        try Updater.initialize(metadataDirectory: metadataDirectory, trustedRoot: Array(root))
    }

    func updater() -> Updater {
        Updater(metadataDirectory: metadataDirectory, metadataURL: server.url(repository.name + "/metadata/"),
                targetBaseURL: server.url(repository.name + "/targets/"))
    }

    /// Every file in `directory` (hidden ones too) with its bytes.
    static func contents(_ directory: String) -> [String: Data] {
        var result: [String: Data] = [:]
        for name in (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [] {
            result[name] = FileManager.default.contents(atPath: directory + "/" + name)
        }
        return result
    }

    var trustedMetadata: [String: Data] { Self.contents(metadataDirectory) }
    var targets: [String: Data] { Self.contents(targetDirectory) }

    /// The version in the stored metadata of `role`.
    func trustedVersion(_ fileName: String) throws -> Int64? {
        guard let data = FileManager.default.contents(atPath: metadataDirectory + "/" + fileName) else { return nil }
        return try CanonicalJSONRead.version(Array(data))
    }
}

enum CanonicalJSONRead {
    static func version(_ bytes: [UInt8]) throws -> Int64? {
        try CanonicalJSON.parse(bytes)["signed"]?["version"]?.integerValue
    }
}
