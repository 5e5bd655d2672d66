#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Glibc

/// Something `run` or `watch` saw, as values; `EventWriter` puts it into words (text on stderr, a
/// JSON Lines record, or a GitHub workflow command).
public struct WatchEvent: Sendable {
    public enum Kind: Sendable {
        /// Watching begins.
        case start(processes: Int, source: EventSource, stallAfter: Double)
        /// A finding: a fork from a multi-threaded parent seen live, or an error finding of a
        /// stall's diagnosis (the event is named after its rule).
        case finding(Finding)
        /// A stall whose diagnosis proved the tree stuck: the report and its error findings follow.
        case stall(quietSeconds: Double)
        /// A stall whose diagnosis found the tree not stuck, with the waits that keep it alive.
        case idle(quietSeconds: Double, reasons: [(ThreadKey, WaitGraph.LiveReason)])
        /// No progress for the idle limit: the job is ended (or the watch stops) whatever the diagnosis.
        case idleLimit(quietSeconds: Double, limit: Double, ending: Bool)
        /// Ending processes of the job: SIGTERM to these, SIGKILL after the grace.
        case kill(pids: [Int32], grace: Double, why: KillReason)
        /// A signal came to forkhazard; forwarded to the command when it is ours.
        case signal(number: Int32, forwardedTo: Int32?)
        case note(Note)
        /// Always the last event.
        case summary(WatchSummary)
    }

    public enum EventSource: Sendable, Equatable {
        case procConnector
        case polling(PollingReason)
    }

    public enum PollingReason: Sendable, Equatable {
        case forced
        case connectorUnavailable(errno: Int32)
        /// Not in the host's PID and user namespaces (a container): the kernel's process events
        /// do not reach it.
        case notInitialNamespace
    }

    public enum KillReason: Sendable, Equatable {
        /// The tree was proven stuck.
        case stuck
        /// No progress for the idle limit.
        case idleLimit
        /// The command exited and left these running (daemons, orphans): they end with it.
        case leftBehind
    }

    public enum Note: Sendable, Equatable {
        /// The kernel dropped process events; /proc was scanned again.
        case lostEvents
        case reportNotWritten(path: String)
    }

    public var kind: Kind
    public var time: String
    /// The tree being watched.
    public var root: Int32
    /// The diagnosis a finding came from, for names, waits and stacks in its words.
    public var report: Report?

    public init(_ kind: Kind, root: Int32, report: Report? = nil) {
        self.kind = kind
        self.root = root
        self.report = report
        self.time = isoTime(Date())
    }

    /// The event's name in every format: `start`, `fork-from-threaded`, `stall`, a rule, `kill`, `signal`, `note`, `summary`.
    public var name: String {
        switch kind {
        case .start: return "start"
        case .finding(let finding): return finding.rule.rawValue
        case .stall: return "stall"
        case .idle: return "idle"
        case .idleLimit: return "idle-limit"
        case .kill: return "kill"
        case .signal: return "signal"
        case .note: return "note"
        case .summary: return "summary"
        }
    }
}

public struct WatchSummary: Sendable {
    public var eventSource: WatchEvent.EventSource
    public var processesSeen: Int
    public var forksFromThreaded: Int
    public var stalls: Int
    public var lostEventBursts: Int
    /// How the run ended: `exited`, `killed-when-stuck`, `stuck`, `tree-gone`.
    public var outcome: String
    public var exitStatus: Int32
}

public enum EventFormat: String, Sendable, CaseIterable {
    case text, json, github
}

/// Writes events, one line each, to a file descriptor (stderr by default). Used from one thread.
public final class EventWriter {
    let fd: Int32
    let format: EventFormat

    public init(fd: Int32 = STDERR_FILENO, format: EventFormat) {
        self.fd = fd
        self.format = format
    }

    public func emit(_ event: WatchEvent) {
        let words = EventWords(event)
        let line: String
        switch format {
        case .json:
            line = words.json.text
        case .github:
            let kind = words.severity == .error ? "error" : words.severity == .warning ? "warning" : "notice"
            let body = ([words.message] + words.evidence).joined(separator: "\n")
            line = "::\(kind) title=forkhazard \(event.name)::" + escapeWorkflow(body)
        case .text:
            let clock = event.time.split(separator: "T").last.map { String($0.dropLast()) } ?? event.time
            line = printable("forkhazard [\(clock)] \(event.name): \(words.message)") + words.evidence.map { "\n    " + printable($0) }.joined()
        }
        write(line + "\n")
    }

    /// Raw text (a whole report) on the same stream.
    public func write(_ text: String) {
        writeAll(fd, text)
    }

    func escapeWorkflow(_ text: String) -> String {
        text.replacing("%", with: "%25").replacing("\r", with: "%0D").replacing("\n", with: "%0A")
    }
}

/// An event in words.
struct EventWords {
    let event: WatchEvent
    var message = ""
    var evidence: [String] = []
    var severity: Severity?
    var pids: [Int32]
    var tids: [Int32]?

