/// Who can end each thread's wait: the possible wakers, or "live" when the wait can end by itself
/// or by something outside what the host's /proc explains. Pure: built from a snapshot.
public struct WaitGraph: Sendable {
    public enum Wakers: Sendable, Equatable {
        /// The wait can end without any thread of the snapshot.
        case live(LiveReason)
        /// Only these threads, or any thread of these processes (the waiter aside), can end it,
        /// for these reasons (one per fd of a poll).
        case only(Set<ThreadKey>, processes: Set<Int32> = [], because: [WakerRole])

        /// Nothing at all can end the wait.
        public var isNobody: Bool {
            if case .only(let threads, let processes, _) = self { return threads.isEmpty && processes.isEmpty }
            return false
        }
    }

    /// Why a thread or process can end a wait.
    public enum WakerRole: Sendable, Equatable {
        /// The owner recorded in the lock, a thread of the same process.
        case lockOwner(tid: Int32)
        /// A private futex: the other threads of the waiter's process.
        case otherThreads(pid: Int32)
        /// A private futex in a process that has no other thread: nobody.
        case noOtherThread(pid: Int32)
        /// A shared futex: the processes mapping its object.
        case mappers(path: String?, pids: [Int32])
        case fileLockHolders([Int32])
        /// The processes holding a write end of the pipe read (a read end of the pipe written).
        case pipeWriters(target: String?, pids: [Int32])
        case pipeReaders(target: String?, pids: [Int32])
        case socketPeer(target: String?, pids: [Int32])
        case children([Int32])
        /// A pidfd: the exit of the process it refers to.
        case processExit(pid: Int32)
        /// pthread_join: the joined thread, whose exit wakes it.
        case joinedThread(tid: Int32)
        /// pthread_join of a thread the process does not have (it exists only in the parent it
        /// was forked from, or never did): nobody.
        case joinedThreadMissing(tid: Int32)
        /// A process sharing the waiter's address space (vfork, posix_spawn in flight), whose
        /// threads can wake its private futexes.
        case sharedAddressSpace(pid: Int32)
    }

    /// Why a wait is live: it can end without any thread of the snapshot.
    public enum LiveReason: Sendable, Equatable {
        case waitUnknown
        /// A timeout or a sleep; the seconds left when known.
        case timed(seconds: Double?)
        /// Running, outside a system call, a signal wait, a resumed call, or anything else that
        /// is not a wait on another thread.
        case endsByItself(ThreadWait.Kind)
        /// Not seen in the same wait twice.
        case notSteady
        /// A possible waker is a process outside the tree.
        case outsideTree(pid: Int32, role: WakerRole)
        case mappersUnknown
        case lockHolderUnknown
        case fdsUnreadable
        case otherEndUnknown(fd: Int32)
        /// Every other end is closed: the call returns.
        case noOtherEnd(fd: Int32)
        /// A network socket, a terminal, a file, an eventfd …: something outside can make it ready.
        case external(FdDescription)
        case noChild
        case futexVector
        /// The process catches signals and waits on something only it can wake: its own signal
        /// handler can (a self-pipe, `signal.set_wakeup_fd`, `sem_post` from a handler). It waits
        /// for a signal.
        case signalHandler
        /// The thread is stopped (state T or t): it runs again after SIGCONT or when its tracer
        /// lets it; the `stopped` rule reports it.
        case stopped(state: TaskState)
        /// An epoll set that is empty or could not be read, in a process whose other threads can add to it.
        case epollUnknown
        /// A socket whose own timeout could not be read: the call may end by itself.
        case socketTimeoutUnknown
        /// Some processes' fds could not be read: a holder of the other end may be among them.
        case peersIncomplete(fd: Int32)
    }

    public let wakers: [ThreadKey: Wakers]

    public init(_ snapshot: Snapshot) {
        self.init(processes: snapshot.processes)
    }

