/// What kind of lock a blocked thread waits for, told from its stack and its wait.
public struct LockInfo: Sendable, Equatable {
    public enum Kind: String, Sendable, CaseIterable {
        case pthreadMutex, pthreadRwlock, conditionVariable, semaphore
        case cpythonLock, cpythonGIL, cpythonImportLock
        case libgompBarrier, libgompLock
        case malloc, stdio, dynamicLoader
        /// pthread_join: the futex is the joined thread's TID word, cleared by the kernel when it exits.
        case threadJoin
        case unknown
    }

    /// Where a lock's owner was read.
    public enum OwnerSource: String, Sendable {
        case mutexOwner = "mutex __owner"
        case pythonRLockOwner = "RLock owner ident"
        case pythonImportOwner = "import lock owner ident"
        case piMutexWord = "PI mutex word"
        case piFutexWord = "PI futex word"
        case rwlockWriter = "rwlock __cur_writer"
    }

    public var kind: Kind
    /// The futex word.
    public var address: UInt64?
    /// The frame the kind was told from; nil when no frame told.
    public var frame: String?
    /// The TID that holds the lock, read from the target's memory where the lock records one; for a
    /// process in a PID namespace below /proc's, mapped to the TID /proc shows (nil when no thread
    /// of the snapshot has it).
    public var owner: Int32?
    /// The owner as the lock records it, a TID in the process's own PID namespace, where that differs.
    public var ownerNamespaceTid: Int32?
    public var ownerSource: OwnerSource?
    /// True for locks that record no owner (semaphores, CPython locks, condition variables).
    public var recordsNoOwner = false
    /// For `threadJoin`: the thread whose end it waits for.
    public var joins: Int32?
    /// In a Python thread: the lock object it waits on, found from its frames.
    public var python: PythonLockInfo?
    /// In a Python thread waiting on a CPython lock: its frames were searched and led to no lock
    /// object at the futex address (it is held somewhere they do not reach). Nothing is guessed.
    public var pythonObjectNotFound = false

    public init(kind: Kind, address: UInt64?, frame: String? = nil) {
        self.kind = kind
        self.address = address
        self.frame = frame
    }
}

/// The Python lock object a thread waits on.
public struct PythonLockInfo: Sendable, Equatable {
    /// `_thread.lock` or `_thread.RLock`.
    public var typeName: String
    /// How the waiting frame reaches it: `self._lock`, `waiter`, `HELD` (a global).
    public var path: String
    /// The function of the frame it was found from.
    public var function: String
    /// RLock and import locks: the owner's `threading.get_ident()`.
    public var ownerIdent: UInt64?
    /// An import lock (importlib's `_ModuleLock`): the module being imported.
    public var importing: String?
    /// The object's address in the process.
    public var address: UInt64 = 0
    /// The `threading` or `queue` object the wait is for, when the lock is one inside it: an
    /// Event (`Event.wait`, reached as `self._event` from `ApplyResult.wait`), a Queue, a Condition.
    public var waited: Waited?

    public struct Waited: Sendable, Equatable {
        /// `Event`, `Queue`, `Condition`, `Semaphore`, `Barrier` …
        public var typeName: String
        /// The method waited in: `Event.wait`, `Queue.get`.
        public var method: String
        /// How its caller reaches it, and the caller's function; nil when not found.
        public var path: String?
        public var function: String?
    }
    /// In a child forked without exec: whether the parent's memory holds the same lock object at
    /// that address (same type, and before 3.14 the same semaphore), so that it existed when the
    /// child was forked; nil when not looked at or unreadable.
    public var inParent: Bool?
    /// How many bytes after the reference count tell the object in the parent: its type, and the
    /// semaphore it points to before 3.14 (from 3.14 its state is a `PyMutex`, which changes with
    /// its waiters).
    var identityLength = 16
}
