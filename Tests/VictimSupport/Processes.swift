import Foundation
import ProcFS

// What the tests of every target share: running a command to its end, starting victims as a
// shell would, reaping them, finding what they started, and the interpreters they run under.

public enum VictimError: Error, CustomStringConvertible {
    case notReady(String)
    case notBlocked(String)

    public var description: String {
        switch self {
        case .notReady(let why): return "victim not ready: \(why)"
        case .notBlocked(let why): return "victim not blocked: \(why)"
        }
    }
}

/// What a command run to its end did.
public struct CommandResult: Equatable, Sendable {
    /// Its exit status (the signal's number when a signal ended it).
    public var status: Int32
    public var stdout: String
    public var stderr: String

    public init(status: Int32, stdout: String, stderr: String) {
        self.status = status
        self.stdout = stdout
        self.stderr = stderr
    }

    /// Its stdout, then its stderr: for messages.
    public var output: String { stdout + stderr }
}

/// Runs `path` with `arguments` to its end and collects its output: stdin is /dev/null, the
/// environment the test's plus `environment`, the working directory `directory` (else this
/// process's). It returns once the command has exited and every holder of its stdout and stderr
/// has closed them. The command is started by Foundation's `Process`, which gives it no other file
/// descriptor of the test runner (a pipe of another test's victim) and a process group of its own.
public func runCommand(_ path: String, _ arguments: [String], environment: [String: String] = [:],
                       in directory: String? = nil) throws -> CommandResult {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: path)
    process.arguments = arguments
    if !environment.isEmpty {
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { _, new in new }
    }
    if let directory { process.currentDirectoryURL = URL(fileURLWithPath: directory) }
    let out = Pipe(), err = Pipe()
    process.standardOutput = out
    process.standardError = err
    try process.run()
    // stderr is read on a thread of its own, so that a command filling one pipe while this reads
    // the other does not wait forever.
    let errors = PipeReader(err.fileHandleForReading)
    let stdout = out.fileHandleForReading.readDataToEndOfFile()
    let stderr = errors.wait()
    process.waitUntilExit()
    return CommandResult(status: process.terminationStatus, stdout: String(decoding: stdout, as: UTF8.self),
                         stderr: String(decoding: stderr, as: UTF8.self))
}

/// Reads a pipe to its end on a thread of its own.
private final class PipeReader: @unchecked Sendable {
    private let done = DispatchSemaphore(value: 0)
    private var data = Data()

    init(_ handle: FileHandle) {
        Thread.detachNewThread { [self] in
            data = handle.readDataToEndOfFile()
            done.signal()
        }
    }

    func wait() -> Data {
        done.wait()
        return data
    }
}

/// Starts `path` with a clean signal mask and default dispositions, as a shell would, with its
/// stdout on `stdout` (or /dev/null) and stderr on `stderr` (or /dev/null). (Threads of the test
/// runner block most signals, and a child started by `Process` from one of them inherits that
/// mask.) Returns the PID.
public func spawnClean(_ path: String, _ arguments: [String], stdout: Int32? = nil, stderr: Int32? = nil,
                       environment: [String: String] = [:]) throws -> pid_t {
    var attributes = posix_spawnattr_t()
    posix_spawnattr_init(&attributes)
    defer { posix_spawnattr_destroy(&attributes) }
    var empty = sigset_t()
    sigemptyset(&empty)
    var all = sigset_t()
    sigfillset(&all)
    posix_spawnattr_setsigmask(&attributes, &empty)
    posix_spawnattr_setsigdefault(&attributes, &all)
    posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    if let stdout {
        posix_spawn_file_actions_adddup2(&actions, stdout, 1)
    } else {
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
    }
    if let stderr {
        posix_spawn_file_actions_adddup2(&actions, stderr, 2)
    } else {
        posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
    }
    var argv = ([path] + arguments).map { strdup($0) } + [nil]
    defer { argv.forEach { free($0) } }
    // The test's environment plus `environment`, without touching this process's (setenv is not
    // safe while other tests spawn processes).
    var merged = ProcessInfo.processInfo.environment
    merged.merge(environment) { _, new in new }
    var envp = merged.map { strdup("\($0.key)=\($0.value)") } + [nil]
    defer { envp.forEach { free($0) } }
    var pid: pid_t = 0
    let status = posix_spawn(&pid, path, &actions, &attributes, &argv, &envp)
    guard status == 0 else { throw VictimError.notReady("posix_spawn \(path): \(status)") }
    return pid
}

/// A command started with a clean signal mask, its stdout and stderr captured in files.
public final class CapturedRun {
    public let pid: pid_t
    public let outPath: String
    public let errPath: String
    public private(set) var status: Int32?
    public private(set) var signal: Int32?

