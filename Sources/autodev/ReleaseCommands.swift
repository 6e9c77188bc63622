import Integrity
import Platform

/// `autodev release keygen | sign | verify | speed`: minisign-compatible keys and signatures.
enum ReleaseCommands {
    static func keygen(_ arguments: ParsedArguments) throws -> Int32 {
        let publicPath = arguments.value("public-key") ?? "autodev.pub"
        let secretPath = arguments.value("secret-key") ?? "autodev.key"
        if !arguments.has("force") {
            for path in [publicPath, secretPath] where FileSystem.exists(path) {
                throw ReleaseError("\"\(path)\" already exists; pass --force to replace it")
            }
        }
        let secret = Minisign.SecretKey()
        try FileSystem.writeAtomically(secretPath, Array(secret.text.utf8), mode: 0o600)
        try FileSystem.setMode(secretPath, 0o600)
        try FileSystem.writeAtomically(publicPath, Array(secret.publicKey.text.utf8), mode: 0o644)
        if arguments.has("json") {
            try Output.json(["keyID": "\(secret.keyID)", "publicKey": publicPath, "secretKey": secretPath])
        } else {
            Output.out("Key \(secret.keyID): public key in \"\(publicPath)\", secret key in \"\(secretPath)\" (mode 0600, unencrypted)")
        }
        return ExitCode.success
    }

    static func sign(_ arguments: ParsedArguments) throws -> Int32 {
        guard let file = arguments.positionals.first else {
            throw UsageError(message: "Missing expected argument '<file>'", spec: CommandTree.releaseSign)
        }
        let secretPath = arguments.value("secret-key") ?? "autodev.key"
        let secret = try read(secretPath, "secret key") { (text) throws(Minisign.FormatError) in try Minisign.SecretKey(text: text) }
        let message = try FileSystem.readFile(file)
        let legacy = arguments.has("legacy")
        let comment = arguments.value("trusted-comment")
            ?? "timestamp:\(Int(WallClock.now()))\tfile:\(FileSystem.baseName(of: file))" + (legacy ? "" : "\thashed")
        guard !comment.contains("\n") else { throw ReleaseError("the trusted comment must be one line") }
        let signature = try secret.sign(message, trustedComment: comment, legacy: legacy)
        let output = arguments.value("signature") ?? file + ".minisig"
        try FileSystem.writeAtomically(output, Array(signature.text.utf8))
        if arguments.has("json") {
            try Output.json(["file": file, "signature": output, "keyID": "\(secret.keyID)", "trustedComment": comment])
        } else {
            Output.out("Signed \"\(file)\" with key \(secret.keyID): \"\(output)\"")
        }
        return ExitCode.success
    }

    static func verify(_ arguments: ParsedArguments) throws -> Int32 {
        guard let file = arguments.positionals.first else {
            throw UsageError(message: "Missing expected argument '<file>'", spec: CommandTree.releaseVerify)
        }
        let publicKey = try read(arguments.value("public-key") ?? "autodev.pub", "public key") { (text) throws(Minisign.FormatError) in try Minisign.PublicKey(text: text) }
        let signaturePath = arguments.value("signature") ?? file + ".minisig"
        let signature = try read(signaturePath, "signature") { (text) throws(Minisign.FormatError) in try Minisign.Signature(text: text) }
        let message = try FileSystem.readFile(file)
        do {
            try signature.verify(message, with: publicKey)
        } catch {
            throw ReleaseError("\"\(file)\": \(error)")
        }
        if arguments.has("json") {
            try Output.json(["file": file, "keyID": "\(publicKey.keyID)", "trustedComment": signature.trustedComment, "verified": "true"])
        } else {
            Output.out("Signature and comment signature verified")
            Output.out("Trusted comment: \(signature.trustedComment)")
        }
        return ExitCode.success
    }

    /// Signatures and verifications per second, as `openssl speed ed25519` reports them.
    static func speed(_ arguments: ParsedArguments) throws -> Int32 {
        let seconds = Double(arguments.value("seconds") ?? "2") ?? 2
        let key = Curve25519.Signing.PrivateKey()
        let message = SecureRandom.bytes(64)
        let signature = try key.signature(for: message)
        func rate(_ body: () throws -> Void) rethrows -> Double {
            var count = 0
            let start = MonotonicClock.now()
            while MonotonicClock.seconds(since: start) < seconds {
                for _ in 0..<16 { try body() }
                count += 16
            }
            return Double(count) / MonotonicClock.seconds(since: start)
        }
        let signs = try rate { _ = try key.signature(for: message) }
        var ok = true
        let verifies = rate { ok = ok && key.publicKey.isValidSignature(signature, for: message) }
        guard ok else { throw ReleaseError("a valid signature failed to verify") }
        if arguments.has("json") {
            try Output.json(["signPerSecond": signs, "verifyPerSecond": verifies])
        } else {
            Output.out("Ed25519: \(Int(signs)) sign/s, \(Int(verifies)) verify/s")
        }
        return ExitCode.success
    }

    private static func read<Value>(_ path: String, _ what: String, _ parse: (String) throws(Minisign.FormatError) -> Value) throws -> Value {
        let bytes = try FileSystem.readFile(path)
        guard bytes.count <= 64 * 1024 else { throw ReleaseError("\"\(path)\" is too large (\(bytes.count) bytes) to be a \(what) file") }
        do {
            return try parse(String(decoding: bytes, as: UTF8.self))
        } catch {
            throw ReleaseError("\"\(path)\" is not a valid \(what) file: \(error)")
        }
    }
}

struct ReleaseError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
