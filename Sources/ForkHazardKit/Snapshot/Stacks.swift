import CForkHazard
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Glibc
import ProcFS
import Symbols
import Syscalls

/// How native stacks are taken.
public struct StackOptions: Sendable {
    /// Bytes of each thread's stack copied while it is stopped (from its stack pointer up).
    public var stackBytes: Int
    public var maxFrames: Int
    /// Whether frames get their source file and line (and inlined calls) from DWARF.
    public var sourceLines: Bool
    /// Whether modules are read from `/proc/PID/map_files` (the mapped file itself, which needs
    /// CAP_SYS_ADMIN) before their path in the process's root; false to use only the path, as
    /// without that capability.
    var readsMappedFiles = true

    public init(stackBytes: Int = 256 * 1024, maxFrames: Int = 128, sourceLines: Bool = true) {
        self.stackBytes = stackBytes
        self.maxFrames = maxFrames
        self.sourceLines = sourceLines
    }
}

/// Why a thread's stack could not be taken.
enum StackError: Error, Equatable {
    /// ptrace refused: another user's process, Yama, a container, or another tracer already.
    case notPermitted(errno: Int32)
    /// The thread exited while being captured.
    case exited
    /// In an uninterruptible sleep (state D: a vfork parent, I/O on a hung file system): a stop
    /// would wait until it wakes, so it is not tried.
    case uninterruptible
    /// It did not stop within the time allowed; it is released as soon as it stops, or when
    /// forkhazard exits.
    case didNotStop
    case failed(step: String, errno: Int32)

    /// The failure as a snapshot's note tells it.
    var failure: StackFailure {
        switch self {
        case .notPermitted(let code): return .notPermitted(errno: code)
        case .exited: return .exited
        case .uninterruptible: return .uninterruptible
        case .didNotStop: return .didNotStop(millis: Ptrace.stopTimeoutMillis)
        case .failed(let step, let code): return .failed(step: step, errno: code)
        }
    }
}

/// A thread's registers and the top of its stack, copied while it was stopped.
struct StackCapture {
    var registers: fh_registers
    var stack: [UInt8]
    var stackBase: UInt64
    var pauseMicros: Double
}

enum Ptrace {
    /// Stops thread `tid` with PTRACE_SEIZE + PTRACE_INTERRUPT, runs `body`, and releases it on
    /// every path. A signal to the tool (INT, TERM, HUP) releases it too; if the tool dies, the
    /// kernel detaches. Never PTRACE_ATTACH, never SIGSTOP.
    static func withStopped<T>(_ tid: Int32, calls: ProcessCalls = .live,
                               _ body: () throws(StackError) -> T) throws(StackError) -> T {
        fh_install_release_handlers()
        do { try calls.seize(tid) } catch { throw error == .noSuchProcess ? .exited : .notPermitted(errno: error.code) }
        calls.markSeized(tid)
        var stopped = true
        defer {
            // One that never stopped cannot be detached yet: it is released once it stops. A
            // release that fails finds the thread gone from its stop (it exited, or was killed).
            if stopped { try? calls.detach(tid) } else { calls.releaseOnceStopped(tid) }
            calls.unmarkSeized(tid)
        }
        do { try calls.interrupt(tid) } catch {
            throw error == .noSuchProcess ? .exited : .failed(step: "PTRACE_INTERRUPT", errno: error.code)
        }
        do { try calls.waitForStop(tid, stopTimeoutMillis) } catch {
            if error == .timedOut {
                stopped = false
                throw .didNotStop
            }
            throw error == .noSuchProcess ? .exited : .failed(step: "waitpid", errno: error.code)
        }
        return try body()
    }

    /// How long a thread may take to stop before it is given up on: a stop takes microseconds, but
    /// on a loaded machine the thread may wait that long for a CPU to reach it.
    static let stopTimeoutMillis: Int32 = 1000

    /// Releases the threads that stopped since they were given up on; how many are still pending.
    @discardableResult
    static func releasePending() -> Int { Int(fh_release_pending()) }

    /// Registers and up to `scratch.bytes.count` bytes of stack above the stack pointer, with the
    /// time the thread was stopped. The stack is read into `scratch` while the thread is stopped and
    /// copied out after its release. `whileStopped` runs inside the stop, after the copy (a running
    /// Python thread's frames are read there).
    static func capture(tid: Int32, pid: Int32, scratch: StackScratch, stackMapping: (UInt64) -> MemoryMapping?,
                        whileStopped: (() -> Void)? = nil, calls: ProcessCalls = .live) throws(StackError) -> StackCapture {
        let start = monotonicMicros()
        let buffer = scratch.bytes
        let (registers, count) = try withStopped(tid, calls: calls) { () throws(StackError) -> (fh_registers, Int) in
            defer { whileStopped?() }
            let registers: fh_registers
            do throws(Errno) { registers = try calls.registers(tid) } catch { throw .failed(step: "PTRACE_GETREGSET", errno: error.code) }
            let limit = stackMapping(registers.sp).map { Int(min(UInt64(buffer.count), $0.end - registers.sp)) } ?? buffer.count
            // A stack that cannot be read is kept empty: the registers still give the stopped PC.
            let stack = UnsafeMutableRawBufferPointer(rebasing: buffer[..<max(0, limit)])
            return (registers, (try? calls.readMemory(pid, registers.sp, stack)) ?? 0)
        }
        let pause = monotonicMicros() - start
        return StackCapture(registers: registers, stack: Array(UnsafeRawBufferPointer(rebasing: buffer[..<count])),
                            stackBase: registers.sp, pauseMicros: pause)
    }
}

