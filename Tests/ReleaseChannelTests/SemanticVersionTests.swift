import Testing
import ReleaseChannel

@Suite("Semantic versions")
struct SemanticVersionTests {
    @Test("orders versions and pre-releases as semver 2.0.0 section 11 lists them")
    func ordering() throws {
        let ordered = ["1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta", "1.0.0-beta.2", "1.0.0-beta.11",
                       "1.0.0-rc.1", "1.0.0", "1.0.1", "1.1.0", "1.10.0", "2.0.0"]
        let versions = try ordered.map { try #require(SemanticVersion($0), "\($0)") }
        for (index, version) in versions.enumerated() {
            for (otherIndex, other) in versions.enumerated() {
                #expect((version < other) == (index < otherIndex), "\(version) vs \(other)")
            }
        }
        #expect(SemanticVersion("1.0.0+build.1") != nil)
        #expect(SemanticVersion("1.0.0+build.1") == SemanticVersion("1.0.0+other"))
        #expect(SemanticVersion("1.2.3-rc.1+sha.5114f85")?.description == "1.2.3-rc.1+sha.5114f85")
    }

    @Test("rejects what is not a semantic version", arguments: ["1", "1.0", "v1.0.0", "01.0.0", "1.0.0-", "1.0.0-01", "1.0.0-a..b", "1.0.0+", "1.0.0-a_b", "", "1.0.0.0", "-1.0.0"])
    func rejects(_ text: String) {
        #expect(SemanticVersion(text) == nil)
    }
}
