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
    /// Holders (not waiters) of file locks on the file open as `fd`.
    func fileLockHolders(fd: Int32, inode: UInt64) -> [Int32]
    /// `clock_gettime(clock)` in seconds, for absolute deadlines.
    func now(clock: Int32) -> Double
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
/// whether it can time out.
struct WaitDecoder {
    let architecture: Architecture

    static let clockRealtime: Int32 = 0
    static let clockMonotonic: Int32 = 1

    func decode(_ state: SyscallState, threadState: String, in context: WaitContext) -> ThreadWait {
        switch state {
        case .running:
            return ThreadWait(kind: .running, summary: "running", forever: false)
        case .notInSyscall(_, let pc):
            let stopped = threadState == "T" || threadState == "t"
            return ThreadWait(
                kind: .userSpace,
                summary: stopped ? "stopped (state \(threadState)) outside a system call" : "not in a system call (pc 0x\(hex(pc)))",
                forever: false)
        case .inSyscall(let number, let args, _, _):
            let name = SyscallNames.name(number, on: architecture)
            var wait = decodeCall(name: name ?? "syscall_\(number)", args: args, in: context)
            wait.syscall = name ?? "syscall_\(number)"
            wait.syscallNumber = number
            wait.args = args.map { "0x" + hex($0) }
            return wait
        }
    }

    private func decodeCall(name: String, args: [UInt64], in context: WaitContext) -> ThreadWait {
        switch name {
        case "futex":
            return decodeFutex(args, in: context)
        case "futex_waitv":
            return decodeFutexWaitv(args, in: context)
        case "read", "readv", "pread64", "preadv", "preadv2", "recvfrom", "recvmsg", "recvmmsg", "accept", "accept4":
            return decodeFdCall(name, fd: Int32(truncatingIfNeeded: args[0]), direction: .input, in: context)
        case "write", "writev", "pwrite64", "pwritev", "pwritev2", "sendto", "sendmsg", "sendmmsg", "connect":
            return decodeFdCall(name, fd: Int32(truncatingIfNeeded: args[0]), direction: .output, in: context)
        case "poll", "ppoll":
            return decodePoll(name, args, in: context)
        case "select", "pselect6":
            return decodeSelect(name, args, in: context)
        case "epoll_wait", "epoll_pwait", "epoll_pwait2":
            return decodeEpoll(name, args, in: context)
        case "wait4", "waitid":
            return decodeWait(name, args, in: context)
        case "nanosleep":
            return sleep(name, request: args[0], absoluteClock: nil, in: context)
        case "clock_nanosleep":
            let clock = Int32(truncatingIfNeeded: args[0])
            return sleep(name, request: args[2], absoluteClock: args[1] & 1 != 0 ? clock : nil, in: context)
        case "flock":
            let exclusive = args[1] & 2 != 0
            return decodeFileLock(name, fd: Int32(truncatingIfNeeded: args[0]), exclusive: exclusive,
                                  type: "flock", in: context)
        case "fcntl" where args[1] == 7 || args[1] == 38:  // F_SETLKW, F_OFD_SETLKW
            // struct flock starts with short l_type: F_RDLCK 0, F_WRLCK 1.
            let lockType = context.memory(at: args[2], count: 2).map { $0[0] }
            return decodeFileLock(name, fd: Int32(truncatingIfNeeded: args[0]), exclusive: lockType.map { $0 != 0 },
                                  type: args[1] == 7 ? "posix" : "ofd", in: context)
        case "pause", "rt_sigsuspend":
            return ThreadWait(kind: .signal, summary: "\(name) (until a signal arrives)", forever: true)
        case "rt_sigtimedwait":
            let timeout = args[2] == 0 ? nil : context.timespec(at: args[2])
            return ThreadWait(kind: .signal, summary: "\(name) (sigwait, \(describeTimeout(forever: args[2] == 0, seconds: timeout)))",
                              forever: args[2] == 0, timeoutSeconds: timeout)
        case "restart_syscall":
            return ThreadWait(kind: .restarted,
                              summary: "restart_syscall (a timed wait resumed after a stop; its arguments are gone)",
                              forever: false)
        default:
            let shown = args.prefix(3).map { "0x" + hex($0) }.joined(separator: ", ")
            return ThreadWait(kind: .other, summary: "\(name)(\(shown), …)", forever: false)
        }
    }

    // MARK: futex

    static let futexOperations: [UInt64: String] = [
        0: "WAIT", 6: "LOCK_PI", 9: "WAIT_BITSET", 11: "WAIT_REQUEUE_PI", 13: "LOCK_PI2",
        1: "WAKE", 3: "REQUEUE", 4: "CMP_REQUEUE", 5: "WAKE_OP", 7: "UNLOCK_PI", 8: "TRYLOCK_PI",
        10: "WAKE_BITSET", 12: "CMP_REQUEUE_PI",
    ]

