/// The Python lock object a blocked thread waits on, found from its frames.
public struct PythonLockObject: Sendable, Hashable {
    public enum Kind: String, Sendable, Hashable {
        /// `_thread.lock` (`threading.Lock`, and the locks inside Condition, Event, Semaphore, queue).
        case lock
        /// `_thread.RLock` (`threading.RLock`).
        case rlock
    }

    /// importlib's per-module lock (`importlib._bootstrap._ModuleLock`) the lock belongs to.
    public struct ImportLock: Sendable, Hashable {
        /// The module being imported (`_ModuleLock.name`).
        public var module: String
        /// `_ModuleLock.owner`: the ident of the thread importing it, nil when None.
        public var ownerIdent: UInt64?
        /// `_ModuleLock.count` (a list's length from 3.12).
        public var count: Int?
    }

    public var kind: Kind
    /// The type's `tp_name`, e.g. `_thread.RLock`.
    public var typeName: String
    public var address: UInt64
    /// How it was reached from the frame: `self._lock`, `waiter`, `self.wakeup`, `HELD`.
    public var path: String
    /// Whether `path` starts at a global of the frame's module rather than a local.
    public var isGlobal: Bool
    /// The frame whose variables led to it: its index in the stack (0 = innermost) and function.
    public var frameIndex: Int
    public var function: String
    /// RLock: the ident of the owning thread (`rlock_owner`), nil when not held.
    public var ownerIdent: UInt64?
    /// RLock: how many times the owner holds it (`rlock_count`).
    public var count: UInt64?
    /// Set when the lock is an attribute of an importlib `_ModuleLock`.
    public var importLock: ImportLock?

    /// The `threading` or `queue` object whose wait the lock wait is (an Event, a Queue …).
    public struct WaitedObject: Sendable, Hashable {
        /// `Event`, `Queue`, `Condition` …
        public var typeName: String
        /// Its method the thread waits in: `Event.wait`, `Queue.get`.
        public var method: String
        /// How the caller of that method reaches it (`self._event`), and its function; nil
        /// when the caller's variables do not lead to it.
        public var path: String?
        public var function: String?
    }

    public var waitedObject: WaitedObject?
}

extension PythonRuntime {
    /// Limits of the search: the target's memory is untrusted and its object graph unbounded.
    enum LockSearch {
        static let frames = 64
        static let localsPerFrame = 256
        static let globalsPerFrame = 512
        static let attributesPerObject = 64
        static let itemsPerContainer = 16
        static let depth = 4
        static let objects = 4096
        static let queued = 16384
    }

    /// The Python lock object a thread waits on, given the futex address it sleeps on (argument 0
    /// of its `futex` call in `/proc/PID/task/TID/syscall`). The thread's frames are searched
    /// innermost first: each frame's locals (cells followed), then its module's globals, and from
    /// each variable its attributes, and the items of small tuples, lists and dicts, to a bounded
    /// depth; a `_thread.lock` or `_thread.RLock` whose semaphore pointer is the futex address is
    /// the answer. nil when none is found: nothing is guessed.
    public func lockObject(waitedOnAt futex: UInt64, threadState: UInt64) -> Result<PythonLockObject?, PythonReadError> {
        let reader = budgeted()
        let result = reader.findLockObject(waitedOnAt: futex, threadState: threadState)
        // Not found because the search was cut short is not "not found".
        if case .success(nil) = result, let budget = reader.memory as? BudgetedMemory, budget.exhausted {
            return .failure(reader.failure(.inconsistent("lock search cut short")))
        }
        return result.mapError(reader.failure)
    }

