import ProcFS

/// Everything known about a process tree at one moment. Plain values: words for people are made
/// only by the renderers (`Rendering/`).
public struct Snapshot: Sendable {
    /// When the snapshot was taken, ISO 8601 UTC.
    public var takenAt: String
    public var host: HostInfo
    /// The PIDs the user asked about; every other process is a descendant of one of them.
    public var roots: [Int32]
    /// In tree order: each process follows its parent, siblings by PID.
    public var processes: [ProcessSnapshot]
    /// What could not be read, and why.
    public var notes: [SnapshotNote]

    public func process(_ pid: Int32) -> ProcessSnapshot? { processes.first { $0.pid == pid } }
}

public struct HostInfo: Sendable {
    public var architecture: Architecture
    public var kernel: String
    /// `kernel.randomize_va_space`: 0 means no ASLR, so layouts cannot tell a fork from an exec.
    public var aslr: Int?
    public var clockTicksPerSecond: Int
    /// Seconds since the epoch at boot (`btime`).
    public var bootTime: UInt64
    /// `kernel.pid_max`: PIDs and TIDs wrap to low numbers after it.
    public var pidMax: Int32

    public init(architecture: Architecture, kernel: String, aslr: Int?, clockTicksPerSecond: Int, bootTime: UInt64,
                pidMax: Int32 = 4_194_304) {
        self.architecture = architecture
        self.kernel = kernel
        self.aslr = aslr
        self.clockTicksPerSecond = clockTicksPerSecond
        self.bootTime = bootTime
        self.pidMax = pidMax
    }
}

public struct ProcessSnapshot: Sendable {
    public var pid: Int32
    public var ppid: Int32
    /// `comm`, at most 15 bytes.
    public var name: String
    /// Empty for kernel threads and zombies.
    public var argv: [String]
    /// The executable's path; nil when it cannot be read.
    public var exe: String?
    public var uid: UInt32?
    public var state: TaskState
    public var threadCount: Int
    public var startTime: String
    public var startTicks: UInt64
    public var isKernelThread: Bool
    public var threads: [ThreadSnapshot]
    /// Where a few things sit in its address space; with ASLR a fresh exec moves them, a fork does not.
    public var layout: AddressLayout?
    /// Runtimes seen in its mappings or executable: `python`, `libgomp`, `libstdc++`.
    public var runtimes: [Runtime]?
    /// For a process whose parent is in the snapshot: forked without exec, or exec'd. Filled in by analysis.
    public var forkOrigin: ForkOrigin?
    /// The CPython interpreter in it, when one was found and read.
    public var python: PythonProcessInfo?
    /// The process tracing this one (a debugger, strace), from `TracerPid`; nil when none.
    public var tracer: ProcessRef?
    /// `SigCgt`: the signals it has a handler for, bit n-1 for signal n.
    public var caughtSignals: UInt64?
    /// The process it shares its address space with (its parent during a vfork or a posix_spawn
    /// in flight, told by kcmp); its threads can wake its private futexes too.
    public var sharesMemoryWith: Int32?
    /// In a PID namespace below the one /proc shows (a container seen from the host): its PID
    /// there, and the namespace (`pid:[4026532…]`). Nil otherwise.
    public var namespacePid: Int32?
    public var pidNamespace: String?
    /// A digest of the 16 random bytes the kernel put on its stack at exec (`AT_RANDOM`), keyed
    /// afresh in each run: equal in a parent and a child forked without exec, different after an
    /// exec. Never printed.
    public var startupRandomDigest: Int?
    /// Its personality has ADDR_NO_RANDOMIZE (`setarch -R`, a debugger): its layout is not
    /// randomised whatever the host's setting, so the layout tells nothing of an exec.
    public var addressRandomizationOff = false

    public func thread(_ tid: Int32) -> ThreadSnapshot? { threads.first { $0.tid == tid } }
}

public struct AddressLayout: Sendable, Equatable {
    /// End of `[stack]`.
    public var stackTop: UInt64?
    public var vdso: UInt64?
    /// Start of the executable's first mapping.
    public var exeBase: UInt64?
    /// Start of libc's first mapping.
    public var libcBase: UInt64?

    public init(stackTop: UInt64? = nil, vdso: UInt64? = nil, exeBase: UInt64? = nil, libcBase: UInt64? = nil) {
        self.stackTop = stackTop
        self.vdso = vdso
        self.exeBase = exeBase
        self.libcBase = libcBase
    }

