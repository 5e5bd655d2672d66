#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import ProcFS
import Symbols
import Synchronization

/// CPython's runtime in one process, located once: which module holds `_PyRuntime` and where it
/// is, the exact version, and the layout used to read everything else. Reading threads, names,
/// stacks and lock objects goes through `memory`; nothing here stops, signals or traces the target.
public struct PythonRuntime: Sendable {
    /// The interpreter's version.
    public let version: PythonVersion
    /// Address of `_PyRuntime` in the target.
    public let runtimeAddress: UInt64
    /// The module (executable or libpython) that holds `_PyRuntime`.
    public let modulePath: String
    /// Where the offsets come from: `_Py_DebugOffsets` in the process (3.13+, for what it
    /// covers) and the generated table of the CPython build named.
    public let layoutSource: String
    /// Whether the generated table was measured on this exact version. When false, it was measured on
    /// another release of the same minor version, and the thread list was checked to fit it.
    public let layoutIsExact: Bool

    let layout: GeneratedLayout
    var memory: any RemoteMemoryReader
    /// Types and code objects already read in this call (set by `budgeted()`).
    var cache: ReadCache?
    /// Offset of the kernel thread ID in glibc's `struct pthread`, from libc's
    /// `_thread_db_pthread_tid` descriptor: maps an ident to a TID where the thread state has no
    /// `native_thread_id` (before 3.11).
    let pthreadTIDOffset: UInt64?

    var objects: ObjectReader { ObjectReader(memory: memory, layout: layout, minor: version.minor, cache: cache) }

    /// Most reads and bytes one public call may spend: far above what a real process needs (a
    /// whole stack is tens of reads, a lock search hundreds), and an end to any walk through garbage.
    static let readBudget = 100_000
    static let byteBudget = 16 << 20

    /// This runtime reading through a fresh budget.
    func budgeted() -> PythonRuntime {
        var copy = self
        copy.memory = BudgetedMemory(memory, reads: PythonRuntime.readBudget, bytes: PythonRuntime.byteBudget)
        copy.cache = ReadCache()
        return copy
    }

    /// The failure to report when a walk ended early: the budget, if it ran out, else `error`.
    func failure(_ error: PythonReadError) -> PythonReadError {
        if let budget = memory as? BudgetedMemory, budget.exhausted {
            return .inconsistent("gave up after \(PythonRuntime.readBudget) reads or \(PythonRuntime.byteBudget >> 20) MiB: the structures read do not end")
        }
        return error
    }

    /// Finds the interpreter in a process from its memory map: every mapped ELF module (the
    /// executable, libpython) is searched for `_PyRuntime` in `.dynsym`/`.symtab`, or a
    /// `.PyRuntime` section, and its address computed from the module's load base.
    /// `root`: where the process's paths lead (`/proc/PID/root` for a process in another mount
    /// namespace), so that its own files are read.
    public static func locate(mappings: [MemoryMapping], memory: any RemoteMemoryReader,
                              root: FileRoot = .host) -> Result<PythonRuntime, PythonReadError> {
        locate(mappings: mappings, memory: memory, root: root, cache: .shared)
    }

    /// Whether the executable at `path` (as `root` sees it) may hold a CPython runtime although
    /// it is not named like Python: a `.PyRuntime` section or a dynamic `_PyRuntime` symbol.
    public static func mayBeEmbedded(in path: String, root: FileRoot = .host) -> Bool {
        ModuleInfoCache.shared.mayHoldRuntime(path, root: root)
    }

    static func locate(mappings: [MemoryMapping], memory: any RemoteMemoryReader, root: FileRoot = .host,
                       cache: ModuleInfoCache) -> Result<PythonRuntime, PythonReadError> {
        let modules = LoadedModule.all(in: mappings)
        // The interpreter's own files first (`python3.11`, `libpython3.11.so.1.0`): one of them
        // almost always holds the runtime; extension modules (`_queue.cpython-311-….so`) never do.
        let ordered = modules.filter(\.isInterpreterNamed) + modules.filter { !$0.isInterpreterNamed }
        for module in ordered {
            guard let info = cache.info(for: module.path, root: root) else { continue }
            let runtimeValue = info.symbols["_PyRuntime"]?.value ?? info.pyRuntimeSection
            guard let runtimeValue, let bias = module.bias(info.file) else { continue }
            let runtime = runtimeValue &+ bias
            let versionAddress = info.symbols["Py_Version"].map { $0.value &+ bias }
            let libcTID = libcTIDDescriptor(modules: modules, memory: memory, root: root, cache: cache)
            let budget = BudgetedMemory(memory, reads: readBudget, bytes: byteBudget)
            return make(runtime: runtime, module: module.path, versionAddress: versionAddress,
                        pthreadTIDOffset: libcTID, memory: budget)
                .map { found in
                    var runtime = found
                    runtime.memory = memory
                    return runtime
                }
                .mapError { error in
                    budget.exhausted ? .inconsistent("gave up locating the runtime after \(readBudget) reads") : error
                }
        }
        return .failure(.noInterpreter)
    }