    init(_ event: WatchEvent) {
        self.event = event
        pids = [event.root]
        switch event.kind {
        case .start(let processes, let source, let stallAfter):
            let events: String
            switch source {
            case .procConnector: events = "proc connector"
            case .polling(.forced): events = "polling /proc every 20 ms (forced by --poll)"
            case .polling(.connectorUnavailable(let code)):
                events = "polling /proc every 20 ms (proc connector unavailable: \(String(cString: strerror(code))))"
            case .polling(.notInitialNamespace):
                events = "polling /proc every 20 ms (in a PID or user namespace other than the host's, the kernel's process events do not arrive); "
                    + "a child that ends within 20 ms may be missed"
            }
            message = "watching the tree of \(event.root) (\(plural(processes, "process", "processes"))); events: \(events); "
                + "stall after \(formatDuration(stallAfter)) without progress"
        case .finding(let finding):
            let text = FindingWords(report: event.report).text(for: finding)
            message = text.message
            evidence = text.flatEvidence
            severity = finding.severity
            pids = finding.pids
            tids = finding.tids
        case .stall(let quiet):
            message = "no progress for \(formatDuration(quiet)), and the diagnosis proves the tree stuck"
            severity = .error
        case .idle(let quiet, let reasons):
            let words = FindingWords(report: event.report)
            let why = reasons.map { words.idle($0.0, $0.1) }
            message = (why.isEmpty ? "quiet for \(formatDuration(quiet))" : why.joined(separator: "; ")) + "; not stuck, still watching"
            tids = reasons.map(\.0.tid)
            pids = Array(Set(reasons.map(\.0.pid))).sorted()
        case .idleLimit(let quiet, let limit, let ending):
            message = "no progress for \(formatDuration(quiet)), the idle limit (\(formatDuration(limit))): "
                + (ending ? "ending the job whatever the diagnosis" : "stopping the watch whatever the diagnosis")
            severity = .error
        case .kill(let members, let grace, let why):
            let what: String
            switch why {
            case .stuck: what = "ending the stuck tree"
            case .idleLimit: what = "ending the job at the idle limit"
            case .leftBehind: what = "the command exited; ending what it left running"
            }
            message = "\(what): SIGTERM to \(compactList(members, limit: 16)), SIGKILL after \(formatDuration(grace)) to any left"
            pids = members
        case .signal(let number, let forwardedTo):
            message = "received signal \(number)" + (forwardedTo.map { "; forwarded to \($0)" } ?? "")
        case .note(.lostEvents):
            message = "the kernel dropped process events (ENOBUFS); rescanning /proc"
        case .note(.reportNotWritten(let path)):
            message = "could not write the report to \(path)"
        case .summary(let summary):
            message = "\(summary.outcome); \(plural(summary.processesSeen, "process", "processes")) seen, "
                + "\(plural(summary.forksFromThreaded, "fork", "forks")) from a multi-threaded parent, "
                + plural(summary.stalls, "stall", "stalls")
                + (summary.lostEventBursts > 0 ? ", \(summary.lostEventBursts) bursts of lost events" : "")
        }
    }

    /// The JSON Lines record (docs/json.md).
    var json: JSON {
        var object = JSONObject()
        object["event"] = .string(event.name)
        object["time"] = .string(event.time)
        object["pids"] = .pids(pids)
        object.optional("tids", tids.map(JSON.pids) ?? .null)
        object.optional("severity", .from(severity?.rawValue))
        object["message"] = .string(message)
        if !evidence.isEmpty { object["evidence"] = .strings(evidence) }
        switch event.kind {
        case .finding(let finding):
            object["facts"] = finding.factsJSON
        case .idle(let quiet, let reasons):
            object["facts"] = .fields([
                "quietSeconds": .double((quiet * 1000).rounded() / 1000),
                "threads": .array(reasons.map { key, why in .fields(["pid": .from(key.pid), "tid": .from(key.tid), "live": .string(why.words)]) }),
            ])
        case .idleLimit(let quiet, let limit, _):
            object["facts"] = .fields(["quietSeconds": .double((quiet * 1000).rounded() / 1000), "limitSeconds": .double(limit)])
        case .summary(let summary):
            var s = JSONObject()
            s["eventSource"] = .string(summary.eventSource == .procConnector ? "proc-connector" : "polling")
            s["processesSeen"] = .from(summary.processesSeen)
            s["forksFromThreaded"] = .from(summary.forksFromThreaded)
            s["stalls"] = .from(summary.stalls)
            s["lostEventBursts"] = .from(summary.lostEventBursts)
            s["outcome"] = .string(summary.outcome)
            s["exitStatus"] = .from(summary.exitStatus)
            object["summary"] = s.json
        default:
            break
        }
        return object.json
    }
}

/// Writes all of `text` to `fd`, retrying on EINTR and short writes.
public func writeAll(_ fd: Int32, _ text: String) {
    writeAll(fd, bytes: Array(text.utf8))
}

/// Writes all of `bytes` to `fd`, retrying on EINTR and short writes.
public func writeAll(_ fd: Int32, bytes all: [UInt8]) {
    var bytes = all[...]
    while !bytes.isEmpty {
        let n = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
        if n < 0 { if errno == EINTR { continue } else { return } }
        bytes = bytes.dropFirst(n)
    }
}
