import Foundation
import ProcFS
import Testing
import ForkHazardKit

@testable import PythonRuntime

/// Live victims under every CPython on the machine: what PythonRuntime reads must equal what the
/// victim says about itself and what py-spy reads from the same process.
@Suite(.serialized)
struct LivePythonTests {
    @Test("CPython 3.8 (pyenv)", .enabled(if: Interpreter.pyenv(8) != nil, "no CPython 3.8 under pyenv (~/.pyenv/versions or $PYENV_ROOT/versions)"))
    func python38() throws { try checkVictim(Interpreter.pyenv(8)!) }

    @Test("CPython 3.9 (pyenv)", .enabled(if: Interpreter.pyenv(9) != nil, "no CPython 3.9 under pyenv (~/.pyenv/versions or $PYENV_ROOT/versions)"))
    func python39() throws { try checkVictim(Interpreter.pyenv(9)!) }

    @Test("CPython 3.10 (pyenv)", .enabled(if: Interpreter.pyenv(10) != nil, "no CPython 3.10 under pyenv (~/.pyenv/versions or $PYENV_ROOT/versions)"))
    func python310() throws { try checkVictim(Interpreter.pyenv(10)!) }

    @Test("CPython 3.11 (pyenv)", .enabled(if: Interpreter.pyenv(11) != nil, "no CPython 3.11 under pyenv (~/.pyenv/versions or $PYENV_ROOT/versions)"))
    func python311() throws { try checkVictim(Interpreter.pyenv(11)!) }

    @Test("CPython 3.12 (pyenv)", .enabled(if: Interpreter.pyenv(12) != nil, "no CPython 3.12 under pyenv (~/.pyenv/versions or $PYENV_ROOT/versions)"))
    func python312() throws { try checkVictim(Interpreter.pyenv(12)!) }

    @Test("CPython 3.13 (pyenv)", .enabled(if: Interpreter.pyenv(13) != nil, "no CPython 3.13 under pyenv (~/.pyenv/versions or $PYENV_ROOT/versions)"))
    func python313() throws { try checkVictim(Interpreter.pyenv(13)!) }

    @Test("CPython 3.14 (Debian sid, in a chroot)", .enabled(if: Interpreter.sid(14) != nil, sidMissing))
    func python314() throws { try checkVictim(Interpreter.sid(14)!) }

    @Test("CPython 3.15 (Debian sid, in a chroot)", .enabled(if: Interpreter.sid(15) != nil, sidMissing))
    func python315() throws { try checkVictim(Interpreter.sid(15)!) }

    /// A minor version no table here was measured on, made from a live 3.15 whose
    /// `_Py_DebugOffsets` is read as if it said 3.16.0a1: refused with the version named, nothing
    /// read through a layout guessed from 3.15's.
    @Test("An unknown minor version (a live 3.15 read as 3.16) is refused", .enabled(if: Interpreter.sid(15) != nil, sidMissing))
    func unknownMinorVersion() throws {
        let victim = try PythonVictim(Interpreter.sid(15)!.path, victimScript("python_threads.py"))
        let memory = ProcessMemory(pid: victim.pid)
        let maps = MemoryMapping.parseAll(try ProcRoot().bytes("\(victim.pid)/maps"))
        let real = try PythonRuntime.locate(mappings: maps, memory: memory).get()
        #expect(real.version.minor == 15 && real.layoutIsExact)
        struct Relabelled: RemoteMemoryReader {
            let memory: ProcessMemory
            let versionField: UInt64
            func read(_ address: UInt64, _ count: Int) -> [UInt8]? {
                guard var bytes = memory.read(address, count) else { return nil }
                let start = max(address, versionField), end = min(address + UInt64(count), versionField + 8)
                if start < end {
                    for at in start..<end { bytes[Int(at - address)] = withUnsafeBytes(of: UInt64(0x0310_00a1).littleEndian) { Array($0) }[Int(at - versionField)] }
                }
                return bytes
            }
        }
        let relabelled = Relabelled(memory: memory, versionField: real.runtimeAddress + 8)
        let result = PythonRuntime.make(runtime: real.runtimeAddress, module: real.modulePath, versionAddress: nil,
                                        pthreadTIDOffset: nil, memory: relabelled)
        let error = try #require(result.failureValue)
        #expect(error.description == "CPython 3.16.0a1 not supported: the layout of its _Py_DebugOffsets (3.16) is not known to this build, which reads CPython 3.8 to 3.15")
    }

