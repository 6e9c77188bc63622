/// One step of a patch: `copy` bytes made from the base starting at `oldStart` (each the sum of
/// a reference byte and a coded difference), then `extra` bytes coded on their own.
struct Block: Equatable {
    var newStart: Int
    var oldStart: Int
    var copy: Int
    var extra: Int
}

/// Where each base offset went in the result, as the blocks say: used to predict references.
///
/// Blocks may copy overlapping ranges of the base; where they do, an offset maps through the
/// block that copies the most bytes (the first such block if several copy as many). The map is
/// kept as non-overlapping pieces, at most two per block, ordered by base offset. A class, so
/// that the per-byte reference state holds it without copying its arrays.
final class OffsetMap {
    // Constants once built, so that reading them per byte needs no exclusivity checks.
    private let oldStarts: [Int32]
    private let newStarts: [Int32]
    private let lengths: [Int32]
    /// The address spaces and pointer regions.
    let tables: ReferenceTables

    init(_ blocks: UnsafeBufferPointer<Block>, tables: ReferenceTables) {
        self.tables = tables
        var oldStarts: [Int32] = [], newStarts: [Int32] = [], lengths: [Int32] = []
        var bounds: [Int] = []
        bounds.reserveCapacity(2 * blocks.count)
        for block in blocks where block.copy > 0 {
            bounds.append(block.oldStart)
            bounds.append(block.oldStart + block.copy)
        }
        bounds.sort()
        let order = blocks.indices.filter { blocks[$0].copy > 0 }.sorted { blocks[$0].oldStart < blocks[$1].oldStart }
        // Active blocks by priority: longer first, then earlier.
        var heap = PriorityHeap { (a: Int, b: Int) in
            blocks[a].copy != blocks[b].copy ? blocks[a].copy > blocks[b].copy : a < b
        }
        var next = 0
        var previous = -1
        for (i, bound) in bounds.enumerated() where i + 1 < bounds.count && bounds[i + 1] > bound && bound != previous {
            previous = bound
            while next < order.count && blocks[order[next]].oldStart <= bound {
                heap.push(order[next])
                next += 1
            }
            while let top = heap.top, blocks[top].oldStart + blocks[top].copy <= bound { heap.pop() }
            guard let top = heap.top else { continue }
            let end = bounds[(i + 1)...].first { $0 > bound } ?? bound
            let winner = blocks[top]
            let newStart = winner.newStart + (bound - winner.oldStart)
            if let last = lengths.indices.last, Int(oldStarts[last]) + Int(lengths[last]) == bound,
               Int(newStarts[last]) + Int(lengths[last]) == newStart {
                lengths[last] += Int32(end - bound)
            } else {
                oldStarts.append(Int32(bound))
                newStarts.append(Int32(newStart))
                lengths.append(Int32(end - bound))
            }
        }
        self.oldStarts = oldStarts
        self.newStarts = newStarts
        self.lengths = lengths
    }

    /// The result offset of base offset `old`, or nil where no block copies it.
    @inline(__always)
    func resultOffset(of old: Int) -> Int? {
        oldStarts.withUnsafeBufferPointer { starts -> Int? in
            var low = 0, high = starts.count
            while low < high {
                let mid = (low &+ high) >> 1
                if Int(starts[mid]) <= old { low = mid &+ 1 } else { high = mid }
            }
            guard low > 0 else { return nil }
            let i = low &- 1
            let start = Int(starts[i])
            guard old &- start < Int(lengths[i]) else { return nil }
            return Int(newStarts[i]) &+ (old &- start)
        }
    }
}

/// A binary heap of block indices under a caller's order.
private struct PriorityHeap {
    private var items: [Int] = []
    private let before: (Int, Int) -> Bool

    init(before: @escaping (Int, Int) -> Bool) { self.before = before }

    var top: Int? { items.first }

    mutating func push(_ item: Int) {
        items.append(item)
        var i = items.count - 1
        while i > 0 {
            let parent = (i - 1) / 2
            guard before(items[i], items[parent]) else { break }
            items.swapAt(i, parent)
            i = parent
        }
    }

    mutating func pop() {
        guard !items.isEmpty else { return }
        items.swapAt(0, items.count - 1)
        items.removeLast()
        var i = 0
        while true {
            let l = 2 * i + 1, r = l + 1
            var best = i
            if l < items.count && before(items[l], items[best]) { best = l }
            if r < items.count && before(items[r], items[best]) { best = r }
            if best == i { return }
            items.swapAt(i, best)
            i = best
        }
    }
}

extension OffsetMap {
    /// The result address of what is at base address `address`, or nil where the base has no
    /// byte there or no block copies it.
    @inline(__always)
    func newAddress(ofOldAddress address: Int, oldCount: Int) -> Int? {
        guard let offset = tables.old.offset(ofAddress: address), offset >= 0, offset < oldCount,
              let newOffset = resultOffset(of: offset) else { return nil }
        return tables.new.address(ofOffset: newOffset)
    }
}
