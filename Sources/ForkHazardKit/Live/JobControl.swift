#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Glibc
import ProcFS
import Syscalls

/// The processes of a job and their ending: who belongs to it (what the command left behind
/// included), SIGTERM by PID, SIGKILL after a grace, and reaping, with the root's wait status kept.
/// Only a tree this process started is signalled or reaped: for one it merely watches, `end` and
/// `reapChildren` do nothing.
struct JobControl {
    /// The command's process, the job's root.
    var root: Int32 = 0
    /// Whether this process started the root (then it may reap it and end its job).
    let owned: Bool
    let proc: ProcRoot
    let calls: ProcessCalls
    /// This process: as subreaper, an ancestor of every process of the job.
    let tool = getpid()
    /// The root's wait status, once reaped.
    private(set) var rootStatus: Int32?

    init(owned: Bool, proc: ProcRoot, calls: ProcessCalls = .live) {
        self.owned = owned
        self.proc = proc
        self.calls = calls
    }

    /// Every live process of the job: the root, every process seen in its tree (`seen`: a daemon
    /// that left it by a double fork stays, since `run` is its subreaper), and their descendants;
    /// the root first.
    func members(seen: Set<Int32>) -> [Int32] {
        let table = ProcessTable(proc: proc)
        var members = seen.union([root])
        // As subreaper, every child of this process other than the root is an orphan of the job.
        if owned { members.formUnion(table.children(of: tool)) }
        for pid in members { members.formUnion(table.descendants(of: pid)) }
        return [root] + members.subtracting([root]).filter { alive($0) }.sorted()
    }

    /// What the command left running (a daemon): the job's members but its root.
    func leftBehind(seen: Set<Int32>) -> [Int32] {
        members(seen: seen).filter { $0 != root }
    }

    /// SIGTERM to each of `start`, by PID; SIGKILL to what is left after `grace`; everything
    /// reaped. The job is looked at again until none of it is left: a supervisor that restarts
    /// what it loses, or a process forked just before its parent was killed, does not survive
    /// `run`. As subreaper, every process of the job is a descendant of this one, and only
    /// descendants are signalled: a PID of `start` whose process has ended and whose number went to
    /// a process outside the job is left alone. `leftBehindOnly`: the root has been reaped, and
    /// this ends only what it left.
    mutating func end(_ start: [Int32], grace: Double, leftBehindOnly: Bool) {
        guard owned else { return }
        // Zombies count until reaped: the job is over when no process of it is left at all. The
        // root is one until it is reaped (its status kept).
        func remaining() -> [Int32] {
            let all = ProcessTable(proc: proc).descendants(of: tool)
            return leftBehindOnly ? all.filter { $0 != root } : all
        }
        var terminated = Set<Int32>()
        func terminate(_ pids: [Int32]) {
            for pid in pids where terminated.insert(pid).inserted { try? calls.kill(pid, SIGTERM) }
        }
        let ours = Set(remaining())
        terminate(start.filter { ours.contains($0) })
        let deadline = Date().addingTimeInterval(grace)
        while Date() < deadline {
            reapChildren()
            let members = remaining()
            if members.isEmpty { return }
            terminate(members.filter { alive($0) })  // what was started during the grace, too
            usleep(20_000)
        }
        for _ in 0..<200 {
            reapChildren()
            let members = remaining()
            if members.isEmpty { break }
            for pid in members { try? calls.kill(pid, SIGKILL) }
            usleep(10_000)
        }
        while rootStatus == nil && !leftBehindOnly {
            guard let reaped = try? calls.waitpid(-1, 0) else { break }
            if reaped.pid == root { rootStatus = reaped.status }
        }
        reapChildren()
    }

    /// Reaps every child that has ended: the root (its status kept) and, as subreaper, orphaned
    /// processes of the job.
    mutating func reapChildren() {
        guard owned else { return }
        while let reaped = try? calls.waitpid(-1, WNOHANG), reaped.pid > 0 {
            if reaped.pid == root { rootStatus = reaped.status }
        }
    }

    /// Whether `pid` exists and has not ended (a zombie has).
    func alive(_ pid: Int32) -> Bool {
        guard let stat = (try? proc.bytes("\(pid)/stat")).flatMap({ ProcStat(parsing: $0) }) else { return false }
        return stat.state != "Z" && stat.state != "X"
    }
}
