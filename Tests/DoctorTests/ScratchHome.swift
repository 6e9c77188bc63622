import Foundation
import Platform
import SelfUpgrade
import Storage

/// A scratch home with one adopted version of a small program, for the doctor to examine.
struct ScratchHome {
    let root = FileManager.default.temporaryDirectory.appendingPathComponent("doctor-home-\(UUID().uuidString.prefix(8))").path
    let program = ProgramIdentity(name: "tool", version: "1.0.0", protocolVersion: 1)
    let home: Home
    let first: VersionID

    init() throws {
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        let executable = root + "/tool-1"
        try Data("#!/bin/sh\nexit 0\n".utf8).write(to: URL(fileURLWithPath: executable))
        try FileSystem.setMode(executable, 0o755)
        home = Home(root: root + "/home", programName: "tool")
        first = try Upgrader(home: home, program: program, configuration: UpgradeConfiguration()).adopt(executable: executable)
    }

    func cleanUp() { try? FileManager.default.removeItem(atPath: root) }
}
