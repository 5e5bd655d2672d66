import CForkHazard
import Foundation
import ProcFS
import Syscalls
import Testing

@testable import ForkHazardKit

/// Calls that all fail: a test replaces the ones its path makes, and any other call shows up as a
/// failure of the path rather than a real system call.
extension ProcessCalls {
    static let unavailable = ProcessCalls(
        seize: { _ throws(Errno) in throw Errno(ENOSYS) },
        interrupt: { _ throws(Errno) in throw Errno(ENOSYS) },
        waitForStop: { _, _ throws(Errno) in throw Errno(ENOSYS) },
        registers: { _ throws(Errno) in throw Errno(ENOSYS) },
        detach: { _ throws(Errno) in throw Errno(ENOSYS) },
        releaseOnceStopped: { _ in },
        markSeized: { _ in },
        unmarkSeized: { _ in },
        readMemory: { _, _, _ throws(Errno) in throw Errno(ENOSYS) },
        kill: { _, _ throws(Errno) in throw Errno(ENOSYS) },
        waitpid: { _, _ throws(Errno) in throw Errno(ENOSYS) })
}

/// A thread's stop, as a stand-in kernel sees it: every call the capture makes, in order, and a
/// failure at whichever step a test names.
final class FakeTracee: @unchecked Sendable {
    enum Step: Hashable { case seize, interrupt, waitForStop, registers, readMemory, detach }

    enum Call: Equatable {
        case seize, markSeized, interrupt, waitForStop, registers, readMemory(address: UInt64, count: Int), whileStopped
        case detach, releaseOnceStopped, unmarkSeized, kill
    }

    let tid: Int32 = 4_100_001
    let sp: UInt64 = 0x7ffd_0000_1000
    let pc: UInt64 = 0x5555_0000_4242
    /// The bytes of its stack from its stack pointer up.
    let stack: [UInt8] = (0..<64).map { UInt8($0 * 3 % 256) }
    private let failures: [Step: Errno]
    private let lock = NSLock()
    private var log: [Call] = []

    init(failing failures: [Step: Errno] = [:]) {
        self.failures = failures
    }

    var calls: [Call] { lock.withLock { log } }

    func record(_ call: Call) { lock.withLock { log.append(call) } }

    private func step(_ step: Step, _ call: Call) throws(Errno) {
        record(call)
        if let failure = failures[step] { throw failure }
    }

    var processCalls: ProcessCalls {
        var calls = ProcessCalls.unavailable
        calls.seize = { _ throws(Errno) in try self.step(.seize, .seize) }
        calls.markSeized = { _ in self.record(.markSeized) }
        calls.interrupt = { _ throws(Errno) in try self.step(.interrupt, .interrupt) }
        calls.waitForStop = { _, _ throws(Errno) in try self.step(.waitForStop, .waitForStop) }
        calls.registers = { _ throws(Errno) in
            try self.step(.registers, .registers)
            var registers = fh_registers()
            registers.sp = self.sp
            registers.pc = self.pc
            return registers
        }
        calls.readMemory = { _, address, buffer throws(Errno) in
            try self.step(.readMemory, .readMemory(address: address, count: buffer.count))
            let count = min(buffer.count, self.stack.count)
            buffer.copyBytes(from: self.stack[..<count])
            return count
        }
        calls.detach = { _ throws(Errno) in try self.step(.detach, .detach) }
        calls.releaseOnceStopped = { _ in self.record(.releaseOnceStopped) }
        calls.unmarkSeized = { _ in self.record(.unmarkSeized) }
        calls.kill = { _, _ throws(Errno) in self.record(.kill) }
        return calls
    }

