import Foundation
import Integrity
import Testing

/// scripts/get-autodev, the `curl | sh` installer, against a release repository served on
/// loopback with `release installer`'s files, installing the shipped release binary.
@Suite("get-autodev: the curl | sh installer", .enabled(if: StaticServer.available && InstallerChannel.dash != nil, "needs python3 (the server) and dash"))
struct InstallerTests {
    @Test("a good release installs under dash with minisign, with openssl and with wget, and from a pipe: the home runs the signed version and follows the channel")
    func installs() throws {
        let channel = try InstallerChannel()
        defer { channel.stop() }
        var runs: [(String, [String], InstallerChannel.Tools)] = [("openssl", [], .hiding(["minisign"]))]
        if InstallerChannel.has("minisign") { runs.append(("minisign", [], .all)) }
        if InstallerChannel.has("wget") { runs.append(("openssl", [], .hiding(["minisign", "curl"]))) }
        for (index, (verifier, extra, tools)) in runs.enumerated() {
            let home = channel.harness.root.path + "/home \(index)"
            let result = try channel.install(["--root-sha256", channel.rootSHA256, "--home", home] + extra, tools: tools)
            #expect(result.status == 0, "\(verifier) \(tools): \(result.stderr)")
            #expect(result.stdout.hasPrefix("Installed autodev 0.2.0 (\(InstallerChannel.platform)) in \(home)\n  Signature verified with \(verifier) before anything ran\n"), "\(result.stdout)")
            #expect(result.stdout.hasSuffix("Put this directory on PATH to run the current version:\n  export PATH='\(home)/bin':\"$PATH\"\n"), "\(result.stdout)")
            #expect(result.stderr.contains("Verified autodev 0.2.0 for \(InstallerChannel.platform): signature and trusted comment by the key given (\(verifier))"))
            let version = try channel.harness.run(["--version"], executable: home + "/bin/autodev")
            #expect(version.stdout == "0.2.0\n", "\(version.stderr)")
            let check = try channel.harness.run(["update", "check", "--home", home], executable: home + "/bin/autodev")
            #expect(check.status == 0 && check.stdout == "autodev 0.2.0 is up to date (\(channel.url), \(InstallerChannel.platform))\n", "\(check.stdout) \(check.stderr)")
            #expect(channel.leftovers().isEmpty, "\(channel.leftovers())")
        }

        // From a pipe, as curl | sh runs it (standard input is the script), without --root-sha256.
        let piped = channel.harness.root.path + "/piped"
        let script = try String(contentsOfFile: InstallerChannel.script, encoding: .utf8)
        let result = try channel.harness.run(["-s", "--", "--channel", channel.url, "--key", channel.publicKey, "--home", piped],
                                             executable: InstallerChannel.dash!, environment: ["PATH": try channel.path(.all)], input: script)
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("The release channel is not configured (no --root-sha256)"), "\(result.stdout)")
        #expect(try channel.harness.run(["--version"], executable: piped + "/bin/autodev").stdout == "0.2.0\n")
        let unconfigured = try channel.harness.run(["update", "check", "--home", piped], executable: piped + "/bin/autodev")
        #expect(unconfigured.status == 1 && unconfigured.stderr.contains("No update channel is configured"), "\(unconfigured.stderr)")
    }

    @Test("a --root-sha256 that is not the channel's root: refused, nothing installed")
    func wrongRoot() throws {
        let channel = try InstallerChannel()
        defer { channel.stop() }
        let wrong = String(repeating: "ab", count: 32)
        let result = try channel.install(["--root-sha256", wrong])
        #expect(result.status == 1)
        #expect(result.stderr.contains("has SHA-256 \(channel.rootSHA256), not \(wrong) as given with --root-sha256"), "\(result.stderr)")
        #expect(result.stderr.hasSuffix("Nothing was installed.\n"))
        #expect(!channel.installed && channel.leftovers().isEmpty)
        let malformed = try channel.install(["--root-sha256", "abc"])
        #expect(malformed.status == 64 && malformed.stderr.hasPrefix("Error: The value 'abc' is invalid for '--root-sha256 <hex>'"), "\(malformed.stderr)")
    }

    @Test("a tampered binary (a script that would leave a marker, one byte changed, cut short): refused by minisign and by openssl, nothing run or installed")
    func tampered() throws {
        let channel = try InstallerChannel()
        defer { channel.stop() }
        let marker = channel.harness.root.path + "/marker"
        let genuine = try Data(contentsOf: URL(fileURLWithPath: channel.binary))
        var flipped = genuine
        flipped[5000] ^= 1
        let replacements = [Data("#!/bin/sh\ntouch '\(marker)'\necho 0.2.0\n".utf8), flipped, genuine.prefix(genuine.count / 2)]
        for replacement in replacements {
            try replacement.write(to: URL(fileURLWithPath: channel.binary))
            for tools in channel.verifiers {
                let result = try channel.install([], tools: tools)
                #expect(result.status == 1, "\(tools): \(result.stdout)")
                #expect(result.stderr.contains("does not verify with the key given"), "\(tools): \(result.stderr)")
                #expect(result.stderr.hasSuffix("Nothing was run or installed.\n"), "\(result.stderr)")
                #expect(!FileManager.default.fileExists(atPath: marker), "\(tools): the tampered binary ran")
                #expect(!channel.installed && channel.leftovers().isEmpty)
            }
        }
    }

    @Test("a signature by another key, of another file, or with an edited trusted comment: refused")
    func wrongSignatures() throws {
        let channel = try InstallerChannel()
        defer { channel.stop() }
        let other = try channel.tool(["release", "keygen", "--public-key", "other.pub", "--secret-key", "other.key"])
        #expect(other.status == 0, "\(other.stderr)")
        let comment = "autodev 0.2.0 \(InstallerChannel.platform)"
        #expect(try channel.sign(key: "other.key", comment: comment).status == 0)
        for tools in channel.verifiers {
            let result = try channel.install([], tools: tools)
            #expect(result.status == 1 && (result.stderr.contains("was made by another key") || result.stderr.contains("key id in the public key")), "\(tools): \(result.stderr)")
            #expect(!channel.installed && channel.leftovers().isEmpty)
        }
        // A good signature of another file, served as this one's.
        let decoy = channel.harness.root.path + "/decoy"
        try Data("decoy".utf8).write(to: URL(fileURLWithPath: decoy))
        #expect(try channel.tool(["release", "sign", decoy, "--secret-key", "installer.key", "--trusted-comment", comment]).status == 0)
        try FileManager.default.removeItem(atPath: channel.binary + ".minisig")
        try FileManager.default.copyItem(atPath: decoy + ".minisig", toPath: channel.binary + ".minisig")
        for tools in channel.verifiers {
            let result = try channel.install([], tools: tools)
            #expect(result.status == 1 && result.stderr.contains("does not verify with the key given"), "\(tools): \(result.stderr)")
        }
        // The right signature with its trusted comment changed to another version.
        #expect(try channel.sign(key: "installer.key", comment: comment).status == 0)
        let path = channel.binary + ".minisig"
        let edited = try String(contentsOfFile: path, encoding: .utf8).replacingOccurrences(of: "autodev 0.2.0", with: "autodev 9.0.0")
        try edited.write(toFile: path, atomically: true, encoding: .utf8)
        for tools in channel.verifiers {
            let result = try channel.install([], tools: tools)
            #expect(result.status == 1, "\(tools): \(result.stdout)")
            #expect(result.stderr.contains("(minisign: Comment signature verification failed)") || result.stderr.contains("it was changed after signing"), "\(tools): \(result.stderr)")
            #expect(!channel.installed && channel.leftovers().isEmpty)
        }
    }

    @Test("a trusted comment for another platform, or another version than the binary reports: refused")
    func wrongComment() throws {
        let channel = try InstallerChannel()
        defer { channel.stop() }
        let otherPlatform = InstallerChannel.platform == "linux-x86_64" ? "linux-aarch64" : "linux-x86_64"
        #expect(try channel.sign(key: "installer.key", comment: "autodev 0.2.0 \(otherPlatform)").status == 0)
        for tools in channel.verifiers {
            let result = try channel.install([], tools: tools)
            #expect(result.status == 1)
            #expect(result.stderr.contains("The signed binary is for another platform (its trusted comment reads 'autodev 0.2.0 \(otherPlatform)'; this machine is \(InstallerChannel.platform))"), "\(result.stderr)")
            #expect(!channel.installed && channel.leftovers().isEmpty)
        }
        #expect(try channel.sign(key: "installer.key", comment: "autodev 0.3.0 \(InstallerChannel.platform)").status == 0)
        let mislabelled = try channel.install([])
        #expect(mislabelled.status == 1)
        #expect(mislabelled.stderr.contains("The verified binary reports version '0.2.0', but it was signed as 0.3.0"), "\(mislabelled.stderr)")
        #expect(!channel.installed && channel.leftovers().isEmpty)
        #expect(try channel.sign(key: "installer.key", comment: "timestamp:1\tfile:autodev").status == 0)
        let foreign = try channel.install([])
        #expect(foreign.status == 1 && foreign.stderr.contains("The signature's trusted comment reads 'timestamp:1file:autodev', not 'autodev <version> \(InstallerChannel.platform)'"), "\(foreign.stderr)")
    }

    @Test("a server that answers 404, cuts the file short, redirects to a tampered copy, or drips: a clear error, nothing installed")
    func hostileServer() throws {
        let channel = try InstallerChannel()
        defer { channel.stop() }
        let install = channel.repository + "/install"
        try FileManager.default.moveItem(atPath: install, toPath: install + ".aside")
        let missing = try channel.install([])
        #expect(missing.status == 1)
        #expect(missing.stderr.contains("Error: Failed to download \(channel.url)/install/autodev-\(InstallerChannel.platform).minisig: curl: (22) The requested URL returned error: 404"), "\(missing.stderr)")
        #expect(!channel.installed && channel.leftovers().isEmpty)
        try FileManager.default.moveItem(atPath: install + ".aside", toPath: install)

        for mode in ["cut:100000", "lie-short:100000"] {
            try channel.fault(mode)
            let result = try channel.install([])
            #expect(result.status == 1, "\(mode): \(result.stdout)")
            #expect(result.stderr.contains("Error: "), "\(mode): \(result.stderr)")
            #expect(!channel.installed && channel.leftovers().isEmpty)
        }

        // Redirected to another server that serves the genuine signature beside a tampered binary.
        let elsewhere = channel.harness.root.path + "/elsewhere"
        try FileManager.default.createDirectory(atPath: elsewhere + "/install", withIntermediateDirectories: true)
        let name = "/install/autodev-\(InstallerChannel.platform)"
        try FileManager.default.copyItem(atPath: channel.binary + ".minisig", toPath: elsewhere + name + ".minisig")
        try Data("#!/bin/sh\necho 0.2.0\n".utf8).write(to: URL(fileURLWithPath: elsewhere + name))
        let other = try StaticServer(serving: elsewhere)
        defer { other.stop() }
        try channel.fault("redirect:" + other.url)
        let redirected = try channel.install([])
        #expect(redirected.status == 1 && redirected.stderr.contains("does not verify with the key given"), "\(redirected.stderr)")
        #expect(!channel.installed && channel.leftovers().isEmpty)

        // A server that sends a byte every 0.2 s: the total deadline ends it.
        try channel.fault("drip")
        let started = Date()
        let slow = try channel.install(["--timeout", "2"])
        #expect(slow.status == 1)
        #expect(slow.stderr.contains("Operation timed out after"), "\(slow.stderr)")
        #expect(Date().timeIntervalSince(started) < 15)
        #expect(!channel.installed && channel.leftovers().isEmpty)
    }

    @Test("SIGINT or SIGTERM mid-download: ends within a second saying nothing was installed; its download and temporary directory are gone")
    func interrupted() throws {
        // Ignored here, SIGINT would be ignored in the installer too (a shell cannot trap a
        // signal ignored when it started): the test would wait for the download's timeout.
        let status = try String(contentsOfFile: "/proc/self/status", encoding: .utf8)
        let ignored = status.split(separator: "\n").first { $0.hasPrefix("SigIgn:") }
            .flatMap { UInt64($0.dropFirst("SigIgn:".count).trimmingCharacters(in: .whitespaces), radix: 16) }
        try #require(ignored.map { $0 & (1 << UInt64(SIGINT - 1)) == 0 } == true,
                     "SIGINT is ignored in this test process (started as a background job of a script?): its children could not act on it")
        let channel = try InstallerChannel()
        defer { channel.stop() }
        try channel.fault("drip")
        for (signal, status) in [(SIGINT, Int32(130)), (SIGTERM, 143)] {
            let running = try channel.harness.start([InstallerChannel.script] + channel.arguments([]), executable: InstallerChannel.dash!,
                                                    environment: ["PATH": try channel.path(.all)])
            #expect(channel.harness.waitUntil(seconds: 10) { channel.downloading() })
            kill(running.pid, signal)
            let ended = Date()
            let result = running.finish()
            #expect(Date().timeIntervalSince(ended) < 1.5)
            #expect(result.status == status, "\(result.stderr)")
            #expect(result.stderr.hasSuffix("Interrupted; nothing was installed.\n"), "\(result.stderr)")
            #expect(!channel.installed && channel.leftovers().isEmpty)
            #expect(channel.harness.waitUntil(seconds: 2) { !channel.downloading() }, "the download outlived the installer")
        }
    }

    @Test("an existing home, a link at the home's path, a control character in it: refused, nothing changed; a quote and a space are shown quoted")
    func homes() throws {
        let channel = try InstallerChannel()
        defer { channel.stop() }
        let root = channel.harness.root.path
        try FileManager.default.createDirectory(atPath: channel.home + "/versions", withIntermediateDirectories: true)
        try Data().write(to: URL(fileURLWithPath: channel.home + "/journal"))
        let existing = try channel.install([])
        #expect(existing.status == 1)
        #expect(existing.stderr.hasPrefix("Error: autodev is already installed in \"\(channel.home)\": upgrade it with '\(channel.home)/bin/autodev update apply'"), "\(existing.stderr)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: channel.home).sorted() == ["journal", "versions"])
        try FileManager.default.removeItem(atPath: channel.home)

        try FileManager.default.createDirectory(atPath: root + "/target", withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: channel.home, withDestinationPath: root + "/target")
        let linked = try channel.install([])
        #expect(linked.status == 1 && linked.stderr.contains("\"\(channel.home)\" is a symbolic link"), "\(linked.stderr)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: root + "/target").isEmpty)
        try FileManager.default.removeItem(atPath: channel.home)

        let control = try channel.install(["--home", root + "/a\nb"])
        #expect(control.status == 64 && control.stderr.contains("holds a control character"), "\(control.stderr)")
        #expect(!FileManager.default.fileExists(atPath: root + "/a\nb"))

        let odd = root + "/it's $(touch x)"
        let result = try channel.install(["--home", odd])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("    '\(root)/it'\\''s $(touch x)/bin/autodev' update configure --channel \(channel.url) --trusted-root 1.root.json\n"), "\(result.stdout)")
        #expect(result.stdout.hasSuffix("  export PATH='\(root)/it'\\''s $(touch x)/bin':\"$PATH\"\n"), "\(result.stdout)")
        #expect(try channel.harness.run(["--version"], executable: odd + "/bin/autodev").stdout == "0.2.0\n")
    }

    @Test("neither minisign nor openssl: refused before downloading; usage errors exit 64; a key file, not a device")
    func noVerifier() throws {
        let channel = try InstallerChannel()
        defer { channel.stop() }
        let result = try channel.install([], tools: .hiding(["minisign", "openssl"]))
        #expect(result.status == 1)
        #expect(result.stderr == "Error: Cannot verify the release's signature: neither minisign nor OpenSSL 3 (with Ed25519 and BLAKE2b) is installed. Install minisign (or OpenSSL 3) and run this again; nothing was downloaded or installed.\n")
        #expect(!channel.installed && channel.leftovers().isEmpty)
        let usage = try channel.harness.run([InstallerChannel.script, "--channel", "ftp://x", "--key", channel.publicKey], executable: InstallerChannel.dash!)
        #expect(usage.status == 64 && usage.stderr.hasPrefix("Error: The value 'ftp://x' is invalid for '--channel <url>'"), "\(usage.stderr)")
        let badKey = try channel.install(["--key", "RWQnotakey"])
        #expect(badKey.status == 64 && badKey.stderr.contains("a minisign public key has 56 characters"), "\(badKey.stderr)")
        let device = try channel.harness.run([InstallerChannel.script, "--channel", channel.url, "--key-file", "/dev/zero", "--home", channel.home],
                                             executable: InstallerChannel.dash!)
        #expect(device.status == 1 && device.stderr == "Error: Cannot read the public key file \"/dev/zero\": it is not a regular file.\n", "\(device.stderr)")
        let keyFile = try channel.harness.run([InstallerChannel.script, "--channel", channel.url, "--key-file", channel.harness.root.path + "/installer.pub",
                                               "--home", channel.home], executable: InstallerChannel.dash!)
        #expect(keyFile.status == 0 && channel.installed, "\(keyFile.stderr)")
        let help = try channel.harness.run([InstallerChannel.script, "--help"], executable: InstallerChannel.dash!)
        #expect(help.status == 0 && help.stdout.hasPrefix("OVERVIEW: Install autodev from a signed release channel.\n"))
        let syntax = try channel.harness.run(["-n", InstallerChannel.script], executable: InstallerChannel.dash!)
        #expect(syntax.status == 0, "\(syntax.stderr)")
    }

    @Test("release installer: refused while nothing is published; signs the newest published release, never a pending one; metadata unchanged")
    func publisher() throws {
        let channel = try InstallerChannel(publish: false)
        defer { channel.stop() }
        let refused = try channel.tool(["release", "installer", "--repo", "repo", "--secret-key", "installer.key"])
        #expect(refused.status == 1)
        #expect(refused.stderr == "Error: \"repo\" has no published release: run 'autodev release add' and 'autodev release publish' first; nothing was written\n")
        #expect(!FileManager.default.fileExists(atPath: channel.repository + "/install"))

        #expect(try channel.tool(["release", "publish", "--repo", "repo"]).status == 0)
        let newer = try channel.candidate(version: "0.3.0")
        #expect(try channel.tool(["release", "add", "--repo", "repo", "--version", "0.3.0", "--platform", InstallerChannel.platform, newer]).status == 0)
        let metadata = try channel.metadataContents()
        let written = try channel.tool(["release", "installer", "--repo", "repo", "--secret-key", "installer.key", "--json"])
        #expect(written.status == 0, "\(written.stderr)")
        let report = try channel.harness.json(written.stdout)
        let installers = try #require(report["installers"] as? [[String: Any]])
        #expect(installers.count == 1 && installers.first?["version"] as? String == "0.2.0" && installers.first?["trustedComment"] as? String == "autodev 0.2.0 \(InstallerChannel.platform)")
        #expect(report["rootSHA256"] as? String == channel.rootSHA256 && report["publicKey"] as? String == channel.publicKey)
        #expect(try channel.metadataContents() == metadata)
        let verified = try channel.tool(["release", "verify", "repo/install/autodev-\(InstallerChannel.platform)", "--public-key", "installer.pub"])
        #expect(verified.status == 0 && verified.stdout.hasSuffix("Trusted comment: autodev 0.2.0 \(InstallerChannel.platform)\n"), "\(verified.stderr)")
    }
}

