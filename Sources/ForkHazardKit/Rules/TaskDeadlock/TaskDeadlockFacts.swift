/// `task-deadlock`: an asyncio event loop that can never run again, with the tasks that wait on it
/// forever.
public struct TaskDeadlockFacts: RuleFacts {
    public var process: ProcessRef
    /// The thread running the loop, blocked in its selector.
    public var loopThread: ThreadKey
    public var loop: UInt64
    /// The loop's pending tasks, every one of them waiting, by address.
    public var tasks: [UInt64]
    /// Await cycles among them: tasks, each awaiting the next, the last awaiting the first.
    public var cycles: [[UInt64]]
    /// The fds the loop's selector watches: only its own wakeup socket or pipe, whose other end
    /// only this process holds.
    public var watchedFds: [Int32]
    /// The process's other threads, each waiting forever on threads of this process.
    public var otherThreads: [ThreadKey]
}
