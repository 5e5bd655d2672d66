import Foundation
import ProcFS
import Testing

@testable import ForkHazardKit

/// Fake /proc trees under Tests/ForkHazardKitFixtureTests/Fixtures, one directory per scenario:
///
/// - `aarch64-hung`: 2000 `server` (threads in wait4, private and shared futexes, a pipe read,
///   clock_nanosleep, epoll_pwait, flock, one running, one outside a system call) with children
///   2001 `writer` (holds the pipe's write end), 2002 `locker` (holds the flock and the write end of
///   the pipe the epoll watches) and grandchild 2003; pid 1 is outside the tree.
/// - `x86_64-basic`: 3000 `worker` (wait4 for 3001, futexes, a tty read, restart_syscall,
///   futex_waitv, a traced thread, a shared flock, an unknown call) and 3001 writing to a pipe.
/// - `odd-processes`: kthreadd (2), 4000 whose comm is `a) b) (c`, zombie 4001, 4002 with missing
///   and garbage files, 4009 with a garbage stat and 4010 without a task directory.
///
/// Memory reads are disabled for fixture roots, so timeouts and poll sets are unknown here.
enum FixtureTree {
    static func path(_ name: String) -> String {
        if let url = Bundle.module.url(forResource: "Fixtures", withExtension: nil) {
            let path = url.appendingPathComponent(name).path
            if FileManager.default.fileExists(atPath: path + "/stat") { return path }
        }
        // Fall back to the source tree.
        return URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/\(name)").path
    }

    static func snapshot(_ name: String, _ architecture: Architecture, roots: [Int32]) throws -> Snapshot {
        try SnapshotBuilder(proc: ProcRoot(path(name)), architecture: architecture).take(roots: roots)
    }

    static let bootTime: UInt64 = 1_700_000_000
}

extension Snapshot {
    func fixtureThread(_ tid: Int32) throws -> ThreadSnapshot {
        try #require(processes.lazy.flatMap(\.threads).first { $0.tid == tid }, "thread \(tid)")
    }

    func fixtureWait(_ tid: Int32) throws -> ThreadWait {
        try #require(try fixtureThread(tid).wait, "wait of thread \(tid)")
    }
}

/// Snapshots of fake /proc trees; one nested suite per tree.
@Suite("Fixture snapshots") struct FixtureSnapshotTests {}

/// One thread's expected decoded wait.
struct FixtureWaitCase: Sendable, CustomTestStringConvertible {
    var tid: Int32
    var syscall: String?
    var number: Int?
    var kind: ThreadWait.Kind
    var forever: Bool
    var summary: [String]

    var testDescription: String { "\(tid) \(syscall ?? kind.rawValue)" }
}

extension FixtureSnapshotTests {
    @Suite("aarch64 tree") struct Aarch64 {
        let snapshot: Snapshot

        init() throws {
            snapshot = try FixtureTree.snapshot("aarch64-hung", .aarch64, roots: [2000])
        }

        @Test func treeOrderAndHost() {
            #expect(snapshot.roots == [2000])
            // Depth first, children by PID: 2003 is 2001's child. Pid 1 is not in the tree.
            #expect(snapshot.processes.map(\.pid) == [2000, 2001, 2003, 2002])
            #expect(snapshot.host.architecture == .aarch64)
            #expect(snapshot.host.bootTime == FixtureTree.bootTime)
            #expect(snapshot.host.kernel == "unknown")
            #expect(snapshot.notes.isEmpty, "\(snapshot.notes)")
        }

        @Test func processFields() throws {
            let server = try #require(snapshot.process(2000))
            #expect(server.name == "server")
            #expect(server.ppid == 1)
            #expect(server.argv == ["/usr/bin/server", "--port", "8080"])
            #expect(server.exe == "/usr/bin/server")
            #expect(server.uid == 1000)
            #expect(server.state == "S")
            #expect(server.threadCount == 9)
            #expect(!server.isKernelThread)
            #expect(server.startTicks == 5000)
            let ticks = Double(snapshot.host.clockTicksPerSecond)
            #expect(server.startTime == isoTime(Date(timeIntervalSince1970: Double(FixtureTree.bootTime) + 5000 / ticks)))
            #expect(server.threads.map(\.tid) == [2000, 2010, 2011, 2012, 2013, 2014, 2015, 2016, 2017])
            #expect(snapshot.process(2003)?.ppid == 2001)
            #expect(snapshot.process(2003)?.argv == ["sleep", "infinity"])
        }

