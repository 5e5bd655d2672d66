import ProcFS

/// Reading asyncio's tasks from outside (docs/python.md, "asyncio"): where the tasks are listed
/// (`asyncio.tasks`'s WeakSet and set before 3.14; from 3.14 also the native lists in each thread
/// state and in the interpreter), each task's fields (AsyncioLayouts.swift, measured), and the
/// chain of coroutines each suspended task awaits through (the generator frames and the top of
/// their value stacks). Every count is capped and every object's type checked by name.
extension PythonRuntime {
    /// Every asyncio task of every interpreter of the process, with what each awaits and who
    /// awaits it, and the loop and task each thread runs where the version records them. A
    /// process that has not imported asyncio has none.
    public func asyncioTasks() -> Result<AsyncioState, PythonReadError> {
        let reader = budgeted()
        return reader.readAsyncioTasks().mapError(reader.failure)
    }

    static let mostTasks = 1 << 16
    static let deepestAwait = 64

    func readAsyncioTasks() -> Result<AsyncioState, PythonReadError> {
        guard let taskLayout = AsyncioLayout.best(for: version)?.0 else {
            return .failure(.unsupportedVersion(version, "no asyncio task layout for 3.\(version.minor) (Scripts/gen-asyncio-offsets)"))
        }
        guard let modulesField = layout.interpModules, let moduleDictField = layout.moduleDict else {
            return .failure(.unsupportedVersion(version, "no module offsets"))
        }
        let interpreters: [UInt64]
        switch self.interpreters() {
        case .success(let found): interpreters = found
        case .failure(let error): return .failure(error)
        }
        var reader = AsyncioReader(runtime: self, task: taskLayout)
        if version.minor >= 14 {
            switch reader.checkDebugOffsets() {
            case .failure(let error): return .failure(error)
            case .success(let note): if let note { reader.notes.append(note) }
            }
        }
        var state = AsyncioState(tasks: [], runningLoops: [:], runningTasks: [:], runningTasksByLoop: [:], notes: [])
        // Native task lists and the running loop and task of each thread (3.14+).
        if version.minor >= 14 {
            let threads: [PythonThread]
            switch readThreads() {
            case .success(let found): threads = found
            case .failure(let error): return .failure(error)
            }
            for thread in threads {
                if let field = layout.tstateAsyncioTasksHead { reader.nativeList(head: thread.threadState &+ UInt64(field)) }
                if let field = layout.tstateAsyncioRunningLoop, let loop = memory.u64(thread.threadState &+ UInt64(field)), loop != 0 {
                    state.runningLoops[thread.ident] = loop
                }
                if let field = layout.tstateAsyncioRunningTask, let task = memory.u64(thread.threadState &+ UInt64(field)), task != 0 {
                    state.runningTasks[thread.ident] = task
                }
            }
            for interp in interpreters {
                if let field = layout.interpAsyncioTasksHead { reader.nativeList(head: interp &+ UInt64(field)) }
            }
        }
        // The tasks asyncio.tasks lists itself: all of them before 3.12; from 3.12 the scheduled
        // (WeakSet) and eager (set) ones; from 3.14 those that are not native tasks.
        for interp in interpreters {
            guard let modules = memory.u64(interp &+ UInt64(modulesField)), modules != 0,
                  let module = objects.dictLookup(modules, "asyncio.tasks"),
                  let moduleDict = memory.u64(module &+ UInt64(moduleDictField)), moduleDict != 0,
                  let globals = objects.dictEntries(moduleDict, limit: 4096) else { continue }
            func global(_ name: String) -> UInt64? { objects.entry(named: name, in: globals)?.value }
            for name in version.minor <= 11 ? ["_all_tasks"] : ["_scheduled_tasks"] {
                if let weakSet = global(name) { reader.weakSet(weakSet, name: name) }
            }
            if version.minor >= 12, let eager = global("_eager_tasks") {
                if let members = reader.setMembers(eager, name: "_eager_tasks") { reader.candidates += members }
            }
            if version.minor <= 13, let current = global("_current_tasks"),
               let type = objects.typeInfo(of: current), objects.hasFlag(type, layout.flagDictSubclass),
               let entries = objects.dictEntries(current, limit: 4096) {
                for (loop, task) in entries { state.runningTasksByLoop[loop] = task }
            }
        }
        state.tasks = reader.readTasks()
        state.notes = reader.notes
        return .success(state)
    }
}

