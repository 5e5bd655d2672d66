import Foundation
import ProcFS
import Testing

@testable import ForkHazardKit

/// Native stacks of real blocked threads: the right names, the lock kind, and the target released.
@Suite("Live stacks") struct LiveStackTests {
    func symbols(_ thread: ThreadSnapshot?) -> [String] {
        (thread?.stack ?? []).compactMap(\.symbol)
    }

    @Test func forkedChildOnAnInheritedMutex() throws {
        let victim = try Victim(scenario: "fork-mutex")
        let child = victim.helper
        try waitForBlocked(pid: child, tid: child, in: "futex")
        let report = try Diagnosis().run(pids: [victim.pid])
        let thread = try #require(report.thread(child))
        let names = symbols(thread)
        #expect(Array(names.prefix(3)) == ["__lll_lock_wait", "pthread_mutex_lock", "main"])
        #expect(thread.wait?.lock?.kind == .pthreadMutex)
        #expect(thread.wait?.lock?.address == thread.wait?.futex?.address)
        let pause = try #require(thread.pauseMicros)
        #expect(pause > 0)
        // The holder thread in the parent sleeps in clock_nanosleep, called from sleep().
        let holder = try #require(report.process(victim.pid)?.threads.first { $0.name == "holder" })
        #expect(thread.wait?.summary.hasSuffix("(private, forever) — pthread mutex owned by TID \(holder.tid)") == true)
        #expect(thread.wait?.lock?.owner == holder.tid)
        #expect(thread.wait?.lock?.ownerSource == .mutexOwner)
        #expect(symbols(holder).contains("holder"))
        // Every thread was released: none is left stopped.
        for process in report.processes {
            for thread in process.threads {
                let stat = ProcStat(parsing: try ProcRoot().text("\(process.pid)/task/\(thread.tid)/stat"))
                #expect(stat?.state != "t" && stat?.state != "T")
            }
        }
    }

    /// A program linked without `.eh_frame_hdr` (no PT_GNU_EH_FRAME, so no table to find its
    /// frames' unwind rules from memory): libc's frames still come from libc's table, and the
    /// program's own from libunwind's search of its file.
    @Test func aProgramWithoutAnUnwindTableHeader() throws {
        let binary = VictimBuild.compile("waits.c", output: "waits-no-eh-frame-hdr", flags: ["-Wl,--no-eh-frame-hdr"])
        let headers = try runCommand("/usr/bin/env", ["readelf", "-lW", binary]).stdout
        #expect(headers.contains("LOAD") && !headers.contains("GNU_EH_FRAME"))
        let victim = try Victim(binary, ["fork-mutex"])
        let child = victim.helper
        try waitForBlocked(pid: child, tid: child, in: "futex")
        let report = try Diagnosis().run(pids: [victim.pid])
        #expect(Array(symbols(report.thread(child)).prefix(3)) == ["__lll_lock_wait", "pthread_mutex_lock", "main"])
    }

