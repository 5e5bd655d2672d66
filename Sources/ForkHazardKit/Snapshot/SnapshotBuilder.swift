#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import CForkHazard
import Dispatch
import Glibc
import ProcFS
import PythonRuntime
import Symbols
import Synchronization

/// Why a diagnosis could not start.
public enum InspectError: Error, Equatable, LocalizedError {
    case noSuchProcess(Int32)
    case notPermitted(Int32)
    case procUnavailable(String)

    public var errorDescription: String? {
        switch self {
        case .noSuchProcess(let pid): return "no process with PID \(pid)"
        case .notPermitted(let pid): return "not permitted to inspect PID \(pid) (\(Permission.hint))"
        case .procUnavailable(let path): return "cannot read \(path): is /proc mounted?"
        }
    }
}

/// What this tool may do to other processes, for the messages that say why it could not.
enum Permission {
    /// How to get the permission a debugger needs: as another user, be root; as root without
    /// CAP_SYS_PTRACE (a container's default), get it.
    static let hint: String = {
        let own = (try? ProcRoot().bytes("self/status")).map { ProcStatus(parsing: $0) }
        let ptraceCapability: UInt64 = 1 << 19
        if geteuid() != 0 { return "run as the process owner or as root" }
        if let caps = own?.effectiveCapabilities, caps & ptraceCapability == 0 {
            return "this forkhazard runs as root without CAP_SYS_PTRACE; in a container, add it with docker run --cap-add SYS_PTRACE"
        }
        return "refused although this forkhazard is root with CAP_SYS_PTRACE: Yama's ptrace_scope or a security module"
    }()
}

/// Reads a process tree from /proc into a `Snapshot`. Never stops or signals a target: everything
/// comes from /proc files and `process_vm_readv`.
public struct SnapshotBuilder: Sendable {
    public var proc: ProcRoot
    public var architecture: Architecture
    /// How to take native stacks; nil skips ptrace entirely.
    public var stacks: StackOptions?
    /// A pause before the second look at blocked threads, for the cautious; by default none is
    /// needed: a woken thread is runnable at once and its context switch counts move.
    public var confirmDelay: Double
    /// Where modules' symbols and DWARF are kept, by file (its identity: device, inode, size and
    /// modification time): by default one for every snapshot of this process, so that `run` and
    /// `watch` read each library once, and a diagnosis does not spend its last milliseconds
    /// freeing megabytes of tables it is about to exit with.
    public var symbolizer: Symbolizer

    public init(proc: ProcRoot = ProcRoot(), architecture: Architecture = .host, stacks: StackOptions? = StackOptions(),
                confirmDelay: Double = 0, symbolizer: Symbolizer = .shared) {
        self.proc = proc
        self.architecture = architecture
        self.stacks = stacks
        self.confirmDelay = confirmDelay
        self.symbolizer = symbolizer
    }