/// Where a stopped thread's stack is copied: allocated and written once before any stop, so that
/// a stop takes no allocation or page fault of this process's (which may wait behind another
/// thread's, mapping megabytes of DWARF).
final class StackScratch {
    let bytes: UnsafeMutableRawBufferPointer

    init(bytes count: Int) {
        bytes = .allocate(byteCount: max(0, count), alignment: 16)
        bytes.initializeMemory(as: UInt8.self, repeating: 0)
    }

    deinit { bytes.deallocate() }
}

func monotonicMicros() -> Double {
    var ts = Glibc.timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) * 1e6 + Double(ts.tv_nsec) / 1e3
}

/// Unwinds captured stacks of one process and names their frames.
final class StackUnwinder {
    let pid: Int32
    private var unwinder: OpaquePointer?
    private let modules: ProcessModules
    private let maps: [MemoryMapping]
    private let maxFrames: Int
    private let sourceLines: Bool

    init(pid: Int32, maps: [MemoryMapping], symbolizer: Symbolizer, maxFrames: Int, readsMappedFiles: Bool = true,
         sourceLines: Bool = true) {
        self.pid = pid
        self.maps = maps
        self.modules = ProcessModules(pid: pid, maps: maps, symbolizer: symbolizer, useMappedFiles: readsMappedFiles)
        self.maxFrames = maxFrames
        self.sourceLines = sourceLines
        unwinder = fh_unwinder_create(pid)
        // Each module's unwind table is found from its ELF header in memory: a file's first
        // mapping, or the vDSO's own.
        var headers: [String: UInt64] = [:]
        for map in maps where map.offset == 0 && map.path.hasPrefix("/") { headers[map.path] = min(headers[map.path] ?? .max, map.start) }
        for map in maps where map.permissions.utf8.dropFirst(2).first == UInt8(ascii: "x") {
            guard let base = map.path == "[vdso]" ? map.start : headers[map.path] else { continue }
            guard fh_unwinder_add_code(unwinder, map.start, map.end, base) == 0 else { break }
        }
    }

    /// Why some modules' frames were left unnamed.
    var notes: [SnapshotNote] { modules.notes }

    /// Frames named while their module's DWARF was being read on another thread (libc's, read
    /// from the moment every stack is unwound): their source positions are looked up at the end
    /// of the snapshot, with `PendingSource.fill`, not waited for here.
    private(set) var pending: [PendingSource] = []

    deinit { fh_unwinder_destroy(unwinder) }

    /// Frees what unwinding needs (its page cache is a quarter of a megabyte) once every stack
    /// is unwound; `addresses(for:)` gives only the stopped PC after.
    func doneUnwinding() {
        fh_unwinder_destroy(unwinder)
        unwinder = nil
    }

    /// The file offsets the frames of `stacks` (return addresses, as `addresses(for:)` gives
    /// them) are looked up at, added to `offsets` by module path.
    func addOffsets(of stacks: [[UInt64]], to offsets: inout [String: Set<UInt64>]) {
        for addresses in stacks {
            for (index, ip) in addresses.enumerated() {
                guard let (map, offset) = lookup(ip, isReturnAddress: index > 0) else { continue }
                offsets[map.path, default: []].insert(offset)
            }
        }
    }

    /// `stacks` (return addresses, as `addresses(for:)` gives them), named: the modules they pass
    /// through loaded together first, their DWARF for `offsets` (by module path: these stacks'
    /// and any other process's the same files serve, so that each is read once for all), then
    /// each frame named.
    func frames(for stacks: [[UInt64]], offsets: [String: Set<UInt64>]) -> [[StackFrame]] {
        var mappings: [MemoryMapping] = []
        var paths = Set<String>()
        for addresses in stacks {
            for (index, ip) in addresses.enumerated() {
                guard let (map, _) = lookup(ip, isReturnAddress: index > 0), paths.insert(map.path).inserted else { continue }
                mappings.append(map)
            }
        }
        self.modules.preload(mappings, offsets: offsets.filter { paths.contains($0.key) }.mapValues { Array($0) }, sourceInfo: sourceLines)
        return stacks.enumerated().map { stack, addresses in
            addresses.enumerated().map { index, ip in
                var (frame, named) = frame(ip, isReturnAddress: index > 0)
                if sourceLines, let (module, offset) = named {
                    if module.isLoadingSourceInfo {
                        pending.append(PendingSource(thread: stack, frame: index, module: module, fileOffset: offset))
                    } else if let source = module.sourceInfo(fileOffset: offset) {
                        PendingSource.apply(source, to: &frame)
                    }
                }
                return frame
            }
        }
    }

