import ProcFS

@testable import ForkHazardKit

/// Builds a `Snapshot` in a few lines, for testing the rules without live processes:
///
///     var tree = SyntheticTree()
///     tree.process(100, threads: [.init(100, wait: .child([101]))])
///     tree.process(101, parent: 100, forked: true, threads: [.init(101, wait: .futex(0x1000, lock: .pthreadMutex, owner: 102))])
///     let report = tree.report()
struct SyntheticTree {
    var processes: [ProcessSnapshot] = []
    var host = HostInfo(architecture: .x86_64, kernel: "test", aslr: 2, clockTicksPerSecond: 100, bootTime: 0, pidMax: 32768)

    /// The layout every process forked without exec shares with its parent.
    static let parentLayout = AddressLayout(stackTop: 0x7ffd_0000_0000, vdso: 0x7f00_0000_0000, exeBase: 0x5555_0000_0000, libcBase: 0x7f10_0000_0000)

    struct Thread {
        var tid: Int32
        var name: String
        var start: UInt64?
        var state: TaskState
        var wait: ThreadWait?
        var steady: Bool
        var stack: [String]?

        init(_ tid: Int32, _ name: String = "t", start: UInt64? = nil, state: TaskState = "S", wait: ThreadWait?,
             steady: Bool = true, stack: [String]? = nil) {
            self.tid = tid
            self.name = name
            self.start = start
            self.state = state
            self.wait = wait
            self.steady = steady
            self.stack = stack
        }
    }

    /// How a process's memory relates to its parent's.
    enum Origin {
        /// A copy (forked without exec): the parent's startup random bytes and layout.
        case copy
        /// Exec'd: its own.
        case exec
        /// Neither can be read.
        case unreadable
    }

    /// Adds a process.
    mutating func process(_ pid: Int32, parent: Int32 = 1, name: String = "p", exe: String = "/usr/bin/app", argv: [String]? = nil, start: UInt64 = 1000,
                          state: TaskState = "S", origin: Origin = .copy, runtimes: [Runtime] = [], caught: UInt64? = nil,
                          tracer: ProcessRef? = nil, sharesMemoryWith: Int32? = nil, threads: [Thread]) {
        let parentProcess = processes.first { $0.pid == parent }
        let random = origin == .exec ? Int(pid) : origin == .unreadable ? nil : parentProcess?.startupRandomDigest ?? 42
        let layout = origin == .exec ? AddressLayout(stackTop: 0x7ffe_0000_0000 + UInt64(pid) << 12)
            : origin == .unreadable ? nil : parentProcess?.layout ?? Self.parentLayout
        processes.append(ProcessSnapshot(
            pid: pid, ppid: parent, name: name, argv: argv ?? [name], exe: exe, uid: 0, state: state,
            threadCount: threads.count, startTime: "2026-11-23T00:00:00.000Z", startTicks: start, isKernelThread: false,
            threads: threads.map { thread in
                var snapshot = ThreadSnapshot(tid: thread.tid, name: thread.name, state: thread.state, startTime: "2026-11-23T00:00:00.000Z",
                                              startTicks: thread.start ?? start, cpuSeconds: 0, wait: thread.wait)
                if thread.wait?.forever == true || thread.wait?.kind == .restarted { snapshot.steady = thread.steady }
                snapshot.stack = thread.stack.map { $0.enumerated().map { StackFrame(address: UInt64(0x1000 + $0.offset), symbol: $0.element) } }
                return snapshot
            },
            layout: layout, runtimes: runtimes, forkOrigin: nil, tracer: tracer,
            caughtSignals: caught, sharesMemoryWith: sharesMemoryWith, startupRandomDigest: random))
    }

    /// The snapshot as the builder ends it: with each process's fork provenance.
    var snapshot: Snapshot {
        var processes = processes
        ForkProvenance.annotate(&processes, host: host)
        return Snapshot(takenAt: "2026-11-23T00:00:00.000Z", host: host, roots: processes.first.map { [$0.pid] } ?? [],
                        processes: processes, notes: [])
    }

    func report() -> Report { Analyzer.standard.report(for: snapshot) }
}

extension SystemCall {
    /// A call by name, for waits made up in tests: its number and arguments are not looked at.
    static func named(_ name: Syscall) -> SystemCall { SystemCall(name: name, number: 0, args: Array(repeating: 0, count: 6)) }
}

