/// A thread of the snapshot.
public struct ThreadKey: Hashable, Comparable, Sendable {
    public var pid: Int32
    public var tid: Int32

    public static func < (a: ThreadKey, b: ThreadKey) -> Bool { (a.pid, a.tid) < (b.pid, b.tid) }
}

/// Who can end each thread's wait: the possible wakers, or "live" when the wait can end by itself
/// or by something outside what the host's /proc explains. Pure: built from a snapshot.
public struct WaitGraph: Sendable {
    public enum Wakers: Sendable, Equatable {
        /// The wait can end without any thread of the snapshot: a timeout, a running thread,
        /// a peer outside the tree, a terminal, a network socket.
        case live(String)
        /// Only these threads, or any thread of these processes (the waiter aside), can end it;
        /// `who` says why, for a person.
        case only(Set<ThreadKey>, processes: Set<Int32> = [], who: String)

        /// Nothing at all can end the wait.
        var isNobody: Bool {
            if case .only(let threads, let processes, _) = self { return threads.isEmpty && processes.isEmpty }
            return false
        }
    }

    public let wakers: [ThreadKey: Wakers]
    private let threads: [ThreadKey: (process: ProcessSnapshot, thread: ThreadSnapshot)]

    public init(_ snapshot: Snapshot) {
        var threads: [ThreadKey: (ProcessSnapshot, ThreadSnapshot)] = [:]
        for process in snapshot.processes {
            for thread in process.threads { threads[ThreadKey(pid: process.pid, tid: thread.tid)] = (process, thread) }
        }
        self.threads = threads
        let byPid = Dictionary(snapshot.processes.map { ($0.pid, $0) }, uniquingKeysWith: { a, _ in a })
        var wakers: [ThreadKey: Wakers] = [:]
        for (key, (process, thread)) in threads where thread.state != "Z" && thread.state != "X" {
            wakers[key] = Self.wakers(of: thread, in: process, byPid: byPid)
        }
        self.wakers = wakers
    }

    /// The greatest set of threads in untimed waits whose possible wakers are all in the set:
    /// none of them can ever wake. A process waker counts as in the set when every one of its
    /// threads is.
    public func stuck() -> Set<ThreadKey> {
        var set = Set(wakers.compactMap { key, wakers -> ThreadKey? in
            if case .only = wakers { return key }
            return nil
        })
        // Threads of each process not in the set (zombies aside: they wake nobody).
        var outside: [Int32: Int] = [:]
        for key in wakers.keys where !set.contains(key) { outside[key.pid, default: 0] += 1 }
        var changed = true
        while changed {
            changed = false
            for key in set {
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

    func describe(_ key: ThreadKey) -> String {
        guard let (process, thread) = threads[key] else { return "\(key.pid)" }
        let who = process.threads.count == 1 ? "\(process.name) \(key.pid)" : "\(process.name) \(key.pid) thread \(key.tid) '\(thread.name)'"
        return "\(who) \(thread.wait?.summary ?? "?")"
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

    static func wakers(of thread: ThreadSnapshot, in process: ProcessSnapshot, byPid: [Int32: ProcessSnapshot]) -> Wakers {
        guard let wait = thread.wait else { return .live("its wait is unknown") }
        guard wait.forever else { return .live("its wait is timed or ends by itself") }
        guard thread.steady == true else { return .live("it was not seen in the same wait twice") }
        func threadsOf(_ pids: [Int32], what: String) -> Wakers {
            for pid in pids where byPid[pid] == nil { return .live("\(what) \(pid) is outside the tree") }
            return .only([], processes: Set(pids), who: "\(what) \(pids.map(String.init).joined(separator: ", "))")
        }
        switch wait.kind {
        case .futex:
            guard let futex = wait.futex else { return .live("futex_waitv") }
            if futex.private {
                if let owner = wait.lock?.owner, process.threads.contains(where: { $0.tid == owner }) {
                    return .only([ThreadKey(pid: process.pid, tid: owner)], who: "the lock's owner, thread \(owner)")
                }
                let others = process.threads.contains { $0.tid != thread.tid && $0.state != "Z" }
                return .only([], processes: others ? [process.pid] : [],
                             who: others ? "the other threads of \(process.pid) (a private futex)"
                                 : "a private futex, and \(process.pid) has no other thread")
            }
            guard let mappedBy = futex.mappedBy, !mappedBy.isEmpty else {
                return .live("who maps the shared futex's object is unknown")
            }
            return threadsOf(mappedBy, what: "a process mapping \(futex.mapping?.path ?? "its object"):")
        case .fd, .poll, .fileLock:
            if let lock = wait.fileLock {
                guard !lock.holders.isEmpty else { return .live("the file lock's holder is unknown") }
                return threadsOf(lock.holders, what: "the lock's holder")
            }
            guard let fds = wait.fds, !fds.isEmpty else { return .live("the fds it waits on could not be read") }
            var all = Set<ThreadKey>()
            var processes = Set<Int32>()
            var who: [String] = []
            for fd in fds.flatMap({ $0.kind == .epoll ? ($0.watched ?? []) : [$0] }) {
                switch wakersOf(fd, threadsOf: threadsOf) {
                case .live(let why): return .live(why)
                case .only(let keys, let pids, let text):
                    all.formUnion(keys)
                    processes.formUnion(pids)
                    who.append(text)
                }
            }
            return .only(all, processes: processes, who: who.joined(separator: "; "))
        case .child:
            guard let children = wait.children, !children.isEmpty else { return .live("it waits for no child of the tree") }
            return threadsOf(children, what: children.count == 1 ? "child" : "children")
        default:
            return .live("\(wait.kind.rawValue) waits end by themselves or by a signal")
        }
    }

    static func wakersOf(_ fd: FdDescription, threadsOf: ([Int32], String) -> Wakers) -> Wakers {
        switch fd.kind {
        case .pipe, .unixSocket:
            guard let peers = fd.peers else { return .live("the other end of fd \(fd.fd) is unknown") }
            guard !peers.isEmpty else { return .live("fd \(fd.fd) has no other end: the call returns") }
            let role = fd.kind == .unixSocket ? "holders of the peer of \(fd.target ?? "the socket"):" : (fd.waitsForWriters ? "writers of \(fd.target ?? "the pipe"):" : "readers of \(fd.target ?? "the pipe"):")
            return threadsOf(Array(Set(peers.map(\.pid))).sorted(), role)
        default:
            return .live("fd \(fd.fd) (\(fd.kind.rawValue)) can be woken from outside the tree")
        }
    }
}
