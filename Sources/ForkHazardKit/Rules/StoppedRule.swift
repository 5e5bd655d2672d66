/// `stopped`: a process stopped by a signal (state `T`: SIGSTOP, Ctrl-Z) or by a tracer that is
/// not forkhazard (state `t`) makes no progress until SIGCONT or its tracer lets it go, and holds
/// up whoever waits for it. One finding per kind of stop and tracer.
public struct StoppedRule: Rule {
    public let id = RuleID.stopped

    public init() {}

    public func findings(in snapshot: Snapshot) -> [Finding] {
        struct Key: Hashable { var state: String; var tracer: Int32? }
        var groups: [Key: [ProcessSnapshot]] = [:]
        var order: [Key] = []
        for process in snapshot.processes where process.state == "T" || process.state == "t" {
            let key = Key(state: process.state, tracer: process.tracer?.pid)
            if groups[key] == nil { order.append(key) }
            groups[key, default: []].append(process)
        }
        guard !order.isEmpty else { return [] }
        let graph = WaitGraph(snapshot)
        let stuck = graph.stuck()
        return order.compactMap { key -> Finding? in
            guard let stopped = groups[key] else { return nil }
            let seeds = Set(stopped.flatMap { process in process.threads.map { ThreadKey(pid: process.pid, tid: $0.tid) } })
            let waiters = graph.held(by: seeds).subtracting(seeds).subtracting(stuck).sorted()
            let facts = StoppedFacts(processes: stopped.map { ProcessRef(pid: $0.pid, name: $0.name) }, state: key.state,
                                     tracer: stopped.first?.tracer, waiters: waiters)
            let pids = stopped.map(\.pid) + Array(Set(waiters.map(\.pid))).sorted()
            return Finding(rule: id, severity: .warning, pids: pids, tids: seeds.sorted().map(\.tid) + waiters.map(\.tid),
                           facts: .stopped(facts))
        }
    }
}