    public func take(roots requested: [Int32]) throws(InspectError) -> Snapshot {
        var notes: [String] = []
        let statText: String
        do { statText = try proc.text("stat") } catch { throw .procUnavailable(proc.url("stat")) }
        let host = HostInfo(architecture: architecture,
                            kernel: ((try? proc.text("sys/kernel/osrelease")) ?? "unknown").trimmed,
                            aslr: (try? proc.text("sys/kernel/randomize_va_space")).flatMap { Int($0.trimmed) },
                            clockTicksPerSecond: max(1, sysconf(Int32(_SC_CLK_TCK))),
                            bootTime: parseBootTime(statText) ?? 0,
                            pidMax: (try? proc.text("sys/kernel/pid_max")).flatMap { Int32($0.trimmed) } ?? 4_194_304)

        // Every process on the host, by parent: /proc has no reliable children list on every kernel.
        let table = ProcessTable(proc: proc)
        var roots: [Int32] = []
        for pid in requested {
            let stat: ProcStat
            do throws(ProcError) {
                guard let parsed = ProcStat(parsing: try proc.bytes("\(pid)/stat")) else { throw ProcError.gone }
                stat = parsed
            } catch .denied {
                throw .notPermitted(pid)
            } catch {
                throw .noSuchProcess(pid)
            }
            // A TID names its thread group's directory too; show the whole process.
            let tgid = (try? proc.bytes("\(pid)/status")).map { ProcStatus(parsing: $0) }?.tgid ?? stat.pid
            if tgid != pid { notes.append("\(pid) is a thread of process \(tgid); showing process \(tgid)") }
            if !roots.contains(tgid) { roots.append(tgid) }
        }

        // Tree order: each root, then its descendants depth first, by PID. A root that is a
        // descendant of another root is shown once, under its ancestor.
        var order: [Int32] = []
        var seen = Set<Int32>()
        func visit(_ pid: Int32) {
            guard seen.insert(pid).inserted else { return }
            order.append(pid)
            for child in table.children(of: pid) { visit(child) }
        }
        let nested = Set(roots.flatMap { table.descendants(of: $0) })
        for root in roots where !nested.contains(root) { visit(root) }

        let clock = Double(host.clockTicksPerSecond)
        let decoder = WaitDecoder(architecture: architecture)
        let context = SharedContext(proc: proc, table: table)
        var processes: [ProcessSnapshot] = []
        var readers: [ProcessReader] = []
        let live = proc.isLive && architecture == .host
        // Each process is read on its own, one per CPU at a time.
        let pids = order
        let read = parallelMap(pids) { pid -> (reader: ProcessReader?, process: ProcessSnapshot?, notes: [String]) in
            let reader = ProcessReader(pid: pid, shared: context)
            var notes: [String] = []
            let process = reader.read(decoder: decoder, bootTime: host.bootTime, ticksPerSecond: clock, notes: &notes)
            return (reader, process, notes)
        }
        for (reader, process, processNotes) in read {
            notes += processNotes
            guard let reader, let process else { continue }
            processes.append(process)
            readers.append(reader)
        }
        if processes.isEmpty, let first = requested.first { throw .noSuchProcess(first) }
        // A vfork child or a posix_spawn in flight shares its parent's address space.
        if proc.isLive {
            let pids = Set(processes.map(\.pid))
            for index in processes.indices where pids.contains(processes[index].ppid) && !processes[index].isKernelThread {
                if fh_same_memory(processes[index].pid, processes[index].ppid) == 1 {
                    processes[index].sharesMemoryWith = processes[index].ppid
                }
            }
        }

        // The second look, right after the first and before anything is stopped.
        if confirmDelay > 0 { usleep(UInt32(min(confirmDelay, 60) * 1e6)) }
        for index in processes.indices {
            for t in processes[index].threads.indices {
                guard let wait = processes[index].threads[t].wait, wait.forever || wait.kind == .restarted else { continue }
                processes[index].threads[t].steady = readers[index].isSteady(processes[index].threads[t].tid)
            }
        }

        // CPython interpreters, located before anything is stopped.
        var pythons: [Int: PythonReader] = [:]
        if live {
            // Each process's interpreter is read on its own, one per CPU at a time.
            let indices = processes.indices.filter { processes[$0].runtimes?.contains(.python) == true }
            let inputs = indices.map { (pid: processes[$0].pid, maps: readers[$0].maps) }
            let opened = parallelMap(inputs) { PythonReader.open(pid: $0.pid, maps: $0.maps) }
            for (index, result) in zip(indices, opened) {
                switch result {
                case .success(let python):
                    pythons[index] = python
                    processes[index].python = python.info
                case .failure(.noInterpreter):
                    notes.append("\(processes[index].pid): Python frames not read: "
                                 + Self.noRuntimeReason(exe: processes[index].exe, maps: readers[index].maps))
                case .failure(let error):
                    notes.append("\(processes[index].pid): Python frames not read: \(error)")
                }
            }
        }

        // Only now, with every wait read, stop threads one at a time for their stacks (and a
        // running Python thread's frames, which change while it runs); all of them, before any
        // other work of this tool's competes with the stopped threads for a CPU.
        var pendingSources: [(process: Int, PendingSource)] = []
        let prefetch = DispatchGroup()
        defer { prefetch.wait() }
        if let stacks, live {
            let scratch = StackScratch(bytes: stacks.stackBytes)
            var stackNotes = [[String]](repeating: [], count: processes.count)
            let captures = processes.indices.map { index in
                captureStacks(of: &processes[index], maps: readers[index].maps, scratch: scratch, python: pythons[index],
                              notes: &stackNotes[index])
            }
            pendingSources = nameStacks(of: &processes, captures: captures, maps: readers.map(\.maps), options: stacks,
                                        prefetch: prefetch, notes: &stackNotes)
            notes += stackNotes.joined()
        }
        // Blocked Python threads have released the GIL: their frames stand still and need no stop.
        // Read one per CPU at a time.
        let unread = pythons.keys.sorted().flatMap { index in
            processes[index].threads.indices.filter { processes[index].threads[$0].python == nil }.map { (index, $0) }
        }
        let unreadThreads = unread.map { (reader: pythons[$0.0], thread: processes[$0.0].threads[$0.1]) }
        let pythonThreads = parallelMap(unreadThreads) { reader, thread in
            reader?.thread(thread.tid, mayBeTorn: Self.isRunning(thread))
        }
        for ((index, t), python) in zip(unread, pythonThreads) { processes[index].threads[t].python = python }
        // A wait resumed as restart_syscall: its innermost frame names the call its registers hold.
        for index in processes.indices {
            for t in processes[index].threads.indices {
                let thread = processes[index].threads[t]
                guard let wait = thread.wait, wait.kind == .restarted,
                      let name = decoder.resumedCall(frame: thread.stack?.first?.symbol, wchan: nil) else { continue }
                processes[index].threads[t].wait = decoder.decodeResumed(wait, as: name, in: readers[index])
            }
        }

        // Who holds the other end of every pipe and unix socket waited on, and who maps the
        // objects behind shared futexes.
        let resolver = PeerResolver(proc: proc, shared: context)
        resolver.resolve(&processes, notes: &notes)
        resolver.resolveSharedMappings(&processes)
        notes.append(contentsOf: context.notes)
        // Lock owners read from memory are TIDs of the owner's PID namespace: map them to /proc's.
        var namespaceTids: [String: [Int32: Int32]] = [:]
        for process in processes {
            guard let namespace = process.pidNamespace else { continue }
            for thread in process.threads { if let own = thread.namespaceTid { namespaceTids[namespace, default: [:]][own] = thread.tid } }
        }
        // How each process came to be, and which of its parent's threads were there at its fork.
        ForkProvenance.annotate(&processes, host: host)
        let byPid = Dictionary(processes.map { ($0.pid, $0) }, uniquingKeysWith: { a, _ in a })
        let pythonLocks = Self.pythonLocks(processes, pythons)
        for index in processes.indices {
            // A Python lock's owner is a thread ident: one of the process's threads, or, in a child
            // whose memory is a copy of its parent's (forked without exec), one of the parent's.
            let process = processes[index]
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
            classifyLocks(of: &processes[index], reader: readers[index], pythonLocks: pythonLocks[index] ?? [:],
                          namespaceTids: processes[index].pidNamespace.flatMap { namespaceTids[$0] },
                          identOwner: identOwner, copiedFrom: parent?.pid)
        }

        // Source positions in the modules whose DWARF was being read while the stacks were named
        // (libc's, from the copies on): by now it is read, or nearly.
        for (index, pending) in pendingSources {
            guard var frame = processes[index].threads[pending.thread].stack?[pending.frame] else { continue }
            pending.fill(&frame)
            processes[index].threads[pending.thread].stack?[pending.frame] = frame
        }
        return Snapshot(takenAt: isoTime(Date()), host: host, roots: roots, processes: processes, notes: notes)
    }
}

