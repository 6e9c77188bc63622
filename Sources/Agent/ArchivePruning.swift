import Platform

/// What pruning the archive did (``AgentMemory/prune(storedIDs:)``).
public struct ArchivePruning: Sendable, Equatable, Encodable {
    /// Archive numbers whose commits stay: versions to continue from and their lineages.
    public var kept: [Int]
    /// Archive numbers whose commits were dropped by this pruning (their records stay, marked).
    public var pruned: [Int]

    /// A result; see the properties.
    public init(kept: [Int], pruned: [Int]) {
        self.kept = kept
        self.pruned = pruned
    }
}

extension AgentMemory {
    /// The archive numbers pruning keeps: the root; the lineages (the version and every ancestor
    /// back to the root) of the head, of the best version (``ParentSelection/best``), of a version
    /// on probation and of the parent of a proposal in flight; and the lineage of every version
    /// whose binary the installation still stores (`storedIDs`: what the journal can roll back
    /// to, so a rollback target always has its source).
    public func retainedVersions(storedIDs: Set<String>) -> Set<Int> {
        var kept: Set<Int> = [0]
        func keepLineage(of number: Int) {
            // Bounded: a damaged memory whose parents loop is walked once per entry at most.
            var current = number, steps = 0
            while current >= 1, current <= processed.count, steps <= processed.count, kept.insert(current).inserted {
                current = processed[current - 1].parent ?? 0
                steps += 1
            }
        }
        keepLineage(of: currentHead)
        keepLineage(of: parent(by: .best))
        if let probation { keepLineage(of: probation.number) }
        if let inFlight { keepLineage(of: inFlight.parent ?? currentHead) }
        for (index, proposal) in processed.enumerated() where proposal.isAccepted {
            if let id = proposal.id, storedIDs.contains(id) { keepLineage(of: index + 1) }
        }
        return kept
    }

    /// Marks every proposal outside ``retainedVersions(storedIDs:)`` pruned.
    /// - Returns: what is kept, and the numbers newly pruned (whose commits the caller drops).
    public mutating func prune(storedIDs: Set<String>) -> ArchivePruning {
        let kept = retainedVersions(storedIDs: storedIDs)
        var pruned: [Int] = []
        for index in processed.indices where !kept.contains(index + 1) && processed[index].pruned != true {
            processed[index].pruned = true
            pruned.append(index + 1)
        }
        return ArchivePruning(kept: kept.sorted(), pruned: pruned)
    }

    /// Whether an agent run is working on this memory now (its process is alive).
    public var runIsInProgress: Bool {
        guard let processID = run?.processID else { return false }
        return processID != ProcessControl.id && ProcessControl.isAlive(processID)
    }
}

extension WorkingCopy {
    /// Drops the archive refs of `numbers` (`refs/autodev/archive/<n>`), then lets git remove
    /// what nothing reaches any more: the reflogs, which still name every commit the agent made
    /// and took back, are expired, and `git gc` deletes the unreachable objects older than
    /// `grace` (default an hour: an agent run that starts meanwhile may be writing objects no
    /// ref names yet, which git's own pruning would otherwise delete under it).
    public func dropArchived(_ numbers: [Int], grace: String = "1.hour.ago") throws {
        for number in numbers {
            // A ref that is already gone (a pruning cut short) is not an error.
            _ = try? git(["update-ref", "-d", "refs/autodev/archive/\(number)"])
        }
        guard !numbers.isEmpty else { return }
        _ = try git(["reflog", "expire", "--expire=now", "--expire-unreachable=now", "--all"])
        _ = try git(["gc", "--quiet", "--prune=" + grace])
    }
}
