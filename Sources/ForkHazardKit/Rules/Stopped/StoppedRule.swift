/// `stopped`: a process stopped by a signal (state `T`: SIGSTOP, Ctrl-Z) or by a tracer that is
/// not forkhazard (state `t`) makes no progress until SIGCONT or its tracer lets it go, and holds
/// up whoever waits for it. One finding per kind of stop and tracer; a process of which only some
/// threads are stopped (a debugger or tracer holding one thread) is a finding of its own, naming them.
public struct StoppedRule: Rule {
    public let id = RuleID.stopped

    public init() {}

    public func findings(in snapshot: Snapshot) -> [Finding] {
        struct Key: Hashable { var state: TaskState; var tracer: Int32?; var partOf: Int32? }
        var groups: [Key: (processes: [ProcessSnapshot], threads: [ThreadKey], tracer: ProcessRef?)] = [:]
        var order: [Key] = []
        for process in snapshot.processes where !process.isKernelThread {
            let stopped = process.threads.filter(\.state.isStopped)
            let whole = process.state.isStopped || (!stopped.isEmpty && stopped.count == process.threads.count)
            guard whole || !stopped.isEmpty else { continue }
            let state = process.state.isStopped ? process.state : stopped[0].state
            // A tracer holding one thread shows in that thread's status, not the process's.
            let tracer = whole ? process.tracer ?? stopped.first?.tracer : stopped[0].tracer
            let key = Key(state: state, tracer: tracer?.pid, partOf: whole ? nil : process.pid)
            if groups[key] == nil {
                order.append(key)
                groups[key] = ([], [], tracer)
            }
            groups[key]!.processes.append(process)
            let seeds = whole ? process.threads : stopped
            groups[key]!.threads += seeds.map { ThreadKey(pid: process.pid, tid: $0.tid) }
        }
        guard !order.isEmpty else { return [] }
        let graph = WaitGraph(snapshot)
        let stuck = graph.stuck()
        return order.compactMap { key -> Finding? in
            guard let group = groups[key] else { return nil }
            let seeds = Set(group.threads)
            let waiters = graph.held(by: seeds).subtracting(seeds).subtracting(stuck).sorted()
            let facts = StoppedFacts(processes: group.processes.map { ProcessRef(pid: $0.pid, name: $0.name) }, state: key.state,
                                     tracer: group.tracer, threads: key.partOf == nil ? nil : group.threads, waiters: waiters)
            let pids = group.processes.map(\.pid) + Array(Set(waiters.map(\.pid)).subtracting(group.processes.map(\.pid))).sorted()
            return Finding(rule: id, severity: .warning, pids: pids, tids: seeds.sorted().map(\.tid) + waiters.map(\.tid),
                           facts: facts)
        }
    }
}