extension ThreadWait {
    static func futex(_ address: UInt64, private isPrivate: Bool = true, lock: LockInfo.Kind? = nil, owner: Int32? = nil,
                      timeout: Double? = nil, expected: UInt32 = 2, mapping: MappingReference? = nil,
                      mappedBy: [Int32]? = nil, joins: Int32? = nil) -> ThreadWait {
        let futex = FutexWait(address: address, operation: .wait, private: isPrivate, clock: .monotonic, expected: expected,
                              mapping: mapping, mappedBy: mappedBy)
        var wait = ThreadWait(.futex(futex, lock: nil), call: .named(.futex), forever: timeout == nil, timeoutSeconds: timeout)
        if let lock {
            var info = LockInfo(kind: lock, address: address)
            info.owner = owner
            info.joins = joins
            if owner == nil, [.semaphore, .cpythonLock, .conditionVariable].contains(lock) { info.recordsNoOwner = true }
            wait.lock = info
        }
        return wait
    }

    /// `read` on a pipe whose other ends the `writers` hold.
    static func readPipe(fd: Int32 = 3, inode: UInt64, writers: [Int32]) -> ThreadWait {
        ThreadWait(.fd(.pipe(fd: fd, inode: inode, holders: writers, events: "in"), socketTimeout: nil), call: .named(.read), forever: true)
    }

    static func poll(_ fds: [FdDescription], syscall: Syscall = .poll, timeout: Double? = nil) -> ThreadWait {
        ThreadWait(.poll(fds, unreadableCount: nil), call: .named(syscall), forever: timeout == nil, timeoutSeconds: timeout)
    }

    static func epoll(watching: [FdDescription]?) -> ThreadWait {
        var epoll = FdDescription(fd: 5, kind: .epoll)
        epoll.target = "anon_inode:[eventpoll]"
        epoll.watched = watching
        return .poll([epoll], syscall: .epollWait)
    }

    static func recv(_ fd: FdDescription, timeout: Double? = nil, unknownTimeout: Bool = false) -> ThreadWait {
        ThreadWait(.fd(fd, socketTimeout: timeout != nil ? .own : unknownTimeout ? .unknown : nil), call: .named(.recvfrom),
                   forever: timeout == nil, timeoutSeconds: timeout)
    }

    static func child(_ pids: [Int32]) -> ThreadWait {
        ThreadWait(.child(pids.count == 1 ? .pid(pids[0]) : .any, children: pids), call: .named(.wait4), forever: true)
    }

    static func sleep(_ seconds: Double) -> ThreadWait {
        ThreadWait(.sleep(absolute: false), call: .named(.clockNanosleep), forever: false, timeoutSeconds: seconds)
    }

    static let pause = ThreadWait(.signal, call: .named(.pause), forever: true)
    static let running = ThreadWait(.running(inspector: false), forever: false)

    static func flock(path: String, inode: UInt64, holders: [Int32], sharers: [Int32]? = nil) -> ThreadWait {
        let lock = FileLockWait(fd: 4, path: path, inode: inode, exclusive: true, type: .flock, holders: holders, sharers: sharers)
        var fd = FdDescription(fd: 4, kind: .file)
        fd.target = path
        fd.inode = inode
        return ThreadWait(.fileLock(lock, fd: fd), call: .named(.flock), forever: true)
    }
}

extension FdDescription {
    static func pipe(fd: Int32, inode: UInt64, holders: [Int32], events: String = "in") -> FdDescription {
        var description = FdDescription(fd: fd, kind: .pipe)
        description.target = "pipe:[\(inode)]"
        description.inode = inode
        description.events = events
        description.peers = holders.map { FdHolder(pid: $0, name: "p", fd: 9, access: events == "in" ? .write : .read) }
        return description
    }

    static func unixSocket(fd: Int32, inode: UInt64, peerHolders: [Int32]) -> FdDescription {
        var description = FdDescription(fd: fd, kind: .unixSocket)
        description.target = "socket:[\(inode)]"
        description.inode = inode
        description.events = "in"
        description.socket = SocketDescription(proto: "unix", type: "stream", state: "connected", peerInode: inode + 1)
        description.peers = peerHolders.map { FdHolder(pid: $0, name: "p", fd: 8, access: .readWrite) }
        return description
    }

    static func tcp(fd: Int32) -> FdDescription {
        var description = FdDescription(fd: fd, kind: .tcpSocket)
        description.target = "socket:[777]"
        description.socket = SocketDescription(proto: "tcp", state: "ESTABLISHED", local: "10.0.0.2:40000", remote: "10.0.0.5:5432")
        return description
    }
}

/// Signal `n` in a `SigCgt` mask.
func signalMask(_ signals: Int...) -> UInt64 {
    signals.reduce(0) { $0 | 1 << UInt64($1 - 1) }
}
