/// Finds the blocks of a patch: bsdiff's matcher (Percival 2003). Exact matches are found in the
/// base's suffix array; each is extended forwards and backwards while at least half the bytes
/// agree, so a region that differs only in scattered bytes (changed addresses) is one block whose
/// differences are mostly zero.
enum Matcher {
    static func blocks(old: UnsafeBufferPointer<UInt8>, new: UnsafeBufferPointer<UInt8>, suffixes: borrowing SuffixArray) -> [Block] {
        let oldSize = old.count, newSize = new.count
        var blocks: [Block] = []
        guard newSize > 0 else { return blocks }
        guard oldSize > 0, let o = old.baseAddress, let n = new.baseAddress else {
            return [Block(newStart: 0, oldStart: 0, copy: 0, extra: newSize)]
        }
        let sa = suffixes.offsets
        var scan = 0, len = 0, pos = 0
        var lastScan = 0, lastPos = 0, lastOffset = 0
        while scan < newSize {
            var oldScore = 0
            scan += len
            var scsc = scan
            while scan < newSize {
                (len, pos) = search(sa, o, oldSize, n + scan, newSize - scan, 0, oldSize - 1)
                while scsc < scan + len {
                    if scsc + lastOffset < oldSize && o[scsc + lastOffset] == n[scsc] { oldScore += 1 }
                    scsc += 1
                }
                if (len == oldScore && len != 0) || len > oldScore + 8 { break }
                if scan + lastOffset < oldSize && o[scan + lastOffset] == n[scan] { oldScore -= 1 }
                scan += 1
            }
            guard len != oldScore || scan == newSize else { continue }
            var s = 0, sf = 0, lenF = 0
            var i = 0
            while lastScan + i < scan && lastPos + i < oldSize {
                if o[lastPos + i] == n[lastScan + i] { s += 1 }
                i += 1
                if s * 2 - i > sf * 2 - lenF { sf = s; lenF = i }
            }
            var lenB = 0
            if scan < newSize {
                s = 0
                var sb = 0
                i = 1
                while scan >= lastScan + i && pos >= i {
                    if o[pos - i] == n[scan - i] { s += 1 }
                    if s * 2 - i > sb * 2 - lenB { sb = s; lenB = i }
                    i += 1
                }
            }
            if lastScan + lenF > scan - lenB {
                let overlap = (lastScan + lenF) - (scan - lenB)
                s = 0
                var ss = 0, lenS = 0
                for j in 0..<overlap {
                    if n[lastScan + lenF - overlap + j] == o[lastPos + lenF - overlap + j] { s += 1 }
                    if n[scan - lenB + j] == o[pos - lenB + j] { s -= 1 }
                    if s > ss { ss = s; lenS = j + 1 }
                }
                lenF += lenS - overlap
                lenB -= lenS
            }
            let extra = (scan - lenB) - (lastScan + lenF)
            if lenF + extra > 0 {
                blocks.append(Block(newStart: lastScan, oldStart: lastPos, copy: lenF, extra: extra))
            }
            lastScan = scan - lenB
            lastPos = pos - lenB
            lastOffset = pos - scan
        }
        return blocks
    }

    /// The longest match of `target` among the suffixes `sa[start...end]`: its length and offset.
    private static func search(_ sa: UnsafeMutablePointer<Int32>, _ old: UnsafePointer<UInt8>, _ oldSize: Int,
                               _ target: UnsafePointer<UInt8>, _ targetSize: Int, _ start: Int, _ end: Int) -> (Int, Int) {
        var st = start, en = end
        while en - st >= 2 {
            let x = st + (en - st) / 2
            let offset = Int(sa[x])
            if compare(old + offset, oldSize - offset, target, targetSize) < 0 { st = x } else { en = x }
        }
        let a = Int(sa[st]), b = Int(sa[en])
        let x = matchLength(old + a, oldSize - a, target, targetSize)
        let y = matchLength(old + b, oldSize - b, target, targetSize)
        return x > y ? (x, a) : (y, b)
    }

    @inline(__always)
    private static func compare(_ a: UnsafePointer<UInt8>, _ aCount: Int, _ b: UnsafePointer<UInt8>, _ bCount: Int) -> Int {
        let common = min(aCount, bCount)
        var i = 0
        while i < common {
            if a[i] != b[i] { return a[i] < b[i] ? -1 : 1 }
            i += 1
        }
        return 0
    }

    @inline(__always)
    private static func matchLength(_ a: UnsafePointer<UInt8>, _ aCount: Int, _ b: UnsafePointer<UInt8>, _ bCount: Int) -> Int {
        let common = min(aCount, bCount)
        var i = 0
        while i < common && a[i] == b[i] { i += 1 }
        return i
    }
}
