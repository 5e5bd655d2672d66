import Foundation
import ProcFS
import Testing

@testable import ForkHazardKit

/// The deadlock proof across processes, and the trees it must call healthy.
@Suite("Deadlocks") struct DeadlockTests {
    @Test func twoProcessesEachReadingThePipeOnlyTheOtherWrites() throws {
        let victim = try Victim(scenario: "pipe-cycle")
        try victim.waitUntilBlocked(in: "read")
        try waitForBlocked(pid: victim.helper, tid: victim.helper, in: "read")
        let report = try Diagnosis().run(pids: [victim.pid])
        #expect(report.verdict == .deadlock)
        #expect(report.findings.map(\.rule) == [.deadlock], "no fork findings: the parent is single-threaded")
        let deadlock = try #require(report.findings.first)
        #expect(deadlock.pids == [victim.pid, victim.helper])
        #expect(Set(deadlock.tids) == [victim.pid, victim.helper])
        guard let facts = deadlock.facts as? DeadlockFacts else { Issue.record("not deadlock facts"); return }
        #expect(Set(facts.cycle ?? []) == [victim.pid, victim.helper])
        let evidence = report.evidence(deadlock)
        #expect(evidence.contains { $0.hasPrefix("cycle: ") && $0.contains("\(victim.pid)") && $0.contains("\(victim.helper)") })
        #expect(evidence.contains { $0.contains("only writers of pipe:[") && $0.contains(": \(victim.helper) can wake it") })
        #expect(evidence.contains { $0.hasPrefix("confirmed by a second look") })
        let cli = try runForkhazard([String(victim.pid)])
        #expect(cli.status == 2)
        #expect(cli.stdout.contains("ERROR deadlock: 2 threads in 2 processes are stuck for good"))
    }

    @Test func poolWhoseWorkerDiedMidTask() throws {
        let script = try victimPath("python_pool_lost.py")
        let victim = try Victim(debianPython, [script])
        // Wait until the replacement worker is there and everything has settled.
        var report: Report?
        let deadline = Date().addingTimeInterval(15)
        while Date() < deadline {
            let attempt = try Diagnosis(builder: SnapshotBuilder(stacks: nil)).run(pids: [victim.pid])
            if attempt.findings.contains(where: { $0.rule == .lostWorker }) {
                report = attempt
                break
            }
            usleep(100_000)
        }
        let found = try #require(report, "no lost-worker finding within 15 s")
        #expect(found.verdict == .deadlock)
        let lost = try #require(found.findings.first { $0.rule == .lostWorker })
        #expect(lost.severity == .error)
        #expect(lost.pids.first == victim.pid)
        #expect(lost.pids.count == 4, "the parent and its three workers")
        #expect(found.evidence(lost).contains { $0.contains("it replaced a worker that died") })
        #expect(found.words(lost).remedy.contains("BrokenProcessPool"))
        #expect(!found.findings.contains { $0.rule == .inheritedLock }, "workers wait on a process-shared semaphore")
        // The workers' shared futex is known to be mapped by the whole pool.
        let shared = found.processes.flatMap(\.threads).compactMap(\.wait?.futex).filter { !$0.private }
        #expect(shared.allSatisfy { ($0.mappedBy?.count ?? 0) == 4 })
    }

    // MARK: healthy trees

    func expectHealthy(_ pid: Int32) throws {
        let report = try Diagnosis().run(pids: [pid])
        #expect(report.findings.isEmpty, "\(report.findings.map { report.words($0).message })")
        #expect(report.verdict == .healthy)
        let cli = try runForkhazard([String(pid)])
        #expect(cli.status == 0)
        #expect(cli.stdout.contains("Verdict: healthy"))
    }

    @Test func shellPipelineOfSleepIntoCat() throws {
        let victim = try ShellVictim("sleep 3600 | cat")
        try waitUntil { descendants(of: victim.pid).count == 2 }
        let cat = try #require(descendants(of: victim.pid).first { (try? ProcRoot().text("\($0)/comm")) == "cat\n" })
        try waitForBlocked(pid: cat, tid: cat, in: "read")
        try expectHealthy(victim.pid)
        // cat alone: its writer, sleep, is a live process outside the diagnosed tree.
        let report = try Diagnosis().run(pids: [cat])
        #expect(report.verdict == .healthy)
        #expect(report.thread(cat)?.wait?.fds?.first?.peers?.count == 1)
    }

    @Test func busyMultiThreadedProcess() throws {
        let victim = try Victim(scenario: "busy")
        try victim.waitUntilBlocked(in: "pause")
        try expectHealthy(victim.pid)
    }

    @Test func parentWaitingForASleepingChild() throws {
        let victim = try Victim(scenario: "wait4")
        try victim.waitUntilBlocked(in: "wait4")
        try expectHealthy(victim.pid)
    }
}
