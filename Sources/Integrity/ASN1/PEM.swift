/// PEM (RFC 7468): one `-----BEGIN label-----` … `-----END label-----` block of base64.
package enum PEM {
    /// The label and the DER bytes of the one block in `text`.
    ///
    /// Whitespace around the block and inside the base64 (spaces, tabs, LF, CRLF) is allowed;
    /// headers, a second block, text outside the block and non-canonical base64 are not.
    /// - Throws: ``KeyParsingError`` with code `malformedPEM`.
    package static func decode(_ text: String) throws -> (label: String, der: [UInt8]) {
        let lines = text.split(omittingEmptySubsequences: true, whereSeparator: { $0 == "\n" || $0 == "\r\n" || $0 == "\r" })
            .map { $0.trimmingWhitespace() }
            .filter { !$0.isEmpty }
        guard let first = lines.first, let last = lines.last, lines.count >= 2 else {
            throw KeyParsingError(.malformedPEM, "not a PEM block: no BEGIN and END lines")
        }
        let begin = "-----BEGIN ", end = "-----END ", dashes = "-----"
        guard first.hasPrefix(begin), first.hasSuffix(dashes), first.count > begin.count + dashes.count else {
            throw KeyParsingError(.malformedPEM, "not a PEM block: the first line is not -----BEGIN …-----")
        }
        let label = String(first.dropFirst(begin.count).dropLast(dashes.count))
        guard last == Substring(end + label + dashes) else {
            throw KeyParsingError(.malformedPEM, "the PEM block does not end with -----END \(label)-----")
        }
        var body = ""
        for line in lines.dropFirst().dropLast() {
            guard !line.contains("-----"), !line.contains(":") else {
                throw KeyParsingError(.malformedPEM, "the PEM block has headers or a second block")
            }
            body += line.filter { $0 != " " && $0 != "\t" }
        }
        guard !body.isEmpty, let der = Base64.decode(body) else {
            throw KeyParsingError(.malformedPEM, "the PEM body is not canonical base64")
        }
        return (label, der)
    }
}

extension Substring {
    fileprivate func trimmingWhitespace() -> Substring {
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\t" || $0 == "\r" || $0 == "\n" }
        guard let start = firstIndex(where: { !isSpace($0) }), let end = lastIndex(where: { !isSpace($0) }) else { return "" }
        return self[start...end]
    }
}
