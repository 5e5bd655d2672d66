#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The symbols loaded for one module (executable or shared library).
public struct ModuleSymbols: Sendable {
    /// The module as parsed (symbols included).
    public let module: ELFFile
    /// The separate debug file whose `.symtab` was used, if any.
    public let debugFilePath: String?
    /// The function symbols: `.symtab` (own or the debug file's), else `.dynsym`.
    public let table: SymbolTable

    /// Loads `path` and, when it has no `.symtab`, its separate debug file.
    public init(path: String, locator: DebugFileLocator = DebugFileLocator()) throws(ELFError) {
        let module = try ELFFile(path: path)
        var lists: [(table: FunctionTable, source: SymbolSource)] = []
        var debugPath: String?
        if module.hasSymtab {
            lists.append((module.symtab, .symtab))
        } else if let found = locator.locate(for: module),
                  let debug = try? ELFFile(path: found) {
            debugPath = found
            lists.append((debug.symtab, .debugFile(found)))
        }
        // A full .symtab (the module's or its debug file's) holds every .dynsym function too.
        if lists.isEmpty { lists.append((module.dynsym, .dynsym)) }
        self.module = module
        self.debugFilePath = debugPath
        self.table = SymbolTable(tables: lists)
    }

    /// The symbol at a file offset within the module (address - mapping start + mapping offset).
    public func symbolize(fileOffset: UInt64) -> Symbol? {
        guard let address = module.virtualAddress(forFileOffset: fileOffset) else { return nil }
        return table.lookup(address)
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
