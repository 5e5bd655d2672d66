import Foundation
import Testing

@testable import ProcFS

/// `/proc/PID/stat` lines as the kernel prints them: 52 fields, comm in parentheses.
enum StatLines {
    /// comm `a) b) (c`: spaces and both parentheses.
    static let oddComm = "1234 (a) b) (c) S 1 1230 1229 34817 1230 4194560 2153 0 12 0 345 67 0 0 20 0 3 0 987654 12345678 890 18446744073709551615 94823451230208 94823451234567 140732123456768 0 0 0 0 4096 16386 0 0 0 17 2 0 0 0 0 0 94823451245000 94823451246000 94823460000000 140732123460000 140732123460050 140732123460050 140732123463000 0\n"
    static let bash = "42 (bash) S 41 42 42 34816 4321 4194304 9981 120381 0 44 25 13 1021 977 20 0 1 0 2301 9170944 1280 18446744073709551615 94283728998400 94283729904993 140724325718384 0 0 0 65536 3686404 1266761467 1 0 0 17 0 0 0 0 0 0 94283730144688 94283730192484 94283751088128 140724325724810 140724325724815 140724325724815 140724325728238 0\n"
    /// comm `(sd-pam)`: starts with `(`.
    static let sdPam = "1500 ((sd-pam)) S 1499 1499 1499 0 -1 1077936448 34 0 0 0 0 0 0 0 20 0 1 0 1803 172457984 1174 18446744073709551615 1 1 0 0 0 0 0 4096 0 0 0 0 17 1 0 0 0 0 0 0 0 0 0 0 0 0 0\n"
    static let zombie = "4001 (defunct) Z 4000 4000 3990 34816 4000 4227084 0 0 0 0 3 1 0 0 20 0 1 0 10100 0 0 18446744073709551615 0 0 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0 0 0 0 0 0 0 0 9\n"
    /// PF_KTHREAD | PF_NOFREEZE | PF_FORKNOEXEC.
    static let kthreadd = "2 (kthreadd) S 0 0 0 0 -1 2129984 0 0 0 0 0 21 0 0 20 0 1 0 1 0 0 18446744073709551615 0 0 0 0 0 0 0 2147483647 0 1 0 0 0 1 0 0 0 0 0 0 0 0 0 0 0 0 0\n"
    /// An idle kworker: state I, PF_KTHREAD | PF_WQ_WORKER …
    static let kworker = "87 (kworker/0:1H-kblockd) I 2 0 0 0 -1 69238880 0 0 0 0 0 15 0 0 0 -20 1 0 42 0 0 18446744073709551615 0 0 0 0 0 0 0 2147483647 0 0 0 0 17 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n"
}

struct StatCase: Sendable, CustomTestStringConvertible {
    var line: String
    var pid: Int32
    var comm: String
    var state: Character
    var ppid: Int32
    var pgrp: Int32
    var session: Int32
    var tty: Int32
    var flags: UInt32
    var utime: UInt64
    var stime: UInt64
    var threads: Int
    var start: UInt64
    var kernelThread: Bool

    var testDescription: String { "\(pid) (\(comm)) \(state)" }
}

@Suite("ProcStat") struct ProcStatTests {
    static let cases: [StatCase] = [
        StatCase(line: StatLines.oddComm, pid: 1234, comm: "a) b) (c", state: "S", ppid: 1, pgrp: 1230, session: 1229,
                 tty: 34817, flags: 4_194_560, utime: 345, stime: 67, threads: 3, start: 987_654, kernelThread: false),
        StatCase(line: StatLines.bash, pid: 42, comm: "bash", state: "S", ppid: 41, pgrp: 42, session: 42,
                 tty: 34816, flags: 4_194_304, utime: 25, stime: 13, threads: 1, start: 2301, kernelThread: false),
        StatCase(line: StatLines.sdPam, pid: 1500, comm: "(sd-pam)", state: "S", ppid: 1499, pgrp: 1499, session: 1499,
                 tty: 0, flags: 1_077_936_448, utime: 0, stime: 0, threads: 1, start: 1803, kernelThread: false),
        StatCase(line: StatLines.zombie, pid: 4001, comm: "defunct", state: "Z", ppid: 4000, pgrp: 4000, session: 3990,
                 tty: 34816, flags: 4_227_084, utime: 3, stime: 1, threads: 1, start: 10100, kernelThread: false),
        StatCase(line: StatLines.kthreadd, pid: 2, comm: "kthreadd", state: "S", ppid: 0, pgrp: 0, session: 0,
                 tty: 0, flags: 0x0020_8040, utime: 0, stime: 21, threads: 1, start: 1, kernelThread: true),
        StatCase(line: StatLines.kworker, pid: 87, comm: "kworker/0:1H-kblockd", state: "I", ppid: 2, pgrp: 0, session: 0,
                 tty: 0, flags: 0x0420_8060, utime: 0, stime: 15, threads: 1, start: 42, kernelThread: true),
    ]