    init(processes: [ProcessSnapshot]) {
        let byPid = Dictionary(processes.map { ($0.pid, $0) }, uniquingKeysWith: { a, _ in a })
        // Processes sharing an address space, both ways.
        var partners: [Int32: [Int32]] = [:]
        for process in processes {
            if let other = process.sharesMemoryWith {
                partners[process.pid, default: []].append(other)
                partners[other, default: []].append(process.pid)
            }
        }
        var wakers: [ThreadKey: Wakers] = [:]
        for process in processes {
            for thread in process.threads where !thread.state.hasExited {
                wakers[ThreadKey(pid: process.pid, tid: thread.tid)] = Self.wakers(
                    of: thread, in: process, partners: partners[process.pid] ?? [], byPid: byPid)
            }
        }
        self.wakers = wakers
    }

    /// The greatest set of threads in untimed waits whose possible wakers are all in the set:
    /// none of them can ever wake. A process waker counts as in the set when every one of its
    /// threads is.
    public func stuck() -> Set<ThreadKey> {
        held(by: [])
    }

    /// The greatest set of threads that holds `seeds` and threads in untimed waits whose possible
    /// wakers all belong to the set: `seeds` and everything that waits for them, directly or not,
    /// and cannot wake otherwise.
    public func held(by seeds: Set<ThreadKey>) -> Set<ThreadKey> {
        var set = seeds.union(wakers.compactMap { key, wakers -> ThreadKey? in
            if case .only = wakers { return key }
            return nil
        })
        // Threads of each process not in the set (zombies aside: they wake nobody).
        var outside: [Int32: Int] = [:]
        for key in wakers.keys where !set.contains(key) { outside[key.pid, default: 0] += 1 }
        var changed = true
        while changed {
            changed = false
            for key in set where !seeds.contains(key) {
                guard case .only(let threads, let processes, _) = wakers[key] else { continue }
                if !threads.isSubset(of: set) || processes.contains(where: { (outside[$0] ?? 0) > 0 }) {
                    set.remove(key)
                    outside[key.pid, default: 0] += 1
                    changed = true
                }
            }
        }
        return set
    }

    /// Independent stuck groups: the stuck threads connected by waits.
    public func groups(of stuck: Set<ThreadKey>) -> [[ThreadKey]] {
        // Union-find over threads, with one extra node per process standing for "any of its threads".
        var parent: [ThreadKey: ThreadKey] = [:]
        func find(_ key: ThreadKey) -> ThreadKey {
            var root = key
            while let up = parent[root], up != root { root = up }
            var node = key
            while let up = parent[node], up != root { parent[node] = root; node = up }
            return root
        }
        func union(_ a: ThreadKey, _ b: ThreadKey) {
            let ra = find(a), rb = find(b)
            if ra != rb { parent[ra] = rb }
        }
        for key in stuck {
            parent[key] = parent[key] ?? key
            union(key, ThreadKey(pid: key.pid, tid: -1))
        }
        for key in stuck {
            guard case .only(let threads, let processes, _) = wakers[key] else { continue }
            for other in threads where stuck.contains(other) { union(key, other) }
            for pid in processes { union(key, ThreadKey(pid: pid, tid: -1)) }
        }
        var groups: [ThreadKey: [ThreadKey]] = [:]
        for key in stuck { groups[find(key), default: []].append(key) }
        return groups.values.map { $0.sorted() }.sorted { $0[0] < $1[0] }
    }

    /// A cycle of processes waiting on each other within `group`, if there is one.
    func processCycle(in group: [ThreadKey]) -> [Int32]? {
        var edges: [Int32: Set<Int32>] = [:]
        let pids = Set(group.map(\.pid))
        for key in group {
            guard case .only(let threads, let processes, _) = wakers[key] else { continue }
            for pid in Set(threads.map(\.pid)).union(processes) where pid != key.pid && pids.contains(pid) {
                edges[key.pid, default: []].insert(pid)
            }
        }
        var path: [Int32] = []
        var onPath = Set<Int32>()
        var done = Set<Int32>()
        func visit(_ pid: Int32) -> [Int32]? {
            path.append(pid)
            onPath.insert(pid)
            for next in (edges[pid] ?? []).sorted() {
                if onPath.contains(next) { return Array(path[path.firstIndex(of: next)!...]) + [next] }
                if !done.contains(next), let cycle = visit(next) { return cycle }
            }
            path.removeLast()
            onPath.remove(pid)
            done.insert(pid)
            return nil
        }
        for pid in Set(group.map(\.pid)).sorted() where !done.contains(pid) {
            if let cycle = visit(pid) { return cycle }
        }
        return nil
    }

