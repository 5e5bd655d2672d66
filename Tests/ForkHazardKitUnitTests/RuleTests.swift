import Testing

@testable import ForkHazardKit

/// The rules on synthetic snapshots: every true case found, every healthy case left alone. Each
/// healthy case names the piece of the rules it protects; removing that piece fails it.
@Suite("Rules on synthetic trees") struct RuleTests {
    func rules(_ report: Report) -> [RuleID] { report.findings.map(\.rule) }

    func deadlockMembers(_ report: Report) -> Set<ThreadKey> {
        Set(report.findings.flatMap { finding -> [ThreadKey] in
            if let facts = finding.facts as? DeadlockFacts { return facts.members.map(\.thread) }
            return []
        })
    }

    // MARK: deadlock

    @Test func twoProcessesReadingEachOthersPipe() {
        var tree = SyntheticTree()
        tree.process(100, threads: [.init(100, wait: .readPipe(inode: 1, writers: [101]))])
        tree.process(101, parent: 100, threads: [.init(101, wait: .readPipe(inode: 2, writers: [100]))])
        let report = tree.report()
        #expect(rules(report) == [.deadlock])
        guard let facts = report.findings.first?.facts as? DeadlockFacts else { Issue.record("no deadlock"); return }
        #expect(facts.cycle == [100, 101, 100])
    }

    @Test func aWaitNotSeenTwiceIsLive() {
        var tree = SyntheticTree()
        tree.process(100, threads: [.init(100, wait: .readPipe(inode: 1, writers: [101]), steady: false)])
        tree.process(101, parent: 100, threads: [.init(101, wait: .readPipe(inode: 2, writers: [100]))])
        #expect(tree.report().findings.isEmpty)
    }

    @Test func aPipeWhoseWriterSleepsIsHealthy() {
        var tree = SyntheticTree()
        tree.process(100, name: "sh", threads: [.init(100, wait: .child([101, 102]))])
        tree.process(101, parent: 100, name: "sleep", origin: .exec, threads: [.init(101, wait: .sleep(3600))])
        tree.process(102, parent: 100, name: "cat", origin: .exec, threads: [.init(102, wait: .readPipe(inode: 7, writers: [101]))])
        #expect(tree.report().findings.isEmpty)
    }

    @Test func aWriterOutsideTheTreeIsLive() {
        var tree = SyntheticTree()
        tree.process(102, name: "cat", threads: [.init(102, wait: .readPipe(inode: 7, writers: [4242]))])
        #expect(tree.report().findings.isEmpty)
    }

    @Test func parentWaitingForAChildStuckOnAMutexOnlyItsParentHolds() {
        var tree = SyntheticTree()
        tree.process(100, name: "demo", threads: [.init(100, wait: .child([101])), .init(102, "registry-flush", start: 900, wait: .sleep(3600))])
        tree.process(101, parent: 100, name: "fork-child",
                     threads: [.init(101, wait: .futex(0x5000, lock: .pthreadMutex, owner: 102))])
        let report = tree.report()
        #expect(Set(rules(report)) == [.inheritedLock, .deadlock, .forkFromThreaded], "\(TextRenderer(color: false).render(report))")
        #expect(deadlockMembers(report) == [ThreadKey(pid: 100, tid: 100), ThreadKey(pid: 101, tid: 101)])
        guard let facts = report.findings(.inheritedLock).first?.facts as? InheritedLockFacts else { Issue.record("no inherited-lock"); return }
        #expect(facts.holder == .thread(ThreadKey(pid: 100, tid: 102)))
        #expect(facts.confirmed)
    }

    /// Protects the join decoding: without it the main thread's wait is a shared futex nobody is
    /// known to map, so it would be left out of the deadlock.
    @Test func mainThreadJoiningAThreadInALockOrderDeadlock() {
        var tree = SyntheticTree()
        tree.process(100, threads: [
            .init(100, wait: .futex(0x7f00_0000_12d0, private: false, lock: .threadJoin, expected: 101, joins: 101)),
            .init(101, wait: .futex(0xa000, lock: .pthreadMutex, owner: 102)),
            .init(102, wait: .futex(0xb000, lock: .pthreadMutex, owner: 101)),
        ])
        let report = tree.report()
        #expect(rules(report) == [.deadlock])
        #expect(deadlockMembers(report) == [100, 101, 102].map { ThreadKey(pid: 100, tid: $0) }.reduce(into: Set()) { $0.insert($1) })
        #expect(report.thread(100)?.wait?.summary.contains("pthread_join of thread 101") == true)
    }

