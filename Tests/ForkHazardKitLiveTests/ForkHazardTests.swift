import Foundation
import ProcFS
import Testing

@testable import ForkHazardKit

/// Fork provenance and the fork-hazard rules on real programs, diagnosed while hung.
@Suite("Fork hazards") struct ForkHazardTests {
    func findings(_ report: Report, _ rule: RuleID, on pid: Int32) -> [Finding] {
        report.findings(rule, naming: pid)
    }

    @Test func cThreadHoldsAMutexWhileMainForks() throws {
        let victim = try Victim(scenario: "fork-mutex")
        let child = victim.helper
        try waitForBlocked(pid: child, tid: child, in: "futex")
        let report = try Diagnosis().run(pids: [victim.pid])
        #expect(report.verdict == .deadlock)
        #expect(report.process(child)?.forkOrigin?.kind == .forkedWithoutExec)
        let holder = try #require(report.process(victim.pid)?.threads.first { $0.name == "holder" })
        let inherited = try #require(findings(report, .inheritedLock, on: child).first)
        #expect(inherited.severity == .error)
        #expect(inherited.tids == [child, holder.tid], "the waiter and the lock's owner")
        #expect(report.evidence(inherited).contains { $0.contains("is owned by TID \(holder.tid) (its mutex __owner), thread 'holder' of parent \(victim.pid)") })
        guard let facts = inherited.facts as? InheritedLockFacts else { Issue.record("not inherited-lock facts"); return }
        #expect(facts.holder == .thread(ThreadKey(pid: victim.pid, tid: holder.tid)))
        #expect(facts.confirmed, "the deadlock proof found the child stuck")
        #expect(report.findings(.deadlock).allSatisfy { $0.pids.contains(victim.pid) }, "no deadlock made only of the child: it is the same cause")
        let warning = try #require(findings(report, .forkFromThreaded, on: child).first)
        #expect(warning.severity == .warning)
        #expect(Set(warning.tids) == [victim.pid, holder.tid])
        #expect(report.words(warning).remedy.contains("posix_spawn"))
        // The command line says the same, with exit status 2.
        let cli = try runForkhazard([String(victim.pid)])
        #expect(cli.status == 2)
        #expect(cli.stdout.contains("ERROR inherited-lock"))
        #expect(cli.stdout.contains("Verdict: deadlock"))
    }

    @Test func cThreadHoldsARwlockForWritingWhileMainForks() throws {
        let victim = try Victim(scenario: "fork-rwlock")
        let child = victim.helper
        try waitForBlocked(pid: child, tid: child, in: "futex")
        let report = try Diagnosis().run(pids: [victim.pid])
        let writer = try #require(report.process(victim.pid)?.threads.first { $0.name == "writer" })
        let lock = try #require(report.thread(child)?.wait?.lock)
        #expect(lock.kind == .pthreadRwlock)
        #expect(lock.owner == writer.tid)
        #expect(lock.ownerSource == .rwlockWriter)
        let inherited = try #require(findings(report, .inheritedLock, on: child).first)
        #expect(inherited.tids == [child, writer.tid])
        #expect(report.verdict == .deadlock)
    }

