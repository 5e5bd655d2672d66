import Foundation
import ProcFS
import Testing

@testable import ForkHazardKit

/// Real processes that were called wrong once: healthy trees called stuck or hazardous, and true
/// hangs missed. Each is diagnosed live.
@Suite("Accuracy") struct AccuracyTests {
    let python = "/usr/bin/python3"
    /// Debian's python3, and sid's 3.14 and 3.15 where Scripts/python-roots made them (their own
    /// tests elsewhere say when they are missing).
    static let pythons = [debianPython] + ["3.14", "3.15"].compactMap(sidPython)

    func script(_ name: String) throws -> String {
        try victimPath(name)
    }

    func healthy(_ pid: Int32, _ why: Comment) throws {
        let report = try Diagnosis().run(pids: [pid])
        #expect(report.findings.isEmpty, why, sourceLocation: .__here())
        #expect(report.verdict == .healthy, "\(report.findings.map { report.words($0).message })")
    }

    // MARK: healthy trees

    /// A fork pool started by a single-threaded parent: the pool's handler threads start right
    /// after its workers, in the same clock tick, and were not there at the fork.
    @Test(arguments: pythons)
    func aForkPoolFromASingleThreadedParent(python: String) throws {
        let victim = try Victim(python, [try script("python_services.py"), "pool-clean"])
        var workers: [Int32] = []
        try waitUntil(timeout: 20) {
            workers = descendants(of: victim.pid)
            return workers.count == 4 && workers.allSatisfy { isBlocked(pid: $0, tid: $0, in: "clock_nanosleep") }
        }
        let report = try Diagnosis().run(pids: [victim.pid])
        #expect(report.findings.isEmpty, "\(report.findings.map { report.words($0).message })")
        for worker in workers {
            #expect(report.process(worker)?.forkOrigin?.kind == .forkedWithoutExec)
            #expect(report.process(worker)?.forkOrigin?.threadsAtFork?.map(\.tid) == [victim.pid])
        }
        // run, watching the same kind of pool live, agrees: no fork from a multi-threaded parent.
        let run = try CapturedRun(forkhazardBinary(), ["run", "--json", "--", python, try script("python_services.py"), "pool-quick"])
        #expect(run.wait() == 0)
        let summary = jsonLines(run.stderr).last?["summary"] as? [String: Any]
        #expect(summary?["forksFromThreaded"] as? Int == 0, "\(run.stderr)")
    }