    @Test func joiningALiveThreadIsNotStuck() {
        var tree = SyntheticTree()
        tree.process(100, threads: [
            .init(100, wait: .futex(0x7f00_0000_12d0, private: false, lock: .threadJoin, expected: 101, joins: 101)),
            .init(101, wait: .sleep(5)),
        ])
        #expect(tree.report().findings.isEmpty)
    }

    @Test func siblingsStuckAloneInTheSameWaitAreOneFinding() {
        var tree = SyntheticTree()
        tree.process(100, threads: [.init(100, wait: .sleep(60)), .init(110, start: 900, wait: .sleep(9))])
        for pid: Int32 in [101, 102, 103] {
            tree.process(pid, parent: 100, name: "w", origin: .exec, threads: [.init(pid, wait: .readPipe(inode: UInt64(pid), writers: [pid]))])
        }
        let report = tree.report()
        #expect(rules(report) == [.deadlock])
        #expect(report.findings.first?.pids == [101, 102, 103])
        #expect(report.evidence(report.findings[0]).contains { $0.hasPrefix("3 processes w 101-103, each: ") })
    }

    // MARK: waiting for a signal

    /// Protects the signal-handler rule: an idle asyncio service waits in epoll on its own
    /// socketpair, which only its SIGTERM handler writes.
    @Test func idleServiceWaitingForItsSignalHandler() {
        var tree = SyntheticTree()
        tree.process(100, name: "python3", runtimes: [.python], caught: signalMask(2, 15),
                     threads: [.init(100, wait: .epoll(watching: [.unixSocket(fd: 6, inode: 50, peerHolders: [100])]))])
        #expect(tree.report().findings.isEmpty)
    }

    /// CPython catches SIGINT itself, to raise KeyboardInterrupt: for a lock waited on, that alone
    /// is no handler that could release it; but a wait on its own socket ends is an event loop
    /// waiting for Ctrl-C (the handler, CPython's or the program's, writes its wakeup fd).
    @Test func pythonsSigintCountsForItsOwnSocketButNotForALock() {
        var loop = SyntheticTree()
        loop.process(100, name: "python3", runtimes: [.python], caught: signalMask(2),
                     threads: [.init(100, wait: .epoll(watching: [.unixSocket(fd: 6, inode: 50, peerHolders: [100])]))])
        #expect(loop.report().findings.isEmpty)
        var lock = SyntheticTree()
        lock.process(100, name: "python3", runtimes: [.python], caught: signalMask(2),
                     threads: [.init(100, wait: .futex(0x1000, lock: .cpythonLock))])
        #expect(rules(lock.report()) == [.deadlock])
        var c = SyntheticTree()
        c.process(100, threads: [.init(100, wait: .epoll(watching: [.unixSocket(fd: 6, inode: 50, peerHolders: [100])]))])
        #expect(rules(c.report()) == [.deadlock], "no handler at all: nothing can write its socket")
    }

    /// A single-threaded forked child whose own signal handler may release the lock it waits on
    /// (an Event made after the fork, set from SIGTERM): inherited only if the parent has the same
    /// lock object, so it existed at the fork.
    @Test func aForkedChildsOwnHandlerMayReleaseItsLock() {
        func tree(inParent: Bool?) -> SyntheticTree {
            var tree = SyntheticTree()
            tree.process(100, name: "python3", runtimes: [.python], caught: signalMask(2),
                         threads: [.init(100, wait: .sleep(60)), .init(99, start: 900, wait: .sleep(9))])
            var wait = ThreadWait.futex(0x77, lock: .cpythonLock)
            var python = PythonLockInfo(typeName: "_thread.lock", path: "waiter", function: "Condition.wait")
            python.inParent = inParent
            wait.lock?.python = python
            tree.process(101, parent: 100, name: "python3", runtimes: [.python], caught: signalMask(2, 15), threads: [.init(101, wait: wait)])
            return tree
        }
        #expect(tree(inParent: false).report().findings(.inheritedLock).isEmpty)
        #expect(tree(inParent: nil).report().findings(.inheritedLock).isEmpty, "not known to have existed at the fork")
        #expect(!tree(inParent: true).report().findings(.inheritedLock).isEmpty)
        #expect(tree(inParent: false).report().findings.allSatisfy { $0.severity == .warning }, "the fork itself is still a hazard")
    }