    static func make(runtime: UInt64, module: String, versionAddress: UInt64?, pthreadTIDOffset: UInt64?,
                     memory: any RemoteMemoryReader) -> Result<PythonRuntime, PythonReadError> {
        // 3.13+: the runtime starts with _Py_DebugOffsets.
        if let cookie = memory.read(runtime, 8), cookie == Array("xdebugpy".utf8) {
            return fromDebugOffsets(runtime: runtime, module: module, versionAddress: versionAddress,
                                    pthreadTIDOffset: pthreadTIDOffset, memory: memory)
        }
        let version: PythonVersion
        if let versionAddress {
            guard let hex = memory.u32(versionAddress) else { return .failure(.unreadable("Py_Version at 0x\(hex(versionAddress))")) }
            version = PythonVersion(hex: hex)
        } else {
            switch versionFromSys(runtime: runtime, memory: memory) {
            case .success(let found): version = found
            case .failure(let error): return .failure(error)
            }
        }
        guard version.major == 3, version.minor >= 8 else {
            return .failure(.unsupportedVersion(version, "only CPython 3.8 to 3.13 are read"))
        }
        if version.minor >= 13 {
            return .failure(.unsupportedVersion(version, "no _Py_DebugOffsets cookie at the start of _PyRuntime"))
        }
        guard let (layout, exact) = GeneratedLayout.best(for: version) else {
            return .failure(.unsupportedVersion(version, "no offset table for 3.\(version.minor) (Scripts/gen-python-offsets)"))
        }
        let candidate = PythonRuntime(version: version, runtimeAddress: runtime, modulePath: module,
                                      layoutSource: "headers of \(layout.source)", layoutIsExact: exact,
                                      layout: layout, memory: memory, pthreadTIDOffset: pthreadTIDOffset)
        return candidate.checked()
    }

