import Foundation
import ProcFS
import Testing

@testable import ForkHazardKit

extension PythonVictim {
    /// A victim script of the Python reader's tests, which prints `thread NAME IDENT TID` and `child KIND PID`.
    convenience init(_ python: String, readerVictim script: String) throws {
        try self.init(python, try victimPath(script))
    }

    /// TIDs by thread name.
    var threads: [String: Int32] {
        Dictionary(lines(tagged: "thread").compactMap { words in words.count == 4 ? Int32(words[3]).map { (words[1], $0) } : nil },
                   uniquingKeysWith: { a, _ in a })
    }

    /// Children by kind.
    var children: [String: Int32] {
        Dictionary(lines(tagged: "child").compactMap { words in words.count == 3 ? Int32(words[2]).map { (words[1], $0) } : nil },
                   uniquingKeysWith: { a, _ in a })
    }
}

/// Python frames, thread names and lock owners in the report, read from outside.
@Suite("Python in the report") struct PythonReportTests {
    @Test("An RLock and an import lock held by the parent's threads at fork, Debian's python3")
    func inheritedPythonLocks() throws { try inheritedPythonLocks("/usr/bin/python3") }

    @Test("An RLock and an import lock held by the parent's threads at fork, CPython 3.8 from pyenv", .cpython("3.8"))
    func inheritedPythonLocks38() throws { try inheritedPythonLocks(try #require(pythonBinary("3.8"))) }

    @Test("An RLock and an import lock held by the parent's threads at fork, CPython 3.9 from pyenv", .cpython("3.9"))
    func inheritedPythonLocks39() throws { try inheritedPythonLocks(try #require(pythonBinary("3.9"))) }

    @Test("An RLock and an import lock held by the parent's threads at fork, CPython 3.10 from pyenv", .cpython("3.10"))
    func inheritedPythonLocks310() throws { try inheritedPythonLocks(try #require(pythonBinary("3.10"))) }

    @Test("An RLock and an import lock held by the parent's threads at fork, CPython 3.11 from pyenv", .cpython("3.11"))
    func inheritedPythonLocks311() throws { try inheritedPythonLocks(try #require(pythonBinary("3.11"))) }

    @Test("An RLock and an import lock held by the parent's threads at fork, CPython 3.12 from pyenv", .cpython("3.12"))
    func inheritedPythonLocks312() throws { try inheritedPythonLocks(try #require(pythonBinary("3.12"))) }

    @Test("An RLock and an import lock held by the parent's threads at fork, CPython 3.13 from pyenv", .cpython("3.13"))
    func inheritedPythonLocks313() throws { try inheritedPythonLocks(try #require(pythonBinary("3.13"))) }

    @Test("An RLock and an import lock held by the parent's threads at fork, Debian sid's python3.14 (in a chroot)", .sid("3.14"))
    func inheritedPythonLocks314() throws { try inheritedPythonLocks(try #require(sidPython("3.14"))) }

    @Test("An RLock and an import lock held by the parent's threads at fork, Debian sid's python3.15 (in a chroot)", .sid("3.15"))
    func inheritedPythonLocks315() throws { try inheritedPythonLocks(try #require(sidPython("3.15"))) }

    func inheritedPythonLocks(_ python: String) throws {
        let victim = try PythonVictim(python, readerVictim: "python_fork_rlock_import.py")
        let rlockChild = try #require(victim.children["rlock"]), importChild = try #require(victim.children["import"])
        let holder = try #require(victim.threads["rlock-holder"]), loader = try #require(victim.threads["loader"])
        try waitForBlocked(pid: rlockChild, tid: rlockChild, in: "futex")
        try waitForBlocked(pid: importChild, tid: importChild, in: "futex")
        let report = try Diagnosis().run(pids: [victim.pid])
        #expect(report.process(victim.pid)?.python?.version.hasPrefix("3.") == true)
        #expect(report.thread(holder)?.python?.threadName == "rlock-holder")
        #expect(report.thread(loader)?.python?.threadName == "loader")

        // The RLock records its owner: the parent's thread, named exactly.
        let rlock = try #require(report.thread(rlockChild)?.wait?.lock)
        #expect(rlock.python?.typeName == "_thread.RLock")
        #expect(rlock.python?.path == "self._lock")
        #expect(rlock.owner == holder)
        #expect(report.thread(rlockChild)?.python?.stack.first?.function.hasSuffix("update") == true)
        let rlockFinding = try #require(report.findings(.inheritedLock, naming: rlockChild).first)
        guard let facts = rlockFinding.facts as? InheritedLockFacts else { Issue.record("no facts"); return }
        #expect(facts.holder == .thread(ThreadKey(pid: victim.pid, tid: holder)))
        #expect(report.words(rlockFinding).cause.contains("RLock `self._lock` that thread \(holder) 'rlock-holder' of its parent \(victim.pid) held"))

        // The import lock names the module and the thread that was importing it at fork.
        let importLock = try #require(report.thread(importChild)?.wait?.lock)
        #expect(importLock.kind == .cpythonImportLock)
        #expect(importLock.python?.importing == "python_slowmod")
        #expect(importLock.owner == loader)
        let importFinding = try #require(report.findings(.inheritedLock, naming: importChild).first)
        #expect(report.words(importFinding).cause.contains(
            "for the import of python_slowmod, which was in progress in the parent's thread \(loader) 'loader' when it was forked"))

        // The text shows Python names and Python stacks; the JSON has every thread's python key.
        let text = TextRenderer(color: false).render(report)
        #expect(text.contains("rlock-holder"))
        #expect(text.contains("at Registry.update (") || text.contains("at update ("))
        let json = try jsonObject(report.json())
        for process in json["processes"] as? [[String: Any]] ?? [] {
            #expect((process["python"] as? [String: Any])?["version"] is String)
            for thread in process["threads"] as? [[String: Any]] ?? [] { #expect(thread.keys.contains("python")) }
        }
        try expectValid([report.json()], against: .report)
    }

    /// A logging handler's console lock (an RLock of its own, as rich's) held by a parent's thread
    /// when a fork pool started: one finding for all three workers, naming the lock, where they
    /// wait, and the parent's thread that holds it, by its Python name.
    @Test("A logging handler's lock held at fork, Debian's python3")
    func loggingHandlerLock() throws { try loggingHandlerLock("/usr/bin/python3") }

    @Test("A logging handler's lock held at fork, CPython 3.8 from pyenv", .cpython("3.8"))
    func loggingHandlerLock38() throws { try loggingHandlerLock(try #require(pythonBinary("3.8"))) }

    @Test("A logging handler's lock held at fork, CPython 3.13 from pyenv", .cpython("3.13"))
    func loggingHandlerLock313() throws { try loggingHandlerLock(try #require(pythonBinary("3.13"))) }

    @Test("A logging handler's lock held at fork, Debian sid's python3.14 (in a chroot)", .sid("3.14"))
    func loggingHandlerLock314() throws { try loggingHandlerLock(try #require(sidPython("3.14"))) }

    @Test("A logging handler's lock held at fork, Debian sid's python3.15 (in a chroot)", .sid("3.15"))
    func loggingHandlerLock315() throws { try loggingHandlerLock(try #require(sidPython("3.15"))) }

    func loggingHandlerLock(_ python: String) throws {
        let victim = try PythonVictim(python, try victimPath("python_logging_fork.py"))
        let workers = victim.lines(tagged: "child").compactMap { $0.count == 3 ? Int32($0[2]) : nil }
        #expect(workers.count == 3)
        let writer = try #require(victim.threads["log-writer"])
        for pid in workers { try waitForPrivateFutex(pid: pid, tid: pid) }
        let report = try Diagnosis().run(pids: [victim.pid])
        let findings = report.findings.filter { $0.rule == .inheritedLock }
        #expect(findings.count == 1, "one finding for one lock: \(findings.map { report.words($0).cause })")
        let finding = try #require(findings.first)
        guard let facts = finding.facts as? InheritedLockFacts else { Issue.record("no facts"); return }
        #expect(Set(facts.children.map(\.pid)) == Set(workers))
        #expect(facts.holder == .thread(ThreadKey(pid: victim.pid, tid: writer)))
        #expect(facts.lock.python?.typeName == "_thread.RLock" && facts.lock.python?.path == "self._lock")
        #expect(facts.lock.python?.function == "Console.write" || facts.lock.python?.function == "write")
        let cause = report.words(finding).cause
        #expect(cause.contains("RLock `self._lock` that thread \(writer) 'log-writer' of its parent \(victim.pid) held"), "\(cause)")
        #expect(cause.contains("python_logging_fork.py:"), "\(cause)")
        for pid in workers { #expect(report.thread(pid)?.wait?.lock?.owner == writer) }
        try expectValid([report.json()], against: .report)
    }

    /// multiprocessing's fork server (3.14's default start method): a threaded parent's pool is
    /// healthy, its workers forked by the single-threaded server; a server that preloads a module
    /// starting a thread forks them with that thread, and they hang on the lock it held.
    @Test("The fork server of a threaded parent, Debian's python3")
    func forkServer() throws { try forkServer("/usr/bin/python3") }

    @Test("The fork server of a threaded parent, Debian sid's python3.14 (in a chroot)", .sid("3.14"))
    func forkServer314() throws { try forkServer(try #require(sidPython("3.14"))) }

    @Test("The fork server of a threaded parent, Debian sid's python3.15 (in a chroot)", .sid("3.15"))
    func forkServer315() throws { try forkServer(try #require(sidPython("3.15"))) }

    func forkServer(_ python: String) throws {
        func start(_ mode: String) throws -> (victim: PythonVictim, server: Int32, workers: [Int32]) {
            let victim = try PythonVictim(python, try victimPath("python_forkserver.py"), [mode])
            let server = try #require(victim.lines(tagged: "server").first.flatMap { Int32($0[1]) })
            let workers = victim.lines(tagged: "child").compactMap { $0.count == 3 ? Int32($0[2]) : nil }
            #expect(workers.count == 2)
            return (victim, server, workers)
        }
        do {
            let (victim, server, workers) = try start("healthy")
            for pid in workers { try waitForBlocked(pid: pid, tid: pid, in: "clock_nanosleep") }
            let report = try Diagnosis().run(pids: [victim.pid])
            #expect(report.findings.isEmpty, "\(report.findings.map { report.words($0).message })")
            #expect(report.process(server)?.forkOrigin?.kind == .execed)
            for pid in workers {
                let origin = try #require(report.process(pid)?.forkOrigin)
                #expect(origin.kind == .forkedWithoutExec && origin.parent == server && origin.threadsAtFork?.count == 1)
            }
            let text = TextRenderer(color: false).render(report)
            #expect(text.contains("[multiprocessing's fork server]") && text.contains("[multiprocessing's resource tracker]"))
        }
        let (victim, server, workers) = try start("preload-thread")
        for pid in workers { try waitForPrivateFutex(pid: pid, tid: pid) }
        let report = try Diagnosis().run(pids: [victim.pid])
        let inherited = report.findings.filter { $0.rule == .inheritedLock }
        #expect(inherited.count == 1, "\(TextRenderer(color: false).render(report))")
        let finding = try #require(inherited.first)
        guard let facts = finding.facts as? InheritedLockFacts else { Issue.record("no facts"); return }
        #expect(facts.parent.pid == server && Set(facts.children.map(\.pid)) == Set(workers))
        #expect(facts.lock.python?.path == "python_forkserver_preload.LOCK")
        let words = report.words(finding)
        #expect(words.cause.contains("'preload-holder'"), "\(words.cause)")
        #expect(words.remedy.contains("set_forkserver_preload"), "\(words.remedy)")
        #expect(report.findings.contains { $0.rule == .forkFromThreaded && $0.pids.first == server })
    }

    /// A wait inside an Event, a Queue, a Semaphore or a Condition is told by that object, as its
    /// caller reaches it; a lock the frames do not reach is said not found.
    @Test("Waits inside threading and queue objects, Debian's python3")
    func waitsInsideThreadingObjects() throws { try waitsInsideThreadingObjects("/usr/bin/python3") }

    @Test("Waits inside threading and queue objects, CPython 3.8 from pyenv", .cpython("3.8"))
    func waitsInsideThreadingObjects38() throws { try waitsInsideThreadingObjects(try #require(pythonBinary("3.8"))) }

    @Test("Waits inside threading and queue objects, CPython 3.13 from pyenv", .cpython("3.13"))
    func waitsInsideThreadingObjects313() throws { try waitsInsideThreadingObjects(try #require(pythonBinary("3.13"))) }

    @Test("Waits inside threading and queue objects, Debian sid's python3.14 (in a chroot)", .sid("3.14"))
    func waitsInsideThreadingObjects314() throws { try waitsInsideThreadingObjects(try #require(sidPython("3.14"))) }

    @Test("Waits inside threading and queue objects, Debian sid's python3.15 (in a chroot)", .sid("3.15"))
    func waitsInsideThreadingObjects315() throws { try waitsInsideThreadingObjects(try #require(sidPython("3.15"))) }

    func waitsInsideThreadingObjects(_ python: String) throws {
        let victim = try PythonVictim(python, readerVictim: "python_waits.py")
        for tid in victim.threads.values { try waitForBlocked(pid: victim.pid, tid: tid, in: "futex") }
        let report = try Diagnosis().run(pids: [victim.pid])
        func waited(_ name: String) throws -> PythonLockInfo.Waited? {
            let tid = try #require(victim.threads[name])
            return try #require(report.thread(tid)?.wait?.lock?.python).waited
        }
        #expect(try waited("queue-get")?.typeName == "Queue")
        #expect(try waited("queue-get")?.method == "Queue.get")
        #expect(try waited("event")?.typeName == "Event")
        #expect(try waited("semaphore")?.typeName == "Semaphore")
        let condition = try waited("condition")
        #expect(condition?.typeName == "Condition" && condition?.path == "CHANGED")
        let job = try waited("job")
        #expect(job?.typeName == "Event" && job?.path == "self._done")
        #expect(job?.function?.hasSuffix("wait") == true)
        // A SimpleQueue waits in C: on a lock of its own until 3.12, parked on a flag of its own
        // from 3.13; found as the queue itself either way.
        let simpleTid = try #require(victim.threads["simple-queue"])
        let simple = report.thread(simpleTid)?.wait?.lock?.python
        #expect(simple?.typeName == "_queue.SimpleQueue" && simple?.path == "TASKS", "\(String(describing: simple))")
        let deepTid = try #require(victim.threads["deep"])
        let deep = try #require(report.thread(deepTid)?.wait?.lock)
        #expect(deep.python == nil && deep.pythonObjectNotFound)
        let text = TextRenderer(color: false).render(report)
        #expect(text.contains("— Event `self._done` in "))
        // A Python thread's line is its Python stack; --native-stacks adds the native one.
        #expect(!text.contains("native at "))
        let native = try runForkhazard(["--native-stacks", String(victim.pid)])
        // The lock's native wait: a semaphore's until 3.13, the parking lot's from 3.14.
        let minor = report.process(victim.pid)?.python?.version.split(separator: ".").dropFirst().first.flatMap { Int($0) } ?? 0
        #expect(native.stdout.contains("native at ")
                && native.stdout.contains(minor >= 14 ? "_PySemaphore_Wait" : "PyThread_acquire_lock"), "\(native.stdout.prefix(3000))")
        #expect(text.contains("no Python lock object found for it from the thread's frames"))
        try expectValid([report.json()], against: .report)
    }

    /// An idle pool's workers wait for a task on the task queue's lock, a multiprocessing Lock: a
    /// semaphore in shared memory, found as its `_multiprocessing.SemLock` and told by the queue
    /// the worker reads (`SimpleQueue `inqueue` in worker`), and no inherited lock: the worker's
    /// copy of it is the very semaphore the others share.
    @Test("An idle pool's workers, Debian's python3")
    func idlePoolWorkers() throws { try idlePoolWorkers("/usr/bin/python3") }

    @Test("An idle pool's workers, CPython 3.8 from pyenv", .cpython("3.8"))
    func idlePoolWorkers38() throws { try idlePoolWorkers(try #require(pythonBinary("3.8"))) }

    @Test("An idle pool's workers, CPython 3.13 from pyenv", .cpython("3.13"))
    func idlePoolWorkers313() throws { try idlePoolWorkers(try #require(pythonBinary("3.13"))) }

    @Test("An idle pool's workers, Debian sid's python3.14 (in a chroot)", .sid("3.14"))
    func idlePoolWorkers314() throws { try idlePoolWorkers(try #require(sidPython("3.14"))) }

    @Test("An idle pool's workers, Debian sid's python3.15 (in a chroot)", .sid("3.15"))
    func idlePoolWorkers315() throws { try idlePoolWorkers(try #require(sidPython("3.15"))) }

    func idlePoolWorkers(_ python: String) throws {
        let victim = try PythonVictim(python, readerVictim: "python_pool_idle.py")
        let workers = victim.lines(tagged: "child").compactMap { $0.count == 3 ? Int32($0[2]) : nil }
        #expect(workers.count == 3)
        // One worker reads the task pipe; the others wait on the queue's lock.
        var onLock: [Int32] = []
        for _ in 0..<100 where onLock.count < 2 {
            onLock = workers.filter { pid in
                ((try? ProcRoot().text("\(pid)/syscall")) ?? "").hasPrefix("202 ")  // futex
            }
            if onLock.count < 2 { usleep(50_000) }
        }
        #expect(onLock.count == 2)
        for pid in onLock { try waitForBlocked(pid: pid, tid: pid, in: "futex") }
        let report = try Diagnosis().run(pids: [victim.pid])
        for pid in onLock {
            let lock = try #require(report.thread(pid)?.wait?.lock)
            #expect(report.thread(pid)?.wait?.futex?.private == false)
            #expect(lock.kind == .semaphore)
            #expect(lock.python?.typeName == "_multiprocessing.SemLock", "\(String(describing: lock))")
            #expect(lock.python?.waited?.typeName == "SimpleQueue" && lock.python?.waited?.path == "inqueue")
            #expect(lock.python?.waited?.function == "worker")
        }
        #expect(report.findings.allSatisfy { $0.rule != .inheritedLock })
        #expect(TextRenderer(color: false, full: true).render(report).contains("— SimpleQueue `inqueue` in worker"))
        try expectValid([report.json()], against: .report)
    }

    /// Debian's static interpreter copied under another name: found by its `.PyRuntime` section,
    /// not by its name.
    @Test func aRenamedStaticInterpreterIsRead() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("renamed-python-\(getpid())")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let copy = folder.appendingPathComponent("service").path
        try writeExecutable([UInt8](try Data(contentsOf: URL(fileURLWithPath: "/usr/bin/python3").resolvingSymlinksInPath())), to: copy)
        // Started again if its file was busy an instant (a child forked by another test meanwhile).
        var started: PythonVictim?
        for attempt in 0..<3 where started == nil {
            do { started = try PythonVictim(copy, readerVictim: "python_threads.py") } catch where attempt < 2 { usleep(100_000) }
        }
        let victim = try #require(started)
        let waiter = try #require(victim.threads["rlock-waiter"])
        let report = try Diagnosis(builder: SnapshotBuilder(stacks: nil)).run(pids: [victim.pid])
        #expect(report.process(victim.pid)?.name == "service")
        #expect(report.process(victim.pid)?.python?.version.hasPrefix("3.") == true)
        #expect(report.thread(waiter)?.python?.threadName == "rlock-waiter")
    }

    /// CPython before 3.8 keeps its state where this reader does not look: a note says so.
    @Test("CPython 3.6 from pyenv: a note, no frames", .cpython("3.6"))
    func anOldInterpreterGetsANote() throws {
        let python = try #require(pythonBinary("3.6"))
        let pid = try spawnClean(python, ["-c", "import time; time.sleep(60)"])
        defer { kill(pid, SIGKILL); _ = reap(pid) }
        try waitForBlocked(pid: pid, tid: pid, in: "pselect6")  // 3.6 sleeps in select()
        let report = try Diagnosis(builder: SnapshotBuilder(stacks: nil)).run(pids: [pid])
        #expect(report.process(pid)?.python == nil)
        #expect(report.notes.map(\.words).contains { $0.hasPrefix("\(pid): Python frames not read: its files are those of CPython 3.6") })
    }

    /// An RLock whose owner exited after the fork, its thread descriptor (and so its ident) handed
    /// to a thread started later: that thread is not named as the holder at fork.
    @Test func anIdentReusedAfterTheForkNamesNoHolder() throws {
        let victim = try PythonVictim("/usr/bin/python3", readerVictim: "python_ident_reuse.py")
        let child = try #require(victim.children["rlock"])
        let idents = Dictionary(victim.lines(tagged: "thread").map { ($0[1], $0[2]) }, uniquingKeysWith: { a, _ in a })
        let newcomer = try #require(victim.threads["newcomer"])
        try #require(idents["holder"] != nil && idents["holder"] == idents["newcomer"],
                     "the new thread reuses the holder's ident: \(idents)")
        try waitForBlocked(pid: child, tid: child, in: "futex")
        let report = try Diagnosis().run(pids: [victim.pid])
        let lock = try #require(report.thread(child)?.wait?.lock)
        #expect(lock.python?.ownerIdent == UInt64(idents["holder"]!)!)
        #expect(lock.owner == nil, "the thread with that ident now started after the fork")
        let finding = try #require(report.findings(.inheritedLock, naming: child).first)
        guard let facts = finding.facts as? InheritedLockFacts else { Issue.record("no facts"); return }
        #expect(facts.holder == .goneIdent(UInt64(idents["holder"]!)!))
        #expect(!finding.tids.contains(newcomer))
        #expect(!report.words(finding).cause.contains("newcomer"))
    }

    /// A running thread's frames are read inside the stop that takes its native stack; without
    /// stacks, they are read while it runs and say so.
    @Test func aBusyThreadIsReadInsideItsStop() throws {
        let victim = try PythonVictim("/usr/bin/python3", readerVictim: "python_threads.py")
        let busy = try #require(victim.threads["busy"])
        let stopped = try Diagnosis().run(pids: [victim.pid])
        let thread = try #require(stopped.thread(busy)?.python)
        #expect(thread.threadName == "busy")
        #expect(thread.stack.first?.function == "spin")
        #expect(!thread.mayBeTorn)
        let bare = try Diagnosis(builder: SnapshotBuilder(stacks: nil)).run(pids: [victim.pid])
        let torn = try #require(bare.thread(busy)?.python)
        #expect(torn.mayBeTorn)
        #expect(TextRenderer(color: false).render(bare).contains("(read while running: may be torn)"))
        try expectValid([stopped.json(), bare.json()], against: .report)
        // A blocked thread's frames are read without a stop, with or without stacks.
        let waiter = try #require(victim.threads["rlock-waiter"])
        #expect(bare.thread(waiter)?.python?.stack.isEmpty == false)
        #expect(bare.thread(waiter)?.python?.mayBeTorn == false)
        #expect(bare.thread(waiter)?.wait?.lock?.owner == victim.threads["rlock-holder"], "an RLock in the same process names its owner")
    }

    /// A pool that replaced its workers by design (maxtasksperchild) while its parent waits for a
    /// client: no lost worker.
    @Test func aPoolReplacingWorkersByDesignIsNoLostWorker() throws {
        let script = try victimPath("python_services.py")
        var checked = false
        for _ in 0..<5 where !checked {
            let victim = try Victim("/usr/bin/python3", [script, "pool-maxtasks"])
            try victim.waitUntilBlocked(in: "accept4")
            let report = try Diagnosis().run(pids: [victim.pid])
            // Only a tree with an original worker and a replacement tells anything.
            let parent = try #require(report.process(victim.pid))
            let firstThread = parent.threads.map(\.tid).filter { $0 != victim.pid }.min() ?? 0
            let workers = report.processes.filter { $0.ppid == victim.pid }.map(\.pid)
            guard workers.contains(where: { $0 < firstThread }), workers.contains(where: { $0 > firstThread }) else { continue }
            checked = true
            #expect(report.findings(.lostWorker).isEmpty)
            #expect(!report.findings.contains { $0.severity == .error })
        }
        #expect(checked, "no run had both an original and a replaced worker")
    }
}
