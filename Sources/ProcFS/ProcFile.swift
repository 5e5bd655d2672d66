#if canImport(Glibc)
import Glibc
#endif

/// Why a /proc file could not be read.
public enum ProcError: Error, Equatable, Sendable {
    /// The file, or the process or thread it belongs to, does not exist (any more).
    case gone
    /// The kernel refused access (another user's process, Yama, a container).
    case denied
    /// Any other errno.
    case failed(errno: Int32)

    init(errno code: Int32) {
        switch code {
        case ENOENT, ESRCH, ENOTDIR: self = .gone
        case EACCES, EPERM: self = .denied
        default: self = .failed(errno: code)
        }
    }

    public var reason: String {
        switch self {
        case .gone: return "no longer exists"
        case .denied: return "permission denied"
        case .failed(let code): return String(cString: strerror(code))
        }
    }
}

/// Reads /proc files and links below a root directory, which is `/proc` on a live system and a
/// fixture tree in tests. Every read goes to EOF: procfs reports size 0.
public struct ProcRoot: Sendable {
    public let path: String

    public init(_ path: String = "/proc") {
        self.path = path
    }

    /// Whether this is the running system's /proc rather than a fixture tree: only then are its
    /// PIDs processes that system calls can reach (ptrace, process_vm_readv, kcmp, sock_diag), and
    /// the paths it gives files of this system.
    public var isLive: Bool { path == "/proc" }

    public func url(_ components: String...) -> String {
        ([path] + components).joined(separator: "/")
    }

    /// The raw bytes of a file.
    public func bytes(_ relative: String) throws(ProcError) -> [UInt8] {
        let fd = open(path + "/" + relative, O_RDONLY | O_CLOEXEC)
        if fd < 0 { throw ProcError(errno: errno) }
        defer { close(fd) }
        var result: [UInt8] = []
        try withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 4096) { (chunk) throws(ProcError) in
            while true {
                let n = read(fd, chunk.baseAddress, chunk.count)
                if n < 0 {
                    if errno == EINTR { continue }
                    throw ProcError(errno: errno)
                }
                if n == 0 { break }
                result.append(contentsOf: UnsafeBufferPointer(rebasing: chunk[0..<n]))
            }
        }
        return result
    }

    /// A file's text, decoded as UTF-8 with invalid bytes replaced.
    public func text(_ relative: String) throws(ProcError) -> String {
        String(decoding: try bytes(relative), as: UTF8.self)
    }

    /// The target of a symbolic link such as `PID/fd/3` or `PID/exe`.
    public func link(_ relative: String) throws(ProcError) -> String {
        // readlink's errno is kept at once: what follows may set another.
        let (link, code) = withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 4096) { buffer -> (String?, Int32) in
            let n = buffer.withMemoryRebound(to: CChar.self) { readlink(path + "/" + relative, $0.baseAddress!, $0.count) }
            return n < 0 ? (nil, errno) : (String(decoding: UnsafeBufferPointer(rebasing: buffer[0..<n]), as: UTF8.self), 0)
        }
        guard let link else { throw ProcError(errno: code) }
        return link
    }

    /// The names in a directory, without `.` and `..`.
    public func entries(_ relative: String) throws(ProcError) -> [String] {
        guard let dir = opendir(path + "/" + relative) else { throw ProcError(errno: errno) }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafePointer(to: entry.pointee.d_name) {
                $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }

    /// The numeric entries of a directory (PIDs in the root, TIDs in `PID/task`, fds in `PID/fd`).
    public func numericEntries(_ relative: String) throws(ProcError) -> [Int32] {
        try entries(relative).compactMap { Int32($0) }.sorted()
    }
}
