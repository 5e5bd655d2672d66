// The words: every sentence and line a person reads is made from the model's values, here and, for
// the findings of each rule, in that rule's folder under Rules/ (with the helpers here). The text,
// JSON, GitHub-annotation and event renderers all speak through these functions.

func hex(_ value: UInt64) -> String { String(value, radix: 16) }

/// `0x55e6e815a5e0`.
func hexAddress(_ value: UInt64) -> String { "0x" + String(value, radix: 16) }

func plural(_ n: Int, _ one: String, _ many: String) -> String { "\(n) \(n == 1 ? one : many)" }

/// `is` or `are` for a count.
func isAre(_ n: Int) -> String { n == 1 ? "is" : "are" }

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

/// PIDs as runs: `8159-8174`, `12, 15-17`; past `limit` items, the rest as a count.
func compactList(_ values: [Int32], limit: Int = 8) -> String {
    let sorted = Array(Set(values)).sorted()
    var runs: [String] = []
    var index = 0
    while index < sorted.count {
        var end = index
        while end + 1 < sorted.count && sorted[end + 1] == sorted[end] + 1 { end += 1 }
        runs.append(end > index ? "\(sorted[index])-\(sorted[end])" : "\(sorted[index])")
        index = end + 1
    }
    guard runs.count > limit else { return runs.joined(separator: ", ") }
    let shown = runs.prefix(limit).joined(separator: ", ")
    let hidden = sorted.count - runs.prefix(limit).reduce(0) { count, run in
        let bounds = run.split(separator: "-").compactMap { Int($0) }
        return count + (bounds.count == 2 ? bounds[1] - bounds[0] + 1 : 1)
    }
    return "\(shown) and \(hidden) more"
}

extension LockInfo.Kind {
    /// How a report names the kind.
    public var label: String {
        switch self {
        case .pthreadMutex: return "pthread mutex"
        case .pthreadRwlock: return "pthread rwlock"
        case .conditionVariable: return "condition variable"
        case .semaphore: return "semaphore"
        case .cpythonLock: return "CPython lock"
        case .cpythonGIL: return "CPython GIL"
        case .cpythonImportLock: return "CPython import lock"
        case .libgompBarrier: return "libgomp barrier"
        case .libgompLock: return "libgomp lock"
        case .malloc: return "malloc arena lock"
        case .stdio: return "stdio lock"
        case .dynamicLoader: return "dynamic loader lock"
        case .threadJoin: return "pthread_join"
        case .unknown: return "lock"
        }
    }
}

// MARK: frames

extension StackFrame {
    /// `name (file.c:42)`, or `module+0xoffset`; Swift names demangled and shortened to
    /// `Module.Type.method`. Inlined calls come first, as the frames they would have been:
    /// `square (prog.c:2, inlined) <- compute (prog.c:7)`.
    var display: String {
        let own: String
        if let symbol {
            own = shortDemangled(symbol)
        } else if let module, let moduleOffset {
            own = "\(fileName(of: module))+\(hexAddress(moduleOffset))"
        } else {
            own = hexAddress(address)
        }
        let inlinedCalls = (inlined ?? []).map { call in
            (call.symbol.map(shortDemangled) ?? "??") + " (" + [position(call.file, call.line), "inlined"].compactMap { $0 }.joined(separator: ", ") + ")"
        }
        return (inlinedCalls + [own + (position(file, line).map { " (\($0))" } ?? "")]).joined(separator: " <- ")
    }
}

/// `file.c:42`: the file's last path component and the line; nil without both.
private func position(_ file: String?, _ line: Int?) -> String? {
    guard let file, let line else { return nil }
    return "\(fileName(of: file)):\(line)"
}

/// `a <- b <- c`, the innermost frames.
func shortStack(_ stack: [StackFrame], frames: Int = 4) -> String {
    stack.prefix(frames).map(\.display).joined(separator: " <- ") + (stack.count > frames ? " <- …" : "")
}

