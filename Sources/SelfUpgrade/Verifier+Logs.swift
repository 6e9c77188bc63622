import Platform

extension Verifier {
    /// Where the candidate's output goes: files inside the sandbox (each bounded by
    /// RLIMIT_FSIZE), removed with it once their tails are kept.
    struct SandboxOutputs: Sendable {
        let directory: String
        var selfCheckOut: String { directory + "/self-check.out" }
        var selfCheckErr: String { directory + "/self-check.err" }
        var restartOut: String { directory + "/restart.out" }
        var restartErr: String { directory + "/restart.err" }

        /// The last `limit` bytes of the files taken one after the other (missing ones are
        /// empty), and how many bytes before them were left out.
        static func tail(of paths: [String], limit: Int) -> (bytes: [UInt8], omitted: Int) {
            let sizes = paths.map { (try? FileSystem.status($0, followLinks: false)).map { $0.kind == .regular ? $0.size : 0 } ?? 0 }
            var skip = max(0, sizes.reduce(0, +) - limit)
            let omitted = skip
            var bytes: [UInt8] = []
            for (path, size) in zip(paths, sizes) {
                guard skip < size else {
                    skip -= size
                    continue
                }
                bytes += read(path, from: skip, count: size - skip)
                skip = 0
            }
            return (Array(bytes.suffix(limit)), omitted)
        }

        /// Up to `count` bytes of `path` from `offset`; what could be read.
        private static func read(_ path: String, from offset: Int, count: Int) -> [UInt8] {
            // Never through a link, whoever could have put one there.
            guard let fd = try? FileDescriptor.open(path, [.noFollow, .nonBlocking]) else { return [] }
            defer { try? fd.close() }
            guard fd.seek(to: offset) else { return [] }
            var result = [UInt8](repeating: 0, count: count)
            var filled = 0
            while filled < count {
                let got = result.withUnsafeMutableBytes { raw in
                    (try? fd.read(into: UnsafeMutableRawBufferPointer(rebasing: raw[filled...]))) ?? 0
                }
                if got <= 0 { break }
                filled += got
            }
            return Array(result.prefix(filled))
        }
    }

    /// Keeps the last ``keptLogBytes`` of the candidate's standard output and of its standard
    /// error (both runs) as `verify.out` and `verify.err`, each preceded by a line saying how
    /// many bytes were left out when some were. Best effort: a log that cannot be written does
    /// not change the verdict.
    func keepLogs(_ outputs: SandboxOutputs, in logDirectory: String) {
        for (sources, name) in [([outputs.selfCheckOut, outputs.restartOut], "verify.out"),
                                ([outputs.selfCheckErr, outputs.restartErr], "verify.err")] {
            let (bytes, omitted) = SandboxOutputs.tail(of: sources, limit: Self.keptLogBytes)
            let note = omitted > 0 ? Array("[autodev: \(omitted) earlier bytes left out; the last \(Self.keptLogBytes) follow]\n".utf8) : []
            let path = logDirectory + "/" + name
            guard let fd = try? FileDescriptor.openOwned(path, [.writeOnly, .create, .truncate], mode: 0o644) else { continue }
            try? fd.writeAll(note + bytes)
            try? fd.close()
        }
    }
}
