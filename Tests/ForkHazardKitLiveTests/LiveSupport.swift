import Foundation
import ProcFS
import Testing
@_exported import VictimSupport

@testable import ForkHazardKit

/// Builds the C victims once per test run.
enum VictimBuild {
    /// Path of the compiled `waits` victim.
    static let waits: String = compile("waits.c", output: "waits")

    static func compile(_ source: String, output: String, flags: [String] = []) -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("forkhazard-victims-\(getpid())")
        try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let sourcePath = source.hasPrefix("/") ? source : victimsDirectory + "/" + source
        let binary = dir.appendingPathComponent(output).path
        let compiled = Result { try runCommand("/usr/bin/env", ["cc", "-O0", "-g", "-pthread"] + flags + ["-o", binary, sourcePath]) }
        precondition((try? compiled.get())?.status == 0,
                     "could not compile \(sourcePath): \((try? compiled.get())?.output ?? "\(compiled)")")
        return binary
    }
}

/// A victim process this test started: killed by PID, with everything it started, when the test ends.
/// It starts with a clean signal mask (the test runner's threads block most signals, and a child
/// would inherit that), like a program started from a shell.
final class Victim {
    let pid: Int32
    /// The forked helper holding the other end, or 0.
    let helper: Int32

    /// Starts `binary arguments…` and waits for its `ready PID HELPER` line.
    init(_ binary: String, _ arguments: [String], environment: [String: String] = [:]) throws {
        var fds: [Int32] = [0, 0]
        guard pipe(&fds) == 0 else { throw VictimError.notReady("pipe") }
        defer { close(fds[0]) }
        let spawned = try spawnClean(binary, arguments, stdout: fds[1], environment: environment)
        close(fds[1])
        var line: [UInt8] = []
        while !line.contains(UInt8(ascii: "\n")) {
            // A victim that never says "ready" fails the test instead of hanging it.
            var ready = pollfd(fd: fds[0], events: Int16(POLLIN), revents: 0)
            guard poll(&ready, 1, 20_000) > 0 else { break }
            var byte: UInt8 = 0
            guard read(fds[0], &byte, 1) == 1 else { break }
            line.append(byte)
        }
        let words = String(decoding: line, as: UTF8.self).split(whereSeparator: { $0 == " " || $0 == "\n" })
        guard words.count >= 3, words[0] == "ready", let pid = Int32(words[1]), let helper = Int32(words[2]), pid == spawned else {
            kill(spawned, SIGKILL)
            _ = reap(spawned)
            throw VictimError.notReady(([binary] + arguments).joined(separator: " "))
        }
        self.pid = pid
        self.helper = helper
    }

    convenience init(scenario: String, arguments: [String] = []) throws {
        try self.init(VictimBuild.waits, [scenario] + arguments)
    }

    /// Kills the victim and everything it started (its descendants, found in /proc), by PID. The
    /// victim goes first: a pool that outlived one of its workers would fork a replacement.
    deinit {
        let started = descendants(of: pid)
        kill(pid, SIGKILL)
        for descendant in started { kill(descendant, SIGKILL) }
        if helper > 0 { kill(helper, SIGKILL) }
        _ = reap(pid)
    }

    /// Waits until thread `tid` (default: the main thread) sleeps in system call `name`.
    func waitUntilBlocked(in name: String, tid: Int32? = nil, timeout: TimeInterval = 10) throws {
        try waitForBlocked(pid: pid, tid: tid ?? pid, in: name, timeout: timeout)
    }
}

func waitForBlocked(pid: Int32, tid: Int32, in name: String, timeout: TimeInterval = 10) throws {
    let deadline = Date().addingTimeInterval(timeout)
    while !isBlocked(pid: pid, tid: tid, in: name) {
        guard Date() < deadline else { throw VictimError.notBlocked("\(pid)/\(tid) not blocked in \(name)") }
        usleep(2000)
    }
}

/// Waits until thread `tid` sleeps in a private futex wait (a lock of its own process's memory, not
/// a semaphore shared with others, such as a pool worker's task queue while it waits for a task).
func waitForPrivateFutex(pid: Int32, tid: Int32, timeout: TimeInterval = 10) throws {
    let deadline = Date().addingTimeInterval(timeout)
    let futex = SyscallNames.number("futex", on: .host)
    while true {
        if isBlocked(pid: pid, tid: tid, in: "futex"), let text = try? ProcRoot().text("\(pid)/task/\(tid)/syscall"),
           case .inSyscall(let n, let arguments, _, _)? = SyscallState(parsing: text), n == futex,
           arguments.count > 1, arguments[1] & 128 != 0 {
            return
        }
        guard Date() < deadline else { throw VictimError.notBlocked("\(pid)/\(tid) not in a private futex wait") }
        usleep(2000)
    }
}

