import Integrity
import Platform
import SelfUpgrade
import Storage

/// Re-hashes a home's stored versions continuously at a bounded rate, from inside a
/// long-running program, driven by the host's own clock (as ``BackgroundChecker`` is).
///
/// Each ``advance(now:)`` hashes at most `bytesPerSecond` × the seconds since the previous call
/// (at most ``maximumBurstBytes``), resuming the file it stopped in; after the last version
/// of the store it starts a new pass with the store as it is then. A file whose identity
/// (inode, size, change time) changes between two calls is started again, so what is judged is
/// what was read. A version whose bytes no longer match its id is reported once per pass.
///
/// Invariants: it never writes into the home; it never reads more than the rate allows; a
/// version is reported damaged only after all of its bytes were hashed.
public struct IntegrityScrubber: Sendable {
    /// Bytes a second it may read.
    public let bytesPerSecond: Double
    /// The most one call reads, however long since the previous one (a host that was busy for an
    /// hour does not then read for minutes).
    public static let maximumBurstBytes = 64 << 20
    /// Bytes hashed so far.
    public private(set) var bytesHashed = 0
    /// Complete passes over the store so far.
    public private(set) var completedPasses = 0
    /// Versions found damaged in the last complete pass.
    public private(set) var damaged: [VersionID] = []

    private let home: Home
    private var queue: [SHA256Digest] = []
    private var position: Position?
    private var lastCall: Double?
    private var foundThisPass: [VersionID] = []

    private struct Position: Sendable {
        var id: SHA256Digest
        var offset: Int
        var hasher: SHA256
        var identity: FileIdentity
    }

    /// - Parameters:
    ///   - homeDirectory: the installation's directory.
    ///   - program: the program whose home it is.
    ///   - bytesPerSecond: the most it reads a second (at least 1).
    public init(homeDirectory: String, program: ProgramIdentity, bytesPerSecond: Double) {
        home = Home(root: homeDirectory, programName: program.name)
        self.bytesPerSecond = max(1, bytesPerSecond)
    }

    /// Hashes what the rate allows since the previous call, ending at the end of a pass.
    /// - Parameter now: the host's clock, in seconds (monotonic).
    /// - Returns: versions this call found damaged (each finding said once per pass).
    public mutating func advance(now: Double) -> [Finding] {
        let elapsed = lastCall.map { max(0, now - $0) } ?? 1
        lastCall = now
        var budget = Int(min(Double(Self.maximumBurstBytes), bytesPerSecond * elapsed))
        var findings: [Finding] = []
        // At most one pass per call: a small store is not read again and again in one burst.
        let passes = completedPasses
        while budget > 0, completedPasses == passes {
            if position == nil, !startNext() { break }
            guard var current = position else { break }
            let path = home.binary(current.id)
            do throws(SystemError) {
                let fd = try FileDescriptor.open(path, [.noFollow, .nonBlocking])
                defer { try? fd.close() }
                let status = try fd.status()
                guard status.kind == .regular else { throw SystemError("read", path: path, errno: .invalidArgument, detail: "it is not a regular file") }
                if FileIdentity(status) != current.identity {
                    // Changed (or replaced) since the last call: what was hashed is not what is there.
                    current = Position(id: current.id, offset: 0, hasher: SHA256(), identity: FileIdentity(status))
                }
                guard fd.seek(to: current.offset) else { throw SystemError("seek", path: path, errno: .invalidArgument) }
                let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: min(budget, 1 << 20), alignment: 16)
                defer { buffer.deallocate() }
                var atEnd = false
                while budget > 0 {
                    let count = try fd.read(into: UnsafeMutableRawBufferPointer(rebasing: buffer[0..<min(budget, buffer.count)]))
                    if count == 0 { atEnd = true; break }
                    current.hasher.update(bufferPointer: UnsafeRawBufferPointer(rebasing: buffer[0..<count]))
                    current.offset += count
                    budget -= count
                    bytesHashed += count
                }
                if atEnd || current.offset >= status.size {
                    let actual = current.hasher.finalize()
                    if actual != current.id { findings.append(judged(current.id, "now hashes to \(actual.short)")) }
                    finishFile()
                } else {
                    position = current
                }
            } catch where error.errno == .noSuchFile {
                finishFile() // pruned meanwhile: nothing to judge
            } catch {
                findings.append(judged(current.id, "cannot be read (\(error.detail ?? "\(error.errno)"))"))
                finishFile()
            }
        }
        return findings
    }

    /// Starts the next version of the pass, or a new pass with the store as it is now; false
    /// when the store holds nothing.
    private mutating func startNext() -> Bool {
        if queue.isEmpty {
            queue = ((try? VersionStore(home: home).list()) ?? []).sorted { $0.hex < $1.hex }
        }
        while !queue.isEmpty {
            let id = queue.removeFirst()
            if let status = try? FileSystem.status(home.binary(id), followLinks: false) {
                position = Position(id: id, offset: 0, hasher: SHA256(), identity: FileIdentity(status))
                return true
            }
            if queue.isEmpty { endPass() }
        }
        return false
    }

    /// The current file is judged; after the last one of the pass, the pass ends.
    private mutating func finishFile() {
        position = nil
        if queue.isEmpty { endPass() }
    }

    private mutating func endPass() {
        completedPasses += 1
        damaged = foundThisPass
        foundThisPass = []
    }

    /// A finding for a damaged version, remembered for ``damaged``.
    private mutating func judged(_ id: SHA256Digest, _ problem: String) -> Finding {
        foundThisPass.append(VersionID(id))
        return finding(id, problem)
    }

    private func finding(_ id: SHA256Digest, _ problem: String) -> Finding {
        Finding(kind: .versionDamaged, path: "versions/\(id.hex)/\(home.programName)",
                problem: "version \(id.short) \(problem): its bytes changed (a bad disk, an edit); it would be refused at a rollback or restart",
                remedy: "run the doctor's repair ('doctor --repair'): it restores the version from another copy with the same hash, or from the release channel")
    }
}
