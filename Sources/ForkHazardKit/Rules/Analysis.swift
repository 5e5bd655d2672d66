/// A rule looks at a whole snapshot and reports findings.
public protocol Rule: Sendable {
    var id: RuleID { get }
    func findings(in snapshot: Snapshot) -> [Finding]
}

/// Runs the rules over a snapshot.
public struct Analyzer: Sendable {
    public var rules: [any Rule]

    /// The rules a plain diagnosis runs.
    public static let standard = Analyzer(rules: [InheritedLock(), DeadlockRule(), LostWorkerRule(), StoppedRule(), ForkFromThreaded(), TaskDeadlockRule()])

    public init(rules: [any Rule]) {
        self.rules = rules
    }

    /// Runs every rule, and tells each cause once.
    public func report(for snapshot: Snapshot) -> Report {
        Report(snapshot: snapshot,
               findings: Self.foldingTaskDeadlocks(Self.foldingInheritedLocks(rules.flatMap { $0.findings(in: snapshot) })))
    }

    /// A deadlock made only of the threads of processes whose asyncio loop can never run again
    /// (a loop thread on its own wakeup socket when SIGINT is ignored, the threads it shares the
    /// process with) is the same cause as those `task-deadlock` findings, which name the tasks:
    /// it is dropped.
    static func foldingTaskDeadlocks(_ findings: [Finding]) -> [Finding] {
        var covered = Set<ThreadKey>()
        for finding in findings {
            if let facts = finding.facts as? TaskDeadlockFacts { covered.formUnion([facts.loopThread] + facts.otherThreads) }
        }
        guard !covered.isEmpty else { return findings }
        return findings.filter { finding in
            guard let facts = finding.facts as? DeadlockFacts else { return true }
            return !facts.members.allSatisfy { covered.contains($0.thread) }
        }
    }

    /// A deadlock made only of threads stuck on inherited locks is the same cause as those
    /// `inherited-lock` findings: it is dropped, and they are marked confirmed (the deadlock proof,
    /// with its second look, found every one of their waiters stuck). A deadlock with other
    /// threads in it (a parent waiting for such a child) stays, naming the inherited-lock waiters.
    static func foldingInheritedLocks(_ findings: [Finding]) -> [Finding] {
        var result = findings
        var waiterOf: [ThreadKey: Int] = [:]
        for (index, finding) in result.enumerated() {
            if let facts = finding.facts as? InheritedLockFacts {
                for waiter in facts.waiters { waiterOf[waiter] = index }
            }
        }
        guard !waiterOf.isEmpty else { return result }
        var stuck = Set<ThreadKey>()
        var dropped = Set<Int>()
        for (index, finding) in result.enumerated() {
            guard var facts = finding.facts as? DeadlockFacts else { continue }
            let members = facts.members.map(\.thread)
            stuck.formUnion(members)
            if members.allSatisfy({ waiterOf[$0] != nil }) {
                dropped.insert(index)
            } else {
                facts.inheritedLockWaiters = members.filter { waiterOf[$0] != nil }
                result[index].facts = facts
            }
        }
        for (index, finding) in result.enumerated() {
            guard var facts = finding.facts as? InheritedLockFacts else { continue }
            facts.confirmed = facts.waiters.allSatisfy(stuck.contains)
            result[index].facts = facts
        }
        return result.enumerated().filter { !dropped.contains($0.offset) }.map(\.element)
    }
}

/// The fork basis every one of `children` has.
func commonBasis(_ children: [ProcessSnapshot]) -> [ForkBasis] {
    let all = children.map { $0.forkOrigin?.basis ?? [] }
    return (all.first ?? []).filter { basis in all.allSatisfy { $0.contains(basis) } }
}