    @Test func aSemaphoreItsHandlerMayPostIsLiveButAMutexIsNot() {
        var sem = SyntheticTree()
        sem.process(100, caught: signalMask(15), threads: [.init(100, wait: .futex(0x1000, lock: .semaphore))])
        #expect(sem.report().findings.isEmpty)
        var mutex = SyntheticTree()
        mutex.process(100, caught: signalMask(15), threads: [.init(100, wait: .futex(0x1000, lock: .pthreadMutex, owner: 100))])
        // Its own mutex, locked again: no handler can unlock it for it.
        #expect(rules(mutex.report()) == [.deadlock])
        var crashHandler = SyntheticTree()
        crashHandler.process(100, caught: signalMask(11, 7), threads: [.init(100, wait: .futex(0x1000, lock: .semaphore))])
        #expect(rules(crashHandler.report()) == [.deadlock], "a SIGSEGV handler reports crashes; it posts nothing")
        var glibc = SyntheticTree()
        glibc.process(100, caught: signalMask(32, 33), threads: [.init(100, wait: .futex(0x1000, lock: .semaphore))])
        #expect(rules(glibc.report()) == [.deadlock], "glibc's own handlers of 32 and 33, in every threaded program, post nothing")
    }

    /// Protects the socket's own timeout: a recv with SO_RCVTIMEO is timed.
    @Test func aSocketWithItsOwnTimeoutIsLive() {
        var tree = SyntheticTree()
        tree.process(100, threads: [.init(100, wait: .recv(.unixSocket(fd: 3, inode: 60, peerHolders: [100]), timeout: 600))])
        #expect(tree.report().findings.isEmpty)
        var untimed = SyntheticTree()
        untimed.process(100, threads: [.init(100, wait: .recv(.unixSocket(fd: 3, inode: 60, peerHolders: [100])))])
        #expect(rules(untimed.report()) == [.deadlock])
        // Whether it has a timeout could not be read: it may, so nothing is proven.
        var unknown = SyntheticTree()
        let wait = ThreadWait.recv(.unixSocket(fd: 3, inode: 60, peerHolders: [100]), unknownTimeout: true)
        unknown.process(100, threads: [.init(100, wait: wait)])
        #expect(unknown.report().findings.isEmpty)
    }

    @Test func tcpPeersAreOutside() {
        var tree = SyntheticTree()
        tree.process(100, threads: [.init(100, wait: .recv(.tcp(fd: 3)))])
        #expect(tree.report().findings.isEmpty)
    }

    // MARK: epoll, peers, locks, shared memory

    @Test func anEmptyEpollSetIsLiveWhileOtherThreadsCanAddToIt() {
        var threaded = SyntheticTree()
        threaded.process(100, threads: [.init(100, wait: .epoll(watching: [])), .init(101, wait: .sleep(1))])
        #expect(threaded.report().findings.isEmpty)
        var unreadable = SyntheticTree()
        unreadable.process(100, threads: [.init(100, wait: .epoll(watching: nil)), .init(101, wait: .readPipe(inode: 3, writers: [100]))])
        #expect(unreadable.report().findings.isEmpty)
        var alone = SyntheticTree()
        alone.process(100, threads: [.init(100, wait: .epoll(watching: []))])
        #expect(rules(alone.report()) == [.deadlock], "nothing can add to it, nothing can wake it")
    }

    @Test func peersFromAnIncompleteScanProveNothing() {
        var tree = SyntheticTree()
        var fd = FdDescription.pipe(fd: 3, inode: 1, holders: [101])
        fd.peersIncomplete = true
        let wait = ThreadWait(.fd(fd, socketTimeout: nil), call: .named(.read), forever: true)
        tree.process(100, threads: [.init(100, wait: wait)])
        tree.process(101, parent: 100, origin: .exec, threads: [.init(101, wait: .readPipe(inode: 2, writers: [100]))])
        #expect(tree.report().findings.isEmpty)
    }

    /// Protects the flock sharers: /proc/locks names the process that opened the file; a child
    /// that inherited the open file description can release the lock too.
    @Test func aFlockHolderSharingItsOpenFileWithALiveProcess() {
        var tree = SyntheticTree()
        tree.process(100, threads: [.init(100, wait: .flock(path: "/tmp/l", inode: 9, holders: [101], sharers: [102]))])
        tree.process(101, parent: 100, origin: .exec, threads: [.init(101, wait: .readPipe(inode: 2, writers: [100]))])
        tree.process(102, parent: 100, origin: .exec, threads: [.init(102, wait: .sleep(2))])
        #expect(tree.report().findings.isEmpty)
        var alone = SyntheticTree()
        alone.process(100, threads: [.init(100, wait: .flock(path: "/tmp/l", inode: 9, holders: [101], sharers: []))])
        alone.process(101, parent: 100, origin: .exec, threads: [.init(101, wait: .readPipe(inode: 2, writers: [100]))])
        #expect(rules(alone.report()) == [.deadlock])
    }

