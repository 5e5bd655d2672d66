/// `stopped`: processes stopped by a signal or a tracer hold up the threads that wait for them.
public struct StoppedFacts: RuleFacts {
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
