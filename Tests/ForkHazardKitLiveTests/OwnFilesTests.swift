import Foundation
import ProcFS
import Symbols
import Testing

@testable import ForkHazardKit

/// Frames are named from the process's own files. Two builds of one victim differ only in their
/// function names (`inner_*`, `outer_*`; same code, same offsets): the process runs `inner`
/// while `outer` is at the same path as the tool sees it, so a frame named `outer_*` would be
/// named from another program's file.
@Suite("The process's own files", .enabled(if: getuid() == 0, "mount namespaces and bind mounts need root"))
struct OwnFilesTests {
    /// Built once for all tests (they run in parallel, and each copies what it needs).
    static let inner = VictimBuild.compile("own_files.c", output: "own-files-inner", flags: ["-DVARIANT=inner"])
    static let outer = VictimBuild.compile("own_files.c", output: "own-files-outer", flags: ["-DVARIANT=outer"])

    struct Builds {
        let dir: URL
        let inner = OwnFilesTests.inner
        let outer = OwnFilesTests.outer

        init() throws {
            dir = FileManager.default.temporaryDirectory.appendingPathComponent("forkhazard-own-files-\(getpid())-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        }

        func file(_ name: String) -> String { dir.appendingPathComponent(name).path }

        func copy(_ from: String, to name: String) throws -> String {
            let path = file(name)
            try writeExecutable([UInt8](try Data(contentsOf: URL(fileURLWithPath: from))), to: path)
            return path
        }

        func remove() { try? FileManager.default.removeItem(at: dir) }
    }

    /// The victim's main thread's frames in `module`.
    func frames(_ report: Report, _ victim: Victim, in module: String) throws -> [StackFrame] {
        try #require(report.thread(victim.pid)?.stack).filter { $0.module == module }
    }

    func diagnose(_ victim: Victim, readsMappedFiles: Bool) throws -> Report {
        var options = StackOptions()
        options.readsMappedFiles = readsMappedFiles
        return try Diagnosis(builder: SnapshotBuilder(stacks: options)).run(pids: [victim.pid])
    }

    func pauseLine() throws -> Int {
        let source = try String(contentsOfFile: try victimPath("own_files.c"),
                                encoding: .utf8)
        return try #require(source.split(separator: "\n", omittingEmptySubsequences: false).firstIndex { $0.contains("pause();") }) + 1
    }

    /// Inside its own mount namespace, a bind mount puts `inner` at the path where the host has
    /// `outer`: both ways of reading the process's file (the mapped file, the path in its root)
    /// name its frames `inner_*`, with their lines.
    @Test func otherProgramAtTheSamePathOnTheHost() throws {
        let builds = try Builds()
        defer { builds.remove() }
        let path = try builds.copy(builds.outer, to: "victim")
        let inner = try builds.copy(builds.inner, to: "inner")
        // The premise: the host's file at the path is the other program.
        #expect(Symbolizer().symbols(for: path)?.table.entries(named: "outer_wait").count == 1)

        let victim = try startVictim("/usr/bin/unshare", ["--mount", "--propagation", "private", "/bin/sh", "-c",
                                                     "mount --bind '\(inner)' '\(path)' && exec '\(path)'"])
        try victim.waitUntilBlocked(in: "pause")
        #expect(try ProcRoot().link("\(victim.pid)/ns/mnt") != (try ProcRoot().link("self/ns/mnt")))
        for readsMappedFiles in [true, false] {
            let report = try diagnose(victim, readsMappedFiles: readsMappedFiles)
            let own = try frames(report, victim, in: path)
            let names = own.compactMap(\.symbol)
            #expect(Array(names.prefix(3)) == ["inner_wait", "inner_entry", "main"], "map_files: \(readsMappedFiles)")
            #expect(!names.contains { $0.hasPrefix("outer") })
            let wait = try #require(own.first { $0.symbol == "inner_wait" })
            #expect(wait.file.map { fileName(of: $0) } == "own_files.c")
            #expect(wait.line == (try pauseLine()))
            #expect(!report.notes.map(\.words).contains { $0.contains(path) }, "\(report.notes)")
        }
    }

    /// The program's file is replaced by another after it started. The mapped file is still the
    /// one it runs: named from it. Without it (as without CAP_SYS_ADMIN) the path leads to the
    /// other program, whose build-id is not the one in the process's memory: the frames are left
    /// unnamed, with a note, never named `outer_*`.
    @Test func programReplacedAfterItStarted() throws {
        let builds = try Builds()
        defer { builds.remove() }
        let path = try builds.copy(builds.inner, to: "victim")
        let victim = try startVictim(path, [])
        try victim.waitUntilBlocked(in: "pause")
        let replacement = try builds.copy(builds.outer, to: "victim.new")
        #expect(rename(replacement, path) == 0)

        let mapped = try diagnose(victim, readsMappedFiles: true)
        #expect(Array(try frames(mapped, victim, in: path).compactMap(\.symbol).prefix(3)) == ["inner_wait", "inner_entry", "main"])

        let report = try diagnose(victim, readsMappedFiles: false)
        let own = try frames(report, victim, in: path)
        #expect(own.count >= 3)
        for frame in own {
            #expect(frame.symbol == nil)
            #expect(frame.file == nil && frame.line == nil)
            #expect(frame.display == "victim+0x" + String(frame.moduleOffset!, radix: 16))
        }
        let innerID = try #require(try ELFFile(path: builds.inner).buildIDHex)
        let outerID = try #require(try ELFFile(path: builds.outer).buildIDHex)
        let note = try #require(report.notes.map(\.words).first { $0.contains("frames in \(path) left unnamed") })
        #expect(note.hasPrefix("\(victim.pid): "))
        #expect(note.contains(outerID) && note.contains(innerID), "\(note)")
        // libc is still named.
        #expect(try #require(report.thread(victim.pid)?.stack).contains { $0.symbol == "pause" || $0.symbol == "__libc_pause" })
    }

    /// A stripped program whose debug file is only inside its mount namespace (a container's
    /// /usr/lib/debug): found there, by build-id.
    @Test func debugFileOnlyInsideTheProcessesRoot() throws {
        let builds = try Builds()
        defer { builds.remove() }
        let full = try builds.copy(builds.inner, to: "full")
        let id = try #require(try ELFFile(path: full).buildIDHex)
        let debugDir = builds.file("debug/.build-id/\(id.prefix(2))")
        try FileManager.default.createDirectory(atPath: debugDir, withIntermediateDirectories: true)
        #expect(try runCommand("/usr/bin/objcopy", ["--only-keep-debug", full, debugDir + "/\(id.dropFirst(2)).debug"]).status == 0)
        let stripped = builds.file("stripped")
        #expect(try runCommand("/usr/bin/strip", ["-o", stripped, full]).status == 0)
        // The premise: on the host it has no names.
        #expect(Symbolizer().symbols(for: stripped)?.table.entries(named: "inner_wait").isEmpty == true)

        let victim = try startVictim("/usr/bin/unshare", ["--mount", "--propagation", "private", "/bin/sh", "-c",
                                                     "mount --bind '\(builds.file("debug"))' /usr/lib/debug && exec '\(stripped)'"])
        try victim.waitUntilBlocked(in: "pause")
        for readsMappedFiles in [true, false] {
            let report = try diagnose(victim, readsMappedFiles: readsMappedFiles)
            let own = try frames(report, victim, in: stripped)
            #expect(Array(own.compactMap(\.symbol).prefix(3)) == ["inner_wait", "inner_entry", "main"], "map_files: \(readsMappedFiles)")
            #expect(own.first?.line == (try pauseLine()))
            // libc's debug file is not in there: the host's is used, and libc named.
            #expect(try #require(report.thread(victim.pid)?.stack).contains { $0.symbol == "__libc_start_call_main" })
        }
    }

    /// The Python interpreter is located from the process's own files too: inside its mount
    /// namespace the path runs CPython 3.12 (its runtime in libpython), while the host has Debian's
    /// static interpreter there, whose `_PyRuntime` would send the reader to a wrong address.
    @Test(.cpython("3.12")) func pythonAtAPathWhereTheHostHasAnotherOne() throws {
        let builds = try Builds()
        defer { builds.remove() }
        let path = try builds.copy(URL(fileURLWithPath: "/usr/bin/python3").resolvingSymlinksInPath().path, to: "python")
        let own = try builds.copy(try #require(pythonBinary("3.12")), to: "python3.12")
        // The premise: the host's file at the path holds a runtime of its own.
        #expect(try ELFFile(path: path, loadSymbols: false).section(named: ".PyRuntime") != nil)
        let script = try victimPath("python_threads.py")
        // unshare execs the shell, which execs the interpreter: one PID throughout.
        let victim = try PythonVictim("/usr/bin/unshare", "--mount", ["--propagation", "private", "/bin/sh", "-c",
                                                                 "mount --bind '\(own)' '\(path)' && exec '\(path)' '\(script)'"])
        let report = try Diagnosis(builder: SnapshotBuilder(stacks: nil)).run(pids: [victim.pid])
        #expect(report.process(victim.pid)?.python?.version.hasPrefix("3.12") == true, "\(report.notes)")
        #expect(report.thread(try #require(victim.threads["rlock-waiter"]))?.python?.threadName == "rlock-waiter")
    }
}
