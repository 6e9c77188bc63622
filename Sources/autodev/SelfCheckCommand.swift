import FoundationEssentials
import Integrity
import Platform
import SelfUpgrade
import SourceUpgrade

/// The verification mode a staged candidate is run in (inside the verifier's sandbox).
/// It never touches a home: its smoke checks work in a scratch directory under $TMPDIR.
extension SelfCheckCommand {
    static func run(_ arguments: SelfCheckCommand) throws -> Int32 {
        // A new directory with a name nobody can guess, in a TMPDIR that exists (nothing is
        // created above it): nothing planted at a predictable path is followed or removed.
        let base = ProcessControl.environment("TMPDIR").flatMap { $0.isEmpty ? nil : $0 } ?? "/tmp"
        let scratch = try FileSystem.createUniqueDirectory(in: base, prefix: "autodev-self-check-")
        defer { try? FileSystem.removeTree(scratch) }

        let checks = SelfCheckReport.run([
            ("sha256", { () throws -> String in
                let expected = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
                for implementation in [SHA256.Implementation.best, .portable] {
                    var hasher = SHA256(implementation: implementation)
                    hasher.update(data: Array("abc".utf8))
                    guard hasher.finalize().hex == expected else { throw CheckFailure("\(implementation) SHA-256 gave a wrong digest") }
                }
                return "known answer ok (\(SHA256.Implementation.best.rawValue))"
            }),
        ]) + SelfCheckReport.storageChecks(scratch: scratch, executable: try ProcessControl.executablePath())
        let state = arguments.stateCopy.map { SelfCheckReport.checkState(AutodevState.store(directory: $0)) }
        let report = SelfCheckReport(program: autodevIdentity.name, version: autodevVersion, protocolVersion: autodevProtocol,
                                     checks: checks, state: state)
        if arguments.json {
            try Output.json(report)
        } else {
            Output.out("autodev \(report.version), upgrade protocol \(report.protocolVersion)")
            for check in report.checks { Output.out("  \(check.passed ? "ok  " : "FAIL") \(check.name): \(check.detail)") }
            if let state = report.state {
                Output.out("  \(state.error == nil && state.roundTripEqual ? "ok  " : "FAIL") state: " +
                           (state.error ?? "schema \(state.foundSchema.map(String.init) ?? "none") → \(state.schema), round trip \(state.roundTripEqual ? "equal" : "differs at \(state.differences.joined(separator: ", "))")"))
            }
        }
        return report.passed ? ExitCode.success : ExitCode.failure
    }

    struct CheckFailure: Error, CustomStringConvertible {
        var description: String
        init(_ description: String) { self.description = description }
    }
}
