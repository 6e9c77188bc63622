/// The suffix array of a byte string by induced sorting (SA-IS, Nong, Zhang and Chan 2009):
/// linear time, `4 n` bytes for the array itself and at most `5 n` more while it is built.
///
/// Suffixes compare as byte strings; a proper prefix sorts before the longer suffix.
struct SuffixArray: ~Copyable {
    /// Start offsets of the suffixes in ascending order.
    let offsets: UnsafeMutablePointer<Int32>
    /// The number of suffixes (the length of the text).
    let count: Int

    /// Sorts the suffixes of `text`, which must be shorter than 2³¹ bytes.
    init(_ text: UnsafeBufferPointer<UInt8>) {
        count = text.count
        offsets = UnsafeMutablePointer<Int32>.allocate(capacity: max(count, 1))
        guard count > 0, let base = text.baseAddress else { return }
        Self.induceSort(ByteSymbols(base: base), count: count, upper: 255, into: offsets)
    }

    deinit { offsets.deallocate() }

    // MARK: - Internals

    private static func induceSort<S: SymbolString>(_ s: S, count n: Int, upper: Int, into sa: UnsafeMutablePointer<Int32>) {
        if n == 1 { sa[0] = 0; return }
        if n == 2 {
            if s[0] < s[1] { sa[0] = 0; sa[1] = 1 } else { sa[0] = 1; sa[1] = 0 }
            return
        }
        // ls[i]: the suffix at i is S-type (smaller than the one after it).
        let ls = UnsafeMutablePointer<Bool>.allocate(capacity: n)
        defer { ls.deallocate() }
        ls[n - 1] = false
        var i = n - 2
        while i >= 0 {
            let a = s[i], b = s[i + 1]
            ls[i] = a == b ? ls[i + 1] : a < b
            i -= 1
        }
        let sumL = UnsafeMutablePointer<Int>.allocate(capacity: upper + 2)
        let sumS = UnsafeMutablePointer<Int>.allocate(capacity: upper + 2)
        let bucket = UnsafeMutablePointer<Int>.allocate(capacity: upper + 2)
        defer { sumL.deallocate(); sumS.deallocate(); bucket.deallocate() }
        sumL.initialize(repeating: 0, count: upper + 2)
        sumS.initialize(repeating: 0, count: upper + 2)
        for i in 0..<n {
            if !ls[i] { sumS[s[i]] += 1 } else { sumL[s[i] + 1] += 1 }
        }
        for c in 0...upper {
            sumS[c] += sumL[c]
            if c < upper { sumL[c + 1] += sumS[c] }
        }

        func induce(_ lms: UnsafeMutablePointer<Int32>, _ m: Int) {
            sa.update(repeating: -1, count: n)
            bucket.update(from: sumS, count: upper + 1)
            for k in 0..<m {
                let d = Int(lms[k])
                if d == n { continue }
                let c = s[d]
                sa[bucket[c]] = Int32(d)
                bucket[c] += 1
            }
            bucket.update(from: sumL, count: upper + 1)
            let last = s[n - 1]
            sa[bucket[last]] = Int32(n - 1)
            bucket[last] += 1
            for k in 0..<n {
                let v = Int(sa[k])
                if v >= 1 && !ls[v - 1] {
                    let c = s[v - 1]
                    sa[bucket[c]] = Int32(v - 1)
                    bucket[c] += 1
                }
            }
            bucket.update(from: sumL, count: upper + 1)
            var k = n - 1
            while k >= 0 {
                let v = Int(sa[k])
                if v >= 1 && ls[v - 1] {
                    let c = s[v - 1] + 1
                    bucket[c] -= 1
                    sa[bucket[c]] = Int32(v - 1)
                }
                k -= 1
            }
        }

        let lmsMap = UnsafeMutablePointer<Int32>.allocate(capacity: n + 1)
        defer { lmsMap.deallocate() }
        lmsMap.initialize(repeating: -1, count: n + 1)
        var m = 0
        for i in 1..<n where !ls[i - 1] && ls[i] {
            lmsMap[i] = Int32(m)
            m += 1
        }
        let lms = UnsafeMutablePointer<Int32>.allocate(capacity: max(m, 1))
        defer { lms.deallocate() }
        var j = 0
        for i in 1..<n where !ls[i - 1] && ls[i] {
            lms[j] = Int32(i)
            j += 1
        }
        induce(lms, m)
        guard m > 0 else { return }

        let sortedLms = UnsafeMutablePointer<Int32>.allocate(capacity: m)
        defer { sortedLms.deallocate() }
        j = 0
        for k in 0..<n {
            let v = Int(sa[k])
            if lmsMap[v] != -1 {
                sortedLms[j] = Int32(v)
                j += 1
            }
        }
        let recS = UnsafeMutablePointer<Int32>.allocate(capacity: m)
        defer { recS.deallocate() }
        var recUpper = 0
        recS[Int(lmsMap[Int(sortedLms[0])])] = 0
        for k in 1..<m {
            var l = Int(sortedLms[k - 1]), r = Int(sortedLms[k])
            let mapL = Int(lmsMap[l]), mapR = Int(lmsMap[r])
            let endL = mapL + 1 < m ? Int(lms[mapL + 1]) : n
            let endR = mapR + 1 < m ? Int(lms[mapR + 1]) : n
            var same = true
            if endL - l != endR - r {
                same = false
            } else {
                while l < endL {
                    if s[l] != s[r] { break }
                    l += 1
                    r += 1
                }
                if l == n || s[l] != s[r] { same = false }
            }
            if !same { recUpper += 1 }
            recS[mapR] = Int32(recUpper)
        }
        let recSA = UnsafeMutablePointer<Int32>.allocate(capacity: m)
        defer { recSA.deallocate() }
        induceSort(IntSymbols(base: recS), count: m, upper: recUpper, into: recSA)
        for k in 0..<m { sortedLms[k] = lms[Int(recSA[k])] }
        induce(sortedLms, m)
    }
}

/// A string of symbols read by position; the two kinds SA-IS sorts (bytes at the top level,
/// reduced names below) so that each recursion is specialised.
private protocol SymbolString {
    subscript(_ i: Int) -> Int { get }
}

private struct ByteSymbols: SymbolString {
    let base: UnsafePointer<UInt8>
    @inline(__always) subscript(_ i: Int) -> Int { Int(base[i]) }
}

private struct IntSymbols: SymbolString {
    let base: UnsafePointer<Int32>
    @inline(__always) subscript(_ i: Int) -> Int { Int(base[i]) }
}