    @Test(arguments: ProcStatTests.cases)
    func parsesKernelLines(_ c: StatCase) throws {
        // Each fixture is a full line: 52 fields, comm counted as one.
        let afterComm = c.line[c.line.index(after: c.line.lastIndex(of: ")")!)...]
        #expect(afterComm.split(separator: " ").count == 50)

        let stat = try #require(ProcStat(parsing: c.line))
        #expect(stat.pid == c.pid)
        #expect(stat.comm == c.comm)
        #expect(stat.state == c.state)
        #expect(stat.ppid == c.ppid)
        #expect(stat.pgrp == c.pgrp)
        #expect(stat.session == c.session)
        #expect(stat.ttyNr == c.tty)
        #expect(stat.flags == c.flags)
        #expect(stat.utimeTicks == c.utime)
        #expect(stat.stimeTicks == c.stime)
        #expect(stat.numThreads == c.threads)
        #expect(stat.startTicks == c.start)
        #expect(stat.isKernelThread == c.kernelThread)
    }

    @Test func withoutTrailingNewline() throws {
        let stat = try #require(ProcStat(parsing: String(StatLines.bash.dropLast())))
        #expect(stat.pid == 42 && stat.startTicks == 2301)
    }

    @Test func commThatLooksLikeFields() throws {
        // A process may name itself `x) R 99 (` to confuse a parser that splits at the first `)`.
        let line = "777 (x) R 99 () S 5 777 777 0 -1 4194304 0 0 0 0 7 8 0 0 20 0 2 0 31337 0 0 18446744073709551615 0 0 0 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0 0 0 0 0 0 0 0 0"
        let stat = try #require(ProcStat(parsing: line))
        #expect(stat.comm == "x) R 99 (")
        #expect(stat.state == "S")
        #expect(stat.ppid == 5)
        #expect(stat.numThreads == 2)
        #expect(stat.startTicks == 31337)
    }

    @Test func emptyComm() throws {
        let line = "9 () S 1 9 9 0 -1 4194304 0 0 0 0 0 0 0 0 20 0 1 0 5 0 0 18446744073709551615 0 0 0 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0 0 0 0 0 0 0 0 0"
        let stat = try #require(ProcStat(parsing: line))
        #expect(stat.comm == "")
        #expect(stat.pid == 9)
    }

    @Test func kernelThreadFlagIsPFKTHREAD() throws {
        var stat = try #require(ProcStat(parsing: StatLines.bash))
        #expect(!stat.isKernelThread)
        stat.flags = 0x0020_0000
        #expect(stat.isKernelThread)
        stat.flags = 0xFFDF_FFFF  // every bit but PF_KTHREAD
        #expect(!stat.isKernelThread)
    }

    static let garbage: [String] = [
        "",
        "\n",
        "garbage",
        "1234 (cat",                        // no closing parenthesis
        "1234 cat) S 1 1234",               // no opening parenthesis
        ") 1234 (cat S 1",                  // parentheses the wrong way round
        "(cat) S 1 1234 1234 0 -1 4194304 0 0 0 0 0 0 0 0 20 0 1 0 5 0",  // no pid
        "abc (cat) S 1 1234 1234 0 -1 4194304 0 0 0 0 0 0 0 0 20 0 1 0 5 0",
        "1234 (cat)",                       // nothing after comm
        "1234 (cat) S 1 1234 1234 0 -1 4194304 0 0 0 0 0 0 0 0 20 0 1 0",  // truncated before starttime
        "1234 (cat) S 1 1234 1234 0 -1",    // truncated before flags
        "1234 (cat) S x 1234 1234 0 -1 4194304 0 0 0 0 0 0 0 0 20 0 1 0 5 0",  // ppid not a number
        "1234 (cat) S 1 1234 1234 0 -1 -5 0 0 0 0 0 0 0 0 20 0 1 0 5 0",     // negative flags
        "1234 (cat) S 1 1234 1234 0 -1 4194304 0 0 0 0 0 0 0 0 20 0 many 0 5 0",
        "99999999999 (cat) S 1 1234 1234 0 -1 4194304 0 0 0 0 0 0 0 0 20 0 1 0 5 0",  // pid overflows Int32
        String(StatLines.bash.prefix(60)),
    ]

    @Test(arguments: ProcStatTests.garbage)
    func rejectsGarbage(_ line: String) {
        #expect(ProcStat(parsing: line) == nil)
    }
}

@Suite("ProcStatus") struct ProcStatusTests {
    static let status = """
        Name:\tserver
        Umask:\t0022
        State:\tS (sleeping)
        Tgid:\t2000
        Ngid:\t0
        Pid:\t2010
        PPid:\t1
        TracerPid:\t0
        Uid:\t1000\t1001\t1002\t1003
        Gid:\t100\t100\t100\t100
        FDSize:\t64
        Groups:\t4 24 27 100 
        NStgid:\t2000
        NSpid:\t2010
        VmPeak:\t  230444 kB
        Threads:\t9
        SigQ:\t0/31328
        Cpus_allowed_list:\t0-3
        voluntary_ctxt_switches:\t150
        nonvoluntary_ctxt_switches:\t3

        """

