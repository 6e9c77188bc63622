#if canImport(Glibc)
import Glibc
#endif
import Platform
import Testing

@Suite("The watchdog's confirmation marker")
struct WatchdogTests {
    @Test("a marker is believed only for the write end of a pipe, which it makes close-on-exec")
    func adopt() throws {
        var ends: [Int32] = [-1, -1]
        try #require(pipe(&ends) == 0)
        defer { close(ends[0]); close(ends[1]) }
        let file = open("/dev/null", O_WRONLY)
        defer { close(file) }
        #expect(Watchdog.adopt("\(ends[1]):\(getpid())") == "\(ends[1]):\(getpid())")
        #expect(fcntl(ends[1], F_GETFD) & FD_CLOEXEC != 0)
        #expect(Watchdog.adopt("\(ends[0]):\(getpid())") == nil, "the read end")
        #expect(Watchdog.adopt("\(file):\(getpid())") == nil, "not a pipe")
        #expect(Watchdog.adopt("1:\(getpid())") == nil, "stdio")
        #expect(Watchdog.adopt("\(ends[1])") == nil, "no pid")
        #expect(Watchdog.adopt("x:y") == nil)
    }

    @Test("standing down writes one byte on the pipe and closes the write end")
    func standDown() throws {
        var ends: [Int32] = [-1, -1]
        try #require(pipe(&ends) == 0)
        defer { close(ends[0]) }
        // No such child: the wait returns at once.
        Watchdog.standDown("\(ends[1]):\(Int32.max)")
        var bytes = [UInt8](repeating: 0, count: 4)
        #expect(read(ends[0], &bytes, 4) == 1 && bytes[0] == 49)
        #expect(read(ends[0], &bytes, 4) == 0, "the write end is closed")
    }
}