        @Test func threadFields() throws {
            let thread = try snapshot.fixtureThread(2010)
            #expect(thread.name == "worker-priv")
            #expect(thread.state == "S")
            #expect(thread.wchan == "futex_wait_queue")
            #expect(thread.voluntaryContextSwitches == 10)  // 2010 % 500
            #expect(thread.involuntaryContextSwitches == 8)  // 2010 % 11
            let ticks = Double(snapshot.host.clockTicksPerSecond)
            #expect(thread.cpuSeconds == Double(2010 % 89 + 2010 % 7) / ticks)
            #expect(thread.startTicks == 5010)
            #expect(thread.stack == nil)
            // wchan "0" means running: no wchan.
            #expect(try snapshot.fixtureThread(2016).wchan == nil)
            #expect(try snapshot.fixtureThread(2016).state == "R")
        }

        static let cases: [FixtureWaitCase] = [
            FixtureWaitCase(tid: 2000, syscall: "wait4", number: 260, kind: .child, forever: true,
                            summary: ["wait4 for any child (children: 2001-2002, forever)"]),
            FixtureWaitCase(tid: 2010, syscall: "futex", number: 98, kind: .futex, forever: true,
                            summary: ["futex wait 0xaaaad0001000 (private, forever)"]),
            FixtureWaitCase(tid: 2011, syscall: "futex", number: 98, kind: .futex, forever: true,
                            summary: ["futex wait_bitset 0xffff9a001040", "shared: /dev/shm/fh-ring inode 4242 +0x3040", "forever"]),
            FixtureWaitCase(tid: 2012, syscall: "read", number: 63, kind: .fd, forever: true,
                            summary: ["read fd 3 = pipe:[5353] <- writers: 2001 fd 4"]),
            FixtureWaitCase(tid: 2013, syscall: "clock_nanosleep", number: 115, kind: .sleep, forever: false,
                            summary: ["clock_nanosleep for an unreadable time"]),
            FixtureWaitCase(tid: 2014, syscall: "epoll_pwait", number: 22, kind: .poll, forever: true,
                            summary: ["epoll_pwait fd 5 = epoll watching [", "fd 6 = pipe:[5454] <- writers: 2002 fd 9",
                                      "fd 7 = socket:[7777] (unix stream connected /run/fh.sock)", "(forever)"]),
            FixtureWaitCase(tid: 2015, syscall: "flock", number: 32, kind: .fileLock, forever: true,
                            summary: ["flock exclusive lock on fd 8 = /var/lock/fh.lock (held by 2002, forever)"]),
            FixtureWaitCase(tid: 2016, syscall: nil, number: nil, kind: .running, forever: false, summary: ["running"]),
            FixtureWaitCase(tid: 2017, syscall: nil, number: nil, kind: .userSpace, forever: false,
                            summary: ["not in a system call (pc 0xaaaacf001234)"]),
            FixtureWaitCase(tid: 2001, syscall: "futex", number: 98, kind: .futex, forever: true,
                            summary: ["futex wait 0xaaaab7e0a0c8 (private, forever)"]),
            FixtureWaitCase(tid: 2002, syscall: "rt_sigsuspend", number: 133, kind: .signal, forever: true,
                            summary: ["rt_sigsuspend (until a signal arrives)"]),
            FixtureWaitCase(tid: 2003, syscall: "nanosleep", number: 101, kind: .sleep, forever: false,
                            summary: ["nanosleep for an unreadable time"]),
        ]

        @Test(arguments: FixtureSnapshotTests.Aarch64.cases)
        func decodedWaits(_ c: FixtureWaitCase) throws {
            let wait = try snapshot.fixtureWait(c.tid)
            #expect(wait.syscall?.name == c.syscall)
            #expect(wait.call?.number == c.number)
            #expect(wait.kind == c.kind)
            #expect(wait.forever == c.forever)
            for part in c.summary {
                #expect(wait.summary.contains(part), "\(wait.summary)")
            }
            #expect(wait.timeoutSeconds == nil)  // no memory reads on fixtures
            #expect((wait.call?.args.count ?? 6) == 6)
        }

