#if !FUZZ_STANDALONE
@testable import ProcFS
#endif

/// Real /proc files captured for the fixture tests: every file called `name`.
func procFixtures(_ name: String) -> [FuzzSeed] {
    let roots = ["Tests/ProcFSFixtureTests/Fixtures", "Tests/ForkHazardKitFixtureTests/Fixtures"].map { fuzzRepositoryRoot + "/" + $0 }
    let paths = roots.flatMap { filesBelow($0) { path in path.hasSuffix("/" + name) } }
    return paths.compactMap(readFileBytes).map { FuzzSeed(bytes: $0) }
}

/// Text tokens that steer /proc parsers: separators, signs, and numbers at the edges of their types.
let procTokens = [
    " ", "\n", "\t", "(", ")", ":", "-", "->", "0x", "[", "]", "/", " (deleted)",
    "0", "-1", "4294967295", "4294967296", "2147483648", "-2147483649", "18446744073709551615",
    "18446744073709551616", "9223372036854775807", "-9223372036854775808", "-9223372036854775809",
    "ffffffffffffffff", "10000000000000000", "FFFFFFFF", "00000000000000000000000000000000",
    "Uid:", "Tgid:", "voluntary_ctxt_switches:", "nonvoluntary_ctxt_switches:", "Name:",
    "tfd:", "events:", "pos:", "flags:", "mnt_id:", "ino:", "btime ", "running",
    "pipe:[", "socket:[", "anon_inode:", "POSIX ", "FLOCK ", "ADVISORY ", "WRITE ",
]

/// A netlink message: `nlmsghdr` (length, type, flags, sequence, port) and a body.
func netlinkMessage(type: UInt16, body: [UInt8]) -> [UInt8] {
    var bytes: [UInt8] = []
    func put<T: FixedWidthInteger>(_ value: T) { withUnsafeBytes(of: value.littleEndian) { bytes += $0 } }
    put(UInt32(16 + body.count)); put(type); put(UInt16(2)); put(UInt32(1)); put(UInt32(0))
    bytes += body
    while bytes.count % 4 != 0 { bytes.append(0) }
    return bytes
}

/// Little-endian bytes of integers of any widths, in order.
func le(_ values: any FixedWidthInteger...) -> [UInt8] {
    var bytes: [UInt8] = []
    for value in values {
        func append<T: FixedWidthInteger>(_ v: T) { withUnsafeBytes(of: v.littleEndian) { bytes += $0 } }
        append(value)
    }
    return bytes
}

/// sock_diag replies as the kernel builds them: `unix_diag_msg` + a `UNIX_DIAG_PEER` attribute,
/// several per datagram, then NLMSG_DONE; and an NLMSG_ERROR.
func unixDiagSeeds() -> [FuzzSeed] {
    func socket(inode: UInt32, peer: UInt32?) -> [UInt8] {
        var body: [UInt8] = [1, 1, 7, 0] + le(inode, UInt32.max, UInt32.max)
        if let peer { body += le(UInt16(8), UInt16(2), peer) }
        body += le(UInt16(8), UInt16(5), UInt32(0))  // another attribute, ignored
        return netlinkMessage(type: 20, body: body)
    }
    return [
        FuzzSeed(bytes: socket(inode: 1234, peer: 1235) + socket(inode: 1235, peer: 1234) + socket(inode: 9, peer: nil)),
        FuzzSeed(bytes: netlinkMessage(type: 3, body: le(UInt32(0)))),
        FuzzSeed(bytes: netlinkMessage(type: 2, body: le(Int32(-13)) + [UInt8](repeating: 0, count: 16))),
    ]
}

/// Proc connector datagrams: `nlmsghdr`, `cn_msg`, `proc_event` for fork, exec and exit.
func procConnectorSeeds() -> [FuzzSeed] {
    func event(_ what: UInt32, _ data: [UInt8]) -> [UInt8] {
        let payload = le(what, UInt32(1), UInt64(123_456_789)) + data
        let cn = le(UInt32(1), UInt32(1), UInt32(7), UInt32(0), UInt16(payload.count), UInt16(0))
        return netlinkMessage(type: 3, body: cn + payload)
    }
    let fork = event(1, le(Int32(100), Int32(100), Int32(200), Int32(200)))
    let exec = event(2, le(Int32(200), Int32(200)))
    let exit = event(0x8000_0000, le(Int32(200), Int32(200), UInt32(0), UInt32(17), Int32(100), Int32(100)))
    let other = event(0x40, le(Int32(200), Int32(200)))
    return [FuzzSeed(bytes: fork), FuzzSeed(bytes: exec + exit), FuzzSeed(bytes: fork + other + exit)]
}

