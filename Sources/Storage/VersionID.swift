import Integrity

/// A version's id: the SHA-256 of its binary. Shown abbreviated to 12 hex digits.
package typealias SHA256DigestID = SHA256Digest

extension SHA256Digest {
    /// The abbreviated form shown to people.
    package var short: String { String(hex.prefix(12)) }

    /// Finds the one id among `candidates` that starts with `prefix` (at least 7 hex digits).
    /// - Throws: ``StorageError`` when the prefix is too short, unknown or ambiguous.
    package static func resolve(prefix: String, among candidates: some Sequence<SHA256Digest>) throws(StorageError) -> SHA256Digest {
        let lowered = prefix.lowercased()
        guard lowered.count >= 7, lowered.count <= 64, Hex.isHexDigits(lowered) else {
            throw .invalidVersionPrefix(prefix)
        }
        let matches = Set(candidates.filter { $0.hex.hasPrefix(lowered) })
        guard let first = matches.first else { throw .unknownVersion(prefix: prefix) }
        guard matches.count == 1 else { throw .ambiguousVersion(prefix: prefix, matches: matches.map(\.hex).sorted()) }
        return first
    }
}