    /// A vfork child (or a posix_spawn in flight) shares its parent's address space: the parent's
    /// threads can wake its private futexes, and it is neither a fork nor an exec yet.
    @Test func aChildSharingItsParentsMemory() {
        var tree = SyntheticTree()
        tree.process(100, threads: [.init(100, wait: .child([101])), .init(102, start: 900, wait: .sleep(1))])
        tree.process(101, parent: 100, sharesMemoryWith: 100, threads: [.init(101, wait: .futex(0x1000, lock: .unknown))])
        let report = tree.report()
        #expect(report.findings.isEmpty)
        #expect(report.process(101)?.forkOrigin?.kind == .unknown)
        #expect(report.process(101)?.forkOrigin?.basis == [.sharesParentMemory])
    }

    // MARK: stopped

    @Test func aStoppedChildHoldsItsParent() {
        var tree = SyntheticTree()
        tree.process(100, name: "sh", threads: [.init(100, wait: .child([101]))])
        tree.process(101, parent: 100, name: "sleep", state: "T", origin: .exec, threads: [.init(101, state: "T", wait: .sleep(40))])
        let report = tree.report()
        #expect(rules(report) == [.stopped])
        #expect(report.verdict == .hazard)
        guard let facts = report.findings.first?.facts as? StoppedFacts else { Issue.record("no stopped"); return }
        #expect(facts.processes.map(\.pid) == [101])
        #expect(facts.waiters == [ThreadKey(pid: 100, tid: 100)])
        #expect(report.words(report.findings[0]).fix.contains("kill -CONT 101"))
    }

    @Test func aTracedProcessNamesItsTracer() {
        var tree = SyntheticTree()
        tree.process(100, name: "app", state: "t", tracer: ProcessRef(pid: 999, name: "gdb"), threads: [.init(100, state: "t", wait: .running)])
        let report = tree.report()
        #expect(rules(report) == [.stopped])
        #expect(report.words(report.findings[0]).message.contains("gdb 999"))
    }

    // MARK: fork provenance and the fork rules

    /// Protects the PID-counter order: a pool starts its handler threads right after forking its
    /// workers, in the same clock tick; they were not there at the fork.
    @Test func aForkPoolsOwnThreadsCameAfterItsWorkers() {
        var tree = SyntheticTree()
        tree.process(100, name: "python3", start: 1000, runtimes: [.python], threads: [
            .init(100, wait: .futex(0x1, lock: .cpythonLock)),
            .init(105, start: 1000, wait: .sleep(0.1)), .init(106, start: 1000, wait: .readPipe(inode: 1, writers: [101])),
        ])
        for pid: Int32 in [101, 102, 103, 104] {
            tree.process(pid, parent: 100, name: "python3", start: 1000, runtimes: [.python],
                         threads: [.init(pid, wait: .readPipe(inode: 2, writers: [100]))])
        }
        let report = tree.report()
        #expect(report.process(101)?.forkOrigin?.threadsAtFork?.map(\.tid) == [100])
        #expect(report.findings.isEmpty)
    }

    @Test func theCounterOrderHoldsAcrossAWrap() {
        // pid_max 32768: thread 32760 was created just before the counter wrapped, child 310 just after.
        let threads = [ForkProvenance.ThreadStart(tid: 32700, name: "main", startTicks: 10),
                       ForkProvenance.ThreadStart(tid: 32760, name: "a", startTicks: 50),
                       ForkProvenance.ThreadStart(tid: 320, name: "b", startTicks: 50)]
        let atFork = ForkProvenance.threadsAtFork(parentPid: 32700, threads: threads, childPid: 310, childStartTicks: 50, pidMax: 32768)
        #expect(atFork.map(\.tid) == [32700, 32760])
    }

    @Test func forkedChildrenOfOneParentAreOneFinding() {
        var tree = SyntheticTree()
        tree.process(100, threads: [.init(100, wait: .child([101, 102, 103])), .init(99, start: 900, wait: .sleep(9))])
        for pid: Int32 in [101, 102, 103] {
            tree.process(pid, parent: 100, threads: [.init(pid, wait: .futex(0x77, lock: .cpythonLock))])
        }
        let report = tree.report()
        #expect(rules(report).sorted { $0.rawValue < $1.rawValue } == [.deadlock, .forkFromThreaded, .inheritedLock])
        let inherited = report.findings(.inheritedLock)[0]
        #expect(Set(inherited.pids) == [100, 101, 102, 103])
        let warning = report.findings(.forkFromThreaded)[0]
        #expect(Set(warning.pids) == [100, 101, 102, 103])
        // The parent waits for the children: that deadlock includes it, and stays.
        #expect(deadlockMembers(report).contains(ThreadKey(pid: 100, tid: 100)))
        guard let facts = report.findings(.deadlock).first?.facts as? DeadlockFacts else { return }
        #expect(Set(facts.inheritedLockWaiters.map(\.pid)) == [101, 102, 103])
    }

