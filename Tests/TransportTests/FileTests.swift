import Foundation
import Testing
import Transport

@Suite("file:// URLs")
struct FileTests {
    let directory: String

    init() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("autodev-transport-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try Data(pattern(0..<300_000)).write(to: URL(fileURLWithPath: directory + "/data file"))
    }

    @Test("reads a whole file, percent-decoding the path")
    func whole() throws {
        let url = "file://\(directory)/data%20file"
        var received: [UInt8] = []
        let response = try Fetcher().fetch(url, maxBytes: 300_000) { received.append(contentsOf: $0) }
        #expect(received == pattern(0..<300_000))
        #expect(response.status == 200 && !response.resumed && response.contentLength == 300_000)
        try FileManager.default.removeItem(atPath: directory)
    }

    @Test("an offset continues there; the cap counts the whole file")
    func offset() throws {
        let url = "file://\(directory)/data%20file"
        var received: [UInt8] = []
        let response = try Fetcher().fetch(url, maxBytes: 300_000, offset: 123_456) { received.append(contentsOf: $0) }
        #expect(received == pattern(123_456..<300_000))
        #expect(response.status == 206 && response.resumed && response.receivedBytes == 300_000 - 123_456)
        let atEnd = try Fetcher().fetch(url, maxBytes: 300_000, offset: 300_000) { _ in Issue.record("no body expected") }
        #expect(atEnd.receivedBytes == 0)
        let past = #expect(throws: TransportError.self) { try Fetcher().fetch(url, maxBytes: 400_000, offset: 300_001) { _ in } }
        #expect(past?.code == .fileError)
        let capped = #expect(throws: TransportError.self) { try Fetcher().fetch(url, maxBytes: 299_999, offset: 200_000) { _ in } }
        #expect(capped?.code == .tooLarge)
        try FileManager.default.removeItem(atPath: directory)
    }

    @Test("a missing file is notFound, a directory a fileError, a file over the cap tooLarge before any byte")
    func failures() throws {
        let missing = #expect(throws: TransportError.self) { _ = try Fetcher().fetchAll("file://\(directory)/missing", maxBytes: 10) }
        #expect(missing?.code == .notFound)
        #expect(missing?.message == "Failed to open \"\(directory)/missing\": No such file or directory")
        let folder = #expect(throws: TransportError.self) { _ = try Fetcher().fetchAll("file://\(directory)", maxBytes: 10) }
        #expect(folder?.code == .fileError)
        var received = 0
        let large = #expect(throws: TransportError.self) {
            try Fetcher().fetch("file://\(directory)/data%20file", maxBytes: 1000) { received += $0.count }
        }
        #expect(large?.code == .tooLarge)
        #expect(received == 0)
        try FileManager.default.removeItem(atPath: directory)
    }

    @Test("a device that never ends is stopped at the cap while reading")
    func endlessDevice() throws {
        // /dev/zero is not a regular file; /proc files report size 0 but have content.
        var received = 0
        let error = #expect(throws: TransportError.self) { try Fetcher().fetch("file:///proc/self/maps", maxBytes: 10) { received += $0.count } }
        #expect(error?.code == .tooLarge)
        #expect(received == 0)
        try FileManager.default.removeItem(atPath: directory)
    }
}
