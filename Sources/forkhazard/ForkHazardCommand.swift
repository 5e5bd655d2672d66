import ArgumentParser
import ForkHazardKit
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Glibc

@main
struct Entrypoint {
    static func main() {
        do {
            var command = try ForkHazardCommand.parseAsRoot()
            try command.run()
        } catch {
            exit(withError: error)
        }
    }

    /// Help goes to stdout; any other error is one line on stderr, with a documented exit status.
    static func exit(withError error: Error) -> Never {
        if let code = error as? ExitCode { Glibc.exit(code.rawValue) }
        let status = ForkHazardCommand.exitCode(for: error)
        if status == .success {
            print(ForkHazardCommand.fullMessage(for: error))
            Glibc.exit(0)
        }
        let message = ForkHazardCommand.message(for: error)
            .split(separator: "\n").first.map(String.init) ?? "\(error)"
        let trimmed = message.hasPrefix("Error: ") ? String(message.dropFirst(7)) : message
        writeAll(STDERR_FILENO, "forkhazard: \(trimmed) (see 'forkhazard --help')\n")
        Glibc.exit(status.rawValue)
    }
}

struct ForkHazardCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "forkhazard",
        abstract: "Tell why a process tree is hung: fork-after-threads deadlocks, inherited locks, waits across processes.",
        usage: """
            forkhazard [--json] [--color <when>] [--no-stacks] [--no-lines] <pid> [<pid> ...]
              forkhazard run [--stall-after <duration>] [--on-stall kill|report|wait] -- <command> ...
              forkhazard watch [--stall-after <duration>] <pid>
              forkhazard demo [--json] [--color <when>] [--no-stacks]
            """,
        discussion: """
            Give the PID of a hung job: forkhazard shows every process and thread under it, what \
            each thread is blocked in and what it waits for (futex, pipe and its writers, socket and \
            its peer, child, sleep, file lock), its native stack and the kind of lock it waits \
            for, then its findings and a verdict. It reads /proc first; then it stops each thread \
            for tens of microseconds (PTRACE_SEIZE + PTRACE_INTERRUPT, never SIGSTOP) to copy its \
            registers and stack, and releases it at once. --no-stacks never stops anything.

            EXAMPLES:
              forkhazard 8210              diagnose the tree under PID 8210
              forkhazard --json 8210 8300  two trees, as JSON for scripts
              forkhazard demo              diagnose a real fork-after-threads deadlock

            EXIT STATUS:
              0   healthy: no finding
              1   hazard: warnings only
              2   deadlock: at least one error finding
              3   could not inspect: no such process, or not permitted
              64  usage error
            """,
        version: "0.1.0",
        subcommands: [Diagnose.self, RunCommand.self, WatchCommand.self, DemoCommand.self, VictimCommand.self],
        defaultSubcommand: Diagnose.self)
}

struct OutputOptions: ParsableArguments {
    @Flag(name: .long, help: "Print the report as JSON (see docs/json.md) instead of text.")
    var json = false

    @Option(name: .long, help: "Colour the text report: auto (only on a terminal), always or never.")
    var color: ColorChoice = .auto

    enum ColorChoice: String, ExpressibleByArgument, CaseIterable {
        case auto, always, never
    }

    func render(_ report: Report) -> String {
        if json { return report.json() }
        let useColor: Bool
        switch color {
        case .always: useColor = true
        case .never: useColor = false
        case .auto:
            useColor = isatty(STDOUT_FILENO) == 1 && ProcessInfo.processInfo.environment["NO_COLOR"] == nil
                && ProcessInfo.processInfo.environment["TERM"] != "dumb"
        }
        return TextRenderer(color: useColor).render(report)
    }
}

struct InspectOptions: ParsableArguments {
    @Flag(name: .long, help: "Skip native stacks: read /proc only and never stop a thread.")
    var noStacks = false

    @Option(name: .long, help: ArgumentHelp("Bytes of each thread's stack copied while it is stopped.", valueName: "bytes"))
    var stackBytes = 256 * 1024

    @Flag(name: .long, help: "Name stack frames without their source file and line (no DWARF is read).")
    var noLines = false

