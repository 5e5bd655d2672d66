/// The JSON schema version of `Report`; bump it on any incompatible change.
public let reportSchemaVersion = 1

/// A thread of the snapshot.
public struct ThreadKey: Hashable, Comparable, Sendable {
    public var pid: Int32
    public var tid: Int32

    public init(pid: Int32, tid: Int32) {
        self.pid = pid
        self.tid = tid
    }

    public static func < (a: ThreadKey, b: ThreadKey) -> Bool { (a.pid, a.tid) < (b.pid, b.tid) }
}

public enum Severity: String, Sendable, Comparable {
    case info, warning, error

    private var rank: Int { self == .info ? 0 : self == .warning ? 1 : 2 }
    public static func < (a: Severity, b: Severity) -> Bool { a.rank < b.rank }
}

/// The rules, by the ID reports and docs/rules.md use.
public enum RuleID: String, Sendable, CaseIterable {
    case inheritedLock = "inherited-lock"
    case deadlock
    case lostWorker = "lost-worker"
    case forkFromThreaded = "fork-from-threaded"
    case stopped
}

/// What a rule found: one finding per cause, with the facts it rests on as values. The renderers
/// turn the facts into sentences.
public struct Finding: Sendable {
    public var rule: RuleID
    public var severity: Severity
    /// Every process involved.
    public var pids: [Int32]
    /// Every thread involved, a lock's owner included.
    public var tids: [Int32]
    public var facts: Facts

    public enum Facts: Sendable {
        case inheritedLock(InheritedLockFacts)
        case forkFromThreaded(ForkFromThreadedFacts)
        case deadlock(DeadlockFacts)
        case lostWorker(LostWorkerFacts)
        case stopped(StoppedFacts)
    }
}

/// A process as a finding names it, so that a finding can be told without its snapshot (as
/// `run` does when it reports a fork the moment it happens).
public struct ProcessRef: Sendable, Hashable {
    public var pid: Int32
    public var name: String

    public init(pid: Int32, name: String) {
        self.pid = pid
        self.name = name
    }
}

/// `inherited-lock`: threads of processes forked without exec wait forever on one lock that no
/// thread of their own can release.
public struct InheritedLockFacts: Sendable {
    public var parent: ProcessRef
    /// The processes whose threads wait, by PID.
    public var children: [ProcessRef]
    /// The waiting threads.
    public var waiters: [ThreadKey]
    /// The lock, as the first waiter sees it (its kind, address, owner).
    public var lock: LockInfo
    public var holder: Holder
    /// What the children's fork without exec rests on (shared by all of them).
    public var basis: [ForkBasis]
    /// The deadlock analysis found every waiter stuck for good (a second look included).
    public var confirmed: Bool

    public enum Holder: Sendable, Equatable {
        /// The lock records its owner; that thread is alive in this process of the snapshot.
        case thread(ThreadKey)
        /// The lock records its owner, a TID no process of the tree has.
        case gone(tid: Int32)
        /// The lock records its owner as a TID of the children's PID namespace that no thread
        /// there has (no host TID to give).
        case goneInNamespace(tid: Int32)
        /// A Python lock records its owner's thread ident, which no thread of the tree has.
        case goneIdent(UInt64)
        /// The lock records no owner (or it could not be read); the child has no other thread, so
        /// one of these threads of the parent, alive at the fork, held it.
        case unrecorded(NoOwner, candidates: [ThreadAtFork])
    }

    public enum NoOwner: String, Sendable {
        /// Semaphores, CPython locks, condition variables.
        case notRecorded
        /// A libgomp barrier waits for the team's other threads, which the child does not have.
        case barrier
        case unreadable
    }
}

/// `fork-from-threaded`: processes forked without exec from a parent that had other threads.
public struct ForkFromThreadedFacts: Sendable {
    public var parent: ProcessRef
    public var children: [ProcessRef]
    /// The parent's threads at the fork, the forking one among them.
    public var threadsAtFork: [ThreadAtFork]
    public var basis: [ForkBasis]
    /// Seen live by `run`/`watch`: the child exited without exec before it could be looked at.
    public var exitedWithoutExec: Bool

    public init(parent: ProcessRef, children: [ProcessRef], threadsAtFork: [ThreadAtFork], basis: [ForkBasis],
                exitedWithoutExec: Bool = false) {
        self.parent = parent
        self.children = children
        self.threadsAtFork = threadsAtFork
        self.basis = basis
        self.exitedWithoutExec = exitedWithoutExec
    }

    /// Threads besides the one that forked (the parent's main thread stands for it).
    public var otherThreads: [ThreadAtFork] { threadsAtFork.filter { $0.tid != parent.pid } }
}

/// `deadlock`: a group of threads in untimed waits that only each other could end.
public struct DeadlockFacts: Sendable {
    /// Every stuck thread with who alone could wake it.
    public var members: [Member]
    /// Processes waiting on each other in a cycle, the first repeated at the end.
    public var cycle: [Int32]?
    /// The threads nothing at all can wake: the end of the chain.
    public var unwakeable: [ThreadKey]
    /// Members whose wait is an inherited lock, explained by that finding.
    public var inheritedLockWaiters: [ThreadKey]

    public struct Member: Sendable {
        public var thread: ThreadKey
        public var wakers: WaitGraph.Wakers
    }
}

/// `lost-worker`: a pool's parent waits for a result that a dead worker took with it.
public struct LostWorkerFacts: Sendable {
    public var parent: ProcessRef
    public var workers: [Int32]
    public var originals: [Int32]
    public var replacements: [Int32]
    /// The pool's own threads in the parent; the first one's TID separates originals from replacements.
    public var poolThreads: [Int32]
    public var mainThread: Int32
    /// Seconds each replacement started after the first original.
    public var replacementDelays: [Double]
}

/// `stopped`: processes stopped by a signal or a tracer hold up the threads that wait for them.
public struct StoppedFacts: Sendable {
    public var processes: [ProcessRef]
    /// `.stopped` (by a signal) or `.tracingStop` (by its tracer).
    public var state: TaskState
    public var tracer: ProcessRef?
    /// When only some threads of one process are stopped (a tracer holding one thread): those;
    /// nil when the whole processes are.
    public var threads: [ThreadKey]?
    /// Threads of the tree that wait for them, directly or through other waits.
    public var waiters: [ThreadKey]
}

/// Ordered by severity: healthy < hazard < deadlock.
public enum Verdict: String, Sendable, Comparable {
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

/// A snapshot with its findings: what the renderers print.
public struct Report: Sendable {
    public var schemaVersion: Int
    public var verdict: Verdict
    public var takenAt: String
    public var host: HostInfo
    public var roots: [Int32]
    public var processes: [ProcessSnapshot]
    public var findings: [Finding]
    public var notes: [SnapshotNote]

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

    public func thread(_ key: ThreadKey) -> ThreadSnapshot? { process(key.pid)?.thread(key.tid) }

    /// The thread with this TID in any process.
    public func thread(_ tid: Int32) -> ThreadSnapshot? {
        processes.lazy.flatMap(\.threads).first { $0.tid == tid }
    }

    /// The process that has a thread with this TID.
    public func process(ofThread tid: Int32) -> ProcessSnapshot? {
        processes.first { process in process.threads.contains { $0.tid == tid } }
    }
}
