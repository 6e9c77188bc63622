import Integrity

extension Delta {
    /// The largest base or result ``makePatch(from:to:options:)`` takes: 256 MiB. Making a patch
    /// of executables peaks at about 32 bytes of memory per byte of input (the inputs, their
    /// normalised copies, the suffix array and its sorting), about 8 GiB at this size; applying
    /// one stays bounded by the base and the result.
    public static let largestInputToMake = 256 << 20

    /// Makes a patch that turns `base` into `result`.
    ///
    /// Memory: the two inputs, the base's suffix array (4 bytes per base byte) and, while that
    /// is sorted, up to 5 bytes more per base byte; then the patch.
    /// - Parameters:
    ///   - base: the file the patch will be applied to.
    ///   - result: the file the patch makes.
    ///   - options: how to code it.
    /// - Returns: the patch.
    /// - Throws: `DeltaError` with `.inputTooLarge` if either input is larger than ``largestInputToMake``,
    ///   `.unsupportedVersion` if `options` asks for a format version this build cannot write.
    public static func makePatch(from base: [UInt8], to result: [UInt8], options: Options = Options()) throws(DeltaError) -> [UInt8] {
        guard PatchHeader.readableVersions.contains(options.formatVersion) else {
            throw DeltaError(.unsupportedVersion, "Cannot write delta format version \(options.formatVersion); this build writes versions \(PatchHeader.readableVersions.lowerBound) to \(PatchHeader.readableVersions.upperBound)")
        }
        guard base.count <= largestInputToMake, result.count <= largestInputToMake else {
            throw DeltaError(.inputTooLarge, "Cannot make a patch between files of \(base.count) and \(result.count) bytes: making one takes about 32 bytes of memory per byte, so files above 256 MiB are not taken")
        }
        return base.withUnsafeBufferPointer { old in
            result.withUnsafeBufferPointer { new in
                let x86 = (options.x86References ?? (isX86_64ELF(old) && isX86_64ELF(new)))
                var blocks: [Block]
                if x86, let normalOld = ReferenceTables.normalized(old), let normalNew = ReferenceTables.normalized(new) {
                    blocks = normalOld.withUnsafeBufferPointer { old in
                        normalNew.withUnsafeBufferPointer { new in
                            let suffixes = SuffixArray(old)
                            return Matcher.blocks(old: old, new: new, suffixes: suffixes)
                        }
                    }
                } else {
                    let suffixes = SuffixArray(old)
                    blocks = Matcher.blocks(old: old, new: new, suffixes: suffixes)
                }
                limitBlockCount(&blocks, resultSize: new.count)
                // The tables cost a few hundred bytes: a patch between files that differ in a
                // few bytes is smaller without them, so both codings are made and the smaller kept.
                var body = encode(blocks: blocks, old: old, new: new, x86: x86, version: options.formatVersion)
                var predicted = x86
                if x86 && body.count < 64 << 10 {
                    let plain = encode(blocks: blocks, old: old, new: new, x86: false, version: options.formatVersion)
                    if plain.count < body.count {
                        body = plain
                        predicted = false
                    }
                }
                let header = PatchHeader(version: options.formatVersion, flags: predicted ? .x86References : [], baseSize: old.count, resultSize: new.count,
                                         baseSHA256: SHA256.hash(data: old), resultSHA256: SHA256.hash(data: new),
                                         blockCount: blocks.count)
                return header.bytes + body
            }
        }
    }

    /// Version 2: codes whether the predicted word at `bytes` is corrected by a recent delta,
    /// and which, and returns that delta. A recent delta is taken when it is the word's own, or
    /// when it leaves a remainder below 1024 and below the word's own delta (the remainder is
    /// then coded as differences, in one or two bytes).
    private static func correction(for bytes: UnsafePointer<UInt8>, predicted: UInt64, width: Int, corrections: Corrections,
                                   models: Models, _ coder: inout RangeEncoder) -> Int64? {
        var actual: UInt64 = 0
        for j in 0..<width { actual |= UInt64(bytes[j]) << UInt64(8 * j) }
        let own = Corrections.delta(actual &- predicted, width: width)
        var place: Int?
        if own != 0 {
            place = corrections.recent.firstIndex(of: own)
            if place == nil {
                var closest = own.magnitude
                for (i, recent) in corrections.recent.enumerated() {
                    let left = (own &- recent).magnitude
                    if left < 1024 && left < closest {
                        closest = left
                        place = i
                    }
                }
            }
        }
        coder.encode(bit: place == nil ? 0 : 1, model: Models.correctionBase + corrections.flagContext(width: width), in: models.table)
        guard let place else { return nil }
        models.encodeTree(place, bits: 3, base: Models.placeBase + corrections.lastOutcome * 8, &coder)
        return corrections.recent[place]
    }

    /// True for an ELF64 little-endian x86-64 file.
    static func isX86_64ELF(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        bytes.count >= 20 && bytes[0] == 0x7F && bytes[1] == 0x45 && bytes[2] == 0x4C && bytes[3] == 0x46
            && bytes[4] == 2 && bytes[5] == 1 && bytes[18] == 0x3E && bytes[19] == 0
    }

