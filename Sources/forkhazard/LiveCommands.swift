import ArgumentParser
import ForkHazardKit
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Glibc
import Syscalls

/// `2s`, `500ms`, `1m`, `1h` or plain seconds.
struct TimeSpan: ExpressibleByArgument, CustomStringConvertible {
    var seconds: Double

    init(seconds: Double) {
        self.seconds = seconds
    }

    var description: String {
        seconds < 1 ? "\(Int((seconds * 1000).rounded()))ms" : seconds.truncatingRemainder(dividingBy: 1) == 0 ? "\(Int(seconds))s" : "\(seconds)s"
    }

    init?(argument: String) {
        let units: [(String, Double)] = [("ms", 0.001), ("s", 1), ("m", 60), ("h", 3600)]
        for (suffix, scale) in units where argument.hasSuffix(suffix) {
            guard let value = Double(argument.dropLast(suffix.count)), value >= 0 else { return nil }
            seconds = value * scale
            return
        }
        guard let value = Double(argument), value >= 0 else { return nil }
        seconds = value
    }
}

/// What `run --on-stall` takes.
enum RunStallAction: String, ExpressibleByArgument, CaseIterable {
    case kill, report
    var action: StallAction { self == .kill ? .kill : .wait }
}

/// What `watch --on-stall` takes: report or wait. `kill` is read only to say why not: watch
/// never ends what it did not start.
enum WatchStallAction: String, ExpressibleByArgument, CaseIterable {
    case report, wait, kill
    static var allValueStrings: [String] { ["report", "wait"] }
    var action: StallAction { self == .report ? .report : .wait }
}
extension EventFormat: ExpressibleByArgument {}

struct LiveOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp(
        "Diagnose the tree when a thread has sat in the same wait this long and no thread did more than wake on a timer: 60s, 500ms, 2m. The diagnosis decides: only a tree proven stuck is acted on.",
        valueName: "duration"))
    var stallAfter = TimeSpan(seconds: 60)

    @Option(name: .long, help: ArgumentHelp(
        "A hard limit, off by default: after this long without progress, end the job (run) or stop watching (watch), whatever the diagnosis, and exit 125. Progress: a process or thread starts or ends, a thread runs, or one moves to another wait that is not just another timed one; output alone is not progress.",
        valueName: "duration"))
    var idleLimit: TimeSpan?

    @Option(name: .long, help: ArgumentHelp("How long a child of a multi-threaded parent may take to exec before it counts as forked without exec.", valueName: "duration"))
    var forkGrace = TimeSpan(seconds: 0.2)

    @Option(name: .long, help: ArgumentHelp("Write events to this file instead of stderr.", valueName: "file"))
    var events: String?

    @Option(name: .long, help: ArgumentHelp("Write the JSON report of a stall to this file.", valueName: "file"))
    var report: String?

    @Flag(name: .long, help: "Write events as JSON Lines (the same as --format json).")
    var json = false

    @Option(name: .long, help: "Event format: text, json (JSON Lines) or github (workflow annotations).")
    var format: EventFormat = .text

    @Flag(name: .long, help: "Poll /proc for new processes instead of using the kernel's proc connector.")
    var poll = false

    @OptionGroup var inspect: InspectOptions

    func validate() throws {
        guard stallAfter.seconds >= 0.1 else { throw ValidationError("--stall-after must be at least 100ms") }
        if let idleLimit, idleLimit.seconds < 0.1 { throw ValidationError("--idle-limit must be at least 100ms") }
    }

    func watchOptions(onStall: StallAction, killGrace: Double) -> WatchOptions {
        var options = WatchOptions()
        options.stallAfter = stallAfter.seconds
        options.idleLimit = idleLimit?.seconds
        options.forkGrace = forkGrace.seconds
        options.onStall = onStall
        options.killGrace = killGrace
        options.forcePolling = poll
        options.reportFile = report
        options.diagnosis = inspect.diagnosis()
        return options
    }

    /// Events go to stderr or to --events; never to stdout, which belongs to the command.
    func writer() throws -> EventWriter {
        var fd = STDERR_FILENO
        if let events {
            fd = open(events, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
            guard fd >= 0 else { throw fail("cannot write \(events): \(String(cString: strerror(errno)))", status: 3) }
        }
        return EventWriter(fd: fd, format: json ? .json : format)
    }
}

struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run a command; report forks from multi-threaded parents as they happen, and end it if it is proven stuck.",
        discussion: """
            The command's stdin, stdout and stderr are its own, untouched; forkhazard writes only \
            to stderr (or --events). SIGINT, SIGTERM and SIGHUP sent to forkhazard are passed on to \
            the command.

            A STALL is quiet, not stuck: a thread has sat in the same wait for --stall-after while \
            the others did no more than wake on a timer. forkhazard then diagnoses the tree. A quiet \
            job is normal in CI (a sleep, a retry back-off, a test waiting on a network peer): when \
            the diagnosis finds it able to go on, forkhazard writes one line saying why ("idle: \
            2222 sleep, clock_nanosleep 4.0s; not stuck, still watching"), repeated only when the \
            reason changes, and \
            looks again at the next stall. Only a PROVEN HANG (an error finding: deadlock, \
            inherited-lock, lost-worker, confirmed by a second look) is acted on: forkhazard prints \
            the diagnosis on stderr (JSON to --report) and, by default, ends the tree (SIGTERM, \
            then SIGKILL after --kill-grace) and exits 124. The HARD LIMIT (--idle-limit, off by \
            default) ends the job after that long without progress whatever the diagnosis, and \
            says so (exit 125).

            EXIT STATUS: the command's own (128 + N when signal N ended it); 124 when forkhazard \
            ended it, proven stuck; 125 when it ended it at --idle-limit; 127 when it cannot be \
            started; with --fail-on warning, a 0 becomes 1 when a hazard was seen.

            EXAMPLE (a CI step):
              forkhazard run --stall-after 10m --format github --report hang.json -- pytest -x
            """)

    @OptionGroup var live: LiveOptions

    @Option(name: .long, help: "When a stall's diagnosis proves the tree stuck: kill (report, end the tree, exit 124), or report (report and keep waiting for the command).")
    var onStall: RunStallAction = .kill

    @Option(name: .long, help: ArgumentHelp("Between SIGTERM and SIGKILL when ending a stuck tree.", valueName: "duration"))
    var killGrace = TimeSpan(seconds: 5)

    @Option(name: .long, help: "never, or warning: exit 1 instead of 0 when a fork from a multi-threaded parent was seen.")
    var failOn: FailOn = .never

    @Argument(parsing: .postTerminator, help: ArgumentHelp("The command and its arguments, after --.", valueName: "command"))
    var command: [String] = []

    enum FailOn: String, ExpressibleByArgument, CaseIterable { case never, warning }

    func validate() throws {
        guard !command.drop(while: { $0 == "--" }).isEmpty else { throw ValidationError("give the command to run after --, as in 'forkhazard run -- pytest -x'") }
    }

    func run() throws {
        let argv = command.first == "--" ? Array(command.dropFirst()) : command
        let writer = try live.writer()
        // Subscribe to process events before the command starts, so its first forks are seen.
        let watcher = Watcher(owned: true,
                              options: live.watchOptions(onStall: onStall.action, killGrace: killGrace.seconds),
                              writer: writer)
        // SIGINT, SIGTERM and SIGHUP wait (blocked) until the command's PID is known to forward
        // them to; the command itself starts with the signal mask forkhazard was given.
        var forwarded = sigset_t(), original = sigset_t()
        sigemptyset(&forwarded)
        for signal in [SIGINT, SIGTERM, SIGHUP] { sigaddset(&forwarded, signal) }
        pthread_sigmask(SIG_BLOCK, &forwarded, &original)
        // Orphaned descendants (a daemon's double fork, setsid) come to forkhazard instead of init,
        // so that they stay in the job, are diagnosed with it, reaped and ended with it.
        Signals.adoptOrphans()
        let child: pid_t
        do {
            child = try spawnCommand(argv, signalMask: original)
        } catch let error as SpawnFailure {
            pthread_sigmask(SIG_SETMASK, &original, nil)
            throw fail("run: cannot start \(argv[0]): \(String(cString: strerror(error.code)))", status: error.code == ENOENT ? 127 : 126)
        }
        Signals.forward(to: child)
        pthread_sigmask(SIG_SETMASK, &original, nil)
        let status: Int32
        switch watcher.run(root: child) {
        case .exited(let raw):
            let own = Watcher.exitStatus(raw)
            status = own == 0 && failOn == .warning && watcher.worstVerdict != .healthy ? 1 : own
        case .killedWhenStuck, .stuck:
            status = Watcher.Outcome.stuckStatus
        case .killedAtIdleLimit, .idleLimit:
            status = Watcher.Outcome.idleLimitStatus
        case .treeGone:
            status = 0
        }
        throw ExitCode(status)
    }
}

