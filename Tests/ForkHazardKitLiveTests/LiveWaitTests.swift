import Foundation
import ProcFS
import Testing

@testable import ForkHazardKit

/// Real processes blocked in each kind of wait, diagnosed live.
@Suite("Live waits") struct LiveWaitTests {
    func diagnose(_ victim: Victim) throws -> (Report, ThreadWait) {
        let report = try Diagnosis().run(pids: [victim.pid])
        let wait = try #require(report.thread(victim.pid)?.wait)
        return (report, wait)
    }

    @Test func privateFutexForever() throws {
        let victim = try Victim(scenario: "futex-private")
        try victim.waitUntilBlocked(in: "futex")
        let (report, wait) = try diagnose(victim)
        #expect(wait.kind == .futex)
        #expect(wait.syscall == "futex")
        #expect(wait.forever)
        let futex = try #require(wait.futex)
        #expect(futex.private)
        #expect(futex.operation == .wait)
        #expect(wait.summary.hasPrefix("futex wait 0x"))
        #expect(wait.summary.hasSuffix("(private, forever)"))
        #expect(report.thread(victim.pid)?.wchan?.hasPrefix("futex") == true)
    }

    @Test func timedFutexShowsItsTimeout() throws {
        let victim = try Victim(scenario: "futex-timed")
        try victim.waitUntilBlocked(in: "futex")
        let (_, wait) = try diagnose(victim)
        #expect(!wait.forever)
        #expect(wait.timeoutSeconds == 3600)
        #expect(wait.summary.contains("timeout 3600s"))
    }

    @Test func sharedFutexNamesItsMapping() throws {
        let victim = try Victim(scenario: "futex-shared")
        try victim.waitUntilBlocked(in: "futex")
        let (_, wait) = try diagnose(victim)
        let futex = try #require(wait.futex)
        #expect(!futex.private)
        let mapping = try #require(futex.mapping)
        #expect(mapping.shared)
        #expect(mapping.path?.hasPrefix("/dev/shm/fh-test-\(victim.pid)") == true)
        #expect(mapping.inode != 0)
        #expect(mapping.offset == 0x100c)
        #expect(wait.summary.contains("shared: /dev/shm/fh-test-\(victim.pid)"))
    }

    @Test func pipeReadNamesTheWriters() throws {
        let victim = try Victim(scenario: "pipe-read")
        try victim.waitUntilBlocked(in: "read")
        let (report, wait) = try diagnose(victim)
        #expect(wait.kind == .fd && wait.forever)
        let fd = try #require(wait.fds?.first)
        #expect(fd.kind == .pipe)
        #expect(fd.access == .read)
        let writers = try #require(fd.peers)
        #expect(writers.map(\.pid) == [victim.helper])
        #expect(writers.first?.access == .write)
        #expect(wait.summary.contains("= pipe:[\(fd.inode!)] <- writers: \(victim.helper) fd \(writers[0].fd)"))
        #expect(report.process(victim.helper) != nil, "the helper is a child in the tree")
    }

    @Test func pipeWriteOnAFullPipeNamesTheReaders() throws {
        let victim = try Victim(scenario: "pipe-write")
        try victim.waitUntilBlocked(in: "write")
        let (_, wait) = try diagnose(victim)
        let fd = try #require(wait.fds?.first)
        #expect(fd.kind == .pipe)
        #expect(fd.access == .write)
        #expect(fd.peers?.map(\.pid) == [victim.helper])
        #expect(fd.peers?.first?.access == .read)
        #expect(wait.summary.contains("-> readers: \(victim.helper) fd"))
    }

    @Test func wait4NamesTheChild() throws {
        let victim = try Victim(scenario: "wait4")
        try victim.waitUntilBlocked(in: "wait4")
        let (_, wait) = try diagnose(victim)
        #expect(wait.kind == .child && wait.forever)
        #expect(wait.children == [victim.helper])
        #expect(wait.summary == "wait4 for child \(victim.helper) (alive, forever)")
    }

    @Test func sleepShowsItsDuration() throws {
        let victim = try Victim(scenario: "sleep")
        try victim.waitUntilBlocked(in: "clock_nanosleep")
        let (_, wait) = try diagnose(victim)
        #expect(wait.kind == .sleep && !wait.forever)
        #expect(wait.timeoutSeconds == 3600)
        #expect(wait.summary == "clock_nanosleep 3600s")
    }

    @Test func epollListsWatchedFdsAndTheirWriters() throws {
        let victim = try Victim(scenario: "epoll")
        let name = SyscallNames.number("epoll_wait", on: .host) != nil ? "epoll_wait" : "epoll_pwait"
        try victim.waitUntilBlocked(in: name)
        let (_, wait) = try diagnose(victim)
        #expect(wait.kind == .poll && wait.forever)
        let epoll = try #require(wait.fds?.first)
        #expect(epoll.kind == .epoll)
        let watched = try #require(epoll.watched?.first)
        #expect(watched.kind == .pipe)
        #expect(watched.events == "in")
        #expect(watched.peers?.map(\.pid) == [victim.helper])
        #expect(wait.summary.contains("= epoll watching [fd \(watched.fd) = pipe:[\(watched.inode!)] <- writers: \(victim.helper)"))
    }