    @Test func childrenStuckOnlyOnAnInheritedLockAreNotASecondDeadlock() {
        var tree = SyntheticTree()
        tree.process(100, threads: [.init(100, wait: .sleep(60)), .init(99, start: 900, wait: .sleep(9))])
        for pid: Int32 in [101, 102] {
            tree.process(pid, parent: 100, threads: [.init(pid, wait: .futex(0x77, lock: .cpythonLock))])
        }
        let report = tree.report()
        #expect(!rules(report).contains(.deadlock))
        guard let facts = report.findings(.inheritedLock).first?.facts as? InheritedLockFacts else { Issue.record("no inherited-lock"); return }
        #expect(facts.confirmed)
        #expect(facts.waiters.count == 2)
    }

    @Test func differentLocksAreDifferentFindings() {
        var tree = SyntheticTree()
        tree.process(100, threads: [.init(100, wait: .sleep(60)), .init(99, start: 900, wait: .sleep(9))])
        tree.process(101, parent: 100, threads: [.init(101, wait: .futex(0x77, lock: .cpythonLock))])
        tree.process(102, parent: 100, threads: [.init(102, wait: .futex(0x88, lock: .cpythonLock))])
        #expect(tree.report().findings(.inheritedLock).count == 2)
    }

    @Test func inheritedLockNeedsTheSecondLook() {
        var tree = SyntheticTree()
        tree.process(100, threads: [.init(100, wait: .sleep(60)), .init(99, start: 900, wait: .sleep(9))])
        tree.process(101, parent: 100, threads: [.init(101, wait: .futex(0x77, lock: .cpythonLock), steady: false)])
        #expect(tree.report().findings(.inheritedLock).isEmpty)
    }

    /// An owner TID read from the lock in the children's PID namespace that no thread there has:
    /// JSON calls it a namespace TID, not a host TID (host TID 2 is another thread).
    @Test func anOwnerGoneInItsNamespaceIsANamespaceTid() throws {
        var tree = SyntheticTree()
        tree.process(100, threads: [.init(100, wait: .sleep(60)), .init(99, start: 900, wait: .sleep(9))])
        var wait = ThreadWait.futex(0x77, lock: .pthreadMutex)
        wait.lock?.ownerNamespaceTid = 2
        tree.process(101, parent: 100, threads: [.init(101, wait: wait)])
        let report = tree.report()
        let finding = try #require(report.findings(.inheritedLock).first)
        #expect(!finding.tids.contains(2), "tids are the host's")
        let json = try jsonObject(report.json())
        let facts = try #require((json["findings"] as? [[String: Any]])?.first { $0["rule"] as? String == "inherited-lock" }?["facts"] as? [String: Any])
        let holder = try #require(facts["holder"] as? [String: Any])
        #expect(holder["kind"] as? String == "gone")
        #expect(holder["namespaceTid"] as? Int == 2)
        #expect(holder["tid"] == nil)
        #expect(report.words(finding).evidence.contains { $0.text.contains("TID 2 of its PID namespace") })
        try expectValid([report.json()], against: .report)
    }

    @Test func aLockHeldInsideTheChildIsNotInherited() {
        var tree = SyntheticTree()
        tree.process(100, threads: [.init(100, wait: .sleep(60)), .init(99, start: 900, wait: .sleep(9))])
        tree.process(101, parent: 100, threads: [
            .init(101, wait: .futex(0x77, lock: .pthreadMutex, owner: 111)), .init(111, start: 1001, wait: .sleep(1)),
        ])
        #expect(tree.report().findings(.inheritedLock).isEmpty)
    }

    /// Protects the startup-random test: with ASLR off, layouts cannot tell, but an exec'd child
    /// has new random bytes from the kernel.
    @Test func withASLROffAnExecIsToldByTheStartupRandomBytes() {
        var execed = SyntheticTree()
        execed.host.aslr = 0
        execed.process(100, threads: [.init(100, wait: .child([101])), .init(99, start: 900, wait: .sleep(9))])
        execed.process(101, parent: 100, origin: .exec, threads: [.init(101, wait: .sleep(60))])
        let quiet = execed.report()
        #expect(quiet.process(101)?.forkOrigin?.kind == .execed)
        #expect(quiet.findings.isEmpty)
        var forked = SyntheticTree()
        forked.host.aslr = 0
        forked.process(100, threads: [.init(100, wait: .child([101])), .init(99, start: 900, wait: .sleep(9))])
        forked.process(101, parent: 100, threads: [.init(101, wait: .futex(0x5, lock: .pthreadMutex, owner: 99))])
        let found = forked.report()
        #expect(found.process(101)?.forkOrigin?.kind == .forkedWithoutExec)
        #expect(Set(rules(found)) == [.inheritedLock, .deadlock, .forkFromThreaded])
    }

