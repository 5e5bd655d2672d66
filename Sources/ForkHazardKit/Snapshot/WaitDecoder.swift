#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Glibc
import ProcFS

/// What the decoder may ask about the process whose thread it decodes. The live implementation
/// reads /proc and the process's memory; tests may stand in fixtures.
protocol WaitContext {
    var pid: Int32 { get }
    /// What fd `n` is, without peers (the snapshot fills those in from a host-wide scan).
    func describeFd(_ n: Int32) -> FdDescription
    func mapping(containing address: UInt64) -> MemoryMapping?
    /// Bytes of the process's memory; nil when they cannot be read.
    func memory(at address: UInt64, count: Int) -> [UInt8]?
    /// PIDs of the process's children in the snapshot, with their process groups.
    var children: [(pid: Int32, pgrp: Int32)] { get }
    var processGroup: Int32 { get }
    /// Whether the process lives in a PID namespace below the one /proc shows: then the PIDs it
    /// passes to system calls are its namespace's.
    var inNestedNamespace: Bool { get }
    /// A process's PID in its own (innermost) PID namespace.
    func namespacePid(of pid: Int32) -> Int32?
    /// Holders (not waiters) of file locks on the file open as `fd`.
    func fileLockHolders(fd: Int32, inode: UInt64) -> [Int32]
    /// `clock_gettime(clock)` in seconds, for absolute deadlines.
    func now(clock: Int32) -> Double
    /// A socket's own receive or send timeout (SO_RCVTIMEO, SO_SNDTIMEO), 0 for none; nil when it
    /// cannot be read.
    func socketTimeout(fd: Int32, send: Bool) -> Double?
}

extension WaitContext {
    func u32(at address: UInt64) -> UInt32? {
        memory(at: address, count: 4).map { RemoteMemory.littleEndian($0[0..<4]) }
    }

    func timespec(at address: UInt64, microseconds: Bool = false) -> Double? {
        guard let raw = memory(at: address, count: 16) else { return nil }
        let seconds = Int64(bitPattern: RemoteMemory.littleEndian(raw[0..<8]))
        let fraction = Int64(bitPattern: RemoteMemory.littleEndian(raw[8..<16]))
        return Double(seconds) + Double(fraction) / (microseconds ? 1e6 : 1e9)
    }
}

/// Turns `/proc/PID/task/TID/syscall` into a `ThreadWait`: the call by name, what it waits on and
/// whether it can time out. Data only: the renderers put it into words.
struct WaitDecoder {
    let architecture: Architecture

    static let clockRealtime: Int32 = 0
    static let clockMonotonic: Int32 = 1

    func decode(_ state: SyscallState, threadState: TaskState, in context: WaitContext) -> ThreadWait {
        switch state {
        case .running:
            return ThreadWait(.running(inspector: false), forever: false)
        case .notInSyscall(_, let pc):
            return ThreadWait(.userSpace(programCounter: pc, stopped: threadState.isStopped ? threadState : nil), forever: false)
        case .inSyscall(let number, let args, _, _):
            let name = Syscall(name: SyscallNames.name(number, on: architecture) ?? "syscall_\(number)")
            var wait = decodeCall(name, args: args, in: context)
            wait.call = SystemCall(name: name, number: number, args: args)
            return wait
        }
    }

    /// Whether a system call, by its own arguments, wakes by itself: a sleep, or a wait with a
    /// timeout (a `restart_syscall` is one of those resumed after a stop). Read from the
    /// registers alone, without the target's memory: a timeout pointer that is not NULL counts.
    static func wakesByItself(_ state: SyscallState, on architecture: Architecture) -> Bool {
        guard case .inSyscall(let number, let args, _, _) = state, let name = SyscallNames.name(number, on: architecture) else {
            return false
        }
        switch Syscall(name: name) {
        case .nanosleep, .clockNanosleep, .restartSyscall: return true
        case .futex, .futexWaitv, .epollPwait2: return args[3] != 0
        case .poll: return Int32(truncatingIfNeeded: args[2]) >= 0
        case .ppoll, .rtSigtimedwait: return args[2] != 0
        case .select, .pselect6: return args[4] != 0
        case .epollWait, .epollPwait: return Int32(truncatingIfNeeded: args[3]) >= 0
        default: return false
        }
    }

