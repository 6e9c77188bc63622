// A daemon that embeds SelfUpgrade: it works through numbered items, keeps its progress in a
// state snapshot, and when a file named `upgrade-request` appears in its home (holding the path
// of a new build) it upgrades itself in place: same PID, same arguments, progress intact.
//
//   example-daemon init --home DIR        adopt this binary as the first version
//   example-daemon run --home DIR --items N    (or the home in AUTODEV_HOME)
//   example-daemon self-check --json      verification mode (run by the verifier)
import Glibc
import Platform
import SelfUpgrade
import Storage

// The verifier rehearses a restart with `run --items 0` (home in AUTODEV_HOME): start() confirms,
// there is no work, it exits 0.
let program = ProgramIdentity(name: "example-daemon", version: "1.0.0", protocolVersion: 1,
                              restartProbeArguments: ["run", "--items", "0"])

/// What survives a restart: the next item to process.
struct Progress: Codable, Sendable, Equatable {
    var nextItem = 1
}

func option(_ name: String) -> String? {
    guard let index = CommandLine.arguments.firstIndex(of: name), index + 1 < CommandLine.arguments.count else { return nil }
    return CommandLine.arguments[index + 1]
}

func fail(_ message: String) -> Never {
    FileHandleOutput.write("example-daemon: \(message)\n", to: 2)
    exit(1)
}

enum FileHandleOutput {
    static func write(_ text: String, to descriptor: Int32) {
        try? FileDescriptor(rawValue: descriptor, path: "output").writeAll(Array(text.utf8))
    }
}

let command = CommandLine.arguments.dropFirst().first ?? ""
if command == "self-check" {
    let report = SelfCheckReport(program: program.name, version: program.version, protocolVersion: program.protocolVersion,
                                 checks: SelfCheckReport.run([("alive", { "ok" })]))
    print(#"{"program":"\#(report.program)","version":"\#(report.version)","protocolVersion":\#(report.protocolVersion),"checks":[{"name":"alive","passed":true,"detail":"ok"}]}"#)
    exit(0)
}

guard let root = option("--home") ?? ProcessControl.environment("AUTODEV_HOME") else { fail("usage: example-daemon init|run --home DIR [--items N]") }
let home = Home(root: root, programName: program.name)
let progress = StateStore<Progress>(directory: home.state, name: "progress", schema: 1)

do {
    let upgrader = try Upgrader(home: home, program: program, health: { _ = try progress.load() })
    if command == "init" {
        let id = try upgrader.adopt(executable: try ProcessControl.executablePath())
        print("adopted \(id.short); run \(home.entryPoint)")
        exit(0)
    }

    // 1. Resume: finish a restart in progress (or recover from a crash) before anything else.
    if case .resumed(let resumption) = try upgrader.start() {
        print("pid \(ProcessControl.id): resumed after \(resumption.operation.rawValue) to \(resumption.to?.short ?? "?"): \(resumption.result.rawValue)")
    }

    // 2. Work, saving progress after every item.
    let items = Int(option("--items") ?? "10") ?? 10
    var state = try progress.load()?.state ?? Progress()
    while state.nextItem <= items {
        print("pid \(ProcessControl.id): item \(state.nextItem) by \(try home.currentVersion()?.short ?? "?")")
        state.nextItem += 1
        try progress.save(state)

        // 3. An upgrade request: verify, swap and exec the new build; this call returns only on failure.
        let request = home.root + "/upgrade-request"
        if let bytes = try? FileSystem.readFile(request) {
            try FileSystem.removeFile(request)
            let candidate = String(decoding: bytes, as: UTF8.self).split(separator: "\n").first.map(String.init) ?? ""
            var options = Upgrader.UpgradeOptions()
            let saved = state
            options.beforeRestart = { try progress.save(saved) }
            do {
                _ = try upgrader.upgrade(fromBinary: candidate, options: options)
            } catch {
                print("pid \(ProcessControl.id): upgrade refused: \(error)")
            }
        }
        usleep(5_000)
    }
    print("pid \(ProcessControl.id): done, \(items) items")
} catch {
    fail("\(error)")
}
