import SelfUpgrade

struct Counters: Codable, Sendable, Equatable {
    var requests = 0
}

let program = ProgramIdentity(name: "mydaemon", version: "2.1.0", protocolVersion: 1)
let upgrader = try Upgrader(homeDirectory: "/var/lib/mydaemon", program: program)
let state = StateStore<Counters>(directory: upgrader.stateDirectory, name: "counters", schema: 1)

// First thing at every start: finish a restart in progress (confirm it; or, if this version
// fails its health check, roll back and exec the previous one: then this call does not
// return), or recover from a crash. It throws an UpgradeError only when the home is unusable.
switch try upgrader.start() {
case .resumed(let resumption):
    print("resumed after \(resumption.operation) to \(resumption.to?.short ?? "?"): \(resumption.result)")
case .fresh(let recovery):
    recovery.forEach { print("recovery: \($0)") }
}
var counters = try state.load()?.state ?? Counters()
counters.requests += 1

// When a new build is offered: stage, verify in a sandbox, swap, and exec it with the same PID,
// arguments and environment. On success this call does not return (the new version's start()
// confirms it). On failure it throws an UpgradeError and the running version is unchanged.
var options = Upgrader.UpgradeOptions()
options.beforeRestart = { [counters] in try state.save(counters) }
do {
    _ = try upgrader.upgrade(fromBinary: "/tmp/mydaemon-2.2.0", options: options)
} catch {
    print("upgrade refused (\(error.code)): \(error)")
}
