import Foundation
import ProcFS
import Testing

@testable import ForkHazardKit

/// One cause, one finding: reports of big trees stay short, and nothing is lost from JSON and --full.
@Suite("Report size") struct ReportSizeTests {
    /// A fork pool whose workers all hang on the lock a parent thread held at fork.
    @Test(arguments: [(16, 60), (64, 70)])
    func poolOnAnInheritedLock(workers: Int, maxLines: Int) throws {
        let script = try victimPath("python_fork.py")
        let victim = try Victim("/usr/bin/python3", [script, "pool-lock", String(workers)])
        var pool: [Int32] = []
        try waitUntil(timeout: 30) {
            pool = descendants(of: victim.pid)
            return pool.count == workers && pool.allSatisfy { isBlocked(pid: $0, tid: $0, in: "futex") }
        }
        let text = try runForkhazard([String(victim.pid)])
        #expect(text.status == 2)
        let lines = text.stdout.split(separator: "\n", omittingEmptySubsequences: false).count - 1
        #expect(lines <= maxLines, "\(lines) lines:\n\(text.stdout)")
        #expect(text.stdout.contains("\(workers)*[python3 \(script) pool-lock \(workers)] (\(compactList(pool, limit: 4)))"),
                "the workers are one entry")
        // The first screen says what is wrong and what to do.
        let top = text.stdout.split(separator: "\n").prefix(6).joined(separator: "\n")
        #expect(top.contains("Verdict: deadlock"))
        #expect(top.contains("inherited-lock: \(workers) processes (\(compactList(pool)))"))
        #expect(top.contains("fix: Start worker processes with 'spawn'"))

        let json = try jsonObject(try runForkhazard(["--json", String(victim.pid)]).stdout)
        let findings = try #require(json["findings"] as? [[String: Any]])
        #expect(findings.count <= 4, "\(findings.map { $0["rule"] ?? "" })")
        let inherited = try #require(findings.first { $0["rule"] as? String == "inherited-lock" })
        #expect(Set(inherited["pids"] as? [Int] ?? []).isSuperset(of: pool.map(Int.init)), "every worker is in the one finding")
        #expect(!findings.contains { $0["rule"] as? String == "deadlock" }, "the workers' deadlock is the inherited lock, told once")
        let processes = try #require(json["processes"] as? [[String: Any]])
        #expect(Set(processes.compactMap { $0["pid"] as? Int }) == Set([Int(victim.pid)] + pool.map(Int.init)))

        let full = try runForkhazard(["--full", String(victim.pid)])
        for pid in pool { #expect(full.stdout.contains("python3,\(pid) ")) }
    }

    /// 300 processes × 4 threads, the benchmark's wide tree.
    @Test func wideTreeOfSleepers() throws {
        let source = try victimPath("sleepers.c")
        let binary = VictimBuild.compile(source, output: "sleepers", flags: ["-O2"])
        let root = try spawnClean(binary, ["300", "4"])
        defer {
            let all = descendants(of: root)
            kill(root, SIGKILL)
            for pid in all { kill(pid, SIGKILL) }
            _ = reap(root)
        }
        try waitUntil(timeout: 30) {
            let tree = descendants(of: root)
            return tree.count == 299 && tree.allSatisfy { (try? ProcRoot().numericEntries("\($0)/task"))?.count == 4 }
        }
        let text = try runForkhazard(["--no-stacks", String(root)])
        let lines = text.stdout.split(separator: "\n", omittingEmptySubsequences: false).count - 1
        #expect(lines <= 100, "\(lines) lines:\n\(text.stdout.prefix(4000))")
        let json = try jsonObject(try runForkhazard(["--json", "--no-stacks", String(root)]).stdout)
        let processes = try #require(json["processes"] as? [[String: Any]])
        #expect(processes.count == 300)
        #expect(processes.reduce(0) { $0 + (($1["threads"] as? [Any])?.count ?? 0) } == 1200)
        let full = try runForkhazard(["--full", "--no-stacks", String(root)])
        #expect(full.stdout.split(separator: "\n").count > 1200, "every thread on its own line")
    }
}
