import Platform
import Testing

@Suite("The mount table")
struct MountTableTests {
    @Test("a mount point's octal escapes are undone")
    func unescapes() {
        let line = #"40 27 0:45 / /mnt/with\040space\011tab\134slash rw,relatime shared:1 - tmpfs tmpfs rw"#
        #expect(MountTable.mountPoint(ofLine: line) == "/mnt/with space\ttab\\slash")
        #expect(MountTable.unescape(#"/a\012b"#) == "/a\nb")
        #expect(MountTable.unescape(#"/odd\04"#) == #"/odd\04"#)
        #expect(MountTable.unescape(#"/not\999octal"#) == #"/not\999octal"#)
        #expect(MountTable.mountPoint(ofLine: "27 1 254:0 /") == nil)
    }

    @Test("this process's table lists / and /proc")
    func live() throws {
        let points = try MountTable.mountPoints()
        #expect(points.contains("/"))
        #expect(points.contains("/proc"))
    }
}
