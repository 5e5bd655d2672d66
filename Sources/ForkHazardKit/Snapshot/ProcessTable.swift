import ProcFS
import Synchronization

/// PPID and process group of every process on the host, from one pass over `/proc/*/stat`.
final class ProcessTable: Sendable {
    struct Entry { var ppid: Int32; var pgrp: Int32; var name: String }
    let entries: [Int32: Entry]
    private let childrenByParent: [Int32: [Int32]]

    /// `scan: false` makes an empty table, for readers that need no other process.
    init(proc: ProcRoot, scan: Bool = true) {
        var entries: [Int32: Entry] = [:]
        var childrenByParent: [Int32: [Int32]] = [:]
        let pids = scan ? (try? proc.numericEntries("")) ?? [] : []
        // Read one per CPU at a time.
        let stats = parallelMap(pids) { (try? proc.bytes("\($0)/stat")).flatMap(ProcStat.init(parsing:)) }
        for (pid, stat) in zip(pids, stats) {
            guard let stat else { continue }
            entries[pid] = Entry(ppid: stat.ppid, pgrp: stat.pgrp, name: stat.comm)
            childrenByParent[stat.ppid, default: []].append(pid)
        }
        self.entries = entries
        self.childrenByParent = childrenByParent
    }

    func children(of pid: Int32) -> [Int32] { (childrenByParent[pid] ?? []).sorted() }

    func descendants(of pid: Int32) -> [Int32] {
        children(of: pid).flatMap { [$0] + descendants(of: $0) }
    }

    var allPids: [Int32] { entries.keys.sorted() }
}

/// Caches shared by every process of one snapshot: socket tables per network namespace, unix
/// socket peers and /proc/locks. Processes are read on several threads at once: each cache is
/// filled under a lock.
final class SharedContext: Sendable {
    let proc: ProcRoot
    let table: ProcessTable
    private struct Caches {
        var notes: [SnapshotNote] = []
        var unixTables: [String: [UInt64: UnixSocketEntry]] = [:]
        var inetTables: [String: [UInt64: InetSocketEntry]] = [:]
        var unixPeers: [UInt64: UInt64]?
        var ownNetNamespace: String?
        var locks: [FileLockEntry]?
    }
    private let caches = Mutex(Caches())

    init(proc: ProcRoot, table: ProcessTable) {
        self.proc = proc
        self.table = table
    }

    var notes: [SnapshotNote] { caches.withLock { $0.notes } }

    func unixSocket(_ inode: UInt64, pid: Int32) -> UnixSocketEntry? {
        let ns = (try? proc.link("\(pid)/ns/net")) ?? "?"
        return caches.withLock { caches in
            if caches.unixTables[ns] == nil {
                caches.unixTables[ns] = UnixSocketEntry.parseTable((try? proc.text("\(pid)/net/unix")) ?? "")
            }
            return caches.unixTables[ns]?[inode]
        }
    }

    func inetSocket(_ inode: UInt64, pid: Int32) -> InetSocketEntry? {
        let ns = (try? proc.link("\(pid)/ns/net")) ?? "?"
        return caches.withLock { caches in
            if caches.inetTables[ns] == nil {
                var merged: [UInt64: InetSocketEntry] = [:]
                for name in ["tcp", "tcp6", "udp", "udp6"] {
                    let text = (try? proc.text("\(pid)/net/\(name)")) ?? ""
                    merged.merge(InetSocketEntry.parseTable(text, proto: name)) { a, _ in a }
                }
                caches.inetTables[ns] = merged
            }
            return caches.inetTables[ns]?[inode]
        }
    }

    /// The peer of a unix socket, via sock_diag; only for sockets in this tool's network namespace.
    func unixPeer(_ inode: UInt64, pid: Int32) -> UInt64? {
        guard proc.isLive, let ns = try? proc.link("\(pid)/ns/net") else { return nil }
        return caches.withLock { caches in
            if caches.ownNetNamespace == nil { caches.ownNetNamespace = (try? proc.link("self/ns/net")) ?? "" }
            guard ns == caches.ownNetNamespace else { return nil }
            if caches.unixPeers == nil {
                caches.unixPeers = UnixDiag.peers() ?? [:]
                if caches.unixPeers!.isEmpty { caches.notes.append(.unixPeersUnavailable) }
            }
            return caches.unixPeers?[inode]
        }
    }

    func fileLocks() -> [FileLockEntry] {
        caches.withLock { caches in
            if caches.locks == nil { caches.locks = FileLockEntry.parseAll((try? proc.text("locks")) ?? "") }
            return caches.locks!
        }
    }
}
