#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// An asyncio event loop's own sources of progress, read from outside: what it would run next
/// (ready callbacks), when it would wake by itself (timers), what it waits for (the fds its
/// selector watches, its wakeup socket, its signal handlers), and whether it is closed or stopping.
/// nil, for any field, means not read (unreadable, or not what it should be): nothing is guessed.
public struct AsyncioLoopState: Sendable, Hashable {
    /// The loop object's address and its type's name (`_UnixSelectorEventLoop`).
    public var address: UInt64
    public var typeName: String
    /// `loop._closed`, `loop._stopping`.
    public var closed: Bool?
    public var stopping: Bool?

    /// `len(loop._ready)`: the callbacks the loop runs at its next turn, cancelled ones included.
    public var readyCount: Int?
    /// How many of them are cancelled (`_cancelled`: skipped when their turn comes); nil unless
    /// every one was read.
    public var readyCancelledCount: Int?
    /// The first few of them, in the order they run.
    public var ready: [AsyncioHandle]

    /// `loop._scheduled` (a heap of TimerHandles), without the cancelled ones (which stay in the
    /// heap until the loop drops them); nil unless every one was read.
    public var timerCount: Int?
    public var cancelledTimerCount: Int?
    /// The earliest `_when` of a timer that is not cancelled, in `loop.time()` seconds, and its
    /// callback. An asyncio loop's `time()` is `time.monotonic()`: CLOCK_MONOTONIC seconds (see
    /// `monotonicAtRead`).
    public var nextTimerWhen: Double?
    public var nextTimer: AsyncioHandle?
    /// The reader's own CLOCK_MONOTONIC, in seconds, taken when the timers had been read: with
    /// `nextTimerWhen`, how long the loop would sleep. The same clock as the target's unless the
    /// target is in a time namespace of its own with a monotonic offset (`/proc/PID/timens_offsets`).
    public var monotonicAtRead: Double

    /// `type(loop._selector).__name__`: `EpollSelector`, `PollSelector`, `SelectSelector` …
    public var selectorTypeName: String?
    /// The fds the selector watches (`loop._selector._fd_to_key`), by fd; nil when not read.
    public var watched: [AsyncioWatchedFD]?
    /// The loop's own wakeup socket (`loop._ssock`'s fd): the self-pipe `call_soon_threadsafe`
    /// and signals write to. Watched like the others, with the reader `_read_from_self`.
    public var wakeupFD: Int32?
    /// `loop._signal_handlers` (set by `add_signal_handler`), by signal number; nil when the loop
    /// has none of its own (not a Unix selector loop) or it was not read.
    public var signalHandlers: [AsyncioSignalHandler]?

    /// Whether `loop._default_executor` is set (it is made by the first `run_in_executor(None, …)`).
    public var hasDefaultExecutor: Bool?
    /// `len(loop._default_executor._threads)` when it is a ThreadPoolExecutor.
    public var executorThreadCount: Int?

    /// Seconds from `monotonicAtRead` to the next timer (negative when it is due).
    public var secondsToNextTimer: Double? { nextTimerWhen.map { $0 - monotonicAtRead } }
}

/// One `asyncio.Handle` (or `TimerHandle`) and its callback.
public struct AsyncioHandle: Sendable, Hashable {
    public var address: UInt64
    /// `_cancelled`.
    public var cancelled: Bool?
    public var callback: AsyncioCallback?
}

/// What a handle calls.
public struct AsyncioCallback: Sendable, Hashable {
    public var address: UInt64
    /// The callable's type: `function`, `method`, `builtin_function_or_method`, `functools.partial` …
    public var typeName: String
    /// Its `__qualname__` (`BaseSelectorEventLoop._read_from_self`) for a function, a bound method or
    /// a built-in (`Type.name` when bound to an object); for a `functools.partial`, the wrapped
    /// function's. nil for other callables.
    public var qualifiedName: String?
}

/// An fd in the loop's selector, with what it waits for.
public struct AsyncioWatchedFD: Sendable, Hashable {
    public var fd: Int32
    /// `SelectorKey.events`: 1 (EVENT_READ), 2 (EVENT_WRITE) or both.
    public var events: Int?
    /// The handles in `SelectorKey.data` (reader, writer); nil where there is none.
    public var reader: AsyncioHandle?
    public var writer: AsyncioHandle?
    public var isReadable: Bool { events.map { $0 & 1 != 0 } ?? false }
    public var isWritable: Bool { events.map { $0 & 2 != 0 } ?? false }
}

