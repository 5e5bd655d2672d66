import ProcFS
import PythonRuntime
import Symbols

/// The CPython interpreter of one process, located once: its threads by TID and their names, read
/// from outside with `process_vm_readv`. A thread blocked in a system call has released the GIL,
/// so its frames do not change and are read without a stop; a running thread's are read inside
/// the stop that takes its native stack.
final class PythonReader: Sendable {
    let runtime: PythonRuntime
    /// Thread states by TID.
    let threads: [Int32: PythonThread]
    let names: [UInt64: String]

    /// nil, with the reason, when the process has no interpreter this version of forkhazard can read.
    static func open(pid: Int32, maps: [MemoryMapping]) -> Result<PythonReader, PythonReadError> {
        PythonRuntime.locate(mappings: maps, memory: ProcessMemory(pid: pid), root: ProcessModules.root(of: pid), pid: pid).flatMap { runtime in
            runtime.threads().map { threads in
                PythonReader(runtime: runtime, threads: threads, names: (try? runtime.threadNames().get()) ?? [:])
            }
        }
    }

    private init(runtime: PythonRuntime, threads: [PythonThread], names: [UInt64: String]) {
        self.runtime = runtime
        self.threads = Dictionary(threads.compactMap { thread in thread.tid.map { ($0, thread) } }, uniquingKeysWith: { a, _ in a })
        self.names = names
    }

    var info: PythonProcessInfo { PythonProcessInfo(version: runtime.version.description) }

    /// The thread's Python state and stack; nil when it is no Python thread.
    func thread(_ tid: Int32, mayBeTorn: Bool = false) -> PythonThreadInfo? {
        guard let thread = threads[tid] else { return nil }
        let frames = (try? runtime.stack(threadState: thread.threadState).get()) ?? []
        return PythonThreadInfo(threadName: names[thread.ident], ident: thread.ident, holdsGIL: thread.holdsGIL,
                                stack: frames.map { PythonFrameInfo(function: $0.function, file: $0.file, line: $0.line) },
                                mayBeTorn: mayBeTorn)
    }

    /// Its asyncio tasks and loops, TIDs for thread idents, with each loop's own state (ready
    /// callbacks, timers, watched fds, signal handlers); nil when it runs no loop and has no
    /// task, or they could not be read.
    func asyncio() -> (info: AsyncioInfo, unread: [String])? {
        let state = try? runtime.asyncioTasks().get()
        let found = state?.tasks ?? []
        let runningTasks = state?.runningTasks ?? [:]
        // The thread in a loop's run_forever, from its frames, where the version records none.
        let running = (state?.runningLoops ?? [:]).merging((try? runtime.runningAsyncioLoops().get()) ?? [:]) { recorded, _ in recorded }
        guard !found.isEmpty || !running.isEmpty else { return nil }
        let tids = Dictionary(threads.values.compactMap { thread in thread.tid.map { (thread.ident, $0) } }, uniquingKeysWith: { a, _ in a })
        let threadOf = Dictionary(running.map { ($0.value, $0.key) }, uniquingKeysWith: { a, _ in a })
        let loops = Array(Set(found.map(\.loop)).union(running.values)).sorted().map { address -> LoopInfo in
            var loop = LoopInfo(address: address, tid: threadOf[address].flatMap { tids[$0] },
                                runningTask: threadOf[address].flatMap { runningTasks[$0] } ?? state?.runningTasksByLoop[address])
            if let own = try? runtime.asyncioLoop(at: address).get() {
                loop.ready = own.readyCount.map { $0 - (own.readyCancelledCount ?? 0) }
                loop.timers = own.timerCount
                loop.nextTimerSeconds = own.secondsToNextTimer
                loop.watchedFds = own.watched?.map(\.fd)
                loop.wakeupFd = own.wakeupFD
                loop.signalHandlers = own.signalHandlers?.map(\.signal)
            }
            return loop
        }
        let tasks = found.map { task in
            TaskInfo(address: task.address, name: task.name, state: TaskInfo.State(rawValue: task.state.rawValue) ?? .pending,
                     coroutines: task.coroutines.map { PythonFrameInfo(function: $0.function, file: $0.file, line: $0.line) },
                     awaiting: task.awaiting.map { TaskInfo.Awaited(address: $0.address, typeName: $0.typeName, isTask: $0.isTask) },
                     awaitedBy: task.awaitedBy, loop: task.loop)
        }
        return (AsyncioInfo(tasks: tasks, loops: loops), state?.notes ?? [])
    }

    /// The Python lock object thread `tid` waits on at `futex`, found from its frames; nil when
    /// not found (nothing is guessed).
    func lock(waitedOnAt futex: UInt64, by tid: Int32) -> PythonLockInfo? {
        guard let thread = threads[tid], let object = try? runtime.lockObject(waitedOnAt: futex, threadState: thread.threadState).get()
        else { return nil }
        return PythonLockInfo(typeName: object.typeName, path: object.path, function: object.function,
                              ownerIdent: object.importLock?.ownerIdent ?? object.ownerIdent, importing: object.importLock?.module,
                              address: object.address,
                              waited: object.waitedObject.map {
                                  PythonLockInfo.Waited(typeName: $0.typeName, method: $0.method, path: $0.path, function: $0.function)
                              }, identityLength: runtime.lockIdentityLength)
    }
}
