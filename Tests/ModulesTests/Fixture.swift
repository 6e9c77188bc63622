import Dispatch
import Foundation
@testable import Modules
import Platform

/// A host in a throwaway directory running counter workers built beside this test bundle.
final class Fixture: @unchecked Sendable {
    static let workerDirectory: String = {
        let bundle = URL(fileURLWithPath: (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0])
        return bundle.deletingLastPathComponent().path
    }()
    static let counterWorker = workerDirectory + "/counter-module"

    let directory: String
    var host: ModuleHost

    init(options: HostOptions = HostOptions()) throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("autodev-modules-\(UUID().uuidString.prefix(8))").path
        host = try ModuleHost(directory: directory, options: options)
    }

    deinit {
        host.stop()
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// A fixture whose host runs counter@1 and answers on its control socket.
    static func controlled(options: HostOptions = HostOptions()) throws -> Fixture {
        let fixture = try Fixture(options: options)
        try fixture.host.start("counter", image: counter("1"))
        try fixture.host.serveControl()
        return fixture
    }

    static func counter(_ version: String, fault: String? = nil) -> ModuleImage {
        ModuleImage(executable: counterWorker, arguments: [version], environment: fault.map { [ModuleWorker.faultVariable: $0] } ?? [:])
    }

    /// Sends `add key 1` `count` times from as many threads at once; returns the replies.
    static func sendConcurrently(_ host: ModuleHost, module: String, key: String, count: Int) -> [Result<String, ModuleError>] {
        let replies = Replies()
        let group = DispatchGroup()
        for _ in 0..<count {
            group.enter()
            Thread.detachNewThread {
                let reply = Result { () throws(ModuleError) in String(decoding: try host.send(module, Array("add \(key) 1".utf8)), as: UTF8.self) }
                replies.append(reply)
                group.leave()
            }
        }
        group.wait()
        return replies.all
    }

    /// Starts `count` senders of `add key 1` in background threads; `wait()` returns their replies.
    static func startSenders(_ host: ModuleHost, module: String, key: String, count: Int) -> (DispatchGroup, Replies) {
        let replies = Replies()
        let group = DispatchGroup()
        for _ in 0..<count {
            group.enter()
            Thread.detachNewThread {
                let reply = Result { () throws(ModuleError) in String(decoding: try host.send(module, Array("add \(key) 1".utf8)), as: UTF8.self) }
                replies.append(reply)
                group.leave()
            }
        }
        return (group, replies)
    }

    /// Waits until `count` messages are queued for `module` (they arrived during a reload).
    static func waitUntilQueued(_ host: ModuleHost, module: String, count: Int) {
        while (try? host.queueLength(of: module)) ?? 0 < count { sched_yield() }
    }
}

/// Replies gathered from several threads.
final class Replies: @unchecked Sendable {
    private let lock = NSLock()
    private var items: [Result<String, ModuleError>] = []
    func append(_ item: Result<String, ModuleError>) { lock.withLock { items.append(item) } }
    var all: [Result<String, ModuleError>] { lock.withLock { items } }
}

extension String {
    init(_ bytes: [UInt8]) { self.init(decoding: bytes, as: UTF8.self) }
}