    // MARK: wakers of one wait

    static func wakers(of thread: ThreadSnapshot, in process: ProcessSnapshot, partners: [Int32],
                       byPid: [Int32: ProcessSnapshot]) -> Wakers {
        guard let wait = thread.wait else { return .live(.waitUnknown) }
        if thread.state.isStopped { return .live(.stopped(state: thread.state)) }
        guard wait.forever else {
            let timed: Set<ThreadWait.Kind> = [.futex, .fd, .poll, .sleep, .signal, .fileLock]
            return .live(timed.contains(wait.kind) ? .timed(seconds: wait.timeoutSeconds) : .endsByItself(wait.kind))
        }
        guard thread.steady == true else { return .live(.notSteady) }
        /// Every process must be in the tree; any outside one is a live waker.
        func processes(_ pids: [Int32], _ role: WakerRole) -> Wakers {
            for pid in pids where byPid[pid] == nil { return .live(.outsideTree(pid: pid, role: role)) }
            return .only([], processes: Set(pids), because: [role])
        }
        let handlesSignals = catchesSignals(process)
        switch wait.kind {
        case .futex:
            guard let futex = wait.futex else { return .live(.futexVector) }
            if let lock = wait.lock, lock.kind == .threadJoin, let joined = lock.joins {
                return process.thread(joined) != nil ? .only([ThreadKey(pid: process.pid, tid: joined)], because: [.joinedThread(tid: joined)])
                    : .only([], because: [.joinedThreadMissing(tid: joined)])
            }
            if futex.private {
                if let owner = wait.lock?.owner, process.threads.contains(where: { $0.tid == owner }) {
                    return .only([ThreadKey(pid: process.pid, tid: owner)], because: [.lockOwner(tid: owner)])
                }
                let others = process.threads.contains { $0.tid != thread.tid && $0.state != .zombie }
                var pids: Set<Int32> = others ? [process.pid] : []
                var roles: [WakerRole] = others ? [.otherThreads(pid: process.pid)] : [.noOtherThread(pid: process.pid)]
                for partner in partners {
                    guard byPid[partner] != nil else { return .live(.outsideTree(pid: partner, role: .sharedAddressSpace(pid: partner))) }
                    pids.insert(partner)
                    roles = roles.filter { if case .noOtherThread = $0 { return false } else { return true } } + [.sharedAddressSpace(pid: partner)]
                }
                // A semaphore or a condition its own signal handler may post: it waits for a signal.
                if handlesSignals, Self.handlerCanPost.contains(wait.lock?.kind ?? .unknown) { return .live(.signalHandler) }
                return .only([], processes: pids, because: roles)
            }
            guard let mappedBy = futex.mappedBy, !mappedBy.isEmpty else { return .live(.mappersUnknown) }
            return processes(mappedBy, .mappers(path: futex.mapping?.path, pids: mappedBy))
        case .fd, .poll, .fileLock:
            if let lock = wait.fileLock {
                guard !lock.holders.isEmpty else { return .live(.lockHolderUnknown) }
                let all = Array(Set(lock.holders + (lock.sharers ?? []))).sorted()
                return processes(all, .fileLockHolders(all))
            }
            guard let fds = wait.fds, !fds.isEmpty else { return .live(.fdsUnreadable) }
            if wait.socketTimeout == .unknown { return .live(.socketTimeoutUnknown) }
            var all = Set<ThreadKey>()
            var pids = Set<Int32>()
            var roles: [WakerRole] = []
            let others = process.threads.contains { $0.tid != thread.tid && $0.state != .zombie }
            for fd in fds {
                var watched = [fd]
                if fd.kind == .epoll {
                    // An empty or unreadable interest list: another thread may add to it.
                    guard let list = fd.watched, !list.isEmpty else {
                        if others { return .live(.epollUnknown) }
                        continue
                    }
                    watched = list
                }
                for fd in watched {
                    switch wakers(of: fd, processes: processes) {
                    case .live(let why): return .live(why)
                    case .only(let keys, let more, let because):
                        all.formUnion(keys)
                        pids.formUnion(more)
                        roles += because
                    }
                }
            }
            // Only this process holds the other ends, and it catches signals: a self-pipe. For
            // CPython, SIGINT counts here too: its handler (its own or the program's) writes the
            // wakeup fd an event loop waits on (signal.set_wakeup_fd, asyncio).
            if catchesSignals(process, pythonSIGINT: true), pids.subtracting([process.pid]).isEmpty, all.isEmpty {
                return .live(.signalHandler)
            }
            return .only(all, processes: pids, because: roles)
        case .child:
            guard let children = wait.children, !children.isEmpty else { return .live(.noChild) }
            return processes(children, .children(children))
        default:
            return .live(.endsByItself(wait.kind))
        }
    }

