import Foundation
import Testing

@testable import ForkHazardKit

/// Real output of the built binary, validated against docs/schema/ by a real validator (Python's
/// `jsonschema`); broken copies of a real report must be rejected, each for its own reason.
@Suite("JSON Schema") struct SchemaTests {
    @Test func theDemoReportValidatesAndBrokenCopiesDoNot() throws {
        let result = try runForkhazard(["demo", "--json"])
        #expect(result.status == 2)
        let report = result.stdout.trimmingCharacters(in: .newlines)
        let original = try jsonObject(report)
        #expect(original["verdict"] as? String == "deadlock")
        let findings = try #require(original["findings"] as? [[String: Any]])
        let inherited = try #require(findings.firstIndex { $0["rule"] as? String == "inherited-lock" })
        let processes = try #require(original["processes"] as? [[String: Any]])
        let threads = try #require(processes[0]["threads"] as? [[String: Any]])

        /// The report with one change made by `change`.
        func edited(_ change: (inout [String: Any]) -> Void) -> [String: Any] {
            var copy = original
            change(&copy)
            return copy
        }
        func withFinding(_ change: (inout [String: Any]) -> Void) -> [String: Any] {
            edited { report in
                var copy = findings
                change(&copy[inherited])
                report["findings"] = copy
            }
        }
        func withThread(_ change: (inout [String: Any]) -> Void) -> [String: Any] {
            edited { report in
                var copyThreads = threads
                change(&copyThreads[0])
                var copyProcesses = processes
                copyProcesses[0]["threads"] = copyThreads
                report["processes"] = copyProcesses
            }
        }
        let pythonThread: [String: Any] = ["threadName": "MainThread", "ident": 140_000_000, "holdsGIL": true,
                                           "stack": [["function": "run", "file": "pool.py", "line": 12], ["function": "<module>", "file": "x.py", "line": NSNull()]]]

        // (document, the error's path, what its message names); a nil path: valid.
        let cases: [(name: String, document: [String: Any], path: String?, says: String, closedOnly: Bool)] = [
            ("unchanged, after a round trip through Foundation", original, nil, "", false),
            ("no verdict", edited { $0["verdict"] = nil }, "", "'verdict' is a required property", false),
            ("pids as a string", withFinding { $0["pids"] = "1 2" }, "findings/\(inherited)/pids", "is not of type 'array'", false),
            ("an unknown severity", withFinding { $0["severity"] = "fatal" }, "findings/\(inherited)/severity", "'fatal' is not one of", false),
            ("an unknown rule", withFinding { $0["rule"] = "livelock" }, "findings/\(inherited)/rule", "'livelock' is not one of", false),
            ("inherited-lock facts without a holder", withFinding { finding in
                var facts = finding["facts"] as? [String: Any] ?? [:]
                facts["holder"] = nil
                finding["facts"] = facts
            }, "findings/\(inherited)/facts", "'holder' is a required property", false),
            ("a thread without wait", withThread { $0["wait"] = nil }, "processes/0/threads/0", "'wait' is a required property", false),
            ("a wait of an unknown kind", withThread { thread in
                var wait = thread["wait"] as? [String: Any] ?? [:]
                wait["kind"] = "spinning"
                thread["wait"] = wait
            }, "processes/0/threads/0/wait/kind", "'spinning' is not one of", false),
            ("a verdict of another version", edited { $0["verdict"] = "stuck" }, "verdict", "'stuck' is not one of", false),
            ("a field added within the version", withThread { $0["futureField"] = 1 }, "processes/0/threads/0", "'futureField' was unexpected", true),
            ("python fields", edited { report in
                var copyThreads = threads
                copyThreads[0]["python"] = pythonThread
                if copyThreads.count > 1 { copyThreads[1]["python"] = NSNull() }
                var copyProcesses = processes
                copyProcesses[0]["threads"] = copyThreads
                copyProcesses[0]["python"] = ["version": "3.11.7"]
                if copyProcesses.count > 1 { copyProcesses[1]["python"] = NSNull() }
                report["processes"] = copyProcesses
            }, nil, "", false),
            ("python fields of the wrong shape", withThread { thread in
                var python = pythonThread
                python["holdsGIL"] = "yes"
                thread["python"] = python
            }, "processes/0/threads/0/python", "is not valid under any of the given schemas", false),
        ]
        let results = try SchemaValidator.validate([report] + cases.map { try jsonText($0.document) }, against: .report)
        #expect(results[0].open.isEmpty && results[0].closed.isEmpty, "the demo's report: \(results[0])")
        for (test, result) in zip(cases, results.dropFirst()) {
            guard let path = test.path else {
                #expect(result.open.isEmpty && result.closed.isEmpty, "\(test.name): \(result)")
                continue
            }
            let expected = "\(path): "
            let found = { (errors: [String]) in errors.contains { $0.hasPrefix(expected) && $0.contains(test.says) } }
            if test.closedOnly {
                #expect(result.open.isEmpty, "\(test.name): the published schema accepts fields added within the version: \(result.open)")
            } else {
                #expect(found(result.open), "\(test.name) is rejected at '\(path)' (\(test.says)): \(result.open)")
            }
            #expect(found(result.closed), "\(test.name) is rejected by the closed schema at '\(path)': \(result.closed)")
        }
    }