    @Test func withASLROffAndNoRandomBytesTheOriginIsUnknown() {
        var tree = SyntheticTree()
        tree.host.aslr = 0
        tree.process(100, threads: [.init(100, wait: .child([101])), .init(99, start: 900, wait: .sleep(9))])
        tree.process(101, parent: 100, origin: .unreadable, threads: [.init(101, wait: .futex(0x5, lock: .pthreadMutex, owner: 99))])
        let report = tree.report()
        #expect(report.process(101)?.forkOrigin?.kind == .unknown)
        #expect(report.process(101)?.forkOrigin?.basis == [.aslrOff])
    }

    // MARK: lost-worker

    func pool(replacementStart: UInt64, replacementPid: Int32 = 110, secondPoolThreads: Bool = false) -> SyntheticTree {
        var tree = SyntheticTree()
        var parentThreads: [SyntheticTree.Thread] = [
            .init(100, wait: .futex(0x1, lock: .cpythonLock)),
            .init(105, start: 1000, wait: .sleep(0.1)), .init(106, start: 1000, wait: .readPipe(inode: 1, writers: [101])),
            .init(107, start: 1000, wait: .futex(0x2, lock: .cpythonLock)),
        ]
        if secondPoolThreads { parentThreads.append(.init(120, start: 1010, wait: .sleep(0.1))) }
        tree.process(100, name: "python3", start: 1000, runtimes: [.python], threads: parentThreads)
        for (pid, start) in [(Int32(101), UInt64(1000)), (102, 1000), (replacementPid, replacementStart)] {
            tree.process(pid, parent: 100, name: "python3", start: start, runtimes: [.python],
                         threads: [.init(pid, wait: .readPipe(inode: 2, writers: [100, 101, 102, replacementPid]))])
        }
        return tree
    }

    @Test func aReplacementWorkerInTheSameTickIsFound() {
        let report = pool(replacementStart: 1000).report()
        #expect(report.findings(.lostWorker).count == 1)
        guard let facts = report.findings(.lostWorker).first?.facts as? LostWorkerFacts else { return }
        #expect(facts.replacements == [110])
        #expect(facts.originals == [101, 102])
    }

    /// An idle server with a pool that replaces workers by design (maxtasksperchild): its main thread
    /// waits for a client, not for a result.
    @Test func aPoolWhoseParentWaitsForAClientIsNoLostWorker() {
        var tree = pool(replacementStart: 1000)
        tree.processes[0].threads[0].wait = .recv(.tcp(fd: 7))
        #expect(tree.report().findings(.lostWorker).isEmpty)
        // And where its Python frames were read, the main thread must wait in multiprocessing/pool.py.
        var elsewhere = pool(replacementStart: 1000)
        elsewhere.processes[0].threads[0].python = PythonThreadInfo(
            threadName: "MainThread", ident: 1, holdsGIL: false,
            stack: [PythonFrameInfo(function: "Event.wait", file: "/usr/lib/python3.11/threading.py", line: 622)])
        #expect(elsewhere.report().findings(.lostWorker).isEmpty)
        var waiting = pool(replacementStart: 1000)
        waiting.processes[0].threads[0].python = PythonThreadInfo(
            threadName: "MainThread", ident: 1, holdsGIL: false,
            stack: [PythonFrameInfo(function: "ApplyResult.wait", file: "/usr/lib/python3.11/multiprocessing/pool.py", line: 765)])
        #expect(waiting.report().findings(.lostWorker).count == 1)
    }

    @Test func aSecondPoolIsNoReplacement() {
        #expect(pool(replacementStart: 1010, replacementPid: 115, secondPoolThreads: true).report().findings(.lostWorker).isEmpty)
    }
}

/// Cases of the live suites again, as synthetic trees: each lock owner, wait and provenance the
/// rules rely on, without a live process.
@Suite("Rules on synthetic trees, the live cases") struct RuleCaseTests {
    func rules(_ report: Report) -> [RuleID] { report.findings.map(\.rule).sorted { $0.rawValue < $1.rawValue } }

    /// A forked child's rwlock read waits on a writer, the rwlock's __cur_writer, a thread of the parent.
    @Test func aRwlockWriterOfTheParent() throws {
        var tree = SyntheticTree()
        tree.process(100, threads: [.init(100, wait: .child([101])), .init(99, start: 900, wait: .sleep(60))])
        var wait = ThreadWait.futex(0x88, lock: .pthreadRwlock, owner: 99)
        wait.lock?.ownerSource = .rwlockWriter
        tree.process(101, parent: 100, threads: [.init(101, wait: wait)])
        let report = tree.report()
        let finding = try #require(report.findings(.inheritedLock).first)
        guard let facts = finding.facts as? InheritedLockFacts else { Issue.record("facts"); return }
        #expect(facts.holder == .thread(ThreadKey(pid: 100, tid: 99)))
        #expect(report.evidence(finding).contains { $0.contains("rwlock __cur_writer") })
    }

