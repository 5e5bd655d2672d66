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
        ProcessSetup.keepFreedMemory()
        let arguments = CommandLine.arguments.dropFirst()
        let mode = TestHooks.mode
        if mode != .parserOnly, let command = FastPath.parse(arguments) {
            Glibc.exit(command.run(printOnly: TestHooks.printRequest))
        }
        if mode == .fastPathOnly {
            writeAll(STDERR_FILENO, "forkhazard: left to the argument parser\n")
            Glibc.exit(TestHooks.declinedStatus)
        }
        do {
            var command = try ForkHazardCommand.parseAsRoot(Array(arguments))
            if TestHooks.printRequest, let request = FastPath.Command(command) {
                Glibc.exit(request.run(printOnly: true))
            }
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
            forkhazard [--json] [--full] [--native-stacks] [--color <when>] [--no-stacks] [--no-lines] <pid> [<pid> ...]
              forkhazard run [--stall-after <duration>] [--idle-limit <duration>] [--on-stall kill|report] -- <command> ...
              forkhazard watch [--stall-after <duration>] [--idle-limit <duration>] <pid>
              forkhazard demo [--json] [--color <when>] [--no-stacks]
            """,
        discussion: """
            Give the PID of a hung job: forkhazard shows every process and thread under it, what \
            each thread is blocked in and what it waits for (futex, pipe and its writers, socket and \
            its peer, child, sleep, file lock), the kind of lock and who holds it, its stack (for \
            Python threads their threading name and Python stack, CPython 3.8-3.15), then one \
            finding per cause and a verdict. The first lines say what is wrong and what to change; \
            look-alike processes and threads are one entry with a count (--full lists each; --json \
            always has all). It reads /proc first; then it stops each thread for tens of \
            microseconds (PTRACE_SEIZE + PTRACE_INTERRUPT, never SIGSTOP) to copy its registers and \
            stack, and releases it at once. --no-stacks never stops anything.

            EXAMPLES:
              forkhazard 8210              diagnose the tree under PID 8210
              forkhazard --json 8210 8300  two trees, as JSON for scripts (docs/json.md)
              forkhazard demo              diagnose a real fork-after-threads deadlock
              forkhazard run -- pytest -x  run a job; end it only if it is proven stuck

            EXIT STATUS:
              0   healthy: no finding
              1   hazard: warnings only
              2   deadlock: at least one error finding
              3   could not inspect: no such process, or not permitted
              64  usage error
              124 run, watch: the tree was proven stuck (125: --idle-limit reached)
            """,
        version: versionLine,
        subcommands: [Diagnose.self, RunCommand.self, WatchCommand.self, DemoCommand.self, VictimCommand.self],
        defaultSubcommand: Diagnose.self)
}

/// The release this source is, as in CHANGELOG.md.
let versionNumber = "0.1.0"

/// What `--version` prints: `forkhazard 0.1.0 (commit abc1234)`; `buildCommit` comes from the
/// BuildInfo plugin, nil when the sources were not a git checkout.
let versionLine = "forkhazard \(versionNumber) ("
    + (buildCommit.map { "commit \($0)" + (buildCommitModified ? " with local changes" : "") } ?? "unknown commit")
    + ")"

/// The long names of the options the fast path (FastPath.swift) reads too: one spelling for the
/// parser's definitions and for it.
enum OptionName {
    static let json = "json"
    static let color = "color"
    static let full = "full"
    static let nativeStacks = "native-stacks"
    static let noStacks = "no-stacks"
    static let noLines = "no-lines"
    static let stackBytes = "stack-bytes"
    static let confirmDelay = "confirm-delay"
    static let readyFd = "ready-fd"
}

struct OutputOptions: ParsableArguments {
    @Flag(name: .customLong(OptionName.json), help: "Print the report as JSON (see docs/json.md) instead of text.")
    var json = OutputSettings.defaults.json

    @Option(name: .customLong(OptionName.color), help: "Colour the text report: auto (only on a terminal), always or never.")
    var color = OutputSettings.defaults.color

    @Flag(name: .customLong(OptionName.full), help: "List every process and thread in the text report; by default look-alike siblings and threads are one entry with a count (JSON always has all).")
    var full = OutputSettings.defaults.full

    @Flag(name: .customLong(OptionName.nativeStacks), help: "For Python threads, show the native stack under the Python one (JSON always has both).")
    var nativeStacks = OutputSettings.defaults.nativeStacks

    var settings: OutputSettings { OutputSettings(json: json, color: color, full: full, nativeStacks: nativeStacks) }
}

/// How the report is printed, as parsed: by `OutputOptions` or by the fast path.
struct OutputSettings: Equatable {
    static let defaults = OutputSettings()

    var json = false
    var color = ColorChoice.auto
    var full = false
    var nativeStacks = false

    enum ColorChoice: String, ExpressibleByArgument, CaseIterable {
        case auto, always, never
    }

    /// The report as written to stdout.
    func render(_ report: Report) -> [UInt8] {
        if json { return report.jsonBytes() }
        let useColor: Bool
        switch color {
        case .always: useColor = true
        case .never: useColor = false
        case .auto:
            useColor = isatty(STDOUT_FILENO) == 1 && ProcessInfo.processInfo.environment["NO_COLOR"] == nil
                && ProcessInfo.processInfo.environment["TERM"] != "dumb"
        }
        return Array(TextRenderer(color: useColor, full: full, nativeStacks: nativeStacks).render(report).utf8)
    }
}

struct InspectOptions: ParsableArguments {
    @Flag(name: .customLong(OptionName.noStacks), help: "Skip native stacks: read /proc only and never stop a thread.")
    var noStacks = InspectSettings.defaults.noStacks

    @Option(name: .customLong(OptionName.stackBytes), help: ArgumentHelp("Bytes of each thread's stack copied while it is stopped.", valueName: "bytes"))
    var stackBytes = InspectSettings.defaults.stackBytes

    @Flag(name: .customLong(OptionName.noLines), help: "Name stack frames without their source file and line (no DWARF is read).")
    var noLines = InspectSettings.defaults.noLines

    @Option(name: .customLong(OptionName.confirmDelay), help: ArgumentHelp(
        "Pause this long before the second look that confirms blocked threads did not wake (default 0: a woken thread is runnable at once).",
        valueName: "seconds"))
    var confirmDelay = InspectSettings.defaults.confirmDelay

    var settings: InspectSettings { InspectSettings(noStacks: noStacks, noLines: noLines, stackBytes: stackBytes, confirmDelay: confirmDelay) }

    func validate() throws {
        try settings.validate()
    }

    func diagnosis(procRoot: String = "/proc") -> Diagnosis {
        settings.diagnosis(procRoot: procRoot)
    }
}

/// How the tree is inspected, as parsed: by `InspectOptions` or by the fast path.
struct InspectSettings: Equatable {
    static let defaults = InspectSettings()

    var noStacks = false
    var noLines = false
    var stackBytes = 256 * 1024
    var confirmDelay: Double = 0

    func validate() throws {
        guard stackBytes >= 4096 && stackBytes <= 64 << 20 else {
            throw ValidationError("--\(OptionName.stackBytes) must be between 4096 and 67108864")
        }
        guard confirmDelay >= 0 && confirmDelay <= 60 else {
            throw ValidationError("--\(OptionName.confirmDelay) must be between 0 and 60 seconds")
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

func emit(_ bytes: [UInt8]) {
    writeAll(STDOUT_FILENO, bytes: bytes)
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
    var procRoot = DiagnoseRequest.defaultProcRoot

    var request: DiagnoseRequest {
        DiagnoseRequest(pids: pids, output: output.settings, inspect: inspect.settings, procRoot: procRoot)
    }

    func validate() throws {
        try DiagnoseRequest.validate(pids: pids)
    }

    func run() throws {
        throw ExitCode(request.run())
    }
}

/// A diagnosis as the command line asks for it: what `Diagnose` parses and the fast path reads.
struct DiagnoseRequest: Equatable {
    static let defaultProcRoot = "/proc"

    var pids: [String]
    var output = OutputSettings.defaults
    var inspect = InspectSettings.defaults
    var procRoot = defaultProcRoot

    var processIDs: [Int32] { pids.compactMap { Int32($0) } }

    /// What `Diagnose` checks of its arguments (the options are checked by their groups).
    static func validate(pids: [String]) throws {
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

    /// Diagnoses the trees and prints the report; returns the exit status.
    func run() -> Int32 {
        let report: Report
        do {
            report = try inspect.diagnosis(procRoot: procRoot).run(pids: processIDs)
        } catch {
            return fail(describe(error), status: 3).rawValue
        }
        emit(output.render(report))
        return report.verdict.exitCode
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
        emit(output.settings.render(report))
        throw ExitCode(report.verdict.exitCode)
    }
}

struct VictimCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "__victim", abstract: "The demo's victim process.", shouldDisplay: false)

    @Argument var scenario: String
    @Option(name: .customLong(OptionName.readyFd)) var readyFd = VictimRequest.defaultReadyFd

    var request: VictimRequest { VictimRequest(scenario: scenario, readyFd: readyFd) }

    func run() throws {
        guard request.isKnown else { throw ValidationError("unknown victim scenario '\(scenario)'") }
        request.run()
    }
}

/// The demo's victim as the command line asks for it.
struct VictimRequest: Equatable {
    static let defaultReadyFd: Int32 = -1

    var scenario: String
    var readyFd = defaultReadyFd

    var isKnown: Bool { scenario == "demo" }

    func run() -> Never {
        Demo.runVictim(readyFd: readyFd)
    }
}
