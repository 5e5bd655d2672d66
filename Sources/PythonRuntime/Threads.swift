/// One Python thread state.
public struct PythonThread: Sendable, Hashable {
    /// Address of the `PyThreadState`: what `stack(threadState:)` takes.
    public var threadState: UInt64
    /// Address of its `PyInterpreterState`.
    public var interpreter: UInt64
    /// `threading.get_ident()`: the thread's `pthread_t`.
    public var ident: UInt64
    /// The kernel thread ID: `native_thread_id` (3.11+), before that the TID glibc keeps in the
    /// `struct pthread` the ident points to. nil when neither could be read.
    public var tid: Int32?
    /// Whether the GIL is taken and this thread state took it last.
    public var holdsGIL: Bool
}

/// One Python frame.
public struct PythonFrame: Sendable, Hashable {
    /// The qualified name (`Console.render_lines`) where the code object has one (3.11+), else `name`.
    public var function: String
    /// `co_name`, the bare function name (what py-spy shows).
    public var name: String
    /// `co_filename`.
    public var file: String
    /// The line being executed; nil where the line table has none for the instruction.
    public var line: Int?
    /// The frame (`PyFrameObject` before 3.11, `_PyInterpreterFrame` after) and its code object.
    public var frameAddress: UInt64
    public var codeAddress: UInt64
}

/// A thread with its name and stack, as `snapshot()` reads them.
public struct PythonThreadSnapshot: Sendable {
    public var thread: PythonThread
    /// `threading._active[ident]._name`, nil for a thread `threading` does not know.
    public var name: String?
    /// Innermost frame first.
    public var stack: Result<[PythonFrame], PythonReadError>
}

extension PythonRuntime {
    static let mostThreads = 4096
    static let mostFrames = 1024

    /// Every thread state of every interpreter, with its TID, ident and GIL ownership. Reads only
    /// the thread states (no frames), so it is cheap to call before deciding whom to stop.
    public func threads() -> Result<[PythonThread], PythonReadError> {
        let reader = budgeted()
        return reader.readThreads().mapError(reader.failure)
    }

    func readThreads() -> Result<[PythonThread], PythonReadError> {
        let interpreters: [UInt64]
        switch self.interpreters() {
        case .success(let found): interpreters = found
        case .failure(let error): return .failure(error)
        }
        guard let headField = layout.interpThreadsHead, let nextField = layout.tstateNext,
              let identField = layout.tstateThreadId else {
            return .failure(.unsupportedVersion(version, "no thread list offsets"))
        }
        var threads: [PythonThread] = []
        var seen = Set<UInt64>()
        let extent = max(nextField, identField, layout.tstateNativeThreadId ?? 0) + 8
        for interp in interpreters {
            let gil = gilState(interpreter: interp)
            guard var tstate = memory.u64(interp &+ UInt64(headField)) else {
                return .failure(.unreadable("the thread list of interpreter 0x\(hex(interp))"))
            }
            while tstate != 0, threads.count < PythonRuntime.mostThreads, seen.insert(tstate).inserted {
                guard let bytes = memory.read(tstate, extent) else { return .failure(.unreadable("thread state 0x\(hex(tstate))")) }
                let ident = Bytes.u64(bytes, identField)
                var tid: Int32?
                if let nativeField = layout.tstateNativeThreadId {
                    tid = Int32(truncatingIfNeeded: Bytes.u64(bytes, nativeField))
                } else if let offset = pthreadTIDOffset, ident != 0, let raw = memory.u32(ident &+ offset) {
                    tid = Int32(bitPattern: raw)
                }
                if let value = tid, value <= 0 { tid = nil }
                threads.append(PythonThread(threadState: tstate, interpreter: interp, ident: ident, tid: tid,
                                            holdsGIL: gil.map { $0.locked && $0.holder == tstate } ?? false))
                tstate = Bytes.u64(bytes, nextField)
            }
        }
        return .success(threads)
    }