/// A handler installed with `loop.add_signal_handler`.
public struct AsyncioSignalHandler: Sendable, Hashable {
    public var signal: Int32
    public var handle: AsyncioHandle?
}

extension PythonRuntime {
    /// Limits of a loop's read: its containers are the target's, of any size.
    enum LoopLimits {
        static let attributes = 256
        static let readyRead = 4096
        static let readyShown = 8
        static let timersRead = 4096
        static let watchedRead = 4096
        static let signalsRead = 128
    }

    /// The event loop at `address` (a `BaseEventLoop`: its thread from `runningAsyncioLoops()`, or
    /// a task's `_loop`). Fails when the object is not one (no `_ready` and `_scheduled`) or cannot
    /// be read; what it holds that cannot be read is nil in the state.
    public func asyncioLoop(at address: UInt64) -> Result<AsyncioLoopState, PythonReadError> {
        let reader = budgeted()
        return reader.readLoop(address).mapError(reader.failure)
    }

    /// For each thread running an event loop, by ident, the loop: the `self` of the innermost
    /// `run_forever` or `_run_once` frame of `asyncio/base_events.py` on its Python stack. Works on
    /// every version (3.14+ also publish the running loop in the thread state). A thread whose
    /// stack cannot be read is left out.
    public func runningAsyncioLoops() -> Result<[UInt64: UInt64], PythonReadError> {
        let reader = budgeted()
        return reader.findRunningLoops().mapError(reader.failure)
    }

    func findRunningLoops() -> Result<[UInt64: UInt64], PythonReadError> {
        guard let localsField = layout.frameLocalsPlus else {
            return .failure(.unsupportedVersion(version, "no frame locals offset"))
        }
        let threads: [PythonThread]
        switch readThreads() {
        case .success(let found): threads = found
        case .failure(let error): return .failure(error)
        }
        var loops: [UInt64: UInt64] = [:]
        for thread in threads {
            var loop: UInt64?
            _ = walkFrames(threadState: thread.threadState) { walked in
                let frame = walked.frame
                guard frame.name == "_run_once" || frame.name == "run_forever",
                      frame.file.hasSuffix("/asyncio/base_events.py") else { return true }
                guard let me = frameLocals(walked, localsField: localsField).first(where: { $0.name == "self" })?.value else {
                    return true
                }
                loop = me
                return false
            }
            if let loop { loops[thread.ident] = loop }
        }
        return .success(loops)
    }

    func readLoop(_ address: UInt64) -> Result<AsyncioLoopState, PythonReadError> {
        let objects = self.objects
        guard let type = objects.typeInfo(of: address) else { return .failure(.unreadable("the type of 0x\(hex(address))")) }
        guard let attributes = objects.namedAttributes(address, limit: LoopLimits.attributes) else {
            if type.dictOffset == 0 && !objects.hasFlag(type, layout.flagManagedDict) {
                return .failure(.inconsistent("\(type.name) 0x\(hex(address)) is not an asyncio event loop: it has no instance attributes"))
            }
            return .failure(.unreadable("the attributes of \(type.name) 0x\(hex(address))"))
        }
        guard let readyObject = attributes["_ready"], let scheduledObject = attributes["_scheduled"] else {
            return .failure(.inconsistent("\(type.name) 0x\(hex(address)) is not an asyncio event loop: it has no _ready and _scheduled"))
        }
        let loop = LoopReader(runtime: self)
        var state = AsyncioLoopState(address: address, typeName: type.name, ready: [], monotonicAtRead: 0)
        state.closed = attributes["_closed"].flatMap(objects.boolean)
        state.stopping = attributes["_stopping"].flatMap(objects.boolean)

        if let ready = objects.dequeItems(readyObject, limit: LoopLimits.readyRead) {
            state.readyCount = ready.count
            let handles = ready.items.map { loop.handle($0) }
            state.ready = handles.prefix(LoopLimits.readyShown).compactMap { $0 }
            if ready.items.count == ready.count, handles.allSatisfy({ $0?.cancelled != nil }) {
                state.readyCancelledCount = handles.filter { $0?.cancelled == true }.count
            }
        }

        loop.readTimers(scheduledObject, into: &state)
        state.monotonicAtRead = PythonRuntime.monotonicNow()

        if let selector = attributes["_selector"], !objects.isNone(selector) {
            state.selectorTypeName = objects.typeInfo(of: selector)?.name
            state.watched = loop.watchedFDs(selector)
        }
        if let ssock = attributes["_ssock"] { state.wakeupFD = loop.socketFD(ssock, family: 1) }
        if let handlers = attributes["_signal_handlers"] { state.signalHandlers = loop.signalHandlers(handlers) }
        if let executor = attributes["_default_executor"] {
            state.hasDefaultExecutor = !objects.isNone(executor)
            if state.hasDefaultExecutor == true, let threads = objects.namedAttributes(executor, limit: 64)?["_threads"] {
                state.executorThreadCount = objects.setCount(threads)
            }
        }
        return .success(state)
    }

