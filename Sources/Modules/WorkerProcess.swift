#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import FoundationEssentials
import Platform

/// One running module version: its process and the host's end of its socket.
///
/// Requests are serialized (one outstanding at a time, under `lock`): the stream carries whole
/// request/answer pairs, so a reply can never be taken for another message's.
public final class WorkerProcess: @unchecked Sendable {
    public let image: ModuleImage
    public let hello: Hello
    /// `name@version`, for reports and the journal (escaped and capped: the worker chose them).
    public var label: String { "\(DisplayName.escaped(hello.name))@\(DisplayName.escaped(hello.version))" }
    private let process: Subprocess.Running
    /// Its cgroup: whatever the worker starts (a `setsid()`'d daemon too) ends with it.
    private let leaf: ProcessTrees.Leaf?
    private let channel: FrameChannel
    private let lock = ConditionLock()
    private var stopped = false
    /// How it ended, as a request that failed found it (guarded by `lock`).
    private var endedHow: String?

    private init(image: ImageAndProcess) {
        self.image = image.image
        self.hello = image.hello
        self.process = image.process
        self.leaf = image.leaf
        self.channel = image.channel
    }

    private struct ImageAndProcess {
        var image: ModuleImage
        var hello: Hello
        var process: Subprocess.Running
        var leaf: ProcessTrees.Leaf?
        var channel: FrameChannel
    }

    /// Starts `image` and waits for its hello.
    /// - Parameters:
    ///   - environment: the worker's environment (the image's variables are added to it).
    ///   - errorLog: where the worker's standard error goes (nil: /dev/null).
    /// - Throws: ``ModuleError`` `.spawn` when it could not start or did not say hello in time.
    public static func spawn(_ image: ModuleImage, environment: [String: String], errorLog: String?, timeout: Double,
                              confine: ((Subprocess.Configuration) throws -> Subprocess.Configuration)? = nil) throws(ModuleError) -> WorkerProcess {
        let (host, worker): (Socket, Socket)
        do {
            (host, worker) = try Socket.pair(name: "module worker \(image.commandLine)")
        } catch {
            throw ModuleError(.spawn, "Failed to start the module worker \"\(image.commandLine)\": \(error)")
        }
        var configuration = Subprocess.Configuration(executable: image.executable, arguments: image.arguments,
                                                     environment: environment.merging(image.environment) { $1 })
        configuration.errorPath = errorLog
        configuration.inheritedDescriptor = .init(source: worker.rawValue, target: ModuleWorker.descriptor)
        let trees = ProcessTrees.shared
        if let confine {
            do {
                configuration = try confine(configuration)
            } catch {
                worker.close()
                host.close()
                throw ModuleError(.spawn, "Failed to confine the module worker \"\(image.commandLine)\": \(error)")
            }
        }
        configuration.cgroup = trees.makeLeaf()
        let process: Subprocess.Running
        do {
            do {
                process = try Subprocess.launchDetachedFromThread(configuration)
            } catch let error as Subprocess.LaunchError where error.step == "cgroup" {
                // A process cannot join the cgroup: contain workers as the subreaper does.
                trees.end(configuration.cgroup, root: nil)
                trees.fallBack(because: "a module worker could not join its cgroup: \(error.errno)")
                configuration.cgroup = nil
                process = try Subprocess.launchDetachedFromThread(configuration)
            }
        } catch {
            trees.end(configuration.cgroup, root: nil)
            worker.close()
            host.close()
            throw ModuleError(.spawn, "Failed to start the module worker \"\(image.commandLine)\": \(error)")
        }
        worker.close()
        let channel = FrameChannel(host)
        do {
            let frame = try channel.receive(timeout: timeout)
            guard frame.kind == .hello, let hello = try? JSONDecoder().decode(Hello.self, from: Data(frame.payload)) else {
                throw ModuleError(.spawn, "The module worker \"\(image.commandLine)\" did not start with a hello")
            }
            guard ModuleRecord.isValidSchema(hello.stateSchema) else {
                throw ModuleError(.spawn, "The module worker \"\(image.commandLine)\" announced state schema \(hello.stateSchema), outside 0...\(Int32.max)")
            }
            return WorkerProcess(image: ImageAndProcess(image: image, hello: hello, process: process, leaf: configuration.cgroup, channel: channel))
        } catch {
            trees.end(configuration.cgroup, root: configuration.cgroup == nil && !process.isReaped ? process.pid : nil)
            process.terminate()
            host.close()
            if let error = error as? ModuleError { throw error }
            throw ModuleError(.spawn, "The module worker \"\(image.commandLine)\" did not say hello: \(error)")
        }
    }

    // MARK: - Requests