extension AsyncioLayout {
    static func best(for version: PythonVersion) -> (AsyncioLayout, exact: Bool)? {
        if let exact = all.first(where: { $0.hexVersion == version.hex }) { return (exact, true) }
        return all.last(where: { PythonVersion(hex: $0.hexVersion).minor == version.minor && PythonVersion(hex: $0.hexVersion).major == version.major })
            .map { ($0, false) }
    }
}

/// One call's walk over the tasks: the addresses found so far and what could not be read.
struct AsyncioReader {
    let runtime: PythonRuntime
    let task: AsyncioLayout
    var candidates: [UInt64] = []
    var notes: [String] = []

    var memory: any RemoteMemoryReader { runtime.memory }
    var layout: GeneratedLayout { runtime.layout }
    var objects: ObjectReader { runtime.objects }
    var minor: Int { runtime.version.minor }

    init(runtime: PythonRuntime, task: AsyncioLayout) {
        self.runtime = runtime
        self.task = task
    }

    // MARK: where tasks are listed

    /// A circular `llist_node` list of native tasks, headed at `head` (3.14+).
    mutating func nativeList(head: UInt64) {
        guard let nodeField = task.taskNode else { return }
        guard var node = memory.u64(head) else {
            notes.append("the task list at 0x\(hex(head)) is unreadable")
            return
        }
        var seen = Set<UInt64>()
        // An unused list head is zero-filled until the first task is linked in.
        while node != head, node != 0 {
            guard candidates.count < PythonRuntime.mostTasks, seen.insert(node).inserted else {
                notes.append("the task list at 0x\(hex(head)) loops or is longer than \(PythonRuntime.mostTasks)")
                return
            }
            candidates.append(node &- UInt64(nodeField))
            guard let next = memory.u64(node) else {
                notes.append("the task list at 0x\(hex(head)) breaks at 0x\(hex(node))")
                return
            }
            node = next
        }
    }

    /// The live referents of a `weakref.WeakSet` (its `data`, a set of weak references).
    mutating func weakSet(_ object: UInt64, name: String) {
        guard let data = objects.attribute(object, "data") else {
            notes.append("asyncio.tasks.\(name) has no readable data set")
            return
        }
        guard let references = setMembers(data, name: "\(name).data"), let field = layout.weakrefObject else { return }
        for reference in references {
            guard let type = objects.typeInfo(of: reference), type.name == "weakref.ReferenceType" || type.name == "weakref" || type.name == "KeyedRef",
                  let referent = memory.u64(reference &+ UInt64(field)), referent != 0 else { continue }
            candidates.append(referent)
        }
    }

    /// The keys of a `set` (dummies and empty slots left out by the type checks of their readers).
    mutating func setMembers(_ object: UInt64, name: String) -> [UInt64]? {
        guard let type = objects.typeInfo(of: object), type.name == "set",
              let maskField = layout.setMask, let tableField = layout.setTable,
              let entrySize = layout.setEntrySize, let keyField = layout.setEntryKey,
              let bytes = memory.read(object, max(maskField, tableField) + 8) else {
            notes.append("asyncio.tasks.\(name) is not a readable set")
            return nil
        }
        let mask = Bytes.u64(bytes, maskField)
        let table = Bytes.u64(bytes, tableField)
        guard mask < UInt64(PythonRuntime.mostTasks * 4), (mask &+ 1) & mask == 0 else {
            notes.append("asyncio.tasks.\(name) has a table of \(mask &+ 1) slots")
            return nil
        }
        let slots = Int(mask) + 1
        var members: [UInt64] = []
        let chunk = 4096
        var index = 0
        while index < slots {
            let n = min(chunk, slots - index)
            guard let entries = memory.read(table &+ UInt64(index * entrySize), n * entrySize) else {
                notes.append("the table of asyncio.tasks.\(name) is unreadable")
                return nil
            }
            for i in 0..<n {
                let key = Bytes.u64(entries, i * entrySize + keyField)
                if key != 0 { members.append(key) }
            }
            index += n
        }
        return members
    }

    // MARK: tasks

