/// A process's or thread's scheduling state, the letter `stat` gives (`R`, `S`, `D`, `Z`, `T`,
/// `t`, `X`, `I`); written as that letter in text and JSON.
public enum TaskState: Sendable, Hashable, CustomStringConvertible, ExpressibleByStringLiteral {
    /// `R`: on a CPU or runnable.
    case running
    /// `S`: asleep, interruptibly (a wait of any kind).
    case sleeping
    /// `D`: asleep uninterruptibly (I/O, `vfork`): it cannot be stopped before it wakes.
    case uninterruptible
    /// `Z`: exited, not reaped yet.
    case zombie
    /// `T`: stopped by a signal (SIGSTOP, Ctrl-Z).
    case stopped
    /// `t`: stopped by a tracer.
    case tracingStop
    /// `X`: dead, on its way out.
    case dead
    /// `I`: an idle kernel thread.
    case idle
    /// A letter not listed above.
    case other(Character)

    public init(letter: Character) {
        switch letter {
        case "R": self = .running
        case "S": self = .sleeping
        case "D": self = .uninterruptible
        case "Z": self = .zombie
        case "T": self = .stopped
        case "t": self = .tracingStop
        case "X": self = .dead
        case "I": self = .idle
        default: self = .other(letter)
        }
    }

    /// `"S"` in tests and fixtures.
    public init(stringLiteral value: String) {
        self.init(letter: value.first ?? "?")
    }

    public var letter: Character {
        switch self {
        case .running: return "R"
        case .sleeping: return "S"
        case .uninterruptible: return "D"
        case .zombie: return "Z"
        case .stopped: return "T"
        case .tracingStop: return "t"
        case .dead: return "X"
        case .idle: return "I"
        case .other(let letter): return letter
        }
    }

    public var description: String { String(letter) }

    /// Exited: a zombie or dead.
    public var hasExited: Bool { self == .zombie || self == .dead }

    /// Stopped by a signal or a tracer.
    public var isStopped: Bool { self == .stopped || self == .tracingStop }
}

/// A runtime seen in a process's executable or mappings, which changes what its waits mean and
/// what to do about a fork: written as its name in JSON.
public enum Runtime: String, Sendable, Hashable {
    /// CPython (its executable, `libpython`, or a `_PyRuntime` in a program under another name).
    case python
    /// GCC's OpenMP runtime, whose thread pool does not survive a fork.
    case libgomp
    /// The C++ standard library.
    case libstdcxx = "libstdc++"
}

/// A system call by name: the ones the wait decoder tells apart, and any other by the name the
/// syscall table gives (`syscall_N` when it has none). Written as its name in text and JSON.
public enum Syscall: Sendable, Hashable, CustomStringConvertible, ExpressibleByStringLiteral {
    case read, readv, pread64, preadv, preadv2, recvfrom, recvmsg, recvmmsg, accept, accept4
    case write, writev, pwrite64, pwritev, pwritev2, sendto, sendmsg, sendmmsg, connect
    case poll, ppoll, select, pselect6, epollWait, epollPwait, epollPwait2
    case futex, futexWaitv
    case wait4, waitid
    case nanosleep, clockNanosleep
    case flock, fcntl
    case pause, rtSigsuspend, rtSigtimedwait
    case restartSyscall
    case other(String)

    static let known: [Syscall] = [
        .read, .readv, .pread64, .preadv, .preadv2, .recvfrom, .recvmsg, .recvmmsg, .accept, .accept4,
        .write, .writev, .pwrite64, .pwritev, .pwritev2, .sendto, .sendmsg, .sendmmsg, .connect,
        .poll, .ppoll, .select, .pselect6, .epollWait, .epollPwait, .epollPwait2, .futex, .futexWaitv, .wait4, .waitid,
        .nanosleep, .clockNanosleep, .flock, .fcntl, .pause, .rtSigsuspend, .rtSigtimedwait, .restartSyscall,
    ]
    private static let byName = Dictionary(uniqueKeysWithValues: known.map { ($0.name, $0) })

    public init(name: String) {
        self = Self.byName[name] ?? .other(name)
    }

    /// `"futex"` in tests and fixtures.
    public init(stringLiteral value: String) {
        self.init(name: value)
    }

