import Agent
import Foundation
import SelfUpgrade
import Testing

@Suite("Proposals that change only a module")
struct ModuleRouteTests {
    @Test("a change inside one module's directory is that module's; anything else is not")
    func choosesModule() {
        let route = ModuleRoute(modules: ["Sources/Examples/CounterModule": "counter", "Sources/Examples/ExampleHandler": "example-handler"]) { _ in "" }
        #expect(route.module(changing: ["Sources/Examples/CounterModule/Counter.swift"]) == "counter")
        #expect(route.module(changing: ["Sources/Examples/CounterModule/Counter.swift", "Sources/Examples/CounterModule/More.swift"]) == "counter")
        #expect(route.module(changing: ["Sources/Examples/CounterModule/Counter.swift", "Sources/Modules/ModuleHost.swift"]) == nil)
        #expect(route.module(changing: ["Sources/Examples/CounterModule/Counter.swift", "Sources/Examples/ExampleHandler/Handler.swift"]) == nil)
        #expect(route.module(changing: ["Sources/Examples/CounterModuleX/Counter.swift"]) == nil)
        #expect(route.module(changing: ["Package.swift"]) == nil)
        #expect(route.module(changing: []) == nil)
    }

    @Test("the module builder takes only names that can be a file name and a product, before anything is run or written",
          arguments: [("../escape", "counter-module"), ("counter", "../../p"), ("", "p"), ("-x", "p"), ("a b", "p"), (String(repeating: "m", count: 65), "p")])
    func builderRefusesNames(module: String, product: String) throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("autodev-builder-\(UUID().uuidString.prefix(8))").path
        defer { try? FileManager.default.removeItem(atPath: root) }
        let builder = ModuleBuilder(installation: Installation(directory: root + "/home", program: ProgramIdentity(name: "autodev", version: "0.1.0", protocolVersion: 1)),
                                    environmentPrefix: "AUTODEV_")
        #expect {
            _ = try builder.build(module: module, product: product, source: root)
        } throws: { error in
            (error as? ModuleBuilder.Failure)?.description.contains("is not a") == true
        }
        #expect(!FileManager.default.fileExists(atPath: root))
    }

    @Test("a module-only proposal is hot reloaded, not upgraded; a rejected reload is reverted; others take the full path")
    func hotReloadsModuleProposals() throws {
        let fixture = try Fixture()
        defer { fixture.cleanUp() }
        try fixture.makePatch("01.patch", changing: "a.txt")
        try fixture.makePatch("02.patch", changing: "c.txt", line: "breaks the module")
        try fixture.makePatch("03.patch", changing: "b.txt")
        let reloads = Reloads()
        var events: [AgentEvent] = []
        var loop = fixture.loop { events.append($0) }
        // a.txt and c.txt stand for a module's sources; the reload rejects the second proposal.
        let source = fixture.source
        loop.moduleRoute = ModuleRoute(modules: ["a.txt": "counter", "c.txt": "counter"]) { module in
            let text = try String(contentsOfFile: source + "/c.txt", encoding: .utf8)
            reloads.append(module)
            if text.contains("breaks the module") { throw BuildFailed(description: "module tests failed") }
            return "module counter@2 hot reloaded in 5.0 ms"
        }
        let ending = try loop.run(after: nil)
        guard case .finished(let memory) = ending else { Issue.record("\(ending)"); return }
        #expect(reloads.all == ["counter", "counter"])
        #expect(memory.processed.map(\.outcome) == ["accepted", "rejected", "rejected"])
        #expect(memory.processed.first?.version == "module counter@2 hot reloaded in 5.0 ms")
        #expect(memory.processed[1].reason == "module tests failed")
        // The third changes a file outside every module: the full upgrade (here: rejecting) ran.
        #expect(memory.processed[2].reason?.hasPrefix("does not build: agent: 03.patch") == true)
        #expect(events.contains(.reloadingModule(name: "01.patch", module: "counter")))
        #expect(events.contains(.upgrading(name: "03.patch")))
        #expect(!events.contains(.upgrading(name: "01.patch")))
        // The accepted module change stays committed; the rejected one was taken back.
        #expect(try fixture.read("a.txt").contains("a proposed line"))
        #expect(!(try fixture.read("c.txt").contains("breaks the module")))
        #expect(try fixture.git(["log", "--format=%s"]).split(separator: "\n").count == 2)
    }
}

extension ModuleRouteTests {
    @Test("under a fitness gate a module-only proposal is not reloaded: the gate could not judge it")
    func moduleProposalUnderGate() throws {
        let gate = try FitnessTests.Gate()
        defer { gate.fixture.cleanUp() }
        try gate.makeCurrent("root")
        try gate.fixture.makePatch("01.patch", changing: "a.txt")
        let reloads = Reloads()
        var loop = try gate.loop()
        loop.moduleRoute = ModuleRoute(modules: ["a.txt": "counter"]) { module in
            reloads.append(module)
            return "module counter@2 hot reloaded in 5.0 ms"
        }
        let ending = try loop.run(after: nil)
        guard case .finished(let memory) = ending else { Issue.record("\(ending)"); return }
        #expect(reloads.all.isEmpty)
        #expect(memory.processed.map(\.outcome) == ["rejected"])
        #expect(memory.processed.first?.reason?.contains("with a fitness gate, a change to the module counter alone is not taken") == true,
                "\(memory.processed)")
        #expect(!(try gate.fixture.read("a.txt").contains("a proposed line")))
    }
}

final class Reloads: @unchecked Sendable {
    private let lock = NSLock()
    private var items: [String] = []
    func append(_ item: String) { lock.withLock { items.append(item) } }
    var all: [String] { lock.withLock { items } }
}