extension PythonFrameInfo {
    /// `Console.render_lines (rich/console.py:1369)`: the file by its last two path components.
    var display: String {
        let parts = file.split(separator: "/", omittingEmptySubsequences: true)
        let short = parts.count >= 2 ? parts.suffix(2).joined(separator: "/") : file
        return "\(function) (\(short)\(line.map { ":\($0)" } ?? ""))"
    }
}

extension PythonLockInfo {
    /// The object waited on as the program sees it: `Event `self._event``, `Lock `lock``, or for a
    /// wait inside a Queue whose caller's path was not found, `Queue`.
    var objectWords: String {
        if let waited {
            return waited.path.map { "\(waited.typeName) `\($0)`" } ?? waited.typeName
        }
        let type = typeName == "_thread.RLock" ? "RLock" : typeName == "_thread.lock" ? "Lock"
            : String(typeName.split(separator: ".").last ?? Substring(typeName))
        return "\(type) `\(path)`"
    }
}

/// "a" or "an" before a lock's name: `an RLock`, `an import lock`, `a pthread mutex`.
func article(_ words: String) -> String {
    guard let first = words.first else { return "a" }
    return "aeiouAEIOU".contains(first) || words.hasPrefix("RLock") ? "an" : "a"
}

extension PythonFrameInfo {
    /// From the standard library or importlib's frozen modules, not the program's own code.
    var isLibrary: Bool {
        file.hasPrefix("<frozen") || (file.includes("/lib/python") && !file.includes("-packages/"))
    }

    /// `app.py:36 in Registry.update`.
    var shortPlace: String { "\(fileName(of: file))\(line.map { ":\($0)" } ?? "") in \(function)" }
}

/// Where a Python thread is, as its program knows it: the innermost frame of its own code, else the innermost.
func pythonPlace(_ stack: [PythonFrameInfo]) -> String? {
    (stack.first { !$0.isLibrary } ?? stack.first)?.shortPlace
}

/// A Python stack, innermost first, the first few frames.
func shortStack(_ stack: [PythonFrameInfo], frames: Int = 4) -> String {
    stack.prefix(frames).map(\.display).joined(separator: " <- ") + (stack.count > frames ? " <- …" : "")
}

extension ThreadSnapshot {
    /// The name a person knows the thread by: Python's for a Python thread, else `comm`.
    var displayName: String { python?.threadName ?? name }

    /// Its innermost frames: Python's where it has a Python stack, else native ones.
    var shortStackLine: String? {
        if let frames = python?.stack, !frames.isEmpty { return shortStack(frames) }
        return stack.map { shortStack($0) }
    }
}

// MARK: waits

/// How many fds and peers a wait line shows before it counts the rest.
let fdsShown = 4
let holdersShown = 6

extension ThreadWait {
    /// The one line a person reads: `futex wait 0x55e6e815a5e0 (private, forever) — pthread mutex owned by TID 8212`.
    public var summary: String {
        guard let resumed = call?.resumed, kind != .restarted else { return line(name: call?.name.name ?? "?") }
        return line(name: resumed.name) + " [resumed after a stop, as restart_syscall]"
    }