    func findLockObject(waitedOnAt futex: UInt64, threadState: UInt64) -> Result<PythonLockObject?, PythonReadError> {
        let matches: (UInt64, ObjectReader.TypeInfo) -> Bool
        switch lockMatcher(futex: futex) {
        case .success(let matcher): matches = matcher
        case .failure(let error): return .failure(error)
        }
        guard let localsField = layout.frameLocalsPlus else {
            return .failure(.unsupportedVersion(version, "no frame locals offset"))
        }
        var frames: [WalkedFrame] = []
        let walk = walkFrames(threadState: threadState) { walked in
            frames.append(walked)
            return frames.count < LockSearch.frames
        }
        let search = FrameSearch(runtime: self, localsField: localsField)
        for (index, walked) in frames.enumerated() {
            guard let hit = search.find(in: walked, where: matches) else { continue }
            let rlock = hit.typeName == "_thread.RLock"
            var lock = PythonLockObject(kind: rlock ? .rlock : .lock, typeName: hit.typeName, address: hit.object,
                                        path: hit.path, isGlobal: hit.isGlobal, frameIndex: index, function: walked.frame.function)
            if rlock, let owner = rlockOwner(hit.object) {
                lock.count = owner.count
                lock.ownerIdent = owner.ident
            }
            if let parent = hit.parent, objects.typeInfo(of: parent)?.name == "_ModuleLock" {
                lock.importLock = importLock(parent)
            }
            lock.waitedObject = waitedObject(lockFrame: index, frames: frames, search: search)
            return .success(lock)
        }
        if case .failure(let error) = walk { return .failure(error) }
        return .success(nil)
    }

    /// What tells the lock object a thread waits on at `futex`, by this version's lock layouts.
    /// Until 3.13.0 a `_thread.lock` or `RLock` waits on a semaphore it points to, the futex; from
    /// 3.14 it is a `PyMutex` inside the object, and its waiters park in the parking lot, each on a
    /// semaphore on its own stack (`parkedAddress`). multiprocessing's locks wait on their
    /// semaphore, whatever the version.
    func lockMatcher(futex: UInt64) -> Result<(UInt64, ObjectReader.TypeInfo) -> Bool, PythonReadError> {
        let parked = parkedAddress(futex: futex)
        let memory = self.memory
        let semLock = layout.semLockHandle
        let queue = layout.simpleQueueWaiting
        func field(_ object: UInt64, _ offset: Int?, is address: UInt64?) -> Bool {
            guard let offset, let address else { return false }
            return object &+ UInt64(offset) == address
        }
        func pointer(_ object: UInt64, _ offset: Int?, is address: UInt64) -> Bool {
            guard let offset else { return false }
            return memory.u64(object &+ UInt64(offset)) == address
        }
        if let lockMutex = layout.lockMutex, let rlockMutex = layout.rlockMutex {
            return .success { object, type in
                switch type.name {
                case "_thread.lock": return field(object, lockMutex, is: parked)
                case "_thread.RLock": return field(object, rlockMutex, is: parked)
                // queue.SimpleQueue (multiprocessing's pools use it): its getters park on a flag of its own.
                case "_queue.SimpleQueue": return field(object, queue, is: parked)
                // multiprocessing's Lock, RLock, Semaphore, Condition, Event and queues: a POSIX
                // semaphore in shared memory.
                case "_multiprocessing.SemLock": return pointer(object, semLock, is: futex)
                default: return false
                }
            }
        }
        // 3.13.1 made threading.Lock a PyMutex, in objects whose layout no table here was
        // measured on: only 3.13.0's semaphore-based locks (as every earlier version's) are known.
        if version.minor > 13 || (version.minor == 13 && version.hex > 0x030d_00f0) {
            return .failure(.unsupportedVersion(version, "its lock objects are not the semaphore-based ones of 3.8 to 3.13.0, and no layout of them was measured"))
        }
        guard let lockHandle = layout.lockHandle, let rlockHandle = layout.rlockHandle else {
            return .failure(.unsupportedVersion(version, "no lock object offsets"))
        }
        let minor = version.minor
        return .success { object, type in
            switch type.name {
            case "_thread.lock": return pointer(object, lockHandle, is: futex)
            case "_thread.RLock": return pointer(object, rlockHandle, is: futex)
            // queue.SimpleQueue keeps a lock of its own in C, right after the object header, as a
            // `_thread.lock` does, until 3.12; 3.13's getters park on a flag of its own.
            case "_queue.SimpleQueue": return minor < 13 ? pointer(object, lockHandle, is: futex) : field(object, queue, is: parked)
            case "_multiprocessing.SemLock": return pointer(object, semLock, is: futex)
            default: return false
            }
        }
    }

    /// How many bytes after a lock object's reference count stay the same in a forked child's copy:
    /// its type, and before 3.14 the semaphore it points to (a `PyMutex`'s state changes with its
    /// waiters).
    public var lockIdentityLength: Int { layout.lockMutex == nil ? 16 : 8 }

