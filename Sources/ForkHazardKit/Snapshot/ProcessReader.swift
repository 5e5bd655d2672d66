#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import CForkHazard
import Glibc
import ProcFS
import PythonRuntime

/// Reads one process and its threads, and answers the wait decoder's questions about it.
final class ProcessReader: WaitContext {
    let pid: Int32
    let shared: SharedContext
    private var proc: ProcRoot { shared.proc }
    lazy var maps: [MemoryMapping] = MemoryMapping.parseAll((try? proc.bytes("\(pid)/maps")) ?? [])
    private var fdCache: [Int32: FdDescription] = [:]
    /// The first look at each thread: its syscall line and context switch counts.
    private(set) var firstLook: [Int32: (syscall: String, voluntary: UInt64?, involuntary: UInt64?)] = [:]
    private let remote: RemoteMemory
    /// `NSpid` of the process: more than one entry when it lives in a PID namespace below /proc's.
    private(set) var namespacePids: [Int32] = []
    var nested: Bool { namespacePids.count > 1 }

    init(pid: Int32, shared: SharedContext) {
        self.pid = pid
        self.shared = shared
        self.remote = RemoteMemory(pid: pid)
    }

    /// The process with all its threads; nil when it vanished.
    func read(decoder: WaitDecoder, bootTime: UInt64, ticksPerSecond: Double,
              notes: inout [SnapshotNote]) -> ProcessSnapshot? {
        guard let statBytes = try? proc.bytes("\(pid)/stat"), let stat = ProcStat(parsing: statBytes) else { return nil }
        func startTime(_ ticks: UInt64) -> String {
            isoTime(secondsSinceEpoch: Double(bootTime) + Double(ticks) / ticksPerSecond)
        }
        let argv = ((try? proc.bytes("\(pid)/cmdline")).map(parseCmdline)) ?? []
        var exe: String?
        do { exe = try proc.link("\(pid)/exe") } catch {
            if error == .denied { notes.append(.executableDenied(pid: pid)) }
        }
        let status = (try? proc.bytes("\(pid)/status")).map { ProcStatus(parsing: $0) }
        namespacePids = status?.namespacePids ?? []

        var threads: [ThreadSnapshot] = []
        var denied: Set<String> = []
        for tid in (try? proc.numericEntries("\(pid)/task")) ?? [] {
            let dir = "\(pid)/task/\(tid)"
            // The wait state first: syscall, then wchan, then stat.
            let syscall: Result<String, ProcError> = Result { () throws(ProcError) in try proc.text("\(dir)/syscall") }
            let wchan = try? proc.text("\(dir)/wchan")
            guard let threadStatBytes = try? proc.bytes("\(dir)/stat"),
                  let threadStat = ProcStat(parsing: threadStatBytes) else { continue }  // exited meanwhile
            let threadStatus = (try? proc.bytes("\(dir)/status")).map { ProcStatus(parsing: $0) }
            let state = TaskState(letter: threadStat.state)
            if case .success(let text) = syscall {
                firstLook[tid] = (text, threadStatus?.voluntaryContextSwitches, threadStatus?.nonvoluntaryContextSwitches)
            }

            var wait: ThreadWait?
            if pid == getpid() {
                // Its own wait state would show this very read.
                wait = ThreadWait(.running(inspector: true), forever: false)
            } else if state.hasExited {
                wait = ThreadWait(.zombie, forever: false)
            } else if threadStat.isKernelThread {
                wait = ThreadWait(.kernel(function: wchan.flatMap { $0 == "0" || $0.isEmpty ? nil : $0 }), forever: false)
            } else {
                switch syscall {
                case .success(let text):
                    if let parsed = SyscallState(parsing: text) {
                        wait = decoder.decode(parsed, threadState: state, in: self)
                        if let restarted = wait, restarted.kind == .restarted,
                           let name = decoder.resumedCall(frame: nil, wchan: wchan?.trimmed) {
                            wait = decoder.decodeResumed(restarted, as: name, in: self)
                        }
                    } else if !threadStat.isKernelThread {
                        notes.append(.unreadableSyscallState(pid: pid, tid: tid, text: text))
                    }
                case .failure(.denied): denied.insert("syscall")
                case .failure: break
                }
            }
            var thread = ThreadSnapshot(
                tid: tid, namespaceTid: nested ? threadStatus?.namespacePids.last : nil, name: threadStat.comm, state: state,
                startTime: startTime(threadStat.startTicks), startTicks: threadStat.startTicks,
                cpuSeconds: Double(threadStat.utimeTicks + threadStat.stimeTicks) / ticksPerSecond,
                voluntaryContextSwitches: threadStatus?.voluntaryContextSwitches,
                involuntaryContextSwitches: threadStatus?.nonvoluntaryContextSwitches,
                wchan: wchan.flatMap { $0 == "0" || $0.isEmpty ? nil : $0 },
                wait: wait, stack: nil)
            thread.tracer = threadStatus?.tracerPid.flatMap { $0 == 0 ? nil : ProcessRef(pid: $0, name: shared.table.entries[$0]?.name ?? "?") }
            threads.append(thread)
        }
        if !denied.isEmpty {
            notes.append(.waitsDenied(pid: pid, files: denied.sorted()))
        }
        var snapshot = ProcessSnapshot(
            pid: pid, ppid: stat.ppid, name: stat.comm, argv: argv, exe: exe, uid: status?.uid,
            state: TaskState(letter: stat.state), threadCount: stat.numThreads,
            startTime: startTime(stat.startTicks), startTicks: stat.startTicks,
            isKernelThread: stat.isKernelThread, threads: threads,
            layout: stat.isKernelThread ? nil : AddressLayout(maps: maps, exe: exe), runtimes: stat.isKernelThread ? nil : runtimes(exe: exe),
            tracer: status?.tracerPid.flatMap { $0 == 0 ? nil : ProcessRef(pid: $0, name: shared.table.entries[$0]?.name ?? "?") },
            caughtSignals: status?.caughtSignals,
            namespacePid: nested ? namespacePids.last : nil,
            pidNamespace: nested ? try? proc.link("\(pid)/ns/pid") : nil,
            startupRandomDigest: stat.isKernelThread ? nil : startupRandomDigest())
        snapshot.addressRandomizationOff = addressRandomizationOff()
        return snapshot
    }