    /// Reads every candidate that is a task, once each.
    mutating func readTasks() -> [AsyncioTask] {
        var seen = Set<UInt64>()
        var tasks: [AsyncioTask] = []
        var ordered: [UInt64] = []
        for address in candidates where seen.insert(address).inserted { ordered.append(address) }
        let addresses = Set(ordered)
        for address in ordered {
            if let read = readTask(address, known: addresses) { tasks.append(read) }
        }
        // Who awaits whom: the tasks whose fut_waiter is this task, and (3.14+) its awaited_by.
        var awaitedBy: [UInt64: [UInt64]] = [:]
        for task in tasks {
            if let awaited = task.awaiting, addresses.contains(awaited.address) { awaitedBy[awaited.address, default: []].append(task.address) }
        }
        for index in tasks.indices {
            var waiters = awaitedBy[tasks[index].address] ?? []
            for waiter in nativeAwaitedBy(tasks[index].address) where !waiters.contains(waiter) { waiters.append(waiter) }
            tasks[index].awaitedBy = waiters
        }
        return tasks
    }

    /// A task's fields: the C `TaskObj`'s where its type has them, else (`_PyTask`, a Python
    /// Task) its instance attributes. Nil for an object that is no task (a dead weak reference's
    /// None, a set's dummy).
    mutating func readTask(_ address: UInt64, known: Set<UInt64>) -> AsyncioTask? {
        guard let type = objects.typeInfo(of: address) else {
            notes.append("task 0x\(hex(address)) has no readable type")
            return nil
        }
        if type.name == "NoneType" { return nil }
        let attributes = objects.attributes(address, type: type, limit: 256) ?? []
        func attribute(_ name: String) -> UInt64? { objects.entry(named: name, in: attributes)?.value }
        let loop: UInt64, state: AsyncioTask.State, waiter: UInt64, coro: UInt64
        var name: String?
        if type.name != "_asyncio.Task", let pythonCoro = attribute("_coro") {
            // A task written in Python: its fields are attributes.
            coro = pythonCoro
            loop = attribute("_loop") ?? 0
            waiter = attribute("_fut_waiter") ?? 0
            // `_state` is a class attribute (`_PENDING`) until the task completes.
            switch attribute("_state").map({ objects.string($0) }) {
            case nil, "PENDING": state = .pending
            case "CANCELLED": state = .cancelled
            case "FINISHED": state = .finished
            default:
                notes.append("task 0x\(hex(address)) (\(type.name)) has no readable _state")
                return nil
            }
            name = attribute("_name").flatMap { taskName($0) }
        } else {
            guard let size = task.taskSize, type.basicSize >= size, type.basicSize < 1 << 16,
                  let loopField = task.futureLoop, let stateField = task.futureState, let waiterField = task.taskFutWaiter,
                  let coroField = task.taskCoro, let nameField = task.taskName else {
                if type.name.hasSuffix("Task") { notes.append("task 0x\(hex(address)) (\(type.name)) is not laid out like _asyncio.Task") }
                return nil
            }
            guard let bytes = memory.read(address, size) else {
                notes.append("task 0x\(hex(address)) is unreadable")
                return nil
            }
            loop = Bytes.u64(bytes, loopField)
            switch Bytes.u32(bytes, stateField) {
            case 0: state = .pending
            case 1: state = .cancelled
            case 2: state = .finished
            case let other:
                notes.append("task 0x\(hex(address)) (\(type.name)) has state \(other)")
                return nil
            }
            waiter = Bytes.u64(bytes, waiterField)
            coro = Bytes.u64(bytes, coroField)
            name = taskName(Bytes.u64(bytes, nameField))
        }
        var awaiting: AsyncioAwaited?
        if waiter != 0, let waiterType = objects.typeInfo(of: waiter), waiterType.name != "NoneType" {
            awaiting = AsyncioAwaited(address: waiter, typeName: waiterType.name,
                                      isTask: known.contains(waiter) || waiterType.name == "_asyncio.Task")
        }
        let coroutines = state == .pending && coro != 0 ? coroutineChain(coro, task: address) : []
        return AsyncioTask(address: address, name: name, state: state, coroutines: coroutines, awaiting: awaiting,
                           awaitedBy: [], loop: loop)
    }

