import Agent
import Foundation
import Testing

@Suite("Working copy")
struct WorkingCopyTests {
    @Test("a dirty working copy is refused before anything is done")
    func dirtyRefused() throws {
        let fixture = try Fixture()
        defer { fixture.cleanUp() }
        try fixture.makePatch("01.patch", changing: "a.txt")
        try fixture.write("b.txt", "uncommitted work\n")
        let head = try fixture.head()
        var events: [AgentEvent] = []
        let error = try #require(throws: AgentError.self) {
            try fixture.loop { events.append($0) }.run(after: nil)
        }
        #expect(error.code == .uncommittedChanges)
        #expect(error.description.contains("has uncommitted changes (b.txt): commit or stash them first"), "\(error)")
        #expect(events.isEmpty)
        #expect(try fixture.head() == head)
        #expect(try fixture.read("b.txt") == "uncommitted work\n")
        #expect(try fixture.memory.load() == nil)
        #expect(fixture.contents(fixture.patches) == ["01.patch"])
    }

    @Test("an untracked file counts as a change; more than three are cut short")
    func untrackedFiles() throws {
        let fixture = try Fixture()
        defer { fixture.cleanUp() }
        for name in ["n1", "n2", "n3", "n4"] { try fixture.write(name, "new\n") }
        let error = try #require(throws: AgentError.self) { try fixture.workingCopy.requireClean() }
        #expect(error.description.contains("(n1, n2, n3, …)"), "\(error)")
    }

    @Test("a directory that is not a git repository is refused")
    func notARepository() throws {
        let fixture = try Fixture()
        defer { fixture.cleanUp() }
        let error = try #require(throws: AgentError.self) {
            try WorkingCopy(directory: fixture.patches, logs: fixture.home.logs).requireRepository()
        }
        #expect(error.code == .notARepository)
        try fixture.workingCopy.requireRepository()
    }

    @Test("revert restores the previous commit, and only when the commit is still the newest")
    func revert() throws {
        let fixture = try Fixture()
        defer { fixture.cleanUp() }
        let workingCopy = fixture.workingCopy
        let before = try fixture.head()
        try fixture.write("a.txt", "changed\n")
        try workingCopy.git(["add", "-A"])
        let commit = try workingCopy.commit("agent: change")
        #expect(commit == (try fixture.head()))
        #expect(commit != before)

        // Not the newest any more: nothing happens.
        try fixture.write("b.txt", "later\n")
        try fixture.git(["commit", "--quiet", "-am", "later"])
        let later = try fixture.head()
        #expect(try !workingCopy.revert(commit))
        #expect(try !workingCopy.revert(""))
        #expect(try fixture.head() == later)

        try fixture.git(["reset", "--quiet", "--hard", "HEAD~1"])
        #expect(try workingCopy.revert(commit))
        #expect(try fixture.head() == before)
        #expect(try fixture.read("a.txt") == "a.txt: first line\n")
        #expect(try fixture.git(["status", "--porcelain"]).isEmpty)
    }

    @Test("clone makes a working copy, keeps an existing one, and refuses what is not a repository")
    func clone() throws {
        let fixture = try Fixture()
        defer { fixture.cleanUp() }
        let destination = fixture.root + "/clone"
        try WorkingCopy.clone(fixture.source, into: destination, logs: fixture.home.logs)
        #expect(try String(contentsOfFile: destination + "/a.txt", encoding: .utf8) == "a.txt: first line\n")
        try "kept\n".write(toFile: destination + "/a.txt", atomically: true, encoding: .utf8)
        try WorkingCopy.clone(fixture.source, into: destination, logs: fixture.home.logs)
        #expect(try String(contentsOfFile: destination + "/a.txt", encoding: .utf8) == "kept\n")
        let error = try #require(throws: AgentError.self) {
            try WorkingCopy.clone(fixture.patches, into: fixture.root + "/other", logs: fixture.home.logs)
        }
        #expect(error.code == .notARepository)
    }

    @Test("dropping archived commits removes their refs and, once nothing reaches them, their objects")
    func dropArchived() throws {
        let fixture = try Fixture()
        defer { fixture.cleanUp() }
        let workingCopy = fixture.workingCopy
        var commits: [String] = []
        for number in 1...3 {
            try fixture.write("a.txt", "proposal \(number)\n")
            try fixture.git(["commit", "--quiet", "-am", "proposal \(number)"])
            commits.append(try fixture.head())
            try workingCopy.keep(commits.last!, number: number)
            // Taken back, as a rejected proposal is: the archive ref (and the reflog) reach it.
            try fixture.git(["reset", "--quiet", "--hard", "HEAD~1"])
        }
        // Within the grace the objects stay (a run starting meanwhile may be writing some).
        try workingCopy.dropArchived([1, 3])
        try fixture.git(["cat-file", "-e", commits[0]])
        try workingCopy.dropArchived([1, 3], grace: "now")
        let refs = try fixture.git(["for-each-ref", "--format=%(refname)", "refs/autodev/archive"])
        #expect(refs == "refs/autodev/archive/2\n")
        #expect(throws: (any Error).self) { try fixture.git(["cat-file", "-e", commits[0]]) }
        #expect(throws: (any Error).self) { try fixture.git(["cat-file", "-e", commits[2]]) }
        try fixture.git(["cat-file", "-e", commits[1]])
        // A ref already gone (a pruning cut short, finished again) is not an error.
        try workingCopy.dropArchived([1])
    }

    @Test("git's failure names the command and carries git's message")
    func gitFailure() throws {
        let fixture = try Fixture()
        defer { fixture.cleanUp() }
        let error = try #require(throws: AgentError.self) { try fixture.workingCopy.git(["rev-parse", "no-such-commit"]) }
        #expect(error.code == .gitFailed)
        #expect(error.description.hasPrefix("'git rev-parse no-such-commit' in \"\(fixture.source)\" exited with status 128: "), "\(error)")
    }
}
