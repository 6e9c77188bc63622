import Foundation
import Testing

@Suite("The README's embedding example")
struct EmbeddingExampleTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// The first Swift block after `heading` in the README, the example target's main.swift, and
    /// that file's imports.
    static func readmeExample(after heading: String, target: String) throws -> (readme: String, file: String, imports: [String]) {
        let readme = try String(contentsOf: root.appendingPathComponent("README.md"), encoding: .utf8)
        let file = try String(contentsOf: root.appendingPathComponent("Sources/Examples/\(target)/main.swift"), encoding: .utf8)
        let section = try #require(readme.range(of: heading))
        let start = try #require(readme.range(of: "```swift\n", range: section.upperBound..<readme.endIndex))
        let end = try #require(readme.range(of: "```\n", range: start.upperBound..<readme.endIndex))
        let imports = file.split(separator: "\n").filter { $0.hasPrefix("import ") }.map(String.init)
        return (String(readme[start.upperBound..<end.lowerBound]), file, imports)
    }

    @Test("is the compiled example target, to the letter, and imports only SelfUpgrade")
    func readmeMatchesTarget() throws {
        let example = try Self.readmeExample(after: "## Embedding SelfUpgrade", target: "EmbeddingExample")
        #expect(example.readme == example.file)
        #expect(example.imports == ["import SelfUpgrade"])
    }

    @Test("the README's channel example is the compiled target, to the letter, and imports only library products")
    func readmeChannelExample() throws {
        let example = try Self.readmeExample(after: "### Following a release channel", target: "ChannelEmbeddingExample")
        #expect(example.readme == example.file)
        #expect(example.imports == ["import ChannelUpdate", "import ReleaseChannel", "import SelfUpgrade"])
    }

    @Test("the patches the README's agent example feeds to 'autodev agent --patches' apply to this tree, each on its own",
          arguments: ["0001-version-0.2.0.patch", "0002-digest-abbreviated.patch", "0003-does-not-compile.patch"])
    func readmeAgentPatches(patch: String) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/git")
        process.arguments = ["apply", "--check", "docs/examples/patches/" + patch]
        process.currentDirectoryURL = Self.root
        let errors = Pipe()
        process.standardError = errors
        try process.run()
        let message = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationStatus == 0, "git apply --check \(patch): \(message)")
    }

    /// The manifest as SwiftPM reads it (`swift package dump-package`, in a scratch directory of
    /// its own so that it does not wait for the build lock of the running tests).
    static func manifest() throws -> [String: Any] {
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("manifest-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: scratch) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["swift", "package", "--scratch-path", scratch.path, "dump-package"]
        process.currentDirectoryURL = root
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
        return try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    }

    @Test("the command line is a shell over the products' public API: built without package access, importing only library products (and the example modules it hosts), never Storage")
    func commandLineOnProducts() throws {
        let manifest = try Self.manifest()
        let targets = try #require(manifest["targets"] as? [[String: Any]])
        let cli = try #require(targets.first { $0["name"] as? String == "autodev" })
        #expect(cli["packageAccess"] as? Bool == false, "the autodev target must not see package declarations")
        let products = try #require(manifest["products"] as? [[String: Any]])
        let libraries = Set(products.filter { ($0["type"] as? [String: Any])?["library"] != nil }.flatMap { $0["targets"] as? [String] ?? [] })
        #expect(!libraries.contains("Storage"))
        let examples = Set(try FileManager.default.contentsOfDirectory(atPath: Self.root.appendingPathComponent("Sources/Examples").path))
        let modules = Set(targets.compactMap { $0["name"] as? String })

        let directory = Self.root.appendingPathComponent("Sources/autodev")
        let files = try FileManager.default.contentsOfDirectory(atPath: directory.path).filter { $0.hasSuffix(".swift") }
        #expect(files.count > 20)
        var imported: Set<String> = []
        for file in files {
            let text = try String(contentsOf: directory.appendingPathComponent(file), encoding: .utf8)
            imported.formUnion(text.split(separator: "\n").filter { $0.hasPrefix("import ") }.map { String($0.dropFirst("import ".count)) })
        }
        let own = imported.intersection(modules)
        #expect(own.contains("SelfUpgrade") && own.contains("Platform"))
        #expect(own.subtracting(libraries).subtracting(examples).isEmpty, "imported, not a library product: \(own.subtracting(libraries).subtracting(examples).sorted())")
    }

    @Test("the daemon example imports nothing of the package but the library products it embeds")
    func daemonImports() throws {
        let daemon = try String(contentsOf: Self.root.appendingPathComponent("Sources/Examples/ExampleDaemon/main.swift"), encoding: .utf8)
        let imports = Set(daemon.split(separator: "\n").filter { $0.hasPrefix("import ") }.map(String.init))
        #expect(imports == ["import ChannelUpdate", "import Foundation", "import ReleaseChannel", "import SelfUpgrade"])
    }
}
