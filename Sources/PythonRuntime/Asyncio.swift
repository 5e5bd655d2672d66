/// asyncio's tasks as read from outside a process: each task's name, its coroutines where they are
/// suspended, what it awaits and who awaits it. Plain values; nothing is guessed.
public struct AsyncioTask: Sendable, Hashable {
    public enum State: String, Sendable, Hashable {
        case pending, cancelled, finished
    }

    /// The task object's address.
    public var address: UInt64
    /// `Task.get_name()` (`Task-1` unless named).
    public var name: String?
    public var state: State
    /// The task's coroutines where they are suspended, outermost (the task's own coroutine) first:
    /// each coroutine that awaits another coroutine, down to the one that awaits a future.
    public var coroutines: [PythonFrame]
    /// What the task awaits (its `fut_waiter`): nil when it is not waiting (ready to run, running,
    /// or done).
    public var awaiting: AsyncioAwaited?
    /// The tasks that await this one, by address.
    public var awaitedBy: [UInt64]
    /// The event loop it belongs to (`fut_loop`), by address.
    public var loop: UInt64
}

/// The object a task awaits.
public struct AsyncioAwaited: Sendable, Hashable {
    public var address: UInt64
    /// Its type's name: `_asyncio.Task`, `_asyncio.Future`, `Future` …
    public var typeName: String
    /// When it is another task: that task's address (also in `address`).
    public var isTask: Bool
}

/// Every task of every event loop of a process, and the loops' threads.
public struct AsyncioState: Sendable, Hashable {
    public var tasks: [AsyncioTask]
    /// For each thread running an event loop (3.14+: `asyncio_running_loop`; before: the thread
    /// whose frames are in the loop's `run_forever`), by thread ident, the loop's address.
    public var runningLoops: [UInt64: UInt64]
    /// The task each thread is running at the moment, by thread ident (3.14+:
    /// `asyncio_running_task`).
    public var runningTasks: [UInt64: UInt64]
    /// The task each loop is running at the moment, by loop address (3.8–3.13:
    /// `asyncio.tasks._current_tasks`, which records loops, not threads).
    public var runningTasksByLoop: [UInt64: UInt64]
    /// What could not be read, in words (a task whose fields do not fit, a list that loops …).
    public var notes: [String]
}