    /// A libgomp barrier records no owner: in a single-threaded child, one of the parent's threads at the fork.
    @Test func aLibgompBarrierInAForkedChild() throws {
        var tree = SyntheticTree()
        tree.process(100, threads: [.init(100, wait: .child([101])), .init(99, start: 900, wait: .futex(0x10, lock: .libgompBarrier))])
        tree.process(101, parent: 100, threads: [.init(101, wait: .futex(0x20, lock: .libgompBarrier))])
        let finding = try #require(tree.report().findings(.inheritedLock).first)
        guard let facts = finding.facts as? InheritedLockFacts else { Issue.record("facts"); return }
        guard case .unrecorded(let why, let candidates) = facts.holder else { Issue.record("holder \(facts.holder)"); return }
        #expect(why == .barrier)
        #expect(candidates.map(\.tid) == [99])
    }

    /// A shared futex (a semaphore in /dev/shm) can be woken by any process mapping it: stuck only
    /// if every mapper is, live if one mapper is outside the tree.
    @Test func aSharedFutexAndItsMappers() {
        let mapping = MappingReference(path: "/dev/shm/sem.x", inode: 3, device: "00:1a", offset: 0x100, shared: true)
        var stuck = SyntheticTree()
        stuck.process(100, threads: [.init(100, wait: .futex(0x7f00, private: false, lock: .semaphore, mapping: mapping, mappedBy: [100, 101]))])
        stuck.process(101, parent: 100, origin: .exec, threads: [.init(101, wait: .futex(0x7f00, private: false, lock: .semaphore, mapping: mapping, mappedBy: [100, 101]))])
        #expect(rules(stuck.report()) == [.deadlock])
        var outside = SyntheticTree()
        outside.process(100, threads: [.init(100, wait: .futex(0x7f00, private: false, lock: .semaphore, mapping: mapping, mappedBy: [100, 555]))])
        #expect(outside.report().findings.isEmpty)
    }

