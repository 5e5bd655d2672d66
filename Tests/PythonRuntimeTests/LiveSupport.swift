import Foundation
import ProcFS
import Testing

/// The CPython builds the live tests run under, and why one is missing.
struct Interpreter: Sendable, CustomStringConvertible {
    var label: String
    var path: String

    var description: String { label }

    /// pyenv's `$PYENV_ROOT/versions/3.MINOR.*` (`~/.pyenv` by default), the newest patch release installed.
    static func pyenv(_ minor: Int) -> Interpreter? {
        let pyenvRoot = ProcessInfo.processInfo.environment["PYENV_ROOT"]
            ?? FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".pyenv").path
        let root = pyenvRoot + "/versions"
        let versions = ((try? FileManager.default.contentsOfDirectory(atPath: root)) ?? [])
            .filter { $0.hasPrefix("3.\(minor).") && $0.dropFirst("3.\(minor).".count).allSatisfy(\.isNumber) }
            .sorted { $0.compare($1, options: .numeric) == .orderedAscending }
        guard let newest = versions.last else { return nil }
        let path = "\(root)/\(newest)/bin/python3.\(minor)"
        return FileManager.default.isExecutableFile(atPath: path) ? Interpreter(label: "pyenv \(newest)", path: path) : nil
    }

    /// Debian's own `/usr/bin/python3`.
    static var system: Interpreter? {
        FileManager.default.isExecutableFile(atPath: "/usr/bin/python3") ? Interpreter(label: "/usr/bin/python3", path: "/usr/bin/python3") : nil
    }
}

/// Path of a shipped victim script.
func victimScript(_ name: String) -> String {
    Bundle.module.path(forResource: "Victims/\(name)", ofType: nil) ?? Bundle.module.bundlePath + "/Victims/\(name)"
}

enum VictimError: Error, CustomStringConvertible {
    case notReady(String)
    case notBlocked(String)

    var description: String {
        switch self {
        case .notReady(let why): return "victim not ready: \(why)"
        case .notBlocked(let why): return "victim not blocked: \(why)"
        }
    }
}

/// A Python victim this test started: its stdout lines up to `ready PID`; killed by PID, with its
/// descendants, when the test ends.
final class PythonVictim {
    let pid: Int32
    /// Every line before `ready`.
    let lines: [String]

    init(_ python: String, _ script: String, _ arguments: [String] = []) throws {
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
            _ = reap(spawned)
            throw VictimError.notReady("\(python) \(script) said \(collected)")
        }
        pid = spawned
        lines = collected
    }

    deinit {
        let started = descendants(of: pid)
        kill(pid, SIGKILL)
        for descendant in started { kill(descendant, SIGKILL) }
        _ = reap(pid)
    }

    /// The words of each line starting with `tag`.
    func lines(tagged tag: String) -> [[String]] {
        lines.map { $0.split(separator: " ").map(String.init) }.filter { $0.first == tag }
    }

    func waitUntilInFutex(_ tids: [Int32], timeout: TimeInterval = 20) throws -> [Int32: UInt64] {
        try ForkedChild(pid: pid).waitUntilInFutex(tids, timeout: timeout)
    }
}

/// A process the victim started (killed with the victim's descendants).
struct ForkedChild {
    let pid: Int32

    /// Waits until each of `tids` sleeps in an untimed futex wait (a lock, not the GIL, whose
    /// waits are always timed); returns each one's futex address.
    func waitUntilInFutex(_ tids: [Int32], timeout: TimeInterval = 20) throws -> [Int32: UInt64] {
        let proc = ProcRoot()
        let futex = SyscallNames.number("futex", on: .host)
        let deadline = Date().addingTimeInterval(timeout)
        var addresses: [Int32: UInt64] = [:]
        while Date() < deadline {
            for tid in tids where addresses[tid] == nil {
                if let text = try? proc.text("\(pid)/task/\(tid)/syscall"),
                   case .inSyscall(let number, let arguments, _, _)? = SyscallState(parsing: text), number == futex,
                   arguments.count > 3, arguments[3] == 0,
                   let stat = try? proc.text("\(pid)/task/\(tid)/stat"), ProcStat(parsing: stat)?.state == "S" {
                    addresses[tid] = arguments[0]
                }
            }
            if addresses.count == tids.count { return addresses }
            usleep(5000)
        }
        throw VictimError.notBlocked("threads \(tids.filter { addresses[$0] == nil }) of \(pid) not in a futex wait")
    }
}

