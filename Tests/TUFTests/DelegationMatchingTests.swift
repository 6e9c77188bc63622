import Integrity
import Testing
@testable import TUF

@Suite("Delegation matching")
struct DelegationMatchingTests {
    @Test("path patterns match per '/'-separated part, like python-tuf's fnmatch", arguments: [
        ("README.md", "*.md", true),
        ("releases/README.md", "*.md", false),          // '*' does not cross '/'
        ("releases/x/x_v1", "releases/*/*", true),
        ("releases/x", "releases/*/*", false),           // part counts differ
        ("foo-1.tgz", "foo-?.tgz", true),
        ("foo-alpha.tgz", "foo-?.tgz", false),
        ("README.MD", "*.md", false),                    // case-sensitive
        ("b.txt", "[a-c].txt", true),
        ("d.txt", "[a-c].txt", false),
        ("d.txt", "[!a-c].txt", true),
        ("[.txt", "[.txt", true),                        // an unclosed bracket is literal
        ("abcabd", "*ab?", true),                        // backtracking to the last '*'
        ("", "*", true),
        ("a/b", "a/b", true),
    ])
    func patterns(path: String, pattern: String, expected: Bool) {
        #expect(PathPattern.matches(path, pattern: pattern) == expected)
    }

    @Test("succinct hash bins name the same role as python-tuf's SuccinctRoles.get_role_for_target", arguments: [
        (1, ["bin-1", "bin-0", "bin-1"]),
        (8, ["bin-aa", "bin-7a", "bin-e3"]),
        (10, ["bin-2ab", "bin-1e9", "bin-38e"]),
    ])
    func succinctBins(bitLength: Int, expected: [String]) throws {
        let roles = try SuccinctRoles(.object(["keyids": .array([]), "threshold": .integer(1),
                                               "bit_length": .integer(Int64(bitLength)), "name_prefix": .string("bin")]),
                                      context: "succinct_roles")
        #expect(["file.txt", "a/b/c.tar.gz", ""].map(roles.roleName(for:)) == expected)
    }

    @Test("role file names are percent-encoded like Python's quote(name, safe=\"\")", arguments: [
        ("targets", "targets.json"), ("../escape", "..%2Fescape.json"), ("?", "%3F.json"), ("#", "%23.json"),
        ("/delegatedrole", "%2Fdelegatedrole.json"), ("a b%", "a%20b%25.json"), ("é", "%C3%A9.json"),
    ])
    func fileNames(role: String, fileName: String) {
        #expect(LocalStore.fileName(role) == fileName)
    }
}
