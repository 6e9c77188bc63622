import TestSupport
/// A made-up x86-64 ELF program: functions of filler bytes and calls (E8 rel32) and jumps
/// (0F 84 rel32) to other functions, linked at address 0x400000 with the code at file offset
/// 0x1000, so that moving a function changes every displacement that crosses it, as a real
/// relink does.
struct SyntheticProgram {
    enum Piece {
        case filler([UInt8])
        case call(function: Int)
        case branch(function: Int)
    }

    var functions: [[Piece]]

    init(functions count: Int, using generator: inout SeededGenerator) {
        functions = []
        for _ in 0..<count { functions.append(Self.function(count: count, using: &generator)) }
    }

    static func function(count: Int, using generator: inout SeededGenerator) -> [Piece] {
        var pieces: [Piece] = []
        for _ in 0..<Int.random(in: 2...8, using: &generator) {
            // Filler avoids the opcodes the predictor looks for.
            pieces.append(.filler((0..<Int.random(in: 4...40, using: &generator)).map { _ in UInt8.random(in: 0x10...0x5F, using: &generator) }))
            let target = Int.random(in: 0..<count, using: &generator)
            pieces.append(Bool.random(using: &generator) ? .call(function: target) : .branch(function: target))
        }
        return pieces
    }

    mutating func insertFunction(at index: Int, using generator: inout SeededGenerator) {
        // Calls to functions at or after the new one now name the next index.
        functions = functions.map { $0.map { piece in
            switch piece {
            case .call(let f) where f >= index: return .call(function: f + 1)
            case .branch(let f) where f >= index: return .branch(function: f + 1)
            default: return piece
            }
        } }
        functions.insert(Self.function(count: functions.count, using: &generator), at: index)
    }

    mutating func changeFunction(_ index: Int, using generator: inout SeededGenerator) {
        functions[index] = Self.function(count: functions.count, using: &generator)
    }

    func linked() -> [UInt8] {
        let codeOffset = 0x1000, address = 0x400000
        func size(_ piece: Piece) -> Int {
            switch piece {
            case .filler(let bytes): return bytes.count
            case .call: return 5
            case .branch: return 6
            }
        }
        var starts: [Int] = []
        var at = codeOffset
        for function in functions {
            starts.append(at)
            at += function.reduce(0) { $0 + size($1) }
        }
        var file = [UInt8](repeating: 0, count: at)
        func put(_ value: UInt64, _ offset: Int, _ width: Int) {
            for i in 0..<width { file[offset + i] = UInt8(truncatingIfNeeded: value >> UInt64(8 * i)) }
        }
        file.replaceSubrange(0..<8, with: [0x7F, 0x45, 0x4C, 0x46, 2, 1, 1, 0])
        put(3, 16, 2)
        put(0x3E, 18, 2)
        put(64, 32, 8)
        put(56, 54, 2)
        put(1, 56, 2)
        put(1, 64, 4)
        put(0, 64 + 8, 8)
        put(UInt64(address), 64 + 16, 8)
        put(UInt64(at), 64 + 32, 8)
        at = codeOffset
        for function in functions {
            for piece in function {
                switch piece {
                case .filler(let bytes):
                    file.replaceSubrange(at..<at + bytes.count, with: bytes)
                case .call(let f):
                    file[at] = 0xE8
                    put(UInt64(bitPattern: Int64(starts[f] - (at + 5))), at + 1, 4)
                case .branch(let f):
                    file[at] = 0x0F
                    file[at + 1] = 0x84
                    put(UInt64(bitPattern: Int64(starts[f] - (at + 6))), at + 2, 4)
                }
                at += size(piece)
            }
        }
        return file
    }
}
