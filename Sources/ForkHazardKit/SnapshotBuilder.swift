#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Glibc
import ProcFS
import Symbols

/// Why a diagnosis could not start.
public enum InspectError: Error, Equatable, LocalizedError {
    case noSuchProcess(Int32)
    case notPermitted(Int32)
    case procUnavailable(String)

    public var errorDescription: String? {
        switch self {
        case .noSuchProcess(let pid): return "no process with PID \(pid)"
        case .notPermitted(let pid): return "not permitted to inspect PID \(pid) (run as its owner or as root)"
        case .procUnavailable(let path): return "cannot read \(path): is /proc mounted?"
        }
    }
}

/// Reads a process tree from /proc into a `Snapshot`. Never stops or signals a target: everything
/// comes from /proc files and `process_vm_readv`.
public struct SnapshotBuilder: Sendable {
    public var proc: ProcRoot
    public var architecture: Architecture
    /// How to take native stacks; nil skips ptrace entirely.
    public var stacks: StackOptions?
    /// A pause before the second look at blocked threads, for the cautious; by default none is
    /// needed: a woken thread is runnable at once and its context switch counts move.
    public var confirmDelay: Double

    public init(proc: ProcRoot = ProcRoot(), architecture: Architecture = .host, stacks: StackOptions? = StackOptions(),
                confirmDelay: Double = 0) {
        self.proc = proc
        self.architecture = architecture
        self.stacks = stacks
        self.confirmDelay = confirmDelay
    }

    public func take(roots requested: [Int32]) throws(InspectError) -> Snapshot {
        var notes: [String] = []
        let statText: String
        do { statText = try proc.text("stat") } catch { throw .procUnavailable(proc.url("stat")) }
        let host = HostInfo(architecture: architecture,
                            kernel: ((try? proc.text("sys/kernel/osrelease")) ?? "unknown").trimmed,
                            aslr: (try? proc.text("sys/kernel/randomize_va_space")).flatMap { Int($0.trimmed) },
                            clockTicksPerSecond: max(1, sysconf(Int32(_SC_CLK_TCK))),
                            bootTime: parseBootTime(statText) ?? 0)

        // Every process on the host, by parent: /proc has no reliable children list on every kernel.
        let table = ProcessTable(proc: proc)
        var roots: [Int32] = []
        for pid in requested {
            let stat: ProcStat
            do throws(ProcError) {
                guard let parsed = ProcStat(parsing: try proc.bytes("\(pid)/stat")) else { throw ProcError.gone }
                stat = parsed
            } catch .denied {
                throw .notPermitted(pid)
            } catch {
                throw .noSuchProcess(pid)
            }
            // A TID names its thread group's directory too; show the whole process.
            let tgid = (try? proc.bytes("\(pid)/status")).map { ProcStatus(parsing: $0) }?.tgid ?? stat.pid
            if tgid != pid { notes.append("\(pid) is a thread of process \(tgid); showing process \(tgid)") }
            if !roots.contains(tgid) { roots.append(tgid) }
        }

        // Tree order: each root, then its descendants depth first, by PID. A root that is a
        // descendant of another root is shown once, under its ancestor.
        var order: [Int32] = []
        var seen = Set<Int32>()
        func visit(_ pid: Int32) {
            guard seen.insert(pid).inserted else { return }
            order.append(pid)
            for child in table.children(of: pid) { visit(child) }
        }
        let nested = Set(roots.flatMap { table.descendants(of: $0) })
        for root in roots where !nested.contains(root) { visit(root) }

        let clock = Double(host.clockTicksPerSecond)
        let decoder = WaitDecoder(architecture: architecture)
        let context = SharedContext(proc: proc, table: table)
        var processes: [ProcessSnapshot] = []
        var readers: [ProcessReader] = []
        for pid in order {
            let reader = ProcessReader(pid: pid, shared: context)
            guard let process = reader.read(decoder: decoder, bootTime: host.bootTime, ticksPerSecond: clock, notes: &notes) else { continue }
            processes.append(process)
            readers.append(reader)
        }
        if processes.isEmpty, let first = requested.first { throw .noSuchProcess(first) }

        // Fill in who holds the other end of every pipe and unix socket waited on, and who maps
        // the objects behind shared futexes.
        let resolver = PeerResolver(proc: proc, shared: context)
        resolver.resolve(&processes, notes: &notes)
        resolver.resolveSharedMappings(&processes)
        notes.append(contentsOf: context.notes)

        // The second look, still before anything is stopped.
        if confirmDelay > 0 { usleep(UInt32(min(confirmDelay, 60) * 1e6)) }
        for index in processes.indices {
            for t in processes[index].threads.indices where processes[index].threads[t].wait?.forever == true {
                processes[index].threads[t].steady = readers[index].isSteady(processes[index].threads[t].tid)
            }
        }

        // Only now, with every wait read, stop threads one at a time for their stacks.
        if let stacks, proc.path == "/proc", architecture == .host {
            let symbolizer = Symbolizer()
            for index in processes.indices {
                takeStacks(of: &processes[index], maps: readers[index].maps, options: stacks,
                           symbolizer: symbolizer, notes: &notes)
            }
        }
        for index in processes.indices {
            classifyLocks(of: &processes[index], reader: readers[index])
        }

        return Snapshot(takenAt: isoTime(Date()), host: host, roots: roots, processes: processes, notes: notes)
    }
}

