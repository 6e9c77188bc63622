import Foundation
import Testing

@Suite("The README's embedding example")
struct EmbeddingExampleTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    @Test("is the compiled example target, to the letter, and imports only SelfUpgrade")
    func readmeMatchesTarget() throws {
        let readme = try String(contentsOf: Self.root.appendingPathComponent("README.md"), encoding: .utf8)
        let example = try String(contentsOf: Self.root.appendingPathComponent("Sources/Examples/EmbeddingExample/main.swift"), encoding: .utf8)
        let section = try #require(readme.range(of: "## Embedding SelfUpgrade"))
        let start = try #require(readme.range(of: "```swift\n", range: section.upperBound..<readme.endIndex))
        let end = try #require(readme.range(of: "```\n", range: start.upperBound..<readme.endIndex))
        #expect(String(readme[start.upperBound..<end.lowerBound]) == example)
        let imports = example.split(separator: "\n").filter { $0.hasPrefix("import ") }
        #expect(imports == ["import SelfUpgrade"])
    }

    @Test("the README's channel example is the compiled target, to the letter, and imports only library products")
    func readmeChannelExample() throws {
        let readme = try String(contentsOf: Self.root.appendingPathComponent("README.md"), encoding: .utf8)
        let example = try String(contentsOf: Self.root.appendingPathComponent("Sources/Examples/ChannelEmbeddingExample/main.swift"), encoding: .utf8)
        let section = try #require(readme.range(of: "### Following a release channel"))
        let start = try #require(readme.range(of: "```swift\n", range: section.upperBound..<readme.endIndex))
        let end = try #require(readme.range(of: "```\n", range: start.upperBound..<readme.endIndex))
        #expect(String(readme[start.upperBound..<end.lowerBound]) == example)
        let imports = example.split(separator: "\n").filter { $0.hasPrefix("import ") }
        #expect(imports == ["import ChannelUpdate", "import ReleaseChannel", "import SelfUpgrade"])
    }

    @Test("the daemon example imports nothing of the package but the library products it embeds")
    func daemonImports() throws {
        let daemon = try String(contentsOf: Self.root.appendingPathComponent("Sources/Examples/ExampleDaemon/main.swift"), encoding: .utf8)
        let imports = Set(daemon.split(separator: "\n").filter { $0.hasPrefix("import ") }.map(String.init))
        #expect(imports == ["import ChannelUpdate", "import Foundation", "import ReleaseChannel", "import SelfUpgrade"])
    }
}
