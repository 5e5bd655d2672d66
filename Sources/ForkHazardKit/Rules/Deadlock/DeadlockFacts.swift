/// `deadlock`: a group of threads in untimed waits that only each other could end.
public struct DeadlockFacts: RuleFacts {
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
