// An HTTP/1.1 server that upgrades itself in place under load: same PID, the listening sockets
// handed to the new version across exec (no connection refused), the request count kept.
//
//   ExampleServer serve --home DIR --listen HOST:PORT    adopt this binary on first run, serve
//   ExampleServer upgrade --home DIR --from-binary PATH  ask the running server to upgrade
//   ExampleServer rollback --home DIR                    ask it to roll back
//   ExampleServer self-check --json                      verification mode (run by the verifier)
//   ExampleServer module-worker VERSION                  the handler module's worker (started by the server)
//
// `GET /` answers `<version> <id12> <requests served since the first start>`. Requests under
// `/handler` are answered by the `example-handler` module, a worker process the server hosts:
// `autodev modules reload example-handler --home DIR --from PATH` (or `--builtin 2`) replaces
// it while the server runs, without an upgrade and without refusing a connection. The server also
// runs under systemd socket activation (`systemd-socket-activate -l 8080 --fdname=http …`).
import ExampleHandler
import Foundation
import Handoff
import Modules
import SelfUpgrade

// The verifier rehearses a restart with `serve --exit-after-start` (home in EXAMPLE_SERVER_HOME):
// start() confirms, and it exits 0 before opening any listener (the sandbox has no network).
let program = ProgramIdentity(name: "example-server", version: ProgramIdentity.stampedVersion ?? "1.0.0", protocolVersion: 1,
                              restartProbeArguments: ["serve", "--exit-after-start"])

/// What survives upgrades: the requests served since the first start.
struct Count: Codable, Sendable, Equatable {
    var served = 0
}

func option(_ name: String) -> String? {
    guard let index = CommandLine.arguments.firstIndex(of: name), index + 1 < CommandLine.arguments.count else { return nil }
    return CommandLine.arguments[index + 1]
}

func say(_ line: String) {
    FileHandle.standardOutput.write(Data((line + "\n").utf8))
}

func fail(_ message: String, status: Int32 = 1) -> Never {
    FileHandle.standardError.write(Data("Error: \(message)\n".utf8))
    exit(status)
}

let usage = """
    Usage: ExampleServer serve --home DIR --listen HOST:PORT [--drain-seconds S] [--confirm-deadline S]
           ExampleServer upgrade --home DIR --from-binary PATH
           ExampleServer rollback --home DIR
           ExampleServer self-check --json
    """

let command = CommandLine.arguments.dropFirst().first ?? ""
switch command {
case "--version":
    say(program.version)
    exit(0)
case "-h", "--help", "help":
    say(usage)
    exit(0)
case "self-check":
    let report = SelfCheckReport(program: program.name, version: program.version, protocolVersion: program.protocolVersion,
                                 checks: SelfCheckReport.run([("request parser", {
                                     let request = try Request.parse(Array("GET / HTTP/1.1\r\nHost: x\r\n\r\n".utf8))
                                     guard request?.target == "/" else { throw Request.Malformed(reason: "parsed \(String(describing: request))") }
                                     return "ok"
                                 })]))
    say(String(decoding: try JSONEncoder().encode(report), as: UTF8.self))
    exit(0)
case "upgrade", "rollback":
    guard let home = option("--home") else { fail("Missing '--home'\n" + usage, status: 64) }
    var line = command
    if command == "upgrade" {
        guard let path = option("--from-binary") else { fail("Missing '--from-binary'\n" + usage, status: 64) }
        line += " " + URL(fileURLWithPath: path).standardizedFileURL.path
    }
    let result = ControlClient(path: home + "/control.sock").request(line)
    say(result.text)
    exit(result.confirmed ? 0 : 1)
case "module-worker":
    exit(ModuleWorker.main(Array(CommandLine.arguments.dropFirst(2)), versions: ExampleHandler.versions, latest: "1",
                           program: "ExampleServer module-worker"))
case "serve":
    serve()
default:
    fail("Unknown command '\(command)'\n" + usage, status: 64)
}

