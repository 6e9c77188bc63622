import Platform

extension SHA256 {
    /// The digest of a file, hashed from a read-only mapping (never copied whole into memory).
    /// - Throws: ``SystemError`` "open", "stat" or "map".
    public static func hash(file path: String) throws -> SHA256Digest {
        let fd = try FileDescriptor.open(path)
        defer { try? fd.close() }
        let info = try fd.status()
        guard info.kind == .regular else { return try hashStream(fd) }
        return try fd.withMappedBytes(length: info.size) { bytes in
            var hasher = SHA256()
            hasher.update(bufferPointer: bytes)
            return hasher.finalize()
        }
    }

    /// The digest of what can be read from `fd` (pipes, terminals), in 1 MiB chunks.
    private static func hashStream(_ fd: FileDescriptor) throws -> SHA256Digest {
        var hasher = SHA256()
        try fd.readChunks { hasher.update(bufferPointer: $0) }
        return hasher.finalize()
    }
}
