/// A strict reader of ASN.1 DER (X.690 section 10): definite lengths in their shortest form,
/// single-byte tags, INTEGERs without redundant leading bytes, nothing after the last element.
///
/// Anything else (BER's indefinite or padded lengths, high tag numbers, truncation) throws
/// ``KeyParsingError`` with code `malformedDER`; the reader never traps, whatever the input.
package struct DERReader {
    /// Universal tags used by public keys and signatures.
    package enum Tag {
        package static let integer: UInt8 = 0x02
        package static let bitString: UInt8 = 0x03
        package static let octetString: UInt8 = 0x04
        package static let null: UInt8 = 0x05
        package static let objectIdentifier: UInt8 = 0x06
        package static let sequence: UInt8 = 0x30
    }

    private var bytes: ArraySlice<UInt8>

    /// A reader of the elements in `bytes`.
    package init<Bytes: Collection>(_ bytes: Bytes) where Bytes.Element == UInt8 {
        self.bytes = ArraySlice(bytes)
    }

    /// True when every element has been read.
    package var isAtEnd: Bool { bytes.isEmpty }

    // MARK: - API

    /// Reads the next element, which must have `tag`, and returns its content.
    package mutating func read(_ tag: UInt8) throws -> ArraySlice<UInt8> {
        guard let first = bytes.first else { throw Self.error("truncated: expected tag 0x\(Hex.encode([tag]))") }
        guard first == tag else { throw Self.error("expected tag 0x\(Hex.encode([tag])), found 0x\(Hex.encode([first]))") }
        return try readElement().content
    }

    /// Reads the next element, whatever its tag.
    package mutating func readElement() throws -> (tag: UInt8, content: ArraySlice<UInt8>) {
        guard let tag = bytes.first else { throw Self.error("truncated: no element") }
        guard tag & 0x1f != 0x1f else { throw Self.error("high tag numbers are not supported") }
        var index = bytes.index(after: bytes.startIndex)
        guard index < bytes.endIndex else { throw Self.error("truncated: no length") }
        let lengthByte = bytes[index]
        index += 1
        var length = 0
        if lengthByte < 0x80 {
            length = Int(lengthByte)
        } else {
            let count = Int(lengthByte & 0x7f)
            // 0x80 is BER's indefinite length; more than 4 length bytes is no key or signature.
            guard count >= 1, count <= 4 else { throw Self.error("unsupported length form 0x\(Hex.encode([lengthByte]))") }
            guard bytes.endIndex - index >= count else { throw Self.error("truncated length") }
            guard bytes[index] != 0 else { throw Self.error("length with a leading zero byte") }
            for _ in 0..<count {
                length = length << 8 | Int(bytes[index])
                index += 1
            }
            guard length >= 0x80 else { throw Self.error("long-form length \(length) that fits the short form") }
        }
        guard bytes.endIndex - index >= length else { throw Self.error("truncated: \(length) bytes announced, \(bytes.endIndex - index) left") }
        let content = bytes[index..<(index + length)]
        bytes = bytes[(index + length)...]
        return (tag, content)
    }

    /// Reads a SEQUENCE and returns a reader of its elements.
    package mutating func readSequence() throws -> DERReader {
        DERReader(try read(Tag.sequence))
    }

    /// Reads a non-negative INTEGER and returns its magnitude, big-endian, without the zero byte
    /// DER puts before a high bit (zero is one `0x00` byte read as an empty magnitude).
    /// - Throws: for a negative or non-minimal encoding.
    package mutating func readUnsignedInteger() throws -> ArraySlice<UInt8> {
        let content = try read(Tag.integer)
        guard let first = content.first else { throw Self.error("empty INTEGER") }
        guard first & 0x80 == 0 else { throw Self.error("negative INTEGER") }
        if first == 0 {
            let rest = content.dropFirst()
            if let second = rest.first, second & 0x80 == 0 { throw Self.error("INTEGER with a redundant leading zero") }
            return rest
        }
        return content
    }

    /// Reads a NULL.
    package mutating func readNull() throws {
        guard try read(Tag.null).isEmpty else { throw Self.error("NULL with content") }
    }

    /// Reads a BIT STRING whose length is a whole number of bytes and returns those bytes.
    package mutating func readBitString() throws -> ArraySlice<UInt8> {
        let content = try read(Tag.bitString)
        guard let unused = content.first else { throw Self.error("empty BIT STRING") }
        guard unused == 0 else { throw Self.error("BIT STRING with \(unused) unused bits") }
        return content.dropFirst()
    }

    /// Throws unless every element has been read.
    package func finish() throws {
        guard isAtEnd else { throw Self.error("\(bytes.count) trailing bytes") }
    }

    // MARK: - Internals

    private static func error(_ message: String) -> KeyParsingError {
        KeyParsingError(.malformedDER, "not strict DER: \(message)")
    }
}