    /// The layout of a process from its maps and executable path; nil without maps.
    public init?(maps: [MemoryMapping], exe: String?) {
        guard !maps.isEmpty else { return nil }
        func start(_ match: (MemoryMapping) -> Bool) -> UInt64? { maps.first(where: match)?.start }
        stackTop = maps.first { $0.path == "[stack]" }?.end
        vdso = start { $0.path == "[vdso]" }
        exeBase = exe.flatMap { path in start { $0.path == path } }
        libcBase = start(\.isLibc)
    }

    /// Whether two layouts have at least one address in common and none that differ.
    public func matches(_ other: AddressLayout) -> Bool? {
        let pairs = [(stackTop, other.stackTop), (vdso, other.vdso), (exeBase, other.exeBase), (libcBase, other.libcBase)]
            .compactMap { a, b in a.flatMap { a in b.map { (a, $0) } } }
        guard !pairs.isEmpty else { return nil }
        return pairs.allSatisfy { $0 == $1 }
    }
}

/// How a process came to be: forked from its parent without exec (a copy of the parent's memory,
/// locks included), or exec'd (a fresh program).
public struct ForkOrigin: Sendable, Equatable {
    public enum Kind: String, Sendable {
        case forkedWithoutExec, execed, unknown
    }

    public var kind: Kind
    public var parent: Int32
    /// The facts the kind rests on.
    public var basis: [ForkBasis]
    /// For a fork without exec: the parent's threads that existed at the fork (the one that forked
    /// among them), as far as /proc can tell.
    public var threadsAtFork: [ThreadAtFork]?
}

/// One fact about how a process came to be.
public enum ForkBasis: Sendable, Equatable, Hashable {
    /// Its command line is a fresh interpreter that `multiprocessing` starts (`spawn`, fork server, …).
    case execMarker(ExecMarker)
    /// It runs another executable than its parent.
    case otherExecutable(child: String, parent: String)
    /// Its address layout is its parent's: with ASLR on, an exec would have moved it.
    case sameLayout(AddressLayout)
    case otherLayout(child: AddressLayout, parent: AddressLayout)
    /// Its command line is its parent's.
    case sameCommandLine
    /// The random bytes the kernel gives each program at exec (`AT_RANDOM`) are its parent's: its
    /// memory is a copy of the parent's. Holds with ASLR off too.
    case sameStartupRandom
    /// They differ from its parent's: it exec'd a program (the same one, perhaps).
    case otherStartupRandom
    /// It shares its parent's address space: a vfork child or a posix_spawn in flight.
    case sharesParentMemory
    /// ASLR is off, so layouts cannot tell a fork from an exec.
    case aslrOff
    case layoutUnreadable

    public enum ExecMarker: String, Sendable {
        case spawn, forkserver, resourceTracker
    }
}

extension AddressLayout: Hashable {}

public struct ThreadAtFork: Sendable, Equatable, Hashable {
    public enum Certainty: String, Sendable {
        /// Started in an earlier clock tick than the child, or created before it by the PID counter.
        case certain
        /// Order unknown.
        case possible
    }

    public var tid: Int32
    public var name: String
    public var certainty: Certainty

    public init(tid: Int32, name: String, certainty: Certainty) {
        self.tid = tid
        self.name = name
        self.certainty = certainty
    }
}

public struct ThreadSnapshot: Sendable {
    public var tid: Int32
    /// Its TID in its process's PID namespace, where that is below the one /proc shows.
    public var namespaceTid: Int32?
    public var name: String
    public var state: TaskState
    public var startTime: String
    public var startTicks: UInt64
    /// utime + stime, in seconds.
    public var cpuSeconds: Double
    public var voluntaryContextSwitches: UInt64?
    public var involuntaryContextSwitches: UInt64?
    /// The kernel function it sleeps in (`futex_do_wait`, `anon_pipe_read` …); nil when not readable or running.
    public var wchan: String?
    /// What the thread is blocked in and waiting for; nil when unknown.
    public var wait: ThreadWait?
    /// Native stack, innermost first; nil when not taken.
    public var stack: [StackFrame]?
    /// How long the thread was stopped to copy its registers and stack, in microseconds.
    public var pauseMicros: Double?
    /// For a thread in an untimed wait: whether a second look, before anything was stopped, found
    /// the same system call and unchanged context switch counts.
    public var steady: Bool?
    /// Its Python thread state, name and stack, in a process whose interpreter was read.
    public var python: PythonThreadInfo?
    /// The process tracing this thread (`TracerPid` of its status), if any.
    public var tracer: ProcessRef?
}