extension SnapshotBuilder {
    /// Captures every live thread of `process` (one stopped at a time, released at once), then
    /// unwinds the copies.
    func takeStacks(of process: inout ProcessSnapshot, maps: [MemoryMapping], options: StackOptions,
                    symbolizer: Symbolizer, notes: inout [String]) {
        guard !process.isKernelThread, process.pid != getpid() else { return }
        var captures: [Int: StackCapture] = [:]
        var failure: StackError?
        for (index, thread) in process.threads.enumerated() where thread.state != "Z" && thread.state != "X" {
            do {
                captures[index] = try Ptrace.capture(tid: thread.tid, pid: process.pid, bytes: options.stackBytes) { sp in
                    maps.first { $0.contains(sp) }
                }
            } catch {
                if error != .exited { failure = failure ?? error }
                if case .notPermitted = error { break }
            }
        }
        if let failure {
            notes.append("\(process.pid): stacks not taken for \(process.threads.count - captures.count) of \(plural(process.threads.count, "thread", "threads")): \(failure.reason)")
        }
        guard !captures.isEmpty else { return }
        let unwinder = StackUnwinder(pid: process.pid, maps: maps, symbolizer: symbolizer, maxFrames: options.maxFrames,
                                     readsMappedFiles: options.readsMappedFiles, sourceLines: options.sourceLines)
        for (index, capture) in captures {
            process.threads[index].stack = unwinder.frames(for: capture)
            process.threads[index].pauseMicros = (capture.pauseMicros * 10).rounded() / 10
        }
        notes.append(contentsOf: unwinder.notes)
    }

    /// The kind of lock each futex wait is for, and its owner where the lock records one.
    func classifyLocks(of process: inout ProcessSnapshot, reader: ProcessReader) {
        for index in process.threads.indices {
            let stack = process.threads[index].stack
            guard let wait = process.threads[index].wait, var lock = LockClassifier.classify(wait, stack: stack) else { continue }
            if let (owner, source) = reader.lockOwner(lock, wait: wait, stack: stack) {
                lock.owner = owner
                lock.ownerSource = source
            } else if [.semaphore, .cpythonLock, .cpythonImportLock, .conditionVariable, .cpythonGIL].contains(lock.kind) {
                lock.recordsNoOwner = true
            }
            process.threads[index].wait?.lock = lock
            var suffix = lock.kind != .unknown ? lock.kind.label : ""
            if let owner = lock.owner { suffix += (suffix.isEmpty ? "" : " ") + "owned by TID \(owner)" }
            if !suffix.isEmpty { process.threads[index].wait?.summary += " — " + suffix }
        }
    }
}

/// PPID and process group of every process on the host, from one pass over `/proc/*/stat`.
final class ProcessTable {
    struct Entry { var ppid: Int32; var pgrp: Int32; var name: String }
    private(set) var entries: [Int32: Entry] = [:]
    private var childrenByParent: [Int32: [Int32]] = [:]

