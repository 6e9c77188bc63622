import Delta
import Foundation
import Integrity
@testable import ReleaseChannel
import Testing
import TestSupport

/// Patches end to end: `release add` makes them, a channel served over HTTP on loopback offers
/// them, and `UpdateChannel.download` takes the one made from the running binary, falling back
/// to the full file with one line when it cannot use it.
@Suite("Updating by patch", .enabled(if: LoopbackServer.python != nil, "needs python3 to serve the repository"))
struct PatchUpdateTests {
    let now = Int64(Date().timeIntervalSince1970)

    /// A static server with byte ranges that logs each request's path and Range header, and
    /// with `cut` sends only half of the first patch it serves before closing the connection.
    final class RangeServer: @unchecked Sendable {
        // Unchecked: every property is set in init and never changed.
        let child: ChildServer
        let log: String

        static let script = """
        import http.server, os, sys, threading
        root, log, cut = sys.argv[1], sys.argv[2], sys.argv[3] == "cut"
        state = {"cut": False}
        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args): pass
            def do_GET(self):
                path = os.path.join(root, self.path.lstrip("/"))
                ranged = self.headers.get("Range")
                with open(log, "a") as f: f.write(f"{self.path} {ranged or '-'}\\n")
                if not os.path.isfile(path):
                    self.send_response(404); self.send_header("Content-Length", "0"); self.end_headers(); return
                data = open(path, "rb").read()
                start = int(ranged[6:].split("-")[0]) if ranged and ranged.startswith("bytes=") else 0
                if ranged:
                    self.send_response(206); self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                else:
                    self.send_response(200)
                body = data[start:]
                self.send_header("Content-Length", str(len(body))); self.end_headers()
                if cut and self.path.endswith(".patch") and not state["cut"]:
                    state["cut"] = True
                    self.wfile.write(body[:len(body) // 2]); self.wfile.flush()
                    self.connection.shutdown(2)
                    return
                self.wfile.write(body)
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        print(server.server_address[1], flush=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        sys.stdin.read()
        """

        init(publishing repository: String, cut: Bool = false) throws {
            let root = repository + ".public"
            try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
            for name in ["metadata", "targets"] {
                try FileManager.default.createSymbolicLink(atPath: root + "/" + name, withDestinationPath: repository + "/" + name)
            }
            log = repository + ".log"
            _ = FileManager.default.createFile(atPath: log, contents: nil)
            child = try ChildServer(python: ["-c", Self.script, root, log, cut ? "cut" : "whole"], name: "range server")
        }

        var url: String { "http://127.0.0.1:\(child.port)" }

        /// The requests for targets so far: path and Range header ("-" for none).
        func requests() throws -> [(path: String, range: String)] {
            try String(contentsOfFile: log, encoding: .utf8).split(separator: "\n").compactMap { line in
                let parts = line.split(separator: " ", maxSplits: 1).map(String.init)
                return parts.count == 2 && parts[0].hasPrefix("/targets/") ? (parts[0], parts[1]) : nil
            }
        }
    }

    /// Three versions of a binary, each an edit of the one before.
    static let versions: [[UInt8]] = {
        var generator = SeededGenerator(seed: 11)
        var files = [generator.bytes(400_000, alphabet: 24)]
        for _ in 0..<2 { files.append(edited(files.last!, edits: 12, using: &generator)) }
        return files
    }()

    struct Published {
        var directory: String
        var repository: ReleaseRepository
        var server: RangeServer
        var channel: UpdateChannel
        var offer: ReleaseOffer
        var staging: String
        /// The binaries as files, by version index.
        var files: [String]
    }

    /// Publishes 1.0.0, 1.1.0 and 1.2.0 (each add making patches from the earlier ones), serves
    /// the repository, and returns the channel's offer of 1.2.0. `alter` runs before the last publish.
    func published(_ name: String, cut: Bool = false, alter: (ReleaseRepository, String) throws -> Void = { _, _ in }) throws -> Published {
        let directory = try temporaryDirectory(name)
        let repository = ReleaseRepository(directory: directory + "/repo")
        try repository.create(now: now)
        var files: [String] = []
        for (index, bytes) in Self.versions.enumerated() {
            let file = directory + "/v\(index)/autodev"
            try FileManager.default.createDirectory(atPath: directory + "/v\(index)", withIntermediateDirectories: true)
            try writeFile(file, bytes)
            files.append(file)
            try repository.add(file: file, facts: ReleaseFacts(version: SemanticVersion("1.\(index).0")!, platform: .linuxX86_64, released: "2026-12-01T00:00:00Z"))
            if index == Self.versions.count - 1 { try alter(repository, directory) }
            _ = try repository.publish(now: now)
        }
        let server = try RangeServer(publishing: repository.directory, cut: cut)
        let channel = try UpdateChannel.configure(home: directory + "/home", url: server.url,
                                                  trustedRoot: try readFile(repository.directory + "/metadata/1.root.json"))
        let offers = try channel.offers(program: "autodev")
        let offer = try #require(offers.first { $0.facts.version == SemanticVersion("1.2.0") })
        return Published(directory: directory, repository: repository, server: server, channel: channel, offer: offer,
                         staging: directory + "/home/channel/staging", files: files)
    }