extension SnapshotBuilder {
    /// Captures every live thread of `process` (one stopped at a time, released at once): the
    /// copies by thread index.
    func captureStacks(of process: inout ProcessSnapshot, maps: [MemoryMapping], scratch: StackScratch,
                       python: PythonReader? = nil, notes: inout [String]) -> [Int: StackCapture] {
        guard !process.isKernelThread, process.pid != getpid() else { return [:] }
        var captures: [Int: StackCapture] = [:]
        var failures: [(error: StackError, tids: [Int32])] = []
        for (index, thread) in process.threads.enumerated() where !thread.state.hasExited {
            var pythonThread: PythonThreadInfo?
            let readPython: (() -> Void)? = python.flatMap { python in
                Self.isRunning(thread) && python.threads[thread.tid] != nil ? { pythonThread = python.thread(thread.tid) } : nil
            }
            do throws(StackError) {
                // Not even tried on a thread the kernel would not stop until it wakes (its state
                // as read a moment ago; one that sleeps so since is given up after the timeout).
                if thread.state == .uninterruptible { throw StackError.uninterruptible }
                captures[index] = try Ptrace.capture(tid: thread.tid, pid: process.pid, scratch: scratch,
                                                     stackMapping: { sp in maps.first { $0.contains(sp) } }, whileStopped: readPython)
                process.threads[index].python = pythonThread
            } catch {
                if case .notPermitted = error {
                    // Refused for one thread, refused for all of them.
                    notes.append("\(process.pid): stacks not taken for \(process.threads.count - captures.count) of "
                                 + "\(plural(process.threads.count, "thread", "threads")): \(error.reason)")
                    failures = []
                    break
                }
                guard error != .exited else { continue }
                if let at = failures.firstIndex(where: { $0.error == error }) { failures[at].tids.append(thread.tid) }
                else { failures.append((error, [thread.tid])) }
            }
        }
        for (error, tids) in failures {
            notes.append("\(process.pid): stack not taken for \(tids.count == 1 ? "thread" : "threads") "
                         + "\(tids.map(String.init).joined(separator: ", ")): \(error.reason)")
        }
        Ptrace.releasePending()
        return captures
    }

