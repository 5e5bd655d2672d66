/// The JSON schema version of `Report`; bump it on any incompatible change.
public let reportSchemaVersion = 1

/// A thread of the snapshot.
public struct ThreadKey: Hashable, Comparable, Sendable {
    public var pid: Int32
    public var tid: Int32

    public init(pid: Int32, tid: Int32) {
        self.pid = pid
        self.tid = tid
    }

    public static func < (a: ThreadKey, b: ThreadKey) -> Bool { (a.pid, a.tid) < (b.pid, b.tid) }
}

public enum Severity: String, Sendable, Comparable {
    case info, warning, error

    private var rank: Int { self == .info ? 0 : self == .warning ? 1 : 2 }
    public static func < (a: Severity, b: Severity) -> Bool { a.rank < b.rank }
}

/// The rules, by the ID reports and docs/rules.md use.
public enum RuleID: String, Sendable, CaseIterable {
    case inheritedLock = "inherited-lock"
    case deadlock
    case lostWorker = "lost-worker"
    case forkFromThreaded = "fork-from-threaded"
    case stopped
    case taskDeadlock = "task-deadlock"
}

/// What a rule found: one finding per cause, with the facts it rests on as values. The renderers
/// turn the facts into sentences.
public struct Finding: Sendable {
    public var rule: RuleID
    public var severity: Severity
    /// Every process involved.
    public var pids: [Int32]
    /// Every thread involved, a lock's owner included.
    public var tids: [Int32]
    /// The rule's own facts: `finding.facts as? DeadlockFacts` where one rule's are needed.
    public var facts: any RuleFacts
}

/// The values a rule's finding rests on, a type of each rule's own (in its folder under Rules/,
/// beside the rule). The renderers know no rule: they ask the facts for their words and JSON.
public protocol RuleFacts: Sendable {
    /// The finding in words: its message, evidence and remedy, and the summary's cause and fix.
    /// `words` gives the report's names, waits and stacks, when there is a report.
    func text(of finding: Finding, words: FindingWords) -> FindingText

    /// The finding's `facts` in JSON (docs/json.md).
    var json: JSON { get }
}

/// A process as a finding names it, so that a finding can be told without its snapshot (as
/// `run` does when it reports a fork the moment it happens).
public struct ProcessRef: Sendable, Hashable {
    public var pid: Int32
    public var name: String

    public init(pid: Int32, name: String) {
        self.pid = pid
        self.name = name
    }
}

/// Ordered by severity: healthy < hazard < deadlock.
public enum Verdict: String, Sendable, Comparable {
    case healthy, hazard, deadlock

    public init(findings: [Finding]) {
        let worst = findings.map(\.severity).max()
        self = worst == .error ? .deadlock : worst == .warning ? .hazard : .healthy
    }

    public static func < (a: Verdict, b: Verdict) -> Bool { a.exitCode < b.exitCode }

    /// The process exit status that stands for this verdict.
    public var exitCode: Int32 {
        switch self {
        case .healthy: return 0
        case .hazard: return 1
        case .deadlock: return 2
        }
    }
}

/// A snapshot with its findings: what the renderers print.
public struct Report: Sendable {
    public var schemaVersion: Int
    public var verdict: Verdict
    public var takenAt: String
    public var host: HostInfo
    public var roots: [Int32]
    public var processes: [ProcessSnapshot]
    public var findings: [Finding]
    public var notes: [SnapshotNote]

    public init(snapshot: Snapshot, findings: [Finding]) {
        schemaVersion = reportSchemaVersion
        verdict = Verdict(findings: findings)
        takenAt = snapshot.takenAt
        host = snapshot.host
        roots = snapshot.roots
        processes = snapshot.processes
        self.findings = findings
        notes = snapshot.notes
    }

    public func process(_ pid: Int32) -> ProcessSnapshot? { processes.first { $0.pid == pid } }

    public func thread(_ key: ThreadKey) -> ThreadSnapshot? { process(key.pid)?.thread(key.tid) }

    /// The thread with this TID in any process.
    public func thread(_ tid: Int32) -> ThreadSnapshot? {
        processes.lazy.flatMap(\.threads).first { $0.tid == tid }
    }

    /// The process that has a thread with this TID.
    public func process(ofThread tid: Int32) -> ProcessSnapshot? {
        processes.first { process in process.threads.contains { $0.tid == tid } }
    }
}
