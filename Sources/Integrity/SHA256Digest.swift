/// A SHA-256 digest: 32 bytes, compared in constant time, printed as lowercase hex.
public struct SHA256Digest: Sendable, Hashable, CustomStringConvertible, Codable {
    /// The 32 bytes, as four big-endian words held inline: a digest costs no allocation, and
    /// sets and dictionaries of versions (built on every read of the journal) hash and compare
    /// four words.
    private let words: (UInt64, UInt64, UInt64, UInt64)

    /// The 32 bytes of the digest.
    public var bytes: [UInt8] { withBytes { Array($0) } }

    /// Calls `body` with the 32 bytes, in order, without making an array of them.
    public func withBytes<Result>(_ body: (UnsafeRawBufferPointer) throws -> Result) rethrows -> Result {
        var inOrder = (words.0.bigEndian, words.1.bigEndian, words.2.bigEndian, words.3.bigEndian)
        return try withUnsafeBytes(of: &inOrder, body)
    }

    /// Wraps 32 bytes.
    public init(bytes: [UInt8]) {
        precondition(bytes.count == SHA256.byteCount, "a SHA-256 digest has 32 bytes")
        words = bytes.withUnsafeBytes { raw in
            func word(_ index: Int) -> UInt64 { UInt64(bigEndian: raw.loadUnaligned(fromByteOffset: index * 8, as: UInt64.self)) }
            return (word(0), word(1), word(2), word(3))
        }
    }

    /// Parses 64 hex digits (either case); nil if the text is anything else.
    public init?(hex: String) {
        guard hex.utf8.count == 2 * SHA256.byteCount, let bytes = Hex.decode(hex) else { return nil }
        self.init(bytes: bytes)
    }

    /// Lowercase hex, 64 digits.
    public var hex: String { withBytes { Hex.encode($0) } }
    public var description: String { hex }

    /// Compares without an early exit, so the time taken does not depend on where they differ.
    public static func == (lhs: SHA256Digest, rhs: SHA256Digest) -> Bool {
        ((lhs.words.0 ^ rhs.words.0) | (lhs.words.1 ^ rhs.words.1) | (lhs.words.2 ^ rhs.words.2) | (lhs.words.3 ^ rhs.words.3)) == 0
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(words.0)
        hasher.combine(words.1)
        hasher.combine(words.2)
        hasher.combine(words.3)
    }

    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let digest = SHA256Digest(hex: text) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "not a SHA-256 hex digest: \(text)"))
        }
        self = digest
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(hex)
    }
}

/// Comparisons whose running time does not depend on the contents.
public enum ConstantTime {
    /// True when both have the same length and bytes; examines every byte either way.
    public static func equals(_ lhs: [UInt8], _ rhs: [UInt8]) -> Bool {
        guard lhs.count == rhs.count else { return false }
        var difference: UInt8 = 0
        for index in lhs.indices { difference |= lhs[index] ^ rhs[index] }
        return difference == 0
    }
}

/// Hexadecimal text.
public enum Hex {
    /// Lowercase hex of `bytes`.
    public static func encode<Bytes: Sequence>(_ bytes: Bytes) -> String where Bytes.Element == UInt8 {
        if let text = bytes.withContiguousStorageIfAvailable({ encode(buffer: $0) }) { return text }
        return Array(bytes).withUnsafeBufferPointer { encode(buffer: $0) }
    }

    private static func encode(buffer: UnsafeBufferPointer<UInt8>) -> String {
        String(unsafeUninitializedCapacity: buffer.count * 2) { text in
            for (index, byte) in buffer.enumerated() {
                text[2 * index] = digit(byte >> 4)
                text[2 * index + 1] = digit(byte & 0x0f)
            }
            return buffer.count * 2
        }
    }

    private static func digit(_ value: UInt8) -> UInt8 {
        value < 10 ? UInt8(ascii: "0") + value : UInt8(ascii: "a") - 10 + value
    }

    /// Bytes of an even-length hex string (either case); nil for anything else.
    public static func decode(_ text: String) -> [UInt8]? {
        var text = text
        return text.withUTF8 { decode(utf8: $0) }
    }

    private static func decode(utf8: UnsafeBufferPointer<UInt8>) -> [UInt8]? {
        guard utf8.count % 2 == 0 else { return nil }
        // Filled in place (not `init(unsafeUninitializedCapacity:)`, whose buffer is made by
        // generic code that looks its type up at run time on every call: a journal's digests).
        var bytes = [UInt8](repeating: 0, count: utf8.count / 2)
        for index in bytes.indices {
            guard let high = value(utf8[2 * index]), let low = value(utf8[2 * index + 1]) else { return nil }
            bytes[index] = high << 4 | low
        }
        return bytes
    }

    /// True when every character is a hex digit.
    public static func isHexDigits(_ text: String) -> Bool {
        !text.isEmpty && text.utf8.allSatisfy { value($0) != nil }
    }

    private static func value(_ character: UInt8) -> UInt8? {
        switch character {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): character - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): character - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): character - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}