    private func line(name: String) -> String {
        switch detail {
        case .running(let inspector):
            return inspector ? "forkhazard itself, taking this snapshot" : "running"
        case .userSpace(let programCounter, let stopped):
            if let stopped { return "stopped (state \(stopped)) outside a system call" }
            return "not in a system call" + (programCounter.map { " (pc \(hexAddress($0)))" } ?? "")
        case .zombie:
            return "exited (zombie, not yet reaped by its parent)"
        case .kernel(let function):
            return "kernel thread" + (function.map { ", in \($0)" } ?? "")
        case .futexVector(let futexes, _):
            let list = futexes.isEmpty ? "\(call.map { Int(min($0.args[1], 128)) } ?? 0) futexes (unreadable)"
                : futexes.map { "\(hexAddress($0.address)) \($0.private ? "private" : "shared")" }.joined(separator: ", ")
            return "futex_waitv [\(list)] (\(describeTimeout(forever: forever, seconds: timeoutSeconds)))"
        case .futex(let futex, _):
            let scope = futex.private ? "private" : "shared" + (futex.mapping.map { ": " + describe($0) } ?? "")
            return "futex \(futex.operation.name.lowercased()) \(hexAddress(futex.address)) "
                + "(\(scope), \(describeTimeout(forever: forever, seconds: timeoutSeconds)))" + lockSuffix
        case .fd(let fd, let socketTimeout):
            let option = fd.waitsForWriters ? "SO_RCVTIMEO" : "SO_SNDTIMEO"
            return "\(name) " + describeFd(fd)
                + (forever ? "" : " (\(describeTimeout(forever: false, seconds: timeoutSeconds))" + (socketTimeout == .own ? ", the socket's \(option))" : ")"))
        case .poll(let fds, let unreadableCount):
            let timeout = !forever && timeoutSeconds == 0 ? "non-blocking" : describeTimeout(forever: forever, seconds: timeoutSeconds)
            if let unreadableCount { return "\(name) [\(unreadableCount) fds, unreadable] (\(timeout))" }
            if fds.count == 1, fds[0].kind == .epoll, name.hasPrefix("epoll") {
                return "\(name) fd \(fds[0].fd) = epoll watching [\(describeFds(fds[0].watched ?? []))] (\(timeout))"
            }
            return "\(name) [\(describeFds(fds))] (\(timeout))"
        case .child(let target, let children):
            let what: String
            switch target {
            case .pid(let pid): what = "child \(pid)"
            case .group(let group): what = "any child in process group \(group)"
            case .pidfd: what = "a child by pidfd"
            case .any: what = "any child"
            }
            var detail = children.isEmpty ? "no such child in the snapshot"
                : { if case .pid = target { return true } else { return false } }() ? "alive"
                : "children: " + compactList(children)
            detail += forever ? ", forever" : ", non-blocking"
            return "\(name) for \(what) (\(detail))"
        case .sleep(let absolute):
            let time = timeoutSeconds.map { absolute ? "\(formatDuration($0)) left" : formatDuration($0) } ?? "for an unreadable time"
            return "\(name) \(time)"
        case .fileLock(let lock, _):
            let mode = lock.exclusive.map { $0 ? "exclusive" : "shared" } ?? "unknown"
            let held = lock.holders.isEmpty ? "holder unknown" : "held by " + compactList(lock.holders)
            return "\(name) \(mode) lock on fd \(lock.fd) = \(lock.path ?? "?") (\(held), forever)"
        case .signal:
            if name == Syscall.rtSigtimedwait.name { return "\(name) (sigwait, \(describeTimeout(forever: forever, seconds: timeoutSeconds)))" }
            return "\(name) (until a signal arrives)"
        case .restarted:
            if let resumed = call?.resumed { return "restart_syscall (\(resumed), resumed after a stop)" }
            return "restart_syscall (a wait resumed after a stop; its arguments are gone)"
        case .other(let futex):
            if let futex { return "futex \(futex.operation.name.lowercased()) \(hexAddress(futex.address))" }
            let shown = (call?.args ?? []).prefix(3).map(hexAddress).joined(separator: ", ")
            return "\(name)(\(shown), …)"
        }
    }

    /// ` — pthread mutex owned by TID 8212`, or nothing.
    var lockSuffix: String {
        guard let lock else { return "" }
        if lock.kind == .threadJoin { return " — pthread_join" + (lock.joins.map { " of thread \($0)" } ?? "") }
        if let python = lock.python {
            var words = python.importing.map { "the import lock of \($0) (`\(python.path)`)" } ?? python.objectWords
            words += " in \(python.waited?.function ?? python.waited?.method ?? python.function)"
            if let owner = lock.owner { words += ", owned by TID \(owner)" }
            else if python.ownerIdent != nil { words += ", owned by a thread that no longer exists" }
            return " — " + words
        }
        var words = lock.kind != .unknown ? lock.kind.label : ""
        if lock.pythonObjectNotFound {
            words = (words.isEmpty ? "" : words + ": ") + "no Python lock object found for it from the thread's frames"
        }
        if let owner = lock.owner {
            words += (words.isEmpty ? "" : " ") + "owned by TID \(owner)"
                + (lock.ownerNamespaceTid.map { " (TID \($0) in its PID namespace)" } ?? "")
        } else if let namespaceOwner = lock.ownerNamespaceTid {
            words += (words.isEmpty ? "" : " ") + "owned by TID \(namespaceOwner) of its PID namespace, which no thread here has"
        }
        return words.isEmpty ? "" : " — " + words
    }

