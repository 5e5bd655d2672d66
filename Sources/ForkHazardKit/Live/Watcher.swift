import CForkHazard
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Glibc
import ProcFS

/// What `run` and `watch` do when the tree stops making progress.
public enum StallAction: String, Sendable, CaseIterable {
    /// Print the report, end the tree (SIGTERM, then SIGKILL after a grace) and exit 124.
    case kill
    /// Print the report and stop watching (exit 124); for `run`, keep waiting for the command.
    case report
    /// Print the report and keep watching until the tree ends.
    case wait
}

public struct WatchOptions: Sendable {
    public var stallAfter: Double = 60
    public var onStall: StallAction = .report
    /// How long a child of a multi-threaded parent may take to exec before it counts as forked without exec.
    public var forkGrace: Double = 0.2
    /// Between SIGTERM and SIGKILL when ending a stuck tree.
    public var killGrace: Double = 5
    /// Poll /proc instead of using the proc connector.
    public var forcePolling = false
    /// Where the JSON report of a stall goes.
    public var reportFile: String?
    public var diagnosis = Diagnosis()

    public init() {}
}

/// Follows a process tree as it runs: reports each fork from a multi-threaded parent as it happens,
/// and diagnoses the tree when it stops making progress.
public final class Watcher {
    public enum Outcome: Sendable, Equatable {
        /// The root exited by itself with this wait status.
        case exited(status: Int32)
        /// forkhazard ended the stuck tree.
        case killedWhenStuck
        /// Stuck, reported, not killed.
        case stuck
        /// The watched root (not ours) is gone.
        case treeGone
    }

    private(set) var root: Int32 = 0
    /// Whether this process started the root (then it may reap it and end it).
    let owned: Bool
    let options: WatchOptions
    let writer: EventWriter
    let proc = ProcRoot()

    private var tree: Set<Int32> = []
    private var pending: [Int32: PendingFork] = [:]
    private var threads: [Int32: [Int32: String]] = [:]
    private var seen = 0
    private var hazards = 0
    private var stalls = 0
    private var lost = 0
    private var eventSource = "polling"
    private var lastSignature: [Int32: UInt64] = [:]
    private var lastProgress = Date()
    private var stallReported = false
    private(set) public var worstVerdict = Verdict.healthy

    struct PendingFork {
        var parent: Int32
        var parentName: String
        /// Threads of the parent at the fork: TIDs lower than the child's PID, with names.
        var threads: [(tid: Int32, name: String)]
        var deadline: Date
    }

    private var socket: ProcEventSocket?
    private var pollingReason = "forced by --poll"

    /// Subscribes to process events at once, so that a command started next is followed from its
    /// first fork.
    public init(owned: Bool, options: WatchOptions, writer: EventWriter) {
        self.owned = owned
        self.options = options
        self.writer = writer
        if !options.forcePolling {
            do {
                socket = try ProcEventSocket()
                eventSource = "proc-connector"
            } catch {
                if case .unavailable(let code) = error { pollingReason = "proc connector unavailable: \(String(cString: strerror(code)))" }
            }
        }
    }

    /// Watches the tree of `root` until it ends, or until a stall is acted on.
    public func run(root: Int32) -> Outcome {
        self.root = root
        let socket = self.socket
        let why = pollingReason
        rescan()
        writer.emit(WatchEvent("start", pids: [root],
                               message: "watching the tree of \(root) (\(plural(tree.count, "process", "processes"))); events: "
                                   + (socket != nil ? "proc connector" : "polling /proc every 20 ms (\(why))")
                                   + "; stall after \(formatDuration(options.stallAfter)) without progress"))
        var lastSample = Date.distantPast
        let sampleEvery = min(1.0, max(0.05, options.stallAfter / 4))
        while true {
            let signal = fh_take_received_signal()
            if signal != 0 {
                writer.emit(WatchEvent("signal", pids: [root], message: "received signal \(signal)"
                                       + (owned ? "; forwarded to \(root)" : "")))
            }
            // Events first: a root that has just ended may have forked right before.
            let ended = rootEnded()
            if let socket {
                do {
                    for event in try socket.drain() { handle(event) }
                } catch {
                    lost += 1
                    writer.emit(WatchEvent("note", pids: [root], message: "the kernel dropped process events (ENOBUFS); rescanning /proc"))
                    discoverByScan()
                }
            } else {
                discoverByScan()
            }
            if let ended { return finish(ended) }
            checkPending(now: Date())
            if Date().timeIntervalSince(lastSample) >= sampleEvery {
                lastSample = Date()
                if let outcome = sampleProgress() { return finish(outcome) }
            }
            var pollFd = pollfd(fd: socket?.fd ?? -1, events: Int16(POLLIN), revents: 0)
            _ = poll(&pollFd, socket == nil ? 0 : 1, 20)
        }
    }

