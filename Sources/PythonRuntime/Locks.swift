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
        // 3.13.1 made threading.Lock a PyMutex, whose waiters sleep elsewhere: only 3.13.0's
        // layout (as every earlier version's) is known here.
        if version.minor > 13 || (version.minor == 13 && version.hex > 0x030d_00f0) {
            return .failure(.unsupportedVersion(version, "its lock objects are not the semaphore-based ones of 3.8 to 3.13.0"))
        }
        guard let lockHandle = layout.lockHandle, let rlockHandle = layout.rlockHandle,
              let localsField = layout.frameLocalsPlus else {
            return .failure(.unsupportedVersion(version, "no lock object offsets"))
        }
        let objects = self.objects
        func type(of object: UInt64) -> ObjectReader.TypeInfo? { objects.typeInfo(of: object) }

        /// How a node was reached from its parent; names are read only for the path of a find.
        enum Step {
            case variable(String)
            case global(key: UInt64)
            case attribute(key: UInt64)
            case item(Int)
            case dictItem(key: UInt64)
        }
        struct Node {
            var object: UInt64
            var step: Step
            var depth: Int
            var parent: Int?
            var isGlobal: Bool
        }
        var nodes: [Node] = []
        var visited = Set<UInt64>()
        var frameIndex = 0

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

        /// The lock, if node `index` is it; else queues its children.
        func examine(_ index: Int, function: String, cellHops: Int = 0) -> PythonLockObject? {
            let node = nodes[index]
            guard node.object != 0, visited.insert(node.object).inserted, let info = type(of: node.object) else { return nil }
            if info.name == "_thread.lock" || info.name == "_thread.RLock" {
                let rlock = info.name == "_thread.RLock"
                guard let handle = memory.u64(node.object &+ UInt64(rlock ? rlockHandle : lockHandle)), handle == futex else { return nil }
                var lock = PythonLockObject(kind: rlock ? .rlock : .lock, typeName: info.name, address: node.object,
                                            path: path(index), isGlobal: node.isGlobal, frameIndex: frameIndex,
                                            function: function)
                if rlock, let ownerField = layout.rlockOwner, let countField = layout.rlockCount,
                   let owner = memory.u64(node.object &+ UInt64(ownerField)),
                   let count = memory.u64(node.object &+ UInt64(countField)) {
                    lock.count = count
                    lock.ownerIdent = count > 0 && owner != 0 ? owner : nil
                }
                if let parent = node.parent, let parentType = type(of: nodes[parent].object), parentType.name == "_ModuleLock" {
                    lock.importLock = importLock(nodes[parent].object)
                }
                return lock
            }
            guard node.depth < LockSearch.depth else { return nil }
            func child(_ object: UInt64, _ step: Step) {
                guard nodes.count < LockSearch.queued else { return }
                nodes.append(Node(object: object, step: step, depth: node.depth + 1, parent: index, isGlobal: node.isGlobal))
            }
            // Follow what can hold a lock: cells, small containers, instance attributes.
            if info.name == "cell" {
                // A cell variable: what it holds is the variable (a cell in a cell is garbage).
                if cellHops == 0, let refField = layout.cellReference, let inner = memory.u64(node.object &+ UInt64(refField)) {
                    visited.remove(node.object)
                    nodes[index].object = inner
                    return examine(index, function: function, cellHops: 1)
                }
                return nil
            }
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

        var found: PythonLockObject?
        var searchedGlobals = Set<UInt64>()
        let walk = walkFrames(threadState: threadState) { walked in
            defer { frameIndex += 1 }
            guard frameIndex < LockSearch.frames else { return false }
            // Breadth first from the frame's variables, locals before its module's globals (each
            // module once): the shallowest path is the one reported, and a lock in a plain
            // variable is found before the search wanders through big objects.
            nodes.removeAll(keepingCapacity: true)
            for local in frameLocals(walked, localsField: localsField) {
                nodes.append(Node(object: local.value, step: .variable(local.name), depth: 1, parent: nil, isGlobal: false))
            }
            var next = 0
            var globalsAdded = false
            while found == nil, visited.count < LockSearch.objects {
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
                found = examine(next, function: walked.frame.function)
                next += 1
            }
            return found == nil
        }
        if let found { return .success(found) }
        if case .failure(let error) = walk { return .failure(error) }
        return .success(nil)
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
            let value = Bytes.u64(values, i * 8)
            guard value != 0, let name = objects.string(names[i]) else { continue }
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
