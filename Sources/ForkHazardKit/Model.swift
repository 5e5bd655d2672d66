import ProcFS

/// The JSON schema version of `Report`; bump it on any incompatible change.
public let reportSchemaVersion = 1

/// Everything known about a process tree at one moment.
public struct Snapshot: Codable, Sendable {
    /// When the snapshot was taken, ISO 8601 UTC.
    public var takenAt: String
    public var host: HostInfo
    /// The PIDs the user asked about; every other process is a descendant of one of them.
    public var roots: [Int32]
    /// In tree order: each process follows its parent, siblings by PID.
    public var processes: [ProcessSnapshot]
    /// What could not be read, and why.
    public var notes: [String]

    public func process(_ pid: Int32) -> ProcessSnapshot? { processes.first { $0.pid == pid } }
}

public struct HostInfo: Codable, Sendable {
    public var architecture: Architecture
    public var kernel: String
    /// `kernel.randomize_va_space`: 0 means no ASLR, so layouts cannot tell a fork from an exec.
    public var aslr: Int?
    public var clockTicksPerSecond: Int
    /// Seconds since the epoch at boot (`btime`).
    public var bootTime: UInt64
}

public struct ProcessSnapshot: Codable, Sendable {
    public var pid: Int32
    public var ppid: Int32
    /// `comm`, at most 15 bytes.
    public var name: String
    /// Empty for kernel threads and zombies.
    public var argv: [String]
    /// The executable's path; nil when it cannot be read.
    public var exe: String?
    public var uid: UInt32?
    public var state: String
    public var threadCount: Int
    public var startTime: String
    public var startTicks: UInt64
    public var isKernelThread: Bool
    public var threads: [ThreadSnapshot]
    /// Where a few things sit in its address space; with ASLR a fresh exec moves them, a fork does not.
    public var layout: AddressLayout?
    /// Runtimes seen in its mappings or executable: `python`, `libgomp`, `libstdc++`.
    public var runtimes: [String]?
    /// For a process whose parent is in the snapshot: forked without exec, or exec'd. Filled in by analysis.
    public var forkOrigin: ForkOrigin?
}

public struct AddressLayout: Codable, Sendable, Equatable {
    /// End of `[stack]`.
    public var stackTop: String?
    public var vdso: String?
    /// Start of the executable's first mapping.
    public var exeBase: String?
    /// Start of libc's first mapping.
    public var libcBase: String?

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
public struct ForkOrigin: Codable, Sendable {
    public enum Kind: String, Codable, Sendable {
        case forkedWithoutExec, execed, unknown
    }

    public var kind: Kind
    public var parent: Int32
    /// The facts the kind rests on.
    public var evidence: [String]
    /// For a fork without exec: the parent's threads that existed at the fork (the one that forked
    /// among them), as far as /proc can tell.
    public var threadsAtFork: [ThreadAtFork]?
}

public struct ThreadAtFork: Codable, Sendable, Equatable {
    public var tid: Int32
    public var name: String
    /// `certain`: started in an earlier clock tick than the child; `possible`: in the same 10 ms tick.
    public var certainty: String
    /// What it is doing now.
    public var now: String?
}

public struct ThreadSnapshot: Codable, Sendable {
    public var tid: Int32
    public var name: String
    /// One letter from `stat`: R S D Z T t X I.
    public var state: String
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
}

public struct StackFrame: Codable, Sendable, Equatable {
    public var address: String
    public var symbol: String?
    public var module: String?
    public var moduleOffset: String?
    /// Source file and line in `symbol`'s function (for inlined code: of the outermost inlined call).
    public var file: String?
    public var line: Int?
    /// Functions inlined at this address, innermost first, each with its own file and line.
    public var inlined: [InlinedFrame]? = nil

    enum CodingKeys: String, CodingKey { case address, symbol, module, moduleOffset, file, line, inlined }

    /// Every key is written, unknown values as null; `inlined` only when there are some.
    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(address, forKey: .address)
        try c.encode(symbol, forKey: .symbol)
        try c.encode(module, forKey: .module)
        try c.encode(moduleOffset, forKey: .moduleOffset)
        try c.encode(file, forKey: .file)
        try c.encode(line, forKey: .line)
        try c.encodeIfPresent(inlined, forKey: .inlined)
    }
}

/// A function the compiler inlined into a frame's function, at the frame's address.
public struct InlinedFrame: Codable, Sendable, Equatable {
    public var symbol: String?
    public var file: String?
    public var line: Int?
}

/// What a thread is doing: the system call decoded, with the objects it waits on.
public struct ThreadWait: Codable, Sendable {
    public enum Kind: String, Codable, Sendable {
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
        /// A timed wait resumed after a stop; its arguments are gone.
        case restarted
        /// An exited thread not yet reaped.
        case zombie
        /// A kernel thread: never in a user system call.
        case kernel
        case other
    }

    public var kind: Kind
    /// The system call's name; nil outside one.
    public var syscall: String?
    public var syscallNumber: Int?
    /// The six raw arguments, hex.
    public var args: [String]?
    /// One line a person reads: `futex wait 0x55e6e815a5e0 (private, forever)`.
    public var summary: String
    /// True when only another thread, process or event can end the wait: no timeout.
    public var forever: Bool
    /// The timeout or remaining sleep, when the wait has one and it could be read.
    public var timeoutSeconds: Double?
    public var futex: FutexWait?
    /// futex_waitv: every futex in the vector.
    public var futexes: [FutexWait]?
    /// The fds it waits on, with what they are and who holds their other end.
    public var fds: [FdDescription]?
    /// wait4/waitid: the children it may reap.
    public var children: [Int32]?
    public var fileLock: FileLockWait?
    /// For a futex wait: the kind of lock, told from the stack.
    public var lock: LockInfo?
}

