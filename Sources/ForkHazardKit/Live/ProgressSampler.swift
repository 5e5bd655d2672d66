#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import ProcFS

/// Samples every thread's wait and context switches, and tells when the tree has been quiet long
/// enough to be diagnosed. Progress is a thread that changed its wait, ran, started or ended; a
/// thread that wakes on a timer and returns to the same wait, or goes from one timed wait to
/// another (a monitor thread sleeping, then waiting on an event with a timeout), is no progress. A
/// stall is a thread that has sat in the same wait, untouched, for `stallAfter`, with no progress
/// anywhere for as long: then the tree is diagnosed, and only a proof that it is stuck is acted on.
struct ProgressSampler {
    /// A thread as one sample saw it.
    struct ThreadSample: Equatable {
        /// Its `/proc/PID/task/TID/syscall`.
        var call: SyscallState
        var switches: UInt64
    }

    /// A quiet tree that is due to be looked at.
    enum Quiet: Equatable {
        /// A stall, with the time since the last progress: time for a diagnosis.
        case stalled(seconds: Double)
        /// No progress for the idle limit, for this long.
        case idleLimit(seconds: Double)
    }

    let proc: ProcRoot
    let stallAfter: Double
    let idleLimit: Double?

    /// Each thread at the last sample, and since when it has not changed.
    private var samples: [Int32: ThreadSample] = [:]
    private var unchangedSince: [Int32: Date] = [:]
    /// The last time a thread changed its wait, ran, started or ended.
    private var lastProgress = Date()
    /// The last diagnosis; the next comes a stall later.
    private var lastLook = Date.distantPast
    /// A stall's diagnosis proved the tree stuck; no more looks until it moves.
    private var provenStuck = false

    init(proc: ProcRoot, stallAfter: Double, idleLimit: Double?) {
        self.proc = proc
        self.stallAfter = stallAfter
        self.idleLimit = idleLimit
    }

    /// Samples the threads of `tree`; what is due, if the tree has been quiet long enough. A
    /// thread whose system call cannot be read (or parsed) is left out of the sample.
    mutating func sample(_ tree: Set<Int32>) -> Quiet? {
        let now = Date()
        var current: [Int32: ThreadSample] = [:]
        var progress = false
        for pid in tree {
            for tid in (try? proc.numericEntries("\(pid)/task")) ?? [] {
                guard let call = (try? proc.text("\(pid)/task/\(tid)/syscall")).flatMap(SyscallState.init(parsing:)) else { continue }
                let status = (try? proc.bytes("\(pid)/task/\(tid)/status")).map { ProcStatus(parsing: $0) }
                let sample = ThreadSample(call: call, switches: (status?.voluntaryContextSwitches ?? 0) &+ (status?.nonvoluntaryContextSwitches ?? 0))
                current[tid] = sample
                if Self.outsideAWait(call) { progress = true }
                if let old = samples[tid] {
                    if !Self.sameWait(old.call, call), !Self.bothTimed(old.call, call) { progress = true }
                    if old != sample { unchangedSince[tid] = now }
                } else {
                    progress = true
                    unchangedSince[tid] = now
                }
            }
        }
        if Set(current.keys) != Set(samples.keys) { progress = true }
        samples = current
        unchangedSince = unchangedSince.filter { current[$0.key] != nil }
        if progress {
            lastProgress = now
            provenStuck = false
        }
        if let idleLimit, now.timeIntervalSince(lastProgress) >= idleLimit {
            return .idleLimit(seconds: now.timeIntervalSince(lastProgress))
        }
        let quiet = now.timeIntervalSince(max(lastProgress, lastLook))
        let stalled = unchangedSince.values.contains { now.timeIntervalSince($0) >= stallAfter }
        guard !provenStuck, quiet >= stallAfter, stalled else { return nil }
        return .stalled(seconds: now.timeIntervalSince(lastProgress))
    }

    /// A diagnosis of the quiet tree begins: the next comes a stall later.
    mutating func looking() {
        lastLook = Date()
    }

    /// The diagnosis proved the tree stuck: no more looks until it moves.
    mutating func provedStuck() {
        provenStuck = true
    }

    /// Running, or stopped outside a system call (a page fault): at work, not waiting.
    static func outsideAWait(_ call: SyscallState) -> Bool {
        switch call {
        case .running, .notInSyscall: return true
        case .inSyscall: return false
        }
    }

    /// Two samples of one thread are waits that each end by themselves: a timer's thread at work.
    static func bothTimed(_ a: SyscallState, _ b: SyscallState) -> Bool {
        WaitDecoder.wakesByItself(a, on: .host) && WaitDecoder.wakesByItself(b, on: .host)
    }

    /// Two samples of one thread are the same wait: the same call with the same arguments, or that
    /// call resumed as `restart_syscall` after a stop (its argument registers unchanged).
    static func sameWait(_ a: SyscallState, _ b: SyscallState) -> Bool {
        guard a != b else { return true }
        guard case .inSyscall(_, let before, _, _) = a, case .inSyscall(let number, let after, _, _) = b else { return false }
        return before == after && SyscallNames.name(number, on: .host) == "restart_syscall"
    }
}
