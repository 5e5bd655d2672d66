/// `fork-from-threaded`: processes forked without exec from a parent that had other threads.
public struct ForkFromThreadedFacts: RuleFacts {
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