struct WatchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "watch",
        abstract: "Follow a running tree: report forks from multi-threaded parents as they happen, and diagnose it when it stalls.",
        discussion: """
            watch does not own the tree and never signals it. Stalls are judged as for 'run': at a \
            stall (a thread in the same wait for --stall-after, the others only waking on a timer) \
            the tree is diagnosed; a tree that can go on gets one 'idle' line saying why, and the \
            watch goes on. A tree the diagnosis proves stuck gets the full diagnosis on stderr (JSON \
            to --report), and the watch ends with 124 (--on-stall wait: it keeps watching). \
            --idle-limit ends the watch after that long without progress, whatever the diagnosis. \
            Use 'forkhazard run -- CMD' to have a stuck job ended.

            EXIT STATUS: when the tree ends by itself, 0 if no hazard was seen, 1 after a hazard \
            (a fork from a multi-threaded parent, a stopped process), 2 after a proven deadlock; 124 \
            when the tree was proven stuck; 125 at --idle-limit; 3 when the PID does not exist.
            """)

    @OptionGroup var live: LiveOptions

    @Option(name: .long, help: "When a stall's diagnosis proves the tree stuck: report (print the diagnosis and exit 124) or wait (print it and keep watching).")
    var onStall: WatchStallAction = .report

    @Argument(help: ArgumentHelp("The PID whose tree to follow.", valueName: "pid"))
    var pid: Int32

    func validate() throws {
        guard pid > 0 else { throw ValidationError("'\(pid)' is not a PID: give a positive whole number such as 1234") }
        guard onStall != .kill else {
            throw ValidationError("watch does not end processes it did not start; use 'forkhazard run -- CMD' to have a stuck job ended")
        }
    }

    func run() throws {
        // A process this one may not signal (another user's) exists too: only a missing one is an error.
        do { try SystemCalls.kill(pid, 0) } catch { guard error == .notPermitted else { throw fail("no process with PID \(pid)", status: 3) } }
        let writer = try live.writer()
        Signals.installRelease()
        let watcher = Watcher(owned: false, options: live.watchOptions(onStall: onStall.action, killGrace: 0), writer: writer)
        switch watcher.run(root: pid) {
        case .stuck, .killedWhenStuck: throw ExitCode(Watcher.Outcome.stuckStatus)
        case .idleLimit, .killedAtIdleLimit: throw ExitCode(Watcher.Outcome.idleLimitStatus)
        case .exited(let raw): throw ExitCode(Watcher.exitStatus(raw))
        case .treeGone: throw ExitCode(watcher.worstVerdict.exitCode)
        }
    }
}

struct SpawnFailure: Error { var code: Int32 }

/// Starts the command with this process's stdin, stdout, stderr and environment, and `signalMask`.
func spawnCommand(_ argv: [String], signalMask: sigset_t) throws -> pid_t {
    var cArgs = argv.map { strdup($0) } + [nil]
    defer { cArgs.forEach { free($0) } }
    var attributes = posix_spawnattr_t()
    posix_spawnattr_init(&attributes)
    defer { posix_spawnattr_destroy(&attributes) }
    var mask = signalMask
    posix_spawnattr_setsigmask(&attributes, &mask)
    posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK))
    var pid: pid_t = 0
    let status = posix_spawnp(&pid, argv[0], nil, &attributes, &cArgs, environ)
    guard status == 0 else { throw SpawnFailure(code: status) }
    return pid
}