    /// Run with the others, one at a time, so that they do not slow each other down.
    @Test("whole-process read time (Debian's python3)")
    func wholeProcessReadTime() throws { try measureWholeProcessRead() }

    @Test("Debian's /usr/bin/python3 (static build)")
    func systemPython() throws {
        let python = try #require(Interpreter.system, "/usr/bin/python3 is missing")
        try checkVictim(python)
    }
}

/// The threads of python_threads.py that block, and how each one's lock is reached.
let expectedLocks: [String: (kind: PythonLockObject.Kind, path: String, isGlobal: Bool)] = [
    "MainThread": (.lock, "MAIN_LOCK", true),
    "rlock-holder": (.lock, "waiter", false),
    "rlock-waiter": (.rlock, "self._lock", false),
    "lock-waiter": (.lock, "HELD", true),
    "condition-waiter": (.lock, "waiter", false),
    "event-waiter": (.lock, "waiter", false),
    "queue-getter": (.lock, "waiter", false),
    "semaphore-waiter": (.lock, "waiter", false),
    "import-first": (.lock, "waiter", false),
    "import-second": (.lock, "self.wakeup", false),
]

func checkVictim(_ python: Interpreter) throws {
    try checkThreads(python)
    try checkForkedChildren(python)
    try checkReport(python)
}

/// The report, as `forkhazard --json` gives it: for every thread of every process of a tree (a
/// parent and the two children it forked), the Python thread name and the function, file and line
/// of every frame equal py-spy's on the same thread.
func checkReport(_ python: Interpreter) throws {
    let victim = try PythonVictim(python.path, victimScript("python_fork_rlock_import.py"))
    let children = victim.lines(tagged: "child").compactMap { $0.count == 3 ? Int32($0[2]) : nil }
    #expect(children.count == 2)
    for child in children { _ = try ForkedChild(pid: child).waitUntilInFutex([child]) }
    let report = try Diagnosis().run(pids: [victim.pid])
    #expect(Set(report.processes.map(\.pid)) == Set([victim.pid] + children))
    let pyspy = try PySpy.binary.get()
    var compared = 0
    for process in report.processes {
        let dump = try PySpy.dump(pyspy, pid: process.pid)
        for spied in dump {
            let tid = try #require(spied.os_thread_id, "\(python): py-spy gave no TID")
            guard let thread = process.thread(tid) else { continue }  // a parent's thread a child's interpreter still lists
            let ours = try #require(thread.python, "\(python): no Python state for \(process.pid)/\(tid)")
            #expect(ours.threadName == spied.thread_name, "\(python) \(process.pid)/\(tid)")
            #expect(ours.ident == spied.thread_id, "\(python) \(process.pid)/\(tid)")
            #expect(ours.stack.map { PySpy.Frame(name: $0.function, filename: $0.file, line: $0.line ?? 0) } == spied.frames,
                    "\(python) \(process.pid)/\(tid)")
            compared += 1
        }
    }
    #expect(compared == report.processes.reduce(0) { $0 + $1.threads.count }, "every thread of the tree")
}

