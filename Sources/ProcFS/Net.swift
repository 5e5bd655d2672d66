/// A socket from `/proc/PID/net/unix`.
public struct UnixSocketEntry: Equatable, Sendable {
    public var inode: UInt64
    /// `stream`, `dgram`, `seqpacket`.
    public var type: String
    /// `listening`, `connected`, `unconnected`, `connecting`, `disconnecting`.
    public var state: String
    public var path: String?

    /// Parses the whole file, keyed by inode.
    public static func parseTable(_ text: String) -> [UInt64: UnixSocketEntry] {
        var table: [UInt64: UnixSocketEntry] = [:]
        for line in text.split(separator: "\n").dropFirst() {
            // Num RefCount Protocol Flags Type St Inode [Path]
            let words = line.split(separator: " ", maxSplits: 7, omittingEmptySubsequences: true)
            guard words.count >= 7, let flags = UInt32(words[3], radix: 16),
                  let type = UInt16(words[4], radix: 16), let state = UInt8(words[5], radix: 16),
                  let inode = UInt64(words[6]) else { continue }
            let typeName = [1: "stream", 2: "dgram", 5: "seqpacket"][Int(type)] ?? "type \(type)"
            let listening = flags & 0x10000 != 0  // __SO_ACCEPTCON
            let stateName = listening ? "listening"
                : [1: "unconnected", 2: "connecting", 3: "connected", 4: "disconnecting"][Int(state)] ?? "state \(state)"
            let path = words.count > 7 ? words[7].trimmingLeadingSpaces : nil
            table[inode] = UnixSocketEntry(inode: inode, type: typeName, state: stateName, path: path)
        }
        return table
    }
}

/// A socket from `/proc/PID/net/{tcp,tcp6,udp,udp6}`.
public struct InetSocketEntry: Equatable, Sendable {
    public var inode: UInt64
    /// `tcp`, `tcp6`, `udp`, `udp6`.
    public var proto: String
    public var local: String
    public var remote: String
    public var state: String

    static let tcpStates = [
        1: "ESTABLISHED", 2: "SYN_SENT", 3: "SYN_RECV", 4: "FIN_WAIT1", 5: "FIN_WAIT2", 6: "TIME_WAIT",
        7: "CLOSE", 8: "CLOSE_WAIT", 9: "LAST_ACK", 10: "LISTEN", 11: "CLOSING",
    ]

    public static func parseTable(_ text: String, proto: String) -> [UInt64: InetSocketEntry] {
        var table: [UInt64: InetSocketEntry] = [:]
        for line in text.split(separator: "\n").dropFirst() {
            // sl local rem st tx:rx tr:when retrnsmt uid timeout inode ...
            let words = line.split(separator: " ", omittingEmptySubsequences: true)
            guard words.count >= 10, let local = endpoint(words[1]), let remote = endpoint(words[2]),
                  let st = Int(words[3], radix: 16), let inode = UInt64(words[9]) else { continue }
            let state = proto.hasPrefix("udp") ? (st == 1 ? "ESTABLISHED" : "UNCONN") : tcpStates[st] ?? "state \(st)"
            table[inode] = InetSocketEntry(inode: inode, proto: proto, local: local, remote: remote, state: state)
        }
        return table
    }

    /// `0100007F:1F90` → `127.0.0.1:8080`; IPv6 as four host-order 32-bit words.
    static func endpoint(_ text: Substring) -> String? {
        let parts = text.split(separator: ":")
        guard parts.count == 2, let port = UInt16(parts[1], radix: 16) else { return nil }
        let hexAddress = parts[0]
        var bytes: [UInt8] = []
        var index = hexAddress.startIndex
        while index < hexAddress.endIndex {
            let next = hexAddress.index(index, offsetBy: 8, limitedBy: hexAddress.endIndex) ?? hexAddress.endIndex
            guard let word = UInt32(hexAddress[index..<next], radix: 16) else { return nil }
            // The kernel prints each 32-bit word in host order: little-endian on x86_64 and aarch64.
            withUnsafeBytes(of: word.littleEndian) { bytes.append(contentsOf: $0) }
            index = next
        }
        if bytes.count == 4 {
            return bytes.map(String.init).joined(separator: ".") + ":\(port)"
        }
        guard bytes.count == 16 else { return nil }
        if bytes[0..<10].allSatisfy({ $0 == 0 }) && bytes[10] == 0xff && bytes[11] == 0xff {
            return bytes[12...].map(String.init).joined(separator: ".") + ":\(port)"
        }
        let groups = stride(from: 0, to: 16, by: 2).map { String(UInt16(bytes[$0]) << 8 | UInt16(bytes[$0 + 1]), radix: 16) }
        return "[" + groups.joined(separator: ":") + "]:\(port)"
    }
}

/// A line of `/proc/locks`: a file lock held, or (`->`) waited for.
public struct FileLockEntry: Equatable, Sendable {
    /// `FLOCK`, `POSIX`, `OFDLCK`, `LEASE`.
    public var type: String
    /// `READ` or `WRITE`.
    public var access: String
    /// The holder or waiter; -1 for OFD locks, which belong to an open file rather than a process.
    public var pid: Int32
    public var device: String
    public var inode: UInt64
    /// True for a `->` line: a blocked request rather than a held lock.
    public var isWaiter: Bool

    public static func parseAll(_ text: String) -> [FileLockEntry] {
        text.split(separator: "\n").compactMap { line in
            var words = line.split(separator: " ", omittingEmptySubsequences: true).dropFirst()
            let waiter = words.first == "->"
            if waiter { words = words.dropFirst() }
            let fields = Array(words)
            guard fields.count >= 5, let pid = Int32(fields[3]) else { return nil }
            let location = fields[4].split(separator: ":")
            guard location.count == 3, let inode = UInt64(location[2]) else { return nil }
            return FileLockEntry(type: String(fields[0]), access: String(fields[2]), pid: pid,
                                 device: location[0] + ":" + location[1], inode: inode, isWaiter: waiter)
        }
    }
}

/// `/proc/PID/mountinfo`: the device (`major:minor`, decimal) of each mount ID.
public func parseMountDevices(_ text: String) -> [Int: (major: UInt32, minor: UInt32)] {
    var devices: [Int: (major: UInt32, minor: UInt32)] = [:]
    for line in text.split(separator: "\n") {
        // mountID parentID major:minor root mountpoint …
        let words = line.split(separator: " ", maxSplits: 3)
        guard words.count >= 3, let id = Int(words[0]) else { continue }
        let device = words[2].split(separator: ":")
        guard device.count == 2, let major = UInt32(device[0]), let minor = UInt32(device[1]) else { continue }
        devices[id] = (major, minor)
    }
    return devices
}

extension FileLockEntry {
    /// The device as numbers; /proc/locks prints `major:minor` in hex.
    public var deviceNumbers: (major: UInt32, minor: UInt32)? {
        let parts = device.split(separator: ":")
        guard parts.count == 2, let major = UInt32(parts[0], radix: 16), let minor = UInt32(parts[1], radix: 16) else { return nil }
        return (major, minor)
    }
}
