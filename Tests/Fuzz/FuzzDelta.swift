// libFuzzer target for the delta patch decoder. Built and run by scripts/fuzz.
//
// Every input is applied as a patch to one fixed base (a small x86-64 ELF-like file). It must
// either throw a DeltaError or rebuild a result whose SHA-256 is the one its header names; the
// result is capped at 1 MiB, so a header that claims more is refused before any work.
// With FUZZ_DELTA_SEEDS=DIR set, the target writes well-formed patches against the base into
// DIR (the seeds) and exits.

import Integrity
#if canImport(Glibc)
import Glibc
#endif

/// The fixed base: an ELF64 x86-64 header with one loadable segment, then code-like bytes with
/// calls (E8 rel32) between them.
let fuzzBase: [UInt8] = makeFile(seed: 1, calls: 40)

func makeFile(seed: UInt64, calls: Int) -> [UInt8] {
    var state = seed
    func next() -> UInt64 {
        state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
        return state >> 33
    }
    var file = [UInt8](repeating: 0, count: 120)
    file.replaceSubrange(0..<8, with: [0x7F, 0x45, 0x4C, 0x46, 2, 1, 1, 0])
    file[16] = 3; file[18] = 0x3E; file[32] = 64; file[54] = 56; file[56] = 1
    file[64] = 1; file[64 + 18] = 0x40
    for _ in 0..<calls {
        for _ in 0..<(8 + Int(next() % 40)) { file.append(UInt8(0x10 + next() % 0x50)) }
        let target = Int32(truncatingIfNeeded: Int(next() % 3_000) - 1_500)
        file.append(0xE8)
        for i in 0..<4 { file.append(UInt8(truncatingIfNeeded: target >> Int32(8 * i))) }
    }
    let size = UInt64(file.count)
    for i in 0..<8 { file[64 + 32 + i] = UInt8(truncatingIfNeeded: size >> UInt64(8 * i)) }
    return file
}

@_cdecl("LLVMFuzzerInitialize")
public func fuzzDeltaInitialize(_ argc: UnsafeMutablePointer<CInt>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>) -> CInt {
    guard let directory = getenv("FUZZ_DELTA_SEEDS").map({ String(cString: $0) }) else { return 0 }
    var results: [[UInt8]] = [fuzzBase, [], makeFile(seed: 2, calls: 30)]
    var edited = fuzzBase
    edited.insert(contentsOf: [0x90, 0x90, 0x90], at: 700)
    edited[300] ^= 0x20
    results.append(edited)
    results.append(Array(fuzzBase[100...]) + Array(fuzzBase[..<100]))
    for (index, result) in results.enumerated() {
        for x86 in [false, true] {
            for version in PatchHeader.readableVersions {
                guard let patch = try? Delta.makePatch(from: fuzzBase, to: result, options: Delta.Options(x86References: x86, formatVersion: version)) else { continue }
                let path = "\(directory)/seed-\(index)-\(x86 ? "x86" : "plain")-v\(version)"
                guard let file = fopen(path, "wb") else { continue }
                _ = patch.withUnsafeBytes { fwrite($0.baseAddress, 1, $0.count, file) }
                fclose(file)
            }
        }
    }
    exit(0)
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzDelta(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let patch = Array(UnsafeBufferPointer(start: data, count: size))
    var hasher = SHA256()
    var count = 0
    do {
        let header = try Delta.apply(.bytes(patch), to: fuzzBase, maximumResultSize: 1 << 20) { piece in
            hasher.update(bufferPointer: piece)
            count += piece.count
        }
        precondition(count == header.resultSize && hasher.finalize() == header.resultSHA256, "an accepted patch rebuilt something else")
    } catch {
        precondition(error.code != .io, "an in-memory patch reported an i/o error")
    }
    return 0
}