    /// 3.13+: offsets from the process's own `_Py_DebugOffsets`, for everything it covers; the
    /// rest (dict internals, instance dicts, lock objects, `co_nlocalsplus`, `f_globals`) from the
    /// generated table of the same minor version.
    static func fromDebugOffsets(runtime: UInt64, module: String, versionAddress: UInt64?, pthreadTIDOffset: UInt64?,
                                 memory: any RemoteMemoryReader) -> Result<PythonRuntime, PythonReadError> {
        guard let header = memory.read(runtime, 16) else { return .failure(.unreadable("_Py_DebugOffsets")) }
        let version = PythonVersion(hex: UInt32(truncatingIfNeeded: Bytes.u64(header, 8)))
        if let versionAddress, let hex = memory.u32(versionAddress), hex != version.hex {
            return .failure(.inconsistent("_Py_DebugOffsets says \(version), Py_Version \(PythonVersion(hex: hex))"))
        }
        guard version.major == 3 else { return .failure(.unsupportedVersion(version, "not CPython 3")) }
        // The struct itself changes between minor versions: only read one whose layout is known.
        guard let (base, exact) = GeneratedLayout.best(for: version), let size = base.debugOffsetsSize else {
            return .failure(.unsupportedVersion(version, "_Py_DebugOffsets of 3.\(version.minor) has a layout this build does not know"))
        }
        guard let debug = memory.read(runtime, size) else { return .failure(.unreadable("_Py_DebugOffsets")) }
        func value(_ position: Int?) -> Int? {
            guard let position, position + 8 <= debug.count else { return nil }
            let raw = Bytes.u64(debug, position)
            return raw < 1 << 20 ? Int(raw) : nil
        }
        if let freeThreaded = value(base.debugFreeThreaded), freeThreaded != 0 {
            return .failure(.unsupportedVersion(version, "free-threaded build"))
        }
        var layout = base
        var disagreements: [String] = []
        func take(_ key: WritableKeyPath<GeneratedLayout, Int?>, _ position: Int?, _ name: String) {
            guard let read = value(position) else { return }
            if let generated = layout[keyPath: key], generated != read { disagreements.append(name) }
            layout[keyPath: key] = read
        }
        take(\.runtimeInterpretersHead, base.debugInterpretersHead, "interpreters_head")
        take(\.interpNext, base.debugInterpNext, "interp.next")
        take(\.interpThreadsHead, base.debugInterpThreadsHead, "threads_head")
        take(\.interpModules, base.debugInterpModules, "imports_modules")
        take(\.interpSysdict, base.debugInterpSysdict, "sysdict")
        take(\.interpGilPointer, base.debugInterpGilPointer, "ceval_gil")
        if let state = value(base.debugInterpGilState), let locked = value(base.debugInterpGilLocked),
           let holder = value(base.debugInterpGilHolder), locked >= state, holder >= state {
            layout.gilLocked = locked - state
            layout.gilLastHolder = holder - state
        }
        take(\.tstateNext, base.debugTstateNext, "tstate.next")
        take(\.tstateInterp, base.debugTstateInterp, "tstate.interp")
        take(\.tstateFrame, base.debugTstateCurrentFrame, "current_frame")
        take(\.tstateThreadId, base.debugTstateThreadId, "thread_id")
        take(\.tstateNativeThreadId, base.debugTstateNativeThreadId, "native_thread_id")
        take(\.frameBack, base.debugFramePrevious, "frame.previous")
        take(\.frameCode, base.debugFrameExecutable, "frame.executable")
        take(\.frameInstruction, base.debugFrameInstrPtr, "frame.instr_ptr")
        take(\.frameLocalsPlus, base.debugFrameLocalsPlus, "frame.localsplus")
        take(\.frameOwner, base.debugFrameOwner, "frame.owner")
        take(\.codeFilename, base.debugCodeFilename, "co_filename")
        take(\.codeName, base.debugCodeName, "co_name")
        take(\.codeQualname, base.debugCodeQualname, "co_qualname")
        take(\.codeLineTable, base.debugCodeLinetable, "co_linetable")
        take(\.codeFirstLineNumber, base.debugCodeFirstLineNumber, "co_firstlineno")
        take(\.codeLocalsPlusNames, base.debugCodeLocalsPlusNames, "co_localsplusnames")
        take(\.codeCodeAdaptive, base.debugCodeCodeAdaptive, "co_code_adaptive")
        take(\.objectType, base.debugObjectType, "ob_type")
        take(\.typeName, base.debugTypeName, "tp_name")
        take(\.typeFlags, base.debugTypeFlags, "tp_flags")
        take(\.tupleItems, base.debugTupleItems, "tuple.ob_item")
        take(\.listItems, base.debugListItems, "list.ob_item")
        take(\.dictKeys, base.debugDictKeys, "ma_keys")
        take(\.dictValues, base.debugDictValues, "ma_values")
        take(\.longTag, base.debugLongTag, "lv_tag")
        take(\.longDigits, base.debugLongDigits, "ob_digit")
        take(\.bytesData, base.debugBytesData, "ob_sval")
        take(\.unicodeState, base.debugUnicodeState, "unicode.state")
        take(\.unicodeLength, base.debugUnicodeLength, "unicode.length")
        take(\.unicodeAsciiSize, base.debugUnicodeAsciiSize, "asciiobject_size")
        // Where the process's own offsets differ from the headers the table was measured on, the
        // table's other numbers (the ones the process does not publish) cannot be trusted either.
        if !disagreements.isEmpty {
            return .failure(.unsupportedVersion(version, "its _Py_DebugOffsets differ from the headers of \(base.source) in \(disagreements.joined(separator: ", "))"))
        }
        let candidate = PythonRuntime(version: version, runtimeAddress: runtime, modulePath: module,
                                      layoutSource: "_Py_DebugOffsets, and headers of \(base.source)",
                                      layoutIsExact: exact, layout: layout, memory: memory,
                                      pthreadTIDOffset: pthreadTIDOffset)
        return candidate.checked()
    }

