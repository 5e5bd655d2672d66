/// Tells, for each process whose parent is in the snapshot, whether it was forked without exec
/// and which of the parent's threads existed at that moment. Pure: works on the snapshot alone.
public enum ForkProvenance {
    /// `multiprocessing` children that start a fresh interpreter.
    static let execMarkers = [
        ("from multiprocessing.spawn import spawn_main", "multiprocessing's spawn start method (a fresh interpreter)"),
        ("--multiprocessing-fork", "multiprocessing's spawn start method (a fresh interpreter)"),
        ("from multiprocessing.forkserver import main", "multiprocessing's fork server (a fresh interpreter)"),
        ("from multiprocessing.resource_tracker import main", "multiprocessing's resource tracker (a fresh interpreter)"),
    ]

    public static func annotate(_ snapshot: Snapshot) -> Snapshot {
        var result = snapshot
        let byPid = Dictionary(snapshot.processes.map { ($0.pid, $0) }, uniquingKeysWith: { a, _ in a })
        for index in result.processes.indices {
            let child = result.processes[index]
            guard let parent = byPid[child.ppid], !child.isKernelThread else { continue }
            result.processes[index].forkOrigin = origin(of: child, parent: parent, aslr: snapshot.host.aslr)
        }
        return result
    }

    public static func origin(of child: ProcessSnapshot, parent: ProcessSnapshot, aslr: Int?) -> ForkOrigin {
        var origin = ForkOrigin(kind: .unknown, parent: parent.pid, evidence: [])
        let commandLine = child.argv.joined(separator: " ")
        if let (_, what) = execMarkers.first(where: { commandLine.contains($0.0) }) {
            origin.kind = .execed
            origin.evidence.append("its command line is \(what)")
            return origin
        }
        if let exe = child.exe, let parentExe = parent.exe, exe != parentExe {
            origin.kind = .execed
            origin.evidence.append("it runs \(exe), its parent \(parentExe): a new program was exec'd")
            return origin
        }
        if let childLayout = child.layout, let parentLayout = parent.layout, aslr != 0,
           let same = childLayout.matches(parentLayout) {
            if same {
                origin.kind = .forkedWithoutExec
                origin.evidence.append("its address layout is its parent's (\(describe(childLayout))): with ASLR on, an exec would have moved it")
            } else {
                origin.kind = .execed
                origin.evidence.append("its address layout differs from its parent's (\(describe(childLayout)) vs \(describe(parentLayout))): a new program was exec'd")
                return origin
            }
        } else {
            origin.evidence.append(aslr == 0
                ? "ASLR is off (kernel.randomize_va_space=0), so address layouts cannot tell a fork from an exec"
                : "the address layouts could not be compared (memory maps unreadable)")
            return origin
        }
        if child.argv == parent.argv { origin.evidence.append("it has its parent's command line") }
        origin.threadsAtFork = threadsAtFork(of: parent, child: child)
        return origin
    }

    /// The parent's threads that had started when the child was forked. Start times tick at
    /// 10 ms: a thread from an earlier tick is certain. Within the same tick, TIDs and PIDs come
    /// from one increasing counter, so a TID below the child's PID is certain too (a wrap of the
    /// counter inside one tick aside); a TID above it only possible.
    static func threadsAtFork(of parent: ProcessSnapshot, child: ProcessSnapshot) -> [ThreadAtFork] {
        parent.threads.filter { $0.startTicks <= child.startTicks && $0.state != "Z" }.map { thread in
            let certain = thread.startTicks < child.startTicks || thread.tid == parent.pid || thread.tid < child.pid
            return ThreadAtFork(tid: thread.tid, name: thread.name, certainty: certain ? "certain" : "possible",
                                now: thread.wait?.summary)
        }
    }

    static func describe(_ layout: AddressLayout) -> String {
        [("[stack] top", layout.stackTop), ("vdso", layout.vdso), ("libc", layout.libcBase), ("executable", layout.exeBase)]
            .compactMap { name, value in value.map { "\(name) \($0)" } }.joined(separator: ", ")
    }
}