    /// `/proc/PID/personality` has ADDR_NO_RANDOMIZE (0x0040000).
    func addressRandomizationOff() -> Bool {
        guard let text = try? proc.text("\(pid)/personality"), let flags = UInt64(text.trimmed, radix: 16) else { return false }
        return flags & 0x0040000 != 0
    }

    /// Looks again at a thread: the same system call line and unchanged context switch counts mean
    /// it did not wake in between (a woken thread is runnable at once, and its counts move).
    func isSteady(_ tid: Int32) -> Bool {
        guard let first = firstLook[tid],
              let syscall = try? proc.text("\(pid)/task/\(tid)/syscall"),
              let status = (try? proc.bytes("\(pid)/task/\(tid)/status")).map({ ProcStatus(parsing: $0) })
        else { return false }
        return syscall == first.syscall && status.voluntaryContextSwitches == first.voluntary
            && status.nonvoluntaryContextSwitches == first.involuntary
    }

    /// A digest, keyed afresh in this run, of the 16 bytes at `AT_RANDOM`; nil when unreadable.
    func startupRandomDigest() -> Int? {
        guard let auxv = try? proc.bytes("\(pid)/auxv"), let address = parseAuxv(auxv)[auxvRandom],
              let bytes = memory(at: address, count: 16) else { return nil }
        var hasher = Hasher()
        hasher.combine(bytes)
        return hasher.finalize()
    }

    func runtimes(exe: String?) -> [Runtime]? {
        var found: [Runtime] = []
        let names = maps.map(\.fileName.utf8)
        func mapsFile(named prefix: String) -> Bool { names.contains { $0.starts(with: prefix.utf8) } }
        if exe.map({ lastPathComponent($0).utf8.starts(with: "python".utf8) }) == true || mapsFile(named: "libpython") {
            found.append(.python)
        } else if let exe, proc.isLive, exe.hasPrefix("/"), !exe.hasSuffix(" (deleted)"),
                  PythonRuntime.mayBeEmbedded(in: exe, root: ProcessModules.root(of: pid)) {
            // A static CPython under another name (a renamed interpreter, a program embedding it).
            found.append(.python)
        }
        if mapsFile(named: "libgomp") { found.append(.libgomp) }
        if mapsFile(named: "libstdc++") { found.append(.libstdcxx) }
        return found
    }

    /// Reads the owner of the lock a thread waits on, where the lock records one.
    func lockOwner(_ lock: LockInfo, wait: ThreadWait, stack: [StackFrame]?) -> (owner: Int32, source: LockInfo.OwnerSource)? {
        guard let address = wait.futex?.address, let futex = wait.futex else { return nil }
        func tid(_ value: UInt32) -> Int32? {
            let candidate = Int32(bitPattern: value & 0x3fff_ffff)
            return candidate > 0 ? candidate : nil
        }
        if futex.operation.isPriorityInheritance {
            return u32(at: address).flatMap(tid).map { ($0, .piFutexWord) }
        }
        switch lock.kind {
        case .pthreadMutex:
            // pthread_mutex_t: __lock @0, __owner @8, __kind @16; PI and robust mutexes keep the TID in __lock.
            guard let word = u32(at: address), word != 0, let owner = u32(at: address + 8), let kind = u32(at: address + 16) else { return nil }
            if kind & 32 != 0 { return tid(word).map { ($0, .piMutexWord) } }
            return tid(owner).map { ($0, .mutexOwner) }
        case .pthreadRwlock:
            // Readers wait on __wrphase_futex (+8), writers on __writers_futex (+12); __cur_writer is at +24.
            let writer = (stack ?? []).contains { $0.symbol?.includes("wrlock") == true }
            let base = address - (writer ? 12 : 8)
            return u32(at: base + 24).flatMap(tid).map { ($0, .rwlockWriter) }
        default:
            return nil
        }
    }