    /// The return addresses of a captured stack, innermost (the stopped PC) first.
    func addresses(for capture: StackCapture) -> [UInt64] {
        var ips = [UInt64](repeating: 0, count: maxFrames)
        var registers = capture.registers
        let count = capture.stack.withUnsafeBufferPointer { stack in
            fh_unwind(unwinder, &registers, stack.baseAddress, capture.stackBase, stack.count, &ips, Int32(maxFrames))
        }
        return count > 0 ? Array(ips[0..<Int(count)]) : [capture.registers.pc]
    }

    /// Names `ip` from the module that maps it; a return address is looked up one byte back,
    /// inside the call.
    /// The mapping of `ip` and the file offset to look it up at (a return address one byte back).
    func lookup(_ ip: UInt64, isReturnAddress: Bool) -> (MemoryMapping, UInt64)? {
        guard let map = maps.first(where: { $0.contains(ip) }) else { return nil }
        let address = isReturnAddress && ip > map.start ? ip - 1 : ip
        return (map, address - map.start + map.offset)
    }

    /// The frame at `ip`, with its function's name, and the module that named it with the file
    /// offset looked up (for its source position).
    func frame(_ ip: UInt64, isReturnAddress: Bool) -> (StackFrame, named: (ModuleSymbols, UInt64)?) {
        var frame = StackFrame(address: ip)
        guard let (map, offset) = lookup(ip, isReturnAddress: isReturnAddress) else { return (frame, nil) }
        frame.moduleOffset = ip - map.start + map.offset
        guard map.path.hasPrefix("/") else {
            frame.module = map.path.isEmpty ? nil : map.path
            return (frame, nil)
        }
        frame.module = map.path.hasSuffix(" (deleted)") ? String(map.path.dropLast(10)) : map.path
        // The process's own file, checked against its memory; nil names nothing.
        guard let module = modules.symbols(for: map) else { return (frame, nil) }
        frame.symbol = module.symbolize(fileOffset: offset).map { LockClassifier.withoutVersion($0.name) }
        return (frame, (module, offset))
    }
}

/// A frame whose source position is to be looked up once its module's DWARF is read: frame
/// `frame` of thread `thread` (its index among the captures unwound, then among its process's
/// threads).
struct PendingSource {
    var thread: Int
    var frame: Int
    let module: ModuleSymbols
    let fileOffset: UInt64

    /// Looks the position up (waiting for the DWARF) and sets it on `frame`.
    func fill(_ frame: inout StackFrame) {
        if let source = module.sourceInfo(fileOffset: fileOffset) { Self.apply(source, to: &frame) }
    }

    /// The file, line and inlined calls of `source`, on `frame`.
    static func apply(_ source: SourceInfo, to frame: inout StackFrame) {
        frame.file = source.location?.file
        frame.line = source.location?.line
        if !source.inlined.isEmpty {
            frame.inlined = source.inlined.map {
                InlinedFrame(symbol: $0.name, file: $0.location?.file, line: $0.location?.line)
            }
        }
    }
}

@_silgen_name("swift_demangle")
private func swiftDemangle(_ mangled: UnsafePointer<CChar>?, _ length: UInt, _ output: UnsafeMutablePointer<CChar>?,
                           _ outputSize: UnsafeMutablePointer<UInt>?, _ flags: UInt32) -> UnsafeMutablePointer<CChar>?

/// `$s13ForkHazardKit4DemoO9runVictim…` → `ForkHazardKit.Demo.runVictim`; other names unchanged.
func shortDemangled(_ symbol: String) -> String {
    guard symbol.hasPrefix("$s") || symbol.hasPrefix("_$s") else { return symbol }
    guard let raw = symbol.withCString({ swiftDemangle($0, UInt(strlen($0)), nil, nil, 0) }) else { return symbol }
    defer { free(raw) }
    var text = String(cString: raw)
    for prefix in ["protocol witness for ", "merged ", "static ", "closure #1 in "] where text.hasPrefix(prefix) {
        text.removeFirst(prefix.count)
    }
    if let paren = text.firstIndex(of: "(") { text = String(text[..<paren]) }
    if let space = text.lastIndex(of: " ") { text = String(text[text.index(after: space)...]) }
    return text
}