    /// The owner of an RLock (its ident) and how many times it holds it; nil owner when free.
    func rlockOwner(_ object: UInt64) -> (ident: UInt64?, count: UInt64)? {
        guard let ownerField = layout.rlockOwner, let owner = memory.u64(object &+ UInt64(ownerField)) else { return nil }
        if let levelField = layout.rlockLevel {
            // 3.14+: a _PyRecursiveMutex, held while it records a thread; level is one less than the count.
            guard let level = memory.u64(object &+ UInt64(levelField)) else { return nil }
            return owner != 0 ? (owner, level &+ 1) : (nil, 0)
        }
        guard let countField = layout.rlockCount, let count = memory.u64(object &+ UInt64(countField)) else { return nil }
        return (count > 0 && owner != 0 ? owner : nil, count)
    }

    /// 3.13+: what a thread parked in CPython's parking lot waits for (a `PyMutex`, a SimpleQueue's
    /// flag), given the futex it sleeps on: the semaphore of its wait entry, which lies on its own
    /// stack and holds the address it waits for. nil when the futex is not one of a wait entry
    /// linked into a bucket's list (both its neighbours must point back at it), or before 3.13.
    func parkedAddress(futex: UInt64) -> UInt64? {
        guard let semaphore = layout.waitEntrySemaphore, let addressField = layout.waitEntryAddress,
              let nodeField = layout.waitEntryNode, futex >= UInt64(semaphore) else { return nil }
        let entry = futex &- UInt64(semaphore)
        let node = entry &+ UInt64(nodeField)
        guard let address = memory.u64(entry &+ UInt64(addressField)), address != 0,
              let links = memory.read(node, 16) else { return nil }
        let next = Bytes.u64(links, 0), previous = Bytes.u64(links, 8)
        guard next != 0, previous != 0, memory.u64(next &+ 8) == node, memory.u64(previous) == node else { return nil }
        return address
    }

    /// The `threading` or `queue` object a lock wait is inside: `Condition.wait` waits on a
    /// `waiter` lock for a Condition, which an Event, a Semaphore, a Barrier or a Queue waits on
    /// in turn. The outermost of those frames (by its `self`) names the object, and its caller's
    /// variables the path to it (`self._event` in `ApplyResult.wait`). nil when the lock is taken
    /// directly.
    func waitedObject(lockFrame: Int, frames: [WalkedFrame], search: FrameSearch) -> PythonLockObject.WaitedObject? {
        func own(_ index: Int) -> (object: UInt64, type: String)? {
            guard index < frames.count else { return nil }
            let walked = frames[index]
            guard let types = Self.waitableTypes.first(where: { walked.frame.file.hasSuffix($0.file) })?.types,
                  let me = search.locals(walked).first(where: { $0.name == "self" })?.value,
                  let type = objects.typeInfo(of: me)?.name, types.contains(type) else { return nil }
            return (me, type)
        }
        guard var outer = own(lockFrame).map({ (index: lockFrame, object: $0.object, type: $0.type) }) else { return nil }
        while let next = own(outer.index + 1) { outer = (outer.index + 1, next.object, next.type) }
        // Before 3.11 a frame names only the function: the type says whose it is.
        let function = frames[outer.index].frame.function
        var waited = PythonLockObject.WaitedObject(typeName: outer.type,
                                                   method: function.contains(".") ? function : "\(outer.type).\(function)")
        let caller = outer.index + 1
        // A search of its own: the lock search may have passed the object already.
        let fresh = FrameSearch(runtime: search.runtime, localsField: search.localsField)
        if caller < frames.count, let hit = fresh.find(in: frames[caller], where: { object, _ in object == outer.object }) {
            waited.path = hit.path
            waited.function = frames[caller].frame.function
        }
        return waited
    }

    /// The classes that wait on a lock inside, by the file that defines them: `threading`'s and
    /// `queue`'s, and `multiprocessing`'s (whose locks are `_multiprocessing.SemLock`s).
    static let waitableTypes: [(file: String, types: Set<String>)] = [
        ("/threading.py", ["Condition", "Event", "Semaphore", "BoundedSemaphore", "Barrier"]),
        ("/queue.py", ["Queue", "LifoQueue", "PriorityQueue"]),
        ("/multiprocessing/synchronize.py", ["Lock", "RLock", "Semaphore", "BoundedSemaphore", "Condition", "Event", "Barrier"]),
        ("/multiprocessing/queues.py", ["Queue", "JoinableQueue", "SimpleQueue"]),
    ]

