#if canImport(Glibc)
import Glibc
#endif

/// A process event from the kernel's proc connector.
public enum ProcEvent: Equatable, Sendable {
    /// A new process (`childTgid == childPid`) or thread.
    case fork(parentTgid: Int32, childPid: Int32, childTgid: Int32)
    case exec(pid: Int32, tgid: Int32)
    case exit(pid: Int32, tgid: Int32, exitCode: UInt32)
    /// The subscription was acknowledged, or an event this tool does not use.
    case other(what: UInt32)
}

/// The proc connector: `NETLINK_CONNECTOR`, group `CN_IDX_PROC`. Parsing is pure; `ProcEventSocket`
/// does the I/O.
public enum ProcConnector {
    static let cnIdxProc: UInt32 = 1
    static let cnValProc: UInt32 = 1
    static let listen: UInt32 = 1
    static let ignore: UInt32 = 2

    /// `nlmsghdr` (type NLMSG_DONE) + `cn_msg` + the operation.
    public static func control(_ operation: UInt32, pid: UInt32) -> [UInt8] {
        var bytes: [UInt8] = []
        func put<T: FixedWidthInteger>(_ value: T) { withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) } }
        put(UInt32(16 + 20 + 4)); put(UInt16(3)); put(UInt16(0)); put(UInt32(0)); put(pid)
        put(cnIdxProc); put(cnValProc); put(UInt32(0)); put(UInt32(0)); put(UInt16(4)); put(UInt16(0))
        put(operation)
        return bytes
    }

    /// The events in one datagram: netlink messages, each a `cn_msg` carrying a `proc_event`.
    public static func parse(_ datagram: [UInt8]) -> [ProcEvent] {
        func u32(_ at: Int) -> UInt32 { (0..<4).reduce(0) { $0 | UInt32(datagram[at + $1]) << (8 * $1) } }
        func i32(_ at: Int) -> Int32 { Int32(bitPattern: u32(at)) }
        var events: [ProcEvent] = []
        var offset = 0
        while offset + 16 <= datagram.count {
            let length = Int(u32(offset))
            guard length >= 16, offset + length <= datagram.count else { break }
            // cn_msg at +16 (20 bytes), proc_event at +36: what, cpu, timestamp (8), data.
            let event = offset + 36
            if event + 16 <= offset + length {
                let what = u32(event)
                let data = event + 16
                switch what {
                case 0x1 where data + 16 <= offset + length:
                    events.append(.fork(parentTgid: i32(data + 4), childPid: i32(data + 8), childTgid: i32(data + 12)))
                case 0x2 where data + 8 <= offset + length:
                    events.append(.exec(pid: i32(data), tgid: i32(data + 4)))
                case 0x8000_0000 where data + 12 <= offset + length:
                    events.append(.exit(pid: i32(data), tgid: i32(data + 4), exitCode: u32(data + 8)))
                default:
                    events.append(.other(what: what))
                }
            }
            offset += (length + 3) & ~3
        }
        return events
    }
}

/// A subscribed proc connector socket.
public final class ProcEventSocket {
    public let fd: Int32

    public enum Failure: Error, Equatable {
        case unavailable(errno: Int32)
        /// The kernel dropped events (ENOBUFS): rescan.
        case lost
    }

    /// Opens and subscribes; fails where the connector is missing or refused (another namespace,
    /// no permission).
    public init() throws(Failure) {
        let fd = socket(AF_NETLINK, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 11 /* NETLINK_CONNECTOR */)
        guard fd >= 0 else { throw .unavailable(errno: errno) }
        guard netlinkBind(fd, groups: ProcConnector.cnIdxProc) == 0 else {
            let code = errno
            close(fd)
            throw .unavailable(errno: code)
        }
        var size: Int32 = 4 << 20
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
        let message = ProcConnector.control(ProcConnector.listen, pid: UInt32(getpid()))
        guard message.withUnsafeBytes({ send(fd, $0.baseAddress, $0.count, 0) }) == message.count else {
            let code = errno
            close(fd)
            throw .unavailable(errno: code)
        }
        self.fd = fd
    }

    deinit {
        let message = ProcConnector.control(ProcConnector.ignore, pid: UInt32(getpid()))
        _ = message.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }
        close(fd)
    }

    /// The events that have arrived, without waiting.
    public func drain() throws(Failure) -> [ProcEvent] {
        var events: [ProcEvent] = []
        var buffer = [UInt8](repeating: 0, count: 16384)
        while true {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }
            if n < 0 {
                if errno == EINTR { continue }
                if errno == ENOBUFS { throw .lost }
                return events
            }
            events += ProcConnector.parse(Array(buffer[0..<n]))
        }
    }
}

/// `bind` to a netlink multicast group: `struct sockaddr_nl` is {family u16, pad u16, pid u32, groups u32}.
func netlinkBind(_ fd: Int32, groups: UInt32) -> Int32 {
    var address = [UInt8](repeating: 0, count: 12)
    withUnsafeBytes(of: UInt16(AF_NETLINK).littleEndian) { address.replaceSubrange(0..<2, with: $0) }
    withUnsafeBytes(of: groups.littleEndian) { address.replaceSubrange(8..<12, with: $0) }
    return address.withUnsafeBytes { raw in
        bind(fd, raw.baseAddress!.assumingMemoryBound(to: sockaddr.self), socklen_t(12))
    }
}