/// A release repository with one published release (0.2.0, the shipped binary stamped), its
/// installer files signed by `installer.key`, served on loopback with its metadata, targets and install/.
struct InstallerChannel {
    static let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("scripts/get-autodev").path
    /// The binary installed: the release exactly as it ships when the tests know it.
    static let shipped = ProcessInfo.processInfo.environment["AUTODEV_SHIPPED_BINARY"].flatMap { $0.isEmpty ? nil : $0 } ?? Harness.binary
    static let dash = ["/usr/bin/dash", "/bin/dash"].first { FileManager.default.isExecutableFile(atPath: $0) }
    #if arch(arm64)
    static let platform = "linux-aarch64"
    #else
    static let platform = "linux-x86_64"
    #endif

    static func has(_ tool: String) -> Bool {
        (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":").contains { FileManager.default.isExecutableFile(atPath: "\($0)/\(tool)") }
    }

    let harness: Harness
    let server: StaticServer
    let repository: String
    let publicKey: String
    let rootSHA256: String
    var url: String { server.url }
    var home: String { harness.root.path + "/installed" }
    var binary: String { repository + "/install/autodev-\(Self.platform)" }
    var faults: String { harness.root.path + "/faults.json" }

    enum Tools: CustomStringConvertible {
        case all
        case hiding([String])
        var description: String { if case .hiding(let names) = self { "without \(names.joined(separator: ", "))" } else { "all tools" } }
    }

