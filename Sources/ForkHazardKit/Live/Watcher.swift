import CForkHazard
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Glibc
import ProcFS

/// What `run` and `watch` do when a stall's diagnosis proves the tree stuck.
public enum StallAction: String, Sendable, CaseIterable {
    /// Print the report, end the tree (SIGTERM, then SIGKILL after a grace) and exit 124.
    case kill
    /// Print the report and stop watching (exit 124); for `run`, keep waiting for the command.
    case report
    /// Print the report and keep watching until the tree ends.
    case wait
}

public struct WatchOptions: Sendable {
    /// A thread that has sat in the same wait this long, while every other thread did no more
    /// than wake on a timer and return to its wait, makes a stall: the tree is diagnosed.
    public var stallAfter: Double = 60
    public var onStall: StallAction = .report
    /// End the job (`run`) or the watch after this long without progress, whatever the
    /// diagnosis; nil: never.
    public var idleLimit: Double?
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
        /// forkhazard ended the tree, proven stuck.
        case killedWhenStuck
        /// Proven stuck, reported, not killed.
        case stuck
        /// forkhazard ended the tree at the idle limit.
        case killedAtIdleLimit
        /// The idle limit was reached; the tree was not ours to end.
        case idleLimit
        /// The watched root (not ours) is gone.
        case treeGone

        /// The exit status `run` and `watch` give for an outcome forkhazard decided: 124 for a
        /// tree proven stuck, 125 at the idle limit.
        public static let stuckStatus: Int32 = 124
        public static let idleLimitStatus: Int32 = 125
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
    private var eventSource = WatchEvent.EventSource.polling(.forced)
    /// Each thread's wait line and context switches at the last sample, and since when they have not changed.
    private var samples: [Int32: (wait: String, switches: UInt64)] = [:]
    private var unchangedSince: [Int32: Date] = [:]
    /// The last time a thread changed its wait, ran, started or ended.
    private var lastProgress = Date()
    /// The last diagnosis; the next comes a stall later.
    private var lastLook = Date.distantPast
    /// What the last idle line said, as values, so that it is repeated only when the reason changes.
    private var lastIdle: String?
    /// A stall's diagnosis proved the tree stuck; no more looks until it moves.
    private var provenStuck = false
    private(set) public var worstVerdict = Verdict.healthy

    struct PendingFork {
        var parent: Int32
        /// Threads of the parent at the fork, with names.
        var threads: [Int32: String]
        var deadline: Date
    }

    private var socket: ProcEventSocket?
    private lazy var shared = SharedContext(proc: proc, table: ProcessTable(proc: proc, scan: false))
    private lazy var aslr: Int? = (try? proc.text("sys/kernel/randomize_va_space")).flatMap { Int($0.trimmed) }
    private lazy var pidMax: Int32 = (try? proc.text("sys/kernel/pid_max")).flatMap { Int32($0.trimmed) } ?? 4_194_304

    /// The inode numbers the kernel gives its initial PID and user namespaces (PROC_PID_INIT_INO,
    /// PROC_USER_INIT_INO), the same on every boot.
    static let initialPidNamespace: UInt64 = 0xEFFF_FFFC
    static let initialUserNamespace: UInt64 = 0xEFFF_FFFD

    /// Subscribes to process events at once, so that a command started next is followed from its
    /// first fork.
    public init(owned: Bool, options: WatchOptions, writer: EventWriter) {
        self.owned = owned
        self.options = options
        self.writer = writer
        // The kernel sends process events only to listeners in the initial PID and user
        // namespaces; elsewhere (in a container) a subscription silently gets nothing.
        let initial = (try? proc.link("self/ns/pid")) == "pid:[\(Self.initialPidNamespace)]"
            && (try? proc.link("self/ns/user")) == "user:[\(Self.initialUserNamespace)]"
        if !initial {
            eventSource = .polling(.notInitialNamespace)
        } else if !options.forcePolling {
            do {
                socket = try ProcEventSocket()
                eventSource = .procConnector
            } catch {
                if case .unavailable(let code) = error { eventSource = .polling(.connectorUnavailable(errno: code)) }
            }
        }
    }

