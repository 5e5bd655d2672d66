import Foundation
import ProcFS
import Symbols
import Testing

@testable import ForkHazardKit

/// Writes an executable file with a close-on-exec descriptor: a descriptor open for writing that a
/// child forked meanwhile by another test inherits would make exec fail with ETXTBSY.
func writeExecutable(_ bytes: [UInt8], to path: String) throws {
    unlink(path)
    let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o755)
    guard fd >= 0 else { throw VictimError.notReady("open \(path): \(errno)") }
    defer { close(fd) }
    let written = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
    guard written == bytes.count else { throw VictimError.notReady("write \(path)") }
}

/// Starts a victim; again, twice at most, when it did not start: its file may have been busy for an
/// instant (ETXTBSY: a child another test forked may still hold a descriptor of it, until that
/// child execs), for the spawn or for a shell's exec.
func startVictim(_ binary: String, _ arguments: [String]) throws -> Victim {
    for _ in 0..<2 {
        do {
            return try Victim(binary, arguments)
        } catch VictimError.notReady {
            usleep(100_000)
        }
    }
    return try Victim(binary, arguments)
}

/// A program whose section header table is corrupt still runs (the loader reads only the program
/// headers) and must still be diagnosed, its frames named from the dynamic segment or not at all.
@Suite("Corrupt executables") struct CorruptExecutableTests {
    enum Corruption: String, CaseIterable, Sendable {
        /// `e_shoff` points past the end of the file.
        case tablePastTheEnd
        /// The section header table is overwritten with pseudo-random bytes.
        case garbageTable
        /// The table is readable, but every section's file offset is far out of range.
        case offsetsOutOfRange
    }

    /// A copy of `binary` with its section header table corrupted.
    func corrupted(_ binary: String, _ corruption: Corruption) throws -> String {
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: binary)))
        let shoff = (0..<8).reduce(0) { $0 | Int(bytes[40 + $1]) << (8 * $1) }
        switch corruption {
        case .tablePastTheEnd:
            let past = UInt64(bytes.count + 0x10000)
            for i in 0..<8 { bytes[40 + i] = UInt8(truncatingIfNeeded: past >> (8 * UInt64(i))) }
        case .offsetsOutOfRange:
            let count = Int(bytes[60]) | Int(bytes[61]) << 8
            let far: UInt64 = 0x7f_ffff_f000
            for index in 1..<count {  // section 0 is the null section
                for i in 0..<8 { bytes[shoff + index * 64 + 24 + i] = UInt8(truncatingIfNeeded: far >> (8 * UInt64(i))) }
            }
        case .garbageTable:
            var state: UInt32 = 2024
            for i in shoff..<bytes.count {
                state = state &* 1_103_515_245 &+ 12345
                bytes[i] = UInt8(truncatingIfNeeded: state >> 16)
            }
        }
        let path = binary + "-" + corruption.rawValue
        try writeExecutable(bytes, to: path)
        return path
    }

    /// Built once: the test cases run in parallel.
    static let intact = VictimBuild.compile("waits.c", output: "waits-rdynamic", flags: ["-rdynamic"])

    @Test(arguments: Corruption.allCases)
    func forkedChildOnAnInheritedMutex(_ corruption: Corruption) throws {
        let intact = Self.intact
        let binary = try corrupted(intact, corruption)
        if corruption != .garbageTable { #expect(try ELFFile(path: binary).sectionHeaderProblem != nil) }
        
        let victim = try startVictim(binary, ["fork-mutex"])
        let child = victim.helper
        try waitForBlocked(pid: child, tid: child, in: "futex")
        let report = try Diagnosis().run(pids: [victim.pid])

        // The diagnosis is the one of the intact program.
        #expect(report.verdict == .deadlock)
        let holder = try #require(report.process(victim.pid)?.threads.first { $0.name == "holder" })
        let inherited = try #require(report.findings(.inheritedLock, naming: child).first)
        #expect(inherited.tids == [child, holder.tid])
        #expect(report.thread(child)?.wait?.lock?.kind == .pthreadMutex)

        // main comes from the dynamic segment (the program exports it); every name given to a
        // frame of the program is one of its own exported functions.
        let stack = try #require(report.thread(child)?.stack)
        #expect(Array(stack.compactMap(\.symbol).prefix(3)) == ["__lll_lock_wait", "pthread_mutex_lock", "main"])
        let exported = Set(try ELFFile(path: intact).dynsymFunctions.map(\.name))
        let own = stack.filter { $0.module == binary }
        #expect(!own.isEmpty)
        for frame in own {
            if let symbol = frame.symbol { #expect(exported.contains(symbol)) }
        }
    }
}
