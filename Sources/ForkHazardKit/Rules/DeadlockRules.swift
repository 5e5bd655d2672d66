/// `deadlock`: threads in untimed waits that only each other could end, confirmed by a second look.
public struct DeadlockRule: Rule {
    public let id = "deadlock"

    public init() {}

    public func findings(in snapshot: Snapshot) -> [Finding] {
        let graph = WaitGraph(snapshot)
        let stuck = graph.stuck()
        return graph.groups(of: stuck).map { group in
            var evidence: [String] = []
            for key in group {
                guard let wakers = graph.wakers[key], case .only(_, _, let who) = wakers else { continue }
                evidence.append("\(graph.describe(key)); " + (wakers.isNobody ? "nothing can wake it (\(who))" : "only \(who) can wake it"))
            }
            let pids = Array(Set(group.map(\.pid))).sorted()
            if let cycle = graph.processCycle(in: group) {
                evidence.append("cycle: " + cycle.map(String.init).joined(separator: " -> "))
            } else {
                let roots = group.filter { graph.wakers[$0]?.isNobody == true }
                if !roots.isEmpty {
                    evidence.append("no thread at all can wake " + roots.map { "\($0.tid)" }.joined(separator: ", ")
                                    + (group.count > roots.count ? "; the others wait, directly or not, for it" : ""))
                }
            }
            evidence.append("confirmed by a second look before any thread was stopped: the same system calls, unchanged context switch counts")
            let threads = plural(group.count, "thread", "threads")
            return Finding(
                rule: id, severity: .error, pids: pids, tids: group.map(\.tid),
                message: "\(threads) in \(plural(pids.count, "process", "processes")) are stuck for good: each waits for another of them, or for nothing at all",
                evidence: evidence,
                remedy: "Break the chain: each waits for another in the list. Close the pipe and socket ends a process does not "
                    + "use right after fork, do not wait for a child that waits for you, put timeouts on waits across "
                    + "processes, and take locks in one order. A lock inherited across fork is explained under inherited-lock.")
        }
    }
}

/// `lost-worker`: a parent waits forever for results from a pool of worker processes, every worker
/// is idle waiting for work, and one worker was started after the pool's own threads, unlike its
/// siblings: it replaced a worker that died mid-task, whose result will never come.
public struct LostWorkerRule: Rule {
    public let id = "lost-worker"

    public init() {}

    public func findings(in snapshot: Snapshot) -> [Finding] {
        snapshot.processes.compactMap { parent -> Finding? in
            let workers = snapshot.processes.filter { $0.ppid == parent.pid && isWorker($0, of: parent) }
            let helpers = parent.threads.filter { $0.tid != parent.pid }
            guard workers.count >= 2, !helpers.isEmpty,
                  let main = parent.threads.first(where: { $0.tid == parent.pid }),
                  main.wait?.forever == true, main.wait?.kind != .child else { return nil }
            // Workers started before the pool's threads are the originals; one started after them
            // (a higher PID than every pool thread's TID, or a later clock tick) is a replacement.
            let firstHelper = helpers.map(\.tid).min()!
            let originals = workers.filter { $0.pid < firstHelper }
            let replacements = workers.filter { $0.pid > firstHelper && $0.startTicks > (originals.map(\.startTicks).min() ?? 0) }
            guard !originals.isEmpty, !replacements.isEmpty else { return nil }
            let busy = workers.filter { worker in worker.threads.contains { !isIdle($0) } }
            guard busy.isEmpty else { return nil }
            let ticks = Double(snapshot.host.clockTicksPerSecond)
            var evidence = [
                "\(parent.name) \(parent.pid) has \(plural(workers.count, "worker process", "worker processes")): "
                    + workers.map { "\($0.pid)" }.joined(separator: ", "),
            ]
            for worker in replacements {
                let later = Double(worker.startTicks - (originals.map(\.startTicks).min() ?? worker.startTicks)) / ticks
                evidence.append("worker \(worker.pid) started \(formatDuration(later)) after its siblings \(originals.map { "\($0.pid)" }.joined(separator: ", ")), "
                                + "and after the pool's threads (TID \(firstHelper) and up): it replaced a worker that died")
            }
            evidence.append("main thread \(main.tid) waits forever: \(main.wait?.summary ?? "?")")
            for thread in helpers {
                evidence.append("pool thread \(thread.tid): \(thread.wait?.summary ?? "?")")
            }
            evidence.append("every worker is idle, waiting for work: " + workers.map { "\($0.pid) \($0.threads.first?.wait?.summary ?? "?")" }.joined(separator: "; "))
            evidence.append("the task the dead worker held was never finished, so its result never comes (killed by a signal or the OOM killer: see dmesg)")
            return Finding(
                rule: id, severity: .error, pids: [parent.pid] + workers.map(\.pid),
                tids: [main.tid] + helpers.map(\.tid) + replacements.map(\.pid),
                message: "\(parent.name) \(parent.pid) waits for results that will never come: a worker died mid-task and was replaced",
                evidence: evidence,
                remedy: "Use concurrent.futures.ProcessPoolExecutor, which raises BrokenProcessPool when a worker dies, or a pool "
                    + "that detects worker death; set maxtasksperchild to bound memory growth; give the job more memory "
                    + "if the OOM killer took the worker; put a timeout on result waits (AsyncResult.get(timeout=…)).")
        }
    }

    func isWorker(_ child: ProcessSnapshot, of parent: ProcessSnapshot) -> Bool {
        (child.argv == parent.argv && child.forkOrigin?.kind != .execed)
            || child.argv.contains { $0.contains("multiprocessing.spawn") || $0 == "--multiprocessing-fork" }
    }

    /// Waiting for work: every thread in an untimed wait.
    func isIdle(_ thread: ThreadSnapshot) -> Bool {
        thread.wait?.forever == true
    }
}