    // MARK: WaitContext

    var children: [(pid: Int32, pgrp: Int32)] {
        shared.table.children(of: pid).map { ($0, shared.table.entries[$0]?.pgrp ?? 0) }
    }

    var processGroup: Int32 { shared.table.entries[pid]?.pgrp ?? 0 }

    var inNestedNamespace: Bool { nested }

    func namespacePid(of other: Int32) -> Int32? {
        (try? proc.bytes("\(other)/status")).map { ProcStatus(parsing: $0) }?.namespacePids.last
    }

    func mapping(containing address: UInt64) -> MemoryMapping? {
        maps.first { $0.contains(address) }
    }

    func memory(at address: UInt64, count: Int) -> [UInt8]? {
        guard proc.isLive else { return nil }
        return remote.bytes(at: address, count: count)
    }

    func socketTimeout(fd: Int32, send: Bool) -> Double? {
        guard proc.isLive else { return nil }
        var seconds = 0.0
        return fh_socket_timeout(pid, fd, send ? 1 : 0, &seconds) == 0 ? seconds : nil
    }

    func now(clock: Int32) -> Double {
        var ts = Glibc.timespec()
        clock_gettime(clockid_t(clock), &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }

    /// Matches /proc/locks by inode and, where the fd's mount is known, by device: an inode
    /// number alone is unique only within one file system.
    func fileLockHolders(fd: Int32, inode: UInt64) -> [Int32] {
        let mount = (try? proc.text("\(pid)/fdinfo/\(fd)")).flatMap { FdInfo(parsing: $0).mountID }
        let device = mount.flatMap { parseMountDevices((try? proc.text("\(pid)/mountinfo")) ?? "")[$0] }
        let holders = shared.fileLocks().filter { lock in
            guard lock.inode == inode, !lock.isWaiter, lock.pid > 0 else { return false }
            guard let device, let lockDevice = lock.deviceNumbers else { return true }
            return lockDevice == device
        }
        return Array(Set(holders.map(\.pid))).sorted()
    }

    func describeFd(_ n: Int32) -> FdDescription {
        if let cached = fdCache[n] { return cached }
        let description = readFd(n, followEpoll: true)
        fdCache[n] = description
        return description
    }

    private func readFd(_ n: Int32, followEpoll: Bool) -> FdDescription {
        var description = FdDescription(fd: n, kind: .unknown)
        guard let link = try? proc.link("\(pid)/fd/\(n)") else { return description }
        description.target = link
        let info = (try? proc.text("\(pid)/fdinfo/\(n)")).map(FdInfo.init(parsing:))
        description.access = info?.accessMode
        description.inode = info?.inode
        switch FdTarget(link: link) {
        case .pipe(let inode):
            description.kind = .pipe
            description.inode = inode
        case .socket(let inode):
            description.inode = inode
            if let unix = shared.unixSocket(inode, pid: pid) {
                description.kind = .unixSocket
                description.socket = SocketDescription(proto: "unix", type: unix.type, state: unix.state,
                                                       path: unix.path, peerInode: shared.unixPeer(inode, pid: pid))
            } else if let inet = shared.inetSocket(inode, pid: pid) {
                description.kind = inet.proto.hasPrefix("tcp") ? .tcpSocket : .udpSocket
                description.socket = SocketDescription(proto: inet.proto, state: inet.state, local: inet.local, remote: inet.remote)
            } else {
                description.kind = .socket
            }
        case .anonInode(let name):
            switch name {
            case "eventpoll":
                description.kind = .epoll
                if followEpoll, let targets = info?.epollTargets {
                    description.watched = targets.map { target in
                        var watched = target.fd == n ? FdDescription(fd: n, kind: .epoll) : readFd(target.fd, followEpoll: false)
                        watched.events = pollEvents(target.events)
                        return watched
                    }
                }
            case "eventfd": description.kind = .eventfd
            case "signalfd": description.kind = .signalfd
            case "timerfd": description.kind = .timerfd
            case "[pidfd]", "pidfd":
                description.kind = .pidfd
                description.process = info?.pidfdPid.flatMap { $0 > 0 ? $0 : nil }
            default: description.kind = .anonInode
            }
        case .path(let path):
            description.kind = path.hasPrefix("/dev/pts/") || path.hasPrefix("/dev/tty") || path == "/dev/console" ? .tty : .file
        }
        return description
    }
}
