// swift-tools-version:6.0
import PackageDescription

/// Linker scripts of the release build (scripts/link), by absolute path: the linker's working
/// directory is not the package's.
let linkScripts = String(#filePath.dropLast("Package.swift".count)) + "scripts/link"

// Test hooks (FailPoint, the module fault, the forced subreaper) exist in debug builds only;
// scripts/test makes a release build with them (-DAUTODEV_TEST_HOOKS) for the crash tests,
// beside the shipped one, which has none.
let testHooks: [SwiftSetting] = [.define("AUTODEV_TEST_HOOKS", .when(configuration: .debug))]

/// Release builds make the metadata of a generic type with concrete arguments (`Set<String>`,
/// `Optional<Checkpoint>`) by calling its accessor, not by demangling its name at run time: a
/// demangled name's requirements are checked by scanning every protocol conformance in the
/// binary (4,400) the first time in each process, 0.4 ms of a 5.5 ms rollback
/// (docs/benchmarks.md). The flag is an unsafe one, which SwiftPM refuses in a package that
/// another depends on by version or branch: such a package is checked out under `checkouts/`,
/// and builds there without the flag (the same program, its restarts that much slower).
let directMetadata: [SwiftSetting] = #filePath.contains("/checkouts/") ? [] : [
    .unsafeFlags(["-Xfrontend", "-disable-concrete-type-metadata-mangled-name-accessors"], .when(configuration: .release)),
]

/// Release builds put each function in a section of its own, and the autodev binary's linker lays
/// out first the functions a rollback and its restart run (scripts/link/hot-functions.txt, made
/// by scripts/hot-functions): the code a command runs sits in a few pages instead of being
/// spread over the whole 18 MB text, so each process maps fewer pages (a rollback's two: about
/// 490 page faults → 450, docs/benchmarks.md). The same unsafe flags, and the same exception, as
/// above.
let ownSections = !#filePath.contains("/checkouts/")
let functionSections: [SwiftSetting] = ownSections ? [.unsafeFlags(["-Xfrontend", "-function-sections"], .when(configuration: .release))] : []
let cFunctionSections: [CSetting] = ownSections ? [.unsafeFlags(["-ffunction-sections"], .when(configuration: .release))] : []
/// Keeps the release binary's symbol table (scripts/hot-functions profiles such a build).
let keepSymbols = Context.environment["AUTODEV_KEEP_SYMBOLS"] == "1"