    /// Watches the tree of `root` until it ends, or until a stall is acted on.
    public func run(root: Int32) -> Outcome {
        self.root = root
        let socket = self.socket
        rescan()
        emit(.start(processes: tree.count, source: eventSource, stallAfter: options.stallAfter))
        var lastSample = Date.distantPast
        let sampleEvery = min(1.0, max(0.05, options.stallAfter / 4))
        while true {
            let signal = fh_take_received_signal()
            if signal != 0 {
                emit(.signal(number: signal, forwardedTo: owned ? root : nil))
            }
            // Events first: a root that has just ended may have forked right before.
            let ended = rootEnded()
            if let socket {
                do {
                    for event in try socket.drain() { handle(event) }
                } catch {
                    lost += 1
                    emit(.note(.lostEvents))
                    discoverByScan()
                }
            } else {
                discoverByScan()
            }
            if let ended {
                if owned { endLeftBehind() }
                return finish(ended)
            }
            checkPending(now: Date())
            if Date().timeIntervalSince(lastSample) >= sampleEvery {
                lastSample = Date()
                // A thread a diagnosis seized that had not stopped yet is released once it has.
                Ptrace.releasePending()
                if let outcome = sampleProgress() { return finish(outcome) }
            }
            var pollFd = pollfd(fd: socket?.fd ?? -1, events: Int16(POLLIN), revents: 0)
            _ = poll(&pollFd, socket == nil ? 0 : 1, 20)
        }
    }

    // MARK: the tree

