import CForkHazard
import Dispatch
import Glibc
import ProcFS
import Symbols

/// The fifth stage, once every wait is read: each thread is stopped in turn for its registers and
/// the top of its stack (and a running Python thread's frames, which change while it runs), and
/// released at once; all of them before any other work of this tool's competes with the stopped
/// threads for a CPU. Then the copies are unwound and their frames named. Only on a live host.
struct StackStage {
    let options: StackOptions
    let symbolizer: Symbolizer

    /// The records with their threads' stacks; the frames whose source positions wait for a
    /// module's DWARF, read on another thread in `prefetch`, go to `pending`.
    func run(_ records: [ProcessRecord], prefetch: DispatchGroup, pending: inout PendingSources,
             notes: inout [SnapshotNote]) -> [ProcessRecord] {
        var processes = records.map(\.snapshot)
        let scratch = StackScratch(bytes: options.stackBytes)
        var stackNotes = [[SnapshotNote]](repeating: [], count: processes.count)
        let captures = processes.indices.map { index in
            capture(&processes[index], maps: records[index].maps, scratch: scratch, python: records[index].python,
                    notes: &stackNotes[index])
        }
        pending.frames = name(&processes, captures: captures, maps: records.map(\.maps), prefetch: prefetch, notes: &stackNotes)
        notes += stackNotes.joined()
        var records = records
        for index in records.indices { records[index].snapshot = processes[index] }
        return records
    }

    /// Captures every live thread of `process` (one stopped at a time, released at once): the
    /// copies by thread index.
    func capture(_ process: inout ProcessSnapshot, maps: [MemoryMapping], scratch: StackScratch,
                 python: PythonReader?, notes: inout [SnapshotNote]) -> [Int: StackCapture] {
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
                    notes.append(.stacksNotPermitted(pid: process.pid, notTaken: process.threads.count - captures.count,
                                                     threads: process.threads.count, error.failure))
                    failures = []
                    break
                }
                guard error != .exited else { continue }
                if let at = failures.firstIndex(where: { $0.error == error }) { failures[at].tids.append(thread.tid) }
                else { failures.append((error, [thread.tid])) }
            }
        }
        for (error, tids) in failures {
            notes.append(.stacksNotTaken(pid: process.pid, tids: tids, error.failure))
        }
        Ptrace.releasePending()
        return captures
    }

    /// Unwinds the copies `capture` took, every process's first (one process per CPU at a
    /// time), then names their frames; libc's DWARF is read in the background (in `prefetch`).
    /// Returns the frames whose source positions wait for a module's DWARF read on another thread.
    func name(_ processes: inout [ProcessSnapshot], captures: [[Int: StackCapture]], maps: [[MemoryMapping]],
              prefetch: DispatchGroup, notes: inout [[SnapshotNote]]) -> [(process: Int, PendingSource)] {
        let symbolizer = self.symbolizer
        let options = self.options
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

    /// On a CPU or runnable: its frames move while they are read.
    static func isRunning(_ thread: ThreadSnapshot) -> Bool {
        thread.state == .running || thread.wait?.kind == .running || thread.wait?.kind == .userSpace
    }
}

/// Frames named while their module's DWARF was still being read: their source positions are
/// filled in as the snapshot's last step, when the read is done or nearly.
struct PendingSources {
    var frames: [(process: Int, PendingSource)] = []

    func fill(_ records: inout [ProcessRecord]) {
        for (index, pending) in frames {
            guard var frame = records[index].snapshot.threads[pending.thread].stack?[pending.frame] else { continue }
            pending.fill(&frame)
            records[index].snapshot.threads[pending.thread].stack?[pending.frame] = frame
        }
    }
}

/// The eighth stage: a wait resumed as `restart_syscall` is decoded as the call its registers
/// hold, which the thread's innermost frame names.
struct ResumedCalls {
    let decoder: WaitDecoder

    func run(_ records: [ProcessRecord]) -> [ProcessRecord] {
        var records = records
        for index in records.indices {
            for (t, thread) in records[index].snapshot.threads.enumerated() {
                guard let wait = thread.wait, wait.kind == .restarted,
                      let name = decoder.resumedCall(frame: thread.stack?.first?.symbol, wchan: nil) else { continue }
                records[index].snapshot.threads[t].wait = decoder.decodeResumed(wait, as: name, in: records[index].reader)
            }
        }
        return records
    }
}
