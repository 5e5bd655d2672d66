import Dispatch
import ProcFS

/// Finds, host-wide, the processes that hold the other end of each pipe and unix socket a thread
/// waits on: the only processes that can wake it.
struct PeerResolver: Sendable {
    let proc: ProcRoot
    let shared: SharedContext

    /// `body` for every process on the host, one per CPU at a time; the results in PID order.
    func forEveryProcess<T>(_ body: @Sendable (Int32) -> T?) -> [T?] {
        parallelMap(shared.table.allPids, body)
    }

    func resolve(_ processes: inout [ProcessSnapshot], notes: inout [SnapshotNote]) {
        var wanted = Set<UInt64>()
        forEachFd(&processes) { fd, _ in
            if let inode = fd.peerLookupInode { wanted.insert(inode) }
        }
        // flock and OFD locks belong to an open file description, which a fork shares: every
        // process with the file open may hold it.
        var files = Set<String>()
        for process in processes {
            for thread in process.threads {
                if let lock = thread.wait?.fileLock, lock.type != .posix, let path = lock.path, lock.inode != nil { files.insert(path) }
            }
        }
        guard !wanted.isEmpty || !files.isEmpty else { return }
        let found = scan(for: wanted, files: files, notes: &notes)
        forEachFd(&processes) { fd, pid in
            guard let inode = fd.peerLookupInode else { return }
            let all = found.holders[inode] ?? []
            switch fd.kind {
            case .pipe:
                let needWrite = fd.waitsForWriters
                fd.peers = all.filter { holder in
                    !(holder.pid == pid && holder.fd == fd.fd)
                        && (holder.access.map { needWrite ? $0.canWrite : $0.canRead } ?? true)
                }
            default:
                fd.peers = all
            }
            if found.incomplete { fd.peersIncomplete = true }
        }
        for p in processes.indices {
            for t in processes[p].threads.indices {
                guard let lock = processes[p].threads[t].wait?.fileLock, lock.type != .posix,
                      let path = lock.path, let inode = lock.inode else { continue }
                let pid = processes[p].pid
                processes[p].threads[t].wait?.fileLock?.sharers = (found.openers[FileKey(path: path, inode: inode)] ?? [])
                    .filter { $0 != pid && !lock.holders.contains($0) }
            }
        }
    }

    /// Calls `body` on every fd a thread waits on, the fds an epoll fd watches included.
    private func forEachFd(_ processes: inout [ProcessSnapshot], _ body: (inout FdDescription, Int32) -> Void) {
        for p in processes.indices {
            let pid = processes[p].pid
            for t in processes[p].threads.indices {
                guard var fds = processes[p].threads[t].wait?.fds else { continue }
                for f in fds.indices {
                    body(&fds[f], pid)
                    if var watched = fds[f].watched {
                        for w in watched.indices { body(&watched[w], pid) }
                        fds[f].watched = watched
                    }
                }
                processes[p].threads[t].wait?.fds = fds
            }
        }
    }

    /// For every shared futex waited on: the processes on the host that map the same object
    /// (device and inode), from one pass over every process's maps.
    func resolveSharedMappings(_ processes: inout [ProcessSnapshot]) {
        var wanted = Set<String>()
        for process in processes {
            for thread in process.threads {
                if let mapping = thread.wait?.futex?.mapping, !(thread.wait?.futex?.private ?? true), mapping.inode != 0 {
                    wanted.insert("\(mapping.device):\(mapping.inode)")
                }
            }
        }
        guard !wanted.isEmpty else { return }
        let keys = wanted
        let found = forEveryProcess { pid -> Set<String>? in
            guard let bytes = try? proc.bytes("\(pid)/maps") else { return nil }
            var seen = Set<String>()
            for map in MemoryMapping.parseShared(bytes) where map.inode != 0 {
                let key = "\(map.device):\(map.inode)"
                if keys.contains(key) { seen.insert(key) }
            }
            return seen
        }
        var mappedBy: [String: [Int32]] = [:]
        for (pid, keys) in zip(shared.table.allPids, found) {
            for key in keys ?? [] { mappedBy[key, default: []].append(pid) }
        }
        for p in processes.indices {
            for t in processes[p].threads.indices {
                guard let mapping = processes[p].threads[t].wait?.futex?.mapping,
                      processes[p].threads[t].wait?.futex?.private == false else { continue }
                processes[p].threads[t].wait?.futex?.mappedBy = mappedBy["\(mapping.device):\(mapping.inode)"] ?? []
            }
        }
    }

    struct FileKey: Hashable {
        var path: String
        var inode: UInt64
    }

    /// One pass over every process's fd table: holders of the wanted pipe and socket inodes, and
    /// the processes with the wanted files open.
    private func scan(for wanted: Set<UInt64>, files: Set<String>, notes: inout [SnapshotNote])
        -> (holders: [UInt64: [FdHolder]], openers: [FileKey: [Int32]], incomplete: Bool) {
        // One process's part: its holders and opened files, in fd order; nil when its fds are denied.
        struct Part {
            var holders: [(inode: UInt64, holder: FdHolder)] = []
            var openers: [FileKey] = []
        }
        let parts = forEveryProcess { pid -> Part? in
            let fds: [Int32]
            do throws(ProcError) { fds = try proc.numericEntries("\(pid)/fd") } catch {
                return error == .denied ? nil : Part()
            }
            var part = Part()
            for fd in fds {
                let link: String
                do throws(ProcError) { link = try proc.link("\(pid)/fd/\(fd)") } catch {
                    // Refused for one fd (the access check is the process's), refused for the rest.
                    if error == .denied { break }
                    continue
                }
                let inode: UInt64
                switch FdTarget(link: link) {
                case .pipe(let ino), .socket(let ino): inode = ino
                case .path(let path) where files.contains(path):
                    if let ino = (try? proc.text("\(pid)/fdinfo/\(fd)")).map(FdInfo.init(parsing:))?.inode,
                       !part.openers.contains(FileKey(path: path, inode: ino)) {
                        part.openers.append(FileKey(path: path, inode: ino))
                    }
                    continue
                default: continue
                }
                guard wanted.contains(inode) else { continue }
                let access = (try? proc.text("\(pid)/fdinfo/\(fd)")).map(FdInfo.init(parsing:))?.accessMode
                part.holders.append((inode, FdHolder(pid: pid, name: shared.table.entries[pid]?.name ?? "?", fd: fd, access: access)))
            }
            return part
        }
        var holders: [UInt64: [FdHolder]] = [:]
        var openers: [FileKey: [Int32]] = [:]
        var deniedCount = 0
        for (pid, part) in zip(shared.table.allPids, parts) {
            guard let part else {
                deniedCount += 1
                continue
            }
            for (inode, holder) in part.holders { holders[inode, default: []].append(holder) }
            for key in part.openers { openers[key, default: []].append(pid) }
        }
        if deniedCount > 0 {
            notes.append(.fdsUnreadable(processes: deniedCount))
        }
        return (holders, openers, deniedCount > 0)
    }
}

extension FdDescription {
    /// Which inode's holders wake this fd: a pipe's own inode, a connected unix socket's peer.
    var peerLookupInode: UInt64? {
        switch kind {
        case .pipe: return inode
        case .unixSocket: return socket?.peerInode
        default: return nil
        }
    }
}