    @Test("release add makes a patch from each earlier release; an installation of the first updates to the third by the patch made from it")
    func updatesByPatch() throws {
        let p = try published("patch-update")
        // 1.2.0 has patches from 1.1.0 and 1.0.0; 1.1.0 from 1.0.0; releases are still offered as before.
        #expect(p.offer.patches.count == 2)
        #expect(try p.channel.offers(program: "autodev").count == 3)
        let base = SHA256.hash(data: Self.versions[0]).hex
        let patch = try #require(UpdateChannel.patch(for: p.offer, base: p.files[0]))
        #expect(patch.facts.baseSHA256 == base)
        #expect(patch.path == "autodev/1.2.0/linux-x86_64/from-\(base.prefix(12)).patch")
        #expect(patch.length < Self.versions[2].count / 20)
        var notices: [String] = []
        var totals: Set<Int> = []
        let path = try p.channel.download(p.offer, into: p.staging, base: p.files[0], notice: { notices.append($0) }) { _, total in totals.insert(total) }
        #expect(try readFile(path) == Self.versions[2])
        #expect(path == p.staging + "/" + SHA256.hash(data: Self.versions[2]).hex)
        #expect(notices.isEmpty)
        let requests = try p.server.requests().map(\.path)
        #expect(requests.count == 1)
        #expect(requests.first?.hasSuffix(".from-\(base.prefix(12)).patch") == true)
        // Progress counted against the patch's length.
        #expect(totals.contains(patch.length))
        // Nothing is left in staging but the rebuilt release.
        #expect(try FileManager.default.contentsOfDirectory(atPath: p.staging) == [SHA256.hash(data: Self.versions[2]).hex])
    }

    @Test("a binary that matches no patch's base gets the full file")
    func unknownBase() throws {
        let p = try published("patch-unknown")
        let other = p.directory + "/other"
        try writeFile(other, Array(Self.versions[0].dropLast()))
        #expect(UpdateChannel.patch(for: p.offer, base: other) == nil)
        var notices: [String] = []
        let path = try p.channel.download(p.offer, into: p.staging, base: other, notice: { notices.append($0) })
        #expect(try readFile(path) == Self.versions[2])
        #expect(notices.isEmpty)
        #expect(try p.server.requests().map(\.path) == ["/targets/autodev/1.2.0/linux-x86_64/\(SHA256.hash(data: Self.versions[2]).hex).autodev"])
    }

    @Test("a tampered patch is refused by its signed hashes: one line says why, and the full file is downloaded and verified")
    func tamperedPatch() throws {
        let p = try published("patch-tampered")
        let patch = try #require(UpdateChannel.patch(for: p.offer, base: p.files[0]))
        let stored = p.repository.directory + "/targets/autodev/1.2.0/linux-x86_64/" + patch.hashes["sha256"]! + ".from-" + patch.facts.baseSHA256.prefix(12) + ".patch"
        var bytes = try readFile(stored)
        bytes[bytes.count / 2] ^= 0x10
        try writeFile(stored, bytes)
        var notices: [String] = []
        let path = try p.channel.download(p.offer, into: p.staging, base: p.files[0], notice: { notices.append($0) })
        #expect(try readFile(path) == Self.versions[2])
        #expect(notices.count == 1)
        #expect(notices.first?.contains("could not be downloaded") == true, "\(notices)")
        #expect(notices.first?.hasSuffix("; downloading the full file") == true)
        #expect(try p.server.requests().map(\.path).last?.hasSuffix(".autodev") == true)
    }

