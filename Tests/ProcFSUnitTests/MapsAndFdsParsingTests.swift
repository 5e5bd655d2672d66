import Testing

@testable import ProcFS

struct MappingCase: Sendable, CustomTestStringConvertible {
    var line: String
    var start: UInt64
    var end: UInt64
    var permissions: String
    var offset: UInt64
    var device: String
    var inode: UInt64
    var path: String
    var shared: Bool

    var testDescription: String { line }
}

@Suite("MemoryMapping") struct MemoryMappingTests {
    static let cases: [MappingCase] = [
        MappingCase(line: "7f2e4be00000-7f2e4be28000 r--p 00000000 08:01 2615                       /usr/lib/x86_64-linux-gnu/libc.so.6",
                    start: 0x7f2e_4be0_0000, end: 0x7f2e_4be2_8000, permissions: "r--p", offset: 0, device: "08:01",
                    inode: 2615, path: "/usr/lib/x86_64-linux-gnu/libc.so.6", shared: false),
        MappingCase(line: "7f2e4be28000-7f2e4bfbd000 r-xp 00028000 08:01 2615                       /usr/lib/x86_64-linux-gnu/libc.so.6",
                    start: 0x7f2e_4be2_8000, end: 0x7f2e_4bfb_d000, permissions: "r-xp", offset: 0x28000, device: "08:01",
                    inode: 2615, path: "/usr/lib/x86_64-linux-gnu/libc.so.6", shared: false),
        // A path with spaces, even double ones.
        MappingCase(line: "7f0000000000-7f0000001000 r--p 00001000 fd:01 4711                       /home/u/My Documents/lib  two.so",
                    start: 0x7f00_0000_0000, end: 0x7f00_0000_1000, permissions: "r--p", offset: 0x1000, device: "fd:01",
                    inode: 4711, path: "/home/u/My Documents/lib  two.so", shared: false),
        // A POSIX shared memory object unlinked while mapped.
        MappingCase(line: "7f2e4c000000-7f2e4c100000 rw-s 00002000 00:1a 4242                       /dev/shm/fh-ring (deleted)",
                    start: 0x7f2e_4c00_0000, end: 0x7f2e_4c10_0000, permissions: "rw-s", offset: 0x2000, device: "00:1a",
                    inode: 4242, path: "/dev/shm/fh-ring (deleted)", shared: true),
        MappingCase(line: "7f2e4c100000-7f2e4c200000 r--s 00000000 00:1a 4243                       /dev/shm/ro",
                    start: 0x7f2e_4c10_0000, end: 0x7f2e_4c20_0000, permissions: "r--s", offset: 0, device: "00:1a",
                    inode: 4243, path: "/dev/shm/ro", shared: true),
        // Anonymous memory, with the trailing space older kernels print and without.
        MappingCase(line: "7f2e4a5fe000-7f2e4adfe000 rw-p 00000000 00:00 0 ",
                    start: 0x7f2e_4a5f_e000, end: 0x7f2e_4adf_e000, permissions: "rw-p", offset: 0, device: "00:00",
                    inode: 0, path: "", shared: false),
        MappingCase(line: "7f2e4a5fe000-7f2e4adfe000 rw-p 00000000 00:00 0",
                    start: 0x7f2e_4a5f_e000, end: 0x7f2e_4adf_e000, permissions: "rw-p", offset: 0, device: "00:00",
                    inode: 0, path: "", shared: false),
        MappingCase(line: "7f2e4a5fd000-7f2e4a5fe000 ---p 00000000 00:00 0 ",
                    start: 0x7f2e_4a5f_d000, end: 0x7f2e_4a5f_e000, permissions: "---p", offset: 0, device: "00:00",
                    inode: 0, path: "", shared: false),
        MappingCase(line: "55d0c0a00000-55d0c0b21000 rw-p 00000000 00:00 0                          [heap]",
                    start: 0x55d0_c0a0_0000, end: 0x55d0_c0b2_1000, permissions: "rw-p", offset: 0, device: "00:00",
                    inode: 0, path: "[heap]", shared: false),
        MappingCase(line: "7ffd2b8a0000-7ffd2b8c2000 rw-p 00000000 00:00 0                          [stack]",
                    start: 0x7ffd_2b8a_0000, end: 0x7ffd_2b8c_2000, permissions: "rw-p", offset: 0, device: "00:00",
                    inode: 0, path: "[stack]", shared: false),
        MappingCase(line: "ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0                  [vsyscall]",
                    start: 0xFFFF_FFFF_FF60_0000, end: 0xFFFF_FFFF_FF60_1000, permissions: "--xp", offset: 0, device: "00:00",
                    inode: 0, path: "[vsyscall]", shared: false),
        // 32-bit style narrow addresses and an anonymous mapping named by prctl.
        MappingCase(line: "08048000-08049000 rw-p 00000000 00:00 0                                  [anon:jit cache]",
                    start: 0x0804_8000, end: 0x0804_9000, permissions: "rw-p", offset: 0, device: "00:00",
                    inode: 0, path: "[anon:jit cache]", shared: false),
    ]