    /// Captures the thread's stack through the stand-in, from a stack mapping that ends `room`
    /// bytes above the stack pointer.
    func capture(room: UInt64 = 48, scratch: Int = 4096) throws(StackError) -> StackCapture {
        let line = "\(String(sp - 0x1000, radix: 16))-\(String(sp + room, radix: 16)) rw-p 00000000 00:00 0    [stack]"
        let mapping = MemoryMapping(parsing: Substring(line))
        return try Ptrace.capture(tid: tid, pid: tid, scratch: StackScratch(bytes: scratch),
                                  stackMapping: { sp in mapping.flatMap { $0.contains(sp) ? $0 : nil } },
                                  whileStopped: { self.record(.whileStopped) }, calls: processCalls)
    }
}

/// The stop of one thread for its stack, through a stand-in kernel: released on every path, the
/// error of each step told apart, and nothing but PTRACE_SEIZE and PTRACE_INTERRUPT to stop it.
@Suite("Stack capture through ProcessCalls") struct StackCaptureTests {
    @Test func aStoppedThreadIsCopiedThenReleased() throws {
        let tracee = FakeTracee()
        let capture = try tracee.capture(room: 48)
        #expect(tracee.calls == [.seize, .markSeized, .interrupt, .waitForStop, .registers, .readMemory(address: tracee.sp, count: 48),
                                 .whileStopped, .detach, .unmarkSeized])
        #expect(capture.registers.pc == tracee.pc)
        #expect(capture.stackBase == tracee.sp)
        #expect(capture.stack == Array(tracee.stack[..<48]), "the copy stops at the end of the stack's mapping")
        #expect(!tracee.calls.contains(.kill), "a thread is never stopped by a signal")
    }

    /// A thread that exits between its seizure and its stop: a note-less `exited`, and the release
    /// is still made.
    @Test(arguments: [FakeTracee.Step.interrupt, .waitForStop])
    func aThreadThatExitsMidCaptureIsStillReleased(at step: FakeTracee.Step) {
        let tracee = FakeTracee(failing: [step: .noSuchProcess])
        #expect(throws: StackError.exited) { try tracee.capture() }
        #expect(tracee.calls.suffix(2) == [.detach, .unmarkSeized])
        #expect(!tracee.calls.contains(.registers))
    }

    @Test func aThreadGoneBeforeItsSeizureIsLeftAlone() {
        let gone = FakeTracee(failing: [.seize: .noSuchProcess])
        #expect(throws: StackError.exited) { try gone.capture() }
        #expect(gone.calls == [.seize], "nothing to stop, nothing to release")
        let refused = FakeTracee(failing: [.seize: .notPermitted])
        #expect(throws: StackError.notPermitted(errno: EPERM)) { try refused.capture() }
        #expect(refused.calls == [.seize])
    }

    /// An unreadable stack leaves the copy empty; the registers (the stopped PC) are kept.
    @Test func aFailedStackReadKeepsTheRegisters() throws {
        let tracee = FakeTracee(failing: [.readMemory: Errno(EFAULT)])
        let capture = try tracee.capture()
        #expect(capture.stack.isEmpty)
        #expect(capture.registers.pc == tracee.pc)
        #expect(tracee.calls.suffix(3) == [.whileStopped, .detach, .unmarkSeized])
    }

    @Test func aFailedRegisterReadIsToldAndReleased() {
        let tracee = FakeTracee(failing: [.registers: .noSuchProcess])
        #expect(throws: StackError.failed(step: "PTRACE_GETREGSET", errno: ESRCH)) { try tracee.capture() }
        #expect(!tracee.calls.contains { if case .readMemory = $0 { return true } else { return false } })
        #expect(tracee.calls.suffix(3) == [.whileStopped, .detach, .unmarkSeized])
    }

    /// A release that fails (the thread was killed in its stop) loses neither the copy nor the
    /// thread's removal from the list a signal to the tool releases.
    @Test func aFailedReleaseKeepsTheCopy() throws {
        let tracee = FakeTracee(failing: [.detach: .noSuchProcess])
        let capture = try tracee.capture(room: 16)
        #expect(capture.stack == Array(tracee.stack[..<16]))
        #expect(tracee.calls.suffix(2) == [.detach, .unmarkSeized])
    }

    /// A thread that does not stop in time cannot be detached yet: it is handed on to be released
    /// once it stops.
    @Test func aThreadThatDoesNotStopIsReleasedOnceItStops() {
        let tracee = FakeTracee(failing: [.waitForStop: .timedOut])
        #expect(throws: StackError.didNotStop) { try tracee.capture() }
        #expect(tracee.calls == [.seize, .markSeized, .interrupt, .waitForStop, .releaseOnceStopped, .unmarkSeized])
    }

    @Test func anotherFailureOfTheStopIsNamed() {
        let tracee = FakeTracee(failing: [.interrupt: Errno(EIO)])
        #expect(throws: StackError.failed(step: "PTRACE_INTERRUPT", errno: EIO)) { try tracee.capture() }
        #expect(tracee.calls.suffix(2) == [.detach, .unmarkSeized])
    }
}