    @Option(name: .long, help: ArgumentHelp(
        "Pause this long before the second look that confirms blocked threads did not wake (default 0: a woken thread is runnable at once).",
        valueName: "seconds"))
    var confirmDelay: Double = 0

    func validate() throws {
        guard stackBytes >= 4096 && stackBytes <= 64 << 20 else {
            throw ValidationError("--stack-bytes must be between 4096 and 67108864")
        }
        guard confirmDelay >= 0 && confirmDelay <= 60 else {
            throw ValidationError("--confirm-delay must be between 0 and 60 seconds")
        }
    }

    func diagnosis(procRoot: String = "/proc") -> Diagnosis {
        Diagnosis(builder: SnapshotBuilder(proc: .init(procRoot),
                                           stacks: noStacks ? nil : StackOptions(stackBytes: stackBytes, sourceLines: !noLines),
                                           confirmDelay: confirmDelay))
    }
}

/// Writes the whole output at once, so a failure never leaves half a report on stdout.
func emit(_ text: String) {
    writeAll(STDOUT_FILENO, text)
}

/// An error's own description (`LocalizedError.errorDescription`), without Foundation's bridging.
func describe(_ error: Error) -> String {
    (error as? LocalizedError)?.errorDescription ?? "\(error)"
}

func fail(_ message: String, status: Int32) -> ExitCode {
    writeAll(STDERR_FILENO, "forkhazard: \(message)\n")
    return ExitCode(status)
}

struct Diagnose: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Diagnose the process trees under the given PIDs (the default command).")

    @Argument(parsing: .allUnrecognized, help: ArgumentHelp("PIDs of the processes to diagnose, with all their descendants.", valueName: "pid"))
    var pids: [String] = []

    @OptionGroup var output: OutputOptions
    @OptionGroup var inspect: InspectOptions

    @Option(name: .long, help: .hidden)
    var procRoot = "/proc"

    var processIDs: [Int32] { pids.compactMap { Int32($0) } }

    func validate() throws {
        guard !pids.isEmpty else {
            throw ValidationError("give at least one PID, as in 'forkhazard 1234', or try 'forkhazard demo'")
        }
        for text in pids {
            if text.hasPrefix("--") || (text.hasPrefix("-") && Int(text) == nil) {
                throw ValidationError("unknown option '\(text)'")
            }
            guard let pid = Int32(text), pid > 0 else {
                throw ValidationError("'\(text)' is not a PID: give a positive whole number such as 1234")
            }
        }
    }

    func run() throws {
        let diagnosis = inspect.diagnosis(procRoot: procRoot)
        let report: Report
        do {
            report = try diagnosis.run(pids: processIDs)
        } catch {
            throw fail(describe(error), status: 3)
        }
        emit(output.render(report))
        throw ExitCode(report.verdict.exitCode)
    }
}

struct DemoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Start a real fork-after-threads deadlock, diagnose it and clean up.",
        discussion: """
            Starts this program as a victim: a parent with named threads, one of which holds a \
            pthread mutex while the parent forks; the forked child then locks that mutex and hangs \
            forever. The demo waits until the child is blocked, diagnoses the tree exactly as \
            'forkhazard <pid>' would, prints the report, kills only the two victim processes by PID \
            and exits with the diagnosis' exit status.
            """)

    @OptionGroup var output: OutputOptions
    @OptionGroup var inspect: InspectOptions

    func run() throws {
        let executable = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        let report: Report
        do {
            report = try Demo.run(executable: executable, diagnosis: inspect.diagnosis()) { line in
                writeAll(STDERR_FILENO, "forkhazard demo: \(line)\n")
            }
        } catch let error as InspectError {
            throw fail("demo: \(describe(error))", status: 3)
        } catch {
            throw fail("demo: \(describe(error))", status: 3)
        }
        emit(output.render(report))
        throw ExitCode(report.verdict.exitCode)
    }
}

struct VictimCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "__victim", abstract: "The demo's victim process.", shouldDisplay: false)

    @Argument var scenario: String
    @Option var readyFd: Int32 = -1

    func run() throws {
        guard scenario == "demo" else { throw ValidationError("unknown victim scenario '\(scenario)'") }
        Demo.runVictim(readyFd: readyFd)
    }
}
