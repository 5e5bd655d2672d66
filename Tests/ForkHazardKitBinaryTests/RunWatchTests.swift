import Foundation
import ProcFS
import Testing

@testable import ForkHazardKit

/// `forkhazard run` and `forkhazard watch`, as a CI step would use them.
@Suite("run and watch") struct RunWatchTests {
    var tool: String { forkhazardBinary() }

    @Test func commandOutputAndStatusPassThrough() throws {
        let run = try CapturedRun(tool, ["run", "--", "sh", "-c", "echo hi; exit 7"])
        #expect(run.wait() == 7)
        #expect(run.stdout == "hi\n", "nothing of forkhazard's on the command's stdout")
        #expect(run.stderr.contains("start: watching the tree of"))
        #expect(run.stderr.contains("summary: exited"))
    }

    @Test func helpAndUsage() throws {
        let help = try CapturedRun(tool, ["run", "--help"])
        #expect(help.wait() == 0)
        #expect(help.stdout.contains("USAGE: forkhazard run [<options>] -- [<command> ...]"))
        let missing = try CapturedRun(tool, ["run", "sh", "-c", "true"])
        #expect(missing.wait() == 64)
        #expect(missing.stderr.contains("give the command to run after --"))
        let version = try CapturedRun(tool, ["--version"])
        #expect(version.wait() == 0)
        #expect(!version.stdout.isEmpty)
    }

    @Test func aCommandThatCannotStart() throws {
        let run = try CapturedRun(tool, ["run", "--", "/nonexistent/program"])
        #expect(run.wait() == 127)
        #expect(run.stdout.isEmpty)
        #expect(run.stderr.hasPrefix("forkhazard: run: cannot start /nonexistent/program"))
    }

    @Test func reportsAForkFromAThreadedParentWhileItHappens() throws {
        let python = debianPython
        let script = try victimPath("python_fork_exits.py")
        let run = try CapturedRun(tool, ["run", "--json", "--", python, script])
        #expect(run.wait() == 0)
        let events = jsonLines(run.stderr)
        #expect(events.first?["event"] as? String == "start")
        #expect(events.last?["event"] as? String == "summary")
        let summary = try #require(events.last?["summary"] as? [String: Any])
        #expect(summary["forksFromThreaded"] as? Int == 1)
        #expect(summary["exitStatus"] as? Int == 0)
        let fork = try #require(events.first { $0["event"] as? String == "fork-from-threaded" })
        #expect(fork["severity"] as? String == "warning")
        #expect((fork["tids"] as? [Int])?.count == 2, "the forking main thread and the background thread")
        #expect(((fork["facts"] as? [String: Any])?["threadsAtFork"] as? [Any])?.count == 2)
        // The child lives 1.5 s after the fork: the event came while it ran, not at the end.
        let child = try #require((fork["pids"] as? [Int])?.first)
        #expect(run.stdout.contains("forked \(child)"))
        let eventTime = try #require(isoDate(fork["time"] as? String ?? "")), endTime = try #require(isoDate(events.last?["time"] as? String ?? ""))
        #expect(endTime.timeIntervalSince(eventTime) > 0.5)
        // --fail-on warning turns the 0 into 1.
        let strict = try CapturedRun(tool, ["run", "--fail-on", "warning", "--", python, script])
        #expect(strict.wait() == 1)
        #expect(strict.stderr.contains("fork-from-threaded: "))
    }

    /// A proven hang is ended within the stall time plus the diagnosis, and nothing outlives it.
    @Test(arguments: ["pipe-cycle", "fork-mutex"])
    func aProvenStuckJobIsReportedEndedAndExits124(scenario: String) throws {
        let started = Date()
        let run = try CapturedRun(tool, ["run", "--stall-after", "2s", "--kill-grace", "1s", "--", VictimBuild.waits, scenario])
        #expect(run.wait(timeout: 30) == 124)
        #expect(Date().timeIntervalSince(started) < 15)
        #expect(run.stderr.contains("stall: no progress for"))
        #expect(run.stderr.contains("the diagnosis proves the tree stuck"))
        #expect(run.stderr.contains("Verdict: deadlock"))
        #expect(run.stderr.contains("kill: ending the stuck tree"))
        #expect(run.stderr.contains("summary: killed-when-stuck"))
        // No process of the run outlives it.
        let words = run.stdout.split(whereSeparator: { $0 == " " || $0 == "\n" })
        let pids = [words[1], words[2]].compactMap { Int32($0) }
        #expect(pids.count == 2)
        try waitUntil { pids.allSatisfy { pid in
            guard let stat = (try? ProcRoot().bytes("\(pid)/stat")).flatMap({ ProcStat(parsing: $0) }) else { return true }
            return stat.state == "Z"
        } }
    }