/// A job's processes as a stand-in kernel keeps them: a fixture /proc (each process's `stat`)
/// that `kill` and `waitpid` change as the kernel would, with this process as the job's
/// subreaper, and every signal recorded.
final class FakeJob: @unchecked Sendable {
    struct Process {
        var ppid: Int32
        var ignoresTerm = false
        /// Set once it has ended: its wait status.
        var status: Int32?
    }

    let tool = getpid()
    let directory: URL
    var proc: ProcRoot { ProcRoot(directory.path) }
    private let lock = NSLock()
    private var processes: [Int32: Process]
    private var log: [(pid: Int32, signal: Int32, at: Date)] = []
    private var waits: [Int32] = []

    init(_ processes: [Int32: Process]) throws {
        self.processes = processes
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("fh-job-\(getpid())-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try lock.withLock { try write() }
    }

    deinit { try? FileManager.default.removeItem(at: directory) }

    var signals: [(pid: Int32, signal: Int32, at: Date)] { lock.withLock { log } }
    /// The `options` of each waitpid.
    var waitOptions: [Int32] { lock.withLock { waits } }
    /// The processes not reaped yet.
    var left: Set<Int32> { lock.withLock { Set(processes.keys) } }

    /// The process ends by itself with `status`.
    func exit(_ pid: Int32, status: Int32) throws {
        try lock.withLock {
            end(pid, status: status)
            try write()
        }
    }

    private func end(_ pid: Int32, status: Int32) {
        processes[pid]?.status = status
        // Its children are orphans: they come to the subreaper.
        for (child, process) in processes where process.ppid == pid { processes[child]?.ppid = tool }
    }

    private func write() throws {
        let fm = FileManager.default
        for entry in try fm.contentsOfDirectory(atPath: directory.path) { try fm.removeItem(at: directory.appendingPathComponent(entry)) }
        for (pid, process) in processes.merging([tool: Process(ppid: 1)], uniquingKeysWith: { a, _ in a }) {
            let folder = directory.appendingPathComponent(String(pid))
            try fm.createDirectory(at: folder, withIntermediateDirectories: true)
            let state = process.status == nil ? "S" : "Z"
            let stat = "\(pid) (fake) \(state) \(process.ppid) \(pid) \(pid) 0 -1 4194560 0 0 0 0 0 0 0 0 20 0 1 0 100\n"
            try Data(stat.utf8).write(to: folder.appendingPathComponent("stat"))
        }
    }

    var processCalls: ProcessCalls {
        var calls = ProcessCalls.unavailable
        calls.kill = { pid, signal throws(Errno) in
            self.lock.lock()
            defer { self.lock.unlock() }
            self.log.append((pid, signal, Date()))
            guard let process = self.processes[pid] else { throw Errno.noSuchProcess }
            guard process.status == nil, !(signal == SIGTERM && process.ignoresTerm) else { return }
            self.end(pid, status: signal)
            try? self.write()
        }
        calls.waitpid = { pid, options throws(Errno) in
            self.lock.lock()
            defer { self.lock.unlock() }
            self.waits.append(options)
            let children = self.processes.filter { $0.value.ppid == self.tool && (pid == -1 || $0.key == pid) }
            guard !children.isEmpty else { throw Errno.noChild }
            guard let (child, process) = children.filter({ $0.value.status != nil }).min(by: { $0.key < $1.key }) else {
                // A blocking wait would wait for good: no process of a stand-in ends by itself.
                if options & WNOHANG != 0 { return (0, 0) } else { throw Errno(EDEADLK) }
            }
            self.processes[child] = nil
            try? self.write()
            return (child, process.status ?? 0)
        }
        return calls
    }
}

/// Ending a job through a stand-in kernel: SIGTERM, the grace, SIGKILL, reaping, and never a
/// signal to a process this one did not start.
@Suite("Ending a job through ProcessCalls") struct JobControlTests {
    let root: Int32 = 4_200_001
    let worker: Int32 = 4_200_002

