enum LockClassifier {
    /// Frames closer to the wait than this are considered; outer frames are unrelated callers.
    static let depth = 14

    /// Runtime-level kinds come first: a CPython lock is a semaphore underneath, the GIL a
    /// condition variable, an import lock a CPython lock.
    static let rules: [(LockInfo.Kind, @Sendable (String) -> Bool)] = [
        (.threadJoin, { $0.includes("pthread_join") || $0.includes("pthread_clockjoin") || $0.includes("pthread_timedjoin")
            || $0 == "__pthread_tryjoin_np" }),
        (.cpythonImportLock, { ["_PyImport_AcquireLock", "_imp_acquire_lock", "PyImport_AcquireLock", "_PyImport_AcquireLockLocked"].contains($0) }),
        (.cpythonGIL, { $0 == "take_gil" || $0 == "_PyEval_AcquireLock" }),
        (.cpythonLock, { $0.hasPrefix("PyThread_acquire_lock") || $0 == "acquire_timed" || $0 == "_PyMutex_LockTimed"
            || $0 == "_PyMutex_LockSlow" || $0 == "PyMutex_Lock" || $0 == "_PySemaphore_Wait" || $0 == "_PyParkingLot_Park" }),
        (.libgompBarrier, { $0.hasPrefix("gomp_") && $0.includes("barrier") }),
        (.libgompLock, { $0.hasPrefix("gomp_mutex_lock") || $0.hasPrefix("gomp_sem_wait") || $0.hasPrefix("GOMP_critical_")
            || $0 == "GOMP_atomic_start" || $0 == "omp_set_lock" || $0 == "omp_set_nest_lock" }),
        (.malloc, { ["malloc", "__libc_malloc", "_int_malloc", "arena_get2", "__libc_free", "free", "_int_free", "calloc",
                     "__libc_calloc", "realloc", "__libc_realloc", "tcache_init", "malloc_consolidate", "__malloc_fork_lock_parent"].contains($0) }),
        (.stdio, { $0.hasPrefix("_IO_") || $0.includes("flockfile") || ["fflush", "fputs", "fwrite", "puts", "printf", "fprintf",
                   "__vfprintf_internal", "vfprintf", "fgets", "getc", "fclose", "fopen"].contains($0) }),
        (.dynamicLoader, { $0.hasPrefix("_dl_") || $0.hasPrefix("__dl_") || $0 == "dl_iterate_phdr" || $0 == "dlopen"
            || $0.hasPrefix("__libc_dlopen") || $0.hasPrefix("dlopen@") || $0 == "___dlopen" }),
        (.pthreadRwlock, { $0.includes("pthread_rwlock_") }),
        (.conditionVariable, { $0.includes("pthread_cond_") }),
        (.semaphore, { $0.hasPrefix("__new_sem_wait") || $0 == "sem_wait" || $0 == "sem_timedwait" || $0 == "sem_clockwait"
            || $0.hasPrefix("__old_sem_wait") }),
        (.pthreadMutex, { $0.includes("pthread_mutex_lock") || $0.includes("pthread_mutex_timedlock")
            || $0.includes("pthread_mutex_clocklock") || $0 == "__lll_lock_wait" }),
    ]

    /// The kind of a futex wait; nil for waits that are not on a futex.
    static func classify(_ wait: ThreadWait, stack: [StackFrame]?) -> LockInfo? {
        guard wait.kind == .futex else { return nil }
        let address = wait.futex?.address ?? wait.futexes?.first?.address
        let names = (stack ?? []).prefix(depth).compactMap { $0.symbol.map(withoutVersion) }
        for (kind, matches) in rules {
            if let frame = names.first(where: matches) {
                return LockInfo(kind: kind, address: address, frame: frame)
            }
        }
        // libgomp ships without symbols: its internal barrier waits (the team barrier, the idle
        // pool's dock) are told by module. Its locks have named entry points, matched above.
        if let frame = (stack ?? []).prefix(3).first(where: { $0.module.map { fileName(of: $0) }?.hasPrefix("libgomp") == true }) {
            return LockInfo(kind: .libgompBarrier, address: address, frame: frame.display)
        }
        return LockInfo(kind: .unknown, address: address, frame: nil)
    }

    /// Without a stack, a pthread_join still shows: a futex that is not private (the kernel wakes
    /// it as shared when the thread exits) in memory that is not shared (the thread's own stack
    /// mapping), whose expected value is the TID of a thread of the same process.
    static func looksLikeJoin(_ wait: ThreadWait, threads: Set<Int32>) -> Bool {
        guard let futex = wait.futex, !futex.private, futex.mapping?.shared == false, futex.mapping?.path == nil,
              let expected = futex.expected, expected > 0 else { return false }
        return threads.contains(Int32(bitPattern: expected))
    }

    /// `pthread_mutex_lock@@GLIBC_2.2.5` → `pthread_mutex_lock`.
    static func withoutVersion(_ symbol: String) -> String {
        symbol.firstIndex(of: "@").map { String(symbol[..<$0]) } ?? symbol
    }
}