/// The CPython interpreter of a process.
public struct PythonProcessInfo: Sendable, Equatable {
    /// `3.11.7`.
    public var version: String
    /// Its asyncio event loops and tasks, when it has any and they could be read.
    public var asyncio: AsyncioInfo? = nil
}

/// asyncio in a process: its tasks, and which thread runs each event loop.
public struct AsyncioInfo: Sendable, Equatable {
    public var tasks: [TaskInfo]
    public var loops: [LoopInfo]

    public func task(_ address: UInt64) -> TaskInfo? { tasks.first { $0.address == address } }
}

/// An event loop, by its object's address.
public struct LoopInfo: Sendable, Equatable {
    public var address: UInt64
    /// The thread running it (inside `run_forever`), when one is.
    public var tid: Int32?
    /// The task it is running at this moment, by address.
    public var runningTask: UInt64?
    /// What the loop itself holds that could run (nil where it could not be read): callbacks
    /// ready to run, timers not cancelled and the time left to the next one, the fds its
    /// selector watches (its own wakeup socket among them), and the signals it handles
    /// (`add_signal_handler`).
    public var ready: Int? = nil
    public var timers: Int? = nil
    public var nextTimerSeconds: Double? = nil
    public var watchedFds: [Int32]? = nil
    public var wakeupFd: Int32? = nil
    public var signalHandlers: [Int32]? = nil
}

/// An asyncio task: its name, its suspended coroutines, what it awaits and who awaits it.
public struct TaskInfo: Sendable, Equatable {
    public enum State: String, Sendable {
        case pending, cancelled, finished
    }

    public var address: UInt64
    /// `Task.get_name()`.
    public var name: String?
    public var state: State
    /// Where its coroutines are suspended, outermost (the task's own) first.
    public var coroutines: [PythonFrameInfo]
    /// What it awaits; nil when it is ready to run, running or done.
    public var awaiting: Awaited?
    /// The tasks that await it, by address.
    public var awaitedBy: [UInt64]
    /// Its event loop, by address.
    public var loop: UInt64

    /// The object a task awaits: another task, or a future (an asyncio.Lock's, Event's, Queue's
    /// waiter, a sleep's, a transport's).
    public struct Awaited: Sendable, Equatable {
        public var address: UInt64
        public var typeName: String
        /// It is another task.
        public var isTask: Bool
    }
}

/// A thread as CPython knows it.
public struct PythonThreadInfo: Sendable, Equatable {
    /// `threading`'s name for it (`MainThread`, `Thread-1 (worker)`); nil for a thread it does not know.
    public var threadName: String?
    /// `threading.get_ident()`.
    public var ident: UInt64
    public var holdsGIL: Bool
    /// Innermost first.
    public var stack: [PythonFrameInfo]
    /// Read while the thread ran (without a stop: `--no-stacks`), so its frames may be torn.
    public var mayBeTorn = false
}

public struct PythonFrameInfo: Sendable, Equatable {
    /// The qualified name where the version has one (`Console.render_lines`).
    public var function: String
    public var file: String
    public var line: Int?
}

public struct StackFrame: Sendable, Equatable {
    public var address: UInt64
    public var symbol: String?
    public var module: String?
    public var moduleOffset: UInt64?
    /// Source file and line in `symbol`'s function (for inlined code: of the outermost inlined call).
    public var file: String?
    public var line: Int?
    /// Functions inlined at this address, innermost first, each with its own file and line.
    public var inlined: [InlinedFrame]? = nil

    public init(address: UInt64, symbol: String? = nil, module: String? = nil, moduleOffset: UInt64? = nil,
                file: String? = nil, line: Int? = nil) {
        self.address = address
        self.symbol = symbol
        self.module = module
        self.moduleOffset = moduleOffset
        self.file = file
        self.line = line
    }
}

/// A function the compiler inlined into a frame's function, at the frame's address.
public struct InlinedFrame: Sendable, Equatable {
    public var symbol: String?
    public var file: String?
    public var line: Int?
}

/// What a thread is doing: the system call decoded, with the objects it waits on.
public struct ThreadWait: Sendable {
    public enum Kind: String, Sendable {
        /// Runnable or on a CPU.
        case running
        /// Stopped or faulting outside a system call.
        case userSpace
        case futex
        /// read/write/recv/send/accept/connect on one fd.
        case fd
        /// poll, select, epoll: several fds.
        case poll
        /// wait4/waitid.
        case child
        case sleep
        case fileLock
        case signal
        /// `restart_syscall`: a wait resumed after a stop.
        case restarted
        /// An exited thread not yet reaped.
        case zombie
        /// A kernel thread: never in a user system call.
        case kernel
        case other
    }