    /// Python's threading.Lock waits in sem_wait: the local libc functions must be named from
    /// libc's debug file, not the nearest exported names.
    @Test("A CPython lock wait, CPython 3.11 from pyenv", .cpython("3.11"))
    func pythonLockWait311() throws {
        try pythonLockWait(python: try #require(pythonBinary("3.11")))
    }

    @Test("A CPython lock wait, CPython 3.13 from pyenv", .cpython("3.13"))
    func pythonLockWait313() throws {
        try pythonLockWait(python: try #require(pythonBinary("3.13")))
    }

    @Test("A CPython lock wait, Debian's python3")
    func pythonLockWaitDebian() throws {
        try pythonLockWait(python: debianPython)
    }

    /// From 3.14 a Lock's waiter parks on a semaphore of its own. In the sid root, whose libc has
    /// only its exported symbols, libc's inner frames stay unnamed (`libc.so.6+0x…`), never named
    /// after a nearby exported function.
    @Test("A CPython lock wait, Debian sid's python3.14 (in a chroot, libc without symbols)", .sid("3.14"))
    func pythonLockWait314() throws { try parkedLockWait(python: try #require(sidPython("3.14"))) }

    @Test("A CPython lock wait, Debian sid's python3.15 (in a chroot, libc without symbols)", .sid("3.15"))
    func pythonLockWait315() throws { try parkedLockWait(python: try #require(sidPython("3.15"))) }

    func parkedLockWait(python: String) throws {
        let victim = try Victim(python, [try victimPath("python_lock.py")])
        try victim.waitUntilBlocked(in: "futex")
        let report = try Diagnosis().run(pids: [victim.pid])
        let thread = try #require(report.thread(victim.pid))
        let stack = try #require(thread.stack)
        let names = symbols(thread).map(LockClassifier.withoutVersion)
        #expect(names.contains("_PySemaphore_Wait"), "\(names)")
        let libc = stack.prefix { $0.symbol != "_PySemaphore_Wait" }
        #expect(!libc.isEmpty && libc.allSatisfy { $0.module?.hasSuffix("/sid/usr/lib/x86_64-linux-gnu/libc.so.6") == true },
                "\(libc.map(\.display))")
        #expect(libc.first?.symbol == nil, "libc's innermost frame is internal: \(libc.map(\.display))")
        #expect(!names.contains("__nptl_death_event") && !names.contains("sem_unlink"))
        #expect(thread.wait?.lock?.kind == .cpythonLock)
        #expect(thread.wait?.lock?.python?.typeName == "_thread.lock")
        #expect(thread.wait?.futex?.operation == .waitBitset)
    }

    func pythonLockWait(python: String) throws {
        let script = try victimPath("python_lock.py")
        let victim = try Victim(python, [script])
        try victim.waitUntilBlocked(in: "futex")
        let report = try Diagnosis().run(pids: [victim.pid])
        let thread = try #require(report.thread(victim.pid))
        let names = symbols(thread).map(LockClassifier.withoutVersion)
        #expect(names.first == "__futex_abstimed_wait_common")
        #expect(names.contains { $0.hasPrefix("__new_sem_wait_slow64") })
        #expect(names.contains("PyThread_acquire_lock_timed"))
        #expect(!names.contains("__nptl_death_event") && !names.contains("sem_unlink"))
        #expect(thread.wait?.lock?.kind == .cpythonLock)
        #expect(thread.wait?.futex?.operation == .waitBitset)
    }

    @Test func libgompBarrier() throws {
        let binary = VictimBuild.compile("gomp_barrier.c", output: "gomp_barrier", flags: ["-fopenmp"])
        let victim = try Victim(binary, [], environment: ["OMP_WAIT_POLICY": "passive"])
        let waiter = victim.helper
        try waitForBlocked(pid: victim.pid, tid: waiter, in: "futex")
        let report = try Diagnosis().run(pids: [victim.pid])
        let thread = try #require(report.thread(waiter))
        #expect(thread.wait?.lock?.kind == .libgompBarrier)
        #expect(thread.stack?.first?.module?.contains("libgomp") == true)
        #expect(symbols(thread).contains("main._omp_fn.0"))
        #expect(thread.wait?.summary.hasSuffix("— libgomp barrier") == true)
    }

    /// The victim is built with -g: its frames carry the file and line they are stopped at, found
    /// here in the victim's source; libc's come from its debug file.
    @Test func sourceLinesOfABlockedChild() throws {
        let victim = try Victim(scenario: "fork-mutex")
        let child = victim.helper
        try waitForBlocked(pid: child, tid: child, in: "futex")
        let report = try Diagnosis().run(pids: [victim.pid])
        let source = try String(contentsOfFile: try victimPath("waits.c"),
                                encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: false)
        func line(containing text: String) throws -> Int {
            try #require(source.firstIndex { $0.contains(text) }) + 1
        }
        let stack = try #require(report.thread(child)?.stack)
        let main = try #require(stack.first { $0.symbol == "main" })
        #expect(main.file.map { fileName(of: $0) } == "waits.c")
        #expect(main.file?.hasPrefix("/") == true)
        #expect(main.line == (try line(containing: "if (!strcmp(s, \"fork-mutex\")) pthread_mutex_lock(&shared_state);")))
        #expect(main.display == "main (waits.c:\(main.line!))")
        let lockWait = try #require(stack.first { $0.symbol == "__lll_lock_wait" })
        #expect(lockWait.file.map { fileName(of: $0) } == "lowlevellock.c")
        #expect((lockWait.line ?? 0) > 0)

        // The parent's holder thread sleeps in sleep(), called from holder() at its line.
        let holderThread = try #require(report.process(victim.pid)?.threads.first { $0.name == "holder" })
        let holder = try #require(holderThread.stack?.first { $0.symbol == "holder" })
        #expect(holder.file.map { fileName(of: $0) } == "waits.c")
        let holderStart = try line(containing: "static void *holder(void *arg)")
        let sleepLine = try #require(source[holderStart...].firstIndex { $0.contains("sleep(3600)") }) + 1
        #expect(holder.line == sleepLine)

        // JSON has them too.
        let json = report.json()
        #expect(json.contains("\"file\":\"\(main.file!)\",\"line\":\(main.line!)"))
    }

    /// A recursion: every level has the same return address, on its own stack frame; all 26
    /// are unwound, not only the first two.
    @Test func recursionIsUnwoundToTheBottom() throws {
        let binary = VictimBuild.compile("recursion.c", output: "recursion")
        let victim = try Victim(binary, [])
        try victim.waitUntilBlocked(in: "pause")
        let report = try Diagnosis().run(pids: [victim.pid])
        let names = try #require(report.thread(victim.pid)?.stack).compactMap(\.symbol)
        #expect(names.filter { $0 == "descend" }.count == 26)
        #expect(names.contains("main"))
    }

    /// `--no-lines` names frames without reading DWARF: the same symbols, no file or line.
    @Test func noLinesOption() throws {
        let victim = try Victim(scenario: "futex-private")
        try victim.waitUntilBlocked(in: "futex")
        let with = try runForkhazard(["--json", String(victim.pid)])
        let without = try runForkhazard(["--json", "--no-lines", String(victim.pid)])
        #expect(with.stdout.contains("\"file\":\"/"))
        #expect(with.stdout.contains("waits.c"))
        #expect(!without.stdout.contains("\"file\":\"/"))
        #expect(without.stdout.contains("\"file\":null,\"line\":null"))
        #expect(without.stdout.contains("\"symbol\":\"main\""))
    }

    /// Without symbols, a frame reads `module+0xoffset`: never a wrong nearby name.
    @Test func strippedBinaryShowsModuleOffsets() throws {
        let binary = VictimBuild.compile("waits.c", output: "waits-stripped", flags: ["-s"])
        let victim = try Victim(binary, ["futex-private"])
        try victim.waitUntilBlocked(in: "futex")
        let report = try Diagnosis().run(pids: [victim.pid])
        let stack = try #require(report.thread(victim.pid)?.stack)
        let own = stack.filter { $0.module == binary }
        #expect(!own.isEmpty)
        for frame in own {
            #expect(frame.symbol == nil)
            #expect(frame.file == nil && frame.line == nil && frame.inlined == nil)
            #expect(frame.display == "waits-stripped+0x" + String(frame.moduleOffset!, radix: 16))
        }
        #expect(stack.first?.symbol == "syscall")
    }
}