    /// Unwinds the copies `captureStacks` took, every process's first (one process per CPU at a
    /// time), then names their frames; libc's DWARF is read in the background (in `prefetch`).
    /// Returns the frames whose source positions wait for a module's DWARF read on another thread.
    func nameStacks(of processes: inout [ProcessSnapshot], captures: [[Int: StackCapture]], maps: [[MemoryMapping]],
                    options: StackOptions, prefetch: DispatchGroup, notes: inout [[String]]) -> [(process: Int, PendingSource)] {
        let symbolizer = self.symbolizer
        var pending: [(process: Int, PendingSource)] = []
        // Every copy unwound first, one process per CPU at a time: the files the stacks pass
        // through are then read once, each only as far as all the processes' frames in it need.
        let ordered = captures.map { $0.sorted { $0.key < $1.key } }
        let inputs = processes.indices.map { (pid: processes[$0].pid, maps: maps[$0]) }
        let unwound = parallelMap(Array(inputs.indices)) { index -> (unwinder: StackUnwinder?, stacks: [[UInt64]]) in
            guard !ordered[index].isEmpty else { return (nil, []) }
            let unwinder = StackUnwinder(pid: inputs[index].pid, maps: inputs[index].maps, symbolizer: symbolizer,
                                         maxFrames: options.maxFrames, readsMappedFiles: options.readsMappedFiles,
                                         sourceLines: options.sourceLines)
            let addresses = ordered[index].map { unwinder.addresses(for: $0.value) }
            unwinder.doneUnwinding()
            return (unwinder, addresses)
        }
        let unwinders = unwound.map(\.unwinder)
        let returnAddresses = unwound.map(\.stacks)
        var offsets: [String: Set<UInt64>] = [:]
        for index in processes.indices { unwinders[index]?.addOffsets(of: returnAddresses[index], to: &offsets) }
        // libc, where nearly every blocked thread's innermost frame is, and whose debug file's
        // DWARF is compressed: read in the background while the stacks are named, their
        // frames in libc given their source positions at the end.
        func libc(_ index: Int) -> MemoryMapping? { maps[index].first { $0.offset == 0 && $0.isLibc } }
        if options.sourceLines, let index = processes.indices.first(where: { libc($0) != nil }), let libc = libc(index) {
            let pid = processes[index].pid
            let source = ModuleSource(path: libc.path, root: ProcessModules.root(of: pid),
                                      mappedFile: options.readsMappedFiles
                                          ? "/proc/\(pid)/map_files/\(hex(libc.start))-\(hex(libc.end))" : nil)
            let wanted = Array(offsets[libc.path] ?? [])
            DispatchQueue.global().async(group: prefetch) { symbolizer.symbols(for: source)?.loadSourceInfo(covering: wanted) }
        }
        for index in processes.indices {
            guard let unwinder = unwinders[index] else { continue }
            let named = unwinder.frames(for: returnAddresses[index], offsets: offsets)
            for ((thread, capture), stack) in zip(ordered[index], named) {
                processes[index].threads[thread].stack = stack
                processes[index].threads[thread].pauseMicros = (capture.pauseMicros * 10).rounded() / 10
            }
            notes[index] += unwinder.notes
            pending += unwinder.pending.map { pending in
                var moved = pending
                moved.thread = ordered[index][pending.thread].key
                return (index, moved)
            }
        }
        return pending
    }

