/// `inherited-lock`: threads of processes forked without exec wait forever on one lock that no
/// thread of their own can release.
public struct InheritedLockFacts: RuleFacts {
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