/// Whether thread `tid` sleeps in system call `name` now.
func isBlocked(pid: Int32, tid: Int32, in name: String) -> Bool {
    let proc = ProcRoot()
    guard let text = try? proc.text("\(pid)/task/\(tid)/syscall"),
          case .inSyscall(let n, _, _, _)? = SyscallState(parsing: text), n == SyscallNames.number(name, on: .host),
          let stat = try? proc.text("\(pid)/task/\(tid)/stat") else { return false }
    return ProcStat(parsing: stat)?.state == "S"
}

extension Report {
    /// A finding in the words the renderers print.
    func words(_ finding: Finding) -> FindingText { FindingWords(report: self).text(for: finding) }

    /// Every evidence line of a finding, sub-items included.
    func evidence(_ finding: Finding) -> [String] { words(finding).flatEvidence }

    func findings(_ rule: RuleID) -> [Finding] { findings.filter { $0.rule == rule } }

    /// The findings of `rule` that name process `pid`.
    func findings(_ rule: RuleID, naming pid: Int32) -> [Finding] { findings(rule).filter { $0.pids.contains(pid) } }
}

/// A JSON document as Foundation's dictionaries and arrays.
func jsonObject(_ text: String) throws -> [String: Any] {
    guard let object = try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any] else {
        throw VictimError.notReady("not a JSON object: \(text.prefix(200))")
    }
    return object
}

/// The JSON Lines records of `text` that parse.
func jsonLines(_ text: String) -> [[String: Any]] {
    text.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
}

// MARK: CPython

/// Debian's CPython, which Scripts/bootstrap installs: for tests that need a Python but not a
/// particular version. They always run.
extension Trait where Self == ConditionTrait {
    /// Runs the test only where pyenv has CPython `version`; elsewhere the test is skipped and the
    /// runner prints why.
    static func cpython(_ version: String) -> Self {
        .enabled(if: pythonBinary(version) != nil,
                 "CPython \(version) is not installed under \(pyenvRoot)/versions (pyenv install \(version))")
    }

    /// Debian sid's CPython `version` ("3.14"), in the root Scripts/python-roots makes.
    static func sid(_ version: String) -> Self {
        .enabled(if: sidPython(version) != nil, Comment(rawValue: sidPythonMissing))
    }
}

/// The built `forkhazard` executable, next to the test bundle.
func forkhazardBinary() -> String {
    var dir = URL(fileURLWithPath: Bundle.module.bundlePath).deletingLastPathComponent()
    if !FileManager.default.fileExists(atPath: dir.appendingPathComponent("forkhazard").path) {
        dir = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
    }
    return dir.appendingPathComponent("forkhazard").path
}

/// Runs the forkhazard executable with `arguments` (and the test's environment plus `environment`)
/// and collects its output.
func runForkhazard(_ arguments: [String], environment: [String: String] = [:]) throws -> CommandResult {
    try runCommand(forkhazardBinary(), arguments, environment: environment)
}

/// A command started with a clean signal mask, its stdout and stderr captured in files.
final class CapturedRun {
    let pid: pid_t
    let outPath: String
    let errPath: String
    private(set) var status: Int32?
    private(set) var signal: Int32?

    init(_ path: String, _ arguments: [String]) throws {
        let dir = FileManager.default.temporaryDirectory.path
        let tag = UUID().uuidString
        outPath = "\(dir)/fh-out-\(tag)"
        errPath = "\(dir)/fh-err-\(tag)"
        let out = open(outPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        let err = open(errPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        defer { close(out); close(err) }
        pid = try spawnClean(path, arguments, stdout: out, stderr: err)
    }

    /// Waits for it to end; kills it (by PID), and what it started, if it takes longer than `timeout`.
    @discardableResult
    func wait(timeout: TimeInterval = 60) -> Int32? {
        let deadline = Date().addingTimeInterval(timeout)
        var raw: Int32 = 0
        while waitpid(pid, &raw, WNOHANG) == 0 {
            if Date() > deadline {
                // Its descendants first, found while it is their ancestor, so none is left behind.
                let started = descendants(of: pid)
                kill(pid, SIGSTOP)
                for child in descendants(of: pid) + started { kill(child, SIGKILL) }
                kill(pid, SIGKILL)
                waitpid(pid, &raw, 0)
                break
            }
            usleep(10_000)
        }
        let sig = raw & 0x7f
        if sig == 0 { status = (raw >> 8) & 0xff } else { signal = sig }
        return status
    }

    var stdout: String { (try? String(contentsOfFile: outPath, encoding: .utf8)) ?? "" }
    var stderr: String { (try? String(contentsOfFile: errPath, encoding: .utf8)) ?? "" }

    deinit {
        try? FileManager.default.removeItem(atPath: outPath)
        try? FileManager.default.removeItem(atPath: errPath)
    }
}
