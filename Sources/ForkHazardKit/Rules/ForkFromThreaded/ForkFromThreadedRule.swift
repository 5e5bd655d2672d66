/// `fork-from-threaded`: processes forked without exec while their parent had other threads. One
/// finding per parent and set of threads at the fork (a pool's workers are one finding).
public struct ForkFromThreaded: Rule {
    public let id = RuleID.forkFromThreaded

    public init() {}

    public func findings(in snapshot: Snapshot) -> [Finding] {
        struct Key: Hashable { var parent: Int32; var threads: [ThreadAtFork] }
        var groups: [Key: [ProcessSnapshot]] = [:]
        var order: [Key] = []
        for child in snapshot.processes {
            guard let origin = child.forkOrigin, origin.kind == .forkedWithoutExec,
                  let atFork = origin.threadsAtFork, atFork.count >= 2 else { continue }
            let key = Key(parent: origin.parent, threads: atFork)
            if groups[key] == nil { order.append(key) }
            groups[key, default: []].append(child)
        }
        return order.compactMap { key -> Finding? in
            guard let children = groups[key], let parent = snapshot.process(key.parent) else { return nil }
            return Self.finding(parent: ProcessRef(pid: parent.pid, name: parent.name),
                                children: children.map { ProcessRef(pid: $0.pid, name: $0.name) },
                                threadsAtFork: key.threads, basis: commonBasis(children))
        }
    }

    /// The finding on `children`, forked without exec from `parent` while it had `threadsAtFork`:
    /// the rule's, and the one `run` and `watch` report as such a fork happens (`exitedWithoutExec`:
    /// the child was gone before it could be looked at). Its PIDs start with the parent's, or, for
    /// a fork seen live, with the child's, the process the event is about.
    static func finding(parent: ProcessRef, children: [ProcessRef], threadsAtFork: [ThreadAtFork], basis: [ForkBasis],
                        exitedWithoutExec: Bool = false, childrenFirst: Bool = false) -> Finding {
        let facts = ForkFromThreadedFacts(parent: parent, children: children, threadsAtFork: threadsAtFork, basis: basis,
                                          exitedWithoutExec: exitedWithoutExec)
        let childPids = children.map(\.pid)
        return Finding(rule: .forkFromThreaded, severity: .warning,
                       pids: childrenFirst ? childPids + [parent.pid] : [parent.pid] + childPids,
                       tids: threadsAtFork.map(\.tid), facts: facts)
    }
}