    /// Why a process that looks like Python has no interpreter to read: the version its files
    /// are named for, where they say it.
    static func noRuntimeReason(exe: String?, maps: [MemoryMapping]) -> String {
        let names = ([exe].compactMap { $0 } + maps.map(\.path)).map { $0.split(separator: "/").last.map(String.init) ?? $0 }
        let version = names.lazy.compactMap { name -> String? in
            guard let range = name.firstRange(of: "python") else { return nil }
            let digits = name[range.upperBound...].prefix { $0.isNumber || $0 == "." }
            let parts = digits.split(separator: ".")
            return parts.count >= 2 ? "\(parts[0]).\(parts[1])" : nil
        }.first
        let known = "forkhazard reads CPython \(PythonRuntime.supportedRange), whose runtime state is the symbol _PyRuntime"
        if let version, let minor = Int(version.split(separator: ".")[1]), version.hasPrefix("2.") || (version.hasPrefix("3.") && minor < 8) {
            return "its files are those of CPython \(version), which keeps its interpreter state elsewhere; \(known)"
        }
        return "no _PyRuntime in its executable or libraries (not CPython, or a build without that symbol); \(known)"
    }

    /// On a CPU or runnable: its frames move while they are read.
    static func isRunning(_ thread: ThreadSnapshot) -> Bool {
        thread.state == .running || thread.wait?.kind == .running || thread.wait?.kind == .userSpace
    }

    /// Kinds of lock a Python thread's futex wait may be a Python lock object's.
    static let pythonKinds: Set<LockInfo.Kind> = [.cpythonLock, .cpythonImportLock, .semaphore, .conditionVariable, .unknown]