    @Test func parsesTheFieldsItUses() {
        let status = ProcStatus(parsing: Self.status)
        #expect(status.name == "server")
        #expect(status.tgid == 2000)
        #expect(status.uid == 1000)  // the real uid, first of four
        #expect(status.voluntaryContextSwitches == 150)
        #expect(status.nonvoluntaryContextSwitches == 3)
    }

    @Test func nameWithSpacesAndParentheses() {
        let status = ProcStatus(parsing: "Name:\ta) b) (c\nTgid:\t1234\n")
        #expect(status.name == "a) b) (c")
        #expect(status.tgid == 1234)
    }

    @Test func missingLinesStayNil() {
        let status = ProcStatus(parsing: "Name:\tkthreadd\nUmask:\t0000\nState:\tS (sleeping)\nTgid:\t2\nUid:\t0\t0\t0\t0\n")
        #expect(status.name == "kthreadd")
        #expect(status.uid == 0)
        #expect(status.voluntaryContextSwitches == nil)
        #expect(status.nonvoluntaryContextSwitches == nil)
    }

    @Test(arguments: ["", "\n\n", "garbage without colons", "Tgid:\tnotanumber\nUid:\t\n", "Tgid 12\n"])
    func garbageLeavesEverythingNil(_ text: String) {
        let status = ProcStatus(parsing: text)
        #expect(status.name == nil)
        #expect(status.tgid == nil)
        #expect(status.uid == nil)
        #expect(status.voluntaryContextSwitches == nil)
        #expect(status.nonvoluntaryContextSwitches == nil)
    }

    @Test func keysMustMatchExactly() {
        // NStgid and PPid must not be taken for Tgid and Pid.
        let status = ProcStatus(parsing: "NStgid:\t77\nPPid:\t1\n")
        #expect(status.tgid == nil)
    }
}

@Suite("btime and cmdline") struct BootTimeAndCmdlineTests {
    static let procStat = """
        cpu  10132153 290696 3084719 46828483 16683 0 25195 0 0 0
        cpu0 1393280 32966 572056 13343292 6130 0 17875 0 0 0
        intr 1462898 0 0 0
        ctxt 41935367
        btime 1700000000
        processes 26442
        procs_running 2
        procs_blocked 0

        """

    @Test(arguments: [
        (BootTimeAndCmdlineTests.procStat, UInt64?.some(1_700_000_000)),
        ("btime 0\n", 0),
        ("btime 1700000000", 1_700_000_000),
        ("btime  1700000001  \n", 1_700_000_001),
        ("cpu 1 2 3\nctxt 5\n", nil),
        ("", nil),
        ("btime x\n", nil),
        ("xbtime 5\n", nil),
        ("btime\n", nil),
    ] as [(String, UInt64?)])
    func bootTime(_ text: String, _ expected: UInt64?) {
        #expect(parseBootTime(text) == expected)
    }

    @Test(arguments: [
        ("/usr/bin/server\u{0}--port\u{0}8080\u{0}", ["/usr/bin/server", "--port", "8080"]),
        ("", []),
        ("\u{0}", [""]),
        ("a", ["a"]),                                          // no trailing NUL (setproctitle)
        ("nginx: worker process", ["nginx: worker process"]),
        ("a\u{0}\u{0}b\u{0}", ["a", "", "b"]),                 // an empty argument in the middle
        ("prog\u{0}\u{0}", ["prog", ""]),                      // an empty last argument
        ("./a) b) (c\u{0}with space\u{0}", ["./a) b) (c", "with space"]),
        ("h\u{E9}llo\u{0}", ["h\u{E9}llo"]),
    ] as [(String, [String])])
    func cmdline(_ text: String, _ expected: [String]) {
        #expect(parseCmdline(Array(text.utf8)) == expected)
    }

    @Test func cmdlineWithInvalidUTF8() {
        #expect(parseCmdline([0x61, 0xFF, 0x62, 0]) == ["a\u{FFFD}b"])
    }
}

/// Numbers no kernel prints, which a parser must refuse instead of trapping or wrapping.
@Suite("Numbers out of range") struct OutOfRangeNumberTests {
    @Test(arguments: ["-9223372036854775808", "-9223372036854775809", "99999999999999999999"])
    func pidField(_ pid: String) {
        let line = StatLines.bash.replacingOccurrences(of: "42 (bash)", with: "\(pid) (bash)")
        #expect(ProcStat(parsing: line) == nil)
    }

    @Test func ppidFieldAtInt64Min() {
        let line = StatLines.bash.replacingOccurrences(of: "(bash) S 41 ", with: "(bash) S -9223372036854775808 ")
        #expect(ProcStat(parsing: line) == nil)
    }

    @Test func countersBeyondUInt64() {
        let status = ProcStatus(parsing: "Name:\tx\nvoluntary_ctxt_switches:\t18446744073709551616\nnonvoluntary_ctxt_switches:\t7\n")
        #expect(status.voluntaryContextSwitches == nil)
        #expect(status.nonvoluntaryContextSwitches == 7)
        #expect(leadingNumber(Array("18446744073709551615".utf8)[...]) == UInt64.max)
    }
}