        @Test func privateFutex() throws {
            let wait = try snapshot.fixtureWait(2010)
            #expect(wait.call?.args == [0xaaaad0001000, 0x80, 0x2, 0x0, 0x0, 0x0])
            let futex = try #require(wait.futex)
            #expect(futex.address == 0xaaaad0001000)
            #expect(futex.operation == .wait)
            #expect(futex.private)
            #expect(futex.clock == .monotonic)
            #expect(futex.expected == 2)
            #expect(futex.mapping == MappingReference(path: "[heap]", inode: 0, device: "00:00", offset: 0x1000, shared: false))
        }

        @Test func sharedFutexNamesTheSharedMapping() throws {
            let wait = try snapshot.fixtureWait(2011)
            let futex = try #require(wait.futex)
            #expect(futex.operation == .waitBitset)
            #expect(!futex.private)
            #expect(futex.clock == .realtime)  // FUTEX_CLOCK_REALTIME (0x100)
            #expect(futex.expected == 0)
            // 0xffff9a001040 in ffff9a000000-ffff9a010000 rw-s 00002000 00:1a 4242 /dev/shm/fh-ring.
            #expect(futex.mapping == MappingReference(path: "/dev/shm/fh-ring", inode: 4242, device: "00:1a", offset: 0x3040, shared: true))
        }

        @Test func pipeReadNamesTheWriter() throws {
            let wait = try snapshot.fixtureWait(2012)
            let fds = try #require(wait.fds)
            #expect(fds.count == 1)
            let fd = try #require(fds.first)
            #expect(fd.fd == 3)
            #expect(fd.kind == .pipe)
            #expect(fd.target == "pipe:[5353]")
            #expect(fd.inode == 5353)
            #expect(fd.access == .read)
            #expect(fd.events == "in")
            // 2001 holds both ends; only its write end (fdinfo flags 01) can wake the reader.
            #expect(fd.peers == [FdHolder(pid: 2001, name: "writer", fd: 4, access: .write)])
        }

        @Test func epollListsItsWatchedFds() throws {
            let wait = try snapshot.fixtureWait(2014)
            let epoll = try #require(wait.fds?.first)
            #expect(wait.fds?.count == 1)
            #expect(epoll.fd == 5)
            #expect(epoll.kind == .epoll)
            #expect(epoll.target == "anon_inode:[eventpoll]")
            #expect(epoll.inode == 1057)
            let watched = try #require(epoll.watched)
            #expect(watched.map(\.fd) == [6, 7])

            let pipe = watched[0]
            #expect(pipe.kind == .pipe)
            #expect(pipe.inode == 5454)
            #expect(pipe.events == "in")  // 0x19: EPOLLIN | EPOLLERR | EPOLLHUP
            #expect(pipe.access == .read)
            #expect(pipe.peers == [FdHolder(pid: 2002, name: "locker", fd: 9, access: .write)])

            let socket = watched[1]
            #expect(socket.kind == .unixSocket)
            #expect(socket.inode == 7777)
            #expect(socket.socket == SocketDescription(proto: "unix", type: "stream", state: "connected",
                                                       path: "/run/fh.sock", peerInode: nil))
            #expect(socket.peers == nil)  // no sock_diag for fixture roots
        }

        @Test func wait4ListsTheChildren() throws {
            let wait = try snapshot.fixtureWait(2000)
            #expect(wait.children == [2001, 2002])
            #expect(wait.call?.args.first == 0xffffffffffffffff)
        }

        @Test func flockNamesTheHolder() throws {
            let wait = try snapshot.fixtureWait(2015)
            // The waiter line (2000) and the OFD lock (pid -1) are not holders; no other process
            // has the file open, so none may share the holder's open file description.
            #expect(wait.fileLock == FileLockWait(fd: 8, path: "/var/lock/fh.lock", inode: 7001, exclusive: true,
                                                  type: .flock, holders: [2002], sharers: []))
            #expect(wait.fds?.first?.kind == .file)
            #expect(wait.fds?.first?.access == .readWrite)
        }

        @Test func sleepAndUserSpaceHaveNoObjects() throws {
            for tid: Int32 in [2013, 2016, 2017] {
                let wait = try snapshot.fixtureWait(tid)
                #expect(wait.fds == nil)
                #expect(wait.futex == nil)
                #expect(wait.children == nil)
                #expect(wait.fileLock == nil)
            }
            #expect(try snapshot.fixtureWait(2016).call == nil)
        }

        @Test func rootsThatNestAreShownOnce() throws {
            // 2000 descends from 1: the tree starts at 1 and lists 2000 once.
            let both = try FixtureTree.snapshot("aarch64-hung", .aarch64, roots: [2000, 1])
            #expect(both.roots == [2000, 1])
            #expect(both.processes.map(\.pid) == [1, 2000, 2001, 2003, 2002])
            let child = try FixtureTree.snapshot("aarch64-hung", .aarch64, roots: [2001])
            #expect(child.processes.map(\.pid) == [2001, 2003])
        }

        @Test func theReportIsJSONWithEveryProcessAndItsFutex() throws {
            let report = Report(snapshot: snapshot, findings: [])
            let text = report.json()
            #expect(text.hasSuffix("}\n") && !text.dropLast().contains("\n"), "one line")
            let decoded = try jsonObject(text)
            let processes = try #require(decoded["processes"] as? [[String: Any]])
            #expect(processes.compactMap { $0["pid"] as? Int } == snapshot.processes.map { Int($0.pid) })
            let thread = processes.flatMap { $0["threads"] as? [[String: Any]] ?? [] }.first { $0["tid"] as? Int == 2011 }
            let futex = try #require((thread?["wait"] as? [String: Any])?["futex"] as? [String: Any])
            #expect(futex["address"] as? String == "0xffff9a001040")
            #expect(futex["operation"] as? String == "WAIT_BITSET")
            #expect((futex["mapping"] as? [String: Any])?["path"] as? String == "/dev/shm/fh-ring")
            #expect((futex["mapping"] as? [String: Any])?["offset"] as? String == "0x3040")
        }
    }
}

