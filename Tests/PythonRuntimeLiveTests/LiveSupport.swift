import Foundation
import ProcFS
import Testing
@_exported import VictimSupport

/// The CPython builds the live tests run under, and why one is missing.
struct Interpreter: Sendable, CustomStringConvertible {
    var label: String
    var path: String

    var description: String { label }

    /// pyenv's `$PYENV_ROOT/versions/3.MINOR.*` (`~/.pyenv` by default), the newest patch release installed.
    static func pyenv(_ minor: Int) -> Interpreter? {
        pythonBinary("3.\(minor)").map { path in
            Interpreter(label: "pyenv " + URL(fileURLWithPath: path).deletingLastPathComponent().deletingLastPathComponent().lastPathComponent,
                        path: path)
        }
    }

    /// Debian sid's `python3.MINOR`, run in the root Scripts/python-roots makes.
    static func sid(_ minor: Int) -> Interpreter? {
        sidPython("3.\(minor)").map { Interpreter(label: "Debian sid python3.\(minor)", path: $0) }
    }

    /// Debian's own `/usr/bin/python3`.
    static var system: Interpreter? {
        FileManager.default.isExecutableFile(atPath: "/usr/bin/python3") ? Interpreter(label: "/usr/bin/python3", path: "/usr/bin/python3") : nil
    }
}

/// Path of a victim script in Tests/Victims.
func victimScript(_ name: String) -> String {
    victimsDirectory + "/" + name
}

extension PythonVictim {
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
        /// A command's result, or what kept it from starting.
        func attempt(_ path: String, _ arguments: [String]) -> CommandResult {
            do { return try runCommand(path, arguments) } catch { return CommandResult(status: -1, stdout: "", stderr: "\(error)") }
        }
        for python in candidates {
            try? FileManager.default.removeItem(atPath: directory)
            let venv = attempt(python.path, ["-m", "venv", directory])
            guard venv.status == 0 else {
                attempts.append("\(python.path) -m venv: \(venv.output.suffix(300))")
                continue
            }
            let pip = attempt("\(directory)/bin/pip", ["install", "--quiet", "--disable-pip-version-check", "py-spy"])
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
        let result = try runCommand(binary, ["dump", "--json", "--pid", "\(pid)"])
        guard result.status == 0, let start = result.stdout.firstIndex(of: "[") else {
            throw PySpyUnavailable(description: "py-spy dump failed (\(result.status)): \(result.output.prefix(2000))")
        }
        return try JSONDecoder().decode([Thread].self, from: Data(result.stdout[start...].utf8))
    }
}

/// Why a test of a Debian sid interpreter is skipped.
let sidMissing = Comment(rawValue: sidPythonMissing)
