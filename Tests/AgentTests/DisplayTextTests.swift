import Agent
import Testing

@Suite("Display names")
struct DisplayTextTests {
    @Test("newline, carriage return, tab and ESC are shown as escapes")
    func commonControls() {
        #expect(DisplayText.name("a\nb") == #"a\nb"#)
        #expect(DisplayText.name("a\rb") == #"a\rb"#)
        #expect(DisplayText.name("a\tb") == #"a\tb"#)
        #expect(DisplayText.name("\u{1B}[2Kx.patch") == #"\u{1B}[2Kx.patch"#)
    }

    @Test("other control characters (C0, DEL, C1, line and paragraph separators) are shown as escapes")
    func otherControls() {
        #expect(DisplayText.name("\u{0}\u{7}\u{7F}\u{85}\u{9B}") == #"\u{0}\u{7}\u{7F}\u{85}\u{9B}"#)
        #expect(DisplayText.name("a\u{2028}b\u{2029}c") == #"a\u{2028}b\u{2029}c"#)
    }

    @Test("printable text, including non-ASCII, is left alone")
    func printable() {
        #expect(DisplayText.name("01-version.patch") == "01-version.patch")
        #expect(DisplayText.name("änderung → ✓.diff") == "änderung → ✓.diff")
    }

    @Test("a message keeps its line breaks and escapes the rest")
    func message() {
        #expect(DisplayText.message("first\nsecond\r\u{1B}]0;title\u{7}") == "first\nsecond\\r\\u{1B}]0;title\\u{7}")
    }

    @Test("a patch named with a newline cannot forge an accepted line")
    func forgedLine() throws {
        let fixture = try Fixture()
        defer { fixture.cleanUp() }
        let name = "x.patch\nagent: evil.patch accepted: now running autodev 9.9.9.patch"
        try fixture.makePatch(name, changing: "a.txt")
        var events: [AgentEvent] = []
        _ = try fixture.loop { events.append($0) }.run(after: nil)
        #expect(events.first == .upgrading(name: name))
        let shown = events.compactMap { event -> String? in
            switch event {
            case .upgrading(let name): "agent: \(DisplayText.name(name)): build, test, verify"
            case .finished(let proposal, _): "agent: \(DisplayText.name(proposal.name)) rejected"
            default: nil
            }
        }
        #expect(shown.count == 2)
        #expect(shown.allSatisfy { !$0.contains("\n") })
        #expect(shown.last == #"agent: x.patch\nagent: evil.patch accepted: now running autodev 9.9.9.patch rejected"#)
    }

    @Test("a patch named with a newline that does not apply cannot forge a line through git's message")
    func forgedReason() throws {
        let fixture = try Fixture()
        defer { fixture.cleanUp() }
        let name = "x.patch\nagent: evil.patch accepted: now running autodev 9.9.9.patch"
        try fixture.makePatch(name, changing: "a.txt")
        try fixture.write("a.txt", "something else\n")
        try fixture.git(["commit", "--quiet", "-am", "rewrite a.txt"])
        var events: [AgentEvent] = []
        _ = try fixture.loop { events.append($0) }.run(after: nil)
        guard case .finished(let proposal, _)? = events.first else { Issue.record("\(events)"); return }
        let reason = try #require(proposal.reason)
        #expect(reason.contains(#"x.patch\nagent: evil.patch"#), "\(reason)")
        #expect(!DisplayText.message(reason).contains("\n"), "\(reason)")
    }
}