extension FuzzTargets {
    static let procFS: [FuzzTarget] = [
        FuzzTarget("stat", tokens: procTokens, seeds: { procFixtures("stat") }) { input in
            _ = ProcStat(parsing: input)
            _ = ProcStat(parsing: String(decoding: input, as: UTF8.self))
        },
        FuzzTarget("status", tokens: procTokens, seeds: { procFixtures("status") }) { input in
            _ = ProcStatus(parsing: input)
        },
        FuzzTarget("maps", tokens: procTokens, seeds: { procFixtures("maps") }) { input in
            for mapping in MemoryMapping.parseAll(input) {
                _ = mapping.isShared
                _ = mapping.contains(mapping.start)
            }
        },
        FuzzTarget("syscall", tokens: procTokens, seeds: { procFixtures("syscall") }) { input in
            _ = SyscallState(parsing: String(decoding: input, as: UTF8.self))
        },
        FuzzTarget("fdinfo", tokens: procTokens, seeds: {
            let roots = ["Tests/ForkHazardKitFixtureTests/Fixtures"].map { fuzzRepositoryRoot + "/" + $0 }
            return roots.flatMap { filesBelow($0) { $0.contains("/fdinfo/") } }.compactMap(readFileBytes).map { FuzzSeed(bytes: $0) }
        }) { input in
            let info = FdInfo(parsing: String(decoding: input, as: UTF8.self))
            _ = info.accessMode
        },
        FuzzTarget("fd-link", tokens: procTokens, seeds: {
            let root = fuzzRepositoryRoot + "/Tests/ForkHazardKitFixtureTests/Fixtures"
            let links = linkTargetsBelow(root) { $0.contains("/fd/") || $0.hasSuffix("/exe") }
            return (links + ["pipe:[12345]", "socket:[67890]", "anon_inode:[eventpoll]", "anon_inode:inotify", "/dev/pts/3"])
                .map { FuzzSeed(bytes: Array($0.utf8)) }
        }) { input in
            _ = FdTarget(link: String(decoding: input, as: UTF8.self))
        },
        FuzzTarget("net-unix", tokens: procTokens, seeds: { procFixtures("unix") }) { input in
            _ = UnixSocketEntry.parseTable(String(decoding: input, as: UTF8.self))
        },
        FuzzTarget("net-inet", tokens: procTokens, seeds: { procFixtures("tcp") + procFixtures("tcp6") }) { input in
            let text = String(decoding: input, as: UTF8.self)
            _ = InetSocketEntry.parseTable(text, proto: "tcp")
            _ = InetSocketEntry.parseTable(text, proto: "udp6")
        },
        FuzzTarget("locks", tokens: procTokens, seeds: { procFixtures("locks") }) { input in
            for lock in FileLockEntry.parseAll(String(decoding: input, as: UTF8.self)) { _ = lock.deviceNumbers }
        },
        FuzzTarget("mountinfo", tokens: procTokens, seeds: { procFixtures("mountinfo") }) { input in
            _ = parseMountDevices(String(decoding: input, as: UTF8.self))
        },
        FuzzTarget("cmdline", tokens: procTokens, seeds: { procFixtures("cmdline") }) { input in
            _ = parseCmdline(input)
        },
        FuzzTarget("boot-time", tokens: procTokens, seeds: {
            [FuzzSeed(bytes: readFileBytes(fuzzRepositoryRoot + "/Tests/ProcFSFixtureTests/Fixtures/proc/stat") ?? [])]
        }) { input in
            _ = parseBootTime(String(decoding: input, as: UTF8.self))
        },
        FuzzTarget("auxv", seeds: {
            // This process's own auxiliary vector: (type, value) pairs of 64-bit words.
            [FuzzSeed(bytes: readFileBytes("/proc/self/auxv") ?? [])]
        }) { input in
            _ = parseAuxv(input)[auxvRandom]
        },
        FuzzTarget("unix-diag", seeds: unixDiagSeeds) { input in
            _ = UnixDiag.parse(input)
        },
        FuzzTarget("proc-connector", seeds: procConnectorSeeds) { input in
            _ = ProcConnector.parse(input)
        },
    ]
}
