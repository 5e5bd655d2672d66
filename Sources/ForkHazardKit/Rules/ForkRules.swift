/// `fork-from-threaded`: a process forked without exec while its parent had other threads.
public struct ForkFromThreaded: Rule {
    public let id = "fork-from-threaded"

    public init() {}

    public func findings(in snapshot: Snapshot) -> [Finding] {
        snapshot.processes.compactMap { child -> Finding? in
            guard let origin = child.forkOrigin, origin.kind == .forkedWithoutExec,
                  let atFork = origin.threadsAtFork, atFork.count >= 2,
                  let parent = snapshot.process(origin.parent) else { return nil }
            let others = atFork.count - 1
            let sure = atFork.filter { $0.certainty == "certain" }.count >= 2
            var evidence = origin.evidence
            evidence.append("\(parent.name) \(parent.pid) had \(plural(atFork.count, "thread", "threads")) when \(child.pid) was forked"
                            + " (certain: started before the child; possible: in the same 10 ms tick, with a higher TID):")
            evidence += atFork.map { describe($0, in: parent) }
            evidence.append("threads that have exited since the fork cannot be seen in /proc and are not listed")
            return Finding(
                rule: id, severity: .warning, pids: [child.pid, parent.pid],
                tids: atFork.map(\.tid),
                message: "\(child.name) \(child.pid) was forked without exec from \(parent.name) \(parent.pid) while it "
                    + "\(sure ? "had" : "possibly had") \(plural(others, "other thread", "other threads")): any lock they held "
                    + "is held forever in the child",
                evidence: evidence,
                remedy: ForkRemedy.text(for: parent))
        }
    }

    func describe(_ thread: ThreadAtFork, in parent: ProcessSnapshot) -> String {
        let stack = parent.threads.first { $0.tid == thread.tid }?.stack.map { shortStack($0) } ?? ""
        return "  TID \(thread.tid) '\(thread.name)' (\(thread.certainty))\(thread.tid == parent.pid ? ", the main thread" : "")"
            + (thread.now.map { ", now: \($0)" } ?? "") + (stack.isEmpty ? "" : "; at \(stack)")
    }
}

/// `inherited-lock`: a forked child waits forever on a private futex that no thread of its own
/// process can release.
public struct InheritedLock: Rule {
    public let id = "inherited-lock"

    public init() {}

    public func findings(in snapshot: Snapshot) -> [Finding] {
        var findings: [Finding] = []
        for child in snapshot.processes {
            guard let origin = child.forkOrigin, origin.kind == .forkedWithoutExec else { continue }
            let parent = snapshot.process(origin.parent)
            let ownTids = Set(child.threads.map(\.tid))
            for thread in child.threads {
                guard let wait = thread.wait, wait.kind == .futex, wait.forever,
                      let futex = wait.futex, futex.private else { continue }
                let lock = wait.lock
                let what = lock.map { $0.kind == .unknown ? "lock" : $0.kind.label } ?? "lock"
                var evidence = [
                    "TID \(thread.tid) waits forever on private futex \(futex.address) (\(what)): "
                        + "a private futex can be woken only by threads of its own process, \(child.pid)",
                ] + origin.evidence
                var tids = [thread.tid]
                if let owner = lock?.owner {
                    guard !ownTids.contains(owner) else { continue }  // held inside the child: not inherited
                    tids.append(owner)
                    evidence.append("\(what) \(futex.address) is owned by TID \(owner) (its \(lock?.ownerSource ?? "owner field")), "
                                    + whose(owner, parent: parent, snapshot: snapshot)
                                    + "; TID \(owner) does not exist in \(child.pid), so the child can never acquire it")
                } else if child.threads.count == 1 {
                    let noOwner = lock?.kind == .libgompBarrier
                        ? "a libgomp barrier has no owner: it waits for the other threads of the team, which do not exist in the child"
                        : lock?.recordsNoOwner == true ? "a \(what) records no owner" : "the owner of this lock could not be read"
                    evidence.append("\(noOwner); \(child.pid) has no other thread that could release it")
                    if let atFork = origin.threadsAtFork, let parent {
                        let others = atFork.filter { $0.tid != parent.pid || atFork.count == 1 }
                        evidence.append("threads of \(parent.name) \(parent.pid) alive at the fork, one of which held it: "
                                        + others.map { "'\($0.name)' \($0.tid) (\($0.certainty))" }.joined(separator: ", "))
                        tids += others.map(\.tid)
                    }
                } else {
                    continue  // another thread of the child might release it: not provable here
                }
                findings.append(Finding(
                    rule: id, severity: .error, pids: [child.pid] + (parent.map { [$0.pid] } ?? []),
                    tids: tids,
                    message: "\(child.name) \(child.pid) thread \(thread.tid) waits on a \(what) inherited across fork "
                        + "that no thread of its own can release: it can never wake",
                    evidence: evidence,
                    remedy: parent.map { ForkRemedy.text(for: $0) } ?? ForkRemedy.native))
            }
        }
        return findings
    }

    func whose(_ owner: Int32, parent: ProcessSnapshot?, snapshot: Snapshot) -> String {
        for process in snapshot.processes {
            guard let thread = process.threads.first(where: { $0.tid == owner }) else { continue }
            let role = process.pid == parent?.pid ? "parent" : "process"
            let stack = thread.stack.map { "; at " + shortStack($0) } ?? ""
            return "thread '\(thread.name)' of \(role) \(process.pid) (alive there, \(thread.wait?.summary ?? "state \(thread.state)")\(stack))"
        }
        return "a TID no process of this tree has (the thread exited, or belongs to a process outside the tree)"
    }
}

enum ForkRemedy {
    static let python = "Python: start worker processes with the 'spawn' or 'forkserver' method "
        + "(multiprocessing.get_context('spawn'); ProcessPoolExecutor(mp_context=multiprocessing.get_context('spawn'))), "
        + "or run programs with subprocess; do not fork a process that has started threads."
    static let native = "C/C++: call exec immediately after fork (only async-signal-safe calls in between), use "
        + "posix_spawn, or fork before starting threads; if a forked child must keep running, take and release "
        + "every lock it needs in pthread_atfork handlers."

    static let openMP = "OpenMP: libgomp's thread pool does not survive fork; fork (or start worker processes) "
        + "before the first parallel region, or exec right after fork."

    static func text(for parent: ProcessSnapshot) -> String {
        let runtimes = parent.runtimes ?? []
        return ([runtimes.contains("python") ? python : native] + (runtimes.contains("libgomp") ? [openMP] : []))
            .joined(separator: " ")
    }
}

/// `a <- b <- c`, the innermost frames.
func shortStack(_ stack: [StackFrame], frames: Int = 4) -> String {
    stack.prefix(frames).map(\.display).joined(separator: " <- ") + (stack.count > frames ? " <- …" : "")
}