    /// The GIL of an interpreter: in `_PyRuntime` until 3.11, behind the interpreter's
    /// `ceval.gil` pointer from 3.12.
    func gilState(interpreter: UInt64) -> (locked: Bool, holder: UInt64)? {
        guard let lockedField = layout.gilLocked, let holderField = layout.gilLastHolder else { return nil }
        let gil: UInt64
        if let runtimeField = layout.runtimeGil {
            gil = runtimeAddress &+ UInt64(runtimeField)
        } else if let pointerField = layout.interpGilPointer, let pointer = memory.u64(interpreter &+ UInt64(pointerField)), pointer != 0 {
            gil = pointer
        } else {
            return nil
        }
        guard let locked = memory.u32(gil &+ UInt64(lockedField)), let holder = memory.u64(gil &+ UInt64(holderField)) else { return nil }
        return (locked != 0, holder)
    }

    /// The Python stack of one thread state, innermost frame first, without the frames the C stack
    /// or the interpreter owns (3.12+ shims, 3.14+ entry frames). A thread blocked in a system call has released the GIL and its frames do
    /// not change; a running thread's should be read while it is stopped.
    public func stack(threadState: UInt64) -> Result<[PythonFrame], PythonReadError> {
        let reader = budgeted()
        return reader.readStack(threadState: threadState).mapError(reader.failure)
    }

    func readStack(threadState: UInt64) -> Result<[PythonFrame], PythonReadError> {
        var frames: [PythonFrame] = []
        let result = walkFrames(threadState: threadState) { frame in
            frames.append(frame.frame)
            return true
        }
        return result.map { frames }
    }

    /// Threads with names and stacks: the whole Python state of the process. Stacks of running
    /// threads may be torn (read while they change); use `threads()` and `stack(threadState:)` to
    /// read those inside a stop.
    public func snapshot() -> Result<[PythonThreadSnapshot], PythonReadError> {
        threads().map { threads in
            let names = (try? threadNames().get()) ?? [:]
            // One budget for all the stacks, not one each: thousands of threads read from garbage
            // must not multiply it.
            var reader = self
            reader.memory = BudgetedMemory(memory, reads: 10 * PythonRuntime.readBudget, bytes: 4 * PythonRuntime.byteBudget)
            reader.cache = ReadCache()
            return threads.map {
                PythonThreadSnapshot(thread: $0, name: names[$0.ident],
                                     stack: reader.readStack(threadState: $0.threadState).mapError(reader.failure))
            }
        }
    }

    /// A frame as the walker sees it: what the lock finder needs besides the public frame.
    struct WalkedFrame {
        var frame: PythonFrame
        var code: CodeInfo
    }