extension FixtureSnapshotTests {
    @Suite("x86_64 tree") struct X86_64 {
        let snapshot: Snapshot

        init() throws {
            snapshot = try FixtureTree.snapshot("x86_64-basic", .x86_64, roots: [3000])
        }

        static let cases: [FixtureWaitCase] = [
            FixtureWaitCase(tid: 3000, syscall: "wait4", number: 61, kind: .child, forever: true,
                            summary: ["wait4 for child 3001 (alive, forever)"]),
            FixtureWaitCase(tid: 3004, syscall: "futex", number: 202, kind: .futex, forever: true,
                            summary: ["futex wait 0x55d0c0a0e0a8 (private, forever)"]),
            FixtureWaitCase(tid: 3005, syscall: "read", number: 0, kind: .fd, forever: true,
                            summary: ["read fd 0 = /dev/pts/3 (terminal)"]),
            FixtureWaitCase(tid: 3006, syscall: "restart_syscall", number: 219, kind: .restarted, forever: false,
                            summary: ["restart_syscall"]),
            FixtureWaitCase(tid: 3007, syscall: "futex_waitv", number: 449, kind: .futex, forever: true,
                            summary: ["futex_waitv [2 futexes (unreadable)] (forever)"]),
            FixtureWaitCase(tid: 3008, syscall: "futex", number: 202, kind: .futex, forever: false,
                            summary: ["futex wait 0x55d0c0a0e0c0 (private, timed)"]),
            FixtureWaitCase(tid: 3009, syscall: nil, number: nil, kind: .userSpace, forever: false,
                            summary: ["stopped (state t) outside a system call"]),
            FixtureWaitCase(tid: 3010, syscall: "flock", number: 73, kind: .fileLock, forever: true,
                            summary: ["flock shared lock on fd 7 = /srv/data/shared.lock ("]),
            FixtureWaitCase(tid: 3011, syscall: "syscall_99999", number: 99999, kind: .other, forever: false,
                            summary: ["syscall_99999(0x1, 0x2, 0x3, …)"]),
            FixtureWaitCase(tid: 3001, syscall: "write", number: 1, kind: .fd, forever: true,
                            summary: ["write fd 1 = pipe:[8080] -> readers: 3000 fd 9"]),
        ]

        @Test func tree() {
            #expect(snapshot.processes.map(\.pid) == [3000, 3001])
            #expect(snapshot.host.architecture == .x86_64)
            #expect(snapshot.process(3000)?.exe == "/usr/bin/python3.12")
            #expect(snapshot.process(3000)?.argv == ["python3", "worker.py"])
        }

        @Test(arguments: FixtureSnapshotTests.X86_64.cases)
        func decodedWaits(_ c: FixtureWaitCase) throws {
            let wait = try snapshot.fixtureWait(c.tid)
            #expect(wait.syscall?.name == c.syscall)
            #expect(wait.call?.number == c.number)
            #expect(wait.kind == c.kind)
            #expect(wait.forever == c.forever)
            for part in c.summary {
                #expect(wait.summary.contains(part), "\(wait.summary)")
            }
        }