    private func describe(_ mapping: MappingReference) -> String {
        let name = mapping.path ?? (mapping.shared ? "anonymous shared memory" : "anonymous private memory")
        return mapping.inode != 0 ? "\(name) inode \(mapping.inode) +\(hexAddress(mapping.offset))" : "\(name) +\(hexAddress(mapping.offset))"
    }
}

extension ThreadSnapshot {
    /// The wait line, or why there is none.
    var waitLine: String {
        wait?.summary ?? (wchan.map { "in \($0) (system call unreadable)" } ?? "wait unknown (see Notes)")
    }
}

/// Several fds, the first few in full and the rest counted.
func describeFds(_ fds: [FdDescription]) -> String {
    let shown = fds.prefix(fdsShown).map { describeFd($0) }.joined(separator: "; ")
    return fds.count > fdsShown ? shown + "; … \(fds.count - fdsShown) more fds" : shown
}

/// `fd 5 = pipe:[5353] <- writers: 2261 fd 4`.
func describeFd(_ fd: FdDescription) -> String {
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
        text += label + describeHolders(peers)
    }
    return text
}

/// `9764 fd 6, 9807-9822 fd 6` grouped by fd number: `9764, 9807-9822 fd 6`.
func describeHolders(_ holders: [FdHolder]) -> String {
    guard !holders.isEmpty else { return "none" }
    var byFd: [(fd: Int32, pids: [Int32])] = []
    for holder in holders {
        if let index = byFd.firstIndex(where: { $0.fd == holder.fd }) {
            byFd[index].pids.append(holder.pid)
        } else {
            byFd.append((holder.fd, [holder.pid]))
        }
    }
    let parts = byFd.prefix(holdersShown).map { "\(compactList($0.pids, limit: holdersShown)) fd \($0.fd)" }
    return parts.joined(separator: ", ") + (byFd.count > holdersShown ? " and \(byFd.count - holdersShown) more fds" : "")
}

// MARK: fork provenance

extension ForkBasis.ExecMarker {
    /// What a process with this command line is, as its tag in the tree says it.
    var words: String {
        switch self {
        case .spawn: return "started by multiprocessing's spawn"
        case .forkserver: return "multiprocessing's fork server"
        case .resourceTracker: return "multiprocessing's resource tracker"
        }
    }

    /// What its command line is.
    var commandLineWords: String {
        switch self {
        case .spawn: return "multiprocessing's spawn start method"
        case .forkserver: return "multiprocessing's fork server"
        case .resourceTracker: return "multiprocessing's resource tracker"
        }
    }
}

extension ForkBasis {
    /// The fact for one process, or for several (`many`) forked from one parent.
    func sentence(many: Bool = false) -> String {
        let its = many ? "their" : "its"
        switch self {
        case .execMarker(let marker):
            return "\(its) command line is \(marker.commandLineWords) (a fresh interpreter)"
        case .otherExecutable(let child, let parent):
            return "it runs \(child), its parent \(parent): a new program was exec'd"
        case .sameLayout(let layout):
            return "\(its) address layout is \(its) parent's (\(layout.words)): with ASLR on, an exec would have moved it"
        case .otherLayout(let child, let parent):
            return "its address layout differs from its parent's (\(child.words) vs \(parent.words)): a new program was exec'd"
        case .sameCommandLine:
            return many ? "they have their parent's command line" : "it has its parent's command line"
        case .sameStartupRandom:
            return "\(its) memory is a copy of \(its) parent's: the random bytes the kernel gives each program at exec (AT_RANDOM) "
                + "are the parent's, and an exec would have drawn new ones"
        case .otherStartupRandom:
            return "its random bytes from the kernel (AT_RANDOM) differ from its parent's: a new program was exec'd"
        case .sharesParentMemory:
            return "it shares its parent's address space (a vfork child, or a posix_spawn in flight), so it is neither a copy nor a new program yet"
        case .aslrOff:
            return "address randomisation is off (kernel.randomize_va_space=0, or ADDR_NO_RANDOMIZE in the personality: setarch -R, a debugger), so address layouts cannot tell a fork from an exec"
        case .layoutUnreadable:
            return "the address layouts could not be compared (memory maps unreadable)"
        }
    }
}