    @Test("a signed patch that does not rebuild the release (made from another base) falls back to the full file with one line")
    func patchThatDoesNotRebuild() throws {
        let p = try published("patch-wrong") { repository, _ in
            // Replace the patch from 1.0.0 with one made from 1.1.0, listed and signed as if it were from 1.0.0.
            var pending = try repository.readPending()
            let base = SHA256.hash(data: Self.versions[0]).hex
            let key = "autodev/1.2.0/linux-x86_64/" + PatchFacts.fileName(baseSHA256: base)
            let wrong = try Delta.makePatch(from: Self.versions[1], to: Self.versions[2])
            let sha256 = SHA256.hash(data: wrong).hex
            try writeFile(repository.directory + "/targets/autodev/1.2.0/linux-x86_64/\(sha256).\(PatchFacts.fileName(baseSHA256: base))", wrong)
            var entry = try #require(pending[key]?.objectValue)
            entry["length"] = .integer(Int64(wrong.count))
            entry["hashes"] = .object(["sha256": .string(sha256), "sha512": .string(Hex.encode(SHA512.hash(data: wrong)))])
            pending[key] = .object(entry)
            try repository.writePending(pending)
        }
        var notices: [String] = []
        let path = try p.channel.download(p.offer, into: p.staging, base: p.files[0], notice: { notices.append($0) })
        #expect(try readFile(path) == Self.versions[2])
        #expect(notices.count == 1)
        #expect(notices.first?.contains("did not rebuild the release") == true, "\(notices)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: p.staging) == [SHA256.hash(data: Self.versions[2]).hex])
    }

    @Test("a connection cut during the patch keeps what arrived; the next download resumes the patch from there")
    func resumesPatch() throws {
        let p = try published("patch-resume", cut: true)
        let patch = try #require(UpdateChannel.patch(for: p.offer, base: p.files[0]))
        var notices: [String] = []
        #expect(throws: ReleaseChannelError.self) {
            _ = try p.channel.download(p.offer, into: p.staging, base: p.files[0], notice: { notices.append($0) })
        }
        let partial = p.staging + "/" + patch.hashes["sha256"]! + ".partial"
        let kept = try #require(try FileManager.default.attributesOfItem(atPath: partial)[.size] as? Int)
        #expect(kept > 0 && kept < patch.length)
        let path = try p.channel.download(p.offer, into: p.staging, base: p.files[0], notice: { notices.append($0) })
        #expect(try readFile(path) == Self.versions[2])
        #expect(notices.isEmpty)
        let requests = try p.server.requests()
        #expect(requests.count == 2)
        #expect(requests.last?.range == "bytes=\(kept)-")
        #expect(requests.allSatisfy { $0.path.hasSuffix(".patch") })
    }

    static let pythonClient = """
    import inspect, sys
    from tuf.ngclient import Updater
    metadata_dir, url, target_dir, target = sys.argv[1:5]
    extra = {"bootstrap": None} if "bootstrap" in inspect.signature(Updater.__init__).parameters else {}
    updater = Updater(metadata_dir=metadata_dir, metadata_base_url=url + "/metadata/",
                      target_base_url=url + "/targets/", target_dir=target_dir, **extra)
    updater.refresh()
    info = updater.get_targetinfo(target)
    print(updater.download_target(info))
    print(info.custom["delta"]["base_sha256"], info.length)
    """

    @Test("python-tuf's ngclient reads a repository with patches and downloads a patch target, hashes checked")
    func pythonTUFReadsPatches() throws {
        let python = try PythonTUFTests.pythonWithTUF()
        let p = try published("patch-python-tuf")
        let patch = try #require(UpdateChannel.patch(for: p.offer, base: p.files[1]))
        let metadata = p.directory + "/client/metadata", targets = p.directory + "/client/targets"
        try FileManager.default.createDirectory(atPath: metadata, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: targets, withIntermediateDirectories: true)
        try writeFile(metadata + "/root.json", try readFile(p.repository.directory + "/metadata/1.root.json"))
        let result = try PythonTUFTests.run(python, ["-c", Self.pythonClient, metadata, p.server.url, targets, patch.path])
        #expect(result.status == 0, "\(result.output)")
        let lines = result.output.split(separator: "\n").map(String.init)
        try #require(lines.count == 2, "\(result.output)")
        #expect(try Delta.apply(try readFile(lines[0]), to: Self.versions[1]) == Self.versions[2])
        #expect(lines[1] == "\(SHA256.hash(data: Self.versions[1]).hex) \(patch.length)")
    }
}
