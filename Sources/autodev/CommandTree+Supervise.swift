// Supervising any program.

struct SuperviseUpgradeCommand: ParsableCommand {
    static var configuration: CommandConfiguration {
        CommandConfiguration(
            path: ["supervise", "upgrade"],
            abstract: "Upgrade the supervised program with zero downtime, by overlap.",
            discussion: "Asks the running supervisor (through <home>/supervise.sock) to stage the binary, start it beside the running version on the same listeners, wait for its READY=1 (sd_notify), make it current, then stop the old version with SIGTERM (it drains; SIGKILL after the stop timeout). A new version that exits or is not ready in time is stopped; the old one keeps serving and the transaction is journaled as aborted. Exit 0 once the new version serves. With --next-start, stage and make the binary current without running it (the program runs it after it exits with status 42): no supervisor is needed, and one that ends before it is ready is rolled back by the supervisor.")
    }

    @Option(CommandTree.superviseHome) var home: String?
    @Option(name: "from-binary", value: "PATH", help: "The new version of the program.") var fromBinary: String?
    @Flag(name: "next-start", help: "Only stage it and make it current; it runs from the program's next start.") var nextStart: Bool
    @Flag(CommandSpec.json) var json: Bool

    func run() throws -> Int32 { try SuperviseCommands.upgrade(self) }
}

struct SuperviseRollbackCommand: ParsableCommand {
    static var configuration: CommandConfiguration {
        CommandConfiguration(
            path: ["supervise", "rollback"],
            abstract: "Return the supervised program to its previous version, by overlap.",
            discussion: "The same overlap as an upgrade, with the version before the current one in history (its hash checked first).")
    }

    @Option(CommandTree.superviseHome) var home: String?
    @Flag(CommandSpec.json) var json: Bool

    func run() throws -> Int32 { try SuperviseCommands.rollback(self) }
}

struct SuperviseStatusCommand: ParsableCommand {
    static var configuration: CommandConfiguration {
        CommandConfiguration(
            path: ["supervise", "status"],
            abstract: "Show the supervised program's version, pid, readiness and listeners.")
    }

    @Option(CommandTree.superviseHome) var home: String?
    @Flag(CommandSpec.json) var json: Bool

    func run() throws -> Int32 { try SuperviseCommands.status(self) }
}

struct SuperviseCommand: Command {
    static var configuration: CommandConfiguration {
        CommandConfiguration(
            path: ["supervise"],
            abstract: "Run a program from a home, pass it listeners, restart it, upgrade it by overlap.",
            discussion: "Usage: autodev supervise --home DIR [--listen [NAME=]HOST:PORT ...] -- PROGRAM ARGS...\n\nA new home adopts PROGRAM as its first version; afterwards the home's current version runs, with ARGS (argv[0] is PROGRAM as given). The listeners (opened here, or inherited by the systemd convention) reach the program as LISTEN_FDS, LISTEN_PID (its own pid), LISTEN_FDNAMES, descriptors from 3; NOTIFY_SOCKET is the supervisor's, for READY=1. Exit status 42 restarts the program into the current version; every restart, after a crash or an exit 42 alike, waits a backoff (0.1 s doubling for each end in a row, at most 10 s, reset after 10 s of readiness); a version that ends in any way (a crash, 0, 42) before it ever said READY=1 is rolled back to the last one that did. SIGTERM, SIGINT and SIGHUP are forwarded; after SIGTERM or SIGINT the supervisor waits for the program (SIGKILL after the stop timeout) and exits with its status. Everything the program starts ends with it and with the supervisor (a cgroup v2 leaf where the machine allows, else the supervisor is a child subreaper; AUTODEV_PROCESS_TREES=subreaper chooses the latter). A --listen socket path another process listens on is refused. A program that exits 0 on its own ends the supervisor (status 0). Only this user (or root) may use the control socket. Under systemd (NOTIFY_SOCKET set) it sends MAINPID, READY=1, RELOADING=1 during upgrades, STOPPING=1.",
            subcommands: [SuperviseUpgradeCommand.self, SuperviseRollbackCommand.self, SuperviseStatusCommand.self])
    }

    @Arguments("program", help: "After '--': the program (adopted into a new home) and its arguments.") var program: [String]
    @Option(CommandTree.superviseHome) var home: String?
    @RepeatedOption(name: "listen", value: "ADDRESS", help: "A listener to open: [NAME=]HOST:PORT, [IPv6]:PORT or a socket path; repeatable. Unnamed ones are http, http-2, …") var listen: [String]
    @Option(name: "ready", value: "MODE", help: "notify: the program says READY=1 (default); started: ready once running.") var ready: String?
    @Option(name: "ready-timeout", value: "SECONDS", help: "How long a new version has to be ready in an upgrade (default 30).") var readyTimeout: String?
    @Option(name: "stop-timeout", value: "SECONDS", help: "How long a stopped version has to exit after SIGTERM before SIGKILL (default 10).") var stopTimeout: String?
    @Flag(CommandSpec.json) var json: Bool

    static func main(_ words: ArraySlice<String>) throws -> Int32 { try SuperviseCommands.run(words) }
}