extension AddressLayout {
    var words: String {
        [("[stack] top", stackTop), ("vdso", vdso), ("libc", libcBase), ("executable", exeBase)]
            .compactMap { name, value in value.map { "\(name) \(hexAddress($0))" } }.joined(separator: ", ")
    }
}

// MARK: wakers

extension WaitGraph.WakerRole {
    /// Who can wake the wait; `own`, when given, names the waiter's own process instead of its PID.
    func words(own: String? = nil) -> String {
        switch self {
        case .lockOwner(let tid): return "the lock's owner, thread \(tid)"
        case .otherThreads(let pid): return "the other threads of \(own ?? "\(pid)") (a private futex)"
        case .noOtherThread(let pid): return "a private futex, and \(own ?? "\(pid)") has no other thread"
        case .mappers(let path, let pids): return "a process mapping \(path ?? "its object"): \(compactList(pids))"
        case .fileLockHolders(let pids): return "the lock's holder \(compactList(pids))"
        case .pipeWriters(let target, let pids): return "writers of \(target ?? "the pipe"): \(compactList(pids))"
        case .pipeReaders(let target, let pids): return "readers of \(target ?? "the pipe"): \(compactList(pids))"
        case .socketPeer(let target, let pids): return "holders of the peer of \(target ?? "the socket"): \(compactList(pids))"
        case .children(let pids): return "\(pids.count == 1 ? "child" : "children") \(compactList(pids))"
        case .processExit(let pid): return "the exit of \(pid) (a pidfd)"
        case .joinedThread(let tid): return "the end of thread \(tid)"
        case .joinedThreadMissing(let tid): return "thread \(tid) is not a thread of \(own ?? "the process") (pthread_join of a thread it does not have)"
        case .sharedAddressSpace(let pid): return "\(pid), which shares its address space"
        }
    }
}

extension WaitGraph.LiveReason {
    /// Why a wait may end without any thread of the snapshot, for a person.
    var words: String {
        switch self {
        case .waitUnknown: return "its wait is unknown"
        case .timed(let seconds): return "its wait is timed" + (seconds.map { " (\(formatDuration($0)))" } ?? "")
        case .endsByItself(let kind): return "\(kind.rawValue) waits end by themselves or by a signal"
        case .notSteady: return "it was not seen in the same wait twice"
        case .outsideTree(let pid, let role): return "\(pid) is outside the tree (\(role.words()))"
        case .mappersUnknown: return "who maps the shared futex's object is unknown"
        case .lockHolderUnknown: return "the file lock's holder is unknown"
        case .fdsUnreadable: return "the fds it waits on could not be read"
        case .otherEndUnknown(let fd): return "the other end of fd \(fd) is unknown"
        case .noOtherEnd(let fd): return "fd \(fd) has no other end: the call returns"
        case .external(let fd): return "\(describeFd(fd)) can be woken from outside the tree"
        case .noChild: return "it waits for no child of the tree"
        case .futexVector: return "futex_waitv"
        case .signalHandler: return "it catches signals and only it can end the wait: it waits for a signal (a self-pipe, a handler that posts)"
        case .stopped(let state): return "it is stopped (state \(state)): see the stopped rule"
        case .epollUnknown: return "its epoll set is empty or unreadable, and its other threads can add to it"
        case .socketTimeoutUnknown: return "whether its socket has a timeout of its own could not be read"
        case .peersIncomplete(let fd): return "the other end of fd \(fd) may be held by a process whose fds could not be read"
        }
    }
}

// MARK: findings