func serve() -> Never {
    guard let home = option("--home") ?? ProcessInfo.processInfo.environment[program.environmentPrefix + "HOME"] else {
        fail("Missing '--home'\n" + usage, status: 64)
    }
    misbehaveIfMarked()
    do {
        // 1. Take what the previous version (or systemd) passed, before anything else.
        let inherited = try Listeners.inherited()
        let counter = StateStore<Count>(directory: home + "/state", name: "count", schema: 1)
        var configuration = try Upgrader(homeDirectory: home, program: program).configuration
        if let text = option("--confirm-deadline") {
            guard let seconds = Double(text), seconds > 0 else { fail("Invalid '--confirm-deadline' \(text.debugDescription): expected seconds", status: 64) }
            configuration.confirmDeadlineSeconds = seconds
        }
        let upgrader = try Upgrader(homeDirectory: home, program: program, configuration: configuration,
                                    health: { _ = try counter.load() })
        if try upgrader.currentVersion() == nil {
            let executable = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")
            let id = try upgrader.adopt(executable: executable)
            say("adopted \(id.short) into \(home)")
        }
        // 2. Finish a restart in progress: a failed confirmation execs the old version with the listeners.
        let outcome = try upgrader.start(handoff: inherited.handoff)
        let startResult: String
        switch outcome {
        case .resumed(let resumption):
            startResult = "\(resumption.result.rawValue) \(resumption.operation.rawValue) to \(resumption.toVersion ?? "?") \(resumption.to?.short ?? "?")"
                + (resumption.reason.map { ": " + $0 } ?? "")
        case .fresh:
            startResult = "none"
        }
        if CommandLine.arguments.contains("--exit-after-start") { exit(0) }

        // 3. Open the listeners not inherited.
        var wanted: [(name: String, address: Listeners.Address)] = [("control", .unix(path: home + "/control.sock"))]
        if let text = option("--listen") {
            guard let address = Listeners.Address(text) else { fail("Invalid '--listen' \(text.debugDescription): expected HOST:PORT", status: 64) }
            wanted.insert(("http", address), at: 0)
        } else if inherited["http"] == nil {
            fail("Missing '--listen' (and no inherited listener named \"http\")\n" + usage, status: 64)
        }
        // Handed its HTTP listener (by a supervisor), it may run beside the version it replaces,
        // on the same home: it takes the control socket over. Started on its own, it refuses a
        // control socket another process listens on.
        let beside = inherited["http"] != nil
        let listeners = try inherited.opening(wanted, replacingLiveUnixSockets: beside)
        let http = listeners["http"]!, control = listeners["control"]!

        // The wake-up pipe is made without close-on-exec on purpose: the library closes at exec
        // every descriptor not handed off, whatever its flags.
        var pipeEnds: [Int32] = [0, 0]
        guard pipe(&pipeEnds) == 0 else { fail("pipe: \(String(cString: strerror(errno)))") }
        _ = fcntl(pipeEnds[0], F_SETFL, O_NONBLOCK)
        _ = fcntl(pipeEnds[1], F_SETFL, O_NONBLOCK)
        let coordinator = Coordinator(wake: pipeEnds[1])
        signal(SIGTERM, SIG_IGN)
        signal(SIGPIPE, SIG_IGN)
        let termination = DispatchSource.makeSignalSource(signal: SIGTERM, queue: .global())
        termination.setEventHandler { coordinator.terminate() }
        termination.resume()

        // 4. The handler module: the version its journal names, else version 1 built into this binary.
        let selfPath = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")
        var moduleOptions = HostOptions()
        // `modules reload example-handler --builtin N` runs this program's own version N.
        moduleOptions.builtInImage = { name, version in
            guard name == "example-handler", ExampleHandler.versions[version] != nil else { return nil }
            return ModuleImage(executable: selfPath, arguments: ["module-worker", version])
        }
        // A handler worker that crashed is started again (its count restarts at 0): say so.
        moduleOptions.workerEnded = { name, what in
            FileHandle.standardError.write(Data("ExampleServer: \(DisplayName.escaped(name)): \(DisplayName.line(what))\n".utf8))
        }
        let modules = try ModuleHost(directory: home + "/modules", options: moduleOptions)
        let builtIn = ModuleImage(executable: selfPath, arguments: ["module-worker", "1"])
        do {
            try modules.start("example-handler", image: try modules.journal.versions()["example-handler"]?.to ?? builtIn)
        } catch {
            try modules.start("example-handler", image: builtIn)
        }
        try modules.serveControl(replacingLive: beside)

        let drainSeconds = option("--drain-seconds").flatMap(Double.init) ?? 2
        let id = try runningVersion() ?? upgrader.currentVersion()?.short ?? "?"
        say("pid \(getpid()): \(program.version) \(id) serving on \(http.addressDescription)"
            + (http.isInherited ? " (inherited)" : "") + "; start: \(startResult)")
        // Under a supervisor or systemd (NOTIFY_SOCKET set): this process serves from now on.
        try? ServiceNotification.ready(status: "\(program.version) \(id) serving")
        var server = Server(http: http, control: control, coordinator: coordinator, wakeRead: pipeEnds[0],
                            banner: "\(program.version) \(id)", startResult: startResult, drainSeconds: drainSeconds,
                            launch: { verb, argument in
                                Thread.detachNewThread {
                                    transact(verb, argument, upgrader: upgrader, handoff: listeners.handoff, counter: counter,
                                             coordinator: coordinator, drainSeconds: drainSeconds)
                                }
                            },
                            save: { served in try? counter.save(Count(served: served)) },
                            handleInModule: { request in
                                (try? modules.send("example-handler", Array(request.utf8))).map { String(decoding: $0, as: UTF8.self) }
                            },
                            served: try counter.load()?.state.served ?? 0)
        server.run()
    } catch {
        fail("\(error)")
    }
}