public struct FutexWait: Codable, Sendable, Equatable {
    public var address: String
    /// `WAIT`, `WAIT_BITSET`, `LOCK_PI`, `LOCK_PI2`, `WAIT_REQUEUE_PI`, `WAITV`.
    public var operation: String
    /// Private futexes can be woken only by threads of the same process.
    public var `private`: Bool
    public var clock: String?
    /// The value the waiter expects at the address.
    public var expected: UInt32?
    /// The mapping that holds the address; for a shared futex, the object that other processes map too.
    public var mapping: MappingReference?
    /// For a shared futex: every process on the host that maps the same object, and so could wake it.
    public var mappedBy: [Int32]?
}

public struct MappingReference: Codable, Sendable, Equatable {
    /// A path, `/dev/shm/…`, `[heap]`, `[stack]`, or nil for anonymous memory.
    public var path: String?
    public var inode: UInt64
    public var device: String
    /// Offset of the address within the mapped object.
    public var offset: String
    public var shared: Bool
}

public struct FdDescription: Codable, Sendable, Equatable {
    public enum Kind: String, Codable, Sendable {
        case pipe, unixSocket, tcpSocket, udpSocket, socket, file, tty, epoll, eventfd, signalfd, timerfd, anonInode, unknown
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
    public var socket: SocketDescription?
    /// For an epoll fd: the fds it watches.
    public var watched: [FdDescription]?
}

public struct FdHolder: Codable, Sendable, Equatable, Hashable {
    public var pid: Int32
    public var name: String
    public var fd: Int32
    public var access: AccessMode?
}

public struct SocketDescription: Codable, Sendable, Equatable {
    /// `unix`, `tcp`, `tcp6`, `udp`, `udp6`, or nil when not found in the tables.
    public var proto: String?
    public var type: String?
    public var state: String?
    public var local: String?
    public var remote: String?
    public var path: String?
    public var peerInode: UInt64?
}

public struct FileLockWait: Codable, Sendable, Equatable {
    public var fd: Int32
    public var path: String?
    public var inode: UInt64?
    /// `exclusive` or `shared`.
    public var mode: String
    /// `flock` or `posix` or `ofd`.
    public var type: String
    public var holders: [Int32]
}

public enum Severity: String, Codable, Sendable, Comparable {
    case info, warning, error

    private var rank: Int { self == .info ? 0 : self == .warning ? 1 : 2 }
    public static func < (a: Severity, b: Severity) -> Bool { a.rank < b.rank }
}

public struct Finding: Codable, Sendable {
    public var rule: String
    public var severity: Severity
    public var pids: [Int32]
    /// Every thread involved, a lock's owner included.
    public var tids: [Int32]
    public var message: String
    public var evidence: [String]
    public var remedy: String
}

/// Ordered by severity: healthy < hazard < deadlock.
public enum Verdict: String, Codable, Sendable, Comparable {
    case healthy, hazard, deadlock

    public init(findings: [Finding]) {
        let worst = findings.map(\.severity).max()
        self = worst == .error ? .deadlock : worst == .warning ? .hazard : .healthy
    }

    public static func < (a: Verdict, b: Verdict) -> Bool { a.exitCode < b.exitCode }

    /// The process exit status that stands for this verdict.
    public var exitCode: Int32 {
        switch self {
        case .healthy: return 0
        case .hazard: return 1
        case .deadlock: return 2
        }
    }
}

/// A snapshot with its findings: what `--json` prints.
public struct Report: Codable, Sendable {
    public var schemaVersion: Int
    public var verdict: Verdict
    public var takenAt: String
    public var host: HostInfo
    public var roots: [Int32]
    public var processes: [ProcessSnapshot]
    public var findings: [Finding]
    public var notes: [String]

    public init(snapshot: Snapshot, findings: [Finding]) {
        schemaVersion = reportSchemaVersion
        verdict = Verdict(findings: findings)
        takenAt = snapshot.takenAt
        host = snapshot.host
        roots = snapshot.roots
        processes = snapshot.processes
        self.findings = findings
        notes = snapshot.notes
    }

    public func process(_ pid: Int32) -> ProcessSnapshot? { processes.first { $0.pid == pid } }
}

extension ThreadSnapshot {
    enum CodingKeys: String, CodingKey {
        case tid, name, state, startTime, startTicks, cpuSeconds, voluntaryContextSwitches,
             involuntaryContextSwitches, wchan, wait, stack, pauseMicros, steady
    }

    /// Like the synthesized encoder, except that `wait` and `stack` are written as null when unknown.
    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(tid, forKey: .tid)
        try c.encode(name, forKey: .name)
        try c.encode(state, forKey: .state)
        try c.encode(startTime, forKey: .startTime)
        try c.encode(startTicks, forKey: .startTicks)
        try c.encode(cpuSeconds, forKey: .cpuSeconds)
        try c.encodeIfPresent(voluntaryContextSwitches, forKey: .voluntaryContextSwitches)
        try c.encodeIfPresent(involuntaryContextSwitches, forKey: .involuntaryContextSwitches)
        try c.encodeIfPresent(wchan, forKey: .wchan)
        try c.encode(wait, forKey: .wait)
        try c.encode(stack, forKey: .stack)
        try c.encodeIfPresent(pauseMicros, forKey: .pauseMicros)
        try c.encodeIfPresent(steady, forKey: .steady)
    }
}
