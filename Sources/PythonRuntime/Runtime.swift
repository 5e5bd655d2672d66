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
    /// The process and the root its paths lead to, where `locate` was given them: 3.14+ finds
    /// `_AsyncioDebug` in the files it maps.
    var processID: Int32? = nil
    var fileRoot: FileRoot = .host

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
    /// namespace), so that its own files are read. `pid`: the process, whose mapped files
    /// (`/proc/PID/map_files`) are read first where they can be opened: the very files mapped,
    /// wherever its paths lead.
    public static func locate(mappings: [MemoryMapping], memory: any RemoteMemoryReader,
                              root: FileRoot = .host, pid: Int32? = nil) -> Result<PythonRuntime, PythonReadError> {
        locate(mappings: mappings, memory: memory, root: root, pid: pid, cache: .shared)
    }

    /// Whether the executable at `path` (as `root` sees it) may hold a CPython runtime although
    /// it is not named like Python: a `.PyRuntime` section or a dynamic `_PyRuntime` symbol.
    public static func mayBeEmbedded(in path: String, root: FileRoot = .host) -> Bool {
        ModuleInfoCache.shared.mayHoldRuntime(ModuleSource(path: path, root: root))
    }

    static func locate(mappings: [MemoryMapping], memory: any RemoteMemoryReader, root: FileRoot = .host,
                       pid: Int32? = nil, cache: ModuleInfoCache) -> Result<PythonRuntime, PythonReadError> {
        let modules = LoadedModule.all(in: mappings)
        // The interpreter's own files first (`python3.11`, `libpython3.11.so.1.0`): one of them
        // almost always holds the runtime; extension modules (`_queue.cpython-311-….so`) never do.
        let ordered = modules.filter(\.isInterpreterNamed) + modules.filter { !$0.isInterpreterNamed }
        for module in ordered {
            guard let info = cache.info(for: module.source(root: root, pid: pid)) else { continue }
            let runtimeValue = info.symbols["_PyRuntime"]?.value ?? info.pyRuntimeSection
            guard let runtimeValue, let bias = module.bias(info.file) else { continue }
            let runtime = runtimeValue &+ bias
            let versionAddress = info.symbols["Py_Version"].map { $0.value &+ bias }
            let libcTID = libcTIDDescriptor(modules: modules, memory: memory, root: root, pid: pid, cache: cache)
            let budget = BudgetedMemory(memory, reads: readBudget, bytes: byteBudget)
            return make(runtime: runtime, module: module.path, versionAddress: versionAddress,
                        pthreadTIDOffset: libcTID, memory: budget)
                .map { found in
                    var runtime = found
                    runtime.memory = memory
                    runtime.processID = pid
                    runtime.fileRoot = root
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
            return .failure(.unsupportedVersion(version, "only CPython \(supportedRange) are read"))
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

    /// 3.13+: offsets from the process's own `_Py_DebugOffsets`, for everything it publishes;
    /// the rest (dict internals, instance dicts, lock objects, `co_nlocalsplus`, `f_globals`) from
    /// the generated table of the same minor version. The table's own layout (where each offset
    /// sits in it) is the generated one of that minor version: another minor version is refused.
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
            return .failure(.unsupportedVersion(version, "the layout of its _Py_DebugOffsets (3.\(version.minor)) is not known to this build, which reads CPython \(supportedRange)"))
        }
        // A pre-release's table may be laid out otherwise than its final release's: only one
        // measured itself is read.
        guard exact || version.releaseLevel == 0xf else {
            return .failure(.unsupportedVersion(version, "a pre-release, whose _Py_DebugOffsets may be laid out otherwise than \(PythonVersion(hex: base.hexVersion))'s, the release this build's table of 3.\(version.minor) was measured on"))
        }
        guard let debug = memory.read(runtime, size) else { return .failure(.unreadable("_Py_DebugOffsets")) }
        if let field = base.debugFreeThreaded, Bytes.u64(debug, field) != 0 {
            return .failure(.unsupportedVersion(version, "a free-threaded build (\(version.major).\(version.minor)t), whose objects are laid out otherwise; only default builds are read"))
        }
        switch DebugOffsets.read(debug, positions: base) {
        case .failure(let error): return .failure(error)
        case .success(let published):
            var layout = base
            published.apply(to: &layout)
            // Where the process's own offsets differ from the headers the table was measured on,
            // the table's other numbers (the ones the process does not publish) may be stale too:
            // the layout is not exact, and says where it differs.
            let differing = published.differences(from: base)
            let source = "_Py_DebugOffsets, and headers of \(base.source)"
                + (differing.isEmpty ? "" : " (which differ in \(differing.joined(separator: ", ")))")
            let candidate = PythonRuntime(version: version, runtimeAddress: runtime, modulePath: module,
                                          layoutSource: source, layoutIsExact: exact && differing.isEmpty, layout: layout,
                                          memory: memory, pthreadTIDOffset: pthreadTIDOffset)
            return candidate.checked()
        }
    }

    /// The versions read: `3.8 to 3.15`.
    public static var supportedRange: String {
        let minors = GeneratedLayout.all.map { PythonVersion(hex: $0.hexVersion).minor }
        return "3.\(minors.min() ?? 8) to 3.\(minors.max() ?? 8)"
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
                                  pid: Int32?, cache: ModuleInfoCache) -> UInt64? {
        for module in modules where module.isLibc {
            guard let info = cache.info(for: module.source(root: root, pid: pid)),
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

    /// Where its file is read: the mapped file of process `pid` first, else its path in `root`.
    func source(root: FileRoot, pid: Int32?) -> ModuleSource {
        ModuleSource(path: path, root: root,
                     mappedFile: pid.map { "/proc/\($0)/map_files/\(hex(first.start))-\(hex(first.end))" })
    }

    /// Load bias: the target address minus the link-time address.
    func bias(_ file: ELFFile) -> UInt64? {
        guard let linked = file.virtualAddress(forFileOffset: first.offset) else { return nil }
        return first.start &- linked
    }
}

/// What the locator needs from a module's file, cached by file identity: pool workers and forked
/// children share their parent's files. Files are read as the process maps them (its mapped file,
/// or its path in the process's root: in a container, the host's file at the same path may be
/// another one).
final class ModuleInfoCache: Sendable {
    struct Info {
        var file: ELFFile
        var symbols: [String: ELFSymbol]
        var pyRuntimeSection: UInt64?
        /// The link-time address and size of `.AsyncioDebug` (3.14+: `_asyncio`'s, or the executable's).
        var asyncioDebugSection: (address: UInt64, size: UInt64)?
    }

    static let shared = ModuleInfoCache()

    private let entries = Mutex<[FileIdentity: Info?]>([:])
    private let probes = Mutex<[FileIdentity: Bool]>([:])

    func info(for source: ModuleSource) -> Info? {
        guard let opened = source.open() else { return nil }
        if let cached = entries.withLock({ $0[opened.identity] }) {
            opened.close()
            return cached
        }
        var info: Info?
        if let file = try? ELFFile(descriptor: opened.fd, path: opened.label, loadSymbols: false) {
            // glibc's thread descriptor offset is in libc, the interpreter's runtime anywhere else.
            let names: Set<String> = isLibcName(lastPathComponent(source.path)) ? ["_thread_db_pthread_tid"] : ["_PyRuntime", "Py_Version"]
            info = Info(file: file, symbols: file.symbols(named: names),
                        pyRuntimeSection: file.section(named: ".PyRuntime")?.address,
                        asyncioDebugSection: file.section(named: ".AsyncioDebug").map { ($0.address, $0.size) })
        }
        entries.withLock { $0[opened.identity] = .some(info) }
        return info
    }

    /// Whether the file holds a CPython runtime by what is cheap to see: a `.PyRuntime` section
    /// (3.11+ builds) or `_PyRuntime` among its dynamic symbols. For a program not named like
    /// Python (a renamed or embedding executable) before its whole symbol table is searched.
    func mayHoldRuntime(_ source: ModuleSource) -> Bool {
        guard let opened = source.open() else { return false }
        if let cached = probes.withLock({ $0[opened.identity] }) {
            opened.close()
            return cached
        }
        let holds = (try? ELFFile(descriptor: opened.fd, path: opened.label, loadSymbols: false)).map { file in
            file.section(named: ".PyRuntime") != nil || !file.symbols(named: ["_PyRuntime"], dynamicOnly: true).isEmpty
        } ?? false
        probes.withLock { $0[opened.identity] = holds }
        return holds
    }
}

func hex(_ value: UInt64) -> String { String(value, radix: 16) }
