import Glibc
import Integrity
import Platform
import ReleaseChannel

/// `autodev release keygen | sign | verify | speed | installer`: minisign-compatible keys and
/// signatures, and the signed binaries the `curl | sh` installer downloads.
enum ReleaseCommands {
    static func keygen(_ arguments: ReleaseKeygenCommand) throws -> Int32 {
        let publicPath = arguments.publicKey ?? "autodev.pub"
        let secretPath = arguments.secretKey ?? "autodev.key"
        if !arguments.force {
            for path in [publicPath, secretPath] where FileSystem.exists(path) {
                throw ReleaseError("\(Output.quoted(path)) already exists; pass --force to replace it")
            }
        }
        guard !FileSystem.namesSameEntry(publicPath, secretPath) else {
            throw ReleaseError("The public key and the secret key would both be \(Output.quoted(secretPath)): give them different paths; nothing was written")
        }
        // Both places are checked before either is written, so a refusal leaves the old pair as it was.
        try FileSystem.checkOutputPath(publicPath, distinctFrom: [secretPath])
        try FileSystem.checkOutputPath(secretPath, distinctFrom: [publicPath])
        let secret = Minisign.SecretKey()
        // The two keys change together or not at all: an old secret is never left beside a new public key.
        try FileSystem.replaceTogether([
            .init(secretPath, Array(secret.text.utf8), mode: 0o600),
            .init(publicPath, Array(secret.publicKey.text.utf8), mode: 0o644),
        ])
        if arguments.json {
            try Output.json(["keyID": "\(secret.keyID)", "publicKey": publicPath, "secretKey": secretPath])
        } else {
            Output.out("Key \(secret.keyID): public key in \(Output.quoted(publicPath)), secret key in \(Output.quoted(secretPath)) (mode 0600, unencrypted)")
        }
        return ExitCode.success
    }

    static func sign(_ arguments: ReleaseSignCommand) throws -> Int32 {
        guard let file = arguments.file else {
            throw UsageError(message: "Missing expected argument '<file>'", spec: ReleaseSignCommand.spec)
        }
        let secretPath = arguments.secretKey ?? "autodev.key"
        let secret = try read(secretPath, "secret key") { (text) throws(Minisign.FormatError) in try Minisign.SecretKey(text: text) }
        let message = try FileSystem.readInputFile(file, maxBytes: InputLimit.signedFile, what: "a file to sign")
        let legacy = arguments.legacy
        let comment = arguments.trustedComment
            ?? "timestamp:\(Int(WallClock.now()))\tfile:\(FileSystem.baseName(of: file))" + (legacy ? "" : "\thashed")
        guard !comment.contains("\n") else { throw ReleaseError("the trusted comment must be one line") }
        let signature = try secret.sign(message, trustedComment: comment, legacy: legacy)
        let output = arguments.signature ?? file + ".minisig"
        try FileSystem.checkOutputPath(output, distinctFrom: [file, secretPath])
        try FileSystem.writeAtomically(output, Array(signature.text.utf8))
        if arguments.json {
            try Output.json(["file": file, "signature": output, "keyID": "\(secret.keyID)", "trustedComment": comment])
        } else {
            Output.out("Signed \(Output.quoted(file)) with key \(secret.keyID): \(Output.quoted(output))")
        }
        return ExitCode.success
    }

