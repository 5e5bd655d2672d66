import Foundation
import Testing

@testable import ProcFS

#if canImport(Glibc)
import Glibc
#endif

/// The fake /proc tree under Tests/ProcFSFixtureTests/Fixtures/proc.
enum ProcFSFixtures {
    static let root: String = {
        if let url = Bundle.module.url(forResource: "Fixtures", withExtension: nil),
           FileManager.default.fileExists(atPath: url.appendingPathComponent("proc/stat").path) {
            return url.appendingPathComponent("proc").path
        }
        // Fall back to the source tree.
        return URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/proc").path
    }()

    static var proc: ProcRoot { ProcRoot(root) }
}

@Suite("ProcRoot") struct ProcRootTests {
    let proc = ProcFSFixtures.proc

    @Test func readsAFileToEOF() throws {
        // 10,000 bytes: more than two of the reader's 4096-byte chunks.
        let bytes = try proc.bytes("big")
        #expect(bytes.count == 10_000)
        #expect(Array(bytes.suffix(10)) == Array("000000999\n".utf8))
        let text = try proc.text("big")
        #expect(text == (0..<1000).map { String(repeating: "0", count: 9 - String($0).count) + "\($0)\n" }.joined())
    }

    @Test func readsAMapsFileLongerThanOneChunk() throws {
        let text = try proc.text("42/maps")
        #expect(text.utf8.count > 4096)
        let maps = MemoryMapping.parseAll(text)
        #expect(maps.count == 100)
        #expect(maps.last?.path == "/usr/lib/x86_64-linux-gnu/lib099.so")
        #expect(maps.last?.inode == 1099)
        #expect(maps.last?.offset == 99 * 0x1000)
    }

    @Test func bootTimeAndStat() throws {
        #expect(parseBootTime(try proc.text("stat")) == 1_700_000_000)
        let stat = try #require(ProcStat(parsing: try proc.text("42/stat")))
        #expect(stat.pid == 42)
        #expect(stat.comm == "p42")
        #expect(stat.ppid == 1)
    }

    @Test func cmdlineBytes() throws {
        #expect(parseCmdline(try proc.bytes("42/cmdline")) == ["/usr/bin/fixture program", "--flag", "", "last"])
    }

    @Test(arguments: ["nope", "42/nope", "9999/stat", "stat/child", "42/fd/99"])
    func missingFilesAreGone(_ relative: String) {
        #expect(throws: ProcError.gone) { try proc.text(relative) }
        #expect(throws: ProcError.gone) { try proc.bytes(relative) }
    }

    @Test func aDirectoryIsNotAFile() {
        #expect(throws: ProcError.failed(errno: EISDIR)) { try proc.bytes("42") }
    }

    @Test func links() throws {
        #expect(try proc.link("42/fd/3") == "pipe:[5353]")
        #expect(try proc.link("42/fd/4") == "socket:[77]")
        #expect(try proc.link("42/fd/5") == "anon_inode:[eventpoll]")
        #expect(try proc.link("42/fd/10") == "/dev/pts/1")
        #expect(try proc.link("42/exe") == "/usr/bin/fixture program")
        #expect(try proc.link("self") == "42")
        #expect(FdTarget(link: try proc.link("42/fd/3")) == .pipe(inode: 5353))
        #expect(throws: ProcError.gone) { try proc.link("42/fd/99") }
        #expect(throws: ProcError.gone) { try proc.link("9999/exe") }
        #expect(throws: ProcError.failed(errno: EINVAL)) { try proc.link("stat") }  // not a link
    }

    @Test func numericEntriesAreSortedNumerically() throws {
        #expect(try proc.numericEntries("") == [1, 7, 42, 100])
        #expect(try proc.numericEntries("42/fd") == [3, 4, 5, 10])
        #expect(try proc.numericEntries("net") == [])
        #expect(throws: ProcError.gone) { try proc.numericEntries("9999/task") }
        #expect(throws: ProcError.gone) { try proc.numericEntries("stat") }  // ENOTDIR
    }

    @Test func entriesSkipDotAndDotDot() throws {
        let names = Set(try proc.entries(""))
        #expect(names == ["1", "7", "42", "100", "self", "net", "sys", "stat", "locks", "big"])
    }

    @Test func urls() {
        #expect(proc.url("42", "stat") == ProcFSFixtures.root + "/42/stat")
        #expect(ProcRoot().path == "/proc")
        #expect(ProcRoot().url("self", "stat") == "/proc/self/stat")
    }

    @Test func tablesFromFiles() throws {
        #expect(UnixSocketEntry.parseTable(try proc.text("net/unix")).count == 5)
        let tcp = InetSocketEntry.parseTable(try proc.text("net/tcp"), proto: "tcp")
        #expect(tcp[40123]?.local == "127.0.0.1:8080")
        let tcp6 = InetSocketEntry.parseTable(try proc.text("net/tcp6"), proto: "tcp6")
        #expect(tcp6.count == 3)
        let locks = FileLockEntry.parseAll(try proc.text("locks"))
        #expect(locks.map(\.pid) == [1234, 1235, 42, -1])
        #expect(locks.map(\.isWaiter) == [false, true, false, false])
    }

    @Test(arguments: [
        (ENOENT, ProcError.gone), (ESRCH, .gone), (ENOTDIR, .gone),
        (EACCES, .denied), (EPERM, .denied), (EIO, .failed(errno: EIO)), (EISDIR, .failed(errno: EISDIR)),
    ] as [(Int32, ProcError)])
    func errnoMapping(_ code: Int32, _ expected: ProcError) {
        #expect(ProcError(errno: code) == expected)
    }

    @Test func reasons() {
        #expect(ProcError.gone.reason == "no longer exists")
        #expect(ProcError.denied.reason == "permission denied")
        #expect(ProcError.failed(errno: EINVAL).reason == "Invalid argument")
    }

    @Test(.enabled(if: getuid() != 0, "root can open any file"))
    func unreadableFileIsDenied() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("procfs-denied-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("secret")
        try Data("x".utf8).write(to: file)
        chmod(file.path, 0)
        #expect(throws: ProcError.denied) { try ProcRoot(dir.path).text("secret") }
    }

    @Test func liveProcSelf() throws {
        let stat = try #require(ProcStat(parsing: try ProcRoot().text("self/stat")))
        #expect(stat.pid == getpid())
        #expect(!stat.isKernelThread)
        #expect(try ProcRoot().numericEntries("").contains(getpid()))
    }
}
