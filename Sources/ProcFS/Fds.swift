/// What `/proc/PID/fd/N` points at.
public enum FdTarget: Equatable, Sendable {
    case pipe(inode: UInt64)
    case socket(inode: UInt64)
    /// `anon_inode:[eventpoll]`, `anon_inode:[eventfd]`, `anon_inode:inotify` …
    case anonInode(String)
    /// A path in the file system (a file, a device such as a tty, a FIFO's name).
    case path(String)

    public init(link: String) {
        func inode(_ prefix: String) -> UInt64? {
            guard link.hasPrefix(prefix + ":["), link.hasSuffix("]") else { return nil }
            return UInt64(link.dropFirst(prefix.count + 2).dropLast())
        }
        if let ino = inode("pipe") {
            self = .pipe(inode: ino)
        } else if let ino = inode("socket") {
            self = .socket(inode: ino)
        } else if link.hasPrefix("anon_inode:") {
            var name = link.dropFirst("anon_inode:".count)
            if name.hasPrefix("["), name.hasSuffix("]") { name = name.dropFirst().dropLast() }
            self = .anonInode(String(name))
        } else {
            self = .path(link)
        }
    }
}

/// How an fd was opened, from the low bits of `flags` in fdinfo.
public enum AccessMode: String, Codable, Sendable {
    case read, write, readWrite

    public init(flags: UInt32) {
        switch flags & 3 {
        case 0: self = .read
        case 1: self = .write
        default: self = .readWrite
        }
    }

    public var canRead: Bool { self != .write }
    public var canWrite: Bool { self != .read }
}

/// `/proc/PID/fdinfo/N`.
public struct FdInfo: Equatable, Sendable {
    public var position: UInt64?
    /// Octal in the file.
    public var flags: UInt32?
    public var mountID: Int?
    public var inode: UInt64?
    /// For an epoll fd: the fds it watches, with their event masks.
    public var epollTargets: [EpollTarget] = []
    /// For a pidfd: the process it refers to (`Pid:`, -1 once it has been reaped).
    public var pidfdPid: Int32?

    public struct EpollTarget: Equatable, Sendable {
        public var fd: Int32
        public var events: UInt32
    }

    public var accessMode: AccessMode? { flags.map(AccessMode.init(flags:)) }

    public init(parsing text: String) {
        for line in text.split(separator: "\n") {
            let words = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard let key = words.first else { continue }
            let value = words.count > 1 ? words[1] : ""
            switch key {
            case "pos:": position = UInt64(value)
            case "flags:": flags = UInt32(value, radix: 8)
            case "mnt_id:": mountID = Int(value)
            case "ino:": inode = UInt64(value)
            case "Pid:": pidfdPid = Int32(value)
            case "tfd:":
                // tfd:        5 events:       19 data:  ...
                guard let fd = Int32(value), let eventsAt = words.firstIndex(of: "events:"),
                      eventsAt + 1 < words.count, let events = UInt32(words[eventsAt + 1], radix: 16)
                else { continue }
                epollTargets.append(EpollTarget(fd: fd, events: events))
            default: continue
            }
        }
    }
}