    private func decodeCall(_ name: Syscall, args: [UInt64], in context: WaitContext) -> ThreadWait {
        switch name {
        case .futex:
            return decodeFutex(args, in: context)
        case .futexWaitv:
            return decodeFutexWaitv(args, in: context)
        case .read, .readv, .pread64, .preadv, .preadv2, .recvfrom, .recvmsg, .recvmmsg, .accept, .accept4:
            return decodeFdCall(name, fd: Int32(truncatingIfNeeded: args[0]), direction: .input, in: context)
        case .write, .writev, .pwrite64, .pwritev, .pwritev2, .sendto, .sendmsg, .sendmmsg, .connect:
            return decodeFdCall(name, fd: Int32(truncatingIfNeeded: args[0]), direction: .output, in: context)
        case .poll, .ppoll:
            return decodePoll(name, args, in: context)
        case .select, .pselect6:
            return decodeSelect(name, args, in: context)
        case .epollWait, .epollPwait, .epollPwait2:
            return decodeEpoll(name, args, in: context)
        case .wait4, .waitid:
            return decodeWait(name, args, in: context)
        case .nanosleep:
            return sleep(request: args[0], absoluteClock: nil, in: context)
        case .clockNanosleep:
            let clock = Int32(truncatingIfNeeded: args[0])
            return sleep(request: args[2], absoluteClock: args[1] & 1 != 0 ? clock : nil, in: context)
        case .flock:
            let exclusive = args[1] & 2 != 0
            return decodeFileLock(fd: Int32(truncatingIfNeeded: args[0]), exclusive: exclusive, type: .flock, in: context)
        case .fcntl where args[1] == 7 || args[1] == 38:  // F_SETLKW, F_OFD_SETLKW
            // struct flock starts with short l_type: F_RDLCK 0, F_WRLCK 1.
            let lockType = context.memory(at: args[2], count: 2).map { $0[0] }
            return decodeFileLock(fd: Int32(truncatingIfNeeded: args[0]), exclusive: lockType.map { $0 != 0 },
                                  type: args[1] == 7 ? .posix : .ofd, in: context)
        case .pause, .rtSigsuspend:
            return ThreadWait(.signal, forever: true)
        case .rtSigtimedwait:
            return ThreadWait(.signal, forever: args[2] == 0, timeoutSeconds: args[2] == 0 ? nil : context.timespec(at: args[2]))
        case .restartSyscall:
            return ThreadWait(.restarted, forever: false)
        default:
            return ThreadWait(.other(futex: nil), forever: false)
        }
    }

    // MARK: restart_syscall

    /// The call a `restart_syscall` resumed: named by the innermost frame (the libc wrapper that
    /// made it), or by the kernel function it sleeps in where only one call can resume there
    /// (`poll_schedule_timeout`: only `poll` restarts as `restart_syscall`; `ppoll` and `select`
    /// restart as themselves). Nil when neither tells.
    func resumedCall(frame: String?, wchan: String?) -> Syscall? {
        if let frame {
            var name = LockClassifier.withoutVersion(frame)
            while name.hasPrefix("_") { name.removeFirst() }
            if name.hasPrefix("GI_") { name.removeFirst(3) }
            while name.hasPrefix("_") { name.removeFirst() }
            let candidates: [String]
            switch name {
            case "poll": candidates = ["poll", "ppoll"]
            case "ppoll": candidates = ["ppoll"]
            case "select", "pselect", "pselect6": candidates = ["pselect6"]
            case "epoll_wait", "epoll_pwait": candidates = [name, "epoll_pwait"]
            case "epoll_pwait2": candidates = ["epoll_pwait2"]
            case "clock_nanosleep", "nanosleep": candidates = [name]
            case "sigtimedwait", "sigwaitinfo": candidates = ["rt_sigtimedwait"]
            case _ where name.includes("futex") || name == "lll_lock_wait": candidates = ["futex"]
            default: candidates = []
            }
            if let known = candidates.first(where: { SyscallNames.number($0, on: architecture) != nil }) { return Syscall(name: known) }
        }
        if let wchan, wchan.hasPrefix("poll_schedule_timeout"), SyscallNames.number("poll", on: architecture) != nil { return .poll }
        return nil
    }

    /// A `restart_syscall` wait decoded as the call it resumed: the argument registers still hold
    /// that call's arguments, so an untimed wait stays untimed, and a timed one shows what it asked
    /// for (a relative timeout as asked, an absolute deadline as the time left to it).
    func decodeResumed(_ wait: ThreadWait, as name: Syscall, in context: WaitContext) -> ThreadWait {
        guard var call = wait.call, call.args.count == 6 else { return wait }
        var resumed = decodeCall(name, args: call.args, in: context)
        call.resumed = name
        resumed.call = call
        return resumed
    }

    // MARK: futex