    // A process, and pool workers, forked while a thread held a threading.Lock: on the CPython
    // versions whose lock layout differs (pyenv's, skipped where missing) and on Debian's python3.
    @Test("A forked process takes a lock held at fork, CPython 3.11 from pyenv", .cpython("3.11"))
    func pythonProcessTakesALockHeldByAThreadAtFork311() throws {
        try pythonChildTakesALockHeldByAThreadAtFork(python: try #require(pythonBinary("3.11")), mode: "fork-lock")
    }

    @Test("A forked process takes a lock held at fork, CPython 3.12 from pyenv", .cpython("3.12"))
    func pythonProcessTakesALockHeldByAThreadAtFork312() throws {
        try pythonChildTakesALockHeldByAThreadAtFork(python: try #require(pythonBinary("3.12")), mode: "fork-lock")
    }

    @Test("A forked process takes a lock held at fork, Debian sid's python3.14 (in a chroot)", .sid("3.14"))
    func pythonProcessTakesALockHeldByAThreadAtFork314() throws {
        try pythonChildTakesALockHeldByAThreadAtFork(python: try #require(sidPython("3.14")), mode: "fork-lock")
    }

    @Test("A forked process takes a lock held at fork, Debian sid's python3.15 (in a chroot)", .sid("3.15"))
    func pythonProcessTakesALockHeldByAThreadAtFork315() throws {
        try pythonChildTakesALockHeldByAThreadAtFork(python: try #require(sidPython("3.15")), mode: "fork-lock")
    }

    @Test("A forked process takes a lock held at fork, Debian's python3")
    func pythonProcessTakesALockHeldByAThreadAtForkDebian() throws {
        try pythonChildTakesALockHeldByAThreadAtFork(python: debianPython, mode: "fork-lock")
    }

    @Test("Pool workers take a lock held at fork, CPython 3.11 from pyenv", .cpython("3.11"))
    func pythonPoolWorkersTakeALockHeldByAThreadAtFork311() throws {
        try pythonChildTakesALockHeldByAThreadAtFork(python: try #require(pythonBinary("3.11")), mode: "pool-lock")
    }

    @Test("Pool workers take a lock held at fork, CPython 3.12 from pyenv", .cpython("3.12"))
    func pythonPoolWorkersTakeALockHeldByAThreadAtFork312() throws {
        try pythonChildTakesALockHeldByAThreadAtFork(python: try #require(pythonBinary("3.12")), mode: "pool-lock")
    }

    @Test("Pool workers take a lock held at fork, Debian sid's python3.14 (in a chroot)", .sid("3.14"))
    func pythonPoolWorkersTakeALockHeldByAThreadAtFork314() throws {
        try pythonChildTakesALockHeldByAThreadAtFork(python: try #require(sidPython("3.14")), mode: "pool-lock")
    }

    @Test("Pool workers take a lock held at fork, Debian sid's python3.15 (in a chroot)", .sid("3.15"))
    func pythonPoolWorkersTakeALockHeldByAThreadAtFork315() throws {
        try pythonChildTakesALockHeldByAThreadAtFork(python: try #require(sidPython("3.15")), mode: "pool-lock")
    }

    @Test("Pool workers take a lock held at fork, Debian's python3")
    func pythonPoolWorkersTakeALockHeldByAThreadAtForkDebian() throws {
        try pythonChildTakesALockHeldByAThreadAtFork(python: debianPython, mode: "pool-lock")
    }

    func pythonChildTakesALockHeldByAThreadAtFork(python: String, mode: String) throws {
        let victim = try Victim(python, [try script("python_fork.py"), mode])
        let child = victim.helper
        // A pool worker waits for its first task on the task queue's shared semaphore, then on the lock.
        try waitForPrivateFutex(pid: child, tid: child)
        let report = try Diagnosis().run(pids: [victim.pid])
        try expectPythonInheritedLock(report, parent: victim.pid, child: child)
    }

    func expectPythonInheritedLock(_ report: Report, parent: Int32, child: Int32) throws {
        #expect(report.verdict == .deadlock)
        let wait = try #require(report.thread(child)?.wait)
        #expect(wait.lock?.kind == .cpythonLock)
        #expect(wait.lock?.recordsNoOwner == true)
        let inherited = try #require(findings(report, .inheritedLock, on: child).first)
        // A threading.Lock records no owner: the finding names the parent's threads alive at fork,
        // by their Python names, and the lock by the variable the child's frame reaches it as.
        let holder = try #require(report.process(parent)?.threads.first { $0.python?.threadName == "holder" })
        #expect(inherited.tids.contains(holder.tid), "points at the parent's threads alive at fork")
        #expect(wait.lock?.python?.path == "lock")
        #expect(report.evidence(inherited).contains { $0.contains("a Lock `lock` records no owner") })
        #expect(report.evidence(inherited).contains { $0.contains("'holder' \(holder.tid)") })
        let warning = try #require(findings(report, .forkFromThreaded, on: child).first)
        #expect(report.evidence(warning).contains { $0.hasPrefix("TID \(holder.tid) '") })
        #expect(report.words(warning).remedy.contains("spawn"))
    }

    @Test func openMPRegionInTheParentThenInAForkedChild() throws {
        let binary = VictimBuild.compile("gomp_fork.c", output: "gomp_fork", flags: ["-fopenmp"])
        let victim = try Victim(binary, [], environment: ["OMP_WAIT_POLICY": "passive"])
        let child = victim.helper
        try waitForBlocked(pid: child, tid: child, in: "futex")
        let report = try Diagnosis().run(pids: [victim.pid])
        #expect(report.thread(child)?.wait?.lock?.kind == .libgompBarrier)
        let inherited = try #require(findings(report, .inheritedLock, on: child).first)
        #expect(report.evidence(inherited).contains { $0.contains("a libgomp barrier has no owner") })
        #expect(!findings(report, .forkFromThreaded, on: child).isEmpty)
        #expect(report.words(inherited).remedy.contains("OpenMP"))
        #expect(report.verdict == .deadlock)
    }

    @Test func threadedParentWithASleepingForkedChildIsAHazard() throws {
        let victim = try Victim(scenario: "fork-sleep")
        try waitForBlocked(pid: victim.helper, tid: victim.helper, in: "clock_nanosleep")
        let report = try Diagnosis().run(pids: [victim.pid])
        #expect(report.findings.map(\.rule) == [.forkFromThreaded])
        #expect(report.verdict == .hazard)
        let cli = try runForkhazard([String(victim.pid)])
        #expect(cli.status == 1)
        #expect(cli.stdout.contains("Verdict: hazard"))
    }

    // MARK: negatives

    @Test func threadedParentThatForksAndExecs() throws {
        let victim = try Victim(scenario: "fork-exec")
        try waitForBlocked(pid: victim.helper, tid: victim.helper, in: "clock_nanosleep")
        let report = try Diagnosis().run(pids: [victim.pid])
        #expect(report.process(victim.helper)?.forkOrigin?.kind == .execed)
        #expect(report.findings.isEmpty)
        #expect(report.verdict == .healthy)
    }

    @Test func singleThreadedFork() throws {
        let victim = try Victim(scenario: "wait4")
        try victim.waitUntilBlocked(in: "wait4")
        let report = try Diagnosis().run(pids: [victim.pid])
        let origin = try #require(report.process(victim.helper)?.forkOrigin)
        #expect(origin.kind == .forkedWithoutExec)
        #expect(origin.threadsAtFork?.count == 1)
        #expect(report.findings.isEmpty)
    }

    @Test func multiprocessingSpawnWithThreadsInTheParent() throws {
        let victim = try Victim(debianPython, [try script("python_fork.py"), "spawn"])
        try waitForBlocked(pid: victim.helper, tid: victim.helper, in: "clock_nanosleep")
        let report = try Diagnosis().run(pids: [victim.pid])
        #expect(report.process(victim.helper)?.forkOrigin?.kind == .execed)
        #expect(report.findings.isEmpty, "\(report.findings.map { report.words($0).message })")
    }

    func script(_ name: String) throws -> String {
        try victimPath(name)
    }
}
