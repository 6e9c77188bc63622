import Foundation
import Integrity
import Testing

/// The published vectors, kept in Tests/Vectors (found relative to this file).
enum Vectors {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Vectors")

    /// SHAVS records: (message, digest hex). `Len` is trusted over the hex (Len = 0 is written `Msg = 00`).
    static func shavs(_ name: String) throws -> [(message: [UInt8], digest: String)] {
        let text = try String(contentsOf: directory.appendingPathComponent(name), encoding: .utf8)
        var records: [(message: [UInt8], digest: String)] = []
        var length = 0
        var message: [UInt8] = []
        for line in text.split(separator: "\n").map({ $0.trimmingCharacters(in: .whitespacesAndNewlines) }) {
            if line.hasPrefix("Len = ") { length = Int(line.dropFirst(6))! / 8 }
            if line.hasPrefix("Msg = ") { message = Array(Hex.decode(String(line.dropFirst(6)))!.prefix(length)) }
            if line.hasPrefix("MD = ") { records.append((message, String(line.dropFirst(5)))) }
        }
        return records
    }
}

@Suite("SHA-256")
struct SHA256Tests {
    static let implementations: [SHA256.Implementation] = SHA256.Implementation.best == .hardware ? [.hardware, .portable] : [.portable]

    @Test("NIST SHAVS short messages", arguments: implementations)
    func shortMessages(implementation: SHA256.Implementation) throws {
        let records = try Vectors.shavs("nist-SHA256ShortMsg.rsp")
        #expect(records.count == 65)
        for record in records {
            var hasher = SHA256(implementation: implementation)
            hasher.update(data: record.message)
            #expect(hasher.finalize().hex == record.digest, "Len = \(record.message.count * 8)")
        }
    }

    @Test("NIST SHAVS long messages, fed in uneven pieces", arguments: implementations)
    func longMessages(implementation: SHA256.Implementation) throws {
        let records = try Vectors.shavs("nist-SHA256LongMsg.rsp")
        #expect(records.count == 64)
        for record in records {
            var hasher = SHA256(implementation: implementation)
            var offset = 0
            var piece = 1
            while offset < record.message.count {
                let end = min(record.message.count, offset + piece)
                hasher.update(data: record.message[offset..<end])
                offset = end
                piece = piece * 3 % 200 + 1
            }
            #expect(hasher.finalize().hex == record.digest, "Len = \(record.message.count * 8)")
        }
    }

    @Test("both implementations agree around block edges")
    func blockEdges() {
        for size in [0, 1, 55, 56, 57, 63, 64, 65, 119, 120, 127, 128, 129, 1000, 4096 + 7] {
            let message = (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
            var portable = SHA256(implementation: .portable)
            portable.update(data: message)
            #expect(portable.finalize() == SHA256.hash(data: message), "size \(size)")
        }
    }

    @Test("digests compare by value and print as hex")
    func digestValue() {
        let digest = SHA256.hash(data: Array("abc".utf8))
        #expect(digest.description == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(SHA256Digest(hex: digest.hex.uppercased()) == digest)
        #expect(SHA256Digest(hex: "xyz") == nil)
        #expect(digest != SHA256.hash(data: Array("abd".utf8)))
    }

    @Test("CRC-32 check value and hex round trip")
    func crcAndHex() {
        #expect(CRC32.checksum(Array("123456789".utf8)) == 0xCBF4_3926)
        #expect(Hex.decode(Hex.encode([0, 1, 0xab, 0xff])) == [0, 1, 0xab, 0xff])
        #expect(Hex.decode("abc") == nil)
        #expect(Hex.decode("zz") == nil)
        #expect(ConstantTime.equals([1, 2, 3], [1, 2, 3]))
        #expect(!ConstantTime.equals([1, 2, 3], [1, 2, 4]))
        #expect(!ConstantTime.equals([1, 2], [1, 2, 3]))
    }

    @Test("CRC-32 eight bytes at a time equals the bit-by-bit definition at every length, alignment and byte value")
    func crcSlices() {
        func reference(_ bytes: ArraySlice<UInt8>) -> UInt32 {
            var crc: UInt32 = 0xFFFF_FFFF
            for byte in bytes {
                crc ^= UInt32(byte)
                for _ in 0..<8 { crc = crc & 1 == 1 ? 0xEDB8_8320 ^ (crc >> 1) : crc >> 1 }
            }
            return crc ^ 0xFFFF_FFFF
        }
        var generator = SystemRandomNumberGenerator()
        let bytes = (0..<4_096).map { _ in UInt8.random(in: 0...255, using: &generator) } + Array(0...255) + [UInt8](repeating: 0xff, count: 64)
        for start in 0..<9 {
            for count in 0..<80 { #expect(CRC32.checksum(bytes[start..<start + count]) == reference(bytes[start..<start + count])) }
        }
        #expect(CRC32.checksum(bytes) == reference(bytes[...]))
        #expect(CRC32.checksum(bytes.dropFirst(3)) == reference(bytes.dropFirst(3)))
    }
}