    init(proc: ProcRoot) {
        for pid in (try? proc.numericEntries("")) ?? [] {
            guard let bytes = try? proc.bytes("\(pid)/stat"), let stat = ProcStat(parsing: bytes) else { continue }
            entries[pid] = Entry(ppid: stat.ppid, pgrp: stat.pgrp, name: stat.comm)
            childrenByParent[stat.ppid, default: []].append(pid)
        }
    }

    func children(of pid: Int32) -> [Int32] { (childrenByParent[pid] ?? []).sorted() }

    func descendants(of pid: Int32) -> [Int32] {
        children(of: pid).flatMap { [$0] + descendants(of: $0) }
    }

    var allPids: [Int32] { entries.keys.sorted() }
}

/// Caches shared by every process of one snapshot: socket tables per network namespace, unix
/// socket peers and /proc/locks.
final class SharedContext {
    let proc: ProcRoot
    let table: ProcessTable
    var notes: [String] = []
    private var unixTables: [String: [UInt64: UnixSocketEntry]] = [:]
    private var inetTables: [String: [UInt64: InetSocketEntry]] = [:]
    private var unixPeers: [UInt64: UInt64]?
    private var ownNetNamespace: String?
    private var locks: [FileLockEntry]?

    init(proc: ProcRoot, table: ProcessTable) {
        self.proc = proc
        self.table = table
    }

    func unixSocket(_ inode: UInt64, pid: Int32) -> UnixSocketEntry? {
        let ns = (try? proc.link("\(pid)/ns/net")) ?? "?"
        if unixTables[ns] == nil {
            unixTables[ns] = UnixSocketEntry.parseTable((try? proc.text("\(pid)/net/unix")) ?? "")
        }
        return unixTables[ns]?[inode]
    }

    func inetSocket(_ inode: UInt64, pid: Int32) -> InetSocketEntry? {
        let ns = (try? proc.link("\(pid)/ns/net")) ?? "?"
        if inetTables[ns] == nil {
            var merged: [UInt64: InetSocketEntry] = [:]
            for name in ["tcp", "tcp6", "udp", "udp6"] {
                let text = (try? proc.text("\(pid)/net/\(name)")) ?? ""
                merged.merge(InetSocketEntry.parseTable(text, proto: name)) { a, _ in a }
            }
            inetTables[ns] = merged
        }
        return inetTables[ns]?[inode]
    }

    /// The peer of a unix socket, via sock_diag; only for sockets in this tool's network namespace.
    func unixPeer(_ inode: UInt64, pid: Int32) -> UInt64? {
        if ownNetNamespace == nil { ownNetNamespace = (try? proc.link("self/ns/net")) ?? "" }
        guard let ns = try? proc.link("\(pid)/ns/net"), ns == ownNetNamespace, proc.path == "/proc" else { return nil }
        if unixPeers == nil {
            unixPeers = UnixDiag.peers() ?? [:]
            if unixPeers!.isEmpty { notes.append("unix socket peers unavailable: the sock_diag netlink query failed") }
        }
        return unixPeers?[inode]
    }

    func fileLocks() -> [FileLockEntry] {
        if locks == nil { locks = FileLockEntry.parseAll((try? proc.text("locks")) ?? "") }
        return locks!
    }
}

func isoTime(_ date: Date) -> String {
    isoTime(secondsSinceEpoch: date.timeIntervalSince1970)
}

/// `2026-11-22T00:28:16.194Z`, without a formatter object (this runs once per thread).
func isoTime(secondsSinceEpoch: Double) -> String {
    var whole = time_t(secondsSinceEpoch.rounded(.down))
    let millis = Int((secondsSinceEpoch - Double(whole)) * 1000)
    var parts = tm()
    gmtime_r(&whole, &parts)
    func pad(_ value: Int32, _ width: Int) -> String {
        let text = String(value)
        return String(repeating: "0", count: max(0, width - text.count)) + text
    }
    return "\(pad(parts.tm_year + 1900, 4))-\(pad(parts.tm_mon + 1, 2))-\(pad(parts.tm_mday, 2))T"
        + "\(pad(parts.tm_hour, 2)):\(pad(parts.tm_min, 2)):\(pad(parts.tm_sec, 2)).\(pad(Int32(millis), 3))Z"
}