    @Test func aHealthyTreeValidates() throws {
        let victim = try Victim(scenario: "pipe-read")
        try victim.waitUntilBlocked(in: "read")
        let full = try runForkhazard(["--json", String(victim.pid)])
        let bare = try runForkhazard(["--json", "--no-stacks", String(victim.pid)])
        for result in [full, bare] {
            #expect(result.status == 0)
            #expect(try jsonObject(result.stdout)["verdict"] as? String == "healthy")
        }
        try expectValid([full.stdout, bare.stdout], against: .report)
    }

    @Test func aPythonPoolStuckOnAnInheritedLockValidates() throws {
        let script = try victimPath("python_fork.py")
        let victim = try Victim(debianPython, [script, "pool-lock", "4"])
        try waitUntil(timeout: 30) {
            let pool = descendants(of: victim.pid)
            return pool.count == 4 && pool.allSatisfy { isBlocked(pid: $0, tid: $0, in: "futex") }
        }
        let result = try runForkhazard(["--json", String(victim.pid)])
        #expect(result.status == 2)
        let findings = try jsonObject(result.stdout)["findings"] as? [[String: Any]] ?? []
        #expect(findings.contains { $0["rule"] as? String == "inherited-lock" })
        #expect(findings.contains { $0["rule"] as? String == "fork-from-threaded" })
        try expectValid([result.stdout], against: .report)
    }

    /// Event streams of `run --json`: a quiet job (start, idle, summary), a fork from a threaded
    /// parent, and a proven hang (stall, deadlock, kill), whose --report is validated too.
    static let runs: [(arguments: [String], status: Int32, events: [String])] = [
        (["--stall-after", "1s", "--", "sh", "-c", "sleep 2"], 0, ["start", "idle", "summary"]),
        (["--", debianPython, "python_fork_exits.py"], 0, ["start", "fork-from-threaded", "summary"]),
        (["--stall-after", "1s", "--kill-grace", "1s", "--", "waits", "pipe-cycle"], 124, ["start", "stall", "deadlock", "kill", "summary"]),
    ]