    @Test(arguments: MemoryMappingTests.cases)
    func parses(_ c: MappingCase) throws {
        let map = try #require(MemoryMapping(parsing: c.line[...]))
        #expect(map.start == c.start)
        #expect(map.end == c.end)
        #expect(map.permissions == c.permissions)
        #expect(map.offset == c.offset)
        #expect(map.device == c.device)
        #expect(map.inode == c.inode)
        #expect(map.path == c.path)
        #expect(map.isShared == c.shared)
    }

    @Test func containsIsHalfOpen() throws {
        let map = try #require(MemoryMapping(parsing: "1000-2000 rw-s 00000000 00:1a 1 /dev/shm/x"))
        #expect(!map.contains(0xFFF))
        #expect(map.contains(0x1000))
        #expect(map.contains(0x1FFF))
        #expect(!map.contains(0x2000))
    }

    static let garbage: [String] = [
        "",
        " ",
        "zzzz",
        "7f2e4be00000-7f2e4be28000",
        "7f2e4be00000-7f2e4be28000 r--p 00000000 08:01",            // no inode
        "7f2e4be00000 r--p 00000000 08:01 2615 /lib.so",             // no end address
        "7f2e4be00000-7f2e4be28000-1 r--p 00000000 08:01 2615 /x",
        "xyz-7f2e4be28000 r--p 00000000 08:01 2615 /x",
        "7f2e4be00000-7f2e4be28000 r--p offset 08:01 2615 /x",
        "7f2e4be00000-7f2e4be28000 r--p 00000000 08:01 0x12 /x",   // inode is decimal
        "7f2e4be00000-7f2e4be28000 r--p 00000000 08:01 -1 /x",
    ]

    @Test(arguments: MemoryMappingTests.garbage)
    func rejectsGarbage(_ line: String) {
        #expect(MemoryMapping(parsing: line[...]) == nil)
    }

    @Test func pathsKeepTrailingSpaces() {
        // The kernel prints the file name as is: "/tmp/lib.so " (a legal name) ends in a space.
        let line = "7f0000000000-7f0000001000 r--p 00000000 fd:01 4711                       /tmp/lib.so "
        #expect(MemoryMapping(parsing: line[...])?.path == "/tmp/lib.so ")
    }

    @Test(arguments: [
        ("/usr/lib/x86_64-linux-gnu/libc.so.6", "libc.so.6"), ("libc.so.6", "libc.so.6"), ("[vdso]", "[vdso]"),
        ("/", "/"), ("", ""), ("/opt/app//", "app"), ("a/b/", "b"), ("/tmp/é/ü.so (deleted)", "ü.so (deleted)"),
    ])
    func fileNames(path: String, name: String) {
        #expect(lastPathComponent(path) == name)
    }

    @Test(arguments: [("/lib/libc.so.6", true), ("/lib/libc-2.31.so", true), ("/lib/libcrypt.so.1", false),
                      ("/lib/libc-client.so.1", false), ("/usr/lib/libc.so", true)])
    func libc(path: String, isLibc: Bool) {
        #expect(isLibcName(lastPathComponent(path)) == isLibc)
    }

    @Test func onlySharedMappings() {
        let text = """
            7f00-7f10 rw-s 00000000 00:1a 184 /dev/shm/sem.pzSHil (deleted)
            7f10-7f20 r--p 00000000 fd:01 42 /usr/lib/x86_64-linux-gnu/libc.so.6
            7f20-7f30 rw-s 00001000 00:01 7 /SYSV00000000 (deleted)
            7f30-7f40 rw-p 00000000 00:00 0
            garbage s
            """
        let shared = MemoryMapping.parseShared(Array(text.utf8))
        #expect(shared.map(\.inode) == [184, 7])
        #expect(shared.allSatisfy { $0.isShared })
        #expect(shared == MemoryMapping.parseAll(Array(text.utf8)).filter(\.isShared))
    }

    @Test func parseAllSkipsBadLines() {
        let text = """
            55d0c0800000-55d0c0801000 r--p 00000000 08:01 393                        /usr/bin/python3.12
            this line is not a mapping
            55d0c0a00000-55d0c0b21000 rw-p 00000000 00:00 0                          [heap]

            7f2e4c000000-7f2e4c100000 rw-s 00000000 00:1a 4242                       /dev/shm/a b (deleted)

            """
        let maps = MemoryMapping.parseAll(text)
        #expect(maps.map(\.path) == ["/usr/bin/python3.12", "[heap]", "/dev/shm/a b (deleted)"])
        #expect(maps.map(\.isShared) == [false, false, true])
    }
}

