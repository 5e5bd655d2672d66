import Testing

@testable import ForkHazardKit

/// `task-deadlock` on synthetic trees: an asyncio loop that nothing can run again, and the cases
/// where something still can.
@Suite("Rules on synthetic trees, asyncio")
struct TaskDeadlockTests {
    static let loop: UInt64 = 0x7000

    static func task(_ address: UInt64, _ name: String, awaits awaited: UInt64?, task isTask: Bool = true, line: Int = 10) -> TaskInfo {
        TaskInfo(address: address, name: name, state: .pending,
                 coroutines: [PythonFrameInfo(function: name, file: "/app/service.py", line: line)],
                 awaiting: awaited.map { TaskInfo.Awaited(address: $0, typeName: isTask ? "_asyncio.Task" : "_asyncio.Future", isTask: isTask) },
                 awaitedBy: [], loop: loop)
    }

    /// A Python process whose main thread runs an asyncio loop blocked in epoll_wait on `watching`
    /// (by default its own wakeup socket), with `tasks`.
    static func tree(_ tasks: [TaskInfo], watching: [FdDescription]? = nil, timeout: Double? = nil, caught: UInt64? = 0x2,
                     others: [SyntheticTree.Thread] = [], ready: Int? = 0, timers: Int? = 0, signals: [Int32]? = []) -> SyntheticTree {
        var tree = SyntheticTree()
        let wakeup = FdDescription.unixSocket(fd: 6, inode: 500, peerHolders: [100])
        var epoll = FdDescription(fd: 5, kind: .epoll)
        epoll.watched = watching ?? [wakeup]
        let wait = ThreadWait.poll([epoll], syscall: .epollWait, timeout: timeout)
        tree.process(100, name: "python3", runtimes: [.python], caught: caught,
                     threads: [.init(100, "MainThread", wait: wait)] + others)
        tree.processes[0].python = PythonProcessInfo(version: "3.12.8", asyncio: AsyncioInfo(
            tasks: tasks, loops: [LoopInfo(address: loop, tid: 100, runningTask: nil, ready: ready, timers: timers, nextTimerSeconds: nil,
                                           watchedFds: [6], wakeupFd: 6, signalHandlers: signals)]))
        return tree
    }

    static let cycle = [task(0x1000, "main", awaits: 0x2000), task(0x2000, "publish", awaits: 0x3000, line: 12),
                        task(0x3000, "ingest", awaits: 0x2000, line: 20)]

    @Test func anAwaitCycleOnAnIdleLoopIsADeadlockNamingItsTasks() throws {
        let report = Self.tree(Self.cycle).report()
        let finding = try #require(report.findings(.taskDeadlock).first)
        let facts = try #require(finding.facts as? TaskDeadlockFacts)
        #expect(facts.cycles == [[0x2000, 0x3000]])
        #expect(facts.tasks == [0x1000, 0x2000, 0x3000])
        #expect(report.verdict == .deadlock)
        let message = report.words(finding).message
        #expect(message.contains("await cycle: 'publish' (service.py:12) → 'ingest' (service.py:20) → 'publish' (service.py:12)"), "\(message)")
    }

    /// With SIGINT ignored, the loop's thread alone is a thread-level deadlock too: one cause,
    /// told once, by the tasks.
    @Test func theLoopThreadsOwnDeadlockIsFoldedIntoTheTasks() throws {
        let report = Self.tree(Self.cycle, caught: 0).report()
        #expect(report.findings.map(\.rule) == [.taskDeadlock], "\(report.findings.map { report.words($0).message })")
        let alone = Self.tree(Self.cycle, caught: 0, ready: 1).report()
        #expect(alone.findings.map(\.rule) == [.deadlock], "a loop with a ready callback: only the thread's wait is proven")
    }

    @Test func aTaskAwaitingAFutureNothingCanCompleteIsADeadlock() throws {
        let report = Self.tree([Self.task(0x1000, "main", awaits: 0x9000, task: false)]).report()
        let facts = try #require(report.findings(.taskDeadlock).first?.facts as? TaskDeadlockFacts)
        #expect(facts.cycles.isEmpty)
        #expect(report.words(report.findings(.taskDeadlock)[0]).message.contains("'main' awaits a Future 0x9000"))
    }

    @Test func aLoopThatCanStillRunProvesNothing() {
        // A timer (epoll_wait with a timeout), a socket to a peer, a signal handler (SIGTERM
        // through add_signal_handler), a thread that sleeps (it may call into the loop), a
        // task ready to run: each can still run something on the loop.
        let cases: [SyntheticTree] = [
            Self.tree(Self.cycle, timeout: 5),
            Self.tree(Self.cycle, watching: [.unixSocket(fd: 6, inode: 500, peerHolders: [100]), .tcp(fd: 7)]),
            Self.tree(Self.cycle, watching: [.unixSocket(fd: 6, inode: 500, peerHolders: [100, 200])]),
            Self.tree(Self.cycle, caught: 0x2 | 1 << 14),
            Self.tree(Self.cycle, others: [.init(101, "worker", wait: .sleep(3))]),
            Self.tree(Self.cycle + [Self.task(0x4000, "ready", awaits: nil)]),
            // The loop's own state: a ready callback, a timer, a signal handler (SIGINT through
            // add_signal_handler, which the process's signal mask cannot tell from CPython's own),
            // or not read at all.
            Self.tree(Self.cycle, ready: 1), Self.tree(Self.cycle, timers: 1), Self.tree(Self.cycle, signals: [2]),
            Self.tree(Self.cycle, ready: nil), Self.tree(Self.cycle, signals: nil),
        ]
        for tree in cases { #expect(tree.report().findings(.taskDeadlock).isEmpty) }
    }

    @Test func otherThreadsWaitingForeverOnEachOtherDoNotKeepTheLoopAlive() throws {
        let tree = Self.tree(Self.cycle, others: [.init(101, "executor", wait: .futex(0x5000, lock: .conditionVariable))])
        let facts = try #require(tree.report().findings(.taskDeadlock).first?.facts as? TaskDeadlockFacts)
        #expect(facts.otherThreads == [ThreadKey(pid: 100, tid: 101)])
    }
}
