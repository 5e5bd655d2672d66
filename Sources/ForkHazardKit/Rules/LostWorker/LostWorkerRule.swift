/// `lost-worker`: a parent waits forever for results from a pool of worker processes, every worker
/// is idle waiting for work, and one worker was started after the pool's own threads, unlike its
/// siblings: it replaced a worker that died mid-task, whose result will never come.
public struct LostWorkerRule: Rule {
    public let id = RuleID.lostWorker

    public init() {}

    public func findings(in snapshot: Snapshot) -> [Finding] {
        let graph = WaitGraph(snapshot)
        return snapshot.processes.compactMap { parent -> Finding? in
            let workers = snapshot.processes.filter { $0.ppid == parent.pid && isWorker($0, of: parent) }
            let helpers = parent.threads.filter { $0.tid != parent.pid }
            guard workers.count >= 2, !helpers.isEmpty,
                  let main = parent.thread(parent.pid),
                  main.wait?.forever == true, main.wait?.kind != .child else { return nil }
            // The pool forks its workers, then starts its own threads. Workers created before the
            // first of those threads are the originals; a worker created after it, with no pool
            // thread created after it (a second pool would start threads of its own after its
            // workers), replaced a worker that died. The PID counter orders them exactly, also
            // within one clock tick.
            let pidMax = snapshot.host.pidMax
            func before(_ a: Int32, _ b: Int32) -> Bool { ForkProvenance.counterOrder(a, before: b, pidMax: pidMax) }
            let firstHelper = helpers.map(\.tid).min(by: before)!
            let originals = workers.filter { before($0.pid, firstHelper) }
            let replacements = workers.filter { worker in
                before(firstHelper, worker.pid) && !helpers.contains { before(worker.pid, $0.tid) }
            }
            guard !originals.isEmpty, !replacements.isEmpty else { return nil }
            guard main.steady == true, workers.allSatisfy({ worker in worker.threads.allSatisfy(isIdle) }) else { return nil }
            // The main thread waits on something only threads of the tree can end (a result
            // condition), not on a client, a terminal or a timer: an idle server with a pool is no lost worker.
            guard case .only? = graph.wakers[ThreadKey(pid: parent.pid, tid: main.tid)] else { return nil }
            // Where the parent's Python frames were read, its main thread must wait for pool results
            // (in multiprocessing/pool.py): a pool that replaces workers by design (maxtasksperchild)
            // while its parent waits for something else is no lost worker.
            if let frames = main.python?.stack, !frames.isEmpty, !frames.contains(where: { $0.file.hasSuffix("multiprocessing/pool.py") }) {
                return nil
            }
            let firstStart = originals.map(\.startTicks).min() ?? 0
            let ticks = Double(snapshot.host.clockTicksPerSecond)
            let facts = LostWorkerFacts(
                parent: ProcessRef(pid: parent.pid, name: parent.name), workers: workers.map(\.pid),
                originals: originals.map(\.pid), replacements: replacements.map(\.pid),
                poolThreads: helpers.map(\.tid), mainThread: main.tid,
                replacementDelays: replacements.map { Double($0.startTicks >= firstStart ? $0.startTicks - firstStart : 0) / ticks })
            return Finding(rule: id, severity: .error, pids: [parent.pid] + workers.map(\.pid),
                           tids: [main.tid] + helpers.map(\.tid) + replacements.map(\.pid), facts: facts)
        }
    }

    func isWorker(_ child: ProcessSnapshot, of parent: ProcessSnapshot) -> Bool {
        (child.argv == parent.argv && child.forkOrigin?.kind != .execed)
            || child.argv.contains { $0.includes("multiprocessing.spawn") || $0 == "--multiprocessing-fork" }
    }

    /// Waiting for work: an untimed wait, the same at the second look.
    func isIdle(_ thread: ThreadSnapshot) -> Bool {
        thread.wait?.forever == true && thread.steady == true
    }
}