    private func rescan() {
        tree.insert(root)
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
            if tree.insert(childTgid).inserted { seen += 1 }
            threads[childTgid] = [childTgid: threads[parent]?[parent] ?? name(childTgid, childTgid)]
            consider(child: childTgid, parent: parent, threadsAtFork: threads[parent] ?? [:])
        case .fork(_, let tid, let tgid) where tid != tgid && tree.contains(tgid):
            threads[tgid, default: [:]][tid] = name(tgid, tid)
        case .exec(_, let tgid):
            pending[tgid] = nil
        case .exit(let pid, let tgid, _) where pid == tgid:
            if let fork = pending.removeValue(forKey: tgid) { report(child: tgid, fork, basis: [], exited: true) }
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

    /// Polling: the parent's threads now, less those created after the fork, as fork provenance
    /// tells them from start times and the PID counter.
    private func threadsAtFork(of parent: Int32, child: Int32) -> [Int32: String] {
        let proc = self.proc
        let start = { (path: String) in (try? proc.bytes(path)).flatMap { ProcStat(parsing: $0) }?.startTicks }
        guard let childStart = start("\(child)/stat") else { return [:] }
        let threads = readThreads(of: parent).compactMap { tid, name in
            start("\(parent)/task/\(tid)/stat").map { ForkProvenance.ThreadStart(tid: tid, name: name, startTicks: $0) }
        }
        let atFork = ForkProvenance.threadsAtFork(parentPid: parent, threads: threads, childPid: child,
                                                  childStartTicks: childStart, pidMax: pidMax)
        return Dictionary(atFork.map { ($0.tid, $0.name) }, uniquingKeysWith: { a, _ in a })
    }

    private func consider(child: Int32, parent: Int32, threadsAtFork: [Int32: String]) {
        guard threadsAtFork.count >= 2 else { return }
        pending[child] = PendingFork(parent: parent, threads: threadsAtFork, deadline: Date().addingTimeInterval(options.forkGrace))
    }

    private func checkPending(now: Date) {
        for (child, fork) in pending.sorted(by: { $0.key < $1.key }) where fork.deadline <= now {
            pending[child] = nil
            let origin = self.origin(of: child, parent: fork.parent)
            guard origin?.kind == .forkedWithoutExec else { continue }
            report(child: child, fork, basis: origin?.basis ?? [], exited: false)
        }
    }

    /// How the child came to be, by the same provenance as a diagnosis; nil when it is gone.
    private func origin(of child: Int32, parent: Int32) -> ForkOrigin? {
        func facts(_ pid: Int32) -> ForkProvenance.ProcessFacts? {
            guard let argv = (try? proc.bytes("\(pid)/cmdline")).map(parseCmdline) else { return nil }
            let exe = try? proc.link("\(pid)/exe")
            let reader = ProcessReader(pid: pid, shared: shared)
            var facts = ForkProvenance.ProcessFacts(argv: argv, exe: exe, layout: AddressLayout(maps: reader.maps, exe: exe),
                                                    startupRandom: reader.startupRandomDigest())
            facts.randomizationOff = reader.addressRandomizationOff()
            return facts
        }
        guard var childFacts = facts(child), let parentFacts = facts(parent) else { return nil }
        childFacts.sharesMemory = fh_same_memory(child, parent) == 1
        return ForkProvenance.origin(child: childFacts, parent: parentFacts, parentPid: parent, aslr: aslr)
    }

    private func report(child: Int32, _ fork: PendingFork, basis: [ForkBasis], exited: Bool) {
        hazards += 1
        if worstVerdict == .healthy { worstVerdict = .hazard }
        // Names as they are now, where the threads still exist (a thread is often named after it starts).
        let threads = fork.threads.sorted { $0.key < $1.key }.map { tid, name in
            ThreadAtFork(tid: tid, name: (try? proc.text("\(fork.parent)/task/\(tid)/comm"))?.trimmed ?? name, certainty: .certain)
        }
        let childName = (try? proc.text("\(child)/comm"))?.trimmed ?? fork.threads[fork.parent] ?? "?"
        let facts = ForkFromThreadedFacts(
            parent: ProcessRef(pid: fork.parent, name: fork.threads[fork.parent] ?? "?"),
            children: [ProcessRef(pid: child, name: childName)], threadsAtFork: threads, basis: basis, exitedWithoutExec: exited)
        emit(.finding(Finding(rule: .forkFromThreaded, severity: .warning, pids: [child, fork.parent],
                              tids: threads.map(\.tid), facts: facts)))
    }

    private func emit(_ kind: WatchEvent.Kind, report: Report? = nil) {
        writer.emit(WatchEvent(kind, root: root, report: report))
    }

    // MARK: progress

    /// Samples every thread's wait and context switches. Progress is a thread that changed its
    /// wait, ran, started or ended; a thread that wakes on a timer and returns to the same wait,
    /// or goes from one timed wait to another (a monitor thread sleeping, then waiting on an event
    /// with a timeout), is no progress. A stall is a thread that has sat in the same wait, untouched, for
    /// `stallAfter`, with no progress anywhere for as long: then the tree is diagnosed, and only
    /// a proof that it is stuck is acted on.
    private func sampleProgress() -> Outcome? {
        let now = Date()
        var current: [Int32: (wait: String, switches: UInt64)] = [:]
        var progress = false
        for pid in tree {
            for tid in (try? proc.numericEntries("\(pid)/task")) ?? [] {
                guard let wait = (try? proc.text("\(pid)/task/\(tid)/syscall"))?.trimmed else { continue }
                let status = (try? proc.bytes("\(pid)/task/\(tid)/status")).map { ProcStatus(parsing: $0) }
                let sample = (wait: wait, switches: (status?.voluntaryContextSwitches ?? 0) &+ (status?.nonvoluntaryContextSwitches ?? 0))
                current[tid] = sample
                if wait == "running" || wait.hasPrefix("-1") { progress = true }
                if let old = samples[tid] {
                    if !Self.sameWait(old.wait, wait), !Self.bothTimed(old.wait, wait) { progress = true }
                    if old.wait != wait || old.switches != sample.switches { unchangedSince[tid] = now }
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
        if let limit = options.idleLimit, now.timeIntervalSince(lastProgress) >= limit {
            return idleLimitReached(quiet: now.timeIntervalSince(lastProgress))
        }
        let quiet = now.timeIntervalSince(max(lastProgress, lastLook))
        let stalled = unchangedSince.values.contains { now.timeIntervalSince($0) >= options.stallAfter }
        guard !provenStuck, quiet >= options.stallAfter, stalled else { return nil }
        return look(quiet: now.timeIntervalSince(lastProgress))
    }

    /// Two samples of one thread are waits that each end by themselves: a timer's thread at work.
    static func bothTimed(_ a: String, _ b: String) -> Bool {
        [a, b].allSatisfy { line in SyscallState(parsing: line).map { WaitDecoder.wakesByItself($0, on: .host) } ?? false }
    }

    /// Two samples of one thread are the same wait: the same call with the same arguments, or that
    /// call resumed as `restart_syscall` after a stop (its argument registers unchanged).
    static func sameWait(_ a: String, _ b: String) -> Bool {
        guard a != b else { return true }
        let x = a.split(separator: " "), y = b.split(separator: " ")
        guard x.count >= 7, y.count >= 7, x[1...6] == y[1...6], let number = Int(y[0]) else { return false }
        return SyscallNames.name(number, on: .host) == "restart_syscall"
    }

    /// Diagnoses the quiet tree; acts only on a proof that it is stuck (an error finding).
    private func look(quiet: Double) -> Outcome? {
        lastLook = Date()
        guard let report = try? options.diagnosis.run(pids: jobMembers()) else { return nil }
        worstVerdict = max(worstVerdict, report.verdict)
        guard report.verdict == .deadlock else {
            let reasons = Self.idleReasons(report)
            // The same threads kept alive the same way: no new line (times left do not count).
            let key = reasons.map { key, why in "\(key.tid) \(Self.kind(of: why))" }.joined(separator: ",")
            if key != lastIdle {
                lastIdle = key
                emit(.idle(quietSeconds: quiet, reasons: reasons), report: report)
            }
            return nil
        }
        stalls += 1
        provenStuck = true
        lastIdle = nil
        emit(.stall(quietSeconds: quiet))
        publish(report)
        switch options.onStall {
        case .kill where owned:
            endTree(.stuck)
            return .killedWhenStuck
        case .report where !owned, .kill:
            return .stuck
        default:
            return nil
        }
    }

    /// No progress for the idle limit: the report, then the tree ends (ours) or the watch does.
    private func idleLimitReached(quiet: Double) -> Outcome {
        emit(.idleLimit(quietSeconds: quiet, limit: options.idleLimit ?? quiet, ending: owned))
        if let report = try? options.diagnosis.run(pids: jobMembers()) {
            worstVerdict = max(worstVerdict, report.verdict)
            publish(report)
        }
        guard owned else { return .idleLimit }
        endTree(.idleLimit)
        return .killedAtIdleLimit
    }

    /// The report on the event stream (text with text events; JSON Lines and annotations stay
    /// parseable: the JSON report goes to --report, the error findings follow as events).
    private func publish(_ report: Report) {
        if writer.format == .text { writer.write(TextRenderer(color: false).render(report)) }
        if let file = options.reportFile, !FileManager.default.createFile(atPath: file, contents: Data(report.json().utf8)) {
            emit(.note(.reportNotWritten(path: file)))
        }
        for finding in report.findings where finding.severity == .error {
            emit(.finding(finding), report: report)
        }
    }

    /// A live reason without its numbers that change by themselves (times left).
    static func kind(of why: WaitGraph.LiveReason) -> String {
        switch why {
        // A timed wait that a stop turned into restart_syscall is still the same timed wait.
        case .timed, .endsByItself(.restarted): return "timed"
        case .external(let fd): return "external \(fd.fd) \(fd.target ?? "")"
        default: return "\(why)"
        }
    }

    /// Why a quiet tree is not stuck: the live waits that keep it from being so, most telling first.
    static func idleReasons(_ report: Report) -> [(ThreadKey, WaitGraph.LiveReason)] {
        let graph = WaitGraph(processes: report.processes)
        func rank(_ why: WaitGraph.LiveReason) -> Int {
            switch why {
            case .stopped: return 0
            case .external, .outsideTree: return 1
            case .timed: return 2
            case .signalHandler: return 3
            case .endsByItself(.running): return 5
            default: return 4
            }
        }
        let live = graph.wakers.compactMap { key, wakers -> (ThreadKey, WaitGraph.LiveReason)? in
            if case .live(let why) = wakers { return (key, why) }
            return nil
        }
        return Array(live.sorted { (rank($0.1), $0.0) < (rank($1.1), $1.0) }.prefix(2))
    }

    /// Every live process of the job: the root, every process seen in its tree (a daemon that left
    /// it by a double fork stays: `run` is its subreaper), and their descendants; the root first.
    private func jobMembers() -> [Int32] {
        let table = ProcessTable(proc: proc)
        var members = Set(tree).union([root])
        // As subreaper, every child of this process other than the root is an orphan of the job.
        if owned { members.formUnion(table.children(of: getpid())) }
        for pid in members { members.formUnion(table.descendants(of: pid)) }
        return [root] + members.subtracting([root]).filter { alive($0) }.sorted()
    }

    /// SIGTERM to the root, then to every other process of the job, by PID; SIGKILL to what is
    /// left after the grace; everything reaped. Only for a tree this process started. The job is
    /// looked at again until none of it is left: a supervisor that restarts what it loses, or a
    /// process forked just before its parent was killed, does not survive `run`. As subreaper,
    /// every process of the job is a descendant of this one, so nothing else is ever signalled.
    private func endTree(_ why: WatchEvent.KillReason, members start: [Int32]? = nil) {
        let leftOnly = start != nil
        // Zombies count until reaped: the job is over when no process of it is left at all. The
        // root is one until it is reaped (its status kept).
        func remaining() -> [Int32] {
            let all = ProcessTable(proc: proc).descendants(of: getpid())
            return leftOnly ? all.filter { $0 != root } : all
        }
        var members = start ?? jobMembers()
        emit(.kill(pids: members, grace: options.killGrace, why: why))
        var terminated = Set<Int32>()
        func terminate(_ pids: [Int32]) {
            for pid in pids where terminated.insert(pid).inserted { kill(pid, SIGTERM) }
        }
        terminate(members)
        let deadline = Date().addingTimeInterval(options.killGrace)
        while Date() < deadline {
            reapChildren()
            members = remaining()
            if members.isEmpty { return }
            terminate(members.filter { alive($0) })  // what was started during the grace, too
            usleep(20_000)
        }
        for _ in 0..<200 {
            reapChildren()
            members = remaining()
            if members.isEmpty { break }
            for pid in members { kill(pid, SIGKILL) }
            usleep(10_000)
        }
        while rootStatus == nil && !leftOnly {
            var status: Int32 = 0
            let reaped = waitpid(-1, &status, 0)
            if reaped == root { rootStatus = status } else if reaped < 0 && errno != EINTR { break }
        }
        reapChildren()
    }

    /// The root's wait status, once reaped.
    private var rootStatus: Int32?

    /// Reaps every child that has ended: the root (its status kept) and, as subreaper, orphaned
    /// processes of the job.
    private func reapChildren() {
        guard owned else { return }
        while true {
            var status: Int32 = 0
            let reaped = waitpid(-1, &status, WNOHANG)
            guard reaped > 0 else { return }
            if reaped == root { rootStatus = status }
        }
    }

    private func alive(_ pid: Int32) -> Bool {
        guard let stat = (try? proc.bytes("\(pid)/stat")).flatMap({ ProcStat(parsing: $0) }) else { return false }
        return stat.state != "Z" && stat.state != "X"
    }

    private func rootEnded() -> Outcome? {
        guard owned else { return alive(root) ? nil : .treeGone }
        reapChildren()
        return rootStatus.map { .exited(status: $0) }
    }

    /// What the command left running (a daemon) ends with it: nothing of the job outlives `run`.
    private func endLeftBehind() {
        let leftBehind = jobMembers().filter { $0 != root }
        if !leftBehind.isEmpty { endTree(.leftBehind, members: leftBehind) }
    }

    private func finish(_ outcome: Outcome) -> Outcome {
        for (child, fork) in pending.sorted(by: { $0.key < $1.key }) {
            if let origin = origin(of: child, parent: fork.parent), origin.kind == .forkedWithoutExec {
                report(child: child, fork, basis: origin.basis, exited: false)
            }
        }
        pending = [:]
        let (name, status): (String, Int32)
        switch outcome {
        case .exited(let raw): (name, status) = ("exited", Self.exitStatus(raw))
        case .killedWhenStuck: (name, status) = ("killed-when-stuck", Outcome.stuckStatus)
        case .stuck: (name, status) = ("stuck", Outcome.stuckStatus)
        case .killedAtIdleLimit: (name, status) = ("killed-at-idle-limit", Outcome.idleLimitStatus)
        case .idleLimit: (name, status) = ("idle-limit", Outcome.idleLimitStatus)
        case .treeGone: (name, status) = ("tree-gone", worstVerdict.exitCode)
        }
        emit(.summary(WatchSummary(eventSource: eventSource, processesSeen: seen, forksFromThreaded: hazards, stalls: stalls,
                                   lostEventBursts: lost, outcome: name, exitStatus: status)))
        return outcome
    }

    /// A wait status as a shell reports it: the exit code, or 128 + the signal.
    public static func exitStatus(_ raw: Int32) -> Int32 {
        let signal = raw & 0x7f
        return signal == 0 ? (raw >> 8) & 0xff : 128 + signal
    }
}
