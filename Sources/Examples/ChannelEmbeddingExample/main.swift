import ChannelUpdate
import ReleaseChannel
import SelfUpgrade

let program = ProgramIdentity(name: "mydaemon", version: "2.1.0", protocolVersion: 1)
let upgrader = try Upgrader(homeDirectory: "/var/lib/mydaemon", program: program)
_ = try upgrader.start()

// The channel was configured once with `autodev update configure --home /var/lib/mydaemon
// --channel URL --trusted-root ROOT`; releases are published with `autodev release add
// --program mydaemon`. The guards are the library's: signed metadata, the downgrade floor, a
// binary a package manager owns refused, the candidate's version and hash required.
let update = try ChannelUpdate(channel: try UpdateChannel.load(home: upgrader.homeDirectory), upgrader: upgrader)
var requestsInFlight = 0
var checker = BackgroundChecker(following: update, timing: .init(interval: 1800), policy: .all, start: 0,
                                isIdle: { requestsInFlight == 0 },
                                notify: { notice in print("update: \(notice)") })

// The daemon's own loop calls tick as often as it likes: a check runs when one is due, and an
// offered release is installed when the daemon is idle. The new version is exec'd in place
// (same PID); tick does not return then. A failed check or install leaves this version running.
func serveForAMinute() {}
var clock = 0.0
while true {
    serveForAMinute()
    clock += 60
    if let failure = checker.tick(now: clock) { print("update failed: \(failure)") }
}
