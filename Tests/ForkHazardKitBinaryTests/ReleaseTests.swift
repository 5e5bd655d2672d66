import Foundation
import ProcFS
import Testing

@testable import ForkHazardKit

/// Every thread the tool stops is released, even when the tool is killed in the middle of taking
/// stacks of a many-threaded target.
@Suite("Release", .serialized) struct ReleaseTests {
    static let threads = 300

    func stoppedThreads(of pid: Int32) throws -> [Int32] {
        let proc = ProcRoot()
        return try proc.numericEntries("\(pid)/task").filter { tid in
            guard let text = try? proc.text("\(pid)/task/\(tid)/stat"), let stat = ProcStat(parsing: text) else { return false }
            return stat.state == "t" || stat.state == "T"
        }
    }

    @Test(arguments: [SIGKILL, SIGINT, SIGTERM, SIGHUP])
    func killedMidCaptureLeavesNoThreadStopped(signal: Int32) throws {
        let victim = try Victim(VictimBuild.waits, ["many-threads", String(Self.threads)])
        try victim.waitUntilBlocked(in: "pause")
        let arguments = ["--json", String(victim.pid)]
        // How long one whole run takes here (the fastest of three: the first is often cold); the
        // kills are spread over it.
        var whole = Double.infinity
        for _ in 0..<3 {
            let started = Date()
            #expect(reap(try spawnClean(forkhazardBinary(), arguments)) == nil)
            whole = min(whole, Date().timeIntervalSince(started))
        }
        var interrupted = 0
        let rounds = 20
        for round in 0..<rounds {
            let tool = try spawnClean(forkhazardBinary(), arguments)
            usleep(UInt32(whole * 1e6 * (Double(round) + 0.5) / Double(rounds)))
            kill(tool, signal)
            if reap(tool) == signal { interrupted += 1 }
            let stopped = try stoppedThreads(of: victim.pid)
            #expect(stopped.isEmpty, "round \(round): threads left stopped: \(stopped)")
            if !stopped.isEmpty { break }
        }
        #expect(interrupted >= rounds / 4, "only \(interrupted) of \(rounds) rounds were ended by the signal")
        // And the target still works: all its threads are there, none stopped.
        #expect(try ProcRoot().numericEntries("\(victim.pid)/task").count == Self.threads + 1)
    }

    /// Threads that exit while they are being read or captured are dropped quietly.
    @Test func threadsExitingMidCapture() throws {
        let victim = try Victim(VictimBuild.waits, ["churn"])
        for _ in 0..<20 {
            let report = try Diagnosis().run(pids: [victim.pid])
            let process = try #require(report.process(victim.pid))
            #expect(process.threads.count >= 9)
            #expect(!report.notes.map(\.words).contains { $0.contains("stacks not taken") && !$0.contains("exited") },
                    "\(report.notes)")
            #expect(try stoppedThreads(of: victim.pid).isEmpty)
        }
    }

    @Test func aFullDiagnosisReleasesEveryThread() throws {
        let victim = try Victim(VictimBuild.waits, ["many-threads", String(Self.threads)])
        try victim.waitUntilBlocked(in: "pause")
        let report = try Diagnosis().run(pids: [victim.pid])
        let process = try #require(report.process(victim.pid))
        #expect(process.threads.count == Self.threads + 1)
        #expect(process.threads.allSatisfy { $0.stack != nil && $0.pauseMicros != nil })
        #expect(try stoppedThreads(of: victim.pid).isEmpty)
    }

    /// The tracer of each thread of `pid` (0: none).
    func tracers(of pid: Int32) throws -> [Int32] {
        let proc = ProcRoot()
        return try proc.numericEntries("\(pid)/task").map { tid in
            (try? proc.bytes("\(pid)/task/\(tid)/status")).map { ProcStatus(parsing: $0) }?.tracerPid ?? 0
        }
    }

    /// A parent in vfork sleeps uninterruptibly until its child execs or exits: no stop is tried
    /// on it, the diagnosis ends, and nothing of the victim is left traced or stopped.
    @Test func aThreadThatCannotBeStoppedIsNotWaitedFor() throws {
        let victim = try Victim(scenario: "vfork")
        try waitForBlocked(pid: victim.helper, tid: victim.helper, in: "pause")
        try waitUntil(timeout: 10) {
            (try? ProcRoot().bytes("\(victim.pid)/stat")).flatMap { ProcStat(parsing: $0) }?.state == "D"
        }
        let run = try CapturedRun(forkhazardBinary(), ["--json", String(victim.pid)])
        let status = run.wait(timeout: 60)
        #expect(status != nil, "forkhazard ended by itself")
        let report = try jsonObject(run.stdout)
        let notes = report["notes"] as? [String] ?? []
        #expect(notes.contains { $0.contains("\(victim.pid): stack not taken for thread \(victim.pid): it sleeps uninterruptibly") }, "\(notes)")
        for pid in [victim.pid, victim.helper] {
            #expect(try tracers(of: pid).allSatisfy { $0 == 0 })
            #expect(try stoppedThreads(of: pid).isEmpty)
        }
    }

    /// A stop asked of a thread that does not come (here, one in vfork) is given up after a short
    /// wait; the thread stays seized until it stops, and is released then.
    @Test func aStopThatDoesNotComeIsReleasedWhenItDoes() throws {
        let victim = try Victim(scenario: "vfork")
        try waitForBlocked(pid: victim.helper, tid: victim.helper, in: "pause")
        try waitUntil(timeout: 10) {
            (try? ProcRoot().bytes("\(victim.pid)/stat")).flatMap { ProcStat(parsing: $0) }?.state == "D"
        }
        let started = Date()
        #expect(throws: StackError.didNotStop) { try Ptrace.withStopped(victim.pid) { () throws(StackError) in } }
        #expect(Date().timeIntervalSince(started) < 30, "given up, not waited for")
        let tracer = (try? ProcRoot().bytes("\(victim.pid)/task/\(victim.pid)/status")).map { ProcStatus(parsing: $0) }?.tracerPid
        #expect(tracer != nil && tracer != 0, "still seized, its stop pending")
        #expect(Ptrace.releasePending() == 1)
        // The child exits: the parent wakes, stops for the pending interrupt, and is released.
        kill(victim.helper, SIGKILL)
        try waitUntil(timeout: 10) { Ptrace.releasePending() == 0 }
        try waitUntil(timeout: 10) { (try? self.tracers(of: victim.pid))?.allSatisfy { $0 == 0 } == true }
        #expect(try stoppedThreads(of: victim.pid).isEmpty)
    }
}
