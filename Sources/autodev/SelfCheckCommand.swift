import FoundationEssentials
import Integrity
import Platform
import SelfUpgrade
import SourceUpgrade
import Storage

/// The verification mode a staged candidate is run in (inside the verifier's sandbox).
/// It never touches a home: its smoke checks work in a scratch directory under $TMPDIR.
enum SelfCheckCommand {
    static func run(_ arguments: ParsedArguments) throws -> Int32 {
        let scratch = (ProcessControl.environment("TMPDIR") ?? "/tmp") + "/autodev-self-check-\(ProcessControl.id)"
        try FileSystem.removeTree(scratch)
        try FileSystem.createDirectory(scratch, mode: 0o700, intermediates: true)
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
            ("journal", { () throws -> String in
                var journal = try Journal(path: scratch + "/journal")
                try journal.append(JournalRecord(.begin(transaction: "check", operation: .dryRun, from: nil, target: nil, source: nil)))
                try journal.append(JournalRecord(.abort(transaction: "check", reason: "self-check")))
                guard try Journal(path: scratch + "/journal").records == journal.records else { throw CheckFailure("journal did not read back") }
                return "wrote and read back 2 records"
            }),
            ("store", { () throws -> String in
                let home = Home(root: scratch + "/home")
                try home.createLayout()
                let staged = try VersionStore(home: home).stage(try ProcessControl.executablePath(), source: "self-check", transaction: "check")
                try home.setCurrent(staged.id)
                guard try home.currentVersion() == staged.id else { throw CheckFailure("current did not flip") }
                try VersionStore(home: home).verify(staged.id)
                return "staged and swapped own binary (\(staged.id.short), \(staged.size) bytes)"
            }),
        ])
        let state = arguments.value("state-copy").map { SelfCheckReport.checkState(AutodevState.store(directory: $0)) }
        let report = SelfCheckReport(program: autodevIdentity.name, version: autodevVersion, protocolVersion: autodevProtocol,
                                     checks: checks, state: state)
        if arguments.has("json") {
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