    /// What the wait is on, each kind with its own facts.
    public enum Detail: Sendable {
        /// `inspector`: this thread is forkhazard's own, taking the snapshot.
        case running(inspector: Bool)
        /// Outside a system call: the program counter, and the stop state (`T`, `t`) when stopped.
        case userSpace(programCounter: UInt64?, stopped: TaskState?)
        /// One futex; the kind of lock, told from the stack, once classified.
        case futex(FutexWait, lock: LockInfo?)
        /// futex_waitv: every futex in the vector.
        case futexVector([FutexWait], lock: LockInfo?)
        /// A blocking call on one fd, and on a socket whether its timeout is the socket's own.
        case fd(FdDescription, socketTimeout: SocketTimeout?)
        /// poll/select/epoll: the fds, and how many the call named when its list could not be read.
        case poll([FdDescription], unreadableCount: Int?)
        /// wait4/waitid: which children it waits for, and those of the snapshot that match.
        case child(ChildTarget, children: [Int32])
        /// `absolute`: it runs to a deadline (`timeoutSeconds` is then the time left).
        case sleep(absolute: Bool)
        case fileLock(FileLockWait, fd: FdDescription)
        case signal
        case restarted
        case zombie
        /// The kernel function it sleeps in, or nil when idle or running.
        case kernel(function: String?)
        /// Another call; a futex operation that does not block (a wake) keeps its futex.
        case other(futex: FutexWait?)
    }

    /// A socket's own timeout (`SO_RCVTIMEO`/`SO_SNDTIMEO`) for a blocking call on it.
    public enum SocketTimeout: Sendable {
        /// The wait's timeout is the socket's own, not the call's.
        case own
        /// Whether it has one could not be read (no `pidfd_getfd`, or not permitted), so the wait
        /// may end by itself.
        case unknown
    }

    public var detail: Detail
    /// The system call it is in; nil outside one.
    public var call: SystemCall?
    /// True when only another thread, process or event can end the wait: no timeout.
    public var forever: Bool
    /// The timeout or remaining sleep, when the wait has one and it could be read.
    public var timeoutSeconds: Double?

    public init(_ detail: Detail, call: SystemCall? = nil, forever: Bool, timeoutSeconds: Double? = nil) {
        self.detail = detail
        self.call = call
        self.forever = forever
        self.timeoutSeconds = timeoutSeconds
    }

    public var kind: Kind {
        switch detail {
        case .running: return .running
        case .userSpace: return .userSpace
        case .futex, .futexVector: return .futex
        case .fd: return .fd
        case .poll: return .poll
        case .child: return .child
        case .sleep: return .sleep
        case .fileLock: return .fileLock
        case .signal: return .signal
        case .restarted: return .restarted
        case .zombie: return .zombie
        case .kernel: return .kernel
        case .other: return .other
        }
    }

    /// The system call's name; nil outside one.
    public var syscall: Syscall? { call?.name }

    /// The futex waited on (or, for a call that does not block, operated on).
    public var futex: FutexWait? {
        get {
            switch detail {
            case .futex(let futex, _): return futex
            case .other(let futex): return futex
            default: return nil
            }
        }
        set {
            guard let newValue else { return }
            switch detail {
            case .futex(_, let lock): detail = .futex(newValue, lock: lock)
            case .other: detail = .other(futex: newValue)
            default: break
            }
        }
    }

    /// futex_waitv's futexes.
    public var futexes: [FutexWait]? {
        if case .futexVector(let futexes, _) = detail { return futexes }
        return nil
    }

    /// For a futex wait: the kind of lock, told from the stack.
    public var lock: LockInfo? {
        get {
            switch detail {
            case .futex(_, let lock), .futexVector(_, let lock): return lock
            default: return nil
            }
        }
        set {
            switch detail {
            case .futex(let futex, _): detail = .futex(futex, lock: newValue)
            case .futexVector(let futexes, _): detail = .futexVector(futexes, lock: newValue)
            default: break
            }
        }
    }

    /// The fds it waits on, with what they are and who holds their other end.
    public var fds: [FdDescription]? {
        get {
            switch detail {
            case .fd(let fd, _): return [fd]
            case .poll(let fds, _): return fds
            case .fileLock(_, let fd): return [fd]
            default: return nil
            }
        }
        set {
            guard let newValue else { return }
            switch detail {
            case .fd(_, let timeout) where newValue.count == 1: detail = .fd(newValue[0], socketTimeout: timeout)
            case .poll(_, let unreadable): detail = .poll(newValue, unreadableCount: unreadable)
            case .fileLock(let lock, _) where newValue.count == 1: detail = .fileLock(lock, fd: newValue[0])
            default: break
            }
        }
    }

