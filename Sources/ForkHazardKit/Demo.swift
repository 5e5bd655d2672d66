import CForkHazard
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Glibc
import ProcFS
import Syscalls

/// `forkhazard demo`: starts a real fork-after-threads deadlock (this executable in its hidden
/// victim mode), diagnoses it like `forkhazard <pid>`, and kills only the processes it started.
public enum Demo {
    /// The hidden command line that turns this executable into the demo's victim.
    public static let victimArguments = ["__victim", "demo"]

    public enum Failure: Error, LocalizedError {
        case spawn(Int32)
        case notReady(String)

        public var errorDescription: String? {
            switch self {
            case .spawn(let code): return "could not start the demo's victim: \(String(cString: strerror(code)))"
            case .notReady(let why): return "the demo's victim did not get stuck as expected: \(why)"
            }
        }
    }

    /// Runs the victim in this process. Never returns; writes the forked child's PID to `readyFd`.
    public static func runVictim(readyFd: Int32) -> Never {
        fh_demo_victim(readyFd)
    }

    /// Kills only what the demo started, by PID. The victim reaps its child and exits; if it
    /// does not within a second, it is killed too.
    private static func stop(victim: pid_t, child: pid_t) {
        if child > 0 {
            try? SystemCalls.kill(child, SIGKILL)
            for _ in 0..<500 {
                if (try? SystemCalls.waitpid(victim, options: WNOHANG))?.pid == victim { return }
                usleep(2000)
            }
        }
        try? SystemCalls.kill(victim, SIGKILL)
        _ = try? SystemCalls.waitpid(victim, options: 0)
    }

    /// Starts the victim from `executable`, waits until its forked child blocks, diagnoses the
    /// victim's tree and kills both victims by PID. `progress` gets a line for stderr at each step.
    public static func run(executable: String, diagnosis: Diagnosis = Diagnosis(),
                           progress: (String) -> Void = { _ in }) throws -> Report {
        var fds: [Int32] = [0, 0]
        guard fh_pipe_cloexec(&fds) == 0 else { throw Failure.spawn(errno) }
        let readEnd = fds[0], writeEnd = fds[1]
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, writeEnd, 3)
        let argv = [executable] + victimArguments + ["--ready-fd", "3"]
        var cArgs = argv.map { strdup($0) } + [nil]
        defer { cArgs.forEach { free($0) } }
        var victim: pid_t = 0
        let spawned = posix_spawn(&victim, executable, &actions, nil, &cArgs, environ)
        close(writeEnd)
        guard spawned == 0 else {
            close(readEnd)
            throw Failure.spawn(spawned)
        }
        var child: pid_t = 0
        defer { stop(victim: victim, child: child) }
        progress("started victim \(victim) (\(argv.dropFirst().joined(separator: " ")))")

        var pollFds = [pollfd(fd: readEnd, events: Int16(POLLIN), revents: 0)]
        var line: [UInt8] = []
        while !line.contains(UInt8(ascii: "\n")) {
            guard ((try? SystemCalls.poll(&pollFds, timeoutMillis: 5000)) ?? 0) > 0 else { close(readEnd); throw Failure.notReady("no word from it in 5 s") }
            var byte: UInt8 = 0
            guard read(readEnd, &byte, 1) == 1 else { break }
            line.append(byte)
        }
        close(readEnd)
        guard let pid = Int32(String(decoding: line, as: UTF8.self).trimmed) else {
            throw Failure.notReady("it exited before forking")
        }
        child = pid

        // The child is stuck once its only thread sleeps in a futex wait.
        let proc = diagnosis.builder.proc
        let futexNumber = SyscallNames.number("futex", on: diagnosis.builder.architecture)
        let deadline = Date().addingTimeInterval(5)
        while true {
            if let text = try? proc.text("\(child)/task/\(child)/syscall"),
               case .inSyscall(let number, _, _, _)? = SyscallState(parsing: text), number == futexNumber,
               let stat = try? proc.text("\(child)/stat"), ProcStat(parsing: stat)?.state == "S" {
                break
            }
            if Date() > deadline { throw Failure.notReady("child \(child) is not blocked in a futex wait after 5 s") }
            usleep(2000)
        }
        progress("child \(child) is blocked; diagnosing \(victim)")
        return try diagnosis.run(pids: [victim])
    }
}
