#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Dispatch
import Glibc
import ProcFS
import Symbols
import Synchronization

/// The modules (executable, libraries) of one process, read from the process's own files: the
/// mapped file itself (`/proc/PID/map_files`) or its path inside the process's root
/// (`/proc/PID/root`), never the host's file at the same path, which in another mount namespace
/// is another file. Each is checked against the build-id in the process's memory before it names
/// anything; one that fails is left unnamed (`module+0x…`), with a note saying why.
/// Unchecked: `preload` resolves on several threads at once, and `resolve` reads only constants
/// (`let`s of Sendable values); `resolved` and `notes` are written by the calling thread alone.
final class ProcessModules: @unchecked Sendable {
    let pid: Int32
    private let maps: [MemoryMapping]
    private let symbolizer: Symbolizer
    private let memory: RemoteMemory
    private let useMappedFiles: Bool
    /// Where the process's paths lead: the host's root when it shares this tool's mount namespace
    /// and root directory, else `/proc/PID/root`.
    let root: FileRoot
    private var resolved: [String: ModuleSymbols?] = [:]
    /// Why modules were left unnamed, one line each.
    private(set) var notes: [SnapshotNote] = []

    init(pid: Int32, maps: [MemoryMapping], symbolizer: Symbolizer, useMappedFiles: Bool = true) {
        self.pid = pid
        self.maps = maps
        self.symbolizer = symbolizer
        self.memory = RemoteMemory(pid: pid)
        self.useMappedFiles = useMappedFiles
        root = ProcessModules.root(of: pid)
    }

    /// The host's root when the paths /proc shows of `pid` (its maps, fd links) lead, from this
    /// tool's root, to its own files: it shares this tool's mount namespace, and its root directory
    /// too, or it is in a chroot below this tool's root (the kernel then prints its paths as seen
    /// from here, which its executable's path is checked for); `/proc/PID/root` otherwise, or when
    /// that cannot be told. Processes in one mount namespace with one root directory (a container's)
    /// see the same files at the same paths: they are given one root, an earlier one's that still
    /// has them, so that the symbolizer reads each of their modules once.
    static func root(of pid: Int32) -> FileRoot {
        let proc = ProcRoot()
        guard let theirs = try? proc.link("\(pid)/ns/mnt"), let theirRoot = FileIdentity(path: "/proc/\(pid)/root") else {
            return .process(pid)
        }
        if let own = try? proc.link("self/ns/mnt"), own == theirs, let ownRoot = FileIdentity(path: "/") {
            if ownRoot.device == theirRoot.device && ownRoot.inode == theirRoot.inode { return .host }
            if let exe = try? proc.link("\(pid)/exe"), let shown = FileIdentity(path: exe),
               let mapped = FileIdentity(path: "/proc/\(pid)/exe"), shown.device == mapped.device, shown.inode == mapped.inode {
                return .host
            }
        }
        return .process(sharedRoots.owner(of: SharedRoots.Key(namespace: theirs, device: theirRoot.device, inode: theirRoot.inode),
                                          asking: pid, proc: proc))
    }

    static let sharedRoots = SharedRoots()

    /// The symbols of the module `mapping` belongs to, once its file is known to be the one mapped;
    /// nil otherwise.
    func symbols(for mapping: MemoryMapping) -> ModuleSymbols? {
        if let known = resolved[mapping.path] { return known }
        let (symbols, note) = resolve(mapping)
        resolved[mapping.path] = .some(symbols)
        if let note { notes.append(.framesUnnamed(pid: pid, path: note.path, note.problem)) }
        return symbols
    }

