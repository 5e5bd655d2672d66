#if canImport(Glibc)
import Glibc
#endif

/// Unix socket peers from the kernel's sock_diag netlink interface (`/proc/net/unix` has no peer
/// column). One dump returns every unix socket in the caller's network namespace with its peer.
public enum UnixDiag {
    static let sockDiagByFamily: UInt16 = 20
    static let showPeer: UInt32 = 4
    static let attrPeer: UInt16 = 2
    static let nlmsgDone: UInt16 = 3
    static let nlmsgError: UInt16 = 2

    /// The request: an `nlmsghdr` (REQUEST|DUMP) followed by a `unix_diag_req` for all states.
    static func dumpRequest(sequence: UInt32) -> [UInt8] {
        var bytes: [UInt8] = []
        func put<T: FixedWidthInteger>(_ value: T) { withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) } }
        put(UInt32(16 + 24))          // nlmsg_len
        put(sockDiagByFamily)         // nlmsg_type
        put(UInt16(0x1 | 0x300))      // NLM_F_REQUEST | NLM_F_DUMP
        put(sequence)                 // nlmsg_seq
        put(UInt32(0))                // nlmsg_pid
        put(UInt8(AF_UNIX))           // sdiag_family
        put(UInt8(0))                 // sdiag_protocol
        put(UInt16(0))                // pad
        put(UInt32.max)               // udiag_states: all
        put(UInt32(0))                // udiag_ino: any
        put(showPeer)                 // udiag_show
        put(UInt32.max); put(UInt32.max)  // udiag_cookie: none
        return bytes
    }

    /// One datagram of the dump: the peers it carries, and whether it ends the dump.
    public struct Chunk: Equatable, Sendable {
        public var peers: [UInt64: UInt64] = [:]
        public var done = false
        /// errno from an NLMSG_ERROR message.
        public var error: Int32?

        public static func peers(_ peers: [UInt64: UInt64]) -> Chunk { Chunk(peers: peers) }
        public static let done = Chunk(done: true)
        public static func error(_ code: Int32) -> Chunk { Chunk(error: code) }
    }

    /// Parses one datagram of the dump: the peer inode of each socket that has one.
    public static func parse(_ datagram: [UInt8]) -> Chunk {
        func u16(_ at: Int) -> UInt16 { UInt16(datagram[at]) | UInt16(datagram[at + 1]) << 8 }
        func u32(_ at: Int) -> UInt32 { (0..<4).reduce(0) { $0 | UInt32(datagram[at + $1]) << (8 * $1) } }
        var chunk = Chunk()
        var offset = 0
        while offset + 16 <= datagram.count {
            let length = Int(u32(offset))
            let type = u16(offset + 4)
            guard length >= 16, offset + length <= datagram.count else { break }
            if type == nlmsgDone {
                chunk.done = true
                return chunk
            }
            if type == nlmsgError {
                // nlmsgerr.error is a negative errno (0: an acknowledgement); anything else is EIO (INT32_MIN
                // has no negation).
                let code = offset + 20 <= datagram.count ? Int32(bitPattern: u32(offset + 16)) : -EIO
                chunk.error = code <= 0 && code != .min ? -code : EIO
                return chunk
            }
            // unix_diag_msg: family, type, state, pad, ino(u32), cookie[2]
            let body = offset + 16
            if body + 16 <= offset + length {
                let inode = UInt64(u32(body + 4))
                var attr = body + 16
                while attr + 4 <= offset + length {
                    let attrLength = Int(u16(attr))
                    guard attrLength >= 4, attr + attrLength <= offset + length else { break }
                    if u16(attr + 2) == attrPeer, attrLength >= 8 {
                        let peer = UInt64(u32(attr + 4))
                        if peer != 0 { chunk.peers[inode] = peer }
                    }
                    attr += (attrLength + 3) & ~3
                }
            }
            offset += (length + 3) & ~3
        }
        return chunk
    }

    /// Every unix socket's peer inode in this network namespace, or nil when sock_diag is unavailable.
    public static func peers() -> [UInt64: UInt64]? {
        let fd = socket(AF_NETLINK, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 4 /* NETLINK_SOCK_DIAG */)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        let request = dumpRequest(sequence: 1)
        // An unbound netlink socket sends to the kernel.
        let sent = request.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, 0) }
        guard sent == request.count else { return nil }
        var all: [UInt64: UInt64] = [:]
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n < 0 {
                if errno == EINTR { continue }
                return nil
            }
            let chunk = parse(Array(buffer[0..<n]))
            if chunk.error != nil { return nil }
            all.merge(chunk.peers) { a, _ in a }
            if chunk.done || n == 0 { return all }
        }
    }
}
