import Platform
import Testing

@Suite("Socket pairs, thread groups, resident memory")
struct SocketPairTests {
    @Test("what one end of a pair sends, the other receives; a closed end reads as end of stream")
    func roundTrip() throws {
        let (a, b) = try Socket.pair(name: "test pair")
        defer { b.close() }
        let message: [UInt8] = Array("hello".utf8)
        try message.withUnsafeBytes { try a.sendAll($0, timeout: 5) }
        var buffer = [UInt8](repeating: 0, count: 16)
        let count = try buffer.withUnsafeMutableBytes { try b.receive(into: $0, timeout: 5) }
        #expect(Array(buffer[..<count]) == message)
        a.close()
        #expect(try buffer.withUnsafeMutableBytes { try b.receive(into: $0, timeout: 5) } == 0)
    }

    @Test("a connect to a Unix socket nobody listens on fails naming the path")
    func connectRefused() {
        #expect {
            _ = try Socket.connect(unixPath: "/nonexistent-dir/control.sock")
        } throws: { error in
            "\(error)".contains("/nonexistent-dir/control.sock")
        }
    }

    @Test("a Unix listener replaces a socket left behind, never a link or a file planted in its place")
    func plantedSocketPath() throws {
        let directory = "/tmp/autodev-listen-\(UInt32.random(in: 0...UInt32.max))"
        try FileSystem.createDirectory(directory, mode: 0o700)
        defer { _ = try? FileSystem.removeTree(directory) }
        let path = directory + "/control.sock"
        try ListeningSocket.unix(path: path).close()  // leaves its socket file behind
        let again = try ListeningSocket.unix(path: path)
        again.close()
        try FileSystem.removeFile(path)
        try FileSystem.writeAtomically(directory + "/victim", Array("kept".utf8))
        try FileSystem.replaceSymbolicLink(path, target: directory + "/victim")
        let linked = #expect(throws: SystemError.self) { try ListeningSocket.unix(path: path) }
        #expect(linked?.description == "Failed to bind \"\(path)\": a symbolic link is in its place; remove it if nothing uses it")
        try FileSystem.removeFile(path)
        try FileSystem.writeAtomically(path, [])
        let file = #expect(throws: SystemError.self) { try ListeningSocket.unix(path: path) }
        #expect(file?.description.hasSuffix("a file that is not a socket is in its place; remove it if nothing uses it") == true)
        #expect(try FileSystem.readFile(directory + "/victim") == Array("kept".utf8))
    }

    @Test("collect runs each item on its own thread and keeps their order")
    func collect() {
        let results = ThreadGroup.collect([1, 2, 3, 4]) { $0 * 10 }
        #expect(results == [10, 20, 30, 40])
    }

    @Test("the resident memory of this process is known")
    func residentMemory() {
        #expect((ResidentMemory.kibibytes() ?? 0) > 0)
    }
}