        @Test func ttyRead() throws {
            let fd = try #require(snapshot.fixtureWait(3005).fds?.first)
            #expect(fd.kind == .tty)
            #expect(fd.access == .readWrite)
            #expect(fd.peers == nil)
        }

        @Test func pipeWriteNamesTheReader() throws {
            let fd = try #require(snapshot.fixtureWait(3001).fds?.first)
            #expect(fd.kind == .pipe)
            #expect(fd.events == "out")
            #expect(fd.access == .write)
            #expect(fd.peers == [FdHolder(pid: 3000, name: "worker", fd: 9, access: .read)])
        }

        @Test func timedFutexWithoutMemory() throws {
            let wait = try snapshot.fixtureWait(3008)
            #expect(wait.timeoutSeconds == nil)
            #expect(wait.futex?.expected == 0)
        }

        @Test func futexWaitvWithoutMemory() throws {
            let wait = try snapshot.fixtureWait(3007)
            #expect(wait.futexes == [])
            #expect(wait.futex == nil)
        }

        @Test func sharedFlockWithoutHolders() throws {
            let lock = try #require(snapshot.fixtureWait(3010).fileLock)
            #expect(lock.exclusive == false)
            #expect(lock.type == .flock)
            #expect(lock.inode == 31337)
            #expect(lock.path == "/srv/data/shared.lock")
        }

        @Test func lockHoldersMustBeOnTheSameDevice() throws {
            // /proc/locks: pid 1 holds a POSIX lock on inode 31337 of device 08:01 (/dev/sda1). The waiter's
            // fd 7 is inode 31337 on mount 15, the tmpfs 0:45 (00:2d) per 3000/mountinfo: another file.
            let wait = try snapshot.fixtureWait(3010)
            #expect(wait.fileLock?.holders == [])
            #expect(wait.summary.contains("holder unknown"), "\(wait.summary)")
        }

        @Test func theArchitectureSelectsTheTable() throws {
            // The same syscall files read as aarch64: 61 is getdents64 there, 202 is accept.
            let arm = try FixtureTree.snapshot("x86_64-basic", .aarch64, roots: [3000])
            #expect(try arm.fixtureWait(3000).syscall == "getdents64")
            #expect(try arm.fixtureWait(3004).syscall == "accept")
            #expect(try arm.fixtureWait(3004).kind == .fd)
        }
    }
}

extension FixtureSnapshotTests {
    @Suite("odd processes") struct OddProcesses {
        let snapshot: Snapshot

        init() throws {
            snapshot = try FixtureTree.snapshot("odd-processes", .aarch64, roots: [4000])
        }

        @Test func tree() {
            // 4009 has a garbage stat and belongs to no tree; 4010 has no task directory.
            #expect(snapshot.processes.map(\.pid) == [4000, 4001, 4002, 4010])
            #expect(snapshot.host.kernel == "6.8.0-fixture")
            #expect(snapshot.process(4010)?.threads.isEmpty == true)
        }

        @Test func commWithSpacesAndParentheses() throws {
            let process = try #require(snapshot.process(4000))
            #expect(process.name == "a) b) (c")
            #expect(process.ppid == 1)
            #expect(process.state == "S")
            #expect(process.argv == ["./a) b) (c", "--flag", "with space"])
            #expect(process.exe == "/opt/odd/a) b) (c")
            #expect(process.threads.map(\.name) == ["a) b) (c"])
            #expect(try snapshot.fixtureWait(4000).summary == "futex wait 0xaaaae0001000 (private, forever)")
        }

        @Test func zombie() throws {
            let process = try #require(snapshot.process(4001))
            #expect(process.state == "Z")
            #expect(process.argv == [])
            #expect(process.exe == nil)
            #expect(process.threads.count == 1)
            let wait = try snapshot.fixtureWait(4001)
            #expect(wait.kind == .zombie)
            #expect(!wait.forever)
            #expect(wait.syscall == nil)
            #expect(wait.summary.contains("zombie"))
            #expect(!snapshot.notes.map(\.words).contains { $0.hasPrefix("4001") })
        }

