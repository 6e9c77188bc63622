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

    static func diff(_ arguments: ParsedArguments) throws -> Int32 {
        guard arguments.positionals.count == 2 else {
            throw UsageError(message: "Expected two arguments: '<base>' and '<result>'", spec: CommandTree.releaseDiff)
        }
        let basePath = arguments.positionals[0], resultPath = arguments.positionals[1]
        try FileSystem.checkOutputPath(arguments.value("output") ?? resultPath + ".patch", distinctFrom: [basePath, resultPath])
        let base = try FileSystem.readInputFile(basePath, maxBytes: Delta.largestInputToMake, what: "the base of a patch to make (32 bytes of memory a byte)")
        let result = try FileSystem.readInputFile(resultPath, maxBytes: Delta.largestInputToMake, what: "the result of a patch to make (32 bytes of memory a byte)")
        let patch = try Delta.makePatch(from: base, to: result)
        let output = arguments.value("output") ?? resultPath + ".patch"
        try FileSystem.writeAtomically(output, patch)
        if arguments.has("json") {
            try Output.json(DiffReport(patch: output, patchSize: patch.count, baseSize: base.count, resultSize: result.count))
        } else {
            Output.out("Wrote \(Output.quoted(output)): \(patch.count) bytes turn \(base.count) into \(result.count)")
        }
        return ExitCode.success
    }

    static func patch(_ arguments: ParsedArguments) throws -> Int32 {
        guard arguments.positionals.count == 2 else {
            throw UsageError(message: "Expected two arguments: '<base>' and '<patch>'", spec: CommandTree.releasePatch)
        }
        guard let output = arguments.value("output") else {
            throw UsageError(message: "Missing expected option '--output <PATH>'", spec: CommandTree.releasePatch)
        }
        let basePath = arguments.positionals[0], patchPath = arguments.positionals[1]
        try FileSystem.checkOutputPath(output, distinctFrom: [basePath, patchPath])
        let base = try FileSystem.readInputFile(basePath, maxBytes: InputLimit.deltaFile, what: "a patch's base")
        let patch = try FileSystem.readInputFile(patchPath, maxBytes: InputLimit.deltaFile, what: "a patch")
        var result: [UInt8] = []
        // Room for the result the header names, up to 256 MiB (a header is not trusted yet: a
        // bad one is reported by apply, and a larger result grows the array as it comes).
        if let named = try? PatchHeader(parsing: patch) {
            result.reserveCapacity(min(named.resultSize, 256 << 20))
        }
        let header: PatchHeader
        do {
            // The result's SHA-256 is checked against the header's as it is rebuilt.
            header = try Delta.apply(.bytes(patch), to: base) { result.append(contentsOf: $0) }
        } catch {
            throw ReleaseError("Applying \(Output.quoted(patchPath)) to \(Output.quoted(basePath)) failed: \(error)")
        }
        try FileSystem.writeAtomically(output, result, mode: 0o755)
        let digest = header.resultSHA256
        if arguments.has("json") {
            try Output.json(PatchReport(result: output, resultSize: result.count, sha256: digest.hex))
        } else {
            Output.out("Wrote \(Output.quoted(output)): \(result.count) bytes, SHA-256 \(digest.hex) (verified)")
        }
        return ExitCode.success
    }
}