    // MARK: the tree

    private func rescan() {
        tree = [root]
        tree.formUnion(ProcessTable(proc: proc).descendants(of: root))
        seen = max(seen, tree.count)
        threads = [:]
        for pid in tree { threads[pid] = readThreads(of: pid) }
    }

    /// The threads of a process now, with their names.
    private func readThreads(of pid: Int32) -> [Int32: String] {
        var result: [Int32: String] = [:]
        for tid in (try? proc.numericEntries("\(pid)/task")) ?? [] { result[tid] = name(pid, tid) }
        return result
    }

    private func name(_ pid: Int32, _ tid: Int32) -> String {
        ((try? proc.text("\(pid)/task/\(tid)/comm")) ?? "?").trimmed
    }

    /// With the proc connector, each process's threads are kept from the events themselves, in
    /// the order the kernel saw them: at a fork event they are exactly the threads at that fork,
    /// even when the parent has exited by the time the event is read.
    private func handle(_ event: ProcEvent) {
        switch event {
        case .fork(let parent, let childPid, let childTgid) where childPid == childTgid && tree.contains(parent):
            tree.insert(childTgid)
            seen += 1
            threads[childTgid] = [childTgid: threads[parent]?[parent] ?? name(childTgid, childTgid)]
            consider(child: childTgid, parent: parent, threadsAtFork: threads[parent] ?? [:])
        case .fork(_, let tid, let tgid) where tid != tgid && tree.contains(tgid):
            threads[tgid, default: [:]][tid] = name(tgid, tid)
        case .exec(_, let tgid):
            pending[tgid] = nil
        case .exit(let pid, let tgid, _) where pid == tgid:
            if let fork = pending.removeValue(forKey: tgid) { report(child: tgid, fork, exited: true) }
            tree.remove(tgid)
            threads[tgid] = nil
        case .exit(let tid, let tgid, _):
            threads[tgid]?[tid] = nil
        default:
            break
        }
    }

    /// Polling: new processes whose parent is in the tree.
    private func discoverByScan() {
        let table = ProcessTable(proc: proc)
        for pid in table.allPids where !tree.contains(pid) {
            guard let parent = table.entries[pid]?.ppid, tree.contains(parent) else { continue }
            tree.insert(pid)
            seen += 1
            consider(child: pid, parent: parent, threadsAtFork: threadsAtFork(of: parent, child: pid))
        }
        tree = tree.filter { table.entries[$0] != nil }
    }

    /// Polling: the parent's threads now, less those created after the fork. TIDs and PIDs come
    /// from one increasing counter, so those have TIDs above the child's PID; after the counter
    /// wrapped (the child's PID below the parent's), start times tell instead.
    private func threadsAtFork(of parent: Int32, child: Int32) -> [Int32: String] {
        let now = readThreads(of: parent)
        if child > parent { return now.filter { $0.key < child || $0.key == parent } }
        let proc = self.proc
        let start = { (path: String) in (try? proc.bytes(path)).flatMap { ProcStat(parsing: $0) }?.startTicks }
        let childStart = start("\(child)/stat") ?? .max
        return now.filter { $0.key == parent || (start("\(parent)/task/\($0.key)/stat") ?? .max) <= childStart }
    }