    /// Breadth-first search of a frame's variables for an object: its locals (cells followed)
    /// before its module's globals (each module once per search), and from each variable its
    /// attributes and the items of small tuples, lists and dicts, to a bounded depth. The
    /// shallowest path is the one reported, and a plain variable is found before the search
    /// wanders through big objects; names are read only for the path found.
    final class FrameSearch {
        let runtime: PythonRuntime
        let localsField: Int
        private var searchedGlobals = Set<UInt64>()
        /// Objects examined, over every frame of this search: each once, and at most
        /// `LockSearch.objects` of them.
        private var visited = Set<UInt64>()

        init(runtime: PythonRuntime, localsField: Int) {
            self.runtime = runtime
            self.localsField = localsField
        }

        struct Hit {
            var object: UInt64
            var typeName: String
            var path: String
            var isGlobal: Bool
            /// The object it is an attribute or item of, if any.
            var parent: UInt64?
        }

        func locals(_ walked: WalkedFrame) -> [(name: String, value: UInt64)] {
            runtime.frameLocals(walked, localsField: localsField)
        }

        /// How a node was reached from its parent.
        private enum Step {
            case variable(String)
            case global(key: UInt64)
            case attribute(key: UInt64)
            case item(Int)
            case dictItem(key: UInt64)
        }
        private struct Node {
            var object: UInt64
            var step: Step
            var depth: Int
            var parent: Int?
            var isGlobal: Bool
        }

        func find(in walked: WalkedFrame, where matches: (UInt64, ObjectReader.TypeInfo) -> Bool) -> Hit? {
            let objects = runtime.objects
            let layout = runtime.layout
            let memory = runtime.memory
            var nodes: [Node] = []
            for local in locals(walked) {
                nodes.append(Node(object: local.value, step: .variable(local.name), depth: 1, parent: nil, isGlobal: false))
            }

            func path(_ index: Int) -> String {
                var steps: [Step] = []
                var at: Int? = index
                while let current = at {
                    steps.append(nodes[current].step)
                    at = nodes[current].parent
                }
                var text = ""
                for step in steps.reversed() {
                    switch step {
                    case .variable(let name): text += name
                    case .global(let key): text += objects.string(key).map { String($0.prefix(64)) } ?? "?"
                    case .attribute(let key): text += "." + (objects.string(key).map { String($0.prefix(64)) } ?? "?")
                    case .item(let index): text += "[\(index)]"
                    case .dictItem(let key): text += "[" + (objects.string(key).map { "'\($0.prefix(64))'" } ?? "…") + "]"
                    }
                }
                return text
            }

            /// The hit, if node `index` is it; else queues its children.
            func examine(_ index: Int, cellHops: Int = 0) -> Hit? {
                let node = nodes[index]
                guard node.object != 0, visited.insert(node.object).inserted, let info = objects.typeInfo(of: node.object) else { return nil }
                if info.name == "cell" {
                    // A cell variable: what it holds is the variable (a cell in a cell is garbage).
                    if cellHops == 0, let refField = layout.cellReference, let inner = memory.u64(node.object &+ UInt64(refField)) {
                        visited.remove(node.object)
                        nodes[index].object = inner
                        return examine(index, cellHops: 1)
                    }
                    return nil
                }
                if matches(node.object, info) {
                    return Hit(object: node.object, typeName: info.name, path: path(index), isGlobal: node.isGlobal,
                               parent: node.parent.map { nodes[$0].object })
                }
                guard node.depth < LockSearch.depth else { return nil }
                func child(_ object: UInt64, _ step: Step) {
                    guard nodes.count < LockSearch.queued else { return }
                    nodes.append(Node(object: object, step: step, depth: node.depth + 1, parent: index, isGlobal: node.isGlobal))
                }
                // Follow what can hold an object: small containers, instance attributes.
                if objects.hasFlag(info, layout.flagTupleSubclass) || info.name == "list" {
                    let items = objects.sequenceItems(node.object, list: info.name == "list", limit: LockSearch.itemsPerContainer) ?? []
                    for (i, item) in items.enumerated() { child(item, .item(i)) }
                    return nil
                }
                if objects.hasFlag(info, layout.flagDictSubclass) {
                    for entry in objects.dictEntries(node.object, limit: LockSearch.itemsPerContainer) ?? [] {
                        child(entry.value, .dictItem(key: entry.key))
                    }
                    return nil
                }
                // Strings and numbers have no attributes worth reading.
                if objects.hasFlag(info, layout.flagUnicodeSubclass) || objects.hasFlag(info, layout.flagLongSubclass) { return nil }
                for entry in objects.attributes(node.object, type: info, limit: LockSearch.attributesPerObject) ?? [] {
                    child(entry.value, .attribute(key: entry.key))
                }
                return nil
            }

            var next = 0
            var globalsAdded = false
            while visited.count < LockSearch.objects {
                if next == nodes.count || (!globalsAdded && nodes[next].depth > 1) {
                    // Globals join at depth 1, after the locals at depth 1.
                    guard !globalsAdded else { break }
                    globalsAdded = true
                    if let globalsField = layout.frameGlobals,
                       let globals = memory.u64(walked.frame.frameAddress &+ UInt64(globalsField)),
                       globals != 0, searchedGlobals.insert(globals).inserted {
                        let entries = objects.dictEntries(globals, limit: LockSearch.globalsPerFrame) ?? []
                        let tail = Array(nodes[next...])
                        nodes.removeSubrange(next...)
                        for entry in entries {
                            nodes.append(Node(object: entry.value, step: .global(key: entry.key), depth: 1, parent: nil, isGlobal: true))
                        }
                        nodes += tail
                    }
                    continue
                }
                if let hit = examine(next) { return hit }
                next += 1
            }
            return nil
        }
    }