    public init(_ path: String, _ arguments: [String]) throws {
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
    public func wait(timeout: TimeInterval = 60) -> Int32? {
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

    public var stdout: String { (try? String(contentsOfFile: outPath, encoding: .utf8)) ?? "" }
    public var stderr: String { (try? String(contentsOfFile: errPath, encoding: .utf8)) ?? "" }

    deinit {
        try? FileManager.default.removeItem(atPath: outPath)
        try? FileManager.default.removeItem(atPath: errPath)
    }
}

/// Waits for a child; returns the signal that ended it, or nil when it exited.
@discardableResult
public func reap(_ pid: pid_t) -> Int32? {
    var status: Int32 = 0
    while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
    let signal = status & 0x7f
    return signal != 0 && signal != 0x7f ? signal : nil
}

/// Every descendant of `pid`, from the PPIDs in /proc.
public func descendants(of pid: Int32) -> [Int32] {
    let proc = ProcRoot()
    var children: [Int32: [Int32]] = [:]
    for candidate in (try? proc.numericEntries("")) ?? [] {
        guard let bytes = try? proc.bytes("\(candidate)/stat"), let stat = ProcStat(parsing: bytes) else { continue }
        children[stat.ppid, default: []].append(candidate)
    }
    func walk(_ parent: Int32) -> [Int32] { (children[parent] ?? []).flatMap { [$0] + walk($0) } }
    return walk(pid)
}

/// Debian's own CPython, which the tests always run.
public let debianPython = "/usr/bin/python3"

/// pyenv's root, found as pyenv finds it: `$PYENV_ROOT`, else `$HOME/.pyenv`.
public var pyenvRoot: String {
    let environment = ProcessInfo.processInfo.environment
    if let root = environment["PYENV_ROOT"], !root.isEmpty { return root }
    let home = environment["HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? FileManager.default.homeDirectoryForCurrentUser.path
    return home + "/.pyenv"
}

/// The newest pyenv-installed CPython `version` ("3.12": any 3.12.x), or nil when there is none.
public func pythonBinary(_ version: String) -> String? {
    let root = pyenvRoot + "/versions"
    let match = (try? FileManager.default.contentsOfDirectory(atPath: root))?
        .filter { $0.hasPrefix(version + ".") && $0.dropFirst(version.count + 1).allSatisfy(\.isNumber) }
        .sorted { $0.compare($1, options: .numeric) == .orderedAscending }.last
    return match.map { "\(root)/\($0)/bin/python\(version)" }
        .flatMap { FileManager.default.isExecutableFile(atPath: $0) ? $0 : nil }
}

/// Where `Scripts/python-roots` keeps the Debian sid root and the commands that run its
/// interpreters: `$FORKHAZARD_PYTHON_ROOTS`, else `${XDG_CACHE_HOME:-$HOME/.cache}/forkhazard/python-roots`.
public var pythonRootsDirectory: String {
    let environment = ProcessInfo.processInfo.environment
    if let dir = environment["FORKHAZARD_PYTHON_ROOTS"], !dir.isEmpty { return dir }
    let home = environment["HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? FileManager.default.homeDirectoryForCurrentUser.path
    let cache = environment["XDG_CACHE_HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? home + "/.cache"
    return cache + "/forkhazard/python-roots"
}

/// The command that runs Debian sid's CPython `version` ("3.14") in the root `Scripts/python-roots`
/// made (in a chroot, in a mount namespace of its own, with the PID it was started with), or nil
/// when there is none. Running it needs root.
public func sidPython(_ version: String) -> String? {
    let runner = pythonRootsDirectory + "/bin/python" + version
    guard getuid() == 0, FileManager.default.isExecutableFile(atPath: runner),
          FileManager.default.isExecutableFile(atPath: pythonRootsDirectory + "/sid/usr/bin/python" + version) else { return nil }
    return runner
}

/// Why a test of a sid interpreter is skipped.
public let sidPythonMissing = "no Debian sid root with CPython 3.14 and 3.15: Scripts/python-roots makes it (as root, with Debian's mirror reachable)"

/// A Python victim this test started: its stdout lines up to `ready PID`; killed by PID, with its
/// descendants, when the test ends.
public final class PythonVictim {
    public let pid: Int32
    /// Every line before `ready`.
    public let lines: [String]

    public init(_ python: String, _ script: String, _ arguments: [String] = []) throws {
        var fds: [Int32] = [0, 0]
        guard pipe(&fds) == 0 else { throw VictimError.notReady("pipe") }
        defer { close(fds[0]) }
        let spawned = try spawnClean(python, [script] + arguments, stdout: fds[1],
                                     environment: ["PYTHONDONTWRITEBYTECODE": "1"])
        close(fds[1])
        var text: [UInt8] = []
        var collected: [String] = []
        var readyPID: Int32?
        let deadline = Date().addingTimeInterval(30)
        reading: while Date() < deadline {
            var ready = pollfd(fd: fds[0], events: Int16(POLLIN), revents: 0)
            guard poll(&ready, 1, 1000) >= 0 else { break }
            if ready.revents == 0 { continue }
            var buffer = [UInt8](repeating: 0, count: 4096)
            let n = read(fds[0], &buffer, buffer.count)
            guard n > 0 else { break }
            text += buffer[0..<n]
            while let newline = text.firstIndex(of: 10) {
                let line = String(decoding: text[..<newline], as: UTF8.self)
                text.removeSubrange(...newline)
                if line.hasPrefix("ready ") {
                    readyPID = Int32(line.dropFirst(6))
                    break reading
                }
                collected.append(line)
            }
        }
        guard let readyPID, readyPID == spawned else {
            kill(spawned, SIGKILL)
            reap(spawned)
            throw VictimError.notReady("\(python) \(script) said \(collected)")
        }
        pid = spawned
        lines = collected
    }

    deinit {
        let started = descendants(of: pid)
        kill(pid, SIGKILL)
        for descendant in started { kill(descendant, SIGKILL) }
        reap(pid)
    }

    /// The words of each line starting with `tag`.
    public func lines(tagged tag: String) -> [[String]] {
        lines.map { $0.split(separator: " ").map(String.init) }.filter { $0.first == tag }
    }
}