    /// Calls `body` for each frame, innermost first, until it returns false.
    func walkFrames(threadState: UInt64, _ body: (WalkedFrame) -> Bool) -> Result<Void, PythonReadError> {
        guard let backField = layout.frameBack, let codeField = layout.frameCode else {
            return .failure(.unsupportedVersion(version, "no frame offsets"))
        }
        var frame: UInt64
        if let cframeField = layout.tstateCFrame, let currentField = layout.cframeCurrentFrame {
            guard let cframe = memory.u64(threadState &+ UInt64(cframeField)) else {
                return .failure(.unreadable("thread state 0x\(hex(threadState))"))
            }
            guard cframe != 0 else { return .success(()) }
            guard let current = memory.u64(cframe &+ UInt64(currentField)) else { return .failure(.unreadable("_PyCFrame 0x\(hex(cframe))")) }
            frame = current
        } else if let frameField = layout.tstateFrame {
            guard let current = memory.u64(threadState &+ UInt64(frameField)) else {
                return .failure(.unreadable("thread state 0x\(hex(threadState))"))
            }
            frame = current
        } else {
            return .failure(.unsupportedVersion(version, "no current frame offset"))
        }
        let extent = [backField, codeField, layout.frameLasti ?? 0, layout.frameInstruction ?? 0, layout.frameOwner ?? 0]
            .max()! + 8
        var seen = Set<UInt64>()
        var count = 0
        var codeCache: [UInt64: CodeInfo] = cache?.codes ?? [:]
        defer { if let cache, codeCache.count <= ReadCache.most { cache.codes = codeCache } }
        while frame != 0 {
            guard seen.insert(frame).inserted, count < PythonRuntime.mostFrames else {
                return .failure(.inconsistent("the frame chain loops or is longer than \(PythonRuntime.mostFrames)"))
            }
            count += 1
            guard let bytes = memory.read(frame, extent) else { return .failure(.unreadable("frame 0x\(hex(frame))")) }
            let back = Bytes.u64(bytes, backField)
            // 3.14+: the executable is a `_PyStackRef`, an object pointer with tag bits.
            let codeAddress = layout.objectPointer(Bytes.u64(bytes, codeField)) ?? 0
            if let ownerField = layout.frameOwner, layout.isShim(owner: Int(bytes[ownerField])) {
                frame = back
                continue
            }
            let code: CodeInfo
            if let cached = codeCache[codeAddress] {
                code = cached
            } else {
                switch codeInfo(codeAddress) {
                case .success(let info?): code = info
                case .success(nil):
                    // 3.13: an executable that is not a code object; no Python line to show.
                    frame = back
                    continue
                case .failure(let error): return .failure(error)
                }
                codeCache[codeAddress] = code
            }
            let line = frameLine(bytes, codeAddress: codeAddress, code: code)
            let walked = WalkedFrame(frame: PythonFrame(function: code.qualifiedName ?? code.name, name: code.name,
                                                        file: code.file, line: line, frameAddress: frame,
                                                        codeAddress: codeAddress), code: code)
            guard body(walked) else { return .success(()) }
            frame = back
        }
        return .success(())
    }

    /// The line a frame is at, from its bytes (read from the frame's start, at least up to its
    /// `f_lasti` or instruction pointer) and its code object.
    func frameLine(_ bytes: [UInt8], codeAddress: UInt64, code: CodeInfo) -> Int? {
        // The byte offset of the current instruction, as each version's PyFrame_GetLineNumber takes it.
        let offset: Int
        if let lastiField = layout.frameLasti, lastiField + 4 <= bytes.count {
            let lasti = Int(Int32(bitPattern: Bytes.u32(bytes, lastiField)))
            offset = version.minor >= 10 && lasti >= 0 ? lasti * 2 : lasti
        } else if let instructionField = layout.frameInstruction, instructionField + 8 <= bytes.count,
                  let adaptive = layout.codeCodeAdaptive {
            let instruction = Bytes.u64(bytes, instructionField)
            offset = Int(Int64(bitPattern: instruction &- (codeAddress &+ UInt64(adaptive))))
        } else {
            offset = -1
        }
        switch version.minor {
        case ...9: return LineTable.lnotab(code.lineTable, firstLine: code.firstLine, offset: offset)
        case 10: return LineTable.linetable310(code.lineTable, firstLine: code.firstLine, offset: offset)
        default: return LineTable.locationTable(code.lineTable, firstLine: code.firstLine, offset: offset)
        }
    }

    /// What a code object says about itself.
    struct CodeInfo {
        var address: UInt64
        var name: String
        var qualifiedName: String?
        var file: String
        var firstLine: Int
        var lineTable: [UInt8]
    }

    static let longestLineTable = 1 << 18

