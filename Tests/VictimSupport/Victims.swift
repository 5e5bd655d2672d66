import Foundation
import ProcFS

/// Builds the C victims of Tests/Victims, once per test run.
public enum VictimBuild {
    /// Path of the compiled `waits` victim.
    public static let waits: String = compile("waits.c", output: "waits")

    /// Compiles `source` (a name in Tests/Victims, or an absolute path) with `cc -O0 -g -pthread`
    /// and `flags` into `output` in this run's temporary folder; returns the binary's path.
    public static func compile(_ source: String, output: String, flags: [String] = []) -> String {
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
public final class Victim {
    public let pid: Int32
    /// The forked helper holding the other end, or 0.
    public let helper: Int32

    /// Starts `binary arguments…` and waits for its `ready PID HELPER` line.
    public init(_ binary: String, _ arguments: [String], environment: [String: String] = [:]) throws {
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

    /// `waits SCENARIO ARGUMENTS…`, the C victim of every kind of wait.
    public convenience init(scenario: String, arguments: [String] = []) throws {
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
    public func waitUntilBlocked(in name: String, tid: Int32? = nil, timeout: TimeInterval = 10) throws {
        try waitForBlocked(pid: pid, tid: tid ?? pid, in: name, timeout: timeout)
    }
}

/// `sh -c COMMAND`, killed with its descendants when the test ends.
public final class ShellVictim {
    public let pid: Int32

    public init(_ command: String) throws {
        pid = try spawnClean("/bin/sh", ["-c", command])
    }

    deinit {
        let started = descendants(of: pid)
        kill(pid, SIGKILL)
        for child in started { kill(child, SIGKILL) }
        _ = reap(pid)
    }
}

/// Waits until `condition` holds, looking every 5 ms; throws after `timeout` seconds.
public func waitUntil(timeout: TimeInterval = 10, _ condition: () -> Bool) throws {
    let deadline = Date().addingTimeInterval(timeout)
    while !condition() {
        guard Date() < deadline else { throw VictimError.notReady("condition not met in \(timeout) s") }
        usleep(5000)
    }
}

/// Waits until thread `tid` of `pid` sleeps in system call `name`.
public func waitForBlocked(pid: Int32, tid: Int32, in name: String, timeout: TimeInterval = 10) throws {
    let deadline = Date().addingTimeInterval(timeout)
    while !isBlocked(pid: pid, tid: tid, in: name) {
        guard Date() < deadline else { throw VictimError.notBlocked("\(pid)/\(tid) not blocked in \(name)") }
        usleep(2000)
    }
}

/// Waits until thread `tid` sleeps in a private futex wait (a lock of its own process's memory, not
/// a semaphore shared with others, such as a pool worker's task queue while it waits for a task).
public func waitForPrivateFutex(pid: Int32, tid: Int32, timeout: TimeInterval = 10) throws {
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
public func isBlocked(pid: Int32, tid: Int32, in name: String) -> Bool {
    let proc = ProcRoot()
    guard let text = try? proc.text("\(pid)/task/\(tid)/syscall"),
          case .inSyscall(let n, _, _, _)? = SyscallState(parsing: text), n == SyscallNames.number(name, on: .host),
          let stat = try? proc.text("\(pid)/task/\(tid)/stat") else { return false }
    return ProcStat(parsing: stat)?.state == "S"
}
