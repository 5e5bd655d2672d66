#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The symbols loaded for one module (executable or shared library), and its DWARF line
/// information, read when first asked for.
public final class ModuleSymbols: @unchecked Sendable {
    /// The module as parsed (symbols included).
    public let module: ELFFile
    /// The separate debug file whose `.symtab` was used, if any.
    public let debugFilePath: String?
    /// The function symbols: `.symtab` (own or the debug file's), else `.dynsym`.
    public let table: SymbolTable
    private let locator: DebugFileLocator
    private let modulePath: String
    private let debugFile: ELFFile?
    private let lock = Lock()
    private let lookups = Lock()
    private let checkedLock = Lock()
    private var checked = Set<Mapping>()
    private var debugInfo: DebugInfo??

    /// Loads `path` and, when it has no `.symtab`, its separate debug file.
    public convenience init(path: String, locator: DebugFileLocator = DebugFileLocator()) throws(ELFError) {
        self.init(module: try ELFFile(path: path), locator: locator)
    }

    /// Uses `module` (already parsed) and, when it has no `.symtab`, its separate debug file.
    /// `modulePath` is the module's path as seen from the locator's root (where debug links
    /// next to it are looked for); by default the path it was opened with.
    public init(module: ELFFile, modulePath: String? = nil, locator: DebugFileLocator = DebugFileLocator()) {
        let modulePath = modulePath ?? module.path
        var lists: [(table: FunctionTable, source: SymbolSource)] = []
        var debugPath: String?
        var debug: ELFFile?
        if module.hasSymtab {
            lists.append((module.symtab, .symtab))
        } else if let file = locator.locateFile(for: module, modulePath: modulePath) {
            debugPath = file.path
            debug = file
            lists.append((file.symtab, .debugFile(file.path)))
        }
        // A full .symtab (the module's or its debug file's) holds every .dynsym function too.
        if lists.isEmpty { lists.append((module.dynsym, .dynsym)) }
        self.module = module
        self.modulePath = modulePath
        self.locator = locator
        self.debugFile = debug
        self.debugFilePath = debugPath
        self.table = SymbolTable(tables: lists)
    }

    /// The symbol at a file offset within the module (address - mapping start + mapping offset).
    public func symbolize(fileOffset: UInt64) -> Symbol? {
        guard let address = module.virtualAddress(forFileOffset: fileOffset) else { return nil }
        return table.lookup(address)
    }

    /// The source position (and inlined calls) at a file offset within the module; nil when
    /// neither the module nor its debug file has DWARF line information for it.
    public func sourceInfo(fileOffset: UInt64) -> SourceInfo? {
        guard let address = module.virtualAddress(forFileOffset: fileOffset) else { return nil }
        return sourceInfo(virtualAddress: address)
    }

    /// The source position (and inlined calls) at a link-time virtual address of the module. The
    /// DWARF reader fills its caches as it goes: one thread at a time.
    public func sourceInfo(virtualAddress address: UInt64) -> SourceInfo? {
        guard let info = dwarf(covering: [address]) else { return nil }
        return lookups.withLock { info.sourceInfo(at: address) }
    }

    /// Reads the module's DWARF now, so that `sourceInfo` finds it loaded (another thread may
    /// do this while this one unwinds). With `fileOffsets`, a compressed debug file's is read only
    /// as far as their units need; looking up another address later reads it whole.
    public func loadSourceInfo(covering fileOffsets: [UInt64]? = nil) {
        _ = dwarf(covering: fileOffsets.map { $0.compactMap(module.virtualAddress(forFileOffset:)) }, inPart: fileOffsets != nil)
    }

    /// Whether another thread is reading the module's DWARF at this moment: `sourceInfo` would
    /// wait until it is read.
    public var isLoadingSourceInfo: Bool { lock.isHeld }

    /// Where a process maps a file: its address and the file mapped there (device and inode, as
    /// `/proc/PID/maps` gives them).
    public struct Mapping: Hashable, Sendable {
        public var start: UInt64
        public var device: String
        public var inode: UInt64

        public init(start: UInt64, device: String, inode: UInt64) {
            self.start = start
            self.device = device
            self.inode = inode
        }
    }

