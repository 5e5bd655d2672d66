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
            let facts = ForkFromThreadedFacts(
                parent: ProcessRef(pid: parent.pid, name: parent.name),
                children: children.map { ProcessRef(pid: $0.pid, name: $0.name) },
                threadsAtFork: key.threads, basis: commonBasis(children))
            return Finding(rule: id, severity: .warning, pids: [parent.pid] + children.map(\.pid),
                           tids: key.threads.map(\.tid), facts: facts)
        }
    }
}
