// A daemon that embeds SelfUpgrade: it works through numbered items, keeps its progress in a
// state snapshot, and upgrades itself in place (same PID, same arguments, progress intact) when
// a file named `upgrade-request` appears in its home (holding the path of a new build), or when
// the release channel it follows offers a newer release (ChannelUpdate: checked in the
// background, installed between two items with every guard).
//
//   example-daemon init --home DIR        adopt this binary as the first version
//   example-daemon run --home DIR --items N [--item-ms MS] [--check-interval SECONDS (0.05-21600)]
//                                         (or the home in EXAMPLE_DAEMON_HOME)
//   example-daemon self-check --json      verification mode (run by the verifier)
//
// The channel is configured once with `autodev update configure --home DIR --channel URL
// --trusted-root ROOT`, and releases published with `autodev release add --program example-daemon`.
import ChannelUpdate
import Foundation
import ReleaseChannel
import SelfUpgrade

// The verifier rehearses a restart with `run --items 0` (home in EXAMPLE_DAEMON_HOME):
// start() confirms, there is no work, it exits 0.
let program = ProgramIdentity(name: "example-daemon", version: ProgramIdentity.stampedVersion ?? "1.0.0", protocolVersion: 1,
                              restartProbeArguments: ["run", "--items", "0"])

/// What survives a restart: the next item to process.
struct Progress: Codable, Sendable, Equatable {
    var nextItem = 1
}

func option(_ name: String) -> String? {
    guard let index = CommandLine.arguments.firstIndex(of: name), index + 1 < CommandLine.arguments.count else { return nil }
    return CommandLine.arguments[index + 1]
}

/// One line on standard output, written at once (nothing buffered is lost at exec).
func say(_ line: String) {
    FileHandle.standardOutput.write(Data((line + "\n").utf8))
}

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("example-daemon: \(message)\n".utf8))
    exit(1)
}

let command = CommandLine.arguments.dropFirst().first ?? ""
if command == "self-check" {
    let report = SelfCheckReport(program: program.name, version: program.version, protocolVersion: program.protocolVersion,
                                 checks: SelfCheckReport.run([("alive", { "ok" })]))
    say(String(decoding: try JSONEncoder().encode(report), as: UTF8.self))
    exit(0)
}

let environmentHome = ProcessInfo.processInfo.environment[program.environmentPrefix + "HOME"]
guard let root = option("--home") ?? environmentHome else { fail("usage: example-daemon init|run --home DIR [--items N]") }
let pid = getpid()

do {
    let stateDirectory = root + "/state"
    let progress = StateStore<Progress>(directory: stateDirectory, name: "progress", schema: 1)
    let upgrader = try Upgrader(homeDirectory: root, program: program, health: { _ = try progress.load() })
    if command == "init" {
        let executable = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")
        let id = try upgrader.adopt(executable: executable)
        say("adopted \(id.short); run \(root)/bin/\(program.name)")
        exit(0)
    }

    // 1. Resume: finish a restart in progress (or recover from a crash) before anything else.
    if case .resumed(let resumption) = try upgrader.start() {
        say("pid \(pid): resumed after \(resumption.operation.rawValue) to \(resumption.to?.short ?? "?"): \(resumption.result.rawValue)")
    }

    // The options, checked before any work: a value that does not parse is an error, not a default.
    func number(_ name: String, default value: Double, in range: ClosedRange<Double>, whole: Bool = true) -> Double {
        guard let text = option(name) else { return value }
        let shown = { (bound: Double) in bound == bound.rounded() ? String(Int(bound)) : String(bound) }
        guard let number = whole ? Int(text).map(Double.init) : Double(text), range.contains(number) else {
            fail("\(name) takes \(whole ? "a whole number" : "a number") from \(shown(range.lowerBound)) to \(shown(range.upperBound))")
        }
        return number
    }
    let items = Int(number("--items", default: 10, in: 0...1e9))
    let itemMilliseconds = Int(number("--item-ms", default: 5, in: 0...60_000))
    let interval = number("--check-interval", default: 1800, in: 0.05...21_600, whole: false)

    // 2. Follow the release channel, if one is configured (`autodev update configure` made its
    // directory): a check every --check-interval seconds (jittered), a newer release installed
    // at the first tick between two items. A channel configured but unusable is an error.
    var checker: BackgroundChecker?
    if FileManager.default.fileExists(atPath: root + "/channel") {
        let channel = try UpdateChannel.load(home: root)
        let update = try ChannelUpdate(channel: channel, upgrader: upgrader)
        var install = ChannelUpdate.InstallOptions()
        install.events = { event in
            if case .verified(let path) = event { say("pid \(pid): verified \(path)") }
        }
        checker = BackgroundChecker(following: update, timing: .init(interval: interval),
                                    policy: .all, start: ProcessInfo.processInfo.systemUptime, options: install,
                                    isIdle: { true },
                                    notify: { notice in
                                        if case .updateAvailable(let offer) = notice { say("pid \(pid): update available: \(offer.facts.version)") }
                                    })
        say("pid \(pid): version \(update.current), following \(channel.url)")
    }

    // 3. Work, saving progress after every item.
    var state = try progress.load()?.state ?? Progress()
    while state.nextItem <= items {
        say("pid \(pid): item \(state.nextItem) by \(try upgrader.currentVersion()?.short ?? "?")")
        state.nextItem += 1
        try progress.save(state)

        // Between two items the daemon is idle: a due check runs, and an offered release is
        // installed (the progress is saved, so the new version goes on from the next item).
        if let failure = checker?.tick(now: ProcessInfo.processInfo.systemUptime) {
            say("pid \(pid): update check or install failed: \(failure)")
        }

        // 4. An upgrade request: verify, swap and exec the new build; this call returns only on failure.
        let request = root + "/upgrade-request"
        if let bytes = FileManager.default.contents(atPath: request) {
            try FileManager.default.removeItem(atPath: request)
            let candidate = String(decoding: bytes, as: UTF8.self).split(separator: "\n").first.map(String.init) ?? ""
            var options = Upgrader.UpgradeOptions()
            let saved = state
            options.beforeRestart = {
                try progress.save(saved)
            }
            do {
                _ = try upgrader.upgrade(fromBinary: candidate, options: options)
            } catch {
                say("pid \(pid): upgrade refused (\(error.code)): \(error)")
            }
        }
        usleep(UInt32(itemMilliseconds * 1000))
    }
    say("pid \(pid): done, \(items) items")
} catch {
    fail("\(error)")
}