    /// Whether `mapping` was found to hold this very module (by its build-id in memory), in any
    /// process: a forked child maps its parent's files at the same addresses, so one check
    /// serves them all.
    public func isCheckedMapping(_ mapping: Mapping) -> Bool { checkedLock.withLock { checked.contains(mapping) } }

    /// Notes that `mapping` holds this module.
    public func checkedMapping(_ mapping: Mapping) {
        checkedLock.withLock {
            if checked.count >= 4096 { checked.removeAll() }
            checked.insert(mapping)
        }
    }

    /// The module's DWARF, else its debug file's (found now if the symbols did not need it),
    /// with what looking up `addresses` (link-time virtual addresses; nil: any) needs. When it
    /// has to be read, `inPart` reads a compressed debug file's only as far as those need.
    func dwarf(covering addresses: [UInt64]? = nil, inPart: Bool = false) -> DebugInfo? {
        lock.withLock {
            if let loaded = debugInfo {
                guard let info = loaded else { return nil }
                if addresses.map({ $0.allSatisfy(info.covers) }) ?? info.isWhole { return info }
            }
            func read(_ part: [UInt64]?) -> DebugInfo? {
                func sections(_ file: ELFFile) -> DWARFSections? {
                    part.map { DWARFSections(file, covering: $0) } ?? DWARFSections(file)
                }
                let debug = { self.debugFile ?? self.locator.locateFile(for: self.module, modulePath: self.modulePath, loadSymbols: false) }
                return (sections(module) ?? debug().flatMap(sections)).map { DebugInfo(sections: $0) }
            }
            var loaded = read(inPart ? addresses : nil)
            // Read in part, yet not enough (a unit refers to DIEs of others): read whole.
            if inPart, let partial = loaded, let addresses, !addresses.allSatisfy(partial.covers) { loaded = read(nil) }
            debugInfo = .some(loaded)
            return loaded
        }
    }
}

/// Where a module's bytes are read from, and where its debug files are looked for.
public struct ModuleSource: Sendable, Hashable {
    /// The module's path as its process sees it (as `/proc/PID/maps` gives it).
    public var path: String
    /// The root that path is seen from; debug files are looked for inside it first.
    public var root: FileRoot
    /// A path of this tool's to open first: `/proc/PID/map_files/START-END`, the very file that is
    /// mapped (opening it needs CAP_SYS_ADMIN); when it cannot be opened, `path` in `root` is.
    public var mappedFile: String?

    public init(path: String, root: FileRoot = .host, mappedFile: String? = nil) {
        self.path = path
        self.root = root
        self.mappedFile = mappedFile
    }

    /// The module's file, open: the mapped file itself when `mappedFile` opens, else `path` in
    /// `root`; nil when neither opens.
    public func open() -> OpenedFile? {
        if let mappedFile {
            let fd = FileRoot.host.open(mappedFile)
            if fd >= 0, let opened = OpenedFile(fd: fd, label: mappedFile) { return opened }
        }
        let fd = root.open(path)
        return fd >= 0 ? OpenedFile(fd: fd, label: root.displayPath(path)) : nil
    }
}

/// A file descriptor with the identity of the file it is open on. Whoever takes `fd` closes it
/// (`ELFFile(descriptor:)` does); otherwise call `close()`.
public struct OpenedFile: Sendable {
    public let fd: Int32
    /// The path it was opened by, for messages.
    public let label: String
    public let identity: FileIdentity

    /// Takes over `fd`: closed here when it cannot be stat'ed.
    init?(fd: Int32, label: String) {
        var st = stat()
        guard fstat(fd, &st) == 0 else {
            Glibc.close(fd)
            return nil
        }
        self.fd = fd
        self.label = label
        identity = FileIdentity(st)
    }

    public func close() { Glibc.close(fd) }
}

/// Turns (module path, file offset) pairs from `/proc/PID/maps` into function names.
///
/// Modules are loaded once and cached by the identity of the file opened (device, inode, size,
/// mtime) and the root its debug files are looked for in; a replaced file is a new entry.
/// Failures (not ELF) are cached the same way. All state is guarded by a lock, so one instance
/// may be shared between threads.
public final class Symbolizer: @unchecked Sendable {
    private struct CacheKey: Hashable {
        var identity: FileIdentity
        var root: FileRoot
    }

