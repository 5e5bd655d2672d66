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

    /// Its asyncio tasks and loops, TIDs for thread idents; nil when it has no task or they
    /// could not be read.
    func asyncio() -> AsyncioInfo? {
        guard case .success(let state) = runtime.asyncioTasks(), !state.tasks.isEmpty else { return nil }
        let tids = Dictionary(threads.values.compactMap { thread in thread.tid.map { (thread.ident, $0) } }, uniquingKeysWith: { a, _ in a })
        let running = Dictionary(state.runningLoops.map { ($0.value, $0.key) }, uniquingKeysWith: { a, _ in a })
        let loops = Array(Set(state.tasks.map(\.loop)).union(state.runningLoops.values)).sorted().map { loop in
            LoopInfo(address: loop, tid: running[loop].flatMap { tids[$0] },
                     runningTask: running[loop].flatMap { state.runningTasks[$0] })
        }
        let tasks = state.tasks.map { task in
            TaskInfo(address: task.address, name: task.name, state: TaskInfo.State(rawValue: task.state.rawValue) ?? .pending,
                     coroutines: task.coroutines.map { PythonFrameInfo(function: $0.function, file: $0.file, line: $0.line) },
                     awaiting: task.awaiting.map { TaskInfo.Awaited(address: $0.address, typeName: $0.typeName, isTask: $0.isTask) },
                     awaitedBy: task.awaitedBy, loop: task.loop)
        }
        return AsyncioInfo(tasks: tasks, loops: loops)
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
