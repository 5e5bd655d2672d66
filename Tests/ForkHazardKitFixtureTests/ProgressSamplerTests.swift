import Foundation
import ProcFS
import Testing

@testable import ForkHazardKit

/// Progress as `run` and `watch` judge it, from fixture /proc trees whose threads' system calls
/// change between samples.
@Suite("Progress sampling") struct ProgressSamplerTests {
    static func number(_ name: String) -> Int { SyscallNames.number(name, on: .host) ?? -2 }

    /// A `/proc/PID/task/TID/syscall` line of `name` with these arguments (the rest 0).
    static func line(_ name: String, _ args: UInt64...) -> String {
        let all = (args + Array(repeating: 0, count: 6 - args.count)).map { "0x" + String($0, radix: 16) }
        return "\(number(name)) \(all.joined(separator: " ")) 0x7ffd00001000 0x7f0000001234"
    }

    static func state(_ line: String) -> SyscallState { SyscallState(parsing: line)! }

    let futexForever = line("futex", 0x5000, 0x80)
    let futexTimed = line("futex", 0x5000, 0x80, 0, 0x7ffd00002000)

    @Test func aWaitResumedAsRestartSyscallIsTheSameWait() {
        let restarted = Self.line("restart_syscall", 0x5000, 0x80)
        #expect(ProgressSampler.sameWait(Self.state(futexForever), Self.state(restarted)))
        #expect(!ProgressSampler.sameWait(Self.state(futexForever), Self.state(Self.line("restart_syscall", 0x6000, 0x80))),
                "other arguments: another wait")
        #expect(!ProgressSampler.sameWait(Self.state(futexForever), Self.state(Self.line("read", 0x5000, 0x80))))
    }

    @Test func timedWaitsEndByThemselves() {
        let sleep = Self.state(Self.line("clock_nanosleep", 1, 0, 0x7ffd00003000))
        #expect(ProgressSampler.bothTimed(sleep, Self.state(futexTimed)))
        #expect(!ProgressSampler.bothTimed(sleep, Self.state(futexForever)))
        #expect(ProgressSampler.outsideAWait(.running) && ProgressSampler.outsideAWait(.notInSyscall(sp: 1, pc: 2)))
        #expect(!ProgressSampler.outsideAWait(Self.state(futexForever)))
    }

    /// A fixture tree of one process whose threads' system calls a test sets.
    final class Tree {
        let pid: Int32 = 4_300_001
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("fh-progress-\(getpid())-\(UUID().uuidString)")
        var proc: ProcRoot { ProcRoot(directory.path) }

        func set(_ tid: Int32, _ syscall: String, switches: Int = 1) throws {
            let task = directory.appendingPathComponent("\(pid)/task/\(tid)")
            try FileManager.default.createDirectory(at: task, withIntermediateDirectories: true)
            try Data((syscall + "\n").utf8).write(to: task.appendingPathComponent("syscall"))
            let status = "Name:\tfake\nvoluntary_ctxt_switches:\t\(switches)\nnonvoluntary_ctxt_switches:\t0\n"
            try Data(status.utf8).write(to: task.appendingPathComponent("status"))
        }

        deinit { try? FileManager.default.removeItem(at: directory) }
    }

    /// One thread stuck for good, another going from one timed wait to the next: a stall, which
    /// the ticking thread does not hide; once diagnosed, the next look waits for another stall.
    @Test func aTickingThreadDoesNotHideAStall() throws {
        let tree = Tree()
        try tree.set(tree.pid, futexForever)
        try tree.set(tree.pid + 1, Self.line("clock_nanosleep", 1, 0, 0x7ffd00003000), switches: 1)
        var sampler = ProgressSampler(proc: tree.proc, stallAfter: 0.5, idleLimit: nil)
        #expect(sampler.sample([tree.pid]) == nil, "threads seen for the first time are progress")
        Thread.sleep(forTimeInterval: 0.6)
        try tree.set(tree.pid + 1, futexTimed, switches: 2)
        guard case .stalled? = sampler.sample([tree.pid]) else { Issue.record("no stall"); return }
        sampler.looking()
        #expect(sampler.sample([tree.pid]) == nil, "a stall later, not at once")
    }

    /// A thread that runs is at work, the same thread sample after sample; the idle limit counts
    /// from the last progress.
    @Test func aRunningThreadIsProgress() throws {
        let tree = Tree()
        try tree.set(tree.pid, futexForever)
        var sampler = ProgressSampler(proc: tree.proc, stallAfter: 0.1, idleLimit: 0.1)
        _ = sampler.sample([tree.pid])
        try tree.set(tree.pid, "running")
        _ = sampler.sample([tree.pid])
        Thread.sleep(forTimeInterval: 0.15)
        #expect(sampler.sample([tree.pid]) == nil, "still running: progress")
        try tree.set(tree.pid, futexForever)
        #expect(sampler.sample([tree.pid]) == nil)
        Thread.sleep(forTimeInterval: 0.15)
        guard case .idleLimit? = sampler.sample([tree.pid]) else { Issue.record("no idle limit"); return }
    }
}