    private func consider(child: Int32, parent: Int32, threadsAtFork: [Int32: String]) {
        guard threadsAtFork.count >= 2 else { return }
        let named = threadsAtFork.sorted { $0.key < $1.key }.map { (tid: $0.key, name: $0.value) }
        pending[child] = PendingFork(parent: parent, parentName: threadsAtFork[parent] ?? "?", threads: named,
                                     deadline: Date().addingTimeInterval(options.forkGrace))
    }

    private func checkPending(now: Date) {
        for (child, fork) in pending where fork.deadline <= now {
            pending[child] = nil
            guard execed(child, parent: fork.parent) == false else { continue }
            report(child: child, fork, exited: false)
        }
    }

    /// An exec shows as another executable or a moved stack (ASLR), the proc connector aside; nil
    /// when the child is gone and /proc cannot tell (polling; the connector reports its exit).
    private func execed(_ child: Int32, parent: Int32) -> Bool? {
        guard let childExe = try? proc.link("\(child)/exe") else { return nil }
        if let parentExe = try? proc.link("\(parent)/exe"), parentExe != childExe { return true }
        func stackTop(_ pid: Int32) -> UInt64? {
            MemoryMapping.parseAll((try? proc.bytes("\(pid)/maps")) ?? []).first { $0.path == "[stack]" }?.end
        }
        if let a = stackTop(child), let b = stackTop(parent) { return a != b }
        return nil
    }

    private func report(child: Int32, _ fork: PendingFork, exited: Bool) {
        hazards += 1
        if worstVerdict == .healthy { worstVerdict = .hazard }
        // Names as they are now, where the threads still exist (a thread is often named after it starts).
        let threads = fork.threads.map { thread in
            (tid: thread.tid, name: (try? proc.text("\(fork.parent)/task/\(thread.tid)/comm"))?.trimmed ?? thread.name)
        }
        let others = threads.filter { $0.tid != fork.parent }
        writer.emit(WatchEvent(
            "fork-from-threaded", pids: [child, fork.parent], tids: fork.threads.map(\.tid), severity: .warning,
            message: "\(child) was forked without exec from \(fork.parentName) \(fork.parent) while it had "
                + "\(plural(others.count, "other thread", "other threads"))" + (exited ? " (it exited without exec)" : ""),
            evidence: ["threads of \(fork.parent) at the fork: " + threads.map { "'\($0.name)' \($0.tid)" }.joined(separator: ", ")]))
    }

    // MARK: progress

    /// CPU time and context switches of every thread: any change is progress.
    private func sampleProgress() -> Outcome? {
        var signature: [Int32: UInt64] = [:]
        for pid in tree {
            for tid in (try? proc.numericEntries("\(pid)/task")) ?? [] {
                guard let stat = (try? proc.bytes("\(pid)/task/\(tid)/stat")).flatMap({ ProcStat(parsing: $0) }) else { continue }
                let status = (try? proc.bytes("\(pid)/task/\(tid)/status")).map { ProcStatus(parsing: $0) }
                signature[tid] = stat.utimeTicks &+ stat.stimeTicks &+ (status?.voluntaryContextSwitches ?? 0) &* 1_000_003
                    &+ (status?.nonvoluntaryContextSwitches ?? 0) &* 7_919
            }
        }
        if signature != lastSignature {
            lastSignature = signature
            lastProgress = Date()
            stallReported = false
            return nil
        }
        guard !stallReported, Date().timeIntervalSince(lastProgress) >= options.stallAfter else { return nil }
        return stalled()
    }