    /// A task's name: the str, or `Task-N` for the counter an unnamed task holds until its name is
    /// asked for (3.12+).
    func taskName(_ object: UInt64) -> String? {
        guard object != 0 else { return nil }
        if let text = objects.string(object) { return String(text.prefix(256)) }
        if task.unnamedNameIsCounter, let number = objects.unsignedInteger(object) { return "Task-\(number)" }
        return nil
    }

    /// 3.14+: the tasks `task_awaited_by` names (one task, or a set of them).
    mutating func nativeAwaitedBy(_ address: UInt64) -> [UInt64] {
        guard let field = task.taskAwaitedBy, let isSetField = task.taskAwaitedByIsSet,
              let type = objects.typeInfo(of: address), type.name == "_asyncio.Task" || type.basicSize >= (task.taskSize ?? .max),
              let awaitedBy = memory.u64(address &+ UInt64(field)), awaitedBy != 0,
              let isSet = memory.u8(address &+ UInt64(isSetField)) else { return [] }
        if isSet != 0 { return setMembers(awaitedBy, name: "task_awaited_by of 0x\(hex(address))") ?? [] }
        return [awaitedBy]
    }

    // MARK: coroutines

    /// The coroutines from `coro` down: each one's frame, then the one it awaits, until one that
    /// awaits something that is no coroutine or generator (a future), or a depth bound.
    mutating func coroutineChain(_ coro: UInt64, task address: UInt64) -> [PythonFrame] {
        var frames: [PythonFrame] = []
        var current = coro
        var seen = Set<UInt64>()
        while frames.count < PythonRuntime.deepestAwait, seen.insert(current).inserted {
            guard let type = objects.typeInfo(of: current),
                  type.name == "coroutine" || type.name == "generator" || type.name == "async_generator" else { break }
            guard let (frame, awaited) = suspendedFrame(current) else { break }
            frames.append(frame)
            guard let awaited else { break }
            current = awaited
        }
        if frames.count == PythonRuntime.deepestAwait {
            notes.append("the coroutines of task 0x\(hex(address)) are cut at \(PythonRuntime.deepestAwait)")
        }
        return frames
    }

    /// A generator's frame as a PythonFrame, and the object it awaits (the top of its value stack
    /// when suspended in `await`/`yield from`), if any. Nil when it has no frame (not started,
    /// finished) or the frame does not read.
    func suspendedFrame(_ gen: UInt64) -> (PythonFrame, UInt64?)? {
        minor <= 10 ? frameObjectGenerator(gen) : embeddedFrameGenerator(gen)
    }

    /// 3.8–3.10: `gi_frame` is a PyFrameObject; it awaits when its next instruction (after
    /// `f_lasti`) is YIELD_FROM.
    func frameObjectGenerator(_ gen: UInt64) -> (PythonFrame, UInt64?)? {
        guard let frameField = layout.genFrame, let codeField = layout.frameCode, let lastiField = layout.frameLasti,
              let valueStackField = layout.frameValueStack,
              let frame = memory.u64(gen &+ UInt64(frameField)), frame != 0 else { return nil }
        let extent = [codeField, lastiField, valueStackField, layout.frameStackTop ?? 0, layout.frameStackDepth ?? 0].max()! + 8
        guard let bytes = memory.read(frame, extent) else { return nil }
        let codeAddress = Bytes.u64(bytes, codeField)
        guard let code = code(codeAddress) else { return nil }
        let pythonFrame = PythonFrame(function: code.qualifiedName ?? code.name, name: code.name, file: code.file,
                                      line: runtime.frameLine(bytes, codeAddress: codeAddress, code: code),
                                      frameAddress: frame, codeAddress: codeAddress)
        let lasti = Int(Int32(bitPattern: Bytes.u32(bytes, lastiField)))
        guard lasti >= 0, let codeCodeField = layout.codeCode, let dataField = layout.bytesData,
              let yieldFrom = layout.opcodeYieldFrom,
              let codeBytes = memory.u64(codeAddress &+ UInt64(codeCodeField)), codeBytes != 0,
              let size = objects.sequenceCount(codeBytes) else { return (pythonFrame, nil) }
        // The next instruction's byte offset: f_lasti counts bytes before 3.10, code units from then.
        let next = minor >= 10 ? (lasti + 1) * 2 : lasti + 2
        guard next < size, let opcode = memory.u8(codeBytes &+ UInt64(dataField) &+ UInt64(next)), Int(opcode) == yieldFrom else {
            return (pythonFrame, nil)
        }
        var top: UInt64
        if let stackTopField = layout.frameStackTop {
            top = Bytes.u64(bytes, stackTopField)
            let bottom = Bytes.u64(bytes, valueStackField)
            guard top > bottom, top &- bottom <= 1 << 16 else { return (pythonFrame, nil) }
        } else if let depthField = layout.frameStackDepth {
            let depth = Int(Int32(bitPattern: Bytes.u32(bytes, depthField)))
            guard depth > 0, depth <= 1 << 13 else { return (pythonFrame, nil) }
            top = Bytes.u64(bytes, valueStackField) &+ UInt64(depth * 8)
        } else {
            return (pythonFrame, nil)
        }
        let awaited = memory.u64(top &- 8).flatMap { $0 == 0 ? nil : $0 }
        return (pythonFrame, awaited)
    }