    /// The verifiers available here: minisign (when installed) and openssl alone.
    var verifiers: [Tools] { (Self.has("minisign") ? [.all] : []) + [.hiding(["minisign"])] }

    init(publish: Bool = true) throws {
        harness = try Harness()
        repository = harness.root.path + "/repo"
        let tool = { [harness] (arguments: [String]) in try harness.run(arguments, executable: Harness.binary, directory: harness.root.path) }
        let created = try tool(["release", "init", "--repo", "repo"])
        #expect(created.status == 0, "\(created.stderr)")
        let root = try Data(contentsOf: URL(fileURLWithPath: repository + "/metadata/1.root.json"))
        rootSHA256 = SHA256.hash(data: Array(root)).hex
        #expect(created.stdout.contains("  Root fingerprint (sha256): \(rootSHA256) (give it to the installer: get-autodev --root-sha256)\n"), "\(created.stdout)")
        #expect(try tool(["release", "keygen", "--public-key", "installer.pub", "--secret-key", "installer.key"]).status == 0)
        publicKey = String(try String(contentsOfFile: harness.root.path + "/installer.pub", encoding: .utf8).split(separator: "\n")[1])
        let view = try harness.publicView(of: repository)
        try FileManager.default.createSymbolicLink(atPath: view + "/install", withDestinationPath: repository + "/install")
        server = try StaticServer(serving: view, faults: harness.root.path + "/faults.json")
        let candidate = try self.candidate(version: "0.2.0")
        #expect(try tool(["release", "add", "--repo", "repo", "--version", "0.2.0", "--platform", Self.platform, candidate]).status == 0)
        guard publish else { return }
        #expect(try tool(["release", "publish", "--repo", "repo"]).status == 0)
        let written = try tool(["release", "installer", "--repo", "repo", "--secret-key", "installer.key"])
        #expect(written.status == 0, "\(written.stderr)")
        #expect(written.stdout.hasSuffix("  curl -fsSL URL/get-autodev | sh -s -- --channel URL --key \(publicKey) --root-sha256 \(rootSHA256)\n"), "\(written.stdout)")
    }