    /// A frame's fast locals (cells included) by name.
    func frameLocals(_ walked: WalkedFrame, localsField: Int) -> [(name: String, value: UInt64)] {
        let objects = self.objects
        var names: [UInt64] = []
        let code = walked.code.address
        if let namesField = layout.codeLocalsPlusNames, let countField = layout.codeLocalsPlusCount {
            guard let tuple = memory.u64(code &+ UInt64(namesField)), let count = memory.u32(code &+ UInt64(countField)),
                  let items = objects.sequenceItems(tuple, list: false, limit: LockSearch.localsPerFrame) else { return [] }
            names = Array(items.prefix(Int(count)))
        } else if let varnames = layout.codeVarnames, let cellvars = layout.codeCellvars, let freevars = layout.codeFreevars,
                  let countField = layout.codeLocalsCount, let count = memory.u32(code &+ UInt64(countField)) {
            // 3.8–3.10: co_nlocals locals, then the cells, then the free variables.
            for (field, limit) in [(varnames, Int(count)), (cellvars, LockSearch.localsPerFrame), (freevars, LockSearch.localsPerFrame)] {
                guard let tuple = memory.u64(code &+ UInt64(field)),
                      let items = objects.sequenceItems(tuple, list: false, limit: LockSearch.localsPerFrame) else { return [] }
                names += items.prefix(limit)
            }
        }
        let count = min(names.count, LockSearch.localsPerFrame)
        guard count > 0, let values = memory.read(walked.frame.frameAddress &+ UInt64(localsField), count * 8) else { return [] }
        var locals: [(name: String, value: UInt64)] = []
        for i in 0..<count {
            guard let value = layout.objectPointer(Bytes.u64(values, i * 8)), let name = objects.string(names[i]) else { continue }
            locals.append((String(name.prefix(64)), value))
        }
        return locals
    }

    /// The module, owner and count of an importlib `_ModuleLock`.
    func importLock(_ moduleLock: UInt64) -> PythonLockObject.ImportLock? {
        let objects = self.objects
        guard let info = objects.typeInfo(of: moduleLock),
              let attributes = objects.attributes(moduleLock, type: info, limit: LockSearch.attributesPerObject) else { return nil }
        var values: [String: UInt64] = [:]
        for entry in attributes {
            if let name = objects.string(entry.key) { values[name] = entry.value }
        }
        guard let nameObject = values["name"], let module = objects.string(nameObject) else { return nil }
        let owner = values["owner"].flatMap { objects.unsignedInteger($0) }
        var count: Int?
        if let countObject = values["count"], let countType = objects.typeInfo(of: countObject) {
            count = countType.name == "list" ? objects.sequenceCount(countObject) : objects.unsignedInteger(countObject).map { Int(clamping: $0) }
        }
        return PythonLockObject.ImportLock(module: module, ownerIdent: owner, count: count)
    }
}
