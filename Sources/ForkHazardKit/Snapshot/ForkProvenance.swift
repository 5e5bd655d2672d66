import ProcFS

/// Tells how a process came to be — forked from its parent without exec, or exec'd — and which of
/// the parent's threads existed at the fork. Pure; one implementation for the snapshot's analysis
/// and for `run`/`watch`, which feed it what they read live.
public enum ForkProvenance {
    /// What provenance needs to know of a process.
    public struct ProcessFacts: Sendable {
        public var argv: [String]
        public var exe: String?
        public var layout: AddressLayout?
        /// `ProcessSnapshot.startupRandomDigest`.
        public var startupRandom: Int?
        /// It shares the other process's address space (vfork, posix_spawn in flight).
        public var sharesMemory: Bool
        /// Its personality turns address randomisation off (`setarch -R`).
        public var randomizationOff = false

        public init(argv: [String], exe: String?, layout: AddressLayout?, startupRandom: Int?, sharesMemory: Bool = false) {
            self.argv = argv
            self.exe = exe
            self.layout = layout
            self.startupRandom = startupRandom
            self.sharesMemory = sharesMemory
        }

        init(_ process: ProcessSnapshot) {
            self.init(argv: process.argv, exe: process.exe, layout: process.layout, startupRandom: process.startupRandomDigest,
                      sharesMemory: process.sharesMemoryWith == process.ppid)
            randomizationOff = process.addressRandomizationOff
        }
    }

    /// A thread as provenance needs it: when it started.
    public struct ThreadStart: Sendable {
        public var tid: Int32
        public var name: String
        public var startTicks: UInt64

        public init(tid: Int32, name: String, startTicks: UInt64) {
            self.tid = tid
            self.name = name
            self.startTicks = startTicks
        }
    }

    /// `multiprocessing` children that start a fresh interpreter, by a piece of their command line.
    static let execMarkers: [(String, ForkBasis.ExecMarker)] = [
        ("from multiprocessing.spawn import spawn_main", .spawn),
        ("--multiprocessing-fork", .spawn),
        ("from multiprocessing.forkserver import main", .forkserver),
        ("from multiprocessing.resource_tracker import main", .resourceTracker),
    ]

    /// The `multiprocessing` helper a process is (a fork server, a resource tracker, a spawned
    /// child): told by a command line its parent does not have. Without its parent in the snapshot
    /// it is not told: a fork server's workers carry the server's command line.
    public static func multiprocessingRole(of process: ProcessSnapshot) -> ForkBasis.ExecMarker? {
        for case .execMarker(let marker) in process.forkOrigin?.basis ?? [] { return marker }
        return nil
    }

    /// Fills in `forkOrigin` of every process whose parent is among them: the snapshot's one
    /// reckoning of how its processes came to be, made once their threads' names are known.
    public static func annotate(_ processes: inout [ProcessSnapshot], host: HostInfo) {
        let byPid = Dictionary(processes.map { ($0.pid, $0) }, uniquingKeysWith: { a, _ in a })
        for index in processes.indices {
            let child = processes[index]
            guard let parent = byPid[child.ppid], !child.isKernelThread else { continue }
            var origin = self.origin(child: ProcessFacts(child), parent: ProcessFacts(parent), parentPid: parent.pid,
                                     aslr: host.aslr)
            if origin.kind == .forkedWithoutExec {
                origin.threadsAtFork = threadsAtFork(
                    parentPid: parent.pid,
                    threads: parent.threads.filter { $0.state != .zombie }.map { ThreadStart(tid: $0.tid, name: $0.displayName, startTicks: $0.startTicks) },
                    childPid: child.pid, childStartTicks: child.startTicks, pidMax: host.pidMax)
            }
            processes[index].forkOrigin = origin
        }
    }

