import Testing

@testable import ProcFS

@Suite("SyscallState") struct SyscallStateTests {
    @Test(arguments: ["running\n", "running", "running \n"])
    func running(_ text: String) {
        #expect(SyscallState(parsing: text) == .running)
    }

    @Test func blockedOutsideASystemCall() {
        #expect(SyscallState(parsing: "-1 0x7ffd2b8c19f8 0x7f2e4be3a3ea\n")
            == .notInSyscall(sp: 0x7ffd_2b8c_19f8, pc: 0x7f2e_4be3_a3ea))
    }

    @Test func fullLine() {
        // futex(0x55d0c0a0e0a8, FUTEX_WAIT_PRIVATE, 2, NULL) as x86_64 prints it.
        let text = "202 0x55d0c0a0e0a8 0x80 0x2 0x0 0x0 0x0 0x7f2e4b5fed58 0x7f2e4be91117\n"
        #expect(SyscallState(parsing: text) == .inSyscall(
            number: 202, args: [0x55d0_c0a0_e0a8, 0x80, 2, 0, 0, 0], sp: 0x7f2e_4b5f_ed58, pc: 0x7f2e_4be9_1117))
    }

    @Test func systemCallZeroAndFullWidthArguments() {
        let text = "0 0x0 0x7f2e4adfe6c0 0x400 0xffffffffffffffff 0xffffffff 0x0 0x7f2e4adfe688 0x7f2e4bf1a7e2"
        #expect(SyscallState(parsing: text) == .inSyscall(
            number: 0, args: [0, 0x7f2e_4adf_e6c0, 0x400, .max, 0xFFFF_FFFF, 0], sp: 0x7f2e_4adf_e688, pc: 0x7f2e_4bf1_a7e2))
    }

    @Test func aarch64Line() {
        let text = "98 0xffff9a001040 0x109 0x0 0x0 0x0 0xffffffff 0xffffc0dfea10 0xffff9c2b0e48\n"
        guard case .inSyscall(let number, let args, let sp, let pc)? = SyscallState(parsing: text) else {
            Issue.record("not parsed")
            return
        }
        #expect(number == 98)
        #expect(args == [0xFFFF_9A00_1040, 0x109, 0, 0, 0, 0xFFFF_FFFF])
        #expect(sp == 0xFFFF_C0DF_EA10)
        #expect(pc == 0xFFFF_9C2B_0E48)
    }

    static let garbage: [String] = [
        "",
        "\n",
        "runnin",
        "running now",
        "Running",
        "-1",
        "-1 0x1",
        "-1 0x1 0x2 0x3",
        "202",
        "202 0x1 0x2",
        "202 0x1 0x2 0x3 0x4 0x5 0x6 0x7",          // one value short
        "202 0x1 0x2 0x3 0x4 0x5 0x6 0x7 0x8 0x9",  // one value too many
        "202 0xzz 0x2 0x3 0x4 0x5 0x6 0x7 0x8",
        "202 0x 0x2 0x3 0x4 0x5 0x6 0x7 0x8",
        "x 0x1 0x2 0x3 0x4 0x5 0x6 0x7 0x8",
        "1.5 0x1 0x2 0x3 0x4 0x5 0x6 0x7 0x8",
        "-1 0x10000000000000000 0x2",                // overflows 64 bits
        "bogus 12 zz\n",
    ]

    @Test(arguments: SyscallStateTests.garbage)
    func rejectsGarbage(_ text: String) {
        #expect(SyscallState(parsing: text) == nil)
    }

    @Test(arguments: [("0x1f", UInt64?.some(31)), ("1f", 31), ("0", 0), ("ffffffffffffffff", .max), ("", nil), ("0x", nil), ("g", nil)]
          as [(String, UInt64?)])
    func hexDigits(_ text: String, _ expected: UInt64?) {
        #expect(hex(text) == expected)
    }
}

@Suite("SyscallNames") struct SyscallNamesTests {
    static let x86Numbers: [(String, Int)] = [
        ("read", 0), ("write", 1), ("poll", 7), ("wait4", 61), ("flock", 73), ("futex", 202),
        ("restart_syscall", 219), ("epoll_wait", 232), ("epoll_pwait", 281), ("futex_waitv", 449),
    ]

    static let armNumbers: [(String, Int)] = [
        ("futex", 98), ("read", 63), ("write", 64), ("wait4", 260), ("epoll_pwait", 22), ("pselect6", 72),
        ("ppoll", 73), ("clock_nanosleep", 115), ("flock", 32), ("fcntl", 25), ("restart_syscall", 128),
        ("futex_waitv", 449), ("nanosleep", 101), ("rt_sigsuspend", 133),
    ]

    @Test(arguments: SyscallNamesTests.x86Numbers)
    func x86_64(_ name: String, _ number: Int) {
        #expect(SyscallNames.name(number, on: .x86_64) == name)
        #expect(SyscallNames.number(name, on: .x86_64) == number)
    }

    @Test(arguments: SyscallNamesTests.armNumbers)
    func aarch64(_ name: String, _ number: Int) {
        #expect(SyscallNames.name(number, on: .aarch64) == name)
        #expect(SyscallNames.number(name, on: .aarch64) == number)
    }

    @Test func callsThatOnlyExistOnX86_64() {
        // The generic table has no legacy calls.
        for name in ["poll", "select", "epoll_wait", "pause", "fork", "open"] {
            #expect(SyscallNames.number(name, on: .x86_64) != nil, "\(name) on x86_64")
            #expect(SyscallNames.number(name, on: .aarch64) == nil, "\(name) on aarch64")
        }
    }

    @Test(arguments: Architecture.allCases)
    func unknownNumbers(_ arch: Architecture) {
        #expect(SyscallNames.name(-1, on: arch) == nil)
        #expect(SyscallNames.name(99999, on: arch) == nil)
        #expect(SyscallNames.number("no_such_call", on: arch) == nil)
    }

    @Test(arguments: Architecture.allCases)
    func namesAreUnique(_ arch: Architecture) {
        let table = arch == .x86_64 ? SyscallNames.x86_64 : SyscallNames.aarch64
        #expect(Set(table.values).count == table.count)
        #expect(table.count > 300)
    }

    @Test func hostArchitecture() {
        #if arch(x86_64)
        #expect(Architecture.host == .x86_64)
        #elseif arch(arm64)
        #expect(Architecture.host == .aarch64)
        #endif
    }
}
