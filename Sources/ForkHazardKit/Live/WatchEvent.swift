#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Glibc

/// One line of `run`/`watch` output: text on stderr, a JSON Lines record with `--json`, or a
/// GitHub workflow command with `--format github`.
public struct WatchEvent: Codable, Sendable {
    /// `start`, `fork-from-threaded`, `stall`, `deadlock`, `kill`, `signal`, `note`, `exit`, `summary`.
    public var event: String
    public var time: String
    public var pids: [Int32]
    public var tids: [Int32]?
    public var severity: Severity?
    public var message: String
    public var evidence: [String]?
    /// Only on `summary`.
    public var summary: WatchSummary?

    public init(_ event: String, pids: [Int32], tids: [Int32]? = nil, severity: Severity? = nil, message: String,
                evidence: [String]? = nil) {
        self.event = event
        self.time = isoTime(Date())
        self.pids = pids
        self.tids = tids
        self.severity = severity
        self.message = message
        self.evidence = evidence
    }
}

public struct WatchSummary: Codable, Sendable {
    /// `proc-connector` or `polling`.
    public var eventSource: String
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
        let line: String
        switch format {
        case .json:
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            line = String(decoding: (try? encoder.encode(event)) ?? Data(), as: UTF8.self)
        case .github:
            let kind = event.severity == .error ? "error" : event.severity == .warning ? "warning" : "notice"
            let body = ([event.message] + (event.evidence ?? [])).joined(separator: "\n")
            line = "::\(kind) title=forkhazard \(event.event)::" + escapeWorkflow(body)
        case .text:
            let clock = event.time.split(separator: "T").last.map { String($0.dropLast()) } ?? event.time
            line = "forkhazard [\(clock)] \(event.event): \(event.message)"
                + (event.evidence ?? []).map { "\n    \($0)" }.joined()
        }
        write(line + "\n")
    }

    /// Raw text (a whole report) on the same stream.
    public func write(_ text: String) {
        writeAll(fd, text)
    }
}

/// Writes all of `text` to `fd`, retrying on EINTR and short writes.
public func writeAll(_ fd: Int32, _ text: String) {
    var bytes = Array(text.utf8)[...]
    while !bytes.isEmpty {
        let n = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
        if n < 0 { if errno == EINTR { continue } else { return } }
        bytes = bytes.dropFirst(n)
    }
}

extension EventWriter {
    func escapeWorkflow(_ text: String) -> String {
        text.replacing("%", with: "%25").replacing("\r", with: "%0D").replacing("\n", with: "%0A")
    }
}
