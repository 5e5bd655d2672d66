import Syscalls

/// Reads bytes of another process's address space. The readers of interpreter state work on target
/// addresses and know nothing about how the bytes are copied.
public protocol RemoteMemoryReader: Sendable {
    /// Exactly `count` bytes at `address`, or nil when they cannot all be read.
    func read(_ address: UInt64, _ count: Int) -> [UInt8]?
}

/// A process's memory through `process_vm_readv`: the target is neither stopped nor signalled.
/// Needs the permission ptrace would (PTRACE_MODE_ATTACH); anything denied or unmapped reads as nil.
public struct ProcessMemory: RemoteMemoryReader {
    public let pid: Int32

    public init(pid: Int32) {
        self.pid = pid
    }

    public func read(_ address: UInt64, _ count: Int) -> [UInt8]? {
        guard address != 0, count > 0, count <= ProcessMemory.largestRead else { return nil }
        // Not zero-filled first: all of it is read, or none of it is kept.
        var copied = 0
        let buffer = [UInt8](unsafeUninitializedCapacity: count) { raw, initialized in
            copied = (try? SystemCalls.readMemory(pid: pid, at: address, into: UnsafeMutableRawBufferPointer(raw))) ?? 0
            initialized = copied == count ? count : 0
        }
        return copied == count ? buffer : nil
    }

    /// No single read of interpreter state needs more.
    static let largestRead = 1 << 20
}

/// Little-endian reads of fixed-size values through a reader.
extension RemoteMemoryReader {
    func u64(_ address: UInt64) -> UInt64? {
        read(address, 8).map { Bytes.u64($0, 0) }
    }

    func u32(_ address: UInt64) -> UInt32? {
        read(address, 4).map { Bytes.u32($0, 0) }
    }

    func u8(_ address: UInt64) -> UInt8? {
        read(address, 1)?[0]
    }

    /// A NUL-terminated string of at most `limit` bytes (a longer one is cut at `limit`), read in
    /// small pieces so that a string near the end of a mapping still reads.
    func cString(_ address: UInt64, limit: Int = 256) -> String? {
        var bytes: [UInt8] = []
        var at = address
        while bytes.count < limit {
            // Up to the next 64-byte boundary, so no piece crosses a page the string does not reach.
            let piece = min(Int(64 - at % 64), limit - bytes.count)
            guard let chunk = read(at, piece) else { return bytes.isEmpty ? nil : String(decoding: bytes, as: UTF8.self) }
            if let nul = chunk.firstIndex(of: 0) {
                bytes += chunk[..<nul]
                return String(decoding: bytes, as: UTF8.self)
            }
            bytes += chunk
            at &+= UInt64(piece)
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}


/// A reader that stops reading after a number of reads or bytes, so that no walk over the
/// target's (untrusted) memory can run long or allocate without bound, whatever it finds there.
/// One is made for each public call; it is used by one thread only.
final class BudgetedMemory: RemoteMemoryReader, @unchecked Sendable {
    /// The reader underneath, without budget or pages.
    let base: any RemoteMemoryReader
    private let pages: PagedMemory
    private(set) var reads: Int
    private(set) var bytes: Int

    init(_ base: any RemoteMemoryReader, reads: Int, bytes: Int) {
        self.base = (base as? BudgetedMemory)?.base ?? base
        self.pages = PagedMemory(self.base)
        self.reads = reads
        self.bytes = bytes
    }

    var exhausted: Bool { reads <= 0 || bytes <= 0 }

    func read(_ address: UInt64, _ count: Int) -> [UInt8]? {
        guard reads > 0, count <= bytes else {
            reads = 0
            return nil
        }
        reads -= 1
        bytes -= count
        return pages.read(address, count)
    }
}

/// Small reads served from whole pages read once: the objects of one walk (a lock search, a
/// stack) sit on few pages, and each `process_vm_readv` costs a system call. Used for one call,
/// by one thread; a page that cannot be read whole is read piecewise, as asked.
final class PagedMemory: RemoteMemoryReader, @unchecked Sendable {
    static let pageSize = 4096
    static let mostPages = 1024

    private let base: any RemoteMemoryReader
    private var pages: [UInt64: [UInt8]?] = [:]
    /// The page read last: most reads in a row fall on one page.
    private var lastPage: (address: UInt64, bytes: [UInt8]?) = (.max, nil)

    init(_ base: any RemoteMemoryReader) {
        self.base = base
    }

    func read(_ address: UInt64, _ count: Int) -> [UInt8]? {
        let size = UInt64(Self.pageSize)
        // One page, or two neighbours; anything bigger goes straight through.
        guard count > 0, count <= Self.pageSize, address <= UInt64.max - UInt64(count) else { return base.read(address, count) }
        let first = address & ~(size - 1), last = (address + UInt64(count) - 1) & ~(size - 1)
        let start = Int(address - first)
        guard let head = page(first) else { return base.read(address, count) }
        if first == last { return Array(head[start..<(start + count)]) }
        guard let tail = page(last) else { return base.read(address, count) }
        var out: [UInt8] = []
        out.reserveCapacity(count)
        out += head[start...]
        out += tail[..<(count - (Self.pageSize - start))]
        return out
    }

    private func page(_ address: UInt64) -> [UInt8]? {
        if lastPage.address == address { return lastPage.bytes }
        defer { lastPage = (address, pages[address] ?? nil) }
        if let known = pages[address] { return known }
        if pages.count >= Self.mostPages { pages.removeAll(keepingCapacity: true) }
        let bytes = base.read(address, Self.pageSize)
        pages[address] = .some(bytes)
        return bytes
    }
}

/// What one call has already read and will not change during it: type objects and code objects.
/// Made with the call's budget; used by one thread only.
final class ReadCache: @unchecked Sendable {
    var types: [UInt64: ObjectReader.TypeInfo] = [:]
    var codes: [UInt64: PythonRuntime.CodeInfo] = [:]
    static let most = 4096
}