    /// Sends a message to the module and returns its reply.
    /// - Throws: ``ModuleError`` `.workerFailed` (the module refused it) or `.io` (the worker is
    ///   gone or did not answer within `timeout`).
    public func message(_ bytes: [UInt8], timeout: Double) throws(ModuleError) -> [UInt8] {
        try request(Frame(.message, bytes), expecting: .reply, action: "send a message to", timeout: timeout)
    }

    /// The module's state: its schema version and bytes.
    public func snapshot(timeout: Double) throws(ModuleError) -> (schema: Int, state: [UInt8]) {
        let payload = try request(Frame(.snapshot), expecting: .state, action: "snapshot", timeout: timeout)
        guard let split = Frame.splitState(payload) else { throw ModuleError(.io, "The module \(label) sent a malformed state") }
        return split
    }

    /// Runs the module's pure migration on `state`.
    public func migrate(_ state: [UInt8], from: Int, to: Int, timeout: Double) throws(ModuleError) -> [UInt8] {
        let payload = try request(Frame(.migrate, Frame.bigEndian(from) + Frame.bigEndian(to) + state), expecting: .state,
                                  action: "migrate the state (schema \(from) → \(to)) with", timeout: timeout)
        guard let split = Frame.splitState(payload) else { throw ModuleError(.io, "The module \(label) sent a malformed state") }
        return split.state
    }

    /// Gives the module a state to take.
    public func restore(_ state: [UInt8], schema: Int, timeout: Double) throws(ModuleError) {
        _ = try request(Frame(.restore, Frame.stateBytes(schema: schema, state: state)), expecting: .done, action: "restore the state into", timeout: timeout)
    }

    /// Runs the module's health check.
    public func health(timeout: Double) throws(ModuleError) {
        _ = try request(Frame(.health), expecting: .done, action: "check the health of", timeout: timeout)
    }

    /// Tells the worker a phase starts that involves it; it must answer (a hung worker is found here).
    public func notice(_ phase: ReloadPhase, timeout: Double) throws(ModuleError) {
        _ = try request(Frame(.phase, Array(phase.rawValue.utf8)), expecting: .done, action: "start the \(phase.rawValue) phase with", timeout: timeout)
    }

    /// Asks the worker to exit, then kills its process group and reaps it.
    public func stop() {
        lock.withLock {
            guard !stopped else { return }
            stopped = true
            try? channel.send(Frame(.shutdown), timeout: 0.05)
            endTree()
            process.terminate()
            channel.socket.close()
        }
    }

    /// How the worker ended, if it has: it exited or was killed ("was killed by signal 9 …"), or
    /// it did not answer in time and was stopped; nil while it runs.
    public var ending: String? {
        lock.withLock {
            if let endedHow { return endedHow }
            return (try? process.poll()).flatMap { $0 }.map { "\($0)" }
        }
    }

    /// The worker's resident memory in KiB.
    public var residentKiB: Int? { ResidentMemory.kibibytes(of: process.pid) }

    // MARK: - Internals

    /// Kills everything the worker started: its cgroup, else its live descendants, found through
    /// it while it is not reaped (once reaped, its pid may be another process's).
    private func endTree() {
        ProcessTrees.shared.end(leaf, root: leaf == nil && !process.isReaped ? process.pid : nil)
    }

    private func request(_ frame: Frame, expecting kind: FrameKind, action: String, timeout: Double) throws(ModuleError) -> [UInt8] {
        lock.lock()
        defer { lock.unlock() }
        guard !stopped else { throw ModuleError(.io, "Failed to \(action) the module \(label): it was stopped") }
        let answer: Frame
        do {
            try channel.send(frame, timeout: timeout)
            answer = try channel.receive(timeout: timeout)
        } catch {
            // A worker that does not answer in time is not asked again: its stream may hold a late answer.
            stopped = true
            var ended = (try? process.poll()).flatMap { $0 }
            // Its stream ended: it is exiting, and how it ends (a signal, a status) says why.
            if ended == nil, error.errno.rawValue != ETIMEDOUT {
                for _ in 0..<100 where ended == nil {
                    usleep(1_000)
                    ended = (try? process.poll()).flatMap { $0 }
                }
            }
            endedHow = ended.map { "\($0)" } ?? "did not answer (\(error.errno)) and was stopped"
            endTree()
            process.terminate()
            channel.socket.close()
            let how = ended.map { "; the worker \($0)" } ?? ""
            throw ModuleError(.io, "Failed to \(action) the module \(label) (pid \(hello.pid)): \(error)\(how)")
        }
        if answer.kind == kind { return answer.payload }
        if answer.kind == .failure {
            throw ModuleError(.workerFailed, "Failed to \(action) the module \(label): \(String(decoding: answer.payload, as: UTF8.self))")
        }
        throw ModuleError(.io, "The module \(label) answered \(answer.kind) to a request to \(action) it")
    }
}