    /// Merges blocks into their predecessors (their bytes become extra bytes), shortest copy
    /// first, until there are no more than the format allows.
    private static func limitBlockCount(_ blocks: inout [Block], resultSize: Int) {
        let limit = PatchHeader.maximumBlockCount(resultSize: resultSize)
        var threshold = 16
        while blocks.count > limit {
            var merged: [Block] = []
            merged.reserveCapacity(blocks.count)
            for block in blocks {
                if !merged.isEmpty, block.copy < threshold {
                    merged[merged.count - 1].extra += block.copy + block.extra
                } else {
                    merged.append(block)
                }
            }
            blocks = merged
            threshold *= 2
        }
    }

    private static func encode(blocks: [Block], old: UnsafeBufferPointer<UInt8>, new: UnsafeBufferPointer<UInt8>, x86: Bool,
                               version: UInt16) -> [UInt8] {
        let models = Models(version: version)
        var coder = RangeEncoder(reservingCapacity: new.count / 8 + 1024)
        var oldEnd = 0
        for block in blocks {
            models.encodeNumber(UInt64(block.copy), kind: .copy, &coder)
            models.encodeNumber(UInt64(block.extra), kind: .extra, &coder)
            models.encodeSigned(Int64(block.oldStart - oldEnd), kind: .seek, &coder)
            oldEnd = block.oldStart + block.copy
        }
        var map: OffsetMap?
        if x86 {
            let tables = ReferenceTables(old: old, new: new)
            tables.encode(&coder, models: models)
            map = blocks.withUnsafeBufferPointer { OffsetMap($0, tables: tables) }
        }
        // Version 2 leaves out the coder's first byte, which is always 0.
        func finished(_ coder: inout RangeEncoder) -> [UInt8] {
            coder.finish()
            assert(coder.bytes.first == 0, "the range coder's first byte is not 0")
            return version >= 2 ? Array(coder.bytes.dropFirst()) : coder.bytes
        }
        guard let o = old.baseAddress ?? UnsafePointer(bitPattern: 1), let n = new.baseAddress else {
            return finished(&coder)
        }
        var data = DataCoderState()
        var reference = ReferenceState(map: map)
        var corrections = Corrections()
        let chunked = version >= 2
        for block in blocks {
            var p = block.newStart
            var k = 0
            // Bytes left of a chunk whose flag said it holds a difference: coded one by one.
            var flagged = 0
            while k < block.copy {
                if chunked && flagged == 0 && data.startsChunk(k: k, copy: block.copy) {
                    let context = Models.chunkBase + data.zeroChunks
                    var trial = reference, trialData = data, trialCorrections = corrections
                    var allZero = true
                    for j in 0..<Models.chunkLength {
                        let ref = trial.reference(p: p + j, k: k + j, q: block.oldStart + k + j, copy: block.copy, old: o, oldCount: old.count,
                                                  prev1: trialData.prev1, prev2: trialData.prev2, prev3: trialData.prev3)
                        guard n[p + j] == ref else {
                            allZero = false
                            break
                        }
                        if trial.fieldIndex != 0 {
                            if trial.fieldIndex == 1 { trialCorrections.start(predicted: trial.predicted) }
                            trialCorrections.add(ref, fieldIndex: trial.fieldIndex, width: trial.width)
                        }
                        trialData.copied(ref, diff: 0)
                    }
                    coder.encode(bit: allZero ? 0 : 1, model: context, in: models.table)
                    if allZero {
                        reference = trial
                        data = trialData
                        corrections = trialCorrections
                        data.zeroChunks = min(data.zeroChunks + 1, 3)
                        p += Models.chunkLength
                        k += Models.chunkLength
                        continue
                    }
                    data.zeroChunks = 0
                    flagged = Models.chunkLength
                }
                if flagged > 0 { flagged -= 1 }
                let q = block.oldStart + k
                var ref = reference.reference(p: p, k: k, q: q, copy: block.copy, old: o, oldCount: old.count,
                                              prev1: data.prev1, prev2: data.prev2, prev3: data.prev3)
                if chunked && reference.fieldIndex == 1 {
                    corrections.start(predicted: reference.predicted)
                    if let delta = correction(for: n + p, predicted: reference.predicted, width: reference.width, corrections: corrections, models: models, &coder) {
                        ref = reference.correct(by: delta)
                    }
                }
                if chunked && reference.fieldIndex != 0 {
                    corrections.add(n[p], fieldIndex: reference.fieldIndex, width: reference.width)
                }
                let diff = n[p] &- ref
                let zeroContext = data.zeroContext(p: p, fieldIndex: reference.fieldIndex, oldPrev: q > 0 ? o[q &- 1] : 0)
                coder.encode(bit: diff == 0 ? 0 : 1, model: Models.diffZeroBase + zeroContext, in: models.table)
                if diff != 0 {
                    models.encodeTree(Int(diff), bits: 8, base: Models.diffTreeBase + data.treeContext(fieldIndex: reference.fieldIndex) * 256, &coder)
                }
                data.copied(n[p], diff: diff)
                p += 1
                k += 1
            }
            for _ in 0..<block.extra {
                models.encodeTree(Int(n[p]), bits: 8, base: Models.extraTreeBase + Int(data.prev1) * 256, &coder)
                data.added(n[p])
                p += 1
            }
        }
        return finished(&coder)
    }
}
