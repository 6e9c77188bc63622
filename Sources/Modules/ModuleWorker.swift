import FoundationEssentials
import Platform

/// The worker side: runs one module version in its own process, answering the host's frames on
/// an inherited socket (descriptor 3) until the host closes it or asks it to shut down.
///
/// Faults for tests are injected with `AUTODEV_MODULE_FAULT=<fault>@<phase>`: `crash` (exit at
/// once), `hang` (stop answering) or `corrupt` (restore, then damage the state), at `prepare`,
/// `drain`, `snapshot`, `migrate`, `swap`, `restore` or `verify`; and `incompatible@prepare`
/// (announce another protocol version).
public enum ModuleWorker {
    /// The descriptor a worker receives its socket on.
    public static let descriptor: Int32 = 3
    /// The environment variable naming an injected fault.
    public static let faultVariable = "AUTODEV_MODULE_FAULT"

    /// Serves `module` on descriptor 3; returns the process's exit status.
    /// - Parameter module: the module version to run.
    /// - Returns: 0 when the host closed the stream or asked to shut down, 1 on a broken stream.
    public static func serve<Module: ReloadableModule>(_ module: Module.Type) -> Int32 {
        // A test hook: compiled only into builds with AUTODEV_TEST_HOOKS, never a shipped release.
        #if AUTODEV_TEST_HOOKS
        let fault = ProcessControl.environment(faultVariable).flatMap(Fault.init)
        #else
        let fault: Fault? = nil
        #endif
        let channel: FrameChannel
        do {
            channel = FrameChannel(try Socket.inherited(descriptor, name: "module \(Module.name)"))
        } catch {
            FileHandleOutput.error("module \(Module.name): \(error)")
            return 1
        }
        var instance = Module()
        let protocolVersion = fault?.kind == .incompatible ? Module.protocolVersion + 1_000 : Module.protocolVersion
        let hello = Hello(name: Module.name, version: Module.version, protocolVersion: protocolVersion,
                          stateSchema: Module.stateSchema, pid: ProcessControl.id)
        let forever = 1e9
        do {
            try channel.send(Frame(.hello, Array(try JSONEncoder().encode(hello))), timeout: 30)
            while true {
                let frame: Frame
                do {
                    frame = try channel.receive(timeout: forever)
                } catch {
                    return 0  // the host is gone
                }
                let answer: Frame
                switch frame.kind {
                case .message:
                    do { answer = Frame(.reply, try instance.handle(frame.payload)) } catch { answer = Frame(.failure, Array("\(error)".utf8)) }
                case .snapshot:
                    answer = Frame(.state, Frame.stateBytes(schema: Module.stateSchema, state: instance.snapshot()))
                case .migrate:
                    guard frame.payload.count >= 8 else { answer = Frame(.failure, Array("malformed migrate request".utf8)); break }
                    let from = Frame.readBigEndian(frame.payload, at: 0), to = Frame.readBigEndian(frame.payload, at: 4)
                    do {
                        answer = Frame(.state, Frame.stateBytes(schema: to, state: try Module.migrate(Array(frame.payload[8...]), from: from, to: to)))
                    } catch {
                        answer = Frame(.failure, Array("\(error)".utf8))
                    }
                case .restore:
                    guard let (schema, state) = Frame.splitState(frame.payload) else { answer = Frame(.failure, Array("malformed state".utf8)); break }
                    do {
                        try instance.restore(state, schema: schema)
                        if fault == Fault(kind: .corrupt, phase: "restore") {
                            // Lose the state the way a buggy restore would, and still say it worked.
                            instance = Module()
                        }
                        answer = Frame(.done)
                    } catch {
                        answer = Frame(.failure, Array("\(error)".utf8))
                    }
                case .health:
                    do { try instance.health(); answer = Frame(.done) } catch { answer = Frame(.failure, Array("\(error)".utf8)) }
                case .phase:
                    let phase = String(decoding: frame.payload, as: UTF8.self)
                    if let fault, fault.phase == phase {
                        switch fault.kind {
                        case .crash: ProcessControl.killSelf()
                        case .hang: while true { ProcessControl.sleep(seconds: 3600) }
                        case .corrupt, .incompatible: break
                        }
                    }
                    answer = Frame(.done)
                case .shutdown:
                    return 0
                default:
                    answer = Frame(.failure, Array("unexpected frame \(frame.kind)".utf8))
                }
                try channel.send(answer, timeout: 30)
            }
        } catch {
            FileHandleOutput.error("module \(Module.name): \(error)")
            return 1
        }
    }

    struct Fault: Equatable {
        enum Kind: String { case crash, hang, corrupt, incompatible }
        var kind: Kind
        var phase: String

        init(kind: Kind, phase: String) {
            self.kind = kind
            self.phase = phase
        }

        init?(_ text: String) {
            let parts = text.split(separator: "@", maxSplits: 1).map(String.init)
            guard parts.count == 2, let kind = Kind(rawValue: parts[0]) else { return nil }
            self.kind = kind
            self.phase = parts[1]
        }
    }
}

enum FileHandleOutput {
    static func error(_ text: String) {
        try? FileDescriptor(rawValue: 2, path: "standard error").writeAll(Array((text + "\n").utf8))
    }
}

extension ModuleWorker {
    /// A worker program's whole main: `PROGRAM [VERSION]` serves that version (default `latest`).
    /// - Parameters:
    ///   - arguments: the program's arguments after its name.
    ///   - versions: the versions it holds, by label.
    ///   - latest: the version served when none is named.
    ///   - program: the program's name, for its error message.
    /// - Returns: the exit status (64 for a version it does not hold).
    public static func main(_ arguments: [String], versions: [String: any ReloadableModule.Type], latest: String, program: String) -> Int32 {
        let version = arguments.first ?? latest
        guard let module = versions[version], arguments.count <= 1 else {
            FileHandleOutput.error("\(program): no version \(version) (have \(versions.keys.sorted().joined(separator: ", ")))")
            return 64
        }
        return serve(module)
    }
}
