/// What makes threads, and processes, look alike, for a report to fold them into one entry: built
/// from the values their lines are made of, not from the lines. Within a process look-alike
/// threads differ only in how long they have left to wait; across processes (copies of one
/// program) also in the process's own PIDs and TIDs, addresses, inodes and fd numbers.
struct Likeness: Hashable {
    private var parts: [AnyHashable]

    /// `own`: across processes, the process's own PID and TIDs; nil within one process.
    init(_ thread: ThreadSnapshot, own: Set<Int32>?) {
        parts = [thread.displayName, thread.state, thread.wait.map { Likeness.wait($0, own: own) },
                 thread.wait == nil ? thread.wchan : nil,
                 (thread.stack ?? []).map { $0.symbol ?? $0.module ?? "?" },
                 (thread.python?.stack ?? []).map { [$0.function, $0.file, $0.line ?? 0] as [AnyHashable] }]
    }

    /// A member of a deadlock in a process among siblings: its process's command, its wait and who
    /// can wake it, without
    /// the numbers that are its process's own (`own`: its PID and TIDs) and addresses, inodes and
    /// fd numbers; `inherited`: it waits on an inherited lock.
    init(member thread: ThreadSnapshot?, of process: ProcessSnapshot?, isMain: Bool, wakers: WaitGraph.Wakers, inherited: Bool,
         own: Set<Int32>) {
        func id(_ value: Int32?) -> Int32? { value.map { own.contains($0) ? 0 : $0 } }
        parts = [process?.name, process?.argv, isMain, thread?.wait.map { Likeness.wait($0, own: own) }, thread?.wait == nil ? thread?.wchan : nil,
                 Likeness.wakers(wakers, id: id), inherited]
    }

    /// A process by its command, state, tag and threads, each thread as across processes.
    init(_ process: ProcessSnapshot, tag: String) {
        let own = Set(process.threads.map(\.tid)).union([process.pid])
        parts = [process.name, process.argv, process.state, process.threads.count, tag]
            + process.threads.map { Likeness($0, own: own) }
    }

    private static func wait(_ wait: ThreadWait, own: Set<Int32>?) -> [AnyHashable] {
        let across = own != nil
        func id(_ value: Int32?) -> Int32? { value.map { own?.contains($0) == true ? 0 : $0 } }
        func address(_ value: UInt64?) -> UInt64? { across ? nil : value }
        var parts: [AnyHashable] = [wait.kind, wait.call?.name, wait.call?.resumed, wait.forever, wait.timeoutSeconds == nil,
                                    wait.timeoutSeconds == 0]
        switch wait.detail {
        case .running(let inspector): parts.append(inspector)
        case .userSpace(let pc, let stopped): parts += [address(pc), stopped]
        case .futex(let futex, let lock):
            parts += [self.futex(futex, across: across), lock.map { Self.lock($0, id: id) }]
        case .futexVector(let futexes, _):
            parts += [futexes.map { self.futex($0, across: across) }, futexes.isEmpty ? wait.call?.args[1] : nil]
        case .fd(let fd, let timeout): parts += [Self.fd(fd, id: id, across: across), timeout]
        case .poll(let fds, let unreadable): parts += [fds.map { Self.fd($0, id: id, across: across) }, unreadable]
        case .child(let target, let children):
            let shown: AnyHashable
            switch target {
            case .any: shown = "any"
            case .pidfd: shown = "pidfd"
            case .pid(let pid): shown = ["pid", id(pid)] as [AnyHashable]
            case .group(let group): shown = ["group", id(group)] as [AnyHashable]
            }
            parts += [shown, children.map(id)]
        case .sleep(let absolute): parts.append(absolute)
        case .fileLock(let lock, _):
            parts += [lock.exclusive, across ? nil : lock.fd, lock.path, lock.holders.map(id)]
        case .kernel(let function): parts.append(function)
        case .other(let futex):
            parts += [futex.map { self.futex($0, across: across) }, across ? [] : Array(wait.call?.args.prefix(3) ?? [])]
        case .signal, .restarted, .zombie: break
        }
        return parts
    }

