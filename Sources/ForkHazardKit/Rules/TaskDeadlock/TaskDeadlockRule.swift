/// `task-deadlock`: an asyncio event loop whose thread waits in its selector forever, watching
/// only its own wakeup socket, in a process that handles no signal (CPython's own SIGINT aside)
/// and whose other threads all wait forever on each other: no callback, timer, fd, signal
/// handler or thread can ever run anything on it again, so every task of the loop waits forever.
/// The loop's own state must say so too: no ready callback, no timer, no signal handler of its
/// own (`add_signal_handler`); where it could not be read, nothing is claimed. Await cycles among
/// the tasks are named. When anything could still run on the loop, nothing is claimed: the tasks
/// are only shown.
public struct TaskDeadlockRule: Rule {
    public let id = RuleID.taskDeadlock

    public init() {}

    public func findings(in snapshot: Snapshot) -> [Finding] {
        let graph = WaitGraph(snapshot)
        var findings: [Finding] = []
        for process in snapshot.processes {
            guard let asyncio = process.python?.asyncio, !WaitGraph.catchesSignals(process) else { continue }
            for loop in asyncio.loops {
                guard let tid = loop.tid, let thread = process.thread(tid), let watched = Self.idleSelector(thread, in: process),
                      let others = Self.othersWaitForever(process, besides: tid, graph: graph) else { continue }
                let tasks = asyncio.tasks.filter { $0.loop == loop.address && $0.state == .pending }
                // A pending task that awaits nothing is ready to run: the loop would not block.
                guard !tasks.isEmpty, tasks.allSatisfy({ $0.awaiting != nil }), loop.runningTask == nil,
                      loop.ready == 0, loop.timers == 0, loop.signalHandlers?.isEmpty == true else { continue }
                let facts = TaskDeadlockFacts(
                    process: ProcessRef(pid: process.pid, name: process.name), loopThread: ThreadKey(pid: process.pid, tid: tid),
                    loop: loop.address, tasks: tasks.map(\.address), cycles: Self.cycles(tasks), watchedFds: watched,
                    otherThreads: others)
                findings.append(Finding(rule: id, severity: .error, pids: [process.pid], tids: [tid] + others.map(\.tid), facts: facts))
            }
        }
        return findings
    }

    /// The fds a loop's thread watches when it waits in its selector forever (steady, no timeout:
    /// no timer and no ready callback) on nothing but unix sockets and pipes whose other ends
    /// only its own process holds (the loop's wakeup socket); nil otherwise.
    static func idleSelector(_ thread: ThreadSnapshot, in process: ProcessSnapshot) -> [Int32]? {
        guard let wait = thread.wait, wait.kind == .poll, wait.forever, thread.steady == true,
              case .poll(let fds, nil) = wait.detail else { return nil }
        var watched: [FdDescription] = []
        for fd in fds {
            if fd.kind == .epoll {
                guard let list = fd.watched else { return nil }
                watched += list
            } else {
                watched.append(fd)
            }
        }
        let own = watched.allSatisfy { fd in
            [.unixSocket, .pipe].contains(fd.kind) && !fd.peersIncomplete
                && (fd.peers ?? []).allSatisfy { $0.pid == process.pid } && fd.peers?.isEmpty == false
        }
        return own ? watched.map(\.fd) : nil
    }

    /// The process's other threads when every one waits forever, steady, on threads of this
    /// process only (the loop's thread included, which never runs again); nil otherwise.
    static func othersWaitForever(_ process: ProcessSnapshot, besides tid: Int32, graph: WaitGraph) -> [ThreadKey]? {
        var others: [ThreadKey] = []
        for thread in process.threads where thread.tid != tid && !thread.state.hasExited {
            let key = ThreadKey(pid: process.pid, tid: thread.tid)
            guard thread.wait?.forever == true, thread.steady == true,
                  case .only(let threads, let processes, _)? = graph.wakers[key],
                  threads.allSatisfy({ $0.pid == process.pid }), processes.allSatisfy({ $0 == process.pid }) else { return nil }
            others.append(key)
        }
        return others
    }

    /// Await cycles: tasks each awaiting the next, the last awaiting the first; each cycle once,
    /// starting at its lowest address.
    static func cycles(_ tasks: [TaskInfo]) -> [[UInt64]] {
        let awaits = Dictionary(tasks.compactMap { task in task.awaiting.flatMap { $0.isTask ? (task.address, $0.address) : nil } },
                                uniquingKeysWith: { a, _ in a })
        var found: [[UInt64]] = []
        var seen = Set<UInt64>()
        for start in tasks.map(\.address).sorted() where !seen.contains(start) {
            var path: [UInt64] = []
            var at = start
            while let next = awaits[at], !path.contains(at), !seen.contains(at) {
                path.append(at)
                at = next
            }
            seen.formUnion(path)
            if let index = path.firstIndex(of: at) {
                let cycle = Array(path[index...])
                let low = cycle.firstIndex(of: cycle.min()!)!
                found.append(Array(cycle[low...] + cycle[..<low]))
            }
        }
        return found
    }
}