    func stop() {
        server.stop()
        harness.cleanUp()
    }

    func tool(_ arguments: [String]) throws -> Harness.Result {
        try harness.run(arguments, executable: Harness.binary, directory: harness.root.path)
    }

    /// The shipped binary with a suffix, stamped `version`.
    func candidate(version: String) throws -> String {
        let path = harness.root.path + "/autodev-\(version)"
        try? FileManager.default.removeItem(atPath: path)
        var bytes = try Data(contentsOf: URL(fileURLWithPath: Self.shipped))
        bytes.append(Data(UUID().uuidString.utf8))
        try bytes.write(to: URL(fileURLWithPath: path))
        #expect(try tool(["release", "stamp", "--version", version, path]).status == 0)
        return path
    }

    /// Signs the served binary again with `key`, with `comment`.
    func sign(key: String, comment: String) throws -> Harness.Result {
        try? FileManager.default.removeItem(atPath: binary + ".minisig")
        return try tool(["release", "sign", binary, "--secret-key", key, "--trusted-comment", comment])
    }

    func arguments(_ extra: [String]) -> [String] {
        ["--channel", url, "--key", publicKey, "--home", home] + extra
    }

    /// Runs the installer under dash with `tools` on PATH (a later --home overrides the default one).
    func install(_ extra: [String], tools: Tools = .all) throws -> Harness.Result {
        try harness.run([Self.script] + arguments(extra), executable: Self.dash!, environment: ["PATH": try path(tools)])
    }

