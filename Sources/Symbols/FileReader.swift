#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Identity of a file on disk, used to tell whether a cached module is still current.
public struct FileIdentity: Hashable, Sendable {
    /// Device number holding the file.
    public var device: UInt64
    /// Inode number.
    public var inode: UInt64
    /// Size in bytes.
    public var size: Int64
    /// Modification time, seconds part.
    public var mtimeSeconds: Int64
    /// Modification time, nanoseconds part.
    public var mtimeNanoseconds: Int64

    /// Stats `path` (following symlinks); nil when it cannot be stat'ed.
    public init?(path: String) {
        var st = stat()
        guard stat(path, &st) == 0 else { return nil }
        self.init(st)
    }

    /// The file at `path` as seen from `root` (opened as `FileRoot` opens it, so a container's
    /// symbolic links resolve inside the container); nil when it cannot be opened.
    public init?(path: String, root: FileRoot) {
        if root.isHost {
            self.init(path: path)
            return
        }
        let fd = root.open(path)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { return nil }
        self.init(st)
    }

    /// All zero: bytes that come from no file.
    init() {
        device = 0
        inode = 0
        size = 0
        mtimeSeconds = 0
        mtimeNanoseconds = 0
    }

    init(_ st: stat) {
        device = UInt64(truncatingIfNeeded: st.st_dev)
        inode = UInt64(truncatingIfNeeded: st.st_ino)
        size = Int64(st.st_size)
        #if canImport(Darwin)
        mtimeSeconds = Int64(st.st_mtimespec.tv_sec)
        mtimeNanoseconds = Int64(st.st_mtimespec.tv_nsec)
        #else
        mtimeSeconds = Int64(st.st_mtim.tv_sec)
        mtimeNanoseconds = Int64(st.st_mtim.tv_nsec)
        #endif
    }
}

/// Bytes an ELF file is parsed from, read by position with bounds checks: a file, or bytes
/// already in memory (tests, fuzzing, a copy of another process's memory).
protocol ByteSource: Sendable {
    /// The number of bytes.
    var size: UInt64 { get }
    /// Exactly `count` bytes at `offset`, or `.truncated` when they are not all there.
    func read(offset: UInt64, count: UInt64) throws(ELFError) -> [UInt8]
}

/// Bytes in memory as a `ByteSource`.
struct MemoryBytes: ByteSource {
    let bytes: [UInt8]

    var size: UInt64 { UInt64(bytes.count) }

    func read(offset: UInt64, count: UInt64) throws(ELFError) -> [UInt8] {
        guard count > 0 else { return [] }
        guard offset <= size, count <= size - offset else { throw ELFError.truncated }
        return Array(bytes[Int(offset)..<Int(offset + count)])
    }
}

/// A read-only file descriptor with bounds-checked positional reads.
///
/// Reads go through `pread`, so a file truncated while being parsed yields an
/// error instead of a `SIGBUS` as a memory mapping would.
final class FileReader: ByteSource, @unchecked Sendable {
    let fd: Int32
    let size: UInt64
    let identity: FileIdentity
    /// The path it was opened with, for messages.
    let path: String

    convenience init(path: String) throws(ELFError) {
        try self.init(path: path, root: .host)
    }

    /// Opens `path` as seen from `root`. O_NONBLOCK: opening a FIFO for reading would otherwise
    /// wait for a writer, forever if none comes; it has no effect on reading a regular file, the
    /// only kind accepted.
    convenience init(path: String, root: FileRoot) throws(ELFError) {
        let fd = root.open(path)
        guard fd >= 0 else { throw ELFError.cannotOpen(path: root.displayPath(path), errno: -fd) }
        try self.init(fd: fd, path: root.displayPath(path))
    }