    /// CLOCK_MONOTONIC now, in seconds.
    static func monotonicNow() -> Double {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
    }

    /// The reads of one loop: handles, callbacks, the selector's keys, sockets.
    final class LoopReader {
        let runtime: PythonRuntime
        let objects: ObjectReader
        let offsets = SlotOffsets()

        init(runtime: PythonRuntime) {
            self.runtime = runtime
            self.objects = runtime.objects
        }

        /// `PyFunctionObject.func_qualname`: after `func_annotations` until 3.9, among the common
        /// fields (after `func_globals`, `func_builtins`, `func_name`) from 3.10; measured with
        /// `offsetof` against the headers of 3.8.18 to 3.13.0, Debian's 3.11.2 and sid's 3.14, 3.15.
        var functionQualnameField: UInt64 { runtime.version.minor <= 9 ? 104 : 40 }
        /// `PyMethodObject.im_func`, `PyCFunctionObject.m_ml`, `.m_self` (`PyMethodDef.ml_name` is
        /// its first field), `partialobject.fn`: right after the object header in every version.
        static let methodFunctionField: UInt64 = 16
        static let builtinMethodDefField: UInt64 = 16
        static let builtinSelfField: UInt64 = 24
        static let partialFunctionField: UInt64 = 16
        /// `PySocketSockObject.sock_fd` (an int), right after the object header, then `sock_family`.
        static let socketFDField: UInt64 = 16
        static let socketFamilyField: UInt64 = 20

        /// A Handle or TimerHandle: an object with a `_callback` slot.
        func handle(_ object: UInt64) -> AsyncioHandle? {
            guard let type = objects.typeAddress(of: object),
                  offsets.offset(type: type, "_callback", lookUp: { objects.slotOffset(type: type, "_callback") }) != nil else { return nil }
            let cancelled = objects.slot(object, "_cancelled", offsets: offsets).flatMap(objects.boolean)
            let callback = objects.slot(object, "_callback", offsets: offsets).flatMap { self.callback($0) }
            return AsyncioHandle(address: object, cancelled: cancelled, callback: callback)
        }

        func callback(_ object: UInt64, depth: Int = 0) -> AsyncioCallback? {
            guard let type = objects.typeInfo(of: object) else { return nil }
            var name: String?
            switch type.name {
            case "function":
                name = objects.memory.u64(object &+ functionQualnameField).flatMap { objects.string($0) }
            case "method":
                if depth == 0, let function = objects.memory.u64(object &+ LoopReader.methodFunctionField) {
                    name = callback(function, depth: 1)?.qualifiedName
                }
            case "builtin_function_or_method":
                if let definition = objects.memory.u64(object &+ LoopReader.builtinMethodDefField), definition != 0,
                   let namePointer = objects.memory.u64(definition), let method = objects.memory.cString(namePointer, limit: 128) {
                    name = method
                    // Bound to an object (not a module): its type's name first, as __qualname__ has it.
                    if let me = objects.memory.u64(object &+ LoopReader.builtinSelfField), me != 0,
                       let selfType = objects.typeInfo(of: me), selfType.name != "module" {
                        let bare = selfType.name.split(separator: ".").last.map(String.init) ?? selfType.name
                        name = bare + "." + method
                    }
                }
            case "functools.partial":
                if depth == 0, let function = objects.memory.u64(object &+ LoopReader.partialFunctionField) {
                    name = callback(function, depth: 1)?.qualifiedName
                }
            default:
                break
            }
            return AsyncioCallback(address: object, typeName: type.name, qualifiedName: name.map { String($0.prefix(256)) })
        }

