// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "autodev",
    products: [
        .library(name: "SelfUpgrade", targets: ["SelfUpgrade"]),
        .executable(name: "autodev", targets: ["autodev"]),
    ],
    targets: [
        // Typed POSIX: descriptors, errno, atomic replace, exec, spawn, flock.
        .target(name: "CPlatform"),
        .target(name: "Platform", dependencies: ["CPlatform"]),
        // OpenSSL 3 loaded with dlopen at the first https download; never linked.
        .target(name: "CTLS", linkerSettings: [.linkedLibrary("dl")]),
        // http, https and file downloads with caps, timeouts, redirects and resumption.
        .target(name: "Transport", dependencies: ["Platform", "CTLS"]),
        // SHA-256 (SHA-NI accelerated with a portable fallback), CRC-32, hex.
        .target(name: "CIntegrity"),
        .target(name: "Integrity", dependencies: ["CIntegrity"]),
        // Journal, version store, state snapshots, the home layout.
        .target(name: "Storage", dependencies: ["Platform", "Integrity"]),
        // The transaction: steps, recovery, rollback, verifier, restarter.
        .target(name: "SelfUpgrade", dependencies: ["Storage", "Platform", "Integrity"]),
        // TUF client (specification 1.0, section 5): metadata, trust, delegations, verified downloads.
        .target(name: "TUF", dependencies: ["Integrity", "Platform", "Transport"]),
        // The agent's loop: proposals in, source upgrades out; its memory, the git working copy.
        .target(name: "Agent", dependencies: ["SelfUpgrade", "Storage", "Platform", "Integrity"]),
        .executableTarget(
            name: "autodev", dependencies: ["SelfUpgrade", "TUF", "Agent"],
            // Release binaries ship without symbol tables: 40% smaller, so every version kept in
            // the store costs less and a rollback's hash check reads less.
            linkerSettings: [.unsafeFlags(["-Xlinker", "--strip-all"], .when(configuration: .release))]
        ),
        // The library's example: a daemon that upgrades itself in place without losing its work.
        .executableTarget(name: "ExampleDaemon", dependencies: ["SelfUpgrade"], path: "Sources/ExampleDaemon"),
        .testTarget(name: "PlatformTests", dependencies: ["Platform"]),
        .testTarget(name: "TransportTests", dependencies: ["Transport"], exclude: ["server.py"]),
        .testTarget(name: "IntegrityTests", dependencies: ["Integrity"]),
        .testTarget(name: "StorageTests", dependencies: ["Storage"]),
        .testTarget(name: "SelfUpgradeTests", dependencies: ["SelfUpgrade"]),
        .testTarget(name: "AgentTests", dependencies: ["Agent", "Storage", "Platform"]),
        .testTarget(name: "TUFTests", dependencies: ["TUF", "Integrity", "Platform"], exclude: ["repository_server.py"]),
        .testTarget(name: "EndToEndTests", dependencies: ["Platform", "Integrity"]),
    ],
    swiftLanguageModes: [.v6]
)