    /// Takes over `fd` (closed on failure too).
    init(fd: Int32, path: String) throws(ELFError) {
        var st = stat()
        guard fstat(fd, &st) == 0 else {
            let e = errno
            close(fd)
            throw ELFError.cannotOpen(path: path, errno: e)
        }
        guard (st.st_mode & S_IFMT) == S_IFREG else {
            close(fd)
            throw ELFError.notRegularFile(path: path)
        }
        self.fd = fd
        self.path = path
        self.size = UInt64(max(0, st.st_size))
        self.identity = FileIdentity(st)
    }

    deinit { close(fd) }

    /// Reads exactly `count` bytes at `offset`, or throws `.truncated`.
    func read(offset: UInt64, count: UInt64) throws(ELFError) -> [UInt8] {
        guard count > 0 else { return [] }
        guard offset <= size, count <= size - offset, count <= UInt64(Int.max) else {
            throw ELFError.truncated
        }
        let n = Int(count)
        var failed = false
        // Not zero-filled first: every byte is read from the file, or the read fails.
        let buffer = [UInt8](unsafeUninitializedCapacity: n) { raw, initialized in
            var done = 0
            while done < n {
                let r = pread(fd, raw.baseAddress! + done, n - done, off_t(offset) + off_t(done))
                if r < 0 {
                    if errno == EINTR { continue }
                    failed = true
                    break
                }
                if r == 0 { failed = true; break }
                done += r
            }
            initialized = failed ? 0 : n
        }
        if failed { throw ELFError.truncated }
        return buffer
    }

    /// Calls `body` with consecutive chunks of the whole file; false if a read fails.
    func forEachChunk(_ body: (UnsafeRawBufferPointer) -> Void) -> Bool {
        let chunk = 1 << 16
        var buffer = [UInt8](repeating: 0, count: chunk)
        var offset: off_t = 0
        while true {
            let r = buffer.withUnsafeMutableBytes { raw in
                pread(fd, raw.baseAddress!, chunk, offset)
            }
            if r < 0 {
                if errno == EINTR { continue }
                return false
            }
            if r == 0 { return true }
            buffer.withUnsafeBytes { raw in body(UnsafeRawBufferPointer(rebasing: raw[0..<r])) }
            offset += off_t(r)
        }
    }
}

/// Little-endian field access into a byte array, with bounds checks.
struct ByteView {
    let bytes: [UInt8]

    func u8(_ at: Int) -> UInt8? {
        at >= 0 && at < bytes.count ? bytes[at] : nil
    }

    func u16(_ at: Int) -> UInt16? {
        guard at >= 0, at <= bytes.count - 2 else { return nil }
        return UInt16(bytes[at]) | UInt16(bytes[at + 1]) << 8
    }

    func u32(_ at: Int) -> UInt32? {
        guard at >= 0, at <= bytes.count - 4 else { return nil }
        var v: UInt32 = 0
        for i in (0..<4).reversed() { v = v << 8 | UInt32(bytes[at + i]) }
        return v
    }

    func u64(_ at: Int) -> UInt64? {
        guard at >= 0, at <= bytes.count - 8 else { return nil }
        var v: UInt64 = 0
        for i in (0..<8).reversed() { v = v << 8 | UInt64(bytes[at + i]) }
        return v
    }

    /// The NUL-terminated string starting at `at`, if it ends within `maxLength` bytes.
    func cString(_ at: Int, maxLength: Int) -> String? {
        guard let end = bytes.withUnsafeBytes({ nulIndex(in: $0, from: at, maxLength: maxLength) }) else { return nil }
        return String(decoding: bytes[at..<end], as: UTF8.self)
    }
}

/// The index of the first NUL at or after `start` within `maxLength` bytes, or nil.
func nulIndex(in bytes: UnsafeRawBufferPointer, from start: Int, maxLength: Int) -> Int? {
    guard start >= 0, start < bytes.count, let base = bytes.baseAddress else { return nil }
    let length = min(max(0, maxLength), bytes.count - start - 1) + 1
    guard let found = memchr(base + start, 0, length) else { return nil }
    return base.distance(to: UnsafeRawPointer(found))
}
