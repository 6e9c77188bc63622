import Foundation
import ReleaseChannel
import Testing

/// Versions read from a release repository's own metadata are range-checked before the next one
/// is computed from them.
@Suite("Release repository numbers")
struct RepositoryNumbersTests {
    let now = Int64(Date().timeIntervalSince1970)

    @Test("a timestamp at version 2^63-1 (or 0, or -1) makes refresh and publish fail with an error, not an overflow", arguments: [Int64.max, 0, -1])
    func timestampVersionOutOfRange(_ version: Int64) throws {
        let directory = try temporaryDirectory("numbers")
        let repository = ReleaseRepository(directory: directory + "/repo")
        try repository.create(now: now)
        let path = repository.directory + "/metadata/timestamp.json"
        var document = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as? [String: Any])
        var signed = try #require(document["signed"] as? [String: Any])
        signed["version"] = NSNumber(value: version)
        document["signed"] = signed
        try JSONSerialization.data(withJSONObject: document).write(to: URL(fileURLWithPath: path))
        let before = try Data(contentsOf: URL(fileURLWithPath: path))
        let refresh = try #require(throws: ReleaseChannelError.self) { try repository.refreshTimestamp(now: now) }
        #expect(refresh.code == .invalidRepository)
        #expect(refresh.message.hasSuffix("/metadata/timestamp.json\" has version \(version); a version must be from 1 to 2^53"), "\(refresh.message)")
        let publish = try #require(throws: ReleaseChannelError.self) { try repository.publish(now: now) }
        #expect(publish.message == refresh.message)
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == before)
    }
}
