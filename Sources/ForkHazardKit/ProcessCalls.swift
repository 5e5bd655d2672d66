import CForkHazard
import Glibc
import Syscalls

/// The ptrace requests the stack capture makes, one wrapper each over CForkHazard's fixed-argument
/// shims (glibc's `ptrace` is variadic): a typed errno, EINTR retried. Only PTRACE_SEIZE and
/// PTRACE_INTERRUPT stop a thread: never PTRACE_ATTACH, never SIGSTOP.
extension SystemCalls {
    static func ptraceSeize(_ tid: Int32) throws(Errno) {
        _ = try retryingNegated { fh_ptrace_seize(tid) }
    }

    static func ptraceInterrupt(_ tid: Int32) throws(Errno) {
        _ = try retryingNegated { fh_ptrace_interrupt(tid) }
    }

    /// Releases a seized thread; it must be in its stop.
    static func ptraceDetach(_ tid: Int32) throws(Errno) {
        _ = try retryingNegated { fh_ptrace_detach(tid) }
    }

    /// Waits at most `timeoutMillis` for an interrupted thread's stop: `noSuchProcess` when it
    /// exited instead, `timedOut` when it did not stop (it is still seized).
    static func waitForStop(_ tid: Int32, timeoutMillis: Int32) throws(Errno) {
        _ = try retryingNegated { fh_wait_stop(tid, timeoutMillis) }
    }

    /// PTRACE_GETREGSET(NT_PRSTATUS) of a stopped thread.
    static func ptraceRegisters(_ tid: Int32) throws(Errno) -> fh_registers {
        var registers = fh_registers()
        _ = try retryingNegated { fh_get_registers(tid, &registers) }
        return registers
    }
}

/// The calls that stop threads, read their memory and end processes, as values: the stack capture
/// and the ending of a job make theirs through one of these, the real calls by default, so that
/// tests can stand in for the kernel and check every path (a thread that exits mid-capture, a read
/// or a release that fails, a process that ignores SIGTERM).
struct ProcessCalls: Sendable {
    var seize: @Sendable (_ tid: Int32) throws(Errno) -> Void
    var interrupt: @Sendable (_ tid: Int32) throws(Errno) -> Void
    var waitForStop: @Sendable (_ tid: Int32, _ timeoutMillis: Int32) throws(Errno) -> Void
    var registers: @Sendable (_ tid: Int32) throws(Errno) -> fh_registers
    var detach: @Sendable (_ tid: Int32) throws(Errno) -> Void
    /// A seized thread that has not stopped, to be released once it has (see `Ptrace.releasePending`).
    var releaseOnceStopped: @Sendable (_ tid: Int32) -> Void
    /// A seized thread enters and leaves the list a signal to the tool releases.
    var markSeized: @Sendable (_ tid: Int32) -> Void
    var unmarkSeized: @Sendable (_ tid: Int32) -> Void
    var readMemory: @Sendable (_ pid: Int32, _ address: UInt64, _ into: UnsafeMutableRawBufferPointer) throws(Errno) -> Int
    var kill: @Sendable (_ pid: Int32, _ signal: Int32) throws(Errno) -> Void
    var waitpid: @Sendable (_ pid: Int32, _ options: Int32) throws(Errno) -> (pid: Int32, status: Int32)

    static let live = ProcessCalls(
        seize: { tid throws(Errno) in try SystemCalls.ptraceSeize(tid) },
        interrupt: { tid throws(Errno) in try SystemCalls.ptraceInterrupt(tid) },
        waitForStop: { tid, timeout throws(Errno) in try SystemCalls.waitForStop(tid, timeoutMillis: timeout) },
        registers: { tid throws(Errno) in try SystemCalls.ptraceRegisters(tid) },
        detach: { tid throws(Errno) in try SystemCalls.ptraceDetach(tid) },
        releaseOnceStopped: { fh_pending_add($0) },
        markSeized: { fh_stopped_add($0) },
        unmarkSeized: { fh_stopped_remove($0) },
        readMemory: { pid, address, buffer throws(Errno) in try SystemCalls.readMemory(pid: pid, at: address, into: buffer) },
        kill: { pid, signal throws(Errno) in try SystemCalls.kill(pid, signal) },
        waitpid: { pid, options throws(Errno) in try SystemCalls.waitpid(pid, options: options) })
}
