import Foundation

/// Copies of executables that tests run at once.
public enum Executables {
    /// Copies the executable at `source` to `destination` in a `cp` process of its own. Written
    /// in this test process, the copy would be open for writing while other tests running in
    /// parallel fork children, which keep that descriptor until they exec: an `exec` of the copy
    /// in that window fails with "Text file busy".
    public static func copy(_ source: String, to destination: String) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/cp")
        process.arguments = ["--", source, destination]
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: destination])
        }
    }
}