    /// 3.11+: the frame is embedded in the generator (`gi_iframe`); it awaits when suspended in a
    /// `yield from`: `FRAME_SUSPENDED_YIELD_FROM` (3.13+), or, before, suspended with a RESUME of
    /// oparg 2 or more next.
    func embeddedFrameGenerator(_ gen: UInt64) -> (PythonFrame, UInt64?)? {
        guard let iframeField = layout.genIFrame, let stateField = layout.genFrameState,
              let codeField = layout.frameCode, let localsField = layout.frameLocalsPlus,
              let created = layout.frameStateCreated, let cleared = layout.frameStateCleared,
              let suspended = layout.frameStateSuspended,
              let rawState = memory.u8(gen &+ UInt64(stateField)) else { return nil }
        let state = Int(Int8(bitPattern: rawState))
        guard state != created, state != cleared else { return nil }
        let frame = gen &+ UInt64(iframeField)
        let extent = [codeField, localsField, layout.frameInstruction ?? 0, layout.frameStackTop ?? 0,
                      layout.frameStackPointer ?? 0].max()! + 8
        guard let bytes = memory.read(frame, extent) else { return nil }
        guard let codeAddress = layout.objectPointer(Bytes.u64(bytes, codeField)), let code = code(codeAddress) else { return nil }
        let pythonFrame = PythonFrame(function: code.qualifiedName ?? code.name, name: code.name, file: code.file,
                                      line: runtime.frameLine(bytes, codeAddress: codeAddress, code: code),
                                      frameAddress: frame, codeAddress: codeAddress)
        let awaits: Bool
        if let yieldFrom = layout.frameStateSuspendedYieldFrom {
            awaits = state == yieldFrom
        } else if state == suspended, let instructionField = layout.frameInstruction, let resume = layout.opcodeResume {
            let next = memory.read(Bytes.u64(bytes, instructionField) &+ 2, 2)
            let opcode = next.map { Int($0[0]) }, oparg = next.map { Int($0[1]) } ?? 0
            awaits = oparg >= 2 && (opcode == resume || opcode == layout.opcodeResumeQuick || opcode == layout.opcodeInstrumentedResume)
        } else {
            awaits = false
        }
        guard awaits else { return (pythonFrame, nil) }
        let locals = frame &+ UInt64(localsField)
        let topSlot: UInt64
        if let pointerField = layout.frameStackPointer {
            let pointer = Bytes.u64(bytes, pointerField)
            // 3.15 keeps a NULL above the awaited object (`_PyFrame_StackPeek(frame, 2)`).
            let depth = UInt64(task.awaitedStackDepth ?? 1)
            guard pointer >= locals &+ depth * 8, pointer &- locals <= 1 << 16 else { return (pythonFrame, nil) }
            topSlot = pointer &- depth * 8
        } else if let topField = layout.frameStackTop {
            let top = Int(Int32(bitPattern: Bytes.u32(bytes, topField)))
            guard top > 0, top <= 1 << 13 else { return (pythonFrame, nil) }
            topSlot = locals &+ UInt64((top - 1) * 8)
        } else {
            return (pythonFrame, nil)
        }
        let awaited = memory.u64(topSlot).flatMap { layout.objectPointer($0) }
        return (pythonFrame, awaited)
    }

    func code(_ address: UInt64) -> PythonRuntime.CodeInfo? {
        if let cached = runtime.cache?.codes[address] { return cached }
        guard case .success(let info?) = runtime.codeInfo(address) else { return nil }
        if let cache = runtime.cache, cache.codes.count < ReadCache.most { cache.codes[address] = info }
        return info
    }

