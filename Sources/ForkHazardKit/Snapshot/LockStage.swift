import ProcFS

/// The eleventh stage, once fork provenance is known: the kind of lock each futex wait is for
/// (`LockClassifier`, from the stack), its owner where the lock records one (read from memory, or
/// a Python lock's owner ident), and the Python lock object a Python thread waits on.
struct LockStage {
    func run(_ records: [ProcessRecord]) -> [ProcessRecord] {
        var records = records
        // Lock owners read from memory are TIDs of the owner's PID namespace: map them to /proc's.
        var namespaceTids: [String: [Int32: Int32]] = [:]
        for record in records {
            guard let namespace = record.snapshot.pidNamespace else { continue }
            for thread in record.snapshot.threads {
                if let own = thread.namespaceTid { namespaceTids[namespace, default: [:]][own] = thread.tid }
            }
        }
        let byPid = Dictionary(records.map { ($0.snapshot.pid, $0.snapshot) }, uniquingKeysWith: { a, _ in a })
        let pythonLocks = Self.pythonLocks(records)
        for index in records.indices {
            // A Python lock's owner is a thread ident: one of the process's threads, or, in a child
            // whose memory is a copy of its parent's (forked without exec), one of the parent's.
            let process = records[index].snapshot
            let parent = byPid[process.ppid].flatMap { parent in
                parent.startupRandomDigest != nil && parent.startupRandomDigest == process.startupRandomDigest ? parent : nil
            }
            // Only a parent's thread that existed at the fork can have held a lock then: an ident
            // is the address of the thread's descriptor, which glibc hands to a later thread once
            // the holder has exited.
            let atFork = parent == nil ? [] : Set(process.forkOrigin?.threadsAtFork?.map(\.tid) ?? [])
            let identOwner = { (ident: UInt64) -> Int32? in
                process.threads.first { $0.python?.ident == ident }?.tid
                    ?? parent?.threads.first { $0.python?.ident == ident && atFork.contains($0.tid) }?.tid
            }
            classifyLocks(of: &records[index].snapshot, reader: records[index].reader, pythonLocks: pythonLocks[index] ?? [:],
                          namespaceTids: process.pidNamespace.flatMap { namespaceTids[$0] },
                          identOwner: identOwner, copiedFrom: parent?.pid)
        }
        return records
    }

    /// Kinds of lock a Python thread's futex wait may be a Python lock object's.
    static let pythonKinds: Set<LockInfo.Kind> = [.cpythonLock, .cpythonImportLock, .semaphore, .conditionVariable, .unknown]

    /// The Python lock objects the waiting threads of each process wait on, found from their
    /// frames; the processes are searched at once, one per CPU.
    static func pythonLocks(_ records: [ProcessRecord]) -> [Int: [Int32: PythonLockInfo]] {
        var work: [(index: Int, tid: Int32, futex: UInt64)] = []
        for index in records.indices where records[index].python != nil {
            for thread in records[index].snapshot.threads {
                guard let wait = thread.wait, let futex = wait.futex, let lock = LockClassifier.classify(wait, stack: thread.stack),
                      pythonKinds.contains(lock.kind) else { continue }
                work.append((index, thread.tid, futex.address))
            }
        }
        let found = parallelMap(work) { records[$0.index].python?.lock(waitedOnAt: $0.futex, by: $0.tid) }
        var byProcess: [Int: [Int32: PythonLockInfo]] = [:]
        for (item, lock) in zip(work, found) {
            if let lock { byProcess[item.index, default: [:]][item.tid] = lock }
        }
        return byProcess
    }

    /// The kind of lock each futex wait is for, and its owner where the lock records one.
    /// `pythonLocks`: by TID, the Python lock objects found from the waiting threads' frames (see
    /// `pythonLocks(_:_:)`). `namespaceTids`: for a process in a nested PID namespace, its
    /// namespace's TIDs to /proc's. `identOwner` maps a Python thread ident to its TID.
    /// `copiedFrom`: the parent whose memory the process's is a copy of (forked without exec).
    func classifyLocks(of process: inout ProcessSnapshot, reader: ProcessReader, pythonLocks: [Int32: PythonLockInfo] = [:],
                       namespaceTids: [Int32: Int32]? = nil, identOwner: (UInt64) -> Int32? = { _ in nil },
                       copiedFrom parent: Int32? = nil) {
        for index in process.threads.indices {
            let stack = process.threads[index].stack
            guard let wait = process.threads[index].wait, var lock = LockClassifier.classify(wait, stack: stack) else { continue }
            if Self.pythonKinds.contains(lock.kind), var object = pythonLocks[process.threads[index].tid] {
                if let parent {
                    // Its type, and before 3.14 its semaphore pointer (after the reference count,
                    // which changes).
                    let own = reader.memory(at: object.address &+ 8, count: object.identityLength)
                    let theirs = RemoteMemory(pid: parent).bytes(at: object.address &+ 8, count: object.identityLength)
                    if let own { object.inParent = theirs == own }
                }
                lock.python = object
                // multiprocessing's locks are POSIX semaphores shared between processes.
                lock.kind = object.importing != nil ? .cpythonImportLock : object.typeName == "_multiprocessing.SemLock" ? .semaphore : .cpythonLock
                if let ident = object.ownerIdent {
                    lock.owner = identOwner(ident)
                    lock.ownerSource = object.importing != nil ? .pythonImportOwner : .pythonRLockOwner
                } else {
                    lock.recordsNoOwner = true
                }
                process.threads[index].wait?.lock = lock
                continue
            }
            if process.python != nil, [.cpythonLock, .semaphore, .unknown].contains(lock.kind),
               process.threads[index].python?.stack.isEmpty == false {
                lock.pythonObjectNotFound = true
            }
            if lock.kind == .unknown, LockClassifier.looksLikeJoin(wait, threads: Set(process.threads.flatMap { [$0.tid] + ($0.namespaceTid.map { [$0] } ?? []) })) {
                lock.kind = .threadJoin
            }
            if lock.kind == .threadJoin {
                // The word waited on is the joined thread's TID, which the kernel clears at its exit.
                lock.joins = wait.futex?.expected.map { Int32(bitPattern: $0) }.map { namespaceTids?[$0] ?? $0 }
            } else if let (owner, source) = reader.lockOwner(lock, wait: wait, stack: stack) {
                if let namespaceTids {
                    lock.ownerNamespaceTid = owner
                    lock.owner = namespaceTids[owner]
                } else {
                    lock.owner = owner
                }
                lock.ownerSource = source
            } else if [.semaphore, .cpythonLock, .cpythonImportLock, .conditionVariable, .cpythonGIL].contains(lock.kind) {
                lock.recordsNoOwner = true
            }
            process.threads[index].wait?.lock = lock
        }
    }
}
