/// The few parts of an ELF64 little-endian file that the delta encoder (to find references) and
/// the reproducible-build normalisation read: program headers and named sections. Anything out
/// of range ends the reading with what was found.
package struct ELFFile {
    package struct ProgramHeader {
        package var type: Int
        package var offset: Int
        package var address: Int
        package var fileSize: Int
    }

    package struct Section {
        package var name: String
        package var type: Int
        package var offset: Int
        package var address: Int
        package var size: Int
    }

    /// `SHT_NOBITS`: a section that takes no bytes of the file.
    package static let noBits = 8

    package var programHeaders: [ProgramHeader] = []
    package var sections: [Section] = []

    /// Nil unless `bytes` starts like an ELF64 little-endian file.
    package init?(_ bytes: UnsafeBufferPointer<UInt8>) {
        func read(_ at: Int, _ width: Int) -> Int? {
            guard at >= 0, width <= 8, at <= bytes.count - width else { return nil }
            var value: UInt64 = 0
            for i in 0..<width { value |= UInt64(bytes[at + i]) << UInt64(8 * i) }
            return value > UInt64(Int32.max) * 4 ? nil : Int(value)
        }
        guard bytes.count >= 64, bytes[0] == 0x7F, bytes[1] == 0x45, bytes[2] == 0x4C, bytes[3] == 0x46,
              bytes[4] == 2, bytes[5] == 1 else { return nil }
        if let phoff = read(32, 8), let size = read(54, 2), let count = read(56, 2), size >= 56 {
            for i in 0..<min(count, 256) {
                let at = phoff + i * size
                guard let type = read(at, 4), let offset = read(at + 8, 8), let address = read(at + 16, 8),
                      let fileSize = read(at + 32, 8) else { break }
                programHeaders.append(ProgramHeader(type: type, offset: offset, address: address, fileSize: fileSize))
            }
        }
        guard let shoff = read(40, 8), let size = read(58, 2), let count = read(60, 2), let names = read(62, 2),
              size >= 64, names < count else { return }
        var raw: [(nameOffset: Int, type: Int, address: Int, offset: Int, size: Int)] = []
        for i in 0..<min(count, 4096) {
            let at = shoff + i * size
            guard let nameOffset = read(at, 4), let type = read(at + 4, 4), let address = read(at + 16, 8),
                  let offset = read(at + 24, 8), let length = read(at + 32, 8) else { return }
            raw.append((nameOffset, type, address, offset, length))
        }
        let table = raw[names]
        for entry in raw {
            var name: [UInt8] = []
            var at = table.offset + entry.nameOffset
            while at >= 0, at < bytes.count, at < table.offset + table.size, bytes[at] != 0, name.count < 256 {
                name.append(bytes[at])
                at += 1
            }
            guard entry.offset <= bytes.count, entry.size <= bytes.count else { continue }
            sections.append(Section(name: String(decoding: name, as: UTF8.self), type: entry.type,
                                    offset: entry.offset, address: entry.address, size: entry.size))
        }
    }
}