/// Starts `path` with a clean signal mask and default dispositions, as a shell would (the test
/// runner's threads block most signals, and a child inherits that), its stdout on `stdout` and
/// stderr on /dev/null. Returns the PID.
func spawnClean(_ path: String, _ arguments: [String], stdout: Int32, environment: [String: String] = [:]) throws -> pid_t {
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
    posix_spawn_file_actions_adddup2(&actions, stdout, 1)
    posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
    var argv = ([path] + arguments).map { strdup($0) } + [nil]
    defer { argv.forEach { free($0) } }
    var merged = ProcessInfo.processInfo.environment
    merged.merge(environment) { _, new in new }
    var envp = merged.map { strdup("\($0.key)=\($0.value)") } + [nil]
    defer { envp.forEach { free($0) } }
    var pid: pid_t = 0
    let status = posix_spawn(&pid, path, &actions, &attributes, &argv, &envp)
    guard status == 0 else { throw VictimError.notReady("posix_spawn \(path): \(status)") }
    return pid
}

func reap(_ pid: pid_t) -> Int32? {
    var status: Int32 = 0
    while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
    let signal = status & 0x7f
    return signal != 0 && signal != 0x7f ? signal : nil
}

/// Every descendant of `pid`, from the PPIDs in /proc.
func descendants(of pid: Int32) -> [Int32] {
    let proc = ProcRoot()
    var children: [Int32: [Int32]] = [:]
    for candidate in (try? proc.numericEntries("")) ?? [] {
        guard let bytes = try? proc.bytes("\(candidate)/stat"), let stat = ProcStat(parsing: bytes) else { continue }
        children[stat.ppid, default: []].append(candidate)
    }
    func walk(_ parent: Int32) -> [Int32] { (children[parent] ?? []).flatMap { [$0] + walk($0) } }
    return walk(pid)
}

/// Runs a command to the end; its status and output.
func run(_ path: String, _ arguments: [String]) -> (status: Int32, output: String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: path)
    process.arguments = arguments
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = pipe
    do { try process.run() } catch { return (-1, "\(error)") }
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: data, as: UTF8.self))
}

/// py-spy from PyPI, installed once per test run into a virtual environment under the temporary
/// directory, made by the first interpreter here that has `venv` (Debian's python3 first).
enum PySpy {
    static let binary: Result<String, PySpyUnavailable> = install()

    struct PySpyUnavailable: Error, CustomStringConvertible {
        var description: String
    }

    static func install() -> Result<String, PySpyUnavailable> {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("forkhazard-pyspy-\(getpid())").path
        let candidates = ([Interpreter.system] + (8...13).reversed().map { Interpreter.pyenv($0) }).compactMap { $0 }
        var attempts: [String] = []
        for python in candidates {
            try? FileManager.default.removeItem(atPath: directory)
            let venv = run(python.path, ["-m", "venv", directory])
            guard venv.status == 0 else {
                attempts.append("\(python.path) -m venv: \(venv.output.suffix(300))")
                continue
            }
            let pip = run("\(directory)/bin/pip", ["install", "--quiet", "--disable-pip-version-check", "py-spy"])
            let binary = "\(directory)/bin/py-spy"
            if pip.status == 0 && FileManager.default.isExecutableFile(atPath: binary) { return .success(binary) }
            attempts.append("pip install py-spy (venv of \(python.path)): \(pip.output.suffix(500))")
        }
        return .failure(PySpyUnavailable(description: "py-spy could not be installed: " + attempts.joined(separator: "; ")))
    }

    struct Thread: Decodable {
        var thread_id: UInt64
        var os_thread_id: Int32?
        var thread_name: String?
        var owns_gil: Bool
        var frames: [Frame]
    }

    struct Frame: Decodable, Equatable {
        var name: String
        var filename: String
        var line: Int
    }

    /// `py-spy dump --json --pid PID`.
    static func dump(_ binary: String, pid: Int32) throws -> [Thread] {
        let result = run(binary, ["dump", "--json", "--pid", "\(pid)"])
        guard result.status == 0, let start = result.output.firstIndex(of: "[") else {
            throw PySpyUnavailable(description: "py-spy dump failed (\(result.status)): \(result.output.prefix(2000))")
        }
        return try JSONDecoder().decode([Thread].self, from: Data(result.output[start...].utf8))
    }
}
