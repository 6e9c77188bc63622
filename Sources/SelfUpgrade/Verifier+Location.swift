import Integrity
import Platform
import Storage

extension Verifier {
    /// Where a home's verification sandboxes are made.
    ///
    /// Not on the home: a sandbox is assembled with directories, links and renames, which on
    /// some FUSE and network file systems block, and a candidate's scratch files have no business
    /// on the disk that holds the store. The parent is a directory of this home's own (mode
    /// 0700, named after the home's path) on a tmpfs with 64 MiB free: `$XDG_RUNTIME_DIR` when it is
    /// a tmpfs of this user's that no one else can write, else `/dev/shm` (sticky, root's). Only where neither is usable does it fall back to the home's
    /// staging area, and the isolation list says so. What the candidate itself writes (HOME,
    /// TMPDIR) goes to a private tmpfs of its own mount namespace on top of that; the state copy
    /// (`--verify-state`) is the one thing verification writes to the home.
    package struct SandboxParent: Sendable, Equatable {
        /// The directory sandboxes are made in; cleared by recovery under the home's lock.
        package var path: String
        /// Whether it is on a tmpfs (false: the home's staging area, as a last resort).
        package var isOnTmpfs: Bool
    }

    /// The least free space a tmpfs must have to hold a sandbox.
    static let smallestFreeTmpfsBytes: UInt64 = 64 << 20

    /// This home's sandbox parent on the first usable tmpfs, created if needed; else the home's
    /// staging area.
    package static func sandboxParent(for home: Home) -> SandboxParent {
        for (base, path) in tmpfsParents(for: home) {
            if let parent = ownDirectory(path, in: base, create: true) { return SandboxParent(path: parent, isOnTmpfs: true) }
        }
        return SandboxParent(path: home.staging, isOnTmpfs: false)
    }

    /// The tmpfs parents of this home's sandboxes that exist: what recovery clears.
    package static func existingTmpfsParents(for home: Home) -> [String] {
        tmpfsParents(for: home).compactMap { ownDirectory($0.path, in: $0.base, create: false) }
    }

    /// Where this home's sandbox parent may be, in order of preference.
    private static func tmpfsParents(for home: Home) -> [(base: String, path: String)] {
        let name = "\(home.programName)-verify-\(Privilege.userID)-" + String(SHA256.hash(data: Array(home.root.utf8)).hex.prefix(16))
        var bases: [String] = []
        if let runtime = ProcessControl.environment("XDG_RUNTIME_DIR"), runtime.hasPrefix("/"), !runtime.contains("/../") {
            bases.append(runtime)
        }
        bases.append("/dev/shm")
        // The name can be guessed from the home's path: another user who takes it first only
        // moves this home to the next one.
        return bases.flatMap { base in (0..<4).map { (base, base + "/" + name + ($0 == 0 ? "" : "-\($0)")) } }
    }

    /// `path` as a directory of this user's alone (mode 0700, not a link) on the tmpfs `base`,
    /// made if missing and `create`; nil if anything about it is not so.
    private static func ownDirectory(_ path: String, in base: String, create: Bool) -> String? {
        // Nobody else may rename or replace what is made in the base: it is this user's and
        // writable by no one else ($XDG_RUNTIME_DIR), or sticky and root's (/dev/shm).
        guard let baseStatus = try? FileSystem.status(base), baseStatus.kind == .directory,
              (baseStatus.owner == Privilege.userID && baseStatus.mode & 0o022 == 0) || (baseStatus.owner == 0 && baseStatus.mode & 0o1000 != 0)
        else { return nil }
        var status = try? FileSystem.statusIfPresent(path, followLinks: false)
        if status == nil {
            guard create, let baseDescriptor = try? FileDescriptor.open(base, [.directory]) else { return nil }
            defer { try? baseDescriptor.close() }
            guard (try? baseDescriptor.isOnTmpfs()) == true, (try? baseDescriptor.availableBytes()) ?? 0 >= Self.smallestFreeTmpfsBytes else { return nil }
            try? FileSystem.createDirectory(path, mode: 0o700)
            status = try? FileSystem.statusIfPresent(path, followLinks: false)
        }
        guard let status, status.kind == .directory, status.owner == Privilege.userID, status.mode & 0o777 == 0o700,
              let descriptor = try? FileDescriptor.open(path, [.directory, .noFollow]) else { return nil }
        defer { try? descriptor.close() }
        // Room for the outputs and the rehearsal's scratch home: a full tmpfs would fail the
        // candidate for what is not its fault (the home's staging area is used instead).
        guard (try? descriptor.isOnTmpfs()) == true, (try? descriptor.availableBytes()) ?? 0 >= Self.smallestFreeTmpfsBytes else { return nil }
        return path
    }
}