    /// The kernel's name for it, as the syscall tables spell it.
    public var name: String {
        switch self {
        case .read: return "read"
        case .readv: return "readv"
        case .pread64: return "pread64"
        case .preadv: return "preadv"
        case .preadv2: return "preadv2"
        case .recvfrom: return "recvfrom"
        case .recvmsg: return "recvmsg"
        case .recvmmsg: return "recvmmsg"
        case .accept: return "accept"
        case .accept4: return "accept4"
        case .write: return "write"
        case .writev: return "writev"
        case .pwrite64: return "pwrite64"
        case .pwritev: return "pwritev"
        case .pwritev2: return "pwritev2"
        case .sendto: return "sendto"
        case .sendmsg: return "sendmsg"
        case .sendmmsg: return "sendmmsg"
        case .connect: return "connect"
        case .poll: return "poll"
        case .ppoll: return "ppoll"
        case .select: return "select"
        case .pselect6: return "pselect6"
        case .epollWait: return "epoll_wait"
        case .epollPwait: return "epoll_pwait"
        case .epollPwait2: return "epoll_pwait2"
        case .futex: return "futex"
        case .futexWaitv: return "futex_waitv"
        case .wait4: return "wait4"
        case .waitid: return "waitid"
        case .nanosleep: return "nanosleep"
        case .clockNanosleep: return "clock_nanosleep"
        case .flock: return "flock"
        case .fcntl: return "fcntl"
        case .pause: return "pause"
        case .rtSigsuspend: return "rt_sigsuspend"
        case .rtSigtimedwait: return "rt_sigtimedwait"
        case .restartSyscall: return "restart_syscall"
        case .other(let name): return name
        }
    }

    public var description: String { name }
}

/// A futex operation, as the command in `futex(2)`'s second argument (`FUTEX_WAIT` …), or
/// `WAITV` for futex_waitv's. Written as the name without `FUTEX_` (`WAIT_BITSET`), `OP_N` for an
/// unknown command.
public enum FutexOperation: Sendable, Hashable, CustomStringConvertible {
    case wait, wake, requeue, cmpRequeue, wakeOp, lockPI, unlockPI, trylockPI, waitBitset, wakeBitset
    case waitRequeuePI, cmpRequeuePI, lockPI2
    case waitv
    case other(UInt64)

    /// The operation of `futex(2)`'s command (its second argument without the private and
    /// realtime flags).
    public init(command: UInt64) {
        switch command {
        case 0: self = .wait
        case 1: self = .wake
        case 3: self = .requeue
        case 4: self = .cmpRequeue
        case 5: self = .wakeOp
        case 6: self = .lockPI
        case 7: self = .unlockPI
        case 8: self = .trylockPI
        case 9: self = .waitBitset
        case 10: self = .wakeBitset
        case 11: self = .waitRequeuePI
        case 12: self = .cmpRequeuePI
        case 13: self = .lockPI2
        default: self = .other(command)
        }
    }

    public var name: String {
        switch self {
        case .wait: return "WAIT"
        case .wake: return "WAKE"
        case .requeue: return "REQUEUE"
        case .cmpRequeue: return "CMP_REQUEUE"
        case .wakeOp: return "WAKE_OP"
        case .lockPI: return "LOCK_PI"
        case .unlockPI: return "UNLOCK_PI"
        case .trylockPI: return "TRYLOCK_PI"
        case .waitBitset: return "WAIT_BITSET"
        case .wakeBitset: return "WAKE_BITSET"
        case .waitRequeuePI: return "WAIT_REQUEUE_PI"
        case .cmpRequeuePI: return "CMP_REQUEUE_PI"
        case .lockPI2: return "LOCK_PI2"
        case .waitv: return "WAITV"
        case .other(let command): return "OP_\(command)"
        }
    }

    public var description: String { name }

    /// It blocks until woken (or timed out), rather than waking or moving waiters.
    public var blocks: Bool { [.wait, .lockPI, .waitBitset, .waitRequeuePI, .lockPI2, .waitv].contains(self) }

    /// A priority-inheritance lock: the futex word holds its owner's TID.
    public var isPriorityInheritance: Bool { self == .lockPI || self == .lockPI2 || self == .waitRequeuePI }
}

/// The clock a futex wait's timeout runs on.
public enum FutexClock: String, Sendable {
    case realtime, monotonic
}

/// How a file lock was taken: `flock(2)`, a POSIX record lock (`fcntl` F_SETLKW), or an open
/// file description lock (F_OFD_SETLKW). Written as `flock`, `posix`, `ofd`.
public enum FileLockKind: String, Sendable {
    case flock, posix, ofd
}
