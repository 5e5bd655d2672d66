/// One line of `/proc/PID/stat` or `/proc/PID/task/TID/stat`.
public struct ProcStat: Equatable, Sendable {
    public var pid: Int32
    /// `comm`: at most 15 bytes, may contain spaces and parentheses.
    public var comm: String
    public var state: Character
    public var ppid: Int32
    public var pgrp: Int32
    public var session: Int32
    public var ttyNr: Int32
    public var flags: UInt32
    public var utimeTicks: UInt64
    public var stimeTicks: UInt64
    public var numThreads: Int
    /// Clock ticks since boot at which the task started.
    public var startTicks: UInt64

    /// Kernel threads have the PF_KTHREAD flag.
    public var isKernelThread: Bool { flags & 0x0020_0000 != 0 }

    /// Parses the line; `comm` is everything between the first `(` and the LAST `)`.
    public init?(parsing text: String) {
        let bytes = Array(text.utf8)
        guard let open = bytes.firstIndex(of: UInt8(ascii: "(")),
              let close = bytes.lastIndex(of: UInt8(ascii: ")")), open < close,
              let pid = Int32(String(decoding: bytes[..<open], as: UTF8.self).trimmingSpaces)
        else { return nil }
        let rest = String(decoding: bytes[(close + 1)...], as: UTF8.self)
            .split(separator: " ", omittingEmptySubsequences: true)
        // rest[0] is field 3 (state); field N is rest[N - 3].
        func field(_ n: Int) -> Substring? { n - 3 < rest.count ? rest[n - 3] : nil }
        guard let state = field(3)?.first, let ppid = field(4).flatMap({ Int32($0) }),
              let pgrp = field(5).flatMap({ Int32($0) }), let session = field(6).flatMap({ Int32($0) }),
              let tty = field(7).flatMap({ Int32($0) }), let flags = field(9).flatMap({ UInt32($0) }),
              let utime = field(14).flatMap({ UInt64($0) }), let stime = field(15).flatMap({ UInt64($0) }),
              let threads = field(20).flatMap({ Int($0) }), let start = field(22).flatMap({ UInt64($0) })
        else { return nil }
        self.pid = pid
        self.comm = String(decoding: bytes[(open + 1)..<close], as: UTF8.self)
        self.state = state
        self.ppid = ppid
        self.pgrp = pgrp
        self.session = session
        self.ttyNr = tty
        self.flags = flags
        self.utimeTicks = utime
        self.stimeTicks = stime
        self.numThreads = threads
        self.startTicks = start
    }
}

/// The fields of `/proc/PID/status` this tool uses.
public struct ProcStatus: Equatable, Sendable {
    public var name: String?
    public var tgid: Int32?
    public var uid: UInt32?
    public var voluntaryContextSwitches: UInt64?
    public var nonvoluntaryContextSwitches: UInt64?

    public init(parsing text: String) {
        for line in text.split(separator: "\n") {
            guard let colon = line.firstIndex(of: ":") else { continue }
            let key = line[..<colon]
            let value = line[line.index(after: colon)...].trimmingSpaces
            switch key {
            case "Name": name = value
            case "Tgid": tgid = Int32(value)
            case "Uid": uid = value.split(whereSeparator: { $0 == "\t" || $0 == " " }).first.flatMap { UInt32($0) }
            case "voluntary_ctxt_switches": voluntaryContextSwitches = UInt64(value)
            case "nonvoluntary_ctxt_switches": nonvoluntaryContextSwitches = UInt64(value)
            default: continue
            }
        }
    }
}

/// `btime` from `/proc/stat`: the boot time in seconds since the epoch.
public func parseBootTime(_ text: String) -> UInt64? {
    for line in text.split(separator: "\n") where line.hasPrefix("btime ") {
        return UInt64(line.dropFirst(6).trimmingSpaces)
    }
    return nil
}

/// `/proc/PID/cmdline`: NUL-separated arguments.
public func parseCmdline(_ bytes: [UInt8]) -> [String] {
    var parts = bytes.split(separator: 0, omittingEmptySubsequences: false).map {
        String(decoding: $0, as: UTF8.self)
    }
    if parts.last == "" { parts.removeLast() }
    return parts
}

extension StringProtocol {
    var trimmingSpaces: String {
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\t" || $0 == "\n" || $0 == "\r" }
        guard let first = firstIndex(where: { !isSpace($0) }), let last = lastIndex(where: { !isSpace($0) }) else { return "" }
        return String(self[first...last])
    }
}