func checkThreads(_ python: Interpreter) throws {
    let victim = try PythonVictim(python.path, victimScript("python_threads.py"))
    // name -> (ident, tid), as the victim reports them.
    var reported: [String: (ident: UInt64, tid: Int32)] = [:]
    for words in victim.lines(tagged: "thread") where words.count == 4 {
        reported[words[1]] = (UInt64(words[2])!, Int32(words[3])!)
    }
    let rlockOwner = try #require(victim.lines(tagged: "rlock-owner").first.flatMap { UInt64($0[1]) })
    let hexVersion = try #require(victim.lines(tagged: "version").first.flatMap { UInt32($0[1]) })
    #expect(reported.count == expectedLocks.count + 1)
    let blocked = expectedLocks.keys.compactMap { reported[$0]?.tid }
    let futexes = try victim.waitUntilInFutex(blocked)

    // Locate and read everything before py-spy stops the process.
    let maps = try ProcRoot().bytes("\(victim.pid)/maps")
    let memory = ProcessMemory(pid: victim.pid)
    let runtime = try PythonRuntime.locate(mappings: MemoryMapping.parseAll(maps), memory: memory).get()
    #expect(runtime.version.hex == hexVersion, "\(python): read \(runtime.version)")
    // sys.hexversion, the version's source where Py_Version is missing, agrees wherever it is tried.
    let viaSys = PythonRuntime.versionFromSys(runtime: runtime.runtimeAddress, memory: memory)
    #expect(runtime.version.minor > 12 ? viaSys.failureValue != nil : viaSys == .success(runtime.version), "\(python)")
    let threads = try runtime.threads().get()
    let names = try runtime.threadNames().get()
    var stacks: [Int32: [PythonFrame]] = [:]
    var locks: [String: PythonLockObject?] = [:]
    for thread in threads {
        let tid = try #require(thread.tid, "\(python): no TID for ident \(thread.ident)")
        stacks[tid] = try runtime.stack(threadState: thread.threadState).get()
        if let name = reported.first(where: { $0.value.tid == tid })?.key, let futex = futexes[tid] {
            locks[name] = try runtime.lockObject(waitedOnAt: futex, threadState: thread.threadState).get()
            // Any other address is not the lock: nothing is guessed.
            #expect(try runtime.lockObject(waitedOnAt: futex &+ 8, threadState: thread.threadState).get() == nil)
        }
    }

    // Threads: the victim's own idents, TIDs and names.
    #expect(Set(threads.compactMap(\.tid)) == Set(reported.values.map(\.tid)), "\(python)")
    for (name, ids) in reported {
        let thread = try #require(threads.first { $0.tid == ids.tid }, "\(python): \(name)")
        #expect(thread.ident == ids.ident, "\(python): \(name)")
        #expect(names[thread.ident] == name, "\(python)")
    }
    // The busy thread runs Python code and, once the last GIL handoff to a thread going to sleep
    // is over, keeps the GIL: nobody else asks for it.
    let busy = try #require(reported["busy"])
    #expect(stacks[busy.tid]?.first?.function == "spin", "\(python)")
    var holders: [Int32?] = threads.filter(\.holdsGIL).map(\.tid)
    let deadline = Date().addingTimeInterval(5)
    while holders != [busy.tid] && Date() < deadline {
        usleep(10_000)
        holders = try runtime.threads().get().filter(\.holdsGIL).map(\.tid)
    }
    #expect(holders == [busy.tid], "\(python)")

    // Locks found from the frames, matched by the futex each thread sleeps on.
    for (name, expected) in expectedLocks {
        let lock = try #require(locks[name] ?? nil, "\(python): no lock found for \(name)")
        #expect(lock.kind == expected.kind && lock.path == expected.path && lock.isGlobal == expected.isGlobal,
                "\(python) \(name): \(lock)")
    }
    let rlock = try #require(locks["rlock-waiter"] ?? nil)
    #expect(rlock.ownerIdent == rlockOwner && rlock.count == 1, "\(python)")
    #expect(rlockOwner == reported["rlock-holder"]?.ident)
    let importLock = try #require(locks["import-second"]??.importLock, "\(python): no _ModuleLock")
    #expect(importLock.module == "python_slowmod", "\(python)")
    #expect(importLock.ownerIdent == reported["import-first"]?.ident, "\(python)")
    #expect(locks["condition-waiter"]??.function == "Condition.wait" || runtime.version.minor < 11, "\(python)")

    // py-spy on the same process: the same threads, names and, for every blocked thread, frames.
    let pyspy = try PySpy.binary.get()
    let dump = try PySpy.dump(pyspy, pid: victim.pid)
    #expect(Set(dump.compactMap(\.os_thread_id)) == Set(reported.values.map(\.tid)), "\(python)")
    for spied in dump {
        let tid = try #require(spied.os_thread_id, "\(python): py-spy gave no TID")
        let thread = try #require(threads.first { $0.tid == tid })
        #expect(spied.thread_id == thread.ident, "\(python)")
        #expect(spied.thread_name == names[thread.ident], "\(python)")
        guard tid != busy.tid else { continue }
        #expect(spied.owns_gil == thread.holdsGIL, "\(python) \(tid)")
        // py-spy shows the qualified name where the code object has one (3.11+), as `function` does.
        let ours = (stacks[tid] ?? []).map { PySpy.Frame(name: $0.function, filename: $0.file, line: $0.line ?? 0) }
        #expect(ours == spied.frames, "\(python) thread \(spied.thread_name ?? "?")")
        for frame in stacks[tid] ?? [] {
            #expect(frame.function == frame.name || frame.function.hasSuffix("." + frame.name))
        }
    }
}