let package = Package(
    name: "autodev",
    products: [
        // The engine any tool or daemon embeds: stage, verify, swap, restart, confirm, roll back.
        .library(name: "SelfUpgrade", targets: ["SelfUpgrade"]),
        // For programs that rebuild themselves from their Swift source.
        .library(name: "SourceUpgrade", targets: ["SourceUpgrade"]),
        // Listening sockets that survive the exec restart (systemd socket-activation convention).
        .library(name: "Handoff", targets: ["Handoff"]),
        // Hot reload: modules in worker processes, reloaded in eight journaled phases.
        .library(name: "Modules", targets: ["Modules"]),
        // Checks and repairs of a whole home: stored versions, links, journal, state, channel, modules.
        .library(name: "Doctor", targets: ["Doctor"]),
        // Following a release channel: the update decided and guarded (floor, package manager,
        // version), downloaded (by patch when one fits) and installed through SelfUpgrade.
        .library(name: "ChannelUpdate", targets: ["ChannelUpdate", "ReleaseChannel"]),
        // Supervising any program: its listeners passed on, restarts, upgrades by overlap.
        .library(name: "Supervisor", targets: ["Supervisor"]),
        // The agent's loop: proposals judged and turned into the running version.
        .library(name: "Agent", targets: ["Agent"]),
        // A TUF client (specification 1.0, section 5) and binary patches, usable on their own.
        .library(name: "TUF", targets: ["TUF"]),
        .library(name: "Delta", targets: ["Delta"]),
        // What the others' public API is made of: typed system calls and their errors, SHA-256.
        .library(name: "Platform", targets: ["Platform"]),
        .library(name: "Integrity", targets: ["Integrity"]),
        .executable(name: "autodev", targets: ["autodev"]),
        // Module workers built on their own by `autodev modules build`.
        .executable(name: "counter-module", targets: ["CounterWorker"]),
        .executable(name: "example-handler-module", targets: ["ExampleHandlerWorker"]),
        .executable(name: "ExampleServer", targets: ["ExampleServer"]),
    ],
    targets: [
        // Typed POSIX: descriptors, errno, atomic replace, exec, spawn, flock.
        .target(name: "CPlatform"),
        .target(name: "Platform", dependencies: ["CPlatform"], swiftSettings: testHooks),
        // OpenSSL 3 loaded with dlopen at the first https download; never linked.
        .target(name: "CTLS", linkerSettings: [.linkedLibrary("dl")]),
        // http, https and file downloads with caps, timeouts, redirects and resumption.
        .target(name: "Transport", dependencies: ["Platform", "CTLS", "Integrity"]),
        // SHA-256 (SHA-NI accelerated with a portable fallback), CRC-32, hex.
        .target(name: "CIntegrity"),
        .target(name: "Integrity", dependencies: ["CIntegrity", "Platform"]),
        // Binary patches in our own format: suffix-array matching, x86-64 branch prediction, a range coder.
        .target(name: "Delta", dependencies: ["Integrity"]),
        // Journal, version store, state snapshots, the home layout.
        .target(name: "Storage", dependencies: ["Platform", "Integrity"]),
        // The transaction: steps, recovery, rollback, verifier, restarter.
        .target(name: "SelfUpgrade", dependencies: ["Storage", "Platform", "Integrity"], swiftSettings: testHooks),
        // Named listening sockets: inherited by the systemd convention, passed on across exec.
        .target(name: "Handoff", dependencies: ["SelfUpgrade", "Platform"]),
        // A launcher for any program: listeners passed by the systemd convention, restarts, upgrades by overlap, sd_notify.
        .target(name: "Supervisor", dependencies: ["SelfUpgrade", "Handoff", "Platform"]),
        // Candidates built from Swift source: swift build and swift test side by side, journaled.
        .target(name: "SourceUpgrade", dependencies: ["SelfUpgrade", "Storage", "Platform", "Integrity"]),
        // TUF client (specification 1.0, section 5): metadata, trust, delegations, verified downloads.
        .target(name: "TUF", dependencies: ["Integrity", "Platform", "Transport"]),
        // Release repositories (publishing with our own keys) and the update channel an installation follows.
        .target(name: "ReleaseChannel", dependencies: ["TUF", "Integrity", "Platform", "Transport", "Delta"]),
        // The whole update of an installation from its channel: check, guards, download, upgrade, acceptance.
        .target(name: "ChannelUpdate", dependencies: ["ReleaseChannel", "SelfUpgrade", "Platform"]),
        // The agent's loop: proposals in, source upgrades out; its memory, the git working copy.
        .target(name: "Agent", dependencies: ["SelfUpgrade", "SourceUpgrade", "Modules", "Storage", "Platform", "Integrity"]),
        // Hot reload of modules: the worker kit, the host and its journal.
        .target(name: "Modules", dependencies: ["Platform", "Integrity"], swiftSettings: testHooks),
        // Checks everything a home holds and repairs it from trusted sources; snapshots of state and configuration.
        .target(name: "Doctor", dependencies: ["SelfUpgrade", "Storage", "Platform", "Integrity", "TUF", "ReleaseChannel", "Modules"]),
        // Reloadable modules, a target each: a stateful counter and the example server's handler.
        .target(name: "CounterModule", dependencies: ["Modules"], path: "Sources/Examples/CounterModule"),
        .target(name: "ExampleHandler", dependencies: ["Modules"], path: "Sources/Examples/ExampleHandler"),
        .executableTarget(name: "CounterWorker", dependencies: ["CounterModule", "Modules"], path: "Sources/Examples/CounterWorker"),
        .executableTarget(name: "ExampleHandlerWorker", dependencies: ["ExampleHandler", "Modules"], path: "Sources/Examples/ExampleHandlerWorker"),
        .executableTarget(
            name: "autodev", dependencies: ["ChannelUpdate", "Doctor", "Supervisor", "SelfUpgrade", "SourceUpgrade", "Agent", "Storage", "Platform", "Integrity", "TUF", "ReleaseChannel", "Delta",
                                            "Modules", "CounterModule", "ExampleHandler"],
            // The command line is a shell over the libraries' public API: no `package` access.
            packageAccess: false,
            swiftSettings: testHooks,
            // Release binaries ship without symbol tables: 40% smaller, so every version kept in
            // the store costs less and a rollback's hash check reads less. They start in half the
            // time (docs/benchmarks.md): not position-independent (no 40,000 relocations at each
            // start), no dynamic symbol table of every Swift symbol, and the C++ runtime linked in
            // (scripts/link), so only libc and libm are loaded; OpenSSL's dlopen works as before.
            linkerSettings: [.unsafeFlags((keepSymbols ? [] : ["-Xlinker", "--strip-all"])
                                          + ["-Xclang-linker", "-no-pie", "-Xclang-linker", "-static-libgcc",
                                             "-Xlinker", "--no-export-dynamic", "-L", linkScripts]
                                          + (ownSections ? ["-Xlinker", "--section-ordering-file=" + linkScripts + "/hot-functions.txt"] : []),
                                          .when(configuration: .release))]
        ),
        // The library's example: a daemon that upgrades itself in place without losing its work.
        .executableTarget(name: "ExampleDaemon", dependencies: ["ChannelUpdate", "SelfUpgrade"], path: "Sources/Examples/ExampleDaemon"),
        // An HTTP/1.1 server that upgrades itself under load without refusing a connection.
        .executableTarget(name: "ExampleServer", dependencies: ["SelfUpgrade", "Handoff", "Modules", "ExampleHandler"], path: "Sources/Examples/ExampleServer"),
        // The README's embedding example, compiled as shown (a test keeps the two identical).
        .executableTarget(name: "EmbeddingExample", dependencies: ["SelfUpgrade"], path: "Sources/Examples/EmbeddingExample"),
        .executableTarget(name: "ChannelEmbeddingExample", dependencies: ["ChannelUpdate", "SelfUpgrade"], path: "Sources/Examples/ChannelEmbeddingExample"),
        // What several test targets share: servers run as child processes.
        .target(name: "TestSupport", path: "Tests/TestSupport"),
        .testTarget(name: "PlatformTests", dependencies: ["Platform", "TestSupport"]),
        .testTarget(name: "TransportTests", dependencies: ["Transport", "TestSupport"], exclude: ["server.py", "proxy.py"]),
        .testTarget(name: "IntegrityTests", dependencies: ["Integrity"]),
        .testTarget(name: "DeltaTests", dependencies: ["Delta", "Integrity", "TestSupport"]),
        .testTarget(name: "StorageTests", dependencies: ["Storage", "SelfUpgrade", "Platform", "Integrity"]),
        .testTarget(name: "SelfUpgradeTests", dependencies: ["SelfUpgrade", "SourceUpgrade", "Storage", "Platform", "Integrity"]),
        .testTarget(name: "AgentTests", dependencies: ["Agent", "SelfUpgrade", "SourceUpgrade", "Storage", "Platform", "TestSupport"]),
        .testTarget(name: "TUFTests", dependencies: ["TUF", "Integrity", "Platform", "TestSupport"], exclude: ["repository_server.py"]),
        .testTarget(name: "ReleaseChannelTests", dependencies: ["ReleaseChannel", "TUF", "Integrity", "Platform", "TestSupport", "Delta"], exclude: ["python_tuf_release.py"]),
        // Uses the public API of the ChannelUpdate and SelfUpgrade products only: what an embedder can do.
        .testTarget(name: "ChannelUpdateTests", dependencies: ["ChannelUpdate", "ReleaseChannel", "SelfUpgrade"]),
        .testTarget(name: "ModulesTests", dependencies: ["Modules", "CounterModule", "Platform", "TestSupport"]),
        .testTarget(name: "DoctorTests", dependencies: ["Doctor", "SelfUpgrade", "Storage", "Platform", "Integrity"]),
        .testTarget(name: "EndToEndTests", dependencies: ["Platform", "Integrity", "TestSupport"], exclude: ["Help"]),
    ],
    swiftLanguageModes: [.v6]
)

// Every Swift target, not the C ones.
for target in package.targets where !["CPlatform", "CTLS", "CIntegrity"].contains(target.name) {
    target.swiftSettings = (target.swiftSettings ?? []) + directMetadata + functionSections
}
for target in package.targets where ["CPlatform", "CTLS", "CIntegrity"].contains(target.name) {
    target.cSettings = (target.cSettings ?? []) + cFunctionSections
}