    private static func wakers(_ wakers: WaitGraph.Wakers, id: (Int32?) -> Int32?) -> [AnyHashable] {
        switch wakers {
        case .only(let threads, let processes, let roles):
            return [threads.isEmpty && processes.isEmpty, roles.map { role($0, id: id) }]
        case .live(let why):
            switch why {
            case .timed(let seconds): return ["timed", seconds == nil]
            case .endsByItself(let kind): return ["endsByItself", kind]
            case .outsideTree(let pid, let role): return ["outsideTree", id(pid), Self.role(role, id: id)]
            case .external(let fd): return ["external", Self.fd(fd, id: id, across: true)]
            case .stopped(let state): return ["stopped", state]
            case .otherEndUnknown: return ["otherEndUnknown"]
            case .noOtherEnd: return ["noOtherEnd"]
            case .peersIncomplete: return ["peersIncomplete"]
            case .waitUnknown, .notSteady, .mappersUnknown, .lockHolderUnknown, .fdsUnreadable, .noChild, .futexVector,
                 .signalHandler, .epollUnknown, .socketTimeoutUnknown:
                return ["\(why)"]
            }
        }
    }

    private static func role(_ role: WaitGraph.WakerRole, id: (Int32?) -> Int32?) -> [AnyHashable] {
        switch role {
        case .lockOwner(let tid): return ["lockOwner", id(tid)]
        case .otherThreads(let pid): return ["otherThreads", id(pid)]
        case .noOtherThread(let pid): return ["noOtherThread", id(pid)]
        case .mappers(let path, let pids): return ["mappers", path, pids.map(id)]
        case .fileLockHolders(let pids): return ["fileLockHolders", pids.map(id)]
        case .pipeWriters(_, let pids): return ["pipeWriters", pids.map(id)]
        case .pipeReaders(_, let pids): return ["pipeReaders", pids.map(id)]
        case .socketPeer(_, let pids): return ["socketPeer", pids.map(id)]
        case .children(let pids): return ["children", pids.map(id)]
        case .processExit(let pid): return ["processExit", id(pid)]
        case .joinedThread(let tid): return ["joinedThread", id(tid)]
        case .joinedThreadMissing(let tid): return ["joinedThreadMissing", id(tid)]
        case .sharedAddressSpace(let pid): return ["sharedAddressSpace", id(pid)]
        }
    }

    private static func futex(_ futex: FutexWait, across: Bool) -> [AnyHashable] {
        [futex.operation, futex.private, across ? nil : futex.address, futex.mapping?.path, futex.mapping?.shared,
         across ? nil : futex.mapping?.inode, across ? nil : futex.mapping?.offset]
    }

    private static func lock(_ lock: LockInfo, id: (Int32?) -> Int32?) -> [AnyHashable] {
        [lock.kind, id(lock.owner), id(lock.ownerNamespaceTid), id(lock.joins), lock.pythonObjectNotFound,
         lock.python.map { [$0.typeName, $0.path, $0.function, $0.importing, $0.ownerIdent != nil,
                            $0.waited?.typeName, $0.waited?.method, $0.waited?.function] as [AnyHashable] }]
    }

    private static func fd(_ fd: FdDescription, id: (Int32?) -> Int32?, across: Bool) -> [AnyHashable] {
        [across ? nil : fd.fd, fd.kind, across ? nil : fd.target, fd.events,
         fd.socket.map { [$0.proto, $0.type, $0.state, $0.path, across ? nil : $0.peerInode] as [AnyHashable] },
         fd.peers.map { $0.map { [id($0.pid), across ? nil : $0.fd] as [AnyHashable] } },
         fd.watched.map { $0.map { Self.fd($0, id: id, across: across) } }]
    }
}