    private func decodeFutex(_ args: [UInt64], in context: WaitContext) -> ThreadWait {
        let op = args[1]
        let command = op & ~UInt64(0x180)
        let isPrivate = op & 128 != 0
        let realtime = op & 256 != 0
        let operation = FutexOperation(command: command)
        var futex = FutexWait(address: args[0], operation: operation, private: isPrivate,
                              clock: realtime || operation == .lockPI ? .realtime : .monotonic,
                              expected: operation.blocks && operation != .lockPI && operation != .lockPI2
                                  ? UInt32(truncatingIfNeeded: args[2]) : nil)
        futex.mapping = mappingReference(args[0], in: context)
        guard operation.blocks else { return ThreadWait(.other(futex: futex), forever: false) }
        let forever = args[3] == 0
        var timeout: Double?
        if !forever, let value = context.timespec(at: args[3]) {
            // FUTEX_WAIT takes a relative timeout; the others an absolute deadline.
            timeout = operation == .wait ? value
                : max(0, value - context.now(clock: realtime || operation == .lockPI ? Self.clockRealtime : Self.clockMonotonic))
        }
        return ThreadWait(.futex(futex, lock: nil), forever: forever, timeoutSeconds: timeout)
    }

    private func decodeFutexWaitv(_ args: [UInt64], in context: WaitContext) -> ThreadWait {
        let count = Int(min(args[1], 128))
        var futexes: [FutexWait] = []
        if let raw = context.memory(at: args[0], count: count * 24) {
            for i in 0..<count {
                let entry = raw[(i * 24)..<(i * 24 + 24)]
                let value: UInt64 = RemoteMemory.littleEndian(entry.prefix(8))
                let address: UInt64 = RemoteMemory.littleEndian(entry.dropFirst(8).prefix(8))
                let flags: UInt32 = RemoteMemory.littleEndian(entry.dropFirst(16).prefix(4))
                var futex = FutexWait(address: address, operation: .waitv, private: flags & 128 != 0,
                                      clock: args[4] == 0 ? .realtime : .monotonic, expected: UInt32(truncatingIfNeeded: value))
                futex.mapping = mappingReference(address, in: context)
                futexes.append(futex)
            }
        }
        let forever = args[3] == 0
        let timeout = forever ? nil : context.timespec(at: args[3]).map {
            max(0, $0 - context.now(clock: Int32(truncatingIfNeeded: args[4])))
        }
        return ThreadWait(.futexVector(futexes, lock: nil), forever: forever, timeoutSeconds: timeout)
    }

    private func mappingReference(_ address: UInt64, in context: WaitContext) -> MappingReference? {
        guard let map = context.mapping(containing: address) else { return nil }
        return MappingReference(path: map.path.isEmpty ? nil : map.path, inode: map.inode, device: map.device,
                                offset: address - map.start + map.offset, shared: map.isShared)
    }

    // MARK: fds

    enum Direction { case input, output }

    private func decodeFdCall(_ name: Syscall, fd: Int32, direction: Direction, in context: WaitContext) -> ThreadWait {
        var description = context.describeFd(fd)
        description.events = direction == .input ? (name == .accept || name == .accept4 ? "accept" : "in") : (name == .connect ? "connect" : "out")
        // A blocking call on a socket ends by itself after the socket's own timeout, if it has one.
        if [.unixSocket, .tcpSocket, .udpSocket, .socket].contains(description.kind) {
            switch context.socketTimeout(fd: fd, send: direction == .output) {
            case let timeout? where timeout > 0:
                return ThreadWait(.fd(description, socketTimeout: .own), forever: false, timeoutSeconds: timeout)
            case nil:
                return ThreadWait(.fd(description, socketTimeout: .unknown), forever: true)
            default:
                break
            }
        }
        return ThreadWait(.fd(description, socketTimeout: nil), forever: true)
    }

    private func decodePoll(_ name: Syscall, _ args: [UInt64], in context: WaitContext) -> ThreadWait {
        let count = Int(min(args[1], 1024))
        var fds: [FdDescription] = []
        let raw = count > 0 ? context.memory(at: args[0], count: count * 8) : nil
        if let raw {
            for i in 0..<count {
                let fd = Int32(bitPattern: RemoteMemory.littleEndian(raw[(i * 8)..<(i * 8 + 4)]))
                let events: UInt16 = RemoteMemory.littleEndian(raw[(i * 8 + 4)..<(i * 8 + 6)])
                guard fd >= 0 else { continue }
                var description = context.describeFd(fd)
                description.events = pollEvents(UInt32(events))
                fds.append(description)
            }
        }
        let detail = ThreadWait.Detail.poll(fds, unreadableCount: count > 0 && raw == nil ? count : nil)
        if name == .poll {
            let ms = Int32(truncatingIfNeeded: args[2])
            return ThreadWait(detail, forever: ms < 0, timeoutSeconds: ms < 0 ? nil : Double(ms) / 1000)
        }
        return ThreadWait(detail, forever: args[2] == 0, timeoutSeconds: args[2] == 0 ? nil : context.timespec(at: args[2]))
    }