    /// Quiet is not stuck: a sleeping job is diagnosed, called idle (once), and left to finish.
    @Test func aQuietHealthyJobIsNeverKilled() throws {
        let run = try CapturedRun(tool, ["run", "--stall-after", "1s", "--", "sh", "-c", "sleep 4; echo done"])
        #expect(run.wait(timeout: 30) == 0)
        #expect(run.stdout == "done\n")
        let idle = run.stderr.split(separator: "\n").filter { $0.contains("] idle: ") }
        #expect(idle.count == 1, "one line, repeated only when the reason changes: \(run.stderr)")
        #expect(idle.first?.contains("sleep, clock_nanosleep 4.0s; not stuck, still watching") == true)
        #expect(!run.stderr.contains("kill:") && !run.stderr.contains("stall:"))
        #expect(run.stderr.contains("summary: exited"))
    }

    /// A job blocked on a TCP peer outside its tree, which answers after 4 s.
    @Test func aJobWaitingOnANetworkPeer() throws {
        let script = try victimPath("python_tcp.py")
        let server = try Victim("/usr/bin/python3", [script, "server", "4"])
        let port = server.helper
        let run = try CapturedRun(tool, ["run", "--stall-after", "1s", "--", "/usr/bin/python3", script, "client", String(port)])
        #expect(run.wait(timeout: 30) == 0)
        #expect(run.stdout == "answered\n")
        #expect(run.stderr.contains("idle: waiting on TCP 127.0.0.1:\(port)"), "\(run.stderr)")
        #expect(!run.stderr.contains("kill:"))
    }

    /// A daemon the job leaves behind (double fork, setsid) stays in the job: run is its subreaper,
    /// and ends it with the job.
    @Test func nothingOfTheJobOutlivesRun() throws {
        let run = try CapturedRun(tool, ["run", "--kill-grace", "1s", "--", "sh", "-c", "( setsid sleep 300 & echo $! ); echo done"])
        #expect(run.wait(timeout: 30) == 0)
        let daemon = try #require(run.stdout.split(separator: "\n").first.flatMap { Int32($0) })
        #expect(run.stdout.hasSuffix("done\n"))
        #expect(run.stderr.contains("kill: the command exited; ending what it left running: SIGTERM to \(daemon)"))
        #expect(kill(daemon, 0) != 0, "the daemon is gone, and reaped")
    }

