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

    @Test("the daemon example imports nothing of the package but the library products it embeds")
    func daemonImports() throws {
        let daemon = try String(contentsOf: Self.root.appendingPathComponent("Sources/Examples/ExampleDaemon/main.swift"), encoding: .utf8)
        let imports = Set(daemon.split(separator: "\n").filter { $0.hasPrefix("import ") }.map(String.init))
        #expect(imports == ["import ChannelUpdate", "import Foundation", "import ReleaseChannel", "import SelfUpgrade"])
    }
}
