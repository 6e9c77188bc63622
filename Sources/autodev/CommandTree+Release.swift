// The release commands: repositories, signatures, patches, stamps.

struct ReleaseKeygenCommand: ParsableCommand {
    static var configuration: CommandConfiguration {
        CommandConfiguration(
            path: ["release", "keygen"],
            abstract: "Create a minisign-compatible Ed25519 key pair (secret key unencrypted, mode 0600).")
    }

    @Option(name: "public-key", value: "PATH", help: "Where to write the public key (default: autodev.pub).") var publicKey: String?
    @Option(name: "secret-key", value: "PATH", help: "Where to write the secret key (default: autodev.key).") var secretKey: String?
    @Flag(name: "force", help: "Replace existing key files.") var force: Bool
    @Flag(CommandSpec.json) var json: Bool

    func run() throws -> Int32 { try ReleaseCommands.keygen(self) }
}

struct ReleaseSignCommand: ParsableCommand {
    static var configuration: CommandConfiguration {
        CommandConfiguration(
            path: ["release", "sign"],
            abstract: "Sign a file; writes <file>.minisig, which minisign -V accepts.")
    }

    @Argument("file", help: "The file to sign.") var file: String?
    @Option(name: "secret-key", value: "PATH", help: "The secret key (default: autodev.key).") var secretKey: String?
    @Option(name: "signature", value: "PATH", help: "Where to write the signature (default: <file>.minisig).") var signature: String?
    @Option(name: "trusted-comment", value: "TEXT", help: "The signed comment (default: timestamp and file name).") var trustedComment: String?
    @Flag(name: "legacy", help: "Sign the file itself ('Ed') instead of its BLAKE2b-512 digest ('ED').") var legacy: Bool
    @Flag(CommandSpec.json) var json: Bool

    func run() throws -> Int32 { try ReleaseCommands.sign(self) }
}

struct ReleaseVerifyCommand: ParsableCommand {
    static var configuration: CommandConfiguration {
        CommandConfiguration(
            path: ["release", "verify"],
            abstract: "Verify a file's minisign signature and its trusted comment.")
    }

    @Argument("file", help: "The signed file.") var file: String?
    @Option(name: "public-key", value: "PATH", help: "The public key (default: autodev.pub).") var publicKey: String?
    @Option(name: "signature", value: "PATH", help: "The signature (default: <file>.minisig).") var signature: String?
    @Flag(CommandSpec.json) var json: Bool

    func run() throws -> Int32 { try ReleaseCommands.verify(self) }
}

struct ReleaseDiffCommand: ParsableCommand {
    static var configuration: CommandConfiguration {
        CommandConfiguration(
            path: ["release", "diff"],
            abstract: "Make a patch that turns one binary into another (autodev's delta format).",
            discussion: "The patch names both files' sizes and SHA-256 (docs/delta-format.md); 'release add' makes the channel's patches itself, this is for inspection and benchmarks.")
    }

    @Argument("base", help: "The file the patch applies to.") var base: String?
    @Argument("result", help: "The file the patch makes.") var result: String?
    @Option(name: "output", value: "PATH", help: "Where to write the patch (default: <result>.patch).") var output: String?
    @Flag(CommandSpec.json) var json: Bool

    func run() throws -> Int32 { try DeltaCommands.diff(self) }
}

struct ReleasePatchCommand: ParsableCommand {
    static var configuration: CommandConfiguration {
        CommandConfiguration(
            path: ["release", "patch"],
            abstract: "Apply a patch made by 'release diff' and check the result's SHA-256.",
            discussion: "The patch is refused unless the base's size and SHA-256 are those it names; the result is written atomically only after its SHA-256 matched.")
    }

    @Argument("base", help: "The file the patch applies to.") var base: String?
    @Argument("patch", help: "The patch.") var patch: String?
    @Option(name: "output", value: "PATH", help: "Where to write the result.") var output: String?
    @Flag(CommandSpec.json) var json: Bool

    func run() throws -> Int32 { try DeltaCommands.patch(self) }
}

struct ReleaseSpeedCommand: ParsableCommand {
    static var configuration: CommandConfiguration {
        CommandConfiguration(
            path: ["release", "speed"],
            abstract: "Measure signatures and verifications per second.",
            discussion: "Rates are per second of CPU time, as openssl speed counts them. Ed25519 measures signing and verification; ecdsa-p256 and rsa-pss-3072 measure verification (SHA-256; PSS with MGF1-SHA-256) of a built-in key and signature, or of the files given.")
    }

    @Option(name: "scheme", value: "SCHEME", help: "ed25519, ecdsa-p256 or rsa-pss-3072 (default: ed25519).") var scheme: String?
    @Option(name: "public-key", value: "PATH", help: "A PEM PUBLIC KEY to verify with (ecdsa-p256, rsa-pss-3072).") var publicKey: String?
    @Option(name: "signature", value: "PATH", help: "The signature: DER for ECDSA, raw bytes for PSS.") var signature: String?
    @Option(name: "message", value: "PATH", help: "The signed file.") var message: String?
    @Option(name: "seconds", value: "SECONDS", help: "CPU seconds to measure each (default: 2).") var seconds: String?
    @Flag(CommandSpec.json) var json: Bool

