import Foundation
import Testing

@Suite("The README's embedding example")
struct EmbeddingExampleTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    @Test("is the compiled example target, to the letter, and imports only SelfUpgrade")
    func readmeMatchesTarget() throws {
        let readme = try String(contentsOf: Self.root.appendingPathComponent("README.md"), encoding: .utf8)
        let example = try String(contentsOf: Self.root.appendingPathComponent("Sources/EmbeddingExample/main.swift"), encoding: .utf8)
        let section = try #require(readme.range(of: "## Embedding SelfUpgrade"))
        let start = try #require(readme.range(of: "```swift\n", range: section.upperBound..<readme.endIndex))
        let end = try #require(readme.range(of: "```\n", range: start.upperBound..<readme.endIndex))
        #expect(String(readme[start.upperBound..<end.lowerBound]) == example)
        let imports = example.split(separator: "\n").filter { $0.hasPrefix("import ") }
        #expect(imports == ["import SelfUpgrade"])
    }

    @Test("the daemon example imports nothing of the package but SelfUpgrade")
    func daemonImports() throws {
        let daemon = try String(contentsOf: Self.root.appendingPathComponent("Sources/ExampleDaemon/main.swift"), encoding: .utf8)
        let imports = Set(daemon.split(separator: "\n").filter { $0.hasPrefix("import ") }.map(String.init))
        #expect(imports == ["import Foundation", "import SelfUpgrade"])
    }
}
