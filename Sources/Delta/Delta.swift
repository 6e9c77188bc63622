/// Binary patches between two versions of a file, in autodev's own format (docs/delta-format.md).
///
/// A patch names the SHA-256 and size of the file it applies to and of the file it makes. It is
/// made with bsdiff's idea (matches found in the base's suffix array, each extended while most
/// bytes agree, so that scattered changes become mostly-zero differences) and coded with an
/// adaptive binary range coder; for x86-64 ELF files the operands of calls and jumps are
/// predicted from where their targets moved, so code that only shifted costs almost nothing.
///
/// Invariants:
/// - `apply` writes nothing that does not come from a patch whose header matched the base, and
///   returns only after the whole result's size and SHA-256 equal the header's; a caller that
///   checked the header's result hash against a signed one has a verified file when it returns.
/// - Applying costs work linear in the result's size and memory of the base, plus tables below
///   0.7 bytes per result byte (the format allows one block per 64 result bytes), plus a
///   constant of about 1 MiB; the patch is read and the result written in 64 KiB pieces.
/// - Any damaged, truncated, extended or lying patch ends in a `DeltaError`, never a trap.
public enum Delta {
    /// How a patch is made.
    public struct Options: Sendable, Equatable {
        /// Predict x86-64 references: nil decides by the files (both x86-64 ELF).
        public var x86References: Bool?
        /// The format version to write: ``PatchHeader/currentVersion``, or 1 for readers that
        /// know only version 1 (its data costs one coded decision per copied byte, so it applies
        /// several times slower).
        public var formatVersion: UInt16

        /// - Parameters:
        ///   - x86References: predict x86-64 references; nil decides by the files.
        ///   - formatVersion: the format version to write, one of ``PatchHeader/readableVersions``.
        public init(x86References: Bool? = nil, formatVersion: UInt16 = PatchHeader.currentVersion) {
            self.x86References = x86References
            self.formatVersion = formatVersion
        }
    }
}
