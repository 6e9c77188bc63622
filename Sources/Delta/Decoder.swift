import Integrity

extension Delta {
    /// Applies a patch read from `patch` to `base`, handing the result to `write` in pieces.
    ///
    /// The header is checked first (format, sizes, the base's size and SHA-256, and `expected`
    /// if given); the result is streamed as it is decoded and its SHA-256 checked at the end, so
    /// a caller must treat what it received as unverified until this returns.
    /// - Parameters:
    ///   - patch: where the patch is read from.
    ///   - base: the file the patch was made from.
    ///   - expected: the SHA-256 the result must have (from signed metadata), if known.
    ///   - maximumResultSize: the largest result accepted; a header naming more is refused.
    ///   - write: receives the result in order, in pieces of up to 64 KiB.
    /// - Returns: the patch's header.
    /// - Throws: `DeltaError`: `.notAPatch`, `.unsupportedVersion`, `.malformed`,
    ///   `.limitExceeded`, `.baseMismatch`, `.resultMismatch`, or `.io` for errors of `patch`
    ///   and `write`.
    @discardableResult
    public static func apply(_ patch: PatchReader, to base: [UInt8], expecting expected: SHA256Digest? = nil,
                             maximumResultSize: Int = PatchHeader.maximumFileSize,
                             write: (UnsafeRawBufferPointer) throws -> Void) throws(DeltaError) -> PatchHeader {
        let input = PatchInput(reader: patch)
        let header: PatchHeader
        do {
            header = try PatchHeader.read {
                let byte = input.nextByte()
                return input.overran ? nil : byte
            }
        } catch {
            if input.readError != nil { try input.check("reading the header") }
            throw error
        }
        if let expected, expected != header.resultSHA256 {
            throw DeltaError(.resultMismatch, "The patch makes \(header.resultSHA256), not the expected \(expected)")
        }
        guard header.resultSize <= maximumResultSize else {
            throw DeltaError(.limitExceeded, "The patch makes \(header.resultSize) bytes, more than the \(maximumResultSize) allowed")
        }
        guard header.baseSize == base.count else {
            throw DeltaError(.baseMismatch, "The patch applies to a file of \(header.baseSize) bytes, not this one of \(base.count)")
        }
        let baseDigest = SHA256.hash(data: base)
        guard baseDigest == header.baseSHA256 else {
            throw DeltaError(.baseMismatch, "The patch applies to the file with SHA-256 \(header.baseSHA256), not this one (\(baseDigest))")
        }
        var coder = try RangeDecoder(input: input, leadingZero: header.version == 1)
        let models = Models(version: header.version)
        let blocks = try decodeBlocks(header: header, models: models, coder: &coder)
        let digest = try blocks.withUnsafeBufferPointer { (blocks) throws(DeltaError) -> SHA256Digest in
            try base.withUnsafeBufferPointer { (old) throws(DeltaError) -> SHA256Digest in
                try decodeData(header: header, blocks: blocks, old: old, models: models, coder: &coder, write: write)
            }
        }
        guard input.atEnd() else { throw DeltaError(.malformed, "The patch has bytes after its end") }
        try input.check("checking the end")
        guard digest == header.resultSHA256 else {
            throw DeltaError(.resultMismatch, "The rebuilt file's SHA-256 is \(digest), not \(header.resultSHA256) as the patch says")
        }
        return header
    }

    /// Applies a patch held in memory and returns the result.
    /// - Throws: `DeltaError` as `apply(_:to:expecting:maximumResultSize:write:)`.
    public static func apply(_ patch: [UInt8], to base: [UInt8], expecting expected: SHA256Digest? = nil) throws(DeltaError) -> [UInt8] {
        var result: [UInt8] = []
        try apply(.bytes(patch), to: base, expecting: expected) { result.append(contentsOf: $0) }
        return result
    }

    // MARK: - Internals

    private static func decodeBlocks(header: PatchHeader, models: Models, coder: inout RangeDecoder) throws(DeltaError) -> [Block] {
        var blocks: [Block] = []
        blocks.reserveCapacity(header.blockCount)
        var newStart = 0, oldEnd = 0
        let oldSize = header.baseSize, newSize = header.resultSize
        for index in 0..<header.blockCount {
            let copy = models.decodeNumber(kind: .copy, &coder)
            let extra = models.decodeNumber(kind: .extra, &coder)
            let seek = models.decodeSigned(kind: .seek, &coder)
            try coder.input.check("reading block \(index)")
            let room = UInt64(newSize - newStart)
            guard copy <= room, extra <= room - copy, copy + extra > 0 else {
                throw DeltaError(.malformed, "Block \(index) makes \(copy) + \(extra) bytes where \(room) remain of the result")
            }
            guard let seek, case let (oldStart, overflow) = Int64(oldEnd).addingReportingOverflow(seek), !overflow,
                  oldStart >= 0, oldStart <= Int64(oldSize), copy <= UInt64(Int64(oldSize) - oldStart) else {
                throw DeltaError(.malformed, "Block \(index) copies \(copy) bytes from outside the base of \(oldSize) bytes")
            }
            blocks.append(Block(newStart: newStart, oldStart: Int(oldStart), copy: Int(copy), extra: Int(extra)))
            newStart += Int(copy + extra)
            oldEnd = Int(oldStart) + Int(copy)
        }
        guard newStart == newSize else {
            throw DeltaError(.malformed, "The blocks make \(newStart) bytes; the header says \(newSize)")
        }
        return blocks
    }

