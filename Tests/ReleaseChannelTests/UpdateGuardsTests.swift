import Foundation
import Platform
import ReleaseChannel
import Testing

/// `UpdateGuards`: who owns a binary, and whether the home can take an update.
@Suite("Guards before an update")
struct UpdateGuardsTests {
    /// A probe answering only for `tool` with `output`, and a dpkg database in `infoDirectory`.
    func probe(_ tool: String? = nil, _ output: String = "", infoDirectory: String = "/nonexistent") -> UpdateGuards.Probe {
        UpdateGuards.Probe(run: { name, _ in name == tool ? output : nil }, dpkgInfoDirectory: infoDirectory)
    }

    @Test("dpkg -S names the package and apt-get upgrades it")
    func dpkgQuery() throws {
        let owner = try #require(UpdateGuards.packageOwner(of: "/usr/bin/autodev", probe: probe("dpkg", "autodev:amd64: /usr/bin/autodev\n")))
        #expect(owner == PackageOwner(.dpkg, package: "autodev"))
        #expect(owner.upgradeCommand == "apt-get install --only-upgrade autodev")
    }

    @Test("a dpkg *.list file naming a /usr/bin path owns it; the same list does not claim a path elsewhere")
    func dpkgList() throws {
        let info = try temporaryDirectory("dpkg-info")
        try writeFile(info + "/other.list", Array("/usr/bin/other\n".utf8))
        try writeFile(info + "/autodev:amd64.list", Array("/.\n/usr\n/usr/bin\n/usr/bin/autodev\n/opt/autodev\n".utf8))
        #expect(UpdateGuards.packageOwner(of: "/usr/bin/autodev", probe: probe(infoDirectory: info)) == PackageOwner(.dpkg, package: "autodev"))
        #expect(UpdateGuards.packageOwner(of: "/opt/autodev", probe: probe(infoDirectory: info)) == nil)
        #expect(UpdateGuards.packageOwner(of: "/usr/bin/missing", probe: probe(infoDirectory: info)) == nil)
    }

    @Test("rpm -qf names the package and dnf upgrades it")
    func rpmQuery() throws {
        let owner = try #require(UpdateGuards.packageOwner(of: "/usr/bin/autodev", probe: probe("rpm", "autodev\n")))
        #expect(owner.upgradeCommand == "dnf upgrade autodev")
    }

    @Test("Nix store and Homebrew Cellar paths are recognised by where they are")
    func byLocation() {
        #expect(UpdateGuards.packageOwner(of: "/nix/store/abc-autodev-1.0/bin/autodev", probe: probe())?.upgradeCommand == "nix profile upgrade")
        #expect(UpdateGuards.packageOwner(of: "/opt/homebrew/Cellar/autodev/1.0/bin/autodev", probe: probe())?.upgradeCommand == "brew upgrade autodev")
        #expect(UpdateGuards.packageOwner(of: "/home/me/.autodev/versions/x/autodev", probe: probe()) == nil)
    }