/// A finding in words.
public struct FindingText: Sendable {
    /// One sentence.
    public var message: String
    /// The facts, each with sub-items (the text report indents them, JSON flattens them).
    public var evidence: [Evidence]
    /// What to change, in full.
    public var remedy: String
    /// The cause in one sentence, for the summary at the top.
    public var cause: String
    /// The remedy in one sentence, for the summary at the top.
    public var fix: String

    public struct Evidence: Sendable {
        public var text: String
        public var details: [String] = []
    }

    /// Evidence as the JSON lists it: one string per item and sub-item.
    public var flatEvidence: [String] { evidence.flatMap { [$0.text] + $0.details } }
}

/// Puts findings into words; the report (when there is one) gives names, waits and stacks.
public struct FindingWords {
    public let report: Report?

    public init(report: Report?) {
        self.report = report
    }

    /// Each rule's facts put themselves into words (Rules/<Rule>/<Rule>Words.swift), with the
    /// helpers below.
    public func text(for finding: Finding) -> FindingText {
        finding.facts.text(of: finding, words: self)
    }

    // MARK: people

    func name(_ pid: Int32) -> String { report?.process(pid)?.name ?? "?" }

    /// `fork-child 17318` or `python3 8158 thread 8160 'holder'`.
    func who(_ key: ThreadKey) -> String {
        let process = report?.process(key.pid)
        let name = process?.name ?? "?"
        if key.tid == key.pid || process?.threads.count == 1 { return "\(name) \(key.pid)" }
        return "\(name) \(key.pid) thread \(key.tid) '\(process?.thread(key.tid)?.displayName ?? "?")'"
    }

    /// `fork-child 17318`, or `16 processes (8159-8174)`.
    func group(_ processes: [ProcessRef]) -> String {
        processes.count == 1 ? "\(processes[0].name) \(processes[0].pid)" : "\(processes.count) processes (\(compactList(processes.map(\.pid))))"
    }

    /// What a thread is doing now, with its innermost frames.
    func now(_ key: ThreadKey) -> String? {
        guard let thread = report?.thread(key) else { return nil }
        return thread.waitLine + (thread.shortStackLine.map { "; at " + $0 } ?? "")
    }

    /// Why a thread keeps a quiet tree from being stuck, short: `2222 sleep, clock_nanosleep 4.0s left`.
    func idle(_ key: ThreadKey, _ why: WaitGraph.LiveReason) -> String {
        let process = "\(key.pid) \(name(key.pid))"
        let line = report?.thread(key)?.waitLine ?? "?"
        switch why {
        case .timed, .endsByItself: return "\(process), \(line)"
        case .external(let fd):
            if let socket = fd.socket, let proto = socket.proto, proto.hasPrefix("tcp") || proto.hasPrefix("udp") {
                return "waiting on \(proto.uppercased().prefix(3)) \(socket.remote ?? socket.local ?? "?") (\(process))"
            }
            if fd.kind == .tty { return "waiting on the terminal \(fd.target ?? "") (\(process))" }
            return "waiting on \(fd.target ?? "fd \(fd.fd)") (\(process))"
        case .outsideTree(let pid, _): return "waiting on \(pid), outside the tree (\(process))"
        case .stopped: return "\(process) is stopped"
        case .signalHandler: return "\(process) waits for a signal"
        case .notSteady: return "\(process) is moving"
        default: return "\(process): \(why.words)"
        }
    }

    // MARK: remedies

    static let pythonRemedy = "Python: start worker processes with the 'spawn' or 'forkserver' method "
        + "(multiprocessing.get_context('spawn'); ProcessPoolExecutor(mp_context=multiprocessing.get_context('spawn'))), "
        + "or run programs with subprocess; do not fork a process that has started threads."
    static let nativeRemedy = "C/C++: call exec immediately after fork (only async-signal-safe calls in between), use "
        + "posix_spawn, or fork before starting threads; if a forked child must keep running, take and release "
        + "every lock it needs in pthread_atfork handlers."
    static let openMPRemedy = "OpenMP: libgomp's thread pool does not survive fork; fork (or start worker processes) "
        + "before the first parallel region, or exec right after fork."