    private func decodeFutex(_ args: [UInt64], in context: WaitContext) -> ThreadWait {
        let op = args[1]
        let command = op & ~UInt64(0x180)
        let isPrivate = op & 128 != 0
        let realtime = op & 256 != 0
        let operation = Self.futexOperations[command] ?? "OP_\(command)"
        let blocking = [0, 6, 9, 11, 13].contains(command)
        var futex = FutexWait(address: "0x" + hex(args[0]), operation: operation, private: isPrivate,
                              clock: realtime || command == 6 ? "realtime" : "monotonic",
                              expected: blocking && command != 6 && command != 13 ? UInt32(truncatingIfNeeded: args[2]) : nil)
        futex.mapping = mappingReference(args[0], in: context)
        guard blocking else {
            return ThreadWait(kind: .other, summary: "futex \(operation.lowercased()) 0x\(hex(args[0]))", forever: false, futex: futex)
        }
        let forever = args[3] == 0
        var timeout: Double?
        if !forever, let value = context.timespec(at: args[3]) {
            // FUTEX_WAIT takes a relative timeout; the others an absolute deadline.
            timeout = command == 0 ? value : max(0, value - context.now(clock: realtime || command == 6 ? Self.clockRealtime : Self.clockMonotonic))
        }
        let scope = isPrivate ? "private" : "shared\(futex.mapping.map { ": " + describe($0) } ?? "")"
        return ThreadWait(kind: .futex,
                          summary: "futex \(operation.lowercased()) 0x\(hex(args[0])) (\(scope), \(describeTimeout(forever: forever, seconds: timeout)))",
                          forever: forever, timeoutSeconds: timeout, futex: futex)
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
                var futex = FutexWait(address: "0x" + hex(address), operation: "WAITV", private: flags & 128 != 0,
                                      clock: args[4] == 0 ? "realtime" : "monotonic", expected: UInt32(truncatingIfNeeded: value))
                futex.mapping = mappingReference(address, in: context)
                futexes.append(futex)
            }
        }
        let forever = args[3] == 0
        let timeout = forever ? nil : context.timespec(at: args[3]).map {
            max(0, $0 - context.now(clock: Int32(truncatingIfNeeded: args[4])))
        }
        let list = futexes.isEmpty ? "\(count) futexes (unreadable)"
            : futexes.map { "\($0.address) \($0.private ? "private" : "shared")" }.joined(separator: ", ")
        return ThreadWait(kind: .futex, summary: "futex_waitv [\(list)] (\(describeTimeout(forever: forever, seconds: timeout)))",
                          forever: forever, timeoutSeconds: timeout, futexes: futexes)
    }

    private func mappingReference(_ address: UInt64, in context: WaitContext) -> MappingReference? {
        guard let map = context.mapping(containing: address) else { return nil }
        return MappingReference(path: map.path.isEmpty ? nil : map.path, inode: map.inode, device: map.device,
                                offset: "0x" + hex(address - map.start + map.offset), shared: map.isShared)
    }

    private func describe(_ mapping: MappingReference) -> String {
        let name = mapping.path ?? "anonymous shared memory"
        return mapping.inode != 0 ? "\(name) inode \(mapping.inode) +\(mapping.offset)" : "\(name) +\(mapping.offset)"
    }

    // MARK: fds

    enum Direction { case input, output }

    private func decodeFdCall(_ name: String, fd: Int32, direction: Direction, in context: WaitContext) -> ThreadWait {
        var description = context.describeFd(fd)
        description.events = direction == .input ? (name.hasPrefix("accept") ? "accept" : "in") : (name == "connect" ? "connect" : "out")
        return ThreadWait(kind: .fd, summary: "", forever: true, fds: [description]).summarized(name)
    }

    private func decodePoll(_ name: String, _ args: [UInt64], in context: WaitContext) -> ThreadWait {
        let count = Int(min(args[1], 1024))
        var fds: [FdDescription] = []
        if let raw = context.memory(at: args[0], count: count * 8) {
            for i in 0..<count {
                let fd = Int32(bitPattern: RemoteMemory.littleEndian(raw[(i * 8)..<(i * 8 + 4)]))
                let events: UInt16 = RemoteMemory.littleEndian(raw[(i * 8 + 4)..<(i * 8 + 6)])
                guard fd >= 0 else { continue }
                var description = context.describeFd(fd)
                description.events = pollEvents(UInt32(events))
                fds.append(description)
            }
        }
        let forever: Bool
        var timeout: Double?
        if name == "poll" {
            let ms = Int32(truncatingIfNeeded: args[2])
            forever = ms < 0
            timeout = forever ? nil : Double(ms) / 1000
        } else {
            forever = args[2] == 0
            timeout = forever ? nil : context.timespec(at: args[2])
        }
        return pollWait(name, fds: fds, unreadable: count > 0 && fds.isEmpty ? "\(count) fds" : nil,
                        forever: forever, timeout: timeout)
    }

    private func decodeSelect(_ name: String, _ args: [UInt64], in context: WaitContext) -> ThreadWait {
        let nfds = Int(min(args[0], 4096))
        let setBytes = (nfds + 63) / 64 * 8
        var events: [Int32: [String]] = [:]
        for (address, event) in [(args[1], "in"), (args[2], "out"), (args[3], "pri")] where address != 0 {
            guard let raw = context.memory(at: address, count: setBytes) else { continue }
            for fd in 0..<nfds where raw[fd / 8] & (1 << (fd % 8)) != 0 {
                events[Int32(fd), default: []].append(event)
            }
        }
        let fds = events.keys.sorted().map { fd -> FdDescription in
            var description = context.describeFd(fd)
            description.events = events[fd]!.joined(separator: "|")
            return description
        }
        let forever = args[4] == 0
        let timeout = forever ? nil : context.timespec(at: args[4], microseconds: name == "select")
        return pollWait(name, fds: fds, unreadable: nil, forever: forever, timeout: timeout)
    }

    private func decodeEpoll(_ name: String, _ args: [UInt64], in context: WaitContext) -> ThreadWait {
        let epfd = Int32(truncatingIfNeeded: args[0])
        let description = context.describeFd(epfd)
        let forever: Bool
        var timeout: Double?
        if name == "epoll_pwait2" {
            forever = args[3] == 0
            timeout = forever ? nil : context.timespec(at: args[3])
        } else {
            let ms = Int32(truncatingIfNeeded: args[3])
            forever = ms < 0
            timeout = forever ? nil : Double(ms) / 1000
        }
        return ThreadWait(kind: .poll, summary: "", forever: forever, timeoutSeconds: timeout, fds: [description]).summarized(name)
    }

    private func pollWait(_ name: String, fds: [FdDescription], unreadable: String?, forever: Bool, timeout: Double?) -> ThreadWait {
        var wait = ThreadWait(kind: .poll, summary: "", forever: forever, timeoutSeconds: timeout, fds: fds).summarized(name)
        if let unreadable { wait.summary = "\(name) [\(unreadable), unreadable] (\(describeTimeout(forever: forever, seconds: timeout)))" }
        return wait
    }

    // MARK: children, sleeps, locks

    private func decodeWait(_ name: String, _ args: [UInt64], in context: WaitContext) -> ThreadWait {
        let children = context.children
        var selected: [Int32]
        var what: String
        let options = name == "wait4" ? args[2] : args[3]
        if name == "wait4" {
            let pid = Int32(truncatingIfNeeded: args[0])
            switch pid {
            case -1: selected = children.map(\.pid); what = "any child"
            case 0: selected = children.filter { $0.pgrp == context.processGroup }.map(\.pid); what = "any child in its process group"
            case ..<(-1): selected = children.filter { $0.pgrp == -pid }.map(\.pid); what = "any child in process group \(-pid)"
            default: selected = children.filter { $0.pid == pid }.map(\.pid); what = "child \(pid)"
            }
        } else {
            let id = Int32(truncatingIfNeeded: args[1])
            switch args[0] {
            case 0: selected = children.map(\.pid); what = "any child"
            case 1: selected = children.filter { $0.pid == id }.map(\.pid); what = "child \(id)"
            case 2:
                let group = id == 0 ? context.processGroup : id
                selected = children.filter { $0.pgrp == group }.map(\.pid); what = "any child in process group \(group)"
            default: selected = children.map(\.pid); what = "a child by pidfd"
            }
        }
        let nonBlocking = options & 1 != 0  // WNOHANG
        var detail = selected.isEmpty ? "no such child in the snapshot"
            : what.hasPrefix("child ") ? "alive" : "children: " + selected.map(String.init).joined(separator: ", ")
        detail += nonBlocking ? ", non-blocking" : ", forever"
        return ThreadWait(kind: .child, summary: "\(name) for \(what) (\(detail))", forever: !nonBlocking, children: selected)
    }

    private func sleep(_ name: String, request: UInt64, absoluteClock: Int32?, in context: WaitContext) -> ThreadWait {
        var seconds = context.timespec(at: request)
        if let clock = absoluteClock, let deadline = seconds {
            seconds = max(0, deadline - context.now(clock: clock))
        }
        let text = seconds.map { absoluteClock == nil ? formatDuration($0) : "\(formatDuration($0)) left" } ?? "for an unreadable time"
        return ThreadWait(kind: .sleep, summary: "\(name) \(text)", forever: false, timeoutSeconds: seconds)
    }

    /// `exclusive` is nil when the lock's type could not be read.
    private func decodeFileLock(_ name: String, fd: Int32, exclusive: Bool?, type: String, in context: WaitContext) -> ThreadWait {
        let description = context.describeFd(fd)
        let holders = description.inode.map { context.fileLockHolders(fd: fd, inode: $0) } ?? []
        let lock = FileLockWait(fd: fd, path: description.target, inode: description.inode,
                                mode: exclusive.map { $0 ? "exclusive" : "shared" } ?? "unknown", type: type, holders: holders)
        let held = holders.isEmpty ? "holder unknown" : "held by " + holders.map(String.init).joined(separator: ", ")
        return ThreadWait(kind: .fileLock,
                          summary: "\(name) \(lock.mode) lock on fd \(fd) = \(description.target ?? "?") (\(held), forever)",
                          forever: true, fds: [description], fileLock: lock)
    }
}

