import Foundation
import Integrity
import Testing

@Suite("release keygen, sign, verify, digest, diff and patch with the real binary")
struct ReleaseCommandTests {
    @Test("keygen writes the secret key with mode 0600, refuses to overwrite; sign then verify succeeds")
    func roundTrip() throws {
        let harness = try Harness()
        defer { harness.cleanUp() }
        let directory = harness.root.path
        let run = { (arguments: [String]) in try harness.run(["release"] + arguments, executable: Harness.binary, environment: [:], directory: directory) }
        let keygen = try run(["keygen"])
        #expect(keygen.status == 0, "\(keygen.stderr)")
        let mode = try FileManager.default.attributesOfItem(atPath: directory + "/autodev.key")[.posixPermissions] as? Int
        #expect(mode == 0o600)
        let again = try run(["keygen"])
        #expect(again.status == 1)
        #expect(again.stderr.contains("already exists; pass --force to replace it"))
        // One path for both keys, however it is spelt, is refused before anything is written.
        let secretBefore = try Data(contentsOf: URL(fileURLWithPath: directory + "/autodev.key"))
        for arguments in [["--public-key", "same", "--secret-key", "same"], ["--force", "--public-key", "autodev.key", "--secret-key", "./autodev.key"]] {
            let same = try run(["keygen"] + arguments)
            #expect(same.status == 1, "\(arguments)")
            #expect(same.stderr.contains("would both be"), "\(same.stderr)")
        }
        #expect(!FileManager.default.fileExists(atPath: directory + "/same"))
        #expect(try Data(contentsOf: URL(fileURLWithPath: directory + "/autodev.key")) == secretBefore)

        try Data("payload".utf8).write(to: URL(fileURLWithPath: directory + "/file"))
        #expect(try run(["sign", "file", "--trusted-comment", "v1.0"]).status == 0)
        let verified = try run(["verify", "file"])
        #expect(verified.status == 0)
        #expect(verified.stdout == "Signature and comment signature verified\nTrusted comment: v1.0\n")

        try Data("payload!".utf8).write(to: URL(fileURLWithPath: directory + "/file"))
        let tampered = try run(["verify", "file"])
        #expect(tampered.status == 1)
        #expect(tampered.stderr.contains("signature verification failed"))
    }