    /// A daemon that ignores SIGTERM and starts its child again whenever it dies: the child it
    /// starts after the first signal is ended too, and so is the daemon.
    @Test func aRespawningSupervisorDoesNotOutliveRun() throws {
        let list = FileManager.default.temporaryDirectory.appendingPathComponent("fh-respawn-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: list) }
        let supervisor = "trap : TERM; echo $$ >> \(list); while :; do sleep 300 & echo $! >> \(list); wait; done"
        let run = try CapturedRun(tool, ["run", "--kill-grace", "1s", "--", "sh", "-c",
                                         "( setsid sh -c '\(supervisor)' & ); sleep 0.5; echo done"])
        #expect(run.wait(timeout: 30) == 0)
        #expect(run.stdout == "done\n")
        let pids = ((try? String(contentsOfFile: list, encoding: .utf8)) ?? "").split(separator: "\n").compactMap { Int32($0) }
        #expect(pids.count >= 3, "the supervisor, its first child and the one it started after the first was ended")
        for pid in pids { #expect(kill(pid, 0) != 0, "\(pid) outlived run") }
    }

    /// A stuck daemon of the job is diagnosed with it and ended with it.
    @Test func aStuckDaemonIsDiagnosedWithTheJob() throws {
        let run = try CapturedRun(tool, ["run", "--stall-after", "1s", "--kill-grace", "1s", "--", "sh", "-c",
                                         "( FH_VICTIM_DAEMON=1 setsid \(VictimBuild.waits) pipe-cycle & ); exec sleep 300"])
        #expect(run.wait(timeout: 30) == 124)
        #expect(run.stderr.contains("ERROR deadlock: 2 threads in 2 processes"))
        let words = run.stdout.split(whereSeparator: { $0 == " " || $0 == "\n" })
        let pids = [words[1], words[2]].compactMap { Int32($0) }
        #expect(pids.count == 2)
        #expect(run.stderr.contains("kill: ending the stuck tree"))
        for pid in pids { #expect(kill(pid, 0) != 0, "\(pid) outlived run") }
    }

    /// The hard limit ends a quiet job whatever the diagnosis, and says so.
    @Test func theIdleLimitEndsAQuietJob() throws {
        let started = Date()
        let run = try CapturedRun(tool, ["run", "--stall-after", "1s", "--idle-limit", "2s", "--kill-grace", "1s", "--", "sleep", "30"])
        #expect(run.wait(timeout: 30) == 125)
        #expect(Date().timeIntervalSince(started) < 10)
        #expect(run.stderr.contains("idle-limit: no progress for"))
        #expect(run.stderr.contains("the idle limit (2.0s): ending the job whatever the diagnosis"))
        #expect(run.stderr.contains("Verdict: healthy"), "the diagnosis is printed, and it was not stuck")
        #expect(run.stderr.contains("summary: killed-at-idle-limit"))
    }

    /// A pool stuck on an inherited lock while its parent keeps a thread that wakes every 0.5 s:
    /// the stuck threads make the stall, the ticking one does not hide it.
    /// The same with a thread that goes round three different timed waits.
    @Test(arguments: ["pool-lock-ticking", "pool-lock-ticking-mixed"])
    func aTickingThreadDoesNotHideAStuckPool(mode: String) throws {
        let script = try victimPath("python_fork.py")
        let started = Date()
        let run = try CapturedRun(tool, ["run", "--json", "--stall-after", "2s", "--kill-grace", "1s", "--",
                                         "/usr/bin/python3", script, mode])
        #expect(run.wait(timeout: 60) == 124)
        #expect(Date().timeIntervalSince(started) < 15)
        let events = jsonLines(run.stderr)
        #expect(events.contains { $0["event"] as? String == "inherited-lock" })
        #expect((events.last?["summary"] as? [String: Any])?["outcome"] as? String == "killed-when-stuck")
    }

    @Test func githubAnnotationsAndAJSONReport() throws {
        let report = FileManager.default.temporaryDirectory.appendingPathComponent("fh-report-\(UUID().uuidString).json").path
        defer { try? FileManager.default.removeItem(atPath: report) }
        let run = try CapturedRun(tool, ["run", "--stall-after", "1s", "--kill-grace", "1s", "--format", "github",
                                         "--report", report, "--", VictimBuild.waits, "pipe-cycle"])
        #expect(run.wait(timeout: 30) == 124)
        #expect(run.stderr.contains("::error title=forkhazard deadlock::"))
        #expect(!run.stderr.contains("Verdict:"), "no text report among annotations")
        let json = try #require(FileManager.default.contents(atPath: report))
        let decoded = try jsonObject(String(decoding: json, as: UTF8.self))
        #expect(decoded["verdict"] as? String == "deadlock")
    }

    @Test func interruptIsForwardedToTheCommand() throws {
        let run = try CapturedRun(tool, ["run", "--", "sh", "-c", "trap 'echo got-int; exit 3' INT; echo ready; while :; do sleep 0.05; done"])
        try waitUntil { run.stdout.contains("ready") }
        kill(run.pid, SIGINT)
        #expect(run.wait(timeout: 20) == 3)
        #expect(run.stdout.contains("got-int"))
        #expect(run.stderr.contains("signal: received signal 2; forwarded to"))
    }

    @Test func watchReportsAStuckTreeWithoutTouchingIt() throws {
        let victim = try Victim(scenario: "pipe-cycle")
        try victim.waitUntilBlocked(in: "read")
        let run = try CapturedRun(tool, ["watch", "--stall-after", "1s", String(victim.pid)])
        #expect(run.wait(timeout: 30) == 124)
        #expect(run.stderr.contains("ERROR deadlock"))
        #expect(run.stderr.contains("summary: stuck"))
        #expect(!run.stderr.contains("kill:"))
        #expect(kill(victim.pid, 0) == 0 && kill(victim.helper, 0) == 0, "watch signals nothing")
        let refused = try CapturedRun(tool, ["watch", "--on-stall", "kill", String(victim.pid)])
        #expect(refused.wait() == 64)
    }

    /// With --on-stall wait, watch reports the deadlock, keeps watching, and when the tree ends
    /// says how it went: 2 after a proven deadlock.
    @Test func watchWaitsAfterADeadlockAndEndsWithTwo() throws {
        let victim = try Victim(scenario: "pipe-cycle")
        try victim.waitUntilBlocked(in: "read")
        let run = try CapturedRun(tool, ["watch", "--stall-after", "1s", "--on-stall", "wait", String(victim.pid)])
        try waitUntil(timeout: 20) { run.stderr.contains("ERROR deadlock") }
        #expect(kill(victim.pid, 0) == 0, "watch signals nothing")
        kill(victim.helper, SIGKILL)
        kill(victim.pid, SIGKILL)
        #expect(run.wait(timeout: 30) == 2)
        #expect(run.stderr.contains("summary: tree-gone"))
    }

    /// A hazard seen during the watch (a child forked without exec from a multi-threaded parent,
    /// healthy otherwise): 1 when the tree ends.
    @Test func watchEndsWithOneAfterAHazard() throws {
        let victim = try Victim(scenario: "fork-sleep")
        try waitForBlocked(pid: victim.helper, tid: victim.helper, in: "clock_nanosleep")
        let run = try CapturedRun(tool, ["watch", "--stall-after", "1s", String(victim.pid)])
        try waitUntil(timeout: 20) { run.stderr.contains("] idle: ") }
        kill(victim.helper, SIGKILL)
        kill(victim.pid, SIGKILL)
        #expect(run.wait(timeout: 30) == 1)
        #expect(run.stderr.contains("summary: tree-gone"))
    }

    /// run --on-stall report: the proven hang is reported, and the command is left to end by
    /// itself (here: ended by the test), with its own status.
    @Test func runOnStallReportLeavesTheCommandRunning() throws {
        let run = try CapturedRun(tool, ["run", "--stall-after", "1s", "--on-stall", "report", "--", VictimBuild.waits, "pipe-cycle"])
        try waitUntil(timeout: 20) { run.stderr.contains("ERROR deadlock") }
        #expect(!run.stderr.contains("kill:"))
        let job = descendants(of: run.pid)
        #expect(job.count == 2, "the victim and its helper still run")
        for pid in job { kill(pid, SIGKILL) }
        #expect(run.wait(timeout: 30) == 137, "the command's own status: killed by SIGKILL")
        #expect(run.stderr.contains("summary: exited"))
    }

    /// A quiet healthy tree under watch: idle, then it ends by itself.
    @Test func watchLetsAQuietTreeEnd() throws {
        let shell = try ShellVictim("sleep 3")
        let run = try CapturedRun(tool, ["watch", "--stall-after", "1s", String(shell.pid)])
        #expect(run.wait(timeout: 30) == 0)
        #expect(run.stderr.contains("] idle: "))
        #expect(run.stderr.contains("summary: tree-gone"))
        #expect(!run.stderr.contains("stall:"))
    }

    @Test func watchStopsAtTheIdleLimitWithoutSignalling() throws {
        let victim = try Victim(scenario: "sleep")
        let run = try CapturedRun(tool, ["watch", "--stall-after", "1s", "--idle-limit", "2s", String(victim.pid)])
        #expect(run.wait(timeout: 30) == 125)
        #expect(run.stderr.contains("stopping the watch whatever the diagnosis"))
        #expect(run.stderr.contains("summary: idle-limit"))
        #expect(kill(victim.pid, 0) == 0, "watch signals nothing")
    }

    /// Forks right at the start and right before the command exits are all reported.
    @Test func everyForkOfABurstIsReported() throws {
        let run = try CapturedRun(tool, ["run", "--json", "--", VictimBuild.waits, "fork-burst", "300"])
        #expect(run.wait() == 0)
        let summary = jsonLines(run.stderr).last?["summary"] as? [String: Any]
        #expect(summary?["eventSource"] as? String == "proc-connector")
        #expect(summary?["forksFromThreaded"] as? Int == 300)
        #expect(summary?["lostEventBursts"] as? Int == 0)
    }

    @Test func pollingFallbackFindsForksToo() throws {
        let python = debianPython
        let script = try victimPath("python_fork_exits.py")
        let run = try CapturedRun(tool, ["run", "--poll", "--", python, script])
        #expect(run.wait() == 0)
        #expect(run.stderr.contains("events: polling /proc"))
        #expect(run.stderr.contains("fork-from-threaded: "))
    }
}

func isoDate(_ text: String) -> Date? {
    let formatter = ISO8601DateFormatter()
    formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
    return formatter.date(from: text)
}