    /// Resolves the modules of `mappings` not resolved yet, each on a thread of its own (at most
    /// one per CPU), with their DWARF too when `sourceInfo`: loading libc's debug file and a large
    /// executable's tables at once instead of one after the other.
    /// `offsets`: by module path, the file offsets its frames will be looked up at; their source
    /// positions are looked up on the same thread (the units, line programs and inline scopes they
    /// need read there), so naming them afterwards finds the work done.
    func preload(_ mappings: [MemoryMapping], offsets: [String: [UInt64]] = [:], sourceInfo: Bool) {
        var seen = Set(resolved.keys)
        let pending = mappings.filter { $0.path.hasPrefix("/") && seen.insert($0.path).inserted }
        guard !pending.isEmpty else { return }
        let results = parallelMap(pending) { mapping in
            let result = resolve(mapping)
            // A module whose DWARF another thread is reading is looked up later (`StackUnwinder.pending`).
            if sourceInfo, let module = result.0, !module.isLoadingSourceInfo {
                let wanted = offsets[mapping.path] ?? []
                module.loadSourceInfo(covering: wanted)
                for offset in wanted { _ = module.sourceInfo(fileOffset: offset) }
            }
            return result
        }
        for (mapping, (symbols, note)) in zip(pending, results) {
            resolved[mapping.path] = .some(symbols)
            if let note { notes.append(.framesUnnamed(pid: pid, path: note.path, note.problem)) }
        }
    }

    /// The module's symbols once its file is known to be the one mapped, else nil and why.
    private func resolve(_ mapping: MemoryMapping) -> (ModuleSymbols?, (path: String, problem: ModuleProblem)?) {
        // A module replaced or removed since it was mapped shows as "path (deleted)".
        let deleted = mapping.path.hasSuffix(" (deleted)")
        let path = deleted ? String(mapping.path.dropLast(10)) : mapping.path
        let mapped = useMappedFiles ? "/proc/\(pid)/map_files/\(hex(mapping.start))-\(hex(mapping.end))" : nil
        guard let module = symbolizer.symbols(for: ModuleSource(path: path, root: root, mappedFile: mapped)) else {
            return (nil, (path, .noReadableCopy(deleted: deleted)))
        }
        let first = maps.filter { $0.path == mapping.path && $0.offset == 0 }.min { $0.start < $1.start }
        let checked = first.map { ModuleSymbols.Mapping(start: $0.start, device: $0.device, inode: $0.inode) }
        if let checked, module.isCheckedMapping(checked) { return (module, nil) }
        if let problem = mismatch(module.module, first: first, mapping: mapping) {
            return (nil, (path, problem))
        }
        if let checked { module.checkedMapping(checked) }
        return (module, nil)
    }

    /// Why `file` is not the module mapped at `mapping`'s path (whose start is mapped at `first`),
    /// or nil when it is: the build-ids in the file and in the process's memory must be equal;
    /// without build-ids, so must the first page of both.
    private func mismatch(_ file: ELFFile, first: MemoryMapping?, mapping: MemoryMapping) -> ModuleProblem? {
        guard let first else { return .noMappedStart(file: file.path) }
        let loaded = LoadedImage.buildID(base: first.start) { address, count in memory.bytes(at: address, count: count) }
        switch (loaded, file.buildID) {
        case (.found(let inMemory), let onDisk?):
            return inMemory == onDisk ? nil : .otherBuildID(file: file.path, onDisk: onDisk, inMemory: inMemory)
        case (.found(let inMemory), nil):
            return .otherBuildID(file: file.path, onDisk: nil, inMemory: inMemory)
        case (.absent, let onDisk?):
            return .otherBuildID(file: file.path, onDisk: onDisk, inMemory: nil)
        case (.absent, nil):
            let count = Int(min(4096, first.end - first.start))
            guard let inMemory = memory.bytes(at: first.start, count: count), let onDisk = file.bytes(at: 0, count: count) else {
                return .pagesUnreadable(file: file.path)
            }
            return inMemory == onDisk ? nil : .firstPageDiffers(file: file.path)
        case (.unreadable, _):
            return .noHeaderInMemory(file: file.path, mapped: mapping.path)
        }
    }
}

/// The process whose `/proc/PID/root` stands for every process of one mount namespace and root
/// directory: the first asked about, while it still has them.
final class SharedRoots: Sendable {
    struct Key: Hashable {
        var namespace: String
        var device: UInt64
        var inode: UInt64
    }

    private let owners = Mutex<[Key: Int32]>([:])

    func owner(of key: Key, asking pid: Int32, proc: ProcRoot) -> Int32 {
        if let known = owners.withLock({ $0[key] }), known != pid, (try? proc.link("\(known)/ns/mnt")) == key.namespace,
           let root = FileIdentity(path: "/proc/\(known)/root"), root.device == key.device, root.inode == key.inode {
            return known
        }
        owners.withLock { $0[key] = pid }
        return pid
    }
}

