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
        self.init(parsing: Array(text.utf8))
    }

    public init?(parsing bytes: [UInt8]) {
        guard let open = bytes.firstIndex(of: UInt8(ascii: "(")),
              let close = bytes.lastIndex(of: UInt8(ascii: ")")), open < close,
              let pid = leadingSignedNumber(bytes[..<open]).flatMap({ Int32(exactly: $0) })
        else { return nil }
        // Fields after `comm`, split on spaces: fields[0] is field 3 (state).
        var fields: [ArraySlice<UInt8>] = []
        fields.reserveCapacity(50)
        var index = close + 1
        while index < bytes.count {
            while index < bytes.count && (bytes[index] == 32 || bytes[index] == 10) { index += 1 }
            let start = index
            while index < bytes.count && bytes[index] != 32 && bytes[index] != 10 { index += 1 }
            if start < index { fields.append(bytes[start..<index]) }
        }
        func field(_ n: Int) -> ArraySlice<UInt8>? { n - 3 < fields.count ? fields[n - 3] : nil }
        func signed(_ n: Int) -> Int32? { field(n).flatMap(leadingSignedNumber).flatMap { Int32(exactly: $0) } }
        func unsigned(_ n: Int) -> UInt64? { field(n).flatMap { $0.first == UInt8(ascii: "-") ? nil : leadingNumber($0) } }
        guard let stateByte = field(3)?.first, let ppid = signed(4), let pgrp = signed(5), let session = signed(6),
              let tty = signed(7), let flags = unsigned(9), let utime = unsigned(14), let stime = unsigned(15),
              let threads = signed(20), let start = unsigned(22)
        else { return nil }
        self.pid = pid
        self.comm = String(decoding: bytes[(open + 1)..<close], as: UTF8.self)
        self.state = Character(Unicode.Scalar(stateByte))
        self.ppid = ppid
        self.pgrp = pgrp
        self.session = session
        self.ttyNr = tty
        self.flags = UInt32(truncatingIfNeeded: flags)
        self.utimeTicks = utime
        self.stimeTicks = stime
        self.numThreads = Int(threads)
        self.startTicks = start
    }
}

/// A whole field that is a decimal number, optionally negative, with surrounding blanks.
func leadingSignedNumber(_ bytes: ArraySlice<UInt8>) -> Int64? {
    var rest = bytes.drop(while: { $0 == 32 || $0 == 9 })
    var negative = false
    if rest.first == UInt8(ascii: "-") {
        negative = true
        rest = rest.dropFirst()
    }
    let digits = rest.prefix(while: { $0 >= 48 && $0 <= 57 })
    guard !digits.isEmpty, rest.dropFirst(digits.count).allSatisfy({ $0 == 32 || $0 == 9 || $0 == 10 }),
          let magnitude = decimalDigits(digits), magnitude <= UInt64(Int64.max) else { return nil }
    return negative ? -Int64(magnitude) : Int64(magnitude)
}

/// The value of a run of ASCII digits; nil when it does not fit 64 bits.
func decimalDigits(_ digits: ArraySlice<UInt8>) -> UInt64? {
    var value: UInt64 = 0
    for byte in digits {
        let (times10, o1) = value.multipliedReportingOverflow(by: 10)
        let (sum, o2) = times10.addingReportingOverflow(UInt64(byte &- 48))
        if o1 || o2 { return nil }
        value = sum
    }
    return value
}

/// The fields of `/proc/PID/status` this tool uses.
public struct ProcStatus: Equatable, Sendable {
    public var name: String?
    public var tgid: Int32?
    public var uid: UInt32?
    public var voluntaryContextSwitches: UInt64?
    public var nonvoluntaryContextSwitches: UInt64?
    /// The PID of the process tracing this one; 0 when none.
    public var tracerPid: Int32?
    /// `SigCgt`: the signals with a handler installed, bit n-1 for signal n.
    public var caughtSignals: UInt64?
    /// `NSpid`: its PID (or TID) in each PID namespace, from the one /proc belongs to down to its own.
    public var namespacePids: [Int32] = []
    /// `CapEff`: its effective capabilities, bit n for capability n (`CAP_SYS_PTRACE` is 19).
    public var effectiveCapabilities: UInt64?

    public init(parsing text: String) {
        self.init(parsing: Array(text.utf8))
    }