    /// An RLock and an import lock record their owner's ident; mapped to the parent's thread, the
    /// holder is that thread.
    @Test(arguments: [LockInfo.OwnerSource.pythonRLockOwner, .pythonImportOwner])
    func aPythonLockOwnedByAParentThread(source: LockInfo.OwnerSource) throws {
        var tree = SyntheticTree()
        tree.process(100, name: "python3", runtimes: [.python], threads: [.init(100, wait: .child([101])), .init(99, start: 900, wait: .sleep(60))])
        var wait = ThreadWait.futex(0x30, lock: source == .pythonImportOwner ? .cpythonImportLock : .cpythonLock, owner: 99)
        wait.lock?.ownerSource = source
        var python = PythonLockInfo(typeName: "_thread.RLock", path: "self._lock", function: "Registry.update", ownerIdent: 0x7f00_1234)
        if source == .pythonImportOwner { python.importing = "slowmod" }
        wait.lock?.python = python
        tree.process(101, parent: 100, name: "python3", runtimes: [.python], threads: [.init(101, wait: wait)])
        let report = tree.report()
        let finding = try #require(report.findings(.inheritedLock).first)
        guard let facts = finding.facts as? InheritedLockFacts else { Issue.record("facts"); return }
        #expect(facts.holder == .thread(ThreadKey(pid: 100, tid: 99)))
        if source == .pythonImportOwner { #expect(report.words(finding).cause.contains("the import of slowmod")) }
    }

    /// A pidfd is ready when its process exits: waiting on a child's that waits for the waiter is
    /// a deadlock; on a process outside the tree, nothing is proven.
    @Test func aPidfdWaitsForItsProcessExit() {
        var pidfd = FdDescription(fd: 6, kind: .pidfd)
        pidfd.process = 101
        var tree = SyntheticTree()
        tree.process(100, threads: [.init(100, wait: .poll([pidfd]))])
        tree.process(101, parent: 100, origin: .exec, threads: [.init(101, wait: .readPipe(inode: 2, writers: [100]))])
        #expect(rules(tree.report()) == [.deadlock])
        pidfd.process = 999
        var outside = SyntheticTree()
        outside.process(100, threads: [.init(100, wait: .poll([pidfd]))])
        #expect(outside.report().findings.isEmpty)
    }

    /// A pipe's write end polled for input (as asyncio's pipe transports do, to see the reader
    /// go) waits for its readers.
    @Test func aWriteEndWaitsForItsReaders() {
        var end = FdDescription.pipe(fd: 7, inode: 3, holders: [101], events: "in")
        end.access = .write
        var tree = SyntheticTree()
        tree.process(100, threads: [.init(100, wait: .poll([end]))])
        tree.process(101, parent: 100, origin: .exec, threads: [.init(101, wait: .readPipe(inode: 3, writers: [100]))])
        #expect(rules(tree.report()) == [.deadlock], "each waits for the other")
        #expect(end.waitsForWriters == false)
    }

    /// Two processes each writing a full pipe only the other reads.
    @Test func writersOnFullPipesReadOnlyByEachOther() {
        var tree = SyntheticTree()
        let a = ThreadWait(.fd(.pipe(fd: 4, inode: 1, holders: [101], events: "out"), socketTimeout: nil), call: .named(.write), forever: true)
        let b = ThreadWait(.fd(.pipe(fd: 4, inode: 2, holders: [100], events: "out"), socketTimeout: nil), call: .named(.write), forever: true)
        tree.process(100, threads: [.init(100, wait: a)])
        tree.process(101, parent: 100, origin: .exec, threads: [.init(101, wait: b)])
        #expect(rules(tree.report()) == [.deadlock])
    }

    /// Two processes each receiving on a unix socket whose peer only the other holds.
    @Test func aUnixSocketCycle() {
        var tree = SyntheticTree()
        tree.process(100, threads: [.init(100, wait: .recv(.unixSocket(fd: 3, inode: 10, peerHolders: [101])))])
        tree.process(101, parent: 100, origin: .exec, threads: [.init(101, wait: .recv(.unixSocket(fd: 3, inode: 20, peerHolders: [100])))])
        #expect(rules(tree.report()) == [.deadlock])
    }

    /// A child started by multiprocessing's spawn or forkserver, or running another executable,
    /// was exec'd: no fork hazard, whatever its parent's threads.
    @Test(arguments: [["python3", "-c", "from multiprocessing.spawn import spawn_main; spawn_main(tracker_fd=5, pipe_handle=7)", "--multiprocessing-fork"],
                      ["python3", "-c", "from multiprocessing.forkserver import main; main(8, 9, ['__main__'], **{})"]])
    func multiprocessingChildrenThatExec(argv: [String]) {
        var tree = SyntheticTree()
        tree.process(100, name: "python3", argv: ["python3", "app.py"], threads: [.init(100, wait: .child([101])), .init(99, start: 900, wait: .sleep(60))])
        tree.process(101, parent: 100, name: "python3", argv: argv, threads: [.init(101, wait: .sleep(60))])
        let report = tree.report()
        #expect(report.process(101)?.forkOrigin?.kind == .execed)
        #expect(report.findings.isEmpty)
    }

    @Test func aChildRunningAnotherExecutableWasExeced() {
        var tree = SyntheticTree()
        tree.process(100, exe: "/usr/bin/app", threads: [.init(100, wait: .child([101])), .init(99, start: 900, wait: .sleep(60))])
        tree.process(101, parent: 100, exe: "/bin/sleep", threads: [.init(101, wait: .sleep(60))])
        let report = tree.report()
        #expect(report.process(101)?.forkOrigin?.kind == .execed)
        #expect(report.findings.isEmpty)
    }

    /// A fork from a single-threaded parent is no hazard.
    @Test func aForkFromASingleThreadedParent() {
        var tree = SyntheticTree()
        tree.process(100, threads: [.init(100, wait: .child([101]))])
        tree.process(101, parent: 100, threads: [.init(101, wait: .sleep(60))])
        let report = tree.report()
        #expect(report.process(101)?.forkOrigin?.kind == .forkedWithoutExec)
        #expect(report.findings.isEmpty)
    }

    /// A restart_syscall is decoded as the call its innermost frame names, or, for poll alone,
    /// the kernel function it sleeps in.
    @Test(arguments: [("__GI___poll", nil, "poll"), ("__poll", nil, "poll"), ("__select", nil, "pselect6"),
                      ("epoll_wait", nil, "epoll_wait"), ("__GI___clock_nanosleep", nil, "clock_nanosleep"),
                      ("__lll_lock_wait", nil, "futex"), ("futex_wait", nil, "futex"),
                      (nil, "poll_schedule_timeout.constprop.0", "poll"), ("main", nil, nil), (nil, "do_wait", nil)] as [(String?, String?, String?)])
    func theCallARestartResumed(frame: String?, wchan: String?, expected: String?) {
        #expect(WaitDecoder(architecture: .x86_64).resumedCall(frame: frame, wchan: wchan)?.name == expected)
    }
}