    @Test("refusing a package-managed binary names the path and the command to use")
    func refusal() throws {
        let error = try #require(throws: ReleaseChannelError.self) {
            try UpdateGuards.checkNotPackageManaged("/nix/store/abc-autodev/bin/autodev", probe: probe())
        }
        #expect(error.code == .packageManaged)
        #expect(error.message == "Refusing to replace \"/nix/store/abc-autodev/bin/autodev\": it belongs to the Nix store; upgrade it with 'nix profile upgrade' instead")
        try UpdateGuards.checkNotPackageManaged("/opt/autodev/bin/autodev", probe: probe())
    }

    @Test("a home with room on one file system passes")
    func passes() throws {
        let home = try temporaryDirectory("guards-ok")
        try UpdateGuards.checkHome(home, staging: home + "/channel/staging", downloadLength: 1000)
    }

    @Test("too little space: twice the download plus the margin is more than is free")
    func space() throws {
        let home = try temporaryDirectory("guards-space")
        let error = try #require(throws: ReleaseChannelError.self) {
            try UpdateGuards.checkHome(home, staging: home + "/staging", downloadLength: ReleaseOffer.maximumLength)
        }
        #expect(error.code == .space)
        #expect(error.message.hasPrefix("Not enough space in \"\(home)\": the update needs 2 TiB (twice the 1099511627776-byte download plus 16 MiB)"), "\(error.message)")
        // What it suggests exists: the store's historyLimit, not a command that was never written.
        #expect(error.message.contains("historyLimit") && error.message.contains("\(home)/config.json") && !error.message.contains("autodev gc"), "\(error.message)")
    }

    @Test("a download already in staging is not counted twice; with one version stored, pruning is not suggested")
    func spaceCountsOnlyWhatIsNeeded() throws {
        let home = try temporaryDirectory("guards-staged")
        var info = statvfs()
        #expect(statvfs(home, &info) == 0)
        let free = Int(min(UInt64(info.f_bavail) * UInt64(info.f_frsize), UInt64(Int.max)))
        // Between half and all of the free space (less the margin): one copy fits, two do not.
        let length = free / 10 * 7
        guard length <= ReleaseOffer.maximumLength, length > 64 << 20 else { return }
        let refused = try #require(throws: ReleaseChannelError.self) {
            try UpdateGuards.checkHome(home, staging: home + "/staging", downloadLength: length, storedVersions: 1)
        }
        #expect(refused.code == .space)
        #expect(refused.message.contains("the store holds only the running version, so pruning it frees nothing"), "\(refused.message)")
        #expect(!refused.message.contains("self-upgrade status"), "\(refused.message)")
        // The verified file is in staging already: only its copy in the store needs room.
        try UpdateGuards.checkHome(home, staging: home + "/staging", downloadLength: length, alreadyStaged: length)
        let several = try #require(throws: ReleaseChannelError.self) {
            try UpdateGuards.checkHome(home, staging: home + "/staging", downloadLength: length, storedVersions: 3)
        }
        #expect(several.message.contains("'autodev self-upgrade history' lists the versions installed"), "\(several.message)")
    }

    @Test("a signed length outside 0…1 TiB is an error before any arithmetic, never a trap", arguments: [Int.max, Int.max / 2 + 1, -1, Int.min, ReleaseOffer.maximumLength + 1])
    func lengthOutOfRange(_ length: Int) throws {
        let home = try temporaryDirectory("guards-range")
        let error = try #require(throws: ReleaseChannelError.self) {
            try UpdateGuards.checkHome(home, staging: home + "/staging", downloadLength: length)
        }
        #expect(error.message.contains("the update's length \(length) bytes is not from 0 to 1099511627776"), "\(error.message)")
        let facts = ReleaseFacts(version: SemanticVersion("1.0.0")!, platform: .linuxX86_64, released: "2026-01-01T00:00:00Z")
        let offer = ReleaseOffer(path: "autodev/1.0.0/linux-x86_64/a", length: length, hashes: ["sha256": String(repeating: "a", count: 64)], facts: facts)
        let refused = try #require(throws: ReleaseChannelError.self) { try offer.validate() }
        #expect(refused.message == "Target autodev/1.0.0/linux-x86_64/a has a signed length of \(length) bytes; an update must be 0 to 1099511627776 bytes (1 TiB)")
    }

    @Test("an offer's path is shown escaped, its hashes are checked, and the message names only the hashes listed")
    func offerChecks() throws {
        let facts = ReleaseFacts(version: SemanticVersion("1.0.0")!, platform: .linuxX86_64, released: "2026-01-01T00:00:00Z")
        let sha256 = String(repeating: "a", count: 64)
        let forged = ReleaseOffer(path: "autodev/1.0.0/linux-x86_64/a\nCritical:         yes\u{1B}[2J", length: 1, hashes: ["sha256": sha256], facts: facts)
        #expect(forged.shownPath == "autodev/1.0.0/linux-x86_64/a\\nCritical:         yes\\u{1B}[2J")
        #expect(forged.checkedDescription == "length and SHA-256")
        try forged.validate()
        var both = forged
        both.hashes["sha512"] = String(repeating: "b", count: 128)
        #expect(both.checkedDescription == "length, SHA-256 and SHA-512")
        for hashes in [["sha256": "zz"], ["sha256": sha256, "sha512": "b"], ["sha256": sha256, "md5": "00"], [:]] {
            var bad = forged
            bad.hashes = hashes
            #expect(throws: ReleaseChannelError.self, "\(hashes)") { try bad.validate() }
        }
    }

    @Test("staging on another file system than the home is refused",
          .enabled(if: Self.device("/dev/shm") != nil && Self.device("/dev/shm") != Self.device(NSTemporaryDirectory()), "needs /dev/shm on another file system than the temporary directory"))
    func crossDevice() throws {
        let home = try temporaryDirectory("guards-xdev")
        let staging = "/dev/shm/autodev-staging-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: staging, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: staging) }
        let error = try #require(throws: ReleaseChannelError.self) {
            try UpdateGuards.checkHome(home, staging: staging, downloadLength: 1000)
        }
        #expect(error.code == .crossDevice)
        #expect(error.message.contains(staging) && error.message.contains(home))
    }

    @Test("no write permission on the home is refused", .enabled(if: getuid() != 0, "root can write anywhere"))
    func permission() throws {
        let home = try temporaryDirectory("guards-perm")
        try FileManager.default.setAttributes([.posixPermissions: 0o500], ofItemAtPath: home)
        defer { try? FileManager.default.setAttributes([.posixPermissions: 0o700], ofItemAtPath: home) }
        let error = try #require(throws: ReleaseChannelError.self) {
            try UpdateGuards.checkHome(home, staging: home + "/staging", downloadLength: 1000)
        }
        #expect(error.code == .permission)
    }

    @Test("a home on a read-only bind mount is refused", .enabled(if: getuid() == 0 && FileManager.default.isExecutableFile(atPath: "/usr/bin/mount"), "needs root to mount"))
    func readOnly() throws {
        let directory = try temporaryDirectory("guards-ro")
        let home = directory + "/home"
        try FileManager.default.createDirectory(atPath: home, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: directory + "/source", withIntermediateDirectories: true)
        #expect(try Self.mount(["--bind", directory + "/source", home]) == 0)
        #expect(try Self.mount(["-o", "remount,bind,ro", home]) == 0)
        defer { _ = try? Self.mount(["-u", home], executable: "/usr/bin/umount") }
        let error = try #require(throws: ReleaseChannelError.self) {
            try UpdateGuards.checkHome(home, staging: home + "/staging", downloadLength: 1000)
        }
        #expect(error.code == .readOnly)
        #expect(error.message == "Cannot update in \"\(home)\": it is on a read-only mount; remount it read-write or choose a writable home with --home")
    }

    static func device(_ path: String) -> Int? {
        (try? FileManager.default.attributesOfItem(atPath: path))?[.systemNumber] as? Int
    }

    static func mount(_ arguments: [String], executable: String = "/usr/bin/mount") throws -> Int32 {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = executable.hasSuffix("umount") ? [arguments[1]] : arguments
        try process.run()
        process.waitUntilExit()
        return process.terminationStatus
    }
}