// MARK: formatting shared with the renderers

extension ThreadWait {
    func summarized(_ name: String) -> ThreadWait {
        var copy = self
        copy.syscall = name
        copy.summary = fdWaitSummary(copy)
        return copy
    }
}

/// The one-line summary of a wait on fds: `read fd 5 = pipe:[5353] <- writers: 2261 fd 4`.
func fdWaitSummary(_ wait: ThreadWait) -> String {
    let name = wait.syscall ?? "?"
    let fds = wait.fds ?? []
    let timeout = describeTimeout(forever: wait.forever, seconds: wait.timeoutSeconds)
    switch wait.kind {
    case .fd:
        return "\(name) \(fds.map(describeFdShort).joined())"
    case .poll where fds.count == 1 && fds[0].kind == .epoll && name.hasPrefix("epoll"):
        let list = (fds[0].watched ?? []).map(describeFdShort).joined(separator: "; ")
        return "\(name) fd \(fds[0].fd) = epoll watching [\(list)] (\(timeout))"
    case .fileLock:
        return wait.summary
    default:
        let list = fds.map(describeFdShort).joined(separator: "; ")
        return !wait.forever && wait.timeoutSeconds == 0 ? "\(name) [\(list)] (non-blocking)" : "\(name) [\(list)] (\(timeout))"
    }
}