    /// The code object's names and line table; nil (not an error) when `address` is not a code
    /// object on a version where a frame may hold something else (3.13's `f_executable`).
    func codeInfo(_ address: UInt64) -> Result<CodeInfo?, PythonReadError> {
        let objects = self.objects
        guard let filenameField = layout.codeFilename, let nameField = layout.codeName,
              let firstField = layout.codeFirstLineNumber, let tableField = layout.codeLineTable else {
            return .failure(.unsupportedVersion(version, "no code object offsets"))
        }
        if version.minor >= 13 {
            guard let type = objects.typeInfo(of: address) else { return .failure(.unreadable("the type of 0x\(hex(address))")) }
            guard type.name == "code" else { return .success(nil) }
        }
        let extent = max(filenameField, nameField, firstField, tableField, layout.codeQualname ?? 0) + 8
        guard let bytes = memory.read(address, extent) else { return .failure(.unreadable("code object 0x\(hex(address))")) }
        guard let name = objects.string(Bytes.u64(bytes, nameField)),
              let file = objects.string(Bytes.u64(bytes, filenameField)) else {
            return .failure(.inconsistent("code object 0x\(hex(address)) has no str name or file name"))
        }
        let qualifiedName = layout.codeQualname.flatMap { objects.string(Bytes.u64(bytes, $0)) }
        let firstLine = Int(Int32(bitPattern: Bytes.u32(bytes, firstField)))
        let table = Bytes.u64(bytes, tableField)
        guard let sizeField = layout.varObjectSize, let dataField = layout.bytesData,
              let rawSize = memory.u64(table &+ UInt64(sizeField)) else {
            return .failure(.unreadable("the line table of \(name)"))
        }
        let size = Int64(bitPattern: rawSize)
        guard size >= 0, size <= PythonRuntime.longestLineTable else {
            return .failure(.inconsistent("the line table of \(name) has \(size) bytes"))
        }
        let lineTable = size == 0 ? [] : memory.read(table &+ UInt64(dataField), Int(size))
        guard let lineTable else { return .failure(.unreadable("the line table of \(name)")) }
        return .success(CodeInfo(address: address, name: name, qualifiedName: qualifiedName, file: file,
                                 firstLine: firstLine, lineTable: lineTable))
    }

    /// ident → `threading._active[ident]._name` for every interpreter that imported `threading`.
    public func threadNames() -> Result<[UInt64: String], PythonReadError> {
        let reader = budgeted()
        return reader.readThreadNames().mapError(reader.failure)
    }

    func readThreadNames() -> Result<[UInt64: String], PythonReadError> {
        let objects = self.objects
        guard let modulesField = layout.interpModules, let moduleDictField = layout.moduleDict else {
            return .failure(.unsupportedVersion(version, "no module offsets"))
        }
        let interpreters: [UInt64]
        switch self.interpreters() {
        case .success(let found): interpreters = found
        case .failure(let error): return .failure(error)
        }
        var names: [UInt64: String] = [:]
        for interp in interpreters {
            guard let modules = memory.u64(interp &+ UInt64(modulesField)), modules != 0,
                  let threading = objects.dictLookup(modules, "threading"),
                  let moduleDict = memory.u64(threading &+ UInt64(moduleDictField)), moduleDict != 0,
                  let active = objects.dictLookup(moduleDict, "_active", limit: 4096),
                  let entries = objects.dictEntries(active, limit: PythonRuntime.mostThreads) else { continue }
            for (key, thread) in entries {
                guard let ident = objects.unsignedInteger(key), let nameObject = objects.attribute(thread, "_name"),
                      let name = objects.string(nameObject) else { continue }
                names[ident] = String(name.prefix(256))
            }
        }
        return .success(names)
    }
}

extension GeneratedLayout {
    /// Whether a frame of this owner is no frame of the program's: the C stack's shims (3.12,
    /// 3.13), and from 3.14 every owner from `FRAME_OWNED_BY_INTERPRETER` on (the interpreter's
    /// entry frames; the C stack's, 3.14).
    func isShim(owner: Int) -> Bool {
        if let interpreter = frameOwnedByInterpreter { return owner >= interpreter }
        return frameOwnedByCStack == owner
    }

    /// The object a frame slot holds: a plain pointer before 3.14, a `_PyStackRef` from then on,
    /// whose tag bits are cleared; nil for NULL and for an int stored in the reference itself.
    func objectPointer(_ slot: UInt64) -> UInt64? {
        var pointer = slot
        if let tags = stackRefTagBits {
            if let intTag = stackRefIntTag, slot & UInt64(tags) == UInt64(intTag) { return nil }
            pointer = slot & ~UInt64(tags)
        }
        return pointer == 0 ? nil : pointer
    }
}