    static func verify(_ arguments: ReleaseVerifyCommand) throws -> Int32 {
        guard let file = arguments.file else {
            throw UsageError(message: "Missing expected argument '<file>'", spec: ReleaseVerifyCommand.spec)
        }
        let publicKey = try read(arguments.publicKey ?? "autodev.pub", "public key") { (text) throws(Minisign.FormatError) in try Minisign.PublicKey(text: text) }
        let signaturePath = arguments.signature ?? file + ".minisig"
        let signature = try read(signaturePath, "signature") { (text) throws(Minisign.FormatError) in try Minisign.Signature(text: text) }
        let message = try FileSystem.readInputFile(file, maxBytes: InputLimit.signedFile, what: "a signed file")
        do {
            try signature.verify(message, with: publicKey)
        } catch {
            throw ReleaseError("\(Output.quoted(file)): \(error)")
        }
        if arguments.json {
            try Output.json(["file": file, "keyID": "\(publicKey.keyID)", "trustedComment": signature.trustedComment, "verified": "true"])
        } else {
            Output.out("Signature and comment signature verified")
            Output.out("Trusted comment: \(signature.trustedComment)")
        }
        return ExitCode.success
    }

    /// Signatures and verifications per second of CPU time, as `openssl speed ed25519` reports them; with
    /// `--scheme ecdsa-p256` or `rsa-pss-3072`, verifications per second (as the verify column of
    /// `openssl speed ecdsap256` and `rsa3072`) of a built-in key and signature, or of the
    /// `--public-key`, `--signature` and `--message` files given.
    static func speed(_ arguments: ReleaseSpeedCommand) throws -> Int32 {
        var seconds = 2.0
        if let text = arguments.seconds {
            guard let value = Double(text), value.isFinite, value > 0, value <= 3600 else {
                throw UsageError(message: "The value '\(text)' is invalid for '\(arguments.$seconds.label)': give a number of seconds above 0 and at most 3600", spec: ReleaseSpeedCommand.spec)
            }
            seconds = value
        }
        let scheme = arguments.scheme ?? "ed25519"
        // Operations per second of this process's CPU time, as `openssl speed` counts them (it
        // divides by user time unless given -elapsed), so other load on the machine slows both
        // alike instead of only the side measured by the wall clock.
        func cpuSeconds() -> Double {
            var time = timespec()
            clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &time)
            return Double(time.tv_sec) + Double(time.tv_nsec) / 1e9
        }
        func rate(_ body: () throws -> Void) rethrows -> Double {
            var count = 0
            let start = cpuSeconds()
            while cpuSeconds() - start < seconds {
                for _ in 0..<16 { try body() }
                count += 16
            }
            return Double(count) / (cpuSeconds() - start)
        }
        var ok = true
        switch scheme {
        case "ed25519":
            let key = Curve25519.Signing.PrivateKey()
            let message = SecureRandom.bytes(64)
            let signature = try key.signature(for: message)
            let signs = try rate { _ = try key.signature(for: message) }
            let verifies = rate { ok = ok && key.publicKey.isValidSignature(signature, for: message) }
            guard ok else { throw ReleaseError("a valid signature failed to verify") }
            if arguments.json {
                try Output.json(["signPerSecond": signs, "verifyPerSecond": verifies])
            } else {
                Output.out("Ed25519: \(Int(signs)) sign/s, \(Int(verifies)) verify/s")
            }
            return ExitCode.success
        case "ecdsa-p256", "rsa-pss-3072":
            let p256 = scheme == "ecdsa-p256"
            let given = [arguments.publicKey, arguments.signature, arguments.message].compactMap { $0 }
            guard given.isEmpty || given.count == 3 else {
                throw UsageError(message: "Pass all of --public-key, --signature and --message, or none", spec: ReleaseSpeedCommand.spec)
            }
            let keyText: String, signature: [UInt8], message: [UInt8]
            if given.isEmpty {
                keyText = p256 ? SpeedSamples.p256PublicKey : SpeedSamples.rsa3072PublicKey
                signature = Base64.decode(p256 ? SpeedSamples.p256Signature : SpeedSamples.rsa3072Signature)!
                message = SpeedSamples.message
            } else {
                keyText = String(decoding: try FileSystem.readInputFile(arguments.publicKey!, maxBytes: InputLimit.keyFile, what: "a public key"), as: UTF8.self)
                signature = try FileSystem.readInputFile(arguments.signature!, maxBytes: InputLimit.keyFile, what: "a signature")
                message = try FileSystem.readInputFile(arguments.message!, maxBytes: InputLimit.signedFile, what: "a message")
            }
            let verifies: Double
            do {
                if p256 {
                    let key = try P256.PublicKey(pemRepresentation: keyText)
                    verifies = rate { ok = ok && key.isValidSignature(derSignature: signature, for: message) }
                } else {
                    let key = try RSAPSS.PublicKey(pemRepresentation: keyText)
                    verifies = rate { ok = ok && key.isValidSignature(signature, for: message) }
                }
            } catch let error as KeyParsingError {
                throw ReleaseError("the public key is not usable: \(error)")
            }
            guard ok else { throw ReleaseError("the signature does not verify") }
            if arguments.json {
                try Output.json(["verifyPerSecond": verifies])
            } else {
                Output.out("\(p256 ? "ECDSA P-256" : "RSASSA-PSS 3072"): \(Int(verifies)) verify/s")
            }
            return ExitCode.success
        default:
            throw UsageError(message: "The value '\(scheme)' is invalid for '--scheme <scheme>': give ed25519, ecdsa-p256 or rsa-pss-3072",
                             spec: ReleaseSpeedCommand.spec)
        }
    }

    /// `release installer`: each platform's newest published release copied to
    /// `<repo>/install/autodev-<platform>` with its minisign signature (scripts/get-autodev).
    static func installer(_ arguments: ReleaseInstallerCommand) throws -> Int32 {
        let spec = ReleaseInstallerCommand.spec
        let repository = ReleaseRepository(directory: try ChannelCommands.required(arguments.$repo, spec))
        let secretPath = try ChannelCommands.required(arguments.$secretKey, spec)
        let secret = try read(secretPath, "secret key") { (text) throws(Minisign.FormatError) in try Minisign.SecretKey(text: text) }
        let written = try repository.writeInstallers(signingWith: secret)
        let publicKey = String(secret.publicKey.text.split(separator: "\n").last ?? "")
        let rootSHA256 = try ChannelCommands.rootFingerprint(repository)
        if arguments.json {
            try Output.json(InstallerReport(
                installers: written.map {
                    .init(platform: $0.release.facts.platform.rawValue, version: $0.release.facts.version.description, binary: $0.binary,
                          signature: $0.signature, trustedComment: $0.trustedComment, sha256: $0.release.sha256, length: $0.release.length)
                },
                keyID: "\(secret.keyID)", publicKey: publicKey, rootSHA256: rootSHA256))
        } else {
            for installer in written {
                Output.out("Wrote \(installer.binary) (autodev \(installer.release.facts.version), \(installer.release.length) bytes) and its signature, key \(secret.keyID): \"\(installer.trustedComment)\"")
            }
            Output.out("Serve install/ beside metadata/ and targets/, with scripts/get-autodev; users install with:")
            Output.out("  curl -fsSL URL/get-autodev | sh -s -- --channel URL --key \(publicKey) --root-sha256 \(rootSHA256)")
        }
        return ExitCode.success
    }

    struct InstallerReport: Encodable {
        struct Installer: Encodable {
            var platform: String
            var version: String
            var binary: String
            var signature: String
            var trustedComment: String
            var sha256: String
            var length: Int
        }
        var installers: [Installer]
        var keyID: String
        var publicKey: String
        var rootSHA256: String
    }

    private static func read<Value>(_ path: String, _ what: String, _ parse: (String) throws(Minisign.FormatError) -> Value) throws -> Value {
        let bytes = try FileSystem.readInputFile(path, maxBytes: InputLimit.keyFile, what: "a \(what) file")
        do {
            return try parse(String(decoding: bytes, as: UTF8.self))
        } catch {
            throw ReleaseError("\(Output.quoted(path)) is not a valid \(what) file: \(error)")
        }
    }
}

struct ReleaseError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