    static let forkServerRemedy = "Python: the fork server forks every worker, so it must have no thread of its own: "
        + "do not preload modules that start threads into it (multiprocessing.set_forkserver_preload), or start "
        + "worker processes with the 'spawn' method (multiprocessing.get_context('spawn'))."

    func runtimes(_ pid: Int32) -> [Runtime] { report?.process(pid)?.runtimes ?? [] }

    func forkRemedy(parent: Int32) -> (full: String, short: String) {
        let runtimes = runtimes(parent)
        let python = runtimes.contains(.python)
        let forkServer = report?.process(parent).flatMap(ForkProvenance.multiprocessingRole(of:)) == .forkserver
        var full = [forkServer ? Self.forkServerRemedy : python ? Self.pythonRemedy : Self.nativeRemedy]
        var short = forkServer ? "preload no module that starts threads into the fork server, or use 'spawn'"
            : python ? "start worker processes with 'spawn' or 'forkserver' instead of fork, or fork before any thread starts"
            : "exec right after fork or use posix_spawn, or fork before starting threads"
        if runtimes.contains(.libgomp) {
            full.append(Self.openMPRemedy)
            short += "; with OpenMP, fork before the first parallel region"
        }
        return (full.joined(separator: " "), short.prefix(1).uppercased() + short.dropFirst() + ".")
    }
}

// MARK: asyncio

/// How many tasks of a loop the text report lists before it counts the rest.
let tasksShown = 8

extension TaskInfo {
    /// `'publish'`, or `at 0x7f…` for a task without a name.
    var label: String { name.map { "'\($0)'" } ?? "at \(hexAddress(address))" }

    /// `'publish' awaits task 'ingest'`, `'main' awaits a Future`, `'worker' ready to run`.
    func words(in asyncio: AsyncioInfo) -> String {
        guard let awaited = awaiting else { return label + (state == .pending ? " ready to run" : "") }
        if awaited.isTask {
            return "\(label) awaits task " + (asyncio.task(awaited.address)?.label ?? "at \(hexAddress(awaited.address))")
        }
        let type = awaited.typeName.split(separator: ".").last.map(String.init) ?? awaited.typeName
        // A future that asyncio's own code waits on (a Lock's, an Event's, a Queue's, a sleep's):
        // named by the function that waits.
        if let inner = coroutines.last, inner.isLibrary, coroutines.count > 1 {
            return "\(label) awaits \(article(type)) \(type) in \(inner.function)"
        }
        return "\(label) awaits \(article(type)) \(type) \(hexAddress(awaited.address))"
    }
}

extension LoopInfo {
    /// What the loop itself holds that could run: `1 ready callback`, `2 timers, the next in 3599s`,
    /// `watching fd 4 (its wakeup socket), fd 7`, `handles SIGTERM`; nothing where it was not read.
    var stateWords: [String] {
        var words: [String] = []
        if let ready { words.append(ready == 0 ? "no ready callback" : plural(ready, "ready callback", "ready callbacks")) }
        if let timers {
            words.append(timers == 0 ? "no timer"
                         : plural(timers, "timer", "timers") + (nextTimerSeconds.map { ", the next in \(formatDuration(max(0, $0)))" } ?? ""))
        }
        if let watchedFds, !watchedFds.isEmpty {
            words.append("watching " + watchedFds.map { "fd \($0)" + ($0 == wakeupFd ? " (its wakeup socket)" : "") }.joined(separator: ", "))
        }
        if let signalHandlers, !signalHandlers.isEmpty {
            words.append("handles " + signalHandlers.map(signalName).joined(separator: ", "))
        }
        return words
    }
}

/// `SIGTERM` for 15.
func signalName(_ number: Int32) -> String {
    let names: [Int32: String] = [1: "SIGHUP", 2: "SIGINT", 3: "SIGQUIT", 10: "SIGUSR1", 12: "SIGUSR2", 13: "SIGPIPE", 14: "SIGALRM",
                                  15: "SIGTERM", 17: "SIGCHLD", 28: "SIGWINCH"]
    return names[number] ?? "signal \(number)"
}