    /// The Python lock objects the waiting threads of each process wait on, found from their
    /// frames; the processes are searched at once, one per CPU.
    static func pythonLocks(_ processes: [ProcessSnapshot], _ pythons: [Int: PythonReader]) -> [Int: [Int32: PythonLockInfo]] {
        var work: [(index: Int, tid: Int32, futex: UInt64)] = []
        for (index, _) in pythons {
            for thread in processes[index].threads {
                guard let wait = thread.wait, let futex = wait.futex, let lock = LockClassifier.classify(wait, stack: thread.stack),
                      pythonKinds.contains(lock.kind) else { continue }
                work.append((index, thread.tid, futex.address))
            }
        }
        let found = parallelMap(work) { pythons[$0.index]?.lock(waitedOnAt: $0.futex, by: $0.tid) }
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

/// PPID and process group of every process on the host, from one pass over `/proc/*/stat`.
final class ProcessTable: Sendable {
    struct Entry { var ppid: Int32; var pgrp: Int32; var name: String }
    let entries: [Int32: Entry]
    private let childrenByParent: [Int32: [Int32]]

    /// `scan: false` makes an empty table, for readers that need no other process.
    init(proc: ProcRoot, scan: Bool = true) {
        var entries: [Int32: Entry] = [:]
        var childrenByParent: [Int32: [Int32]] = [:]
        let pids = scan ? (try? proc.numericEntries("")) ?? [] : []
        // Read one per CPU at a time.
        let stats = parallelMap(pids) { (try? proc.bytes("\($0)/stat")).flatMap(ProcStat.init(parsing:)) }
        for (pid, stat) in zip(pids, stats) {
            guard let stat else { continue }
            entries[pid] = Entry(ppid: stat.ppid, pgrp: stat.pgrp, name: stat.comm)
            childrenByParent[stat.ppid, default: []].append(pid)
        }
        self.entries = entries
        self.childrenByParent = childrenByParent
    }

    func children(of pid: Int32) -> [Int32] { (childrenByParent[pid] ?? []).sorted() }

    func descendants(of pid: Int32) -> [Int32] {
        children(of: pid).flatMap { [$0] + descendants(of: $0) }
    }

    var allPids: [Int32] { entries.keys.sorted() }
}

/// Caches shared by every process of one snapshot: socket tables per network namespace, unix
/// socket peers and /proc/locks. Processes are read on several threads at once: each cache is
/// filled under a lock.
final class SharedContext: Sendable {
    let proc: ProcRoot
    let table: ProcessTable
    private struct Caches {
        var notes: [String] = []
        var unixTables: [String: [UInt64: UnixSocketEntry]] = [:]
        var inetTables: [String: [UInt64: InetSocketEntry]] = [:]
        var unixPeers: [UInt64: UInt64]?
        var ownNetNamespace: String?
        var locks: [FileLockEntry]?
    }
    private let caches = Mutex(Caches())

    init(proc: ProcRoot, table: ProcessTable) {
        self.proc = proc
        self.table = table
    }

    var notes: [String] { caches.withLock { $0.notes } }

    func unixSocket(_ inode: UInt64, pid: Int32) -> UnixSocketEntry? {
        let ns = (try? proc.link("\(pid)/ns/net")) ?? "?"
        return caches.withLock { caches in
            if caches.unixTables[ns] == nil {
                caches.unixTables[ns] = UnixSocketEntry.parseTable((try? proc.text("\(pid)/net/unix")) ?? "")
            }
            return caches.unixTables[ns]?[inode]
        }
    }

    func inetSocket(_ inode: UInt64, pid: Int32) -> InetSocketEntry? {
        let ns = (try? proc.link("\(pid)/ns/net")) ?? "?"
        return caches.withLock { caches in
            if caches.inetTables[ns] == nil {
                var merged: [UInt64: InetSocketEntry] = [:]
                for name in ["tcp", "tcp6", "udp", "udp6"] {
                    let text = (try? proc.text("\(pid)/net/\(name)")) ?? ""
                    merged.merge(InetSocketEntry.parseTable(text, proto: name)) { a, _ in a }
                }
                caches.inetTables[ns] = merged
            }
            return caches.inetTables[ns]?[inode]
        }
    }

    /// The peer of a unix socket, via sock_diag; only for sockets in this tool's network namespace.
    func unixPeer(_ inode: UInt64, pid: Int32) -> UInt64? {
        guard proc.isLive, let ns = try? proc.link("\(pid)/ns/net") else { return nil }
        return caches.withLock { caches in
            if caches.ownNetNamespace == nil { caches.ownNetNamespace = (try? proc.link("self/ns/net")) ?? "" }
            guard ns == caches.ownNetNamespace else { return nil }
            if caches.unixPeers == nil {
                caches.unixPeers = UnixDiag.peers() ?? [:]
                if caches.unixPeers!.isEmpty { caches.notes.append("unix socket peers unavailable: the sock_diag netlink query failed") }
            }
            return caches.unixPeers?[inode]
        }
    }

    func fileLocks() -> [FileLockEntry] {
        caches.withLock { caches in
            if caches.locks == nil { caches.locks = FileLockEntry.parseAll((try? proc.text("locks")) ?? "") }
            return caches.locks!
        }
    }
}

func isoTime(_ date: Date) -> String {
    isoTime(secondsSinceEpoch: date.timeIntervalSince1970)
}

/// `2026-11-22T00:28:16.194Z`, without a formatter object (this runs once per thread).
func isoTime(secondsSinceEpoch: Double) -> String {
    var whole = time_t(secondsSinceEpoch.rounded(.down))
    let millis = Int((secondsSinceEpoch - Double(whole)) * 1000)
    var parts = tm()
    gmtime_r(&whole, &parts)
    func pad(_ value: Int32, _ width: Int) -> String {
        let text = String(value)
        return String(repeating: "0", count: max(0, width - text.count)) + text
    }
    return "\(pad(parts.tm_year + 1900, 4))-\(pad(parts.tm_mon + 1, 2))-\(pad(parts.tm_mday, 2))T"
        + "\(pad(parts.tm_hour, 2)):\(pad(parts.tm_min, 2)):\(pad(parts.tm_sec, 2)).\(pad(Int32(millis), 3))Z"
}