        @Test func kernelThread() throws {
            let snapshot = try FixtureTree.snapshot("odd-processes", .aarch64, roots: [2])
            #expect(snapshot.processes.map(\.pid) == [2])
            let kthreadd = try #require(snapshot.process(2))
            #expect(kthreadd.isKernelThread)
            #expect(kthreadd.name == "kthreadd")
            #expect(kthreadd.ppid == 0)
            #expect(kthreadd.argv == [])
            #expect(kthreadd.exe == nil)
            #expect(kthreadd.uid == 0)
            // Its syscall line means nothing (here it is empty): the wait says "kernel thread", with no note.
            let wait = try #require(kthreadd.threads.first?.wait)
            #expect(wait.kind == .kernel)
            #expect(wait.syscall == nil)
            #expect(!wait.forever)
            #expect(wait.summary == "kernel thread, in kthreadd")
            #expect(kthreadd.threads.first?.wchan == "kthreadd")
            #expect(snapshot.notes.isEmpty, "\(snapshot.notes)")
            #expect(self.snapshot.process(4000)?.isKernelThread == false)
        }

        @Test func missingAndGarbageFiles() throws {
            let broken = try #require(snapshot.process(4002))
            // 4006 has no stat (it exited) and 4008 a garbage one: both left out.
            #expect(broken.threads.map(\.tid) == [4002, 4003, 4004, 4005, 4007])
            // No syscall file: nothing known, nothing noted.
            #expect(try snapshot.fixtureThread(4002).wait == nil)
            #expect(try snapshot.fixtureThread(4002).wchan == nil)
            #expect(!snapshot.notes.map(\.words).contains { $0.hasPrefix("4002/4002") })
            // Garbage and truncated syscall files: a note each.
            #expect(try snapshot.fixtureThread(4003).wait == nil)
            #expect(try snapshot.fixtureThread(4007).wait == nil)
            #expect(snapshot.notes.map(\.words).contains("4002/4003: unreadable syscall state \"bogus 12 zz\\n\""), "\(snapshot.notes)")
            #expect(snapshot.notes.map(\.words).contains { $0.hasPrefix("4002/4007: unreadable syscall state") })
            #expect(snapshot.notes.count == 2, "\(snapshot.notes)")
        }

        @Test func fdWithoutFdinfo() throws {
            let wait = try snapshot.fixtureWait(4004)
            #expect(wait.kind == .fd)
            let fd = try #require(wait.fds?.first)
            #expect(fd.kind == .pipe)
            #expect(fd.inode == 6000)
            #expect(fd.access == nil)
            // Only the waiter itself holds the pipe.
            #expect(fd.peers == [])
            #expect(wait.summary == "read fd 3 = pipe:[6000] <- writers: none")
        }

        @Test func fdThatDoesNotExist() throws {
            let wait = try snapshot.fixtureWait(4005)
            let fd = try #require(wait.fds?.first)
            #expect(fd.kind == .unknown)
            #expect(fd.target == nil)
            #expect(fd.peers == nil)
            #expect(wait.summary.hasPrefix("read fd 9 = ?"), "\(wait.summary)")
        }

        @Test func nestedRootsAndGarbageRoots() throws {
            let both = try FixtureTree.snapshot("odd-processes", .aarch64, roots: [4000, 4001])
            #expect(both.processes.map(\.pid) == [4000, 4001, 4002, 4010])
            // A zombie on its own.
            let zombie = try FixtureTree.snapshot("odd-processes", .aarch64, roots: [4001])
            #expect(zombie.processes.map(\.pid) == [4001])
        }
    }
}

extension FixtureSnapshotTests {
    @Suite("errors") struct Errors {
        @Test(arguments: ["aarch64-hung", "x86_64-basic", "odd-processes"])
        func noSuchProcess(_ tree: String) {
            #expect(throws: InspectError.noSuchProcess(999999)) {
                try FixtureTree.snapshot(tree, .aarch64, roots: [999999])
            }
        }

        @Test func garbageStatIsNoProcess() {
            #expect(throws: InspectError.noSuchProcess(4009)) {
                try FixtureTree.snapshot("odd-processes", .aarch64, roots: [4009])
            }
        }

        @Test func firstMissingRootIsReported() {
            #expect(throws: InspectError.noSuchProcess(999998)) {
                try FixtureTree.snapshot("aarch64-hung", .aarch64, roots: [2000, 999998])
            }
        }

        @Test func missingProcRoot() {
            let builder = SnapshotBuilder(proc: ProcRoot("/nonexistent/forkhazard-fixture"), architecture: .x86_64)
            #expect(throws: InspectError.procUnavailable("/nonexistent/forkhazard-fixture/stat")) {
                try builder.take(roots: [1])
            }
        }
    }
}
