#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import CForkHazard
import Dispatch
import Glibc
import ProcFS
import PythonRuntime
import Symbols
import Synchronization

/// Why a diagnosis could not start.
public enum InspectError: Error, Equatable, LocalizedError {
    case noSuchProcess(Int32)
    case notPermitted(Int32)
    case procUnavailable(String)

    public var errorDescription: String? {
        switch self {
        case .noSuchProcess(let pid): return "no process with PID \(pid)"
        case .notPermitted(let pid): return "not permitted to inspect PID \(pid) (\(Permission.hint))"
        case .procUnavailable(let path): return "cannot read \(path): is /proc mounted?"
        }
    }
}

/// What this tool may do to other processes, for the messages that say why it could not.
enum Permission {
    /// How to get the permission a debugger needs: as another user, be root; as root without
    /// CAP_SYS_PTRACE (a container's default), get it.
    static let hint: String = {
        let own = (try? ProcRoot().bytes("self/status")).map { ProcStatus(parsing: $0) }
        let ptraceCapability: UInt64 = 1 << 19
        if geteuid() != 0 { return "run as the process owner or as root" }
        if let caps = own?.effectiveCapabilities, caps & ptraceCapability == 0 {
            return "this forkhazard runs as root without CAP_SYS_PTRACE; in a container, add it with docker run --cap-add SYS_PTRACE"
        }
        return "refused although this forkhazard is root with CAP_SYS_PTRACE: Yama's ptrace_scope or a security module"
    }()
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
    /// Where modules' symbols and DWARF are kept, by file (its identity: device, inode, size and
    /// modification time): by default one for every snapshot of this process, so that `run` and
    /// `watch` read each library once, and a diagnosis does not spend its last milliseconds
    /// freeing megabytes of tables it is about to exit with.
    public var symbolizer: Symbolizer

    public init(proc: ProcRoot = ProcRoot(), architecture: Architecture = .host, stacks: StackOptions? = StackOptions(),
                confirmDelay: Double = 0, symbolizer: Symbolizer = .shared) {
        self.proc = proc
        self.architecture = architecture
        self.stacks = stacks
        self.confirmDelay = confirmDelay
        self.symbolizer = symbolizer
    }

    /// The snapshot of the trees under `requested`, taken in stages, each taking the records the
    /// one before returned; see docs/architecture.md.
    public func take(roots requested: [Int32]) throws(InspectError) -> Snapshot {
        let statText: String
        do { statText = try proc.text("stat") } catch { throw .procUnavailable(proc.url("stat")) }
        let host = HostInfo(architecture: architecture,
                            kernel: ((try? proc.text("sys/kernel/osrelease")) ?? "unknown").trimmed,
                            aslr: (try? proc.text("sys/kernel/randomize_va_space")).flatMap { Int($0.trimmed) },
                            clockTicksPerSecond: max(1, sysconf(Int32(_SC_CLK_TCK))),
                            bootTime: parseBootTime(statText) ?? 0,
                            pidMax: (try? proc.text("sys/kernel/pid_max")).flatMap { Int32($0.trimmed) } ?? 4_194_304)
        // Every process on the host, by parent: /proc has no reliable children list on every kernel.
        let table = ProcessTable(proc: proc)
        let selection = try Selection(requested: requested, proc: proc, table: table)
        var notes = selection.notes
        let context = SharedContext(proc: proc, table: table)
        let decoder = WaitDecoder(architecture: architecture)
        let live = proc.isLive && architecture == .host

        var records = FirstLook(context: context, decoder: decoder, host: host).run(selection.order, notes: &notes)
        if records.isEmpty, let first = requested.first { throw .noSuchProcess(first) }
        records = SecondLook(delay: confirmDelay).run(records)
        if live { records = Interpreters().run(records, notes: &notes) }
        let prefetch = DispatchGroup()
        defer { prefetch.wait() }
        var pending = PendingSources()
        if let stacks, live {
            records = StackStage(options: stacks, symbolizer: symbolizer).run(records, prefetch: prefetch, pending: &pending,
                                                                               notes: &notes)
        }
        records = PythonFrames().run(records)
        records = AsyncioTasks().run(records, notes: &notes)
        records = ResumedCalls(decoder: decoder).run(records)
        // Who holds the other end of every pipe and unix socket waited on, and who maps the
        // objects behind shared futexes.
        let resolver = PeerResolver(proc: proc, shared: context)
        records.updateSnapshots { processes in
            resolver.resolve(&processes, notes: &notes)
            resolver.resolveSharedMappings(&processes)
        }
        notes.append(contentsOf: context.notes)
        // How each process came to be, and which of its parent's threads were there at its fork.
        records.updateSnapshots { ForkProvenance.annotate(&$0, host: host) }
        records = LockStage().run(records)
        pending.fill(&records)
        return Snapshot(takenAt: isoTime(Date()), host: host, roots: selection.roots, processes: records.map(\.snapshot),
                        notes: notes)
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