    private func decodeSelect(_ name: Syscall, _ args: [UInt64], in context: WaitContext) -> ThreadWait {
        let nfds = Int(min(args[0], 4096))
        let setBytes = (nfds + 63) / 64 * 8
        var events: [Int32: [String]] = [:]
        for (address, event) in [(args[1], "in"), (args[2], "out"), (args[3], "pri")] where address != 0 {
            guard let raw = context.memory(at: address, count: setBytes) else { continue }
            for fd in 0..<nfds where raw[fd / 8] & (1 << (fd % 8)) != 0 {
                events[Int32(fd), default: []].append(event)
            }
        }
        let forever = args[4] == 0
        let fds = events.keys.sorted().map { fd -> FdDescription in
            var description = context.describeFd(fd)
            description.events = events[fd]!.joined(separator: "|")
            return description
        }
        return ThreadWait(.poll(fds, unreadableCount: nil), forever: forever,
                          timeoutSeconds: forever ? nil : context.timespec(at: args[4], microseconds: name == .select))
    }

    private func decodeEpoll(_ name: Syscall, _ args: [UInt64], in context: WaitContext) -> ThreadWait {
        let detail = ThreadWait.Detail.poll([context.describeFd(Int32(truncatingIfNeeded: args[0]))], unreadableCount: nil)
        if name == .epollPwait2 {
            return ThreadWait(detail, forever: args[3] == 0, timeoutSeconds: args[3] == 0 ? nil : context.timespec(at: args[3]))
        }
        let ms = Int32(truncatingIfNeeded: args[3])
        return ThreadWait(detail, forever: ms < 0, timeoutSeconds: ms < 0 ? nil : Double(ms) / 1000)
    }

    // MARK: children, sleeps, locks

    private func decodeWait(_ name: Syscall, _ args: [UInt64], in context: WaitContext) -> ThreadWait {
        let children = context.children
        let target: ChildTarget
        let options = name == .wait4 ? args[2] : args[3]
        if name == .wait4 {
            let pid = Int32(truncatingIfNeeded: args[0])
            switch pid {
            case -1: target = .any
            case 0: target = .group(context.processGroup)
            case ..<(-1): target = .group(-pid)
            default: target = .pid(pid)
            }
        } else {
            let id = Int32(truncatingIfNeeded: args[1])
            switch args[0] {
            case 0: target = .any
            case 1: target = .pid(id)
            case 2: target = .group(id == 0 ? context.processGroup : id)
            default: target = .pidfd
            }
        }
        // In a nested PID namespace the call names PIDs of that namespace: match them there, and
        // show the one /proc shows.
        let nested = context.inNestedNamespace
        func own(_ pid: Int32) -> Int32? { nested ? context.namespacePid(of: pid) : pid }
        var shown = target
        let selected: [Int32]
        switch target {
        case .any, .pidfd: selected = children.map(\.pid)
        case .pid(let pid):
            selected = children.filter { own($0.pid) == pid }.map(\.pid)
            if nested, let host = selected.first { shown = .pid(host) }
        case .group(let group):
            selected = children.filter { $0.pgrp == group || (nested && own($0.pgrp) == group) }.map(\.pid)
            if nested, let leader = children.first(where: { own($0.pgrp) == group })?.pgrp { shown = .group(leader) }
        }
        return ThreadWait(.child(shown, children: selected), forever: options & 1 == 0)  // WNOHANG does not block
    }

    private func sleep(request: UInt64, absoluteClock: Int32?, in context: WaitContext) -> ThreadWait {
        var seconds = context.timespec(at: request)
        if let clock = absoluteClock, let deadline = seconds {
            seconds = max(0, deadline - context.now(clock: clock))
        }
        return ThreadWait(.sleep(absolute: absoluteClock != nil), forever: false, timeoutSeconds: seconds)
    }

    /// `exclusive` is nil when the lock's type could not be read.
    private func decodeFileLock(fd: Int32, exclusive: Bool?, type: FileLockKind, in context: WaitContext) -> ThreadWait {
        let description = context.describeFd(fd)
        let holders = description.inode.map { context.fileLockHolders(fd: fd, inode: $0) } ?? []
        let lock = FileLockWait(fd: fd, path: description.target, inode: description.inode, exclusive: exclusive,
                                type: type, holders: holders)
        return ThreadWait(.fileLock(lock, fd: description), forever: true)
    }
}

func pollEvents(_ mask: UInt32) -> String {
    var names: [String] = []
    if mask & 0x1 != 0 { names.append("in") }
    if mask & 0x2 != 0 { names.append("pri") }
    if mask & 0x4 != 0 { names.append("out") }
    return names.isEmpty ? "0x" + String(mask, radix: 16) : names.joined(separator: "|")
}
