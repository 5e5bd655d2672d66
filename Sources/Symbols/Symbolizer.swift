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
    private let debugFile: ELFFile?
    private let lock = Lock()
    private var debugInfo: DebugInfo??

    /// Loads `path` and, when it has no `.symtab`, its separate debug file.
    public convenience init(path: String, locator: DebugFileLocator = DebugFileLocator()) throws(ELFError) {
        self.init(module: try ELFFile(path: path), locator: locator)
    }

    /// Uses `module` (already parsed) and, when it has no `.symtab`, its separate debug file.
    public init(module: ELFFile, locator: DebugFileLocator = DebugFileLocator()) {
        var lists: [(table: FunctionTable, source: SymbolSource)] = []
        var debugPath: String?
        var debug: ELFFile?
        if module.hasSymtab {
            lists.append((module.symtab, .symtab))
        } else if let found = locator.locate(for: module),
                  let file = try? ELFFile(path: found) {
            debugPath = found
            debug = file
            lists.append((file.symtab, .debugFile(found)))
        }
        // A full .symtab (the module's or its debug file's) holds every .dynsym function too.
        if lists.isEmpty { lists.append((module.dynsym, .dynsym)) }
        self.module = module
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

    /// The source position (and inlined calls) at a link-time virtual address of the module.
    public func sourceInfo(virtualAddress address: UInt64) -> SourceInfo? {
        dwarf()?.sourceInfo(at: address)
    }

    /// The module's DWARF, else its debug file's (found now if the symbols did not need it).
    func dwarf() -> DebugInfo? {
        lock.withLock {
            if let loaded = debugInfo { return loaded }
            var sections = DWARFSections(module)
            if sections == nil {
                let debug = debugFile ?? locator.locate(for: module).flatMap { try? ELFFile(path: $0, loadSymbols: false) }
                sections = debug.flatMap(DWARFSections.init)
            }
            let loaded = sections.map { DebugInfo(sections: $0) }
            debugInfo = .some(loaded)
            return loaded
        }
    }
}

/// Turns (module path, file offset) pairs from `/proc/PID/maps` into function names.
///
/// Modules are loaded once and cached by path; a cached module is reloaded when
/// the file's device, inode, size or mtime changes. Failures (missing file, not
/// ELF) are cached the same way. All state is guarded by a lock, so one instance
/// may be shared between threads.
public final class Symbolizer: @unchecked Sendable {
    private struct CacheEntry {
        var identity: FileIdentity
        var symbols: ModuleSymbols?
    }

    /// How debug files are found.
    public let locator: DebugFileLocator
    private var cache: [String: CacheEntry] = [:]
    private let lock = Lock()

    /// Creates a symbolizer looking for separate debug files under `debugRoots`.
    public init(debugRoots: [String] = ["/usr/lib/debug"]) {
        locator = DebugFileLocator(roots: debugRoots)
    }

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
    ///
    /// Uses the cached module when it is current; otherwise reads only the headers.
    public func buildID(of module: String) -> String? {
        guard let identity = FileIdentity(path: module) else { return nil }
        let cached = lock.withLock { () -> CacheEntry? in
            guard let entry = cache[module], entry.identity == identity else { return nil }
            return entry
        }
        if let cached { return cached.symbols?.module.buildIDHex }
        return (try? ELFFile(path: module, loadSymbols: false))?.buildIDHex
    }

    /// The separate debug file used for `module`, or nil when none was needed or found.
    public func debugFile(for module: String) -> String? {
        symbols(for: module)?.debugFilePath
    }

    /// The loaded (cached) symbols of `module`, or nil when it cannot be read as ELF.
    public func symbols(for module: String) -> ModuleSymbols? {
        guard let identity = FileIdentity(path: module) else {
            lock.withLock { _ = cache.removeValue(forKey: module) }
            return nil
        }
        return lock.withLock {
            if let entry = cache[module], entry.identity == identity { return entry.symbols }
            let loaded = try? ModuleSymbols(path: module, locator: locator)
            // Key by the identity actually read, in case the file changed in between.
            cache[module] = CacheEntry(identity: loaded?.module.identity ?? identity, symbols: loaded)
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
}
