import Glibc
import Platform

ProcessControl.defaultCrashSignals()
ProcessControl.ignoreBrokenPipe()
// Arguments are used as given or refused: one that is not valid UTF-8 (a path with a stray
// 0xff byte) would be rewritten by the String conversion into a different path.
for index in 1..<Int(CommandLine.argc) {
    guard let raw = CommandLine.unsafeArgv[index], String(validatingCString: raw) == nil else { continue }
    let bytes = UnsafeBufferPointer(start: UnsafeRawPointer(raw).assumingMemoryBound(to: UInt8.self), count: strlen(raw))
    let shown = bytes.map { $0 < 0x80 && $0 >= 0x20 ? String(UnicodeScalar($0)) : "\\x" + String($0, radix: 16) }.joined()
    Output.err("Error: argument \(index) (\(shown)) is not valid UTF-8; autodev takes paths and names as UTF-8 text")
    exit(64)
}
let status = CLI.main(Array(CommandLine.arguments.dropFirst()))
exit(status)