    /// The version of an interpreter without a `Py_Version` symbol (3.8–3.10 have none; a 3.11 or
    /// 3.12 build could lack it): `sys.hexversion`, read from the running interpreter's own `sys`
    /// module.
    ///
    /// This is reliable because the interpreter itself stores `PY_VERSION_HEX`, the constant it was
    /// compiled with, in `sys.__dict__['hexversion']` when it creates the `sys` module, before any
    /// Python code runs. The reader needs a layout to reach that dict (`_PyRuntime` → interpreter →
    /// `sysdict`), so each known 3.8–3.12 layout is tried, and one is accepted only when the path
    /// it describes leads to a dict holding `hexversion` whose value names that same minor version.
    /// A wrong layout would have to land on a dict with that key and a matching value by chance.
    /// (py-spy and pystack instead search `.bss` for the text `Py_GetVersion()` formatted.)
    static func versionFromSys(runtime: UInt64, memory: any RemoteMemoryReader) -> Result<PythonVersion, PythonReadError> {
        var tried: [String] = []
        for minor in 8...12 {
            guard let layout = GeneratedLayout.all.last(where: { PythonVersion(hex: $0.hexVersion).minor == minor }),
                  let headField = layout.runtimeInterpretersHead, let sysField = layout.interpSysdict else { continue }
            tried.append("3.\(minor)")
            let objects = ObjectReader(memory: memory, layout: layout, minor: minor, cache: nil)
            guard let interp = memory.u64(runtime &+ UInt64(headField)), interp != 0,
                  let sysdict = memory.u64(interp &+ UInt64(sysField)), sysdict != 0,
                  let type = objects.typeInfo(of: sysdict), objects.hasFlag(type, layout.flagDictSubclass),
                  let hexObject = objects.dictLookup(sysdict, "hexversion", limit: 512),
                  let hex = objects.unsignedInteger(hexObject), hex <= UInt32.max else { continue }
            let version = PythonVersion(hex: UInt32(hex))
            if version.major == 3 && version.minor == minor { return .success(version) }
        }
        return .failure(.unknownVersion("no Py_Version, and sys.hexversion was not found through the layouts of \(tried.joined(separator: ", "))"))
    }

    /// Checks that the layout fits: the first interpreter's first thread state points back at it.
    func checked() -> Result<PythonRuntime, PythonReadError> {
        switch interpreters() {
        case .failure(let error): return .failure(error)
        case .success(let interpreters):
            guard let first = interpreters.first else { return .failure(.inconsistent("no interpreter (not initialised yet, or finalised)")) }
            guard let head = layout.interpThreadsHead, let interpField = layout.tstateInterp,
                  let tstate = memory.u64(first &+ UInt64(head)) else { return .failure(.unreadable("the thread list of interpreter 0x\(hex(first))")) }
            if tstate != 0 {
                guard let back = memory.u64(tstate &+ UInt64(interpField)) else { return .failure(.unreadable("thread state 0x\(hex(tstate))")) }
                guard back == first else {
                    return .failure(.inconsistent("thread state 0x\(hex(tstate)) does not point back at interpreter 0x\(hex(first)): the offsets of \(layout.source) do not fit \(version)"))
                }
            }
            return .success(self)
        }
    }

    /// Every interpreter, the newest first (the main one last), at most 256.
    func interpreters() -> Result<[UInt64], PythonReadError> {
        guard let headField = layout.runtimeInterpretersHead, let nextField = layout.interpNext else {
            return .failure(.unsupportedVersion(version, "no interpreter list offsets"))
        }
        guard var interp = memory.u64(runtimeAddress &+ UInt64(headField)) else {
            return .failure(.unreadable("_PyRuntime at 0x\(hex(runtimeAddress))"))
        }
        var found: [UInt64] = []
        var seen = Set<UInt64>()
        while interp != 0, found.count < 256, seen.insert(interp).inserted {
            found.append(interp)
            guard let next = memory.u64(interp &+ UInt64(nextField)) else { return .failure(.unreadable("interpreter 0x\(hex(interp))")) }
            interp = next
        }
        return .success(found)
    }

    /// libc's `_thread_db_pthread_tid` descriptor (`{bits, count, offset}`, glibc's nptl_db), which
    /// says where `struct pthread` keeps the thread's TID; nil unless it reads as one 32-bit field.
    static func libcTIDDescriptor(modules: [LoadedModule], memory: any RemoteMemoryReader, root: FileRoot,
                                  cache: ModuleInfoCache) -> UInt64? {
        for module in modules where module.isLibc {
            guard let info = cache.info(for: module.path, root: root),
                  let symbol = info.symbols["_thread_db_pthread_tid"], let bias = module.bias(info.file),
                  let descriptor = memory.read(symbol.value &+ bias, 12) else { continue }
            let bits = Bytes.u32(descriptor, 0), count = Bytes.u32(descriptor, 4), offset = Bytes.u32(descriptor, 8)
            if bits == 32 && count == 1 && offset < 1 << 16 { return UInt64(offset) }
        }
        return nil
    }
}