    /// Global debug directories.
    public let debugRoots: [String]
    /// How debug files are found for modules of the host's root.
    public var locator: DebugFileLocator { DebugFileLocator(roots: debugRoots) }
    /// One file's symbols, nil until loaded (`.some(nil)`: not ELF).
    private final class Slot: @unchecked Sendable {
        let lock = Lock()
        var symbols: ModuleSymbols??
    }
    private var cache: [CacheKey: Slot] = [:]
    private let lock = Lock()

    /// Creates a symbolizer looking for separate debug files under `debugRoots`.
    public init(debugRoots: [String] = ["/usr/lib/debug"]) {
        self.debugRoots = debugRoots
    }

    /// One for the whole process, looking under `/usr/lib/debug`.
    public static let shared = Symbolizer()

    /// Modules kept at most.
    static let mostModules = 1024

    /// The function containing `moduleOffset`, a FILE offset within `module`
    /// (address - mapping start + mapping offset), or nil when no symbol covers it.
    public func symbolize(module: String, moduleOffset: UInt64) -> Symbol? {
        symbols(for: module)?.symbolize(fileOffset: moduleOffset)
    }

    /// The source position of a FILE offset within `module`, with the functions inlined there;
    /// nil without DWARF line information for it.
    public func sourceInfo(module: String, moduleOffset: UInt64) -> SourceInfo? {
        symbols(for: module)?.sourceInfo(fileOffset: moduleOffset)
    }

    /// The function containing the link-time virtual `address` of `module`, or nil.
    public func symbolize(module: String, virtualAddress address: UInt64) -> Symbol? {
        symbols(for: module)?.table.lookup(address)
    }

    /// The GNU build-id of `module` as lowercase hex, or nil.
    public func buildID(of module: String) -> String? {
        symbols(for: module)?.module.buildIDHex
    }

    /// The separate debug file used for `module`, or nil when none was needed or found.
    public func debugFile(for module: String) -> String? {
        symbols(for: module)?.debugFilePath
    }

    /// The loaded (cached) symbols of the file at `module` (a path of the host's), or nil when it
    /// cannot be read as ELF.
    public func symbols(for module: String) -> ModuleSymbols? {
        symbols(for: ModuleSource(path: module))
    }

    /// The loaded (cached) symbols of a module of some process: the mapped file itself when
    /// `source.mappedFile` opens, else `source.path` in `source.root`; nil when neither can be
    /// read as ELF. The file read is `module.path` of the result.
    public func symbols(for source: ModuleSource) -> ModuleSymbols? {
        guard let file = source.open() else { return nil }
        let key = CacheKey(identity: file.identity, root: source.root)
        // Each file is loaded once, under its own lock: threads loading different modules do
        // not wait for each other.
        let slot = lock.withLock {
            if let known = cache[key] { return known }
            // A long `run` may meet many programs: the cache starts over rather than grow for good
            // (a module in use elsewhere stays alive with its user).
            if cache.count >= Self.mostModules { cache.removeAll() }
            let made = Slot()
            cache[key] = made
            return made
        }
        return slot.lock.withLock {
            if let loaded = slot.symbols {
                file.close()
                return loaded
            }
            let loaded = (try? ELFFile(descriptor: file.fd, path: file.label)).map {
                ModuleSymbols(module: $0, modulePath: source.path,
                              locator: DebugFileLocator(roots: debugRoots, moduleRoot: source.root))
            }
            slot.symbols = .some(loaded)
            return loaded
        }
    }

    /// Drops all cached modules.
    public func removeAll() {
        lock.withLock { cache.removeAll() }
    }
}

/// A pthread mutex owned by a class, so its address is stable.
final class Lock: @unchecked Sendable {
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>

    init() {
        mutex = .allocate(capacity: 1)
        mutex.initialize(to: pthread_mutex_t())
        pthread_mutex_init(mutex, nil)
    }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deinitialize(count: 1)
        mutex.deallocate()
    }

    func withLock<T>(_ body: () throws -> T) rethrows -> T {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body()
    }

    /// Whether another thread holds the lock now.
    var isHeld: Bool {
        guard pthread_mutex_trylock(mutex) == 0 else { return true }
        pthread_mutex_unlock(mutex)
        return false
    }
}