    private func stalled() -> Outcome? {
        stalls += 1
        stallReported = true
        writer.emit(WatchEvent("stall", pids: [root], severity: .error,
                               message: "no thread of the tree made progress for \(formatDuration(Date().timeIntervalSince(lastProgress))): diagnosing"))
        if let report = try? options.diagnosis.run(pids: [root]) {
            worstVerdict = max(worstVerdict, report.verdict)
            // The text report goes with text events; JSON Lines and annotations stay parseable
            // (the JSON report is in --report, the error findings follow as events).
            if writer.format == .text { writer.write(TextRenderer(color: false).render(report)) }
            if let file = options.reportFile, !FileManager.default.createFile(atPath: file, contents: Data(report.json().utf8)) {
                writer.emit(WatchEvent("note", pids: [root], message: "could not write the report to \(file)"))
            }
            for finding in report.findings where finding.severity == .error {
                writer.emit(WatchEvent(finding.rule, pids: finding.pids, tids: finding.tids, severity: .error,
                                       message: finding.message, evidence: finding.evidence))
            }
        }
        switch options.onStall {
        case .kill where owned:
            endTree()
            return .killedWhenStuck
        case .report where !owned, .kill:
            return .stuck
        default:
            return nil
        }
    }

    /// SIGTERM to the root, then to every other process of the tree, by PID; SIGKILL to what is
    /// left after the grace. Only for a tree this process started.
    private func endTree() {
        var members = [root] + ProcessTable(proc: proc).descendants(of: root)
        writer.emit(WatchEvent("kill", pids: members, message: "ending the stuck tree: SIGTERM to "
                               + members.map(String.init).joined(separator: ", ")
                               + ", SIGKILL after \(formatDuration(options.killGrace)) to any left"))
        for pid in members { kill(pid, SIGTERM) }
        let deadline = Date().addingTimeInterval(options.killGrace)
        var status: Int32 = 0
        var rootReaped = false
        while Date() < deadline {
            if !rootReaped, waitpid(root, &status, WNOHANG) == root { rootReaped = true }
            members = members.filter { $0 == root ? !rootReaped : alive($0) }
            if members.isEmpty { return }
            usleep(20_000)
        }
        for pid in members { kill(pid, SIGKILL) }
        if !rootReaped { while waitpid(root, &status, 0) < 0 && errno == EINTR {} }
    }

    private func alive(_ pid: Int32) -> Bool {
        guard let stat = (try? proc.bytes("\(pid)/stat")).flatMap({ ProcStat(parsing: $0) }) else { return false }
        return stat.state != "Z" && stat.state != "X"
    }

    private func rootEnded() -> Outcome? {
        if owned {
            var status: Int32 = 0
            let reaped = waitpid(root, &status, WNOHANG)
            return reaped == root ? .exited(status: status) : nil
        }
        return alive(root) ? nil : .treeGone
    }

    private func finish(_ outcome: Outcome) -> Outcome {
        for (child, fork) in pending where execed(child, parent: fork.parent) == false { report(child: child, fork, exited: false) }
        pending = [:]
        var summary = WatchEvent("summary", pids: [root], message: "")
        let (name, status): (String, Int32)
        switch outcome {
        case .exited(let raw): (name, status) = ("exited", Self.exitStatus(raw))
        case .killedWhenStuck: (name, status) = ("killed-when-stuck", 124)
        case .stuck: (name, status) = ("stuck", 124)
        case .treeGone: (name, status) = ("tree-gone", worstVerdict.exitCode)
        }
        summary.message = "\(name); \(plural(seen, "process", "processes")) seen, \(plural(hazards, "fork", "forks")) from a multi-threaded parent, "
            + "\(plural(stalls, "stall", "stalls"))" + (lost > 0 ? ", \(lost) bursts of lost events" : "")
        summary.summary = WatchSummary(eventSource: eventSource, processesSeen: seen, forksFromThreaded: hazards, stalls: stalls,
                                       lostEventBursts: lost, outcome: name, exitStatus: status)
        writer.emit(summary)
        return outcome
    }

    /// A wait status as a shell reports it: the exit code, or 128 + the signal.
    public static func exitStatus(_ raw: Int32) -> Int32 {
        let signal = raw & 0x7f
        return signal == 0 ? (raw >> 8) & 0xff : 128 + signal
    }
}
