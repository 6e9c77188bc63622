/// Delegation path patterns as the specification and python-tuf read them: the pattern and the
/// target path are split on "/", must have as many parts, and each part matches with shell
/// wildcards (`*` and `?` never cross a "/", `[seq]`, `[!seq]`), case-sensitively.
enum PathPattern {
    static func matches(_ path: String, pattern: String) -> Bool {
        let pathParts = path.split(separator: "/", omittingEmptySubsequences: false)
        let patternParts = pattern.split(separator: "/", omittingEmptySubsequences: false)
        guard pathParts.count == patternParts.count else { return false }
        return zip(pathParts, patternParts).allSatisfy { part, pattern in
            wildcard(Array(part.unicodeScalars), Array(pattern.unicodeScalars))
        }
    }

    /// fnmatch of one component, iterative with backtracking to the last `*`.
    static func wildcard(_ text: [Unicode.Scalar], _ pattern: [Unicode.Scalar]) -> Bool {
        var t = 0, p = 0
        var star: Int? = nil, starText = 0
        while t < text.count {
            if p < pattern.count {
                switch pattern[p] {
                case "*":
                    star = p
                    starText = t
                    p += 1
                    continue
                case "?":
                    t += 1; p += 1
                    continue
                case "[":
                    if let (matched, next) = bracket(text[t], pattern, from: p) {
                        if matched { t += 1; p = next; continue }
                    } else if text[t] == "[" {
                        t += 1; p += 1
                        continue
                    }
                default:
                    if pattern[p] == text[t] { t += 1; p += 1; continue }
                }
            }
            guard let star else { return false }
            p = star + 1
            starText += 1
            t = starText
        }
        while p < pattern.count, pattern[p] == "*" { p += 1 }
        return p == pattern.count
    }

    /// Matches `character` against the bracket expression at `pattern[start]`; nil when the
    /// bracket is not closed (then "[" is literal, as in fnmatch).
    private static func bracket(_ character: Unicode.Scalar, _ pattern: [Unicode.Scalar], from start: Int) -> (Bool, Int)? {
        var index = start + 1
        var negate = false
        if index < pattern.count, pattern[index] == "!" { negate = true; index += 1 }
        var matched = false
        var first = true
        while index < pattern.count {
            if pattern[index] == "]" && !first { return (matched != negate, index + 1) }
            first = false
            if index + 2 < pattern.count, pattern[index + 1] == "-", pattern[index + 2] != "]" {
                if pattern[index].value <= character.value && character.value <= pattern[index + 2].value { matched = true }
                index += 3
            } else {
                if pattern[index] == character { matched = true }
                index += 1
            }
        }
        return nil
    }
}