    /// Signals that a program catches to act on, not to report a crash: asynchronous ones (a
    /// handler of SIGILL, SIGTRAP, SIGABRT, SIGBUS, SIGFPE, SIGSEGV or SIGSYS is a crash reporter),
    /// not glibc's own 32 and 33 (thread cancellation and set*id across threads, in every threaded
    /// program), and for CPython not SIGINT, whose handler it installs itself to raise KeyboardInterrupt.
    /// `pythonSIGINT`: count CPython's SIGINT too.
    static func catchesSignals(_ process: ProcessSnapshot, pythonSIGINT: Bool = false) -> Bool {
        var mask = process.caughtSignals ?? 0
        for signal: UInt64 in [4, 5, 6, 7, 8, 11, 31, 32, 33] { mask &= ~(1 << (signal - 1)) }
        if !pythonSIGINT, process.runtimes?.contains(.python) == true { mask &= ~(1 << (2 - 1)) }
        return mask != 0
    }

    /// Locks a signal handler may release: a semaphore (`sem_post` is async-signal-safe), a
    /// CPython lock (released by the Python handler, run between waits), a condition, or a lock
    /// of a kind not told.
    static let handlerCanPost: Set<LockInfo.Kind> = [.semaphore, .cpythonLock, .conditionVariable, .unknown]

    static func wakers(of fd: FdDescription, processes: ([Int32], WakerRole) -> Wakers) -> Wakers {
        switch fd.kind {
        case .pipe, .unixSocket:
            guard let peers = fd.peers else { return .live(.otherEndUnknown(fd: fd.fd)) }
            if fd.peersIncomplete { return .live(.peersIncomplete(fd: fd.fd)) }
            guard !peers.isEmpty else { return .live(.noOtherEnd(fd: fd.fd)) }
            let pids = Array(Set(peers.map(\.pid))).sorted()
            let role: WakerRole = fd.kind == .unixSocket ? .socketPeer(target: fd.target, pids: pids)
                : fd.waitsForWriters ? .pipeWriters(target: fd.target, pids: pids) : .pipeReaders(target: fd.target, pids: pids)
            return processes(pids, role)
        case .pidfd:
            // Ready when its process exits (or it has been reaped: then it reads as no process).
            guard let pid = fd.process else { return .live(.external(fd)) }
            return processes([pid], .processExit(pid: pid))
        default:
            return .live(.external(fd))
        }
    }
}

extension FdDescription {
    /// Whether a waiter on this fd waits for data to come in (rather than for room to write).
    var waitsForWriters: Bool {
        // A write end waits for its readers whatever it is polled for: it is ready when there is
        // room, or when they have all closed theirs (POLLERR, which asyncio's pipe transports
        // watch for by polling it for input).
        if access == .write { return false }
        guard let events else { return true }
        return events.contains("in") || events == "accept"
    }
}