        func readTimers(_ scheduled: UInt64, into state: inout AsyncioLoopState) {
            guard objects.typeInfo(of: scheduled)?.name == "list", let total = objects.sequenceCount(scheduled),
                  let items = objects.sequenceItems(scheduled, list: true, limit: LoopLimits.timersRead) else { return }
            var live = 0, cancelled = 0
            var allRead = items.count == total
            var earliest: (when: Double, handle: AsyncioHandle)?
            for (index, item) in items.enumerated() {
                guard let handle = handle(item), let isCancelled = handle.cancelled else { allRead = false; continue }
                if isCancelled {
                    cancelled += 1
                    continue
                }
                live += 1
                guard let when = objects.slot(item, "_when", offsets: offsets).flatMap(objects.float), when.isFinite else {
                    allRead = false
                    continue
                }
                if earliest.map({ when < $0.when }) ?? true { earliest = (when, handle) }
                // Not all read: only the heap's top is surely the earliest.
                if !allRead && index == 0 { break }
            }
            if allRead {
                state.timerCount = live
                state.cancelledTimerCount = cancelled
            }
            if allRead || earliest?.handle.address == items.first {
                state.nextTimerWhen = earliest?.when
                state.nextTimer = earliest?.handle
            }
        }

        /// `selector._fd_to_key`: fd → SelectorKey(fileobj, fd, events, data), data (reader, writer).
        func watchedFDs(_ selector: UInt64) -> [AsyncioWatchedFD]? {
            guard let map = objects.namedAttributes(selector, limit: 64)?["_fd_to_key"],
                  let type = objects.typeInfo(of: map), objects.hasFlag(type, runtime.layout.flagDictSubclass),
                  let entries = objects.dictEntries(map, limit: LoopLimits.watchedRead) else { return nil }
            var watched: [AsyncioWatchedFD] = []
            for entry in entries {
                guard let fd = objects.integer(entry.key), !fd.negative, fd.magnitude <= UInt64(Int32.max) else { return nil }
                var found = AsyncioWatchedFD(fd: Int32(fd.magnitude))
                if let keyType = objects.typeInfo(of: entry.value), objects.hasFlag(keyType, runtime.layout.flagTupleSubclass),
                   let fields = objects.sequenceItems(entry.value, list: false, limit: 4), fields.count == 4 {
                    found.events = objects.integer(fields[2]).flatMap { $0.negative ? nil : Int(exactly: $0.magnitude) }
                    if let dataType = objects.typeInfo(of: fields[3]), objects.hasFlag(dataType, runtime.layout.flagTupleSubclass),
                       let pair = objects.sequenceItems(fields[3], list: false, limit: 2), pair.count == 2 {
                        found.reader = objects.isNone(pair[0]) ? nil : handle(pair[0])
                        found.writer = objects.isNone(pair[1]) ? nil : handle(pair[1])
                    }
                }
                watched.append(found)
            }
            return watched.sorted { $0.fd < $1.fd }
        }

        /// The fd of a `socket.socket` (whose C base is `_socket.socket`), when open and of `family`.
        func socketFD(_ object: UInt64, family: Int32) -> Int32? {
            guard inherits(object, from: "_socket.socket"),
                  let fields = objects.memory.read(object &+ LoopReader.socketFDField, 8) else { return nil }
            let fd = Int32(bitPattern: Bytes.u32(fields, 0))
            let socketFamily = Int32(bitPattern: Bytes.u32(fields, 4))
            return fd >= 0 && socketFamily == family ? fd : nil
        }

        /// Whether the object's type, or one of its bases, is named `name`.
        func inherits(_ object: UInt64, from name: String) -> Bool {
            guard runtime.layout.typeDictOffset == ObjectReader.measuredTypeDictOffset,
                  var type = objects.typeAddress(of: object) else { return false }
            var seen = Set<UInt64>()
            while type != 0, seen.count < ObjectReader.mostBases, seen.insert(type).inserted {
                guard let info = objects.typeInfo(type: type) else { return false }
                if info.name == name { return true }
                guard let base = objects.memory.u64(type &+ ObjectReader.typeBaseField) else { return false }
                type = base
            }
            return false
        }

        func signalHandlers(_ dict: UInt64) -> [AsyncioSignalHandler]? {
            guard let type = objects.typeInfo(of: dict), objects.hasFlag(type, runtime.layout.flagDictSubclass),
                  let entries = objects.dictEntries(dict, limit: LoopLimits.signalsRead) else { return nil }
            var handlers: [AsyncioSignalHandler] = []
            for entry in entries {
                guard let number = objects.integer(entry.key), !number.negative, number.magnitude < 1024 else { return nil }
                handlers.append(AsyncioSignalHandler(signal: Int32(number.magnitude), handle: handle(entry.value)))
            }
            return handlers.sorted { $0.signal < $1.signal }
        }
    }
}
