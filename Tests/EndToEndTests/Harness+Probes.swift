import Foundation
import Testing

extension Harness {
    /// A candidate script that runs `probe` (its output to stderr, which lands in the
    /// verification log) when it runs in the verifier's sandbox, then execs the binary under test,
    /// so that verification otherwise passes. The rehearsed restart checks that the running binary
    /// lies in the store the candidate was started from: the script copies the binary into its own
    /// version directory when that is writable (the scratch store of the rehearsal; the live store
    /// after a real upgrade) and execs the copy, else it execs the binary where it is.
    /// - Parameter redirect: where the probe's output goes (stderr unless told).
    func execScript(_ name: String, shell: String = "/bin/sh", probe: String, redirect: String = ">&2") throws -> String {
        let path = root.appendingPathComponent(name).path
        let text = """
        #!\(shell)
        if [ -n "$AUTODEV_SANDBOX" ]; then
        {
        \(probe)
        } \(redirect)
        fi
        here=$(dirname "$0")
        if cp '\(Self.binary)' "$here/.real" 2>/dev/null; then exec "$here/.real" "$@"; fi
        exec '\(Self.binary)' "$@"

        """
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: path)
        return path
    }

    /// Where verification makes this home's sandboxes: its own directory on a tmpfs
    /// (`$XDG_RUNTIME_DIR`, else `/dev/shm`), named after the home's path.
    var sandboxParents: [String] {
        let name = "autodev-verify-\(getuid())-" + String(sha256(home).prefix(16))
        return [ProcessInfo.processInfo.environment["XDG_RUNTIME_DIR"], "/dev/shm"].compactMap { $0.map { $0 + "/" + name } }
    }

    /// The verification sandboxes that exist now for this home, wherever they are.
    func verificationSandboxes() -> [String] {
        (sandboxParents + [home + "/staging"]).flatMap { parent in
            ((try? FileManager.default.contentsOfDirectory(atPath: parent)) ?? []).filter { $0.hasPrefix("sandbox-") }.map { parent + "/" + $0 }
        }
    }

    /// The log directories of the home's transactions, newest last.
    func logDirectories() throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: home + "/logs").sorted().map { home + "/logs/" + $0 }
    }
}