    public var fileLock: FileLockWait? {
        get {
            if case .fileLock(let lock, _) = detail { return lock }
            return nil
        }
        set {
            if let newValue, case .fileLock(_, let fd) = detail { detail = .fileLock(newValue, fd: fd) }
        }
    }

    /// wait4/waitid: the children of the snapshot it waits for.
    public var children: [Int32]? {
        if case .child(_, let children) = detail { return children }
        return nil
    }

    /// On a socket: whether its timeout is its own, or unknown.
    public var socketTimeout: SocketTimeout? {
        if case .fd(_, let timeout) = detail { return timeout }
        return nil
    }
}

/// The system call a thread is in, as `/proc/PID/task/TID/syscall` gives it.
public struct SystemCall: Sendable, Equatable {
    public var name: Syscall
    public var number: Int
    /// The six raw arguments.
    public var args: [UInt64]
    /// For `restart_syscall`: the call that was resumed, told from the stack's innermost frame.
    public var resumed: Syscall?

    public init(name: Syscall, number: Int, args: [UInt64], resumed: Syscall? = nil) {
        self.name = name
        self.number = number
        self.args = args
        self.resumed = resumed
    }
}

/// The children a wait4/waitid call waits for.
public enum ChildTarget: Sendable, Equatable {
    case any
    case pid(Int32)
    /// Any child in this process group (the caller's own, for `wait4(0, …)`).
    case group(Int32)
    case pidfd
}

public struct FutexWait: Sendable, Equatable {
    public var address: UInt64
    public var operation: FutexOperation
    /// Private futexes can be woken only by threads of the same process.
    public var `private`: Bool
    public var clock: FutexClock?
    /// The value the waiter expects at the address.
    public var expected: UInt32?
    /// The mapping that holds the address; for a shared futex, the object that other processes map too.
    public var mapping: MappingReference?
    /// For a shared futex: every process on the host that maps the same object, and so could wake it.
    public var mappedBy: [Int32]?
}

public struct MappingReference: Sendable, Equatable {
    /// A path, `/dev/shm/…`, `[heap]`, `[stack]`, or nil for anonymous memory.
    public var path: String?
    public var inode: UInt64
    public var device: String
    /// Offset of the address within the mapped object.
    public var offset: UInt64
    public var shared: Bool
}

public struct FdDescription: Sendable, Equatable {
    public enum Kind: String, Sendable {
        case pipe, unixSocket, tcpSocket, udpSocket, socket, file, tty, epoll, eventfd, signalfd, timerfd, pidfd, anonInode, unknown
    }

    public var fd: Int32
    public var kind: Kind
    /// What `/proc/PID/fd/N` points at: `pipe:[5353]`, `socket:[77]`, a path.
    public var target: String?
    public var inode: UInt64?
    public var access: AccessMode?
    /// For poll/select/epoll: what the waiter waits for on this fd.
    public var events: String?
    /// The processes that can make this fd ready: a pipe's other end, a unix socket's peer.
    public var peers: [FdHolder]?
    /// Some processes' fds could not be read: `peers` may miss holders.
    public var peersIncomplete = false
    public var socket: SocketDescription?
    /// For an epoll fd: the fds it watches.
    public var watched: [FdDescription]?
    /// For a pidfd: the process it refers to, which makes it ready by exiting.
    public var process: Int32?

    public init(fd: Int32, kind: Kind) {
        self.fd = fd
        self.kind = kind
    }
}

public struct FdHolder: Sendable, Equatable, Hashable {
    public var pid: Int32
    public var name: String
    public var fd: Int32
    public var access: AccessMode?
}

public struct SocketDescription: Sendable, Equatable {
    /// `unix`, `tcp`, `tcp6`, `udp`, `udp6`, or nil when not found in the tables.
    public var proto: String?
    public var type: String?
    public var state: String?
    public var local: String?
    public var remote: String?
    public var path: String?
    public var peerInode: UInt64?
}

public struct FileLockWait: Sendable, Equatable {
    public var fd: Int32
    public var path: String?
    public var inode: UInt64?
    /// `exclusive` or `shared`, nil when the lock's type could not be read.
    public var exclusive: Bool?
    public var type: FileLockKind
    /// The holders /proc/locks names (for flock and OFD locks, the process that opened the file).
    public var holders: [Int32]
    /// For flock and OFD locks: every other process with the file open, which may share the
    /// holder's open file description (inherited across fork) and so release the lock.
    public var sharers: [Int32]?
}