@Suite("FdTarget") struct FdTargetTests {
    @Test(arguments: [
        ("pipe:[5353]", FdTarget.pipe(inode: 5353)),
        ("socket:[77]", .socket(inode: 77)),
        ("socket:[18446744073709551615]", .socket(inode: .max)),
        ("anon_inode:[eventpoll]", .anonInode("eventpoll")),
        ("anon_inode:[eventfd]", .anonInode("eventfd")),
        ("anon_inode:[timerfd]", .anonInode("timerfd")),
        ("anon_inode:[signalfd]", .anonInode("signalfd")),
        ("anon_inode:[pidfd]", .anonInode("pidfd")),
        ("anon_inode:inotify", .anonInode("inotify")),
        ("anon_inode:[io_uring]", .anonInode("io_uring")),
        ("/dev/pts/3", .path("/dev/pts/3")),
        ("/dev/null", .path("/dev/null")),
        ("/home/u/My Documents/notes.txt", .path("/home/u/My Documents/notes.txt")),
        ("/tmp/log (deleted)", .path("/tmp/log (deleted)")),
        ("/tmp/pipe:[1]", .path("/tmp/pipe:[1]")),
        ("pipe:[abc]", .path("pipe:[abc]")),
        ("pipe:[5353", .path("pipe:[5353")),
        ("net:[4026531840]", .path("net:[4026531840]")),
        ("/memfd:buffer (deleted)", .path("/memfd:buffer (deleted)")),
    ] as [(String, FdTarget)])
    func classifies(_ link: String, _ expected: FdTarget) {
        #expect(FdTarget(link: link) == expected)
    }
}

@Suite("FdInfo") struct FdInfoTests {
    @Test func pipeReadEnd() {
        let info = FdInfo(parsing: "pos:\t0\nflags:\t02004000\nmnt_id:\t15\nino:\t5353\n")
        #expect(info.position == 0)
        #expect(info.flags == 0o2004000)
        #expect(info.mountID == 15)
        #expect(info.inode == 5353)
        #expect(info.accessMode == .read)
        #expect(info.epollTargets.isEmpty)
    }

    @Test func epollWithTargets() {
        // The kernel's format: "tfd: %8d events: %8x data: %16llx  pos:%lli ino:%lx sdev:%x".
        let text = """
            pos:\t0
            flags:\t02000002
            mnt_id:\t15
            ino:\t1057
            tfd:        5 events:       19 data:                5  pos:0 ino:abc sdev:d
            tfd:        7 events: 80000019 data:     7f3a00001234  pos:0 ino:1f61 sdev:8
            tfd:       12 events:        4 data:                c  pos:0 ino:2a sdev:e

            """
        let info = FdInfo(parsing: text)
        #expect(info.accessMode == .readWrite)
        #expect(info.inode == 1057)
        #expect(info.epollTargets == [
            FdInfo.EpollTarget(fd: 5, events: 0x19),
            FdInfo.EpollTarget(fd: 7, events: 0x8000_0019),
            FdInfo.EpollTarget(fd: 12, events: 0x4),
        ])
    }

    @Test func lockAndInotifyLinesAreIgnored() {
        let text = """
            pos:\t4096
            flags:\t0100002
            mnt_id:\t28
            ino:\t7001
            lock:\t1: FLOCK  ADVISORY  WRITE 2002 00:2d:7001 0 EOF
            inotify wd:1 ino:2 sdev:800001 mask:fc6 ignored_mask:0 fhandle-bytes:8 fhandle-type:1 f_handle:02000000

            """
        let info = FdInfo(parsing: text)
        #expect(info.position == 4096)
        #expect(info.accessMode == .readWrite)
        #expect(info.mountID == 28)
        #expect(info.inode == 7001)
        #expect(info.epollTargets.isEmpty)
    }

    @Test func malformedTargetLinesAreSkipped() {
        let info = FdInfo(parsing: "tfd: x events: 19\ntfd: 5 events:\ntfd: 6 data: 5\ntfd: 8 events: zz\ntfd: 9 events: 1\n")
        #expect(info.epollTargets == [FdInfo.EpollTarget(fd: 9, events: 1)])
    }

    @Test(arguments: ["", "\n", "garbage", "flags:\nino:\n", "flags:\t9\n"])
    func garbage(_ text: String) {
        let info = FdInfo(parsing: text)
        #expect(info.position == nil)
        #expect(info.flags == nil)
        #expect(info.accessMode == nil)
        #expect(info.mountID == nil)
        #expect(info.inode == nil)
        #expect(info.epollTargets.isEmpty)
    }

    @Test(arguments: [
        ("00", AccessMode.read), ("01", .write), ("02", .readWrite),
        ("02004000", .read), ("0100001", .write), ("02000002", .readWrite), ("04000", .read),
        ("03", .readWrite),  // O_ACCMODE: kernel-internal "no access" mode, shown as read-write
    ] as [(String, AccessMode)])
    func flagsAreOctal(_ flags: String, _ mode: AccessMode) {
        #expect(FdInfo(parsing: "flags:\t\(flags)\n").accessMode == mode)
    }

    @Test func accessModeCapabilities() {
        #expect(AccessMode.read.canRead && !AccessMode.read.canWrite)
        #expect(!AccessMode.write.canRead && AccessMode.write.canWrite)
        #expect(AccessMode.readWrite.canRead && AccessMode.readWrite.canWrite)
        #expect(AccessMode(flags: 0o100001) == .write)
    }
}
