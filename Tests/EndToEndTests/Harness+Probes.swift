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

    /// The log directories of the home's transactions, newest last.
    func logDirectories() throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: home + "/logs").sorted().map { home + "/logs/" + $0 }
    }
}
