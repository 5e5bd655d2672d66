/// `deadlock`: threads in untimed waits that only each other could end, confirmed by a second look.
/// One finding per stuck group; groups of the same shape in sibling processes (each worker of a
/// pool stuck alone in the same wait) are one finding.
public struct DeadlockRule: Rule {
    public let id = RuleID.deadlock

    public init() {}

    public func findings(in snapshot: Snapshot) -> [Finding] {
        let graph = WaitGraph(snapshot)
        var merged: [(facts: DeadlockFacts, shape: Shape?)] = []
        for group in graph.groups(of: graph.stuck()) {
            let members = group.compactMap { key in graph.wakers[key].map { DeadlockFacts.Member(thread: key, wakers: $0) } }
            let facts = DeadlockFacts(
                members: members, cycle: graph.processCycle(in: group),
                unwakeable: group.filter { graph.wakers[$0]?.isNobody == true }, inheritedLockWaiters: [])
            let shape = Shape(group, in: snapshot)
            if let shape, let index = merged.firstIndex(where: { $0.shape == shape }) {
                merged[index].facts.members += facts.members
                merged[index].facts.unwakeable += facts.unwakeable
            } else {
                merged.append((facts, shape))
            }
        }
        return merged.map { facts, _ in
            let threads = facts.members.map(\.thread)
            return Finding(rule: id, severity: .error, pids: Array(Set(threads.map(\.pid))).sorted(),
                           tids: threads.map(\.tid), facts: facts)
        }
    }

    /// A stuck group within one process, by what it waits in: equal shapes in siblings are one cause.
    struct Shape: Equatable {
        var parent: Int32
        var argv: [String]
        var waits: [String]

        init?(_ group: [ThreadKey], in snapshot: Snapshot) {
            guard let pid = group.first?.pid, group.allSatisfy({ $0.pid == pid }), let process = snapshot.process(pid) else { return nil }
            parent = process.ppid
            argv = process.argv
            waits = group.map { key in
                let wait = process.thread(key.tid)?.wait
                return [wait?.kind.rawValue, wait?.syscall?.name, wait?.lock?.kind.rawValue, wait?.futex.map { "\($0.address) \($0.private)" }]
                    .map { $0 ?? "-" }.joined(separator: " ")
            }
        }
    }
}