/// Sizes and durations in messages.
@Suite("Durations and sizes as people read them")
struct DurationTextTests {
    @Test("tenths below 10 s, whole seconds below 10 minutes, then minutes and hours; never a long fraction")
    func durations() {
        #expect(DurationText.text(120.0457763671875) == "120 s")
        #expect(DurationText.text(1) == "1 s")
        #expect(DurationText.text(0.25) == "0.3 s")
        #expect(DurationText.text(2.5) == "2.5 s")
        #expect(DurationText.text(599.4) == "599 s")
        #expect(DurationText.text(3600) == "60 min")
        #expect(DurationText.text(7500) == "2 h 5 min")
        #expect(DurationText.text(.nan) == "an unlimited time")
        #expect(DurationText.text(1e300) == "an unlimited time")
    }

    @Test("a time under 0.05 s is never shown as 0 s")
    func smallDurations() {
        #expect(DurationText.text(0.01) == "0.01 s")
        #expect(DurationText.text(0.0025) == "0.0025 s")
        #expect(DurationText.text(0.049) == "0.049 s")
        #expect(DurationText.text(0) == "0 s")
        #expect(DurationText.text(0.06) == "0.1 s")
    }

    @Test("outside text: bidirectional controls are escaped like control characters, so a line reads in the order it was written")
    func bidirectionalControls() {
        for value: UInt32 in [0x200E, 0x200F, 0x202A, 0x202B, 0x202C, 0x202D, 0x202E, 0x2066, 0x2067, 0x2068, 0x2069, 0x2028, 0x2029] {
            let text = "a" + String(Unicode.Scalar(value)!) + "b"
            #expect(TerminalText.escaped(text) == "a\\u{\(String(value, radix: 16, uppercase: true))}b")
        }
        #expect(TerminalText.escaped("évian ✓ 日本") == "évian ✓ 日本")
    }

    @Test("sizes in binary units")
    func sizes() {
        #expect(ByteCount.text(1) == "1 byte")
        #expect(ByteCount.text(1023) == "1023 bytes")
        #expect(ByteCount.text(512_000) == "500 KiB")
        #expect(ByteCount.text(1 << 40) == "1 TiB")
        #expect(ByteCount.text(Int.max) == "8 EiB")
    }
}