    /// Forked without exec, exec'd, or unknown, with the facts that tell. The first test that can
    /// tell decides: a `multiprocessing` command line its parent does not have, or another
    /// executable (exec'd); a shared
    /// address space (neither yet); the kernel's random bytes of exec, copied by a fork and drawn
    /// anew by an exec (with ASLR on or off); else, with ASLR on, the address layout.
    public static func origin(child: ProcessFacts, parent: ProcessFacts, parentPid: Int32, aslr: Int?) -> ForkOrigin {
        var origin = ForkOrigin(kind: .unknown, parent: parentPid, basis: [])
        let commandLine = child.argv.joined(separator: " ")
        let parentCommandLine = parent.argv.joined(separator: " ")
        // A marker the parent's command line has too says nothing: the fork server's workers and
        // a spawned child's own children are forked with their parent's command line.
        if let (_, marker) = execMarkers.first(where: { commandLine.contains($0.0) && !parentCommandLine.contains($0.0) }) {
            origin.kind = .execed
            origin.basis = [.execMarker(marker)]
            return origin
        }
        if let exe = child.exe, let parentExe = parent.exe, exe != parentExe {
            origin.kind = .execed
            origin.basis = [.otherExecutable(child: exe, parent: parentExe)]
            return origin
        }
        if child.sharesMemory {
            origin.basis = [.sharesParentMemory]
            return origin
        }
        // With randomisation off (for the host, or by either's personality) layouts match anyway.
        let randomized = aslr != 0 && !child.randomizationOff && !parent.randomizationOff
        let sameLayout = randomized ? child.layout.flatMap { layout in parent.layout.flatMap { layout.matches($0) } } : nil
        if let random = child.startupRandom, let parentRandom = parent.startupRandom {
            guard random == parentRandom else {
                origin.kind = .execed
                origin.basis = [.otherStartupRandom]
                return origin
            }
            origin.kind = .forkedWithoutExec
            origin.basis = [.sameStartupRandom]
            if sameLayout == true, let layout = child.layout { origin.basis.append(.sameLayout(layout)) }
        } else if !randomized {
            origin.basis = [.aslrOff]
            return origin
        } else if let same = sameLayout, let childLayout = child.layout, let parentLayout = parent.layout {
            guard same else {
                origin.kind = .execed
                origin.basis = [.otherLayout(child: childLayout, parent: parentLayout)]
                return origin
            }
            origin.kind = .forkedWithoutExec
            origin.basis = [.sameLayout(childLayout)]
        } else {
            origin.basis = [.layoutUnreadable]
            return origin
        }
        if child.argv == parent.argv { origin.basis.append(.sameCommandLine) }
        return origin
    }

    /// The parent's threads that existed when the child was forked. Start times tick every 10 ms:
    /// a thread from an earlier tick was there, one from a later tick was not. Within one tick the
    /// PID counter decides: PIDs and TIDs come from one counter that only grows until it wraps at
    /// `pid_max`, so a thread whose TID comes before the child's PID in the counter's order was
    /// created first; one after it, later (a `multiprocessing.Pool` starts its handler threads
    /// right after forking its workers, in the same tick). Going around the counter by half within
    /// one tick is impossible, so "before" is decided modulo `pid_max` and holds across a wrap.
    public static func threadsAtFork(parentPid: Int32, threads: [ThreadStart], childPid: Int32, childStartTicks: UInt64,
                                     pidMax: Int32) -> [ThreadAtFork] {
        threads.filter { thread in
            if thread.tid == parentPid || thread.startTicks < childStartTicks { return true }
            if thread.startTicks > childStartTicks { return false }
            return counterOrder(thread.tid, before: childPid, pidMax: pidMax)
        }.map { ThreadAtFork(tid: $0.tid, name: $0.name, certainty: .certain) }
    }

    /// Whether `a` was handed out before `b` by the PID counter, which wraps at `pidMax`.
    static func counterOrder(_ a: Int32, before b: Int32, pidMax: Int32) -> Bool {
        let max = Int64(Swift.max(pidMax, 2))
        let distance = ((Int64(b) - Int64(a)) % max + max) % max
        return distance > 0 && distance < max / 2
    }
}