/// Children forked while the parent's threads held an RLock and an import lock: each child's lock,
/// found from the child's own frames, names the parent's thread by its ident.
func checkForkedChildren(_ python: Interpreter) throws {
    let victim = try PythonVictim(python.path, victimScript("python_fork_rlock_import.py"))
    var parentThreads: [String: UInt64] = [:]
    for words in victim.lines(tagged: "thread") where words.count == 4 { parentThreads[words[1]] = UInt64(words[2]) }
    var children: [String: Int32] = [:]
    for words in victim.lines(tagged: "child") where words.count == 3 { children[words[1]] = Int32(words[2]) }
    let pyspy = try PySpy.binary.get()
    for (kind, pid) in children {
        let child = ForkedChild(pid: pid)
        let futex = try #require(try child.waitUntilInFutex([pid])[pid])
        let maps = try ProcRoot().bytes("\(pid)/maps")
        let runtime = try PythonRuntime.locate(mappings: MemoryMapping.parseAll(maps), memory: ProcessMemory(pid: pid)).get()
        // The child has only the thread that forked, but its interpreter may still list the
        // parent's others (CPython clears them after fork): take the one with the child's TID.
        let thread = try #require(try runtime.threads().get().first { $0.tid == pid }, "\(python) child \(kind)")
        let lock = try #require(try runtime.lockObject(waitedOnAt: futex, threadState: thread.threadState).get(),
                                "\(python): no lock for the \(kind) child")
        let stack = try runtime.stack(threadState: thread.threadState).get()
        if kind == "rlock" {
            #expect(lock.kind == .rlock && lock.path == "self._lock", "\(python): \(lock)")
            #expect(lock.ownerIdent == parentThreads["rlock-holder"], "\(python)")
        } else {
            #expect(lock.importLock?.module == "python_slowmod", "\(python): \(lock)")
            #expect(lock.importLock?.ownerIdent == parentThreads["loader"], "\(python)")
        }
        let spied = try #require(try PySpy.dump(pyspy, pid: pid).first { $0.os_thread_id == pid })
        #expect(stack.map { PySpy.Frame(name: $0.function, filename: $0.file, line: $0.line ?? 0) } == spied.frames,
                "\(python) \(kind) child")
    }
    #expect(children.count == 2)
}

/// How long reading a whole process takes: everything a report needs from the 12-thread victim
/// (runtime, threads, names, every stack, every blocked thread's lock), the best of five.
func measureWholeProcessRead() throws {
    let python = try #require(Interpreter.system, "/usr/bin/python3 is missing")
    let victim = try PythonVictim(python.path, victimScript("python_threads.py"))
    let tids = victim.lines(tagged: "thread").compactMap { $0.count == 4 ? Int32($0[3]) : nil }
    let busy = try #require(victim.lines(tagged: "thread").first { $0[1] == "busy" }.flatMap { Int32($0[3]) })
    let futexes = try victim.waitUntilInFutex(tids.filter { $0 != busy })
    let mappings = MemoryMapping.parseAll(try ProcRoot().bytes("\(victim.pid)/maps"))
    let memory = ProcessMemory(pid: victim.pid)

    func seconds(_ body: () throws -> Void) rethrows -> Double {
        let start = DispatchTime.now().uptimeNanoseconds
        try body()
        return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
    }
    var cold: [Double] = [], warm: [Double] = [], read: [Double] = [], locks: [Double] = []
    var frames = 0
    for _ in 0..<5 {
        cold.append(seconds { _ = PythonRuntime.locate(mappings: mappings, memory: memory, cache: ModuleInfoCache()) })
        var runtime: PythonRuntime?
        warm.append(seconds { runtime = try? PythonRuntime.locate(mappings: mappings, memory: memory).get() })
        let found = try #require(runtime)
        var snapshot: [PythonThreadSnapshot] = []
        read.append(try seconds { snapshot = try found.snapshot().get() })
        frames = snapshot.reduce(0) { $0 + ((try? $1.stack.get().count) ?? 0) }
        locks.append(try seconds {
            for thread in snapshot {
                guard let tid = thread.thread.tid, let futex = futexes[tid] else { continue }
                _ = try #require(try found.lockObject(waitedOnAt: futex, threadState: thread.thread.threadState).get())
            }
        })
        #expect(snapshot.count == tids.count)
    }
    let ms = { (values: [Double]) in String(format: "%.2f ms", values.min()! * 1000) }
    print("whole-process read, \(tids.count) threads, \(frames) frames: locate \(ms(cold)) (ELF files not yet read), "
          + "\(ms(warm)) (cached); threads, names and stacks \(ms(read)); locks of \(futexes.count) blocked threads \(ms(locks))")
    #expect(read.min()! < 1, "reading the Python state took \(read.min()!) s")
}