func hex(_ value: UInt64) -> String { String(value, radix: 16) }

func pollEvents(_ mask: UInt32) -> String {
    var names: [String] = []
    if mask & 0x1 != 0 { names.append("in") }
    if mask & 0x2 != 0 { names.append("pri") }
    if mask & 0x4 != 0 { names.append("out") }
    return names.isEmpty ? "0x" + String(mask, radix: 16) : names.joined(separator: "|")
}

func formatDuration(_ seconds: Double) -> String {
    if seconds < 0.001 { return "\(Int((seconds * 1e6).rounded()))µs" }
    if seconds < 1 { return "\(Int((seconds * 1000).rounded()))ms" }
    if seconds < 100 { return oneDecimal(seconds) + "s" }
    return "\(Int(seconds.rounded()))s"
}

func describeTimeout(forever: Bool, seconds: Double?) -> String {
    if forever { return "forever" }
    return seconds.map { "timeout \(formatDuration($0))" } ?? "timed"
}

/// `fd 5 = pipe:[5353] <- writers: 2261 fd 4`.
func describeFdShort(_ fd: FdDescription) -> String {
    var text = "fd \(fd.fd) = \(fd.target ?? "?")"
    if let socket = fd.socket {
        let parts = [socket.proto, socket.type, socket.state].compactMap { $0 }
        var details = parts.joined(separator: " ")
        if let local = socket.local, let remote = socket.remote { details += " \(local) -> \(remote)" }
        if let path = socket.path, !path.isEmpty { details += " \(path)" }
        if !details.isEmpty { text += " (\(details))" }
    } else if fd.kind == .tty {
        text += " (terminal)"
    }
    if let events = fd.events, fd.kind != .pipe, fd.kind != .unixSocket { text += " [\(events)]" }
    if let peers = fd.peers {
        let label: String
        switch fd.kind {
        case .pipe: label = fd.waitsForWriters ? " <- writers: " : " -> readers: "
        case .unixSocket: label = " <-> peer \(fd.socket?.peerInode.map { "socket:[\($0)]" } ?? "") held by: "
        default: label = " <- "
        }
        text += label + (peers.isEmpty ? "none" : peers.map { "\($0.pid) fd \($0.fd)" }.joined(separator: ", "))
    }
    return text
}

extension FdDescription {
    /// Whether a waiter on this fd waits for data to come in (rather than for room to write).
    var waitsForWriters: Bool {
        guard let events else { return access != .write }
        return events.contains("in") || events == "accept"
    }
}