    private static func decodeData(header: PatchHeader, blocks: UnsafeBufferPointer<Block>, old: UnsafeBufferPointer<UInt8>,
                                   models: Models, coder: inout RangeDecoder,
                                   write: (UnsafeRawBufferPointer) throws -> Void) throws(DeltaError) -> SHA256Digest {
        var map: OffsetMap?
        if header.flags.contains(.x86References) {
            let tables = try ReferenceTables(decoding: &coder, models: models, resultSize: header.resultSize)
            try coder.input.check("reading the reference tables")
            map = OffsetMap(blocks, tables: tables)
        }
        let o = old.baseAddress ?? UnsafePointer(bitPattern: 1)!
        let capacity = 1 << 16
        let out = UnsafeMutablePointer<UInt8>.allocate(capacity: capacity)
        defer { out.deallocate() }
        var filled = 0
        var hasher = SHA256()
        func flush() throws(DeltaError) {
            let piece = UnsafeRawBufferPointer(start: out, count: filled)
            hasher.update(bufferPointer: piece)
            do { try write(piece) } catch { throw DeltaError(.io, "Writing the rebuilt file failed: \(error)") }
            filled = 0
        }
        let table = models.table
        var data = DataCoderState()
        var reference = ReferenceState(map: map)
        var corrections = Corrections()
        let chunked = header.version >= 2
        let chunk = Models.chunkLength
        for (index, block) in blocks.enumerated() {
            var p = block.newStart
            var k = 0
            // Bytes left of a chunk whose flag said it holds a difference: decoded one by one.
            var flagged = 0
            while k < block.copy {
                if chunked && flagged == 0 && data.startsChunk(k: k, copy: block.copy) {
                    if coder.decodeBit(model: Models.chunkBase &+ data.zeroChunks, in: table) == 0 {
                        // Every byte of the chunk is its reference.
                        if filled > capacity &- chunk { try flush() }
                        let q = block.oldStart &+ k
                        if map == nil {
                            (out + filled).update(from: o + q, count: chunk)
                            data.copiedUnchanged(out + filled, count: chunk)
                        } else {
                            for j in 0..<chunk {
                                let byte = reference.reference(p: p &+ j, k: k &+ j, q: q &+ j, copy: block.copy, old: o, oldCount: old.count,
                                                               prev1: data.prev1, prev2: data.prev2, prev3: data.prev3)
                                if reference.fieldIndex != 0 {
                                    if reference.fieldIndex == 1 { corrections.start(predicted: reference.predicted) }
                                    corrections.add(byte, fieldIndex: reference.fieldIndex, width: reference.width)
                                }
                                data.copied(byte, diff: 0)
                                out[filled &+ j] = byte
                            }
                        }
                        filled &+= chunk
                        if filled == capacity { try flush() }
                        data.zeroChunks = min(data.zeroChunks &+ 1, 3)
                        p &+= chunk
                        k &+= chunk
                        continue
                    }
                    data.zeroChunks = 0
                    flagged = chunk
                }
                if flagged > 0 { flagged &-= 1 }
                let q = block.oldStart &+ k
                var ref = reference.reference(p: p, k: k, q: q, copy: block.copy, old: o, oldCount: old.count,
                                              prev1: data.prev1, prev2: data.prev2, prev3: data.prev3)
                if chunked && reference.fieldIndex == 1 {
                    corrections.start(predicted: reference.predicted)
                    if coder.decodeBit(model: Models.correctionBase &+ corrections.flagContext(width: reference.width), in: table) == 1 {
                        let place = models.decodeTree(bits: 3, base: Models.placeBase &+ corrections.lastOutcome &* 8, &coder)
                        guard place < corrections.recent.count else {
                            try coder.input.check("reading the data of block \(index)")
                            throw DeltaError(.malformed, "Block \(index) corrects a word at result offset \(p) by recent delta \(place + 1) of \(corrections.recent.count)")
                        }
                        ref = reference.correct(by: corrections.recent[place])
                    }
                }
                let zeroContext = data.zeroContext(p: p, fieldIndex: reference.fieldIndex, oldPrev: q > 0 ? o[q &- 1] : 0)
                var diff: UInt8 = 0
                if coder.decodeBit(model: Models.diffZeroBase &+ zeroContext, in: table) == 1 {
                    diff = UInt8(truncatingIfNeeded: models.decodeTree(bits: 8, base: Models.diffTreeBase &+ data.treeContext(fieldIndex: reference.fieldIndex) &* 256, &coder))
                }
                let byte = ref &+ diff
                if chunked && reference.fieldIndex != 0 {
                    corrections.add(byte, fieldIndex: reference.fieldIndex, width: reference.width)
                }
                data.copied(byte, diff: diff)
                out[filled] = byte
                filled &+= 1
                if filled == capacity { try flush() }
                p &+= 1
                k &+= 1
            }
            for _ in 0..<block.extra {
                let byte = UInt8(truncatingIfNeeded: models.decodeTree(bits: 8, base: Models.extraTreeBase &+ Int(data.prev1) &* 256, &coder))
                data.added(byte)
                out[filled] = byte
                filled &+= 1
                if filled == capacity { try flush() }
                p &+= 1
            }
            try coder.input.check("reading the data of block \(index)")
        }
        try flush()
        return hasher.finalize()
    }
}
