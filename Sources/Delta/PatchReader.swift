/// Where a patch is read from while it is applied: a function that fills a buffer and returns how
/// many bytes it wrote, 0 at the end. The decoder reads in 64 KiB pieces, never the whole patch.
public struct PatchReader {
    let read: (UnsafeMutableRawBufferPointer) throws -> Int

    /// - Parameter read: fills the buffer from the start, returns the count, 0 at the end of the
    ///   patch; an error it throws ends the decoding with `DeltaError.Code.io`.
    public init(_ read: @escaping (UnsafeMutableRawBufferPointer) throws -> Int) {
        self.read = read
    }

    /// Reads a patch held in memory.
    public static func bytes(_ bytes: [UInt8]) -> PatchReader {
        var offset = 0
        return PatchReader { buffer in
            let count = min(buffer.count, bytes.count - offset)
            guard count > 0 else { return 0 }
            bytes.withUnsafeBytes { source in
                buffer.copyMemory(from: UnsafeRawBufferPointer(rebasing: source[offset..<offset + count]))
            }
            offset += count
            return count
        }
    }
}