    @Test("release diff and patch rebuild the real binary with bytes inserted and changed; a damaged patch or the wrong base writes nothing")
    func diffAndPatch() throws {
        let harness = try Harness()
        defer { harness.cleanUp() }
        let directory = harness.root.path
        let run = { (arguments: [String]) in try harness.run(["release"] + arguments, executable: Harness.binary, environment: [:], directory: directory) }
        let base = try Data(contentsOf: URL(fileURLWithPath: Harness.binary))
        try base.write(to: URL(fileURLWithPath: directory + "/old"))
        // A few bytes changed: the patch is a sliver of the file.
        var changed = [UInt8](base)
        for i in stride(from: 1_000, to: changed.count, by: changed.count / 7) { changed[i] &+= 1 }
        // Code moved without being relinked: the branch predictions mislead, the result must still be exact.
        var moved = changed
        moved.insert(contentsOf: Array(repeating: 0x90, count: 37), at: moved.count / 3)
        for (name, edited) in [("changed", changed), ("moved", moved)] {
            try Data(edited).write(to: URL(fileURLWithPath: directory + "/" + name))
            let diff = try run(["diff", "old", name, "--output", name + ".patch", "--json"])
            #expect(diff.status == 0, "\(diff.stderr)")
            let made = try harness.json(diff.stdout)
            #expect(made["baseSize"] as? Int == base.count)
            #expect(made["resultSize"] as? Int == edited.count)
            let patchSize = try #require(made["patchSize"] as? Int)
            #expect(try Data(contentsOf: URL(fileURLWithPath: directory + "/" + name + ".patch")).count == patchSize)
            if name == "changed" { #expect(patchSize < base.count / 1_000, "\(patchSize) bytes") }

            let applied = try run(["patch", "old", name + ".patch", "--output", name + ".rebuilt", "--json"])
            #expect(applied.status == 0, "\(applied.stderr)")
            #expect(try Data(contentsOf: URL(fileURLWithPath: directory + "/" + name + ".rebuilt")) == Data(edited))
            #expect(try harness.json(applied.stdout)["sha256"] as? String == SHA256.hash(data: edited).hex)
        }

        // Against another base, or with a byte of the patch changed: refused, nothing written.
        let wrongBase = try run(["patch", "changed", "moved.patch", "--output", "wrong"])
        #expect(wrongBase.status == 1)
        #expect(wrongBase.stderr.contains("failed"), "\(wrongBase.stderr)")
        var damaged = try [UInt8](Data(contentsOf: URL(fileURLWithPath: directory + "/moved.patch")))
        damaged[damaged.count / 2] ^= 0x40
        try Data(damaged).write(to: URL(fileURLWithPath: directory + "/damaged"))
        let refused = try run(["patch", "old", "damaged", "--output", "wrong"])
        #expect(refused.status == 1)
        #expect(!FileManager.default.fileExists(atPath: directory + "/wrong"))

        // The patch is streamed and its header read first: a 2 GiB (sparse) patch whose header
        // is wrong, or names another base, is refused within 256 MiB of address space, and so is
        // a 2 GiB (sparse) base of another size than the header names; nothing is written.
        let patchBytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: directory + "/moved.patch")))
        var otherVersion = patchBytes
        otherVersion[8] = 0x58
        try Data(otherVersion).write(to: URL(fileURLWithPath: directory + "/huge-version.patch"))
        try FileManager.default.copyItem(atPath: directory + "/moved.patch", toPath: directory + "/huge-padded.patch")
        FileManager.default.createFile(atPath: directory + "/huge-base", contents: nil)
        for name in ["huge-version.patch", "huge-padded.patch", "huge-base"] { #expect(truncate(directory + "/" + name, Int(Int32.max)) == 0) }
        let bounded: [(String, String)] = [
            ("old huge-version.patch", "The patch is format version 88; this build reads versions 1 to 2"),
            ("changed huge-padded.patch", "The patch applies to the file with SHA-256"),
            ("old huge-padded.patch", "The patch has bytes after its end"),
            ("huge-base moved.patch", "The patch applies to a file of \(base.count) bytes, not this one of \(Int32.max)"),
        ]
        for (inputs, message) in bounded {
            let result = try harness.run(["-c", "ulimit -v 262144; exec \"$0\" release patch \(inputs) --output wrong", Harness.binary],
                                         executable: "/bin/sh", environment: [:], directory: directory)
            #expect(result.status == 1, "\(inputs)")
            #expect(result.stderr.contains(message), "\(inputs): \(result.stderr)")
        }
        #expect(!FileManager.default.fileExists(atPath: directory + "/wrong"))
        for name in ["huge-version.patch", "huge-padded.patch", "huge-base"] { try FileManager.default.removeItem(atPath: directory + "/" + name) }

        // An output that is not a plain file of this user's is never replaced (as root, a rename
        // over /dev/null would succeed), nor an input, nor a file in a directory that is missing.
        #expect(try run(["keygen"]).status == 0)
        #expect(mkfifo(directory + "/fifo", 0o600) == 0)
        try FileManager.default.createSymbolicLink(atPath: directory + "/link", withDestinationPath: directory + "/old")
        try FileManager.default.linkItem(atPath: directory + "/changed", toPath: directory + "/hard")
        try FileManager.default.createDirectory(atPath: directory + "/folder", withIntermediateDirectories: false)
        let before = try FileManager.default.contentsOfDirectory(atPath: directory).sorted()
        let cases: [([String], String)] = [
            (["diff", "old", "changed", "--output", "fifo"], "it is a device, FIFO or socket, which is not replaced"),
            (["diff", "old", "changed", "--output", "link"], "it is a symbolic link, which is not replaced"),
            (["diff", "old", "moved", "--output", "hard"], "it has 2 hard links"),
            (["diff", "old", "changed", "--output", "folder"], "it is a directory"),
            (["diff", "changed", "old", "--output", "old"], "it is also an input of this command"),
            (["patch", "old", "moved.patch", "--output", "old"], "it is also an input of this command"),
            (["patch", "old", "moved.patch", "--output", "missing/result"], "the directory missing does not exist"),
            (["sign", "old", "--signature", "fifo"], "it is a device, FIFO or socket"),
        ]
        for (arguments, reason) in cases {
            let result = try run(arguments)
            #expect(result.status == 1, "\(arguments): \(result.stderr)")
            #expect(result.stderr.contains(reason), "\(arguments): \(result.stderr)")
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory).sorted() == before)
        #expect(try Data(contentsOf: URL(fileURLWithPath: directory + "/old")) == base)
        #expect(try Data(contentsOf: URL(fileURLWithPath: directory + "/changed")) == Data(changed))
        var fifo = stat()
        #expect(lstat(directory + "/fifo", &fifo) == 0 && fifo.st_mode & S_IFMT == S_IFIFO)
        if getuid() == 0 {
            let devNull = try run(["diff", "old", "changed", "--output", "/dev/null"])
            #expect(devNull.status == 1, "\(devNull.stderr)")
            var info = stat()
            #expect(stat("/dev/null", &info) == 0 && info.st_mode & S_IFMT == S_IFCHR, "/dev/null is no longer a device")
        }
    }

    @Test("speed --scheme: ecdsa-p256 and rsa-pss-3072 verify their built-in or given signatures; bad input is refused")
    func speedSchemes() throws {
        let harness = try Harness()
        defer { harness.cleanUp() }
        let directory = harness.root.path
        let run = { (arguments: [String]) in
            try harness.run(["release", "speed"] + arguments, executable: Harness.binary, environment: [:], directory: directory)
        }
        for scheme in ["ecdsa-p256", "rsa-pss-3072"] {
            let result = try run(["--scheme", scheme, "--seconds", "0.05", "--json"])
            #expect(result.status == 0, "\(result.stderr)")
            let json = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Double]
            #expect((json?["verifyPerSecond"] ?? 0) > 0, "\(result.stdout)")
        }
        let unknown = try run(["--scheme", "dsa"])
        #expect(unknown.status == 64)
        #expect(unknown.stderr.hasPrefix("Error: The value 'dsa' is invalid for '--scheme <scheme>'"))
        let partial = try run(["--scheme", "ecdsa-p256", "--public-key", "key.pem"])
        #expect(partial.status == 64)
        #expect(partial.stderr.hasPrefix("Error: Pass all of --public-key, --signature and --message, or none"))

        // Files given: a key that is not P-256, then a signature that does not verify.
        let openssl = "/usr/bin/openssl"
        guard FileManager.default.isExecutableFile(atPath: openssl) else { return }
        for arguments in [["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", "key.pem"],
                          ["pkey", "-in", "key.pem", "-pubout", "-out", "pub.pem"]] {
            #expect(try harness.run(arguments, executable: openssl, directory: directory).status == 0)
        }
        try Data("message".utf8).write(to: URL(fileURLWithPath: directory + "/message"))
        try Data([0x30, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01]).write(to: URL(fileURLWithPath: directory + "/signature"))
        let files = ["--public-key", "pub.pem", "--signature", "signature", "--message", "message", "--seconds", "0.05"]
        let wrongKey = try run(["--scheme", "rsa-pss-3072"] + files)
        #expect(wrongKey.status == 1)
        #expect(wrongKey.stderr.contains("the public key is not usable: expected an rsaEncryption public key, found id-ecPublicKey"))
        let wrongSignature = try run(["--scheme", "ecdsa-p256"] + files)
        #expect(wrongSignature.status == 1)
        #expect(wrongSignature.stderr == "Error: the signature does not verify\n")
    }

    @Test("bad key and signature files each give a clear error and exit 1")
    func badFiles() throws {
        let harness = try Harness()
        defer { harness.cleanUp() }
        let directory = harness.root.path
        let run = { (arguments: [String]) in try harness.run(["release"] + arguments, executable: Harness.binary, environment: [:], directory: directory) }
        #expect(try run(["keygen"]).status == 0)
        #expect(try run(["keygen", "--public-key", "other.pub", "--secret-key", "other.key"]).status == 0)
        try Data("payload".utf8).write(to: URL(fileURLWithPath: directory + "/file"))
        #expect(try run(["sign", "file"]).status == 0)
        let signature = try String(contentsOfFile: directory + "/file.minisig", encoding: .utf8)
        let publicKey = try String(contentsOfFile: directory + "/autodev.pub", encoding: .utf8)
        var lines = signature.split(separator: "\n").map(String.init)
        let keyLines = publicKey.split(separator: "\n").map(String.init)
        let cases: [(file: String, text: String, option: String, message: String)] = [
            ("truncated.minisig", lines.prefix(2).joined(separator: "\n"), "--signature", "is truncated: it has 2 of 4 lines"),
            ("short.minisig", { var l = lines; l[1] = String(l[1].prefix(40)); return l.joined(separator: "\n") }(), "--signature", "truncated"),
            ("nonbase64.minisig", { var l = lines; l[1] = "%%%%" + l[1].dropFirst(4); return l.joined(separator: "\n") }(), "--signature", "is not valid base64"),
            ("algorithm.minisig", { var l = lines; l[1] = "WF" + l[1].dropFirst(2); return l.joined(separator: "\n") }(), "--signature", "not Ed25519"),
            ("oversized.pub", keyLines[0] + "\n" + keyLines[1].dropLast(1) + "AAAAAAAA=", "--public-key", "oversized"),
            ("huge.pub", String(repeating: "A", count: 100_000), "--public-key", "it is larger than 64 KiB, the most a public key file may be"),
        ]
        for item in cases {
            try item.text.write(toFile: directory + "/" + item.file, atomically: true, encoding: .utf8)
            let result = try run(["verify", "file", item.option, item.file])
            #expect(result.status == 1, "\(item.file)")
            #expect(result.stderr.contains(item.message), "\(item.file): \(result.stderr)")
        }
        let wrongKey = try run(["verify", "file", "--public-key", "other.pub"])
        #expect(wrongKey.status == 1)
        #expect(wrongKey.stderr.contains("the signature was made by key"))
        let missing = try run(["verify", "file", "--public-key", "absent.pub"])
        #expect(missing.status == 1)
        #expect(missing.stderr.contains("Failed to open \"absent.pub\": No such file or directory"))
        lines[2] = "trusted comment: forged"
        try lines.joined(separator: "\n").write(toFile: directory + "/forged.minisig", atomically: true, encoding: .utf8)
        #expect(try run(["verify", "file", "--signature", "forged.minisig"]).stderr.contains("comment was altered"))
    }

    @Test("digest agrees with sha256sum on random files from 0 bytes to 64 MiB")
    func digestMatchesSha256sum() throws {
        let harness = try Harness()
        defer { harness.cleanUp() }
        let sizes = [0, 1, 55, 56, 63, 64, 65, 111, 112, 119, 120, 127, 128, 129, 1000, 4095, 4096, 4097,
                     (1 << 20) - 1, 1 << 20, (1 << 20) + 1, 64 << 20]
        var paths: [String] = []
        let random = try #require(FileHandle(forReadingAtPath: "/dev/urandom"))
        for size in sizes {
            let path = harness.root.appendingPathComponent("random-\(size)").path
            try random.readData(ofLength: size).write(to: URL(fileURLWithPath: path))
            paths.append(path)
        }
        let ours = try harness.run(["digest"] + paths, executable: Harness.binary)
        let theirs = try harness.run(paths, executable: "/usr/bin/sha256sum")
        #expect(ours.status == 0)
        #expect(ours.stdout == theirs.stdout)
        #expect(ours.stdout.split(separator: "\n").count == sizes.count)
        let missing = try harness.run(["digest", harness.root.appendingPathComponent("absent").path], executable: Harness.binary)
        #expect(missing.status == 1)
        #expect(missing.stderr.contains("No such file or directory"))
    }
}
