import Foundation
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
            try UpdateGuards.checkHome(home, staging: home + "/staging", downloadLength: Int.max / 4)
        }
        #expect(error.code == .space)
        #expect(error.message.hasPrefix("Not enough space in \"\(home)\": the update needs "), "\(error.message)")
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