extension GeneratedLayout {
    /// The table for `version`: the one measured on that exact version, else the newest of the same
    /// minor version (exact: false); nil when no table has this minor version.
    static func best(for version: PythonVersion) -> (GeneratedLayout, exact: Bool)? {
        if let exact = all.first(where: { $0.hexVersion == version.hex }) { return (exact, true) }
        let sameMinor = all.filter { PythonVersion(hex: $0.hexVersion).major == version.major
            && PythonVersion(hex: $0.hexVersion).minor == version.minor }
        return sameMinor.last.map { ($0, false) }
    }
}

/// A file-backed ELF module as mapped in the target.
struct LoadedModule {
    var path: String
    /// The mapping with the lowest file offset.
    var first: MemoryMapping

    var isInterpreterNamed: Bool {
        let name = lastPathComponent(path).utf8
        return name.starts(with: "python".utf8) || name.starts(with: "libpython".utf8)
    }
    var isLibc: Bool { first.isLibc }

    /// Distinct modules in map order.
    static func all(in mappings: [MemoryMapping]) -> [LoadedModule] {
        var order: [String] = []
        var firsts: [String: MemoryMapping] = [:]
        for mapping in mappings where mapping.path.hasPrefix("/") && !mapping.path.hasSuffix(" (deleted)") && mapping.inode != 0 {
            if let known = firsts[mapping.path] {
                if mapping.offset < known.offset { firsts[mapping.path] = mapping }
            } else {
                order.append(mapping.path)
                firsts[mapping.path] = mapping
            }
        }
        return order.map { LoadedModule(path: $0, first: firsts[$0]!) }
    }

    /// Load bias: the target address minus the link-time address.
    func bias(_ file: ELFFile) -> UInt64? {
        guard let linked = file.virtualAddress(forFileOffset: first.offset) else { return nil }
        return first.start &- linked
    }
}

/// What the locator needs from a module's file, cached by its root, path and file identity: pool
/// workers and forked children share their parent's files. Files are read through the process's
/// root (`/proc/PID/root` in a container): the host's file at the same path may be another one.
final class ModuleInfoCache: Sendable {
    struct Info {
        var file: ELFFile
        var symbols: [String: ELFSymbol]
        var pyRuntimeSection: UInt64?
    }
    private struct Key: Hashable {
        var root: FileRoot
        var path: String
    }

    static let shared = ModuleInfoCache()

    private let entries = Mutex<[Key: (identity: FileIdentity, info: Info?)]>([:])
    private let probes = Mutex<[Key: (identity: FileIdentity, holds: Bool)]>([:])

    func info(for path: String, root: FileRoot = .host) -> Info? {
        let key = Key(root: root, path: path)
        guard let identity = FileIdentity(path: path, root: root) else { return nil }
        if let cached = entries.withLock({ $0[key] }), cached.identity == identity { return cached.info }
        var info: Info?
        if let file = try? ELFFile(path: path, root: root, loadSymbols: false) {
            // glibc's thread descriptor offset is in libc, the interpreter's runtime anywhere else.
            let names: Set<String> = isLibcName(lastPathComponent(path)) ? ["_thread_db_pthread_tid"] : ["_PyRuntime", "Py_Version"]
            info = Info(file: file, symbols: file.symbols(named: names),
                        pyRuntimeSection: file.section(named: ".PyRuntime")?.address)
        }
        entries.withLock { $0[key] = (identity, info) }
        return info
    }

    /// Whether the file holds a CPython runtime by what is cheap to see: a `.PyRuntime` section
    /// (3.11+ builds) or `_PyRuntime` among its dynamic symbols. For a program not named like
    /// Python (a renamed or embedding executable) before its whole symbol table is searched.
    func mayHoldRuntime(_ path: String, root: FileRoot = .host) -> Bool {
        let key = Key(root: root, path: path)
        guard let identity = FileIdentity(path: path, root: root) else { return false }
        if let cached = probes.withLock({ $0[key] }), cached.identity == identity { return cached.holds }
        let holds = (try? ELFFile(path: path, root: root, loadSymbols: false)).map { file in
            file.section(named: ".PyRuntime") != nil || !file.symbols(named: ["_PyRuntime"], dynamicOnly: true).isEmpty
        } ?? false
        probes.withLock { $0[key] = (identity, holds) }
        return holds
    }
}

func hex(_ value: UInt64) -> String { String(value, radix: 16) }
