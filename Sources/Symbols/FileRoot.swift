import CSymbols
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A directory that absolute paths are resolved under, as a process whose root it is sees them:
/// `/` for this tool's own view, `/proc/PID/root` for a process in another mount namespace or
/// chroot (a container). Symbolic links met on the way resolve inside it too (`openat2` with
/// `RESOLVE_IN_ROOT`), so a container's `/usr/lib/x.so -> /opt/x.so` stays in the container, and
/// never reaches the host's `/opt`.
public struct FileRoot: Sendable, Hashable, CustomStringConvertible {
    /// The root directory; `/` is the tool's own.
    public let path: String

    public init(_ path: String) {
        self.path = path
    }

    /// The tool's own root.
    public static let host = FileRoot("/")

    /// The root of process `pid` (`/proc/PID/root`).
    public static func process(_ pid: Int32, proc: String = "/proc") -> FileRoot {
        FileRoot("\(proc)/\(pid)/root")
    }

    public var isHost: Bool { path == "/" }

    public var description: String { path }

    /// `path` as a path of this tool: the root's path and `path`, for messages and
    /// `/proc/PID/root/...`.
    public func displayPath(_ path: String) -> String {
        isHost ? path : self.path + (path.hasPrefix("/") ? "" : "/") + path
    }

    /// Opens `path` (absolute, as seen from this root) read-only, non-blocking (a FIFO must not
    /// block the open) and close-on-exec. Returns the descriptor or -errno.
    func open(_ path: String) -> Int32 {
        let flags = O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY
        if isHost {
            let fd = Glibc.open(path, flags)
            return fd >= 0 ? fd : -errno
        }
        let dir = Glibc.open(self.path, FH_O_PATH | O_DIRECTORY | O_CLOEXEC)
        guard dir >= 0 else { return -errno }
        defer { close(dir) }
        let relative = String(path.drop { $0 == "/" })
        let fd = fh_openat2(dir, relative.isEmpty ? "." : relative, UInt64(flags),
                            UInt64(FH_RESOLVE_IN_ROOT | FH_RESOLVE_NO_MAGICLINKS))
        if fd == -ENOSYS {
            // Kernels before 5.6: symbolic links are then followed from the tool's own root.
            let plain = openat(dir, relative.isEmpty ? "." : relative, flags)
            return plain >= 0 ? plain : -errno
        }
        return fd
    }
}
