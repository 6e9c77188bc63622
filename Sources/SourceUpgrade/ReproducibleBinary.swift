import Integrity
import Platform

/// Makes a built binary's bytes a function of its source alone.
///
/// Two builds of one commit in two clones (other paths, other users, other times) differ, once
/// symbols are stripped (as autodev's release build is), in two places only: `.swift_modhash`, a
/// 16-byte hash per compiled object that the compiler uses to skip regenerating an unchanged
/// object and that nothing reads at run time, and the linker's build id, a hash over the file
/// that includes them. Normalising zeroes the first and sets the second to the leading bytes of
/// the SHA-256 of the file so zeroed: the same source then gives the same bytes, and a change
/// that does not reach the binary (a comment, a test) gives the running version's own id.
public enum ReproducibleBinary {
    /// The largest binary normalised: 1 GiB.
    public static let largestFile = 1 << 30

    /// Normalises the ELF file at `path` in place (replaced atomically, mode 0755); anything
    /// else is left as it is.
    /// - Returns: whether the file changed.
    /// - Throws: ``SystemError`` when it cannot be read or replaced.
    @discardableResult
    public static func normalize(file path: String) throws -> Bool {
        var bytes = try FileSystem.readInputFile(path, maxBytes: largestFile, what: "a built binary")
        let before = bytes
        normalize(&bytes)
        guard bytes != before else { return false }
        try FileSystem.writeAtomically(path, bytes, mode: 0o755)
        return true
    }

    /// Normalises ELF `bytes` (see the type); anything else is left as it is.
    public static func normalize(_ bytes: inout [UInt8]) {
        guard let elf = bytes.withUnsafeBufferPointer({ ELFFile($0) }) else { return }
        for section in elf.sections where section.name == ".swift_modhash" && section.type != ELFFile.noBits {
            guard section.offset + section.size <= bytes.count else { continue }
            for i in section.offset..<(section.offset + section.size) { bytes[i] = 0 }
        }
        // The build id: a note (name size, descriptor size, type, "GNU\0", descriptor).
        guard let note = elf.sections.first(where: { $0.name == ".note.gnu.build-id" && $0.type != ELFFile.noBits }),
              note.size >= 16, note.offset + note.size <= bytes.count else { return }
        func word(_ at: Int) -> Int { Int(bytes[at]) | Int(bytes[at + 1]) << 8 | Int(bytes[at + 2]) << 16 | Int(bytes[at + 3]) << 24 }
        let nameSize = word(note.offset), descriptorSize = word(note.offset + 4)
        let start = note.offset + 12 + (nameSize + 3) / 4 * 4
        guard descriptorSize > 0, descriptorSize <= 64, start + descriptorSize <= note.offset + note.size else { return }
        for i in start..<(start + descriptorSize) { bytes[i] = 0 }
        let digest = Array(SHA256.hash(data: bytes).bytes.prefix(descriptorSize))
        for (i, byte) in digest.enumerated() { bytes[start + i] = byte }
    }
}