    /// Scans the bytes once; this runs for every thread of every process, so it avoids String work.
    public init(parsing bytes: [UInt8]) {
        var lineStart = 0
        while lineStart < bytes.count {
            let lineEnd = bytes[lineStart...].firstIndex(of: UInt8(ascii: "\n")) ?? bytes.count
            let line = bytes[lineStart..<lineEnd]
            if let colon = line.firstIndex(of: UInt8(ascii: ":")) {
                let key = line[..<colon]
                let value = line[(colon + 1)...]
                if key.elementsEqual("Name".utf8) {
                    name = String(decoding: value.drop(while: { $0 == 9 || $0 == 32 }), as: UTF8.self)
                } else if key.elementsEqual("Tgid".utf8) {
                    tgid = leadingNumber(value).map { Int32(truncatingIfNeeded: $0) }
                } else if key.elementsEqual("Uid".utf8) {
                    uid = leadingNumber(value).map { UInt32(truncatingIfNeeded: $0) }
                } else if key.elementsEqual("voluntary_ctxt_switches".utf8) {
                    voluntaryContextSwitches = leadingNumber(value)
                } else if key.elementsEqual("nonvoluntary_ctxt_switches".utf8) {
                    nonvoluntaryContextSwitches = leadingNumber(value)
                } else if key.elementsEqual("TracerPid".utf8) {
                    tracerPid = leadingNumber(value).map { Int32(truncatingIfNeeded: $0) }
                } else if key.elementsEqual("SigCgt".utf8) {
                    caughtSignals = leadingHexNumber(value)
                } else if key.elementsEqual("CapEff".utf8) {
                    effectiveCapabilities = leadingHexNumber(value)
                } else if key.elementsEqual("NSpid".utf8) {
                    namespacePids = value.split(whereSeparator: { $0 == 9 || $0 == 32 }).prefix(32)
                        .compactMap { leadingNumber($0).map { Int32(truncatingIfNeeded: $0) } }
                }
            }
            lineStart = lineEnd + 1
        }
    }
}

/// The first unsigned decimal number in `bytes`, after any blanks; nil when there is none or it
/// does not fit 64 bits.
func leadingNumber(_ bytes: ArraySlice<UInt8>) -> UInt64? {
    let digits = bytes.drop(while: { $0 == 9 || $0 == 32 }).prefix(while: { $0 >= 48 && $0 <= 57 })
    return digits.isEmpty ? nil : decimalDigits(digits)
}

/// The first hexadecimal number in `bytes`, after any blanks; at most 16 digits.
func leadingHexNumber(_ bytes: ArraySlice<UInt8>) -> UInt64? {
    let start = bytes.drop { $0 == 9 || $0 == 32 }
    return hexValue(start.prefix { $0 != 9 && $0 != 32 && $0 != 10 })
}

/// `/proc/PID/auxv` of a 64-bit process: (type, value) pairs up to `AT_NULL`.
public func parseAuxv(_ bytes: [UInt8]) -> [UInt64: UInt64] {
    var result: [UInt64: UInt64] = [:]
    var offset = 0
    func word(_ at: Int) -> UInt64 {
        (0..<8).reduce(UInt64(0)) { $0 | UInt64(bytes[at + $1]) << (8 * $1) }
    }
    while offset + 16 <= bytes.count {
        let type = word(offset)
        if type == 0 { break }
        result[type] = word(offset + 8)
        offset += 16
    }
    return result
}

/// `AT_RANDOM`: the address of 16 random bytes the kernel puts on a new program's stack at exec.
public let auxvRandom: UInt64 = 25

/// `btime` from `/proc/stat`: the boot time in seconds since the epoch.
public func parseBootTime(_ text: String) -> UInt64? {
    for line in text.split(separator: "\n") where line.hasPrefix("btime ") {
        return UInt64(line.dropFirst(6).trimmed)
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
    /// Without the blanks that pad a column; a path's own trailing spaces are kept.
    var trimmingLeadingSpaces: String {
        String(drop(while: { $0 == " " || $0 == "\t" }))
    }

    /// Without leading and trailing blanks and newlines.
    public var trimmed: String {
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\t" || $0 == "\n" || $0 == "\r" }
        guard let first = firstIndex(where: { !isSpace($0) }), let last = lastIndex(where: { !isSpace($0) }) else { return "" }
        return String(self[first...last])
    }
}