    func run() throws -> Int32 { try ReleaseCommands.speed(self) }
}

struct ReleaseInitCommand: ParsableCommand {
    static var configuration: CommandConfiguration {
        CommandConfiguration(
            path: ["release", "init"],
            abstract: "Create a release repository: Ed25519 keys and the four top-level TUF roles, signed.",
            discussion: "Writes DIR/metadata/ (1.root.json is the root users trust: give it to 'autodev update configure --trusted-root'), DIR/targets/, and the keys in DIR/keys/ (mode 0600). In real use, move the root and targets keys offline after this, and keep only the snapshot and timestamp keys where 'publish' and 'refresh' run. Serve only DIR/metadata/ and DIR/targets/ (never DIR/keys/ or DIR/pending.json).")
    }

    @Option(CommandTree.releaseRepo) var repo: String?
    @Option(name: "threshold", value: "N", help: "Keys per role, all of which must sign (default 1, at most 10).") var threshold: String?
    @Option(name: "expires", value: "DAYS", help: "Days root, targets and snapshot stay valid (default 365); timestamps last 7 days.") var expires: String?
    @Flag(CommandSpec.json) var json: Bool

    func run() throws -> Int32 { try ChannelCommands.initialize(self) }
}

struct ReleaseAddCommand: ParsableCommand {
    static var configuration: CommandConfiguration {
        CommandConfiguration(
            path: ["release", "add"],
            abstract: "Add an artifact to what the next 'publish' signs.",
            discussion: "The target path is <program>/<version>/<platform>/<file name> (the program is autodev unless --program names another), listed with its length, SHA-256 and SHA-512, and the release's facts in its 'custom' field. The file is stored as targets/<path's directories>/<sha256>.<file name>. Beside it go patches from the newest earlier releases of the same program and platform (<program>/<version>/<platform>/from-<base sha256, 12 digits>.patch, docs/delta-format.md), each a target with its own length and hashes and, in 'custom', the SHA-256 of the binary it applies to and of the artifact it rebuilds; 'update apply' downloads the one made from the running binary instead of the full file. Clients see nothing until 'release publish'.")
    }

    @Argument("file", help: "The artifact.") var file: String?
    @Option(CommandTree.releaseRepo) var repo: String?
    @Option(name: "version", value: "V", help: "The release's semantic version (e.g. 1.4.0, 2.0.0-rc.1).") var version: String?
    @Option(name: "platform", value: "P", help: "linux-x86_64, linux-aarch64, darwin-x86_64, darwin-arm64 or windows-x86_64.") var platform: String?
    @Flag(name: "critical", help: "Mark the release critical: users should install it without delay.") var critical: Bool
    @Option(name: "min-version", value: "V", help: "The oldest version that may update to this one directly.") var minVersion: String?
    @Option(name: "rollout", value: "PERCENT", help: "Offer it to this percentage of installations, 0-100 (default 100).") var rollout: String?
    @Option(name: "notes", value: "FILE", help: "Release notes (UTF-8 text).") var notes: String?
    @Option(name: "patches", value: "N", help: "Make patches from the N newest earlier releases of the platform (default 3; 0 for none).") var patches: String?
    @Option(name: "program", value: "NAME", help: "The program the release is of, as its ProgramIdentity names it (default autodev).") var program: String?
    @Flag(CommandSpec.json) var json: Bool

    func run() throws -> Int32 { try ChannelCommands.add(self) }
}

struct ReleaseNormalizeCommand: ParsableCommand {
    static var configuration: CommandConfiguration {
        CommandConfiguration(
            path: ["release", "normalize"],
            abstract: "Make a built binary's bytes a function of its source alone.",
            discussion: "Zeroes the compiler's per-object hashes (.swift_modhash, read by nothing at run time) and sets the linker's build id from the content: two stripped release builds of one commit, in clones at any paths, then have the same SHA-256. The file is replaced atomically (mode 0755); anything but an ELF file is left as it is. A source upgrade does this to every build; scripts/build-release and scripts/verify-build use it to make and check a published artifact.")
    }

    @Argument("file", help: "The binary to normalise.") var file: String?
    @Flag(CommandSpec.json) var json: Bool

    func run() throws -> Int32 { try ChannelCommands.normalize(self) }
}

