import Foundation

/// The cgroup v2 hierarchy of this machine, as tests need to know it.
public enum Cgroups {
    /// Whether this machine has a cgroup v2 hierarchy this user can create cgroups in.
    public static let writable: Bool = {
        guard let mounts = try? String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8),
              let line = mounts.split(separator: "\n").first(where: { $0.contains(" - cgroup2 ") }) else { return false }
        let probe = String(line.split(separator: " ")[4]) + "/autodev-test-probe-\(getpid())"
        guard mkdir(probe, 0o755) == 0 else { return false }
        rmdir(probe)
        return true
    }()
}