    @Test func sigtermThenSigkillAfterTheGraceAndEverythingReaped() throws {
        let job = try FakeJob([root: .init(ppid: getpid()), worker: .init(ppid: root, ignoresTerm: true)])
        var control = JobControl(owned: true, proc: job.proc, calls: job.processCalls)
        control.root = root
        let members = control.members(seen: [root, worker])
        #expect(members == [root, worker])
        let grace = 0.3
        control.end(members, grace: grace, leftBehindOnly: false)
        let signals = job.signals
        #expect(signals.filter { $0.signal == SIGTERM }.map(\.pid) == [root, worker], "SIGTERM once to each, by PID")
        let kills = signals.filter { $0.signal == SIGKILL }
        #expect(!kills.isEmpty && kills.allSatisfy { $0.pid == worker }, "SIGKILL only to what outlived SIGTERM")
        if let first = signals.first, let kill = kills.first {
            #expect(kill.at.timeIntervalSince(first.at) >= grace, "SIGKILL comes after the grace")
        }
        #expect(job.left.isEmpty, "both reaped")
        #expect(control.rootStatus == SIGTERM, "the root's wait status kept")
    }

    /// A PID on the job's list whose process is no descendant of this one (its number went to
    /// another process) gets no signal; neither does anything of a tree this process only watches.
    @Test func noSignalToAProcessThisOneDidNotStart() throws {
        let stranger: Int32 = 4_200_009
        let job = try FakeJob([root: .init(ppid: getpid()), stranger: .init(ppid: 1)])
        var control = JobControl(owned: true, proc: job.proc, calls: job.processCalls)
        control.root = root
        control.end([root, stranger], grace: 0.1, leftBehindOnly: false)
        #expect(job.signals.map(\.pid) == [root])
        #expect(job.left == [stranger])

        let watched = try FakeJob([root: .init(ppid: getpid()), worker: .init(ppid: root)])
        var watching = JobControl(owned: false, proc: watched.proc, calls: watched.processCalls)
        watching.root = root
        watching.end([root, worker], grace: 0.1, leftBehindOnly: false)
        watching.reapChildren()
        #expect(watched.signals.isEmpty, "watch signals nothing")
        #expect(watched.waitOptions.isEmpty, "and reaps nothing")
    }

    /// The root reaped, what it left running (an orphan, now this process's child) is the job's
    /// and is ended; the root is not waited for again.
    @Test func whatTheCommandLeftBehindIsEndedWithoutTheRoot() throws {
        let daemon: Int32 = 4_200_003
        let job = try FakeJob([root: .init(ppid: getpid()), daemon: .init(ppid: root)])
        var control = JobControl(owned: true, proc: job.proc, calls: job.processCalls)
        control.root = root
        try job.exit(root, status: 7 << 8)
        control.reapChildren()
        #expect(control.rootStatus == 7 << 8)
        let left = control.leftBehind(seen: [root])
        #expect(left == [daemon], "the orphan, though never seen in the tree")
        control.end(left, grace: 0.1, leftBehindOnly: true)
        #expect(job.signals.map(\.pid) == [daemon])
        #expect(job.left.isEmpty)
        #expect(!job.waitOptions.contains(0), "no blocking wait: the root is reaped already")
    }
}