struct ReleaseStampCommand: ParsableCommand {
    static var configuration: CommandConfiguration {
        CommandConfiguration(
            path: ["release", "stamp"],
            abstract: "Write a version into a built binary, without rebuilding it.",
            discussion: "The binary reports the stamped version instead of the one compiled in (its --version and the self-check report that verification compares with the release's version). The file is replaced atomically with its owner, group and permissions, except setuid and setgid (and file capabilities), which are not carried over to a new binary; a symbolic link or a file with several names is refused. It must hold exactly one stamp area (programs built with this library do). Stamp before 'release add': the stamp changes the file's hashes.")
    }

    @Argument("file", help: "The binary to stamp.") var file: String?
    @Option(name: "version", value: "V", help: "The semantic version to write (e.g. 1.4.0).") var version: String?
    @Flag(CommandSpec.json) var json: Bool

    func run() throws -> Int32 { try ChannelCommands.stamp(self) }
}

struct ReleasePublishCommand: ParsableCommand {
    static var configuration: CommandConfiguration {
        CommandConfiguration(
            path: ["release", "publish"],
            abstract: "Sign what changed: the next targets, snapshot and timestamp versions.",
            discussion: "Consistent snapshots: N.targets.json and N.snapshot.json are new files, and timestamp.json is written last, so clients see the old release or the new one. With nothing added since the last publish, nothing is signed.")
    }

    @Option(CommandTree.releaseRepo) var repo: String?
    @Option(name: "expires", value: "DAYS", help: "Days targets and snapshot stay valid (default 365).") var expires: String?
    @Flag(CommandSpec.json) var json: Bool

    func run() throws -> Int32 { try ChannelCommands.publish(self) }
}

struct ReleaseRefreshCommand: ParsableCommand {
    static var configuration: CommandConfiguration {
        CommandConfiguration(
            path: ["release", "refresh"],
            abstract: "Re-sign the timestamp with a new expiry (run it from cron, more often than weekly).")
    }

    @Option(CommandTree.releaseRepo) var repo: String?
    @Flag(CommandSpec.json) var json: Bool

    func run() throws -> Int32 { try ChannelCommands.refresh(self) }
}

struct ReleaseRotateCommand: ParsableCommand {
    static var configuration: CommandConfiguration {
        CommandConfiguration(
            path: ["release", "rotate"],
            abstract: "Replace a role's keys with new ones in the next root version.",
            discussion: "Writes N+1.root.json listing new keys for the role (as many as its threshold); a new root is signed by the old root keys and the new ones, so installations trusting any earlier root walk to it. The old key files move to keys/retired/. Run 'autodev release publish' afterwards: it signs targets, snapshot and timestamp again under the new keys.")
    }

    @Option(CommandTree.releaseRepo) var repo: String?
    @Option(name: "role", value: "ROLE", help: "root, targets, snapshot or timestamp.") var role: String?
    @Option(name: "expires", value: "DAYS", help: "Days the new root stays valid (default 365).") var expires: String?
    @Flag(CommandSpec.json) var json: Bool

    func run() throws -> Int32 { try ChannelCommands.rotate(self) }
}

struct ReleaseInstallerCommand: ParsableCommand {
    static var configuration: CommandConfiguration {
        CommandConfiguration(
            path: ["release", "installer"],
            abstract: "Sign the binaries the curl | sh installer (scripts/get-autodev) downloads.",
            discussion: "For each platform, the newest release the signed targets metadata lists (never what is only pending) is checked against its signed length and SHA-256 and copied to DIR/install/autodev-<platform>, with its minisign signature (prehashed, 'ED') in DIR/install/autodev-<platform>.minisig and the trusted comment 'autodev <version> <platform>', each written atomically; metadata/ and targets/ are not changed. Run it after every 'release publish', and serve DIR/install/ beside metadata/ and targets/. Nothing is written when nothing is published or a stored file does not match its signed hashes.")
    }

    @Option(CommandTree.releaseRepo) var repo: String?
    @Option(name: "secret-key", value: "PATH", help: "The minisign secret key that signs them ('release keygen'); users pass its public key to get-autodev --key.") var secretKey: String?
    @Flag(CommandSpec.json) var json: Bool

    func run() throws -> Int32 { try ReleaseCommands.installer(self) }
}

struct ReleaseCommand: ParsableCommand {
    static var configuration: CommandConfiguration {
        CommandConfiguration(
            path: ["release"],
            abstract: "Publish release repositories (TUF); sign and verify files with minisign-compatible keys.",
            words: .subcommandOnly,
            subcommands: [ReleaseInitCommand.self, ReleaseStampCommand.self, ReleaseNormalizeCommand.self, ReleaseAddCommand.self, ReleasePublishCommand.self, ReleaseRefreshCommand.self, ReleaseRotateCommand.self, ReleaseInstallerCommand.self, ReleaseKeygenCommand.self, ReleaseSignCommand.self, ReleaseVerifyCommand.self, ReleaseDiffCommand.self, ReleasePatchCommand.self, ReleaseSpeedCommand.self])
    }

    func run() throws -> Int32 {
        Output.out(Self.spec.helpText())
        return ExitCode.success
    }
}
