import Delta
import Integrity
import Platform

/// `release diff` and `release patch`: the delta format on files named by the user.
enum DeltaCommands {
    /// What `release diff --json` prints.
    struct DiffReport: Encodable {
        let patch: String
        let patchSize: Int
        let baseSize: Int
        let resultSize: Int
    }

    /// What `release patch --json` prints.
    struct PatchReport: Encodable {
        let result: String
        let resultSize: Int
        let sha256: String
    }

    static func diff(_ arguments: ReleaseDiffCommand) throws -> Int32 {
        guard let basePath = arguments.base, let resultPath = arguments.result else {
            throw UsageError(message: "Expected two arguments: '<base>' and '<result>'", spec: ReleaseDiffCommand.spec)
        }
        try FileSystem.checkOutputPath(arguments.output ?? resultPath + ".patch", distinctFrom: [basePath, resultPath])
        let base = try FileSystem.readInputFile(basePath, maxBytes: Delta.largestInputToMake, what: "the base of a patch to make (32 bytes of memory a byte)")
        let result = try FileSystem.readInputFile(resultPath, maxBytes: Delta.largestInputToMake, what: "the result of a patch to make (32 bytes of memory a byte)")
        let patch = try Delta.makePatch(from: base, to: result)
        let output = arguments.output ?? resultPath + ".patch"
        try FileSystem.writeAtomically(output, patch)
        if arguments.json {
            try Output.json(DiffReport(patch: output, patchSize: patch.count, baseSize: base.count, resultSize: result.count))
        } else {
            Output.out("Wrote \(Output.quoted(output)): \(patch.count) bytes turn \(base.count) into \(result.count)")
        }
        return ExitCode.success
    }

    static func patch(_ arguments: ReleasePatchCommand) throws -> Int32 {
        guard let basePath = arguments.base, let patchPath = arguments.patch else {
            throw UsageError(message: "Expected two arguments: '<base>' and '<patch>'", spec: ReleasePatchCommand.spec)
        }
        guard let output = arguments.output else {
            throw UsageError(message: "Missing expected option '--output <PATH>'", spec: ReleasePatchCommand.spec)
        }
        try FileSystem.checkOutputPath(output, distinctFrom: [basePath, patchPath])
        let failed = { (reason: Any) in ReleaseError("Applying \(Output.quoted(patchPath)) to \(Output.quoted(basePath)) failed: \(reason)") }
        // The patch is streamed, never held. Its header is read first: a file that is not a
        // patch, or one for another base, is refused before the base is read.
        let patchFile = try FileSystem.openInputFile(patchPath, what: "a patch")
        defer { try? patchFile.close() }
        var prefix = [UInt8](repeating: 0, count: PatchHeader.maximumByteCount)
        var prefixCount = 0
        while prefixCount < prefix.count {
            let count = try prefix.withUnsafeMutableBytes { try patchFile.read(into: UnsafeMutableRawBufferPointer(rebasing: $0[prefixCount...])) }
            if count == 0 { break }
            prefixCount += count
        }
        let named: PatchHeader
        do {
            named = try PatchHeader(parsing: prefix[..<prefixCount])
        } catch {
            throw failed(error)
        }
        let baseFile = try FileSystem.openInputFile(basePath, what: "a patch's base")
        let baseSize = try baseFile.status().size
        try? baseFile.close()
        guard baseSize == named.baseSize else {
            throw failed("The patch applies to a file of \(named.baseSize) bytes, not this one of \(baseSize)")
        }
        let base = try FileSystem.readInputFile(basePath, maxBytes: InputLimit.deltaFile, what: "a patch's base")
        var served = 0
        let reader = PatchReader { buffer in
            if served < prefixCount {
                let count = min(buffer.count, prefixCount - served)
                prefix.withUnsafeBytes { buffer.copyMemory(from: UnsafeRawBufferPointer(rebasing: $0[served..<served + count])) }
                served += count
                return count
            }
            return try patchFile.read(into: buffer)
        }
        // The result is streamed into a temporary sibling of the output, renamed over it only
        // once its SHA-256 is the header's; SIGINT or SIGTERM stops it and removes what was written.
        Cancellation.install()
        var resultSize = 0
        let header: PatchHeader
        do {
            var applied: PatchHeader?
            try FileSystem.writeAtomically(output, mode: 0o755) { write in
                applied = try Delta.apply(reader, to: base) { piece in
                    if Cancellation.signal != 0 { throw Subprocess.Cancelled(signal: Cancellation.signal) }
                    try write(piece)
                    resultSize += piece.count
                }
            }
            header = applied!
        } catch {
            // A signal reaches here as the decoder's write error: it is reported as itself.
            if Cancellation.signal != 0 {
                throw ReleaseError("Applying \(Output.quoted(patchPath)) to \(Output.quoted(basePath)) was stopped by signal \(Cancellation.signal); \(Output.quoted(output)) was left as it was")
            }
            if error is DeltaError { throw failed(error) }
            throw error
        }
        let digest = header.resultSHA256
        if arguments.json {
            try Output.json(PatchReport(result: output, resultSize: resultSize, sha256: digest.hex))
        } else {
            Output.out("Wrote \(Output.quoted(output)): \(resultSize) bytes, SHA-256 \(digest.hex) (verified)")
        }
        return ExitCode.success
    }
}