    @Test(arguments: ["poll", "select"]) func pollAndSelectListTheirFds(scenario: String) throws {
        let victim = try Victim(scenario: scenario)
        try victim.waitUntilBlocked(in: scenario == "poll" ? "poll" : "pselect6")
        let (_, wait) = try diagnose(victim)
        #expect(wait.kind == .poll && wait.forever)
        let fd = try #require(wait.fds?.first)
        #expect(fd.kind == .pipe)
        #expect(fd.events == "in")
        #expect(fd.peers?.map(\.pid) == [victim.helper])
    }

    @Test func unixSocketRecvNamesThePeer() throws {
        let victim = try Victim(scenario: "unix-recv")
        try victim.waitUntilBlocked(in: "recvfrom")
        let (_, wait) = try diagnose(victim)
        let fd = try #require(wait.fds?.first)
        #expect(fd.kind == .unixSocket)
        let socket = try #require(fd.socket)
        #expect(socket.type == "stream")
        let peer = try #require(socket.peerInode)
        #expect(peer != fd.inode)
        #expect(fd.peers?.map(\.pid) == [victim.helper])
        #expect(wait.summary.contains("<-> peer socket:[\(peer)] held by: \(victim.helper) fd"))
    }

    @Test func flockNamesTheHolder() throws {
        let victim = try Victim(scenario: "flock")
        try victim.waitUntilBlocked(in: "flock")
        let (_, wait) = try diagnose(victim)
        #expect(wait.kind == .fileLock && wait.forever)
        let lock = try #require(wait.fileLock)
        #expect(lock.exclusive == true)
        #expect(lock.holders == [victim.pid])
        #expect(lock.path?.hasPrefix("/tmp/fh-flock-") == true)
    }

    @Test func futexWaitvListsEveryFutex() throws {
        let victim = try Victim(scenario: "futex-waitv")
        try victim.waitUntilBlocked(in: "futex_waitv")
        let (_, wait) = try diagnose(victim)
        #expect(wait.kind == .futex && wait.forever)
        let futexes = try #require(wait.futexes)
        #expect(futexes.count == 2)
        #expect(futexes.allSatisfy { $0.private && $0.operation == .waitv })
        #expect(wait.summary.hasPrefix("futex_waitv [0x"))
    }

    @Test func tcpReceiveAndAccept() throws {
        let receiver = try Victim(scenario: "tcp-recv")
        try receiver.waitUntilBlocked(in: "recvfrom")
        let fd = try #require(try diagnose(receiver).1.fds?.first)
        #expect(fd.kind == .tcpSocket)
        #expect(fd.socket?.state == "ESTABLISHED")
        #expect(fd.socket?.local?.hasPrefix("127.0.0.1:") == true && fd.socket?.remote?.hasPrefix("127.0.0.1:") == true)
        let listener = try Victim(scenario: "tcp-accept")
        try listener.waitUntilBlocked(in: "accept")
        let (_, wait) = try diagnose(listener)
        #expect(wait.fds?.first?.socket?.state == "LISTEN")
        #expect(wait.fds?.first?.events == "accept")
    }

    @Test func terminalRead() throws {
        let victim = try Victim(scenario: "tty-read")
        try victim.waitUntilBlocked(in: "read")
        let (_, wait) = try diagnose(victim)
        #expect(wait.fds?.first?.kind == .tty)
        #expect(wait.summary.contains("(terminal)"))
    }

    @Test func sigwait() throws {
        let victim = try Victim(scenario: "sigwait")
        try victim.waitUntilBlocked(in: "rt_sigtimedwait")
        let (_, wait) = try diagnose(victim)
        #expect(wait.kind == .signal && wait.forever)
        #expect(wait.summary == "rt_sigtimedwait (sigwait, forever)")
    }

    @Test func withoutStacksTheTargetIsNeverTouched() throws {
        let victim = try Victim(scenario: "pipe-read")
        try victim.waitUntilBlocked(in: "read")
        let before = try ProcRoot().text("\(victim.pid)/status")
        let diagnosis = Diagnosis(builder: SnapshotBuilder(stacks: nil))
        for _ in 0..<5 { #expect(try diagnosis.run(pids: [victim.pid]).thread(victim.pid)?.stack == nil) }
        let after = try ProcRoot().text("\(victim.pid)/status")
        let switches = { (text: String) in ProcStatus(parsing: text).voluntaryContextSwitches }
        // Reading /proc does not wake the thread: the same read, the same context switch count.
        #expect(switches(before) == switches(after))
        #expect(ProcStat(parsing: try ProcRoot().text("\(victim.pid)/stat"))?.state == "S")
    }
}