    @Test(arguments: runs)
    func runEventsValidate(arguments: [String], status: Int32, events: [String]) throws {
        let reportFile = FileManager.default.temporaryDirectory.appendingPathComponent("fh-schema-\(UUID().uuidString).json").path
        defer { try? FileManager.default.removeItem(atPath: reportFile) }
        let command = try arguments.map { argument in
            switch argument {
            case "waits": return VictimBuild.waits
            case "python_fork_exits.py": return try victimPath("python_fork_exits.py")
            default: return argument
            }
        }
        let run = try CapturedRun(forkhazardBinary(), ["run", "--json", "--report", reportFile] + command)
        #expect(run.wait(timeout: 60) == status)
        let lines = run.stderr.split(separator: "\n").map(String.init)
        #expect(lines.compactMap { try? jsonObject($0)["event"] as? String } == events, "\(run.stderr)")
        try expectValid(lines, against: .event)
        if status == 124 {
            let report = try String(contentsOfFile: reportFile, encoding: .utf8)
            #expect(try jsonObject(report)["verdict"] as? String == "deadlock")
            try expectValid([report], against: .report)
        }
    }

    @Test func brokenEventsAreRejected() throws {
        let time = "2026-11-23T10:00:00.000Z"
        let summary: [String: Any] = ["eventSource": "proc-connector", "processesSeen": 2, "forksFromThreaded": 0, "stalls": 0,
                                      "lostEventBursts": 0, "outcome": "exited", "exitStatus": 0]
        let good: [String: Any] = ["event": "summary", "time": time, "pids": [10], "message": "exited", "summary": summary]
        var badOutcome = summary
        badOutcome["outcome"] = "crashed"
        let cases: [(document: [String: Any], path: String?, says: String)] = [
            (good, nil, ""),
            (good.merging(["summary": badOutcome]) { $1 }, "summary/outcome", "'crashed' is not one of"),
            (good.merging(["summary": NSNull()]) { $1 }, "summary", "is not of type 'object'"),
            (["event": "summary", "time": time, "pids": [10], "message": "exited"], "", "'summary' is a required property"),
            (good.merging(["event": "restart"]) { $1 }, "event", "'restart' is not one of"),
            (good.merging(["time": "yesterday"]) { $1 }, "time", "does not match"),
            // A rule's event carries that rule's facts.
            (["event": "deadlock", "time": time, "pids": [10], "tids": [10], "severity": "error", "message": "stuck",
              "facts": ["parent": 10, "children": [11], "threadsAtFork": [], "exitedWithoutExec": false]], "facts", "'members' is a required property"),
        ]
        let results = try SchemaValidator.validate(try cases.map { try jsonText($0.document) }, against: .event)
        for (test, result) in zip(cases, results) {
            guard let path = test.path else {
                #expect(result.open.isEmpty && result.closed.isEmpty, "\(result)")
                continue
            }
            #expect(result.open.contains { $0.hasPrefix("\(path): ") && $0.contains(test.says) }, "\(test.document): \(result.open)")
        }
    }

    /// A rule added to the code is a value the schemas must list, even before a test meets it.
    @Test func theSchemasListEveryRule() throws {
        func schema(_ name: SchemaValidator.Schema) throws -> [String: Any] {
            try jsonObject(String(contentsOfFile: SchemaValidator.schemaDirectory + "/" + name.rawValue, encoding: .utf8))
        }
        let defs = try #require(try schema(.report)["$defs"] as? [String: Any])
        let rules = try #require((defs["RuleID"] as? [String: Any])?["enum"] as? [String])
        #expect(Set(rules) == Set(RuleID.allCases.map(\.rawValue)))
        let byRule = try #require((defs["FactsByRule"] as? [String: Any])?["allOf"] as? [Any])
        #expect(byRule.count == RuleID.allCases.count, "facts for each rule")
        let events = try #require(((try schema(.event)["properties"] as? [String: Any])?["event"] as? [String: Any])?["enum"] as? [String])
        // Events named after a rule: the fork seen live, and the error findings of a stall.
        #expect(Set(events).isSuperset(of: ["fork-from-threaded", "deadlock", "inherited-lock", "lost-worker"]))
    }

}

/// A JSON object on one line.
func jsonText(_ object: [String: Any]) throws -> String {
    String(decoding: try JSONSerialization.data(withJSONObject: object), as: UTF8.self)
}
