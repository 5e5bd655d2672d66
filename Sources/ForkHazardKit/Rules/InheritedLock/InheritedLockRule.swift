/// `inherited-lock`: threads of processes forked without exec wait forever on a private futex
/// that no thread of their own process can release. One finding per parent, lock and holder.
public struct InheritedLock: Rule {
    public let id = RuleID.inheritedLock

    public init() {}

    struct Key: Hashable {
        var parent: Int32
        /// The lock's: its Python object's, else the futex word's.
        var address: UInt64
        var kind: LockInfo.Kind
        var holder: HolderKey
    }

    enum HolderKey: Hashable {
        case owner(Int32)
        case namespaceOwner(Int32)
        case ident(UInt64)
        case unrecorded([Int32])
    }

    public func findings(in snapshot: Snapshot) -> [Finding] {
        var groups: [Key: (children: [ProcessSnapshot], waiters: [ThreadKey], lock: LockInfo, holder: InheritedLockFacts.Holder)] = [:]
        var order: [Key] = []
        for child in snapshot.processes {
            guard let origin = child.forkOrigin, origin.kind == .forkedWithoutExec else { continue }
            let ownTids = Set(child.threads.map(\.tid))
            for thread in child.threads {
                guard let wait = thread.wait, wait.kind == .futex, wait.forever, thread.steady == true,
                      let futex = wait.futex, futex.private else { continue }
                let lock = wait.lock ?? LockInfo(kind: .unknown, address: futex.address)
                let holder: InheritedLockFacts.Holder
                let holderKey: HolderKey
                if let owner = lock.owner {
                    guard !ownTids.contains(owner) else { continue }  // held inside the child: not inherited
                    holderKey = .owner(owner)
                    if let process = snapshot.processes.first(where: { $0.thread(owner) != nil }) {
                        holder = .thread(ThreadKey(pid: process.pid, tid: owner))
                    } else {
                        holder = .gone(tid: owner)
                    }
                } else if let ident = lock.python?.ownerIdent {
                    holderKey = .ident(ident)
                    holder = .goneIdent(ident)
                } else if let namespaceOwner = lock.ownerNamespaceTid {
                    // An owner in the child's PID namespace that no thread of the snapshot has.
                    holderKey = .namespaceOwner(namespaceOwner)
                    holder = .goneInNamespace(tid: namespaceOwner)
                } else if child.threads.count == 1, WaitGraph.catchesSignals(child),
                          WaitGraph.handlerCanPost.contains(lock.kind), lock.python?.inParent != true {
                    // Its own signal handler may release it (a lock made after the fork, posted
                    // from a SIGTERM handler): inherited only if it is known to have existed at the fork.
                    continue
                } else if child.threads.count == 1 {
                    let reason: InheritedLockFacts.NoOwner = lock.kind == .libgompBarrier ? .barrier
                        : lock.recordsNoOwner ? .notRecorded : .unreadable
                    let candidates = (origin.threadsAtFork ?? []).filter { $0.tid != origin.parent || origin.threadsAtFork?.count == 1 }
                    holder = .unrecorded(reason, candidates: candidates)
                    holderKey = .unrecorded(candidates.map(\.tid))
                } else {
                    continue  // another thread of the child might release it: not provable here
                }
                // One lock, one cause: a Python lock object is at the same address in every child,
                // while from 3.13 each child's waiter sleeps on a semaphore of its own stack.
                let key = Key(parent: origin.parent, address: lock.python?.address ?? futex.address, kind: lock.kind, holder: holderKey)
                if groups[key] == nil {
                    order.append(key)
                    groups[key] = ([], [], lock, holder)
                }
                if groups[key]!.children.last?.pid != child.pid { groups[key]!.children.append(child) }
                groups[key]!.waiters.append(ThreadKey(pid: child.pid, tid: thread.tid))
            }
        }
        return order.compactMap { key -> Finding? in
            guard let group = groups[key] else { return nil }
            let parent = snapshot.process(key.parent)
            let facts = InheritedLockFacts(
                parent: ProcessRef(pid: key.parent, name: parent?.name ?? "?"),
                children: group.children.map { ProcessRef(pid: $0.pid, name: $0.name) },
                waiters: group.waiters, lock: group.lock, holder: group.holder,
                basis: commonBasis(group.children), confirmed: false)
            var tids = group.waiters.map(\.tid)
            var pids = [key.parent] + group.children.map(\.pid)
            switch group.holder {
            case .thread(let owner):
                tids.append(owner.tid)
                if !pids.contains(owner.pid) { pids.append(owner.pid) }
            case .gone(let tid): tids.append(tid)
            case .goneIdent, .goneInNamespace: break  // no host TID to list
            case .unrecorded(_, let candidates): tids += candidates.map(\.tid)
            }
            return Finding(rule: id, severity: .error, pids: pids, tids: tids, facts: facts)
        }
    }
}