    /// An asyncio service waiting for SIGTERM: epoll_wait on its own socketpair, written only by its
    /// signal handler.
    @Test(arguments: pythons)
    func anIdleAsyncioService(python: String) throws {
        let victim = try Victim(python, [try script("python_services.py"), "asyncio-idle"])
        try victim.waitUntilBlocked(in: "epoll_wait")
        let report = try Diagnosis().run(pids: [victim.pid])
        #expect(report.findings.isEmpty, "\(report.findings.map { report.words($0).message })")
        let wait = try #require(report.thread(victim.pid)?.wait)
        #expect(wait.fds?.first?.watched?.contains { $0.peers?.map(\.pid) == [victim.pid] } == true,
                "it waits on a socket only it holds")
    }

    /// A service whose only way out is Ctrl-C, through the loop's own SIGINT handler
    /// (add_signal_handler): idle, not stuck. (asyncio.run(main()) with main awaiting an Event
    /// nothing sets is a task-deadlock: AsyncioTests.)
    @Test(arguments: ["asyncio-sigint"], pythons)
    func anIdleAsyncioServiceWaitingForCtrlC(mode: String, python: String) throws {
        let victim = try Victim(python, [try script("python_services.py"), mode])
        try victim.waitUntilBlocked(in: "epoll_wait")
        try healthy(victim.pid, "its SIGINT handler wakes it")
    }

    /// A forked child waiting on an Event it made after the fork, set by its SIGTERM handler: the
    /// fork is a hazard, the lock is not inherited.
    @Test(arguments: pythons)
    func aForkedChildWaitingForItsOwnSignalHandler(python: String) throws {
        let victim = try Victim(python, [try script("python_services.py"), "fork-sigterm"])
        try waitForBlocked(pid: victim.helper, tid: victim.helper, in: "futex")
        let report = try Diagnosis().run(pids: [victim.pid])
        #expect(report.findings.filter { $0.severity == .error }.isEmpty, "\(report.findings.map { report.words($0).message })")
        #expect(!report.findings(.forkFromThreaded, naming: victim.helper).isEmpty, "the fork itself is still a hazard")
        #expect(report.thread(victim.helper)?.wait?.lock?.python?.inParent == false, "the Event's lock was made after the fork")
    }

    @Test(arguments: pythons)
    func aThreadWaitingOnAnEventItsSigtermHandlerSets(python: String) throws {
        let victim = try Victim(python, [try script("python_services.py"), "event-sigterm"])
        try victim.waitUntilBlocked(in: "futex")
        try healthy(victim.pid, "only its SIGTERM handler sets the event")
    }

    @Test func aSocketWithItsOwnReceiveTimeout() throws {
        let victim = try Victim(scenario: "socket-timeout")
        try victim.waitUntilBlocked(in: "recvfrom")
        let report = try Diagnosis().run(pids: [victim.pid])
        #expect(report.findings.isEmpty)
        let wait = try #require(report.thread(victim.pid)?.wait)
        #expect(!wait.forever)
        #expect(wait.timeoutSeconds == 600)
        #expect(wait.summary.contains("timeout 600s, the socket's SO_RCVTIMEO"))
    }

    // MARK: hangs that were missed

    @Test func aMainThreadJoiningAThreadInALockOrderDeadlock() throws {
        let victim = try Victim(scenario: "join-deadlock")
        try victim.waitUntilBlocked(in: "futex")
        let locker = victim.helper
        try waitForBlocked(pid: victim.pid, tid: locker, in: "futex")
        let report = try Diagnosis().run(pids: [victim.pid])
        #expect(report.findings.map(\.rule) == [.deadlock])
        let main = try #require(report.thread(victim.pid))
        #expect(main.wait?.lock?.kind == .threadJoin)
        #expect(main.wait?.lock?.joins == locker)
        #expect(main.wait?.summary.contains("pthread_join of thread \(locker)") == true)
        #expect(report.findings.first?.tids.contains(victim.pid) == true, "the joining thread is part of the deadlock")
        // Without stacks, the join is still told from the futex: the joined thread's TID word.
        let bare = try Diagnosis(builder: SnapshotBuilder(stacks: nil)).run(pids: [victim.pid])
        #expect(bare.thread(victim.pid)?.wait?.lock?.joins == locker)
        #expect(bare.findings.first?.tids.contains(victim.pid) == true)
    }

    /// One thread held by a tracer (a debugger on one thread) while main joins it: the process
    /// is not stopped, that thread is, and main waits for it.
    @Test func aThreadHeldByATracer() throws {
        let victim = try Victim(scenario: "join-sleeper")
        let thread = victim.helper
        try waitForBlocked(pid: victim.pid, tid: thread, in: "clock_nanosleep")
        let tracer = try Victim(scenario: "tracer", arguments: [String(thread)])
        try waitUntil { (try? ProcRoot().bytes("\(victim.pid)/task/\(thread)/stat")).flatMap { ProcStat(parsing: $0) }?.state == "t" }
        for stacks in [nil, StackOptions()] {
            let report = try Diagnosis(builder: SnapshotBuilder(stacks: stacks)).run(pids: [victim.pid])
            let finding = try #require(report.findings(.stopped).first, "\(report.findings.map(\.rule))")
            guard let facts = finding.facts as? StoppedFacts else { Issue.record("no stopped facts"); return }
            #expect(facts.threads == [ThreadKey(pid: victim.pid, tid: thread)])
            #expect(facts.tracer?.pid == tracer.pid)
            #expect(facts.waiters == [ThreadKey(pid: victim.pid, tid: victim.pid)], "main joins it")
            #expect(report.words(finding).message.contains("thread \(thread) 'sleeper'"))
            #expect(report.verdict == .hazard)
        }
        #expect((try? ProcRoot().bytes("\(victim.pid)/task/\(thread)/stat")).flatMap { ProcStat(parsing: $0) }?.state == "t",
                "still its tracer's")
    }

    @Test func aStoppedChildHoldsItsParent() throws {
        let victim = try Victim(scenario: "wait4")
        try victim.waitUntilBlocked(in: "wait4")
        kill(victim.helper, SIGSTOP)
        defer { kill(victim.helper, SIGCONT) }
        try waitUntil { (try? ProcRoot().bytes("\(victim.helper)/stat")).flatMap { ProcStat(parsing: $0) }?.state == "T" }
        for stacks in [nil, StackOptions()] {
            let report = try Diagnosis(builder: SnapshotBuilder(stacks: stacks)).run(pids: [victim.pid])
            #expect(report.findings.map(\.rule) == [.stopped])
            #expect(report.verdict == .hazard)
            guard let facts = report.findings.first?.facts as? StoppedFacts else { Issue.record("no stopped facts"); return }
            #expect(facts.processes.map(\.pid) == [victim.helper])
            #expect(facts.threads == nil, "the whole process is stopped")
            #expect(facts.waiters == [ThreadKey(pid: victim.pid, tid: victim.pid)])
            // Taking its stack did not resume it: released, the kernel wakes it only to re-enter
            // its group stop, which on a loaded machine may take a moment; then it stays stopped.
            try waitUntil(timeout: 5) { (try? ProcRoot().bytes("\(victim.helper)/stat")).flatMap { ProcStat(parsing: $0) }?.state == "T" }
            usleep(100_000)
            #expect((try? ProcRoot().bytes("\(victim.helper)/stat")).flatMap { ProcStat(parsing: $0) }?.state == "T")
        }
        let cli = try runForkhazard(["--no-stacks", String(victim.pid)])
        #expect(cli.status == 1)
        #expect(cli.stdout.contains("kill -CONT \(victim.helper)"))
    }

    /// With ASLR off (setarch -R) layouts cannot tell an exec from a fork; the kernel's startup
    /// random bytes can.
    @Test func withASLROffAProgramThatExecsItselfIsNotAFork() throws {
        let victim = try Victim("/usr/bin/setarch", ["-R", VictimBuild.waits, "fork-self-exec"])
        try waitUntil { (try? ProcRoot().numericEntries("\(victim.helper)/task"))?.count == 2 }
        try waitForBlocked(pid: victim.helper, tid: victim.helper, in: "pause")
        let report = try Diagnosis().run(pids: [victim.pid])
        let origin = try #require(report.process(victim.helper)?.forkOrigin)
        #expect(origin.kind == .execed)
        #expect(origin.basis == [.otherStartupRandom])
        #expect(report.findings.isEmpty)
    }

    @Test func withASLROffAForkedChildOnAnInheritedMutexIsStillFound() throws {
        let victim = try Victim("/usr/bin/setarch", ["-R", VictimBuild.waits, "fork-mutex"])
        try waitForBlocked(pid: victim.helper, tid: victim.helper, in: "futex")
        let report = try Diagnosis().run(pids: [victim.pid])
        #expect(report.process(victim.helper)?.forkOrigin?.basis.first == .sameStartupRandom)
        #expect(!report.findings(.inheritedLock, naming: victim.helper).isEmpty)
        #expect(report.verdict == .deadlock)
        // Its personality turns randomisation off: the layout, equal either way, is no evidence.
        #expect(report.process(victim.helper)?.addressRandomizationOff == true)
        #expect(report.process(victim.helper)?.forkOrigin?.basis.contains { if case .sameLayout = $0 { true } else { false } } == false)
        #expect(!report.findings(.inheritedLock, naming: victim.helper).flatMap { report.evidence($0) }.contains { $0.contains("with ASLR on") })
    }

    /// The first diagnosis stops the thread for its stack, and Linux resumes its untimed poll as
    /// restart_syscall; the second must give the same answer.
    @Test func theToolsOwnStopDoesNotChangeTheNextAnswer() throws {
        let victim = try Victim(scenario: "poll-self")
        try victim.waitUntilBlocked(in: "poll")
        let first = try Diagnosis().run(pids: [victim.pid])
        #expect(first.findings.map(\.rule) == [.deadlock])
        try waitForBlocked(pid: victim.pid, tid: victim.pid, in: "restart_syscall")
        for builder in [SnapshotBuilder(), SnapshotBuilder(stacks: nil)] {
            let again = try Diagnosis(builder: builder).run(pids: [victim.pid])
            #expect(again.findings.map(\.rule) == [.deadlock])
            let wait = try #require(again.thread(victim.pid)?.wait)
            #expect(wait.syscall == "restart_syscall" && wait.call?.resumed == .poll && wait.forever)
            #expect(wait.summary.hasSuffix("(forever) [resumed after a stop, as restart_syscall]"))
        }
    }

    /// A pool's worker replaced within the same clock tick as its first workers: only the PID
    /// counter tells the replacement from the originals. The victim makes it so on purpose.
    @Test func aLostWorkerReplacedWithinTheSameTick() throws {
        let victim = try Victim(scenario: "pool-replaced")
        try waitForBlocked(pid: victim.helper, tid: victim.helper, in: "read")
        try victim.waitUntilBlocked(in: "futex")
        let report = try Diagnosis(builder: SnapshotBuilder(stacks: nil)).run(pids: [victim.pid])
        guard let facts = report.findings(.lostWorker).first?.facts as? LostWorkerFacts else {
            Issue.record("no lost-worker: \(report.findings.map { report.words($0).message })")
            return
        }
        #expect(facts.replacements == [victim.helper])
        #expect(facts.originals.count == 2)
        let ticks = Set((facts.originals + facts.replacements).compactMap { report.process($0)?.startTicks })
        #expect(ticks.count == 1, "all in one clock tick")
    }

    /// Python's pool, whose worker kills itself at once: found whatever the clock ticks were.
    @Test func aPythonPoolWhoseWorkerDiedAtOnce() throws {
        let victim = try Victim(python, [try script("python_pool_lost.py"), "fast"])
        var found = false
        try waitUntil(timeout: 15) {
            found = (try? Diagnosis(builder: SnapshotBuilder(stacks: nil)).run(pids: [victim.pid]))?.findings(.lostWorker).isEmpty == false
            return found
        }
        #expect(found)
    }
}
