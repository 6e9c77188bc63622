import Testing
import ReleaseChannel

@Suite("Choosing an update")
struct UpdateSelectionTests {
    func offer(_ version: String, platform: ReleasePlatform = .linuxX86_64, minimum: String? = nil, rollout: Int = 100) -> ReleaseOffer {
        let facts = ReleaseFacts(version: SemanticVersion(version)!, platform: platform, released: "2026-11-22T00:00:00Z",
                                 minimumVersion: minimum.flatMap(SemanticVersion.init), rollout: rollout)
        return ReleaseOffer(path: "autodev/\(version)/\(platform.rawValue)/autodev", length: 1, hashes: [:], facts: facts)
    }

    func choose(_ offers: [ReleaseOffer], _ current: String, id: String = "installation") -> String? {
        UpdateSelection.choose(offers, current: SemanticVersion(current)!, platform: .linuxX86_64, installationID: id)?.facts.version.description
    }

    @Test("picks the newest version newer than the running one, for this platform only")
    func newest() {
        let offers = [offer("1.0.0"), offer("1.2.0"), offer("1.10.0"), offer("2.0.0", platform: .darwinArm64), offer("0.9.0")]
        #expect(choose(offers, "1.1.0") == "1.10.0")
        #expect(choose(offers, "1.10.0") == nil)
        #expect(choose(offers, "3.0.0") == nil)
    }

    @Test("orders pre-releases as semver does, and offers them only to pre-release installations")
    func preReleases() {
        let offers = [offer("2.0.0-beta.2"), offer("2.0.0-beta.11"), offer("2.0.0-alpha"), offer("1.5.0")]
        #expect(choose(offers, "1.0.0") == "1.5.0")
        #expect(choose(offers, "2.0.0-alpha") == "2.0.0-beta.11")
        #expect(choose(offers, "2.0.0-beta.11") == nil)
        #expect(choose(offers + [offer("2.0.0")], "2.0.0-beta.2") == "2.0.0")
    }

    @Test("skips a release whose minimum version is above the running one")
    func minimumVersion() {
        let offers = [offer("1.5.0"), offer("2.0.0", minimum: "1.5.0")]
        #expect(choose(offers, "1.0.0") == "1.5.0")
        #expect(choose(offers, "1.5.0") == "2.0.0")
        #expect(choose(offers, "1.6.0-rc.1") == "2.0.0")
    }

    @Test("a 10 % rollout reaches 5–15 % of 1000 installations, the same ones every time")
    func rollout() {
        let offers = [offer("2.0.0", rollout: 10)]
        let ids = (0..<1000).map { "installation-\($0)" }
        let offered = ids.filter { choose(offers, "1.0.0", id: $0) != nil }
        #expect((50...150).contains(offered.count), "\(offered.count) of 1000 offered")
        #expect(ids.filter { choose(offers, "1.0.0", id: $0) != nil } == offered)
        #expect(ids.filter { choose([offer("2.0.0", rollout: 0)], "1.0.0", id: $0) != nil }.isEmpty)
        #expect(ids.allSatisfy { choose([offer("2.0.0", rollout: 100)], "1.0.0", id: $0) != nil })
        #expect(ids.allSatisfy { (0..<100).contains(UpdateSelection.bucket(installationID: $0)) })
    }
}