    // MARK: _AsyncioDebug

    /// 3.14+: the process's own `_AsyncioDebug` (section `.AsyncioDebug` of the `_asyncio`
    /// extension module, or of the executable where it is built in), read as untrusted input and
    /// checked against the measured and generated offsets: a disagreement refuses the read. A note
    /// (not a failure) when it cannot be found: no process to look in, or `_asyncio` not loaded.
    func checkDebugOffsets() -> Result<String?, PythonReadError> {
        guard let pid = runtime.processID else { return .success("no process given to find _AsyncioDebug in: the measured offsets are used unchecked") }
        guard let maps = try? ProcRoot().bytes("\(pid)/maps") else { return .success("the maps of \(pid) are unreadable: _AsyncioDebug not checked") }
        let modules = LoadedModule.all(in: MemoryMapping.parseAll(maps)).filter {
            $0.path == runtime.modulePath || lastPathComponent($0.path).hasPrefix("_asyncio.")
        }
        for module in modules {
            guard let info = ModuleInfoCache.shared.info(for: module.source(root: runtime.fileRoot, pid: pid)),
                  let section = info.asyncioDebugSection, let bias = module.bias(info.file) else { continue }
            guard section.size >= 104, section.size <= 4096, let bytes = memory.read(section.address &+ bias, 104) else {
                return .failure(.inconsistent("_AsyncioDebug in \(module.path): a section of \(section.size) bytes, or unreadable"))
            }
            return Self.check(debug: bytes, task: task, layout: layout, in: module.path).map { nil }
        }
        return .success("no .AsyncioDebug section in the files mapped (_asyncio not loaded?): the measured offsets are used unchecked")
    }

    /// The 13 words of `_AsyncioDebug` (3.14, 3.15): the task object's size and offsets, the
    /// interpreter's size and task list, the thread state's size, running loop and task, and task
    /// list; each must lie inside its structure and equal the offset this build reads with.
    static func check(debug bytes: [UInt8], task: AsyncioLayout, layout: GeneratedLayout, in path: String) -> Result<Void, PythonReadError> {
        let words = (0..<13).map { Bytes.u64(bytes, $0 * 8) }
        let taskSize = words[0], interpSize = words[7], tstateSize = words[9]
        let expected: [(String, UInt64, UInt64, Int?)] = [
            ("asyncio_task_object.task_name", words[1], taskSize, task.taskName),
            ("asyncio_task_object.task_awaited_by", words[2], taskSize, task.taskAwaitedBy),
            ("asyncio_task_object.task_is_task", words[3], taskSize, task.taskIsTask),
            ("asyncio_task_object.task_awaited_by_is_set", words[4], taskSize, task.taskAwaitedByIsSet),
            ("asyncio_task_object.task_coro", words[5], taskSize, task.taskCoro),
            ("asyncio_task_object.task_node", words[6], taskSize, task.taskNode),
            ("asyncio_interpreter_state.asyncio_tasks_head", words[8], interpSize, layout.interpAsyncioTasksHead),
            ("asyncio_thread_state.asyncio_running_loop", words[10], tstateSize, layout.tstateAsyncioRunningLoop),
            ("asyncio_thread_state.asyncio_running_task", words[11], tstateSize, layout.tstateAsyncioRunningTask),
            ("asyncio_thread_state.asyncio_tasks_head", words[12], tstateSize, layout.tstateAsyncioTasksHead),
        ]
        guard taskSize == UInt64(task.taskSize ?? -1) else {
            return .failure(.inconsistent("_AsyncioDebug in \(path) says a task has \(taskSize) bytes, the table of \(task.source) \(task.taskSize.map(String.init) ?? "none")"))
        }
        for (name, value, size, ours) in expected {
            guard size > 0, size <= 1 << 24, value < size else {
                return .failure(.inconsistent("_AsyncioDebug in \(path): \(name) = \(value) lies outside its structure of \(size) bytes"))
            }
            guard let ours, UInt64(ours) == value else {
                return .failure(.inconsistent("_AsyncioDebug in \(path) says \(name) = \(value), the tables of this build \(ours.map(String.init) ?? "nothing")"))
            }
        }
        return .success(())
    }
}