    /// A PATH of links to every program on this PATH but the hidden ones.
    func path(_ tools: Tools) throws -> String {
        guard case .hiding(let hidden) = tools else { return ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin" }
        let directory = harness.root.path + "/bin-" + hidden.joined(separator: "-")
        guard !FileManager.default.fileExists(atPath: directory) else { return directory }
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        for entry in (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":").map(String.init) {
            for name in (try? FileManager.default.contentsOfDirectory(atPath: entry)) ?? [] where !hidden.contains(name) {
                try? FileManager.default.createSymbolicLink(atPath: directory + "/" + name, withDestinationPath: entry + "/" + name)
            }
        }
        return directory
    }

    /// Makes the server misbehave on install/ (StaticServer's modes).
    func fault(_ mode: String) throws {
        try JSONSerialization.data(withJSONObject: ["mode": mode, "install": true]).write(to: URL(fileURLWithPath: faults))
    }

    var installed: Bool { (try? FileManager.default.destinationOfSymbolicLink(atPath: home)) != nil || FileManager.default.fileExists(atPath: home) }

    /// The installer's temporary directories left beside the home.
    func leftovers() -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: harness.root.path)) ?? []).filter { $0.hasPrefix(".autodev-install.") }
    }

    /// Whether a process is downloading into one of this test's temporary directories.
    func downloading() -> Bool {
        let needle = harness.root.path + "/.autodev-install."
        for pid in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] where Int(pid) != nil {
            guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { continue }
            let text = String(decoding: data.map { $0 == 0 ? 0x20 : $0 }, as: UTF8.self)
            if text.hasPrefix("curl ") && text.contains(needle) { return true }
        }
        return false
    }

    /// Every file under metadata/ with its content.
    func metadataContents() throws -> [String: Data] {
        var contents: [String: Data] = [:]
        for name in try FileManager.default.contentsOfDirectory(atPath: repository + "/metadata") {
            contents[name] = FileManager.default.contents(atPath: repository + "/metadata/" + name)
        }
        return contents
    }
}
