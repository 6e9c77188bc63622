import Integrity
import Platform

/// The length and the hashes a target lists, computed over its bytes as they stream by, so a
/// download is hashed while it is written and never read back. SHA-512 runs on a thread of its
/// own (``BackgroundSHA512``), SHA-256 in the caller: on two cores the two cost the longer one.
struct TargetDigest {
    /// The hash algorithms a target may list.
    static let algorithms: Set<String> = ["sha256", "sha512"]

    /// The bytes seen so far.
    private(set) var count = 0
    private var sha256 = SHA256()
    /// Only when the target lists SHA-512.
    private var sha512: BackgroundSHA512?

    /// An empty digest for the hashes `offer` lists.
    init(_ offer: ReleaseOffer) {
        sha512 = offer.hashes["sha512"] == nil ? nil : BackgroundSHA512()
    }

    /// Adds `bytes`.
    mutating func update(_ bytes: UnsafeRawBufferPointer) {
        count += bytes.count
        sha256.update(bufferPointer: bytes)
        sha512?.update(bufferPointer: bytes)
    }

    /// Checks the length and every hash against what `offer` lists; call once.
    /// - Throws: ``ReleaseChannelError`` `channel` naming the first mismatch.
    func check(_ offer: ReleaseOffer) throws(ReleaseChannelError) {
        guard count == offer.length else {
            throw ReleaseChannelError(.channel, "Target \(offer.shownPath) is \(count) bytes, the signed metadata lists \(offer.length)")
        }
        for (algorithm, expected) in offer.hashes.sorted(by: { $0.key < $1.key }) {
            let actual: String
            switch algorithm {
            case "sha256": actual = sha256.finalize().hex
            case "sha512": actual = Hex.encode(sha512?.finalize() ?? [])
            default: throw ReleaseChannelError(.channel, "Target \(offer.shownPath) lists a hash of unsupported algorithm \"\(algorithm)\"")
            }
            guard actual == expected.lowercased() else {
                throw ReleaseChannelError(.channel, "Target \(offer.shownPath) has \(algorithm) \(actual), the signed metadata lists \(expected)")
            }
        }
    }
}