/// Runs an upgrade or rollback on its own thread; returns only when it did not exec.
@Sendable func transact(_ verb: String, _ argument: String, upgrader: Upgrader, handoff: RestartHandoff,
                        counter: StateStore<Count>, coordinator: Coordinator, drainSeconds: Double) {
    var options = Upgrader.UpgradeOptions()
    options.handoff = handoff
    // A new version that does not confirm in time (crash, exit, hang) is replaced by this one.
    options.watchdog = true
    // An operator asked (`ExampleServer upgrade` or `rollback`): the restart-loop guard does not apply.
    options.explicit = true
    options.beforeRestart = {
        guard let served = coordinator.drain(within: drainSeconds + 5) else {
            throw DrainTimeout()
        }
        try counter.save(Count(served: served))
    }
    do {
        let outcome = verb == "upgrade"
            ? try upgrader.upgrade(fromBinary: argument, options: options)
            : try upgrader.rollback(to: nil, options: options)
        coordinator.finish(reply: "error: \(outcome.operation.rawValue) \(outcome.transaction) ended without a restart")
    } catch {
        coordinator.finish(reply: "error: \(error)")
    }
}

/// The first 12 hex digits of the version this process runs, when it runs from a version store
/// (`…/versions/<id>/<name>`: its own home's, or a supervisor's).
func runningVersion() -> String? {
    guard let path = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") else { return nil }
    let parts = path.split(separator: "/")
    guard parts.count >= 3, parts[parts.count - 3] == "versions", parts[parts.count - 2].count == 64 else { return nil }
    return String(parts[parts.count - 2].prefix(12))
}

struct DrainTimeout: Error, CustomStringConvertible {
    var description: String { "the server did not drain in time" }
}

/// Fault injection for the fallback tests: a binary whose last bytes carry `MISBEHAVE:crash`,
/// `MISBEHAVE:exit` or `MISBEHAVE:hang` does that when it serves after an upgrade's `exec`,
/// before it calls `start()`; never in verification (`<PREFIX>SANDBOX`, `--exit-after-start`).
func misbehaveIfMarked() {
    let environment = ProcessInfo.processInfo.environment
    guard environment[program.environmentPrefix + "SANDBOX"] == nil, environment[program.environmentPrefix + "TX"] != nil,
          !CommandLine.arguments.contains("--exit-after-start"),
          let handle = FileHandle(forReadingAtPath: "/proc/self/exe") else { return }
    defer { try? handle.close() }
    guard let size = try? handle.seekToEnd(), size > 64 else { return }
    try? handle.seek(toOffset: size - 64)
    let tail = String(decoding: (try? handle.readToEnd()) ?? Data(), as: UTF8.self)
    guard let range = tail.range(of: "MISBEHAVE:") else { return }
    switch tail[range.upperBound...].prefix { $0.isLetter } {
    case "crash": abort()
    case "exit": exit(0)
    case "hang": while true { sleep(60) }
    default: return
    }
}
