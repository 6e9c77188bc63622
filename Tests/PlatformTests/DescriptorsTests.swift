#if canImport(Glibc)
import Glibc
#endif
import Platform
import Testing

@Suite("The descriptor table before exec", .serialized)
struct DescriptorsTests {
    /// The inode behind a descriptor.
    func inode(_ descriptor: Int32) -> UInt64? {
        var info = stat()
        return fstat(descriptor, &info) == 0 ? UInt64(info.st_ino) : nil
    }

    // Far above the numbers other tests of this process use, so that none of theirs moves.
    let first: Int32 = 900

    @Test("sources go to first, first + 1, … without close-on-exec; what was there and every flag come back on undo")
    func arrangeAndUndo() throws {
        let a = try ListeningSocket.tcp(host: "127.0.0.1", port: 0)
        let b = try ListeningSocket.tcp(host: "127.0.0.1", port: 0)
        defer { a.close(); b.close() }
        var ends: [Int32] = [0, 0]
        try #require(pipe(&ends) == 0)
        defer { ends.forEach { Descriptors.close($0) } }
        // An occupant of the first target number, without close-on-exec, and a stray descriptor
        // above the targets without close-on-exec: both must be out of the next image.
        try Descriptors.duplicate(ends[0], onto: first)
        let stray = try Descriptors.duplicate(ends[1], atLeast: first + 10, closeOnExec: false)
        defer { Descriptors.close(first); Descriptors.close(stray) }
        try #require(Descriptors.flags(first + 1) == nil)

        let arrangement = try Descriptors.arrange([a.rawValue, b.rawValue], from: first)
        #expect(inode(first) == inode(a.rawValue) && inode(first + 1) == inode(b.rawValue))
        #expect(Descriptors.flags(first) == 0 && Descriptors.flags(first + 1) == 0)
        #expect(Descriptors.flags(stray).map { $0 & FD_CLOEXEC } == FD_CLOEXEC)
        #expect(Descriptors.flags(a.rawValue).map { $0 & FD_CLOEXEC } == FD_CLOEXEC)
        #expect(ListeningSocket.isListening(first) && ListeningSocket.isListening(first + 1))

        arrangement.undo()
        #expect(inode(first) == inode(ends[0]))
        #expect(Descriptors.flags(first) == 0)
        #expect(Descriptors.flags(first + 1) == nil)
        #expect(Descriptors.flags(stray) == 0)
        #expect(Descriptors.flags(a.rawValue).map { $0 & FD_CLOEXEC } == FD_CLOEXEC)
    }

    @Test("a source already at its target number stays")
    func inPlace() throws {
        let first = self.first + 50
        let a = try ListeningSocket.tcp(host: "127.0.0.1", port: 0)
        defer { a.close() }
        try Descriptors.duplicate(a.rawValue, onto: first)
        defer { Descriptors.close(first) }
        let arrangement = try Descriptors.arrange([first], from: first)
        #expect(inode(first) == inode(a.rawValue) && Descriptors.flags(first) == 0)
        arrangement.undo()
        #expect(inode(first) == inode(a.rawValue))
    }
}
